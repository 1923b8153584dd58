#include "ipc/wire.h"

#include "ipc/stats.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"

/* ---------------------------------------------------------------- payloads */

static void wbuf_put(hw_wbuf* b, const void* p, size_t n) {
  if (b->failed) return;
  if (b->size + n > b->capacity) {
    size_t cap = b->capacity ? b->capacity : 256;
    while (cap < b->size + n) cap *= 2;
    uint8_t* grown = realloc(b->data, cap);
    if (!grown) {
      b->failed = 1;
      return;
    }
    b->data = grown;
    b->capacity = cap;
  }
  if (n) memcpy(b->data + b->size, p, n);
  b->size += n;
}

void hw_wbuf_put_i64(hw_wbuf* b, int64_t v) { wbuf_put(b, &v, sizeof v); }

void hw_wbuf_put_bytes(hw_wbuf* b, const void* p, size_t n) {
  hw_wbuf_put_i64(b, (int64_t)n);
  wbuf_put(b, p, n);
}

void hw_wbuf_free(hw_wbuf* b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

int64_t hw_rbuf_i64(hw_rbuf* r) {
  int64_t v = 0;
  if (r->failed || r->size - r->pos < sizeof v) {
    r->failed = 1;
    return 0;
  }
  memcpy(&v, r->data + r->pos, sizeof v);
  r->pos += sizeof v;
  return v;
}

const uint8_t* hw_rbuf_bytes(hw_rbuf* r, size_t* n) {
  int64_t len = hw_rbuf_i64(r);
  if (r->failed || len < 0 || (uint64_t)len > r->size - r->pos) {
    r->failed = 1;
    *n = 0;
    return NULL;
  }
  const uint8_t* p = r->data + r->pos;
  r->pos += (size_t)len;
  *n = (size_t)len;
  return p;
}

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

/* ---------------------------------------------------------------- framing */

typedef struct frame {
  uint32_t type;
  uint32_t has_fd;
  uint64_t length;
} frame;

static int write_all(int sock, const uint8_t* p, size_t n, hw_error* err) {
  while (n > 0) {
    ssize_t w = send(sock, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return hw_error_set(err, "HW_WORKER_LOST", "sending to a worker failed: %s", strerror(errno));
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int hw_wire_send(int sock, hw_msg_type type, const hw_wbuf* payload, int pass_fd, hw_error* err) {
  if (payload && payload->failed) return hw_error_oom(err);
  frame h = {(uint32_t)type, pass_fd >= 0, payload ? payload->size : 0};
  struct iovec iov = {&h, sizeof h};
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  if (pass_fd >= 0) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  ssize_t w;
  do {
    w = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (w < 0 && errno == EINTR);
  if (w < 0) return hw_error_set(err, "HW_WORKER_LOST", "sending to a worker failed: %s", strerror(errno));
  if ((size_t)w < sizeof h && write_all(sock, (const uint8_t*)&h + w, sizeof h - (size_t)w, err) != 0) return -1;
  return payload && payload->size ? write_all(sock, payload->data, payload->size, err) : 0;
}

/* Reads exactly n bytes. 0 ok, 1 EOF before any byte, -1 error. */
static int read_all(int sock, uint8_t* p, size_t n, int* interrupted, hw_error* err) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(sock, p + got, n - got, 0);
    if (r == 0) {
      if (got == 0) return 1;
      return hw_error_set(err, "HW_WORKER_LOST", "the connection closed inside a message");
    }
    if (r < 0) {
      if (errno == EINTR) {
        if (interrupted) {
          *interrupted = 1;
          return -1;
        }
        continue;
      }
      return hw_error_set(err, "HW_WORKER_LOST", "receiving failed: %s", strerror(errno));
    }
    got += (size_t)r;
  }
  return 0;
}

int hw_wire_recv(int sock, hw_msg_type* type, uint8_t** payload, size_t* len, int* fd, int* interrupted,
                 hw_error* err) {
  *payload = NULL;
  *len = 0;
  *fd = -1;
  if (interrupted) *interrupted = 0;
  frame h;
  struct iovec iov = {&h, sizeof h};
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t r;
  for (;;) {
    r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (r >= 0 || errno != EINTR) break;
    if (interrupted) {
      *interrupted = 1;
      return -1;
    }
  }
  if (r == 0) return 1;
  if (r < 0) return hw_error_set(err, "HW_WORKER_LOST", "receiving failed: %s", strerror(errno));
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t k = 0; k < n; k++) { /* keep the first descriptor; a peer sending more leaks none */
      int got;
      memcpy(&got, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
      if (*fd < 0) *fd = got;
      else close(got);
    }
  }
  int rc = 0;
  if ((size_t)r < sizeof h) rc = read_all(sock, (uint8_t*)&h + r, sizeof h - (size_t)r, NULL, err);
  /* an unknown type is garbage: refused before its length is trusted (a stream out of step would
   * otherwise wait for a payload that never comes) */
  bool known = (h.type >= HW_MSG_SETUP && h.type <= HW_MSG_TASK) || (h.type >= HW_MSG_READY && h.type <= HW_MSG_RESULT);
  if (rc != 0 || !known || h.length > ((uint64_t)1 << 34)) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
    return rc == 1 || rc == 0 ? hw_error_set(err, "HW_WORKER_LOST", "a malformed message header") : -1;
  }
  /* the buffer grows with the bytes that arrive (at most twice them), never to a length the header
   * merely claims: a broken peer that announces 16 GiB and sends 13 bytes costs 1 MiB */
  for (size_t got = 0, cap = 0; got < h.length; got = cap) {
    cap = cap == 0 ? (h.length < ((size_t)1 << 20) ? h.length : (size_t)1 << 20)
                   : (h.length - cap < cap ? h.length : 2 * cap);
    uint8_t* grown = realloc(*payload, cap);
    if (!grown) {
      free(*payload);
      *payload = NULL;
      if (*fd >= 0) close(*fd);
      *fd = -1;
      return hw_error_oom(err);
    }
    *payload = grown;
    rc = read_all(sock, *payload + got, cap - got, NULL, err);
    if (rc != 0) {
      free(*payload);
      *payload = NULL;
      if (*fd >= 0) close(*fd);
      *fd = -1;
      return rc == 1 ? hw_error_set(err, "HW_WORKER_LOST", "the connection closed inside a message") : -1;
    }
  }
  *type = (hw_msg_type)h.type;
  *len = h.length;
  return 0;
}

/* ---------------------------------------------------------------- batch layout */

typedef enum { BUF_VALIDITY, BUF_BITS, BUF_FIXED, BUF_OFFSETS, BUF_DATA } buf_kind;

/* Buffers of a type, in C Data Interface order, and the width of fixed values / offsets. */
static int layout(const hw_field* f, buf_kind kinds[3], int* width) {
  *width = 0;
  switch (f->type) {
    case HW_TYPE_NULL: return 0;
    case HW_TYPE_BOOL: kinds[0] = BUF_VALIDITY, kinds[1] = BUF_BITS; return 2;
    case HW_TYPE_INT8: case HW_TYPE_UINT8: *width = 1; break;
    case HW_TYPE_INT16: case HW_TYPE_UINT16: *width = 2; break;
    case HW_TYPE_INT32: case HW_TYPE_UINT32: case HW_TYPE_FLOAT32: case HW_TYPE_DATE32: *width = 4; break;
    case HW_TYPE_INT64: case HW_TYPE_UINT64: case HW_TYPE_FLOAT64: case HW_TYPE_TIMESTAMP: *width = 8; break;
    case HW_TYPE_DECIMAL128: *width = 16; break;
    case HW_TYPE_UTF8: case HW_TYPE_BINARY:
      *width = 4, kinds[0] = BUF_VALIDITY, kinds[1] = BUF_OFFSETS, kinds[2] = BUF_DATA;
      return 3;
    case HW_TYPE_LARGE_UTF8: case HW_TYPE_LARGE_BINARY:
      *width = 8, kinds[0] = BUF_VALIDITY, kinds[1] = BUF_OFFSETS, kinds[2] = BUF_DATA;
      return 3;
    case HW_TYPE_LIST: case HW_TYPE_MAP: *width = 4, kinds[0] = BUF_VALIDITY, kinds[1] = BUF_OFFSETS; return 2;
    case HW_TYPE_STRUCT: kinds[0] = BUF_VALIDITY; return 1;
  }
  kinds[0] = BUF_VALIDITY, kinds[1] = BUF_FIXED;
  return 2;
}

static int expected_children(const hw_field* f) {
  return f->type == HW_TYPE_LIST || f->type == HW_TYPE_MAP ? 1 : f->type == HW_TYPE_STRUCT ? f->n_children : 0;
}

/* Last offset (end of the data / child range) of a var-size or list node. */
static int64_t last_offset(const void* offsets, int width, int64_t index) {
  if (width == 8) {
    int64_t v;
    memcpy(&v, (const uint8_t*)offsets + 8 * index, 8);
    return v;
  }
  int32_t v;
  memcpy(&v, (const uint8_t*)offsets + 4 * index, 4);
  return v;
}

/* Bytes a buffer must have for a node of `end` = offset + length slots. */
static int64_t needed(buf_kind k, int width, int64_t end, const void* offsets) {
  switch (k) {
    case BUF_VALIDITY:
    case BUF_BITS: return (end + 7) / 8;
    case BUF_FIXED: return end * width;
    case BUF_OFFSETS: return (end + 1) * width;
    case BUF_DATA: return offsets ? last_offset(offsets, width, end) : 0;
  }
  return 0;
}

int64_t hw_array_bytes(const hw_field* f, const struct ArrowArray* a) {
  buf_kind kinds[3];
  int width;
  int n = layout(f, kinds, &width);
  if (!a || a->n_buffers != n || a->n_children != expected_children(f)) return 0;
  int64_t end = a->offset + a->length, total = 0;
  const void* offsets = NULL;
  for (int i = 0; i < n; i++) {
    if (kinds[i] == BUF_OFFSETS) offsets = a->buffers[i];
    if (a->buffers[i]) total += needed(kinds[i], width, end, offsets);
  }
  for (int64_t i = 0; i < a->n_children; i++)
    total += hw_array_bytes(f->type == HW_TYPE_STRUCT ? &f->children[i] : &f->children[0], a->children[i]);
  return total;
}

/* ---------------------------------------------------------------- encode (worker) */

static int encode_node(const hw_field* f, const struct ArrowArray* a, hw_region* r, hw_wbuf* out, int depth,
                       hw_error* err) {
  if (depth > HW_MAX_NESTING) return hw_error_set(err, "HW_INTERNAL", "batch nesting too deep");
  buf_kind kinds[3];
  int width;
  int n = layout(f, kinds, &width);
  if (a->n_buffers != n || a->n_children != expected_children(f))
    return hw_error_set(err, "HW_INTERNAL", "a batch does not have its type's layout");
  int64_t end = a->offset + a->length;
  hw_wbuf_put_i64(out, a->length);
  hw_wbuf_put_i64(out, a->null_count);
  hw_wbuf_put_i64(out, a->offset);
  hw_wbuf_put_i64(out, n);
  const void* offsets = NULL;
  for (int i = 0; i < n; i++) {
    const uint8_t* p = a->buffers[i];
    if (kinds[i] == BUF_OFFSETS) offsets = p;
    if (!p) {
      hw_wbuf_put_i64(out, -1);
      hw_wbuf_put_i64(out, 0);
      continue;
    }
    int64_t len = needed(kinds[i], width, end, offsets);
    int64_t at;
    if (p >= r->base && p < r->base + r->capacity && (size_t)(p - r->base) + (size_t)len <= r->capacity) {
      at = p - r->base; /* built in the region: nothing to copy */
    } else {
      at = hw_region_copy_in(r, p, (size_t)len); /* a RecordBatch from user code: one memcpy */
      if (at < 0) return hw_error_set(err, "HW_SHM", "a batch does not fit in a shared-memory region");
    }
    hw_wbuf_put_i64(out, at);
    hw_wbuf_put_i64(out, len);
  }
  hw_wbuf_put_i64(out, a->n_children);
  for (int64_t i = 0; i < a->n_children; i++) {
    const hw_field* child = f->type == HW_TYPE_STRUCT ? &f->children[i] : &f->children[0];
    if (encode_node(child, a->children[i], r, out, depth + 1, err) != 0) return -1;
  }
  return 0;
}

int hw_batch_encode(const hw_field* schema, const struct ArrowArray* batch, hw_region* region, hw_wbuf* out,
                    hw_error* err) {
  if (encode_node(schema, batch, region, out, 0, err) != 0) return -1;
  return out->failed ? hw_error_oom(err) : 0;
}

/* ---------------------------------------------------------------- decode (host) */

/* One decoded node: the ArrowArray and what its pointers point to, in one allocation. */
typedef struct node {
  struct ArrowArray array;
  const void* buffers[3];
  struct ArrowArray** children;
} node;

/* The decoded tree: one block of nodes, alive while any node is. Every node holds a reference, so
 * a consumer may move a child out and release the parent (as the C Data Interface allows); the
 * region goes back to the worker when the last node is released. */
typedef struct decoded {
  void (*on_release)(void* token);
  void* token;
  node* nodes; /* all nodes, pre-order */
  int64_t n_nodes;
  atomic_int_fast64_t refs;
} decoded;

static void free_decoded(decoded* d) {
  for (int64_t i = 0; i < d->n_nodes; i++) free(d->nodes[i].children);
  free(d->nodes);
  if (d->on_release) d->on_release(d->token);
  free(d);
}

static void release_node(struct ArrowArray* array) {
  decoded* d = array->private_data;
  for (int64_t i = 0; i < array->n_children; i++)
    if (array->children[i]->release) array->children[i]->release(array->children[i]);
  array->release = NULL;
  if (atomic_fetch_sub(&d->refs, 1) == 1) free_decoded(d);
}

static int bad(hw_error* err, const char* what) {
  return hw_error_set(err, "HW_MALFORMED_BATCH", "a worker sent a malformed batch descriptor: %s", what);
}

static int decode_node(const hw_field* f, hw_rbuf* in, const hw_region* r, decoded* d, int64_t capacity_nodes,
                       int64_t* at, int depth, hw_error* err) {
  if (depth > HW_MAX_NESTING || *at >= capacity_nodes) return bad(err, "too many nodes");
  node* nd = &d->nodes[(*at)++];
  d->n_nodes = *at;
  struct ArrowArray* a = &nd->array;
  a->length = hw_rbuf_i64(in);
  a->null_count = hw_rbuf_i64(in);
  a->offset = hw_rbuf_i64(in);
  int64_t n = hw_rbuf_i64(in);
  buf_kind kinds[3];
  int width;
  int want = layout(f, kinds, &width);
  if (in->failed || a->length < 0 || a->offset < 0 || a->length > INT64_MAX / 16 - a->offset ||
      a->null_count < -1 || a->null_count > a->length || n != want)
    return bad(err, "node header");
  int64_t end = a->offset + a->length;
  const void* offsets = NULL;
  for (int i = 0; i < n; i++) {
    int64_t off = hw_rbuf_i64(in), len = hw_rbuf_i64(in);
    if (in->failed) return bad(err, "buffer list");
    if (off == -1) {
      /* only the validity buffer may be absent, and then there are no nulls */
      if (kinds[i] != BUF_VALIDITY || a->null_count > 0) return bad(err, "missing buffer");
      nd->buffers[i] = NULL;
      continue;
    }
    if (off < 0 || len < 0 || (uint64_t)off > r->capacity || (uint64_t)len > r->capacity - (uint64_t)off)
      return bad(err, "buffer outside its region");
    const uint8_t* p = r->base + off;
    if (kinds[i] == BUF_OFFSETS) {
      if (len < needed(BUF_OFFSETS, width, end, NULL)) return bad(err, "offsets buffer too short");
      offsets = p;
    } else if (len < needed(kinds[i], width, end, offsets)) {
      return bad(err, "buffer too short");
    }
    nd->buffers[i] = p;
  }
  if (offsets) {
    /* offsets must rise and stay inside the data (or child) they index */
    int64_t prev = last_offset(offsets, width, a->offset);
    if (prev < 0) return bad(err, "negative offset");
    for (int64_t k = a->offset + 1; k <= end; k++) {
      int64_t v = last_offset(offsets, width, k);
      if (v < prev) return bad(err, "offsets decrease");
      prev = v;
    }
  }
  int64_t n_children = hw_rbuf_i64(in);
  if (in->failed || n_children != expected_children(f)) return bad(err, "children");
  a->n_buffers = n;
  a->buffers = nd->buffers;
  a->n_children = n_children;
  a->release = release_node;
  a->private_data = d;
  if (n_children > 0) {
    nd->children = calloc((size_t)n_children, sizeof *nd->children);
    if (!nd->children) return hw_error_oom(err);
    a->children = nd->children;
  }
  for (int64_t i = 0; i < n_children; i++) {
    const hw_field* cf = f->type == HW_TYPE_STRUCT ? &f->children[i] : &f->children[0];
    int64_t child_at = *at;
    if (decode_node(cf, in, r, d, capacity_nodes, at, depth + 1, err) != 0) return -1;
    /* nodes never move (sized for the whole tree up front), so a and child stay valid */
    struct ArrowArray* child = &d->nodes[child_at].array;
    a->children[i] = child;
    /* the child's own length must cover what the parent indexes: for a struct its logical rows
     * [0, offset + length), for a list the element range up to the last offset */
    if (f->type == HW_TYPE_STRUCT) {
      if (child->length < end) return bad(err, "struct child too short");
    } else {
      int64_t last = last_offset(offsets, width, end);
      if (child->length < last) return bad(err, "list child too short");
    }
  }
  return 0;
}

static int64_t count_nodes(const hw_field* f) {
  int64_t n = 1;
  for (int32_t i = 0; i < f->n_children; i++) n += count_nodes(&f->children[i]);
  return n;
}

int hw_batch_decode(const hw_field* schema, const uint8_t* desc, size_t len, const hw_region* region,
                    void (*on_release)(void* token), void* token, struct ArrowArray* out, hw_error* err) {
  int64_t capacity = count_nodes(schema);
  decoded* d = calloc(1, sizeof *d);
  node* nodes = calloc((size_t)capacity, sizeof *nodes);
  if (!d || !nodes) {
    free(d);
    free(nodes);
    return hw_error_oom(err);
  }
  d->nodes = nodes;
  hw_rbuf in = {desc, len, 0, 0};
  int64_t at = 0;
  int rc = decode_node(schema, &in, region, d, capacity, &at, 0, err);
  if (rc == 0 && in.pos != in.size) rc = bad(err, "trailing bytes");
  if (rc != 0) {
    d->on_release = NULL;
    free_decoded(d);
    return -1;
  }
  atomic_init(&d->refs, d->n_nodes);
  d->on_release = on_release;
  d->token = token;
  /* the root is handed out by value; it keeps its reference like every other node */
  *out = nodes[0].array;
  nodes[0].array.release = NULL;
  return 0;
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
