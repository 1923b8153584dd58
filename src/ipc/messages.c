/* The messages of the host <-> worker protocol (ipc/wire.h): an encoder and a decoder per kind. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ipc/stats.h"
#include "ipc/wire.h"

/* ---------------------------------------------------------------- task messages */

void hw_msg_task_encode(hw_wbuf* out, int64_t index, const void* task, size_t n) {
  hw_wbuf_put_i64(out, index);
  hw_wbuf_put_bytes(out, task, n);
}

int hw_msg_task_decode(const uint8_t* p, size_t len, int64_t* index, const uint8_t** task, size_t* n, hw_error* err) {
  hw_rbuf in = {p, len, 0, 0};
  *index = hw_rbuf_i64(&in);
  *task = hw_rbuf_bytes(&in, n);
  if (in.failed || *index < 0 || in.pos != in.size)
    return hw_error_set(err, "HW_MALFORMED_MESSAGE", "a malformed TASK message (%zu bytes)", len);
  return 0;
}

/* The stats section of RESULT: a flags word (1: the write's counters follow, 2: the read's), then
 * each present record's counters in field order. */
enum { RESULT_HAS_WRITE = 1, RESULT_HAS_READ = 2 };

static void write_stats_fields(hw_write_stats* w, int64_t* v[9]) {
  int64_t* f[] = {&w->partition, &w->rows, &w->batches, &w->bytes, &w->wall_ns,
                  &w->writer_ns, &w->convert_ns, &w->input_ns, &w->pid};
  memcpy(v, f, sizeof f);
}

void hw_msg_result_encode(hw_wbuf* out, int64_t index, bool ok, const void* payload, size_t n,
                          const hw_task_stats* st) {
  hw_wbuf_put_i64(out, index);
  hw_wbuf_put_i64(out, ok ? 1 : 0);
  hw_wbuf_put_bytes(out, payload, n);
  bool w = st && st->has_write, r = st && st->has_read;
  hw_wbuf_put_i64(out, (w ? RESULT_HAS_WRITE : 0) | (r ? RESULT_HAS_READ : 0));
  if (w) {
    hw_write_stats copy = st->write;
    int64_t* v[9];
    write_stats_fields(&copy, v);
    for (int i = 0; i < 9; i++) hw_wbuf_put_i64(out, *v[i]);
  }
  if (r) hw_msg_done_stats_encode(out, &st->read);
}

int hw_msg_result_decode(const uint8_t* p, size_t len, int64_t* index, bool* ok, const uint8_t** payload, size_t* n,
                         hw_task_stats* st, hw_error* err) {
  hw_rbuf in = {p, len, 0, 0};
  memset(st, 0, sizeof *st);
  *index = hw_rbuf_i64(&in);
  int64_t flag = hw_rbuf_i64(&in);
  *payload = hw_rbuf_bytes(&in, n);
  *ok = flag == 1;
  int64_t has = hw_rbuf_i64(&in);
  bool bad = has < 0 || has > (RESULT_HAS_WRITE | RESULT_HAS_READ);
  if (!bad && (has & RESULT_HAS_WRITE)) {
    int64_t* v[9];
    write_stats_fields(&st->write, v);
    for (int i = 0; i < 9; i++) *v[i] = hw_rbuf_i64(&in);
    st->has_write = true;
  }
  if (!bad && !in.failed && (has & RESULT_HAS_READ)) {
    /* the read's counters are DONE's: decoded by its decoder from where they start */
    size_t rest = in.size - in.pos;
    if (rest != 9 * sizeof(int64_t) || hw_msg_done_stats_decode(in.data + in.pos, rest, &st->read) != 0) bad = true;
    else in.pos = in.size;
    st->has_read = !bad;
  }
  if (bad || in.failed || *index < 0 || (flag != 0 && flag != 1) || in.pos != in.size) {
    memset(st, 0, sizeof *st);
    return hw_error_set(err, "HW_MALFORMED_MESSAGE", "a malformed RESULT message (%zu bytes)", len);
  }
  return 0;
}

static int malformed(hw_error* err, const char* what, size_t len) {
  return hw_error_set(err, "HW_MALFORMED_MESSAGE", "a malformed %s message (%zu bytes)", what, len);
}

int hw_msg_setup_decode(const uint8_t* p, size_t len, hw_msg_setup* out, hw_error* err) {
  hw_rbuf in = {p, len, 0, 0};
  out->query = hw_rbuf_i64(&in);
  out->credits = hw_rbuf_i64(&in);
  out->max_rows = hw_rbuf_i64(&in);
  out->max_bytes = hw_rbuf_i64(&in);
  out->schema_json = hw_rbuf_bytes(&in, &out->n_schema_json);
  out->reader = hw_rbuf_bytes(&in, &out->n_reader);
  out->name = hw_rbuf_bytes(&in, &out->n_name);
  out->n_columns = hw_rbuf_i64(&in);
  out->columns = in.failed ? NULL : in.data + in.pos;
  if (in.failed || out->n_columns < -1 || out->n_columns > INT32_MAX ||
      (out->n_columns > 0 && (uint64_t)out->n_columns > (in.size - in.pos) / 8))
    return malformed(err, "SETUP", len);
  in.pos += out->n_columns > 0 ? 8 * (size_t)out->n_columns : 0;
  out->exact_batches = hw_rbuf_i64(&in);
  if (in.failed || in.pos != in.size) return malformed(err, "SETUP", len);
  return 0;
}

int32_t hw_msg_setup_column(const hw_msg_setup* m, int64_t i) {
  int64_t v;
  memcpy(&v, m->columns + 8 * i, sizeof v);
  return v >= 0 && v <= INT32_MAX ? (int32_t)v : -1;
}

int hw_msg_run_decode(const uint8_t* p, size_t len, int64_t* index, const uint8_t** pickled, size_t* n,
                      hw_error* err) {
  hw_rbuf in = {p, len, 0, 0};
  *index = hw_rbuf_i64(&in);
  *pickled = hw_rbuf_bytes(&in, n);
  if (in.failed || *index < 0 || in.pos != in.size) return malformed(err, "RUN", len);
  return 0;
}

int hw_msg_release_decode(const uint8_t* p, size_t len, int64_t* region_id, hw_error* err) {
  hw_rbuf in = {p, len, 0, 0};
  *region_id = hw_rbuf_i64(&in);
  if (in.failed || *region_id < 0 || in.pos != in.size) return malformed(err, "RELEASE", len);
  return 0;
}

int hw_msg_region_decode(const uint8_t* p, size_t len, int32_t* region_id, size_t* capacity, hw_error* err) {
  hw_rbuf in = {p, len, 0, 0};
  int64_t id = hw_rbuf_i64(&in), cap = hw_rbuf_i64(&in);
  *region_id = -1;
  *capacity = 0;
  if (in.failed || id < 0 || id > INT32_MAX || cap <= 0 || (uint64_t)cap > SIZE_MAX || in.pos != in.size)
    return malformed(err, "REGION", len);
  *region_id = (int32_t)id;
  *capacity = (size_t)cap;
  return 0;
}

int hw_msg_batch_decode(const uint8_t* p, size_t len, int64_t* index, int64_t* region_id, const uint8_t** desc,
                        size_t* n, hw_error* err) {
  hw_rbuf in = {p, len, 0, 0};
  *index = hw_rbuf_i64(&in);
  *region_id = hw_rbuf_i64(&in);
  *desc = hw_rbuf_bytes(&in, n);
  if (in.failed || *index < 0 || *region_id < 0 || in.pos != in.size) return malformed(err, "BATCH", len);
  return 0;
}

int hw_msg_error_decode(const uint8_t* p, size_t len, hw_msg_error* out, hw_error* err) {
  hw_rbuf in = {p, len, 0, 0};
  out->partition = hw_rbuf_i64(&in);
  out->row = hw_rbuf_i64(&in);
  out->column = hw_rbuf_i64(&in);
  out->error_class = hw_rbuf_bytes(&in, &out->n_error_class);
  out->message = hw_rbuf_bytes(&in, &out->n_message);
  out->traceback = hw_rbuf_bytes(&in, &out->n_traceback);
  if (in.failed || in.pos != in.size) return malformed(err, "ERROR", len);
  return 0;
}

void hw_msg_done_stats_encode(hw_wbuf* out, const hw_partition_stats* st) {
  const int64_t v[] = {st->partition, st->rows, st->batches, st->bytes, st->wall_ns,
                       st->source_ns, st->convert_ns, st->wait_ns, st->pid};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) hw_wbuf_put_i64(out, v[i]);
}

int hw_msg_done_stats_decode(const uint8_t* p, size_t len, hw_partition_stats* st) {
  hw_rbuf r = {p, len, 0, 0};
  memset(st, 0, sizeof *st);
  int64_t* v[] = {&st->partition, &st->rows, &st->batches, &st->bytes, &st->wall_ns,
                  &st->source_ns, &st->convert_ns, &st->wait_ns, &st->pid};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) *v[i] = hw_rbuf_i64(&r);
  return r.failed || r.pos != len ? -1 : 0;
}

void hw_msg_error_apply(const hw_msg_error* m, hw_error* e, char** traceback) {
  /* "%.*s" takes an int: lengths are cut to the (much smaller) buffers first */
  size_t nm = m->n_message < sizeof e->message ? m->n_message : sizeof e->message - 1;
  size_t nc = m->n_error_class < sizeof e->error_class ? m->n_error_class : sizeof e->error_class - 1;
  hw_error_set(e, NULL, "%.*s", (int)nm, (const char*)m->message);
  snprintf(e->error_class, sizeof e->error_class, "%.*s", (int)nc, (const char*)m->error_class);
  e->row = m->row;
  e->column = m->column >= INT32_MIN && m->column <= INT32_MAX ? (int32_t)m->column : -1;
  *traceback = m->n_traceback ? strndup((const char*)m->traceback, m->n_traceback) : NULL;
}

/* ---------------------------------------------------------------- encoders */

void hw_msg_setup_encode(hw_wbuf* out, const hw_msg_setup* m, const int32_t* columns) {
  hw_wbuf_put_i64(out, m->query);
  hw_wbuf_put_i64(out, m->credits);
  hw_wbuf_put_i64(out, m->max_rows);
  hw_wbuf_put_i64(out, m->max_bytes);
  hw_wbuf_put_bytes(out, m->schema_json, m->n_schema_json);
  hw_wbuf_put_bytes(out, m->reader, m->n_reader);
  hw_wbuf_put_bytes(out, m->name, m->n_name);
  hw_wbuf_put_i64(out, m->n_columns);
  for (int64_t i = 0; columns && i < m->n_columns; i++) hw_wbuf_put_i64(out, columns[i]);
  hw_wbuf_put_i64(out, m->exact_batches);
}

void hw_msg_run_encode(hw_wbuf* out, int64_t index, const void* pickled, size_t n) {
  hw_wbuf_put_i64(out, index);
  hw_wbuf_put_bytes(out, pickled, n);
}

void hw_msg_credit_encode(hw_wbuf* out, int64_t serial) { hw_wbuf_put_i64(out, serial); }

void hw_msg_release_encode(hw_wbuf* out, int64_t region_id) { hw_wbuf_put_i64(out, region_id); }

void hw_msg_ready_encode(hw_wbuf* out, int64_t pid) { hw_wbuf_put_i64(out, pid); }

void hw_msg_done_encode(hw_wbuf* out, int64_t index) { hw_wbuf_put_i64(out, index); }

void hw_msg_region_encode(hw_wbuf* out, int64_t region_id, size_t capacity) {
  hw_wbuf_put_i64(out, region_id);
  hw_wbuf_put_i64(out, (int64_t)capacity);
}

void hw_msg_batch_encode(hw_wbuf* out, int64_t index, int64_t region_id, const void* desc, size_t n) {
  hw_wbuf_put_i64(out, index);
  hw_wbuf_put_i64(out, region_id);
  hw_wbuf_put_bytes(out, desc, n);
}

void hw_msg_error_encode(hw_wbuf* out, int64_t partition, const hw_error* e, const char* traceback) {
  hw_wbuf_put_i64(out, partition);
  hw_wbuf_put_i64(out, e->row);
  hw_wbuf_put_i64(out, e->column);
  hw_wbuf_put_bytes(out, e->error_class, strlen(e->error_class));
  hw_wbuf_put_bytes(out, e->message, strlen(e->message));
  hw_wbuf_put_bytes(out, traceback ? traceback : "", traceback ? strlen(traceback) : 0);
}

void hw_msg_error_read(const uint8_t* p, size_t len, int64_t index, hw_error* e, char** traceback) {
  hw_msg_error m;
  hw_error_init(e);
  *traceback = NULL;
  if (hw_msg_error_decode(p, len, &m, e) != 0) {
    hw_error_set(e, "HW_MALFORMED_MESSAGE", "partition %lld: a worker sent a malformed error", (long long)index);
    e->partition = index;
    return;
  }
  hw_msg_error_apply(&m, e, traceback);
  e->partition = m.partition >= 0 ? m.partition : index;
}
