#include "pyexec/scan.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "arrow/array.h"
#include "arrow/allocator.h"
#include "common/error.h"
#include "pyexec/partition_reader.h"
#include "pyexec/scan_internal.h"

/* Makes room for one more item, growing the ring (unbounded queues only). mu held. */
static int queue_grow(part_queue* q) {
  int32_t cap = q->capacity ? q->capacity * 2 : 4;
  struct ArrowArray* items = calloc((size_t)cap, sizeof *items);
  int32_t* producers = calloc((size_t)cap, sizeof *producers);
  if (!items || !producers) {
    free(items);
    free(producers);
    return -1;
  }
  for (int32_t k = 0; k < q->count; k++) {
    int32_t from = (q->head + k) % q->capacity;
    items[k] = q->items[from]; /* a plain struct copy moves an ArrowArray */
    producers[k] = q->producers[from];
  }
  free(q->items);
  free(q->producers);
  q->items = items;
  q->producers = producers;
  q->capacity = cap;
  q->head = 0;
  return 0;
}

/* Appends a batch (moved) from producer; grows when allowed. -1 when full or out of memory. */
int scan_queue_push(part_queue* q, struct ArrowArray* batch, int32_t producer, bool bounded) {
  if (q->count == q->capacity && (bounded || queue_grow(q) != 0)) return -1;
  int32_t slot = (q->head + q->count) % q->capacity;
  hw_array_move(batch, &q->items[slot]);
  q->producers[slot] = producer;
  q->count++;
  return 0;
}

void hw_scan_config_default(hw_scan_config* cfg) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  cfg->mode = HW_EXEC_INLINE;
  cfg->workers = cpus > 0 ? (int32_t)cpus : 1;
  cfg->max_rows_per_batch = 10000;
  cfg->max_bytes_per_batch = 64 << 20;
  cfg->queue_depth = 2;
  cfg->ordered = true;
  cfg->task_retries = 0;
  cfg->limit = -1;
  cfg->first_index = 0;
  cfg->exact_batches = false;
  cfg->cancel_grace_ms = 2000;
}

/* ---------------------------------------------------------------- failures */

/* Records the first failure (later ones are consequences). The caller holds the GIL; takes the
 * current Python exception, if any, as the source's own error. */
void scan_record_failure(hw_scan* s, const hw_error* err, bool python_error, int64_t partition) {
  PyObject* exc = NULL;
  if (python_error) {
    exc = hw_take_exception();
  }
  pthread_mutex_lock(&s->mu);
  if (!s->failed) {
    s->failed = true;
    s->error = *err;
    if (s->error.partition < 0) s->error.partition = partition;
    s->exception = exc;
    exc = NULL;
  }
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->mu);
  Py_XDECREF(exc);
}

void scan_count_batch(hw_scan* s, const struct ArrowArray* batch) {
  pthread_mutex_lock(&s->mu);
  s->batches_out++;
  s->rows_out += batch->length;
  pthread_mutex_unlock(&s->mu);
}

void scan_record_stats(hw_scan* s, int64_t at, const hw_partition_stats* st) {
  pthread_mutex_lock(&s->mu);
  if (s->stats && at >= 0 && at < s->n_partitions) {
    if (s->stats[at].partition < 0) s->partitions_done++;
    s->stats[at] = *st;
    s->bytes_done += st->bytes;
  }
  pthread_mutex_unlock(&s->mu);
}

void scan_record_reader_stats(hw_scan* s, int64_t at, hw_partition_reader* r) {
  hw_partition_stats st;
  hw_partition_stats_finish(r, &st);
  scan_record_stats(s, at, &st);
}

/* A failure reported by a worker process (no GIL needed). */
void scan_record_worker_failure(hw_scan* s, const hw_error* err, const char* traceback) {
  pthread_mutex_lock(&s->mu);
  if (!s->failed) {
    s->failed = true;
    s->error = *err;
    s->traceback = traceback && traceback[0] ? strdup(traceback) : NULL;
  }
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->mu);
}

/* ---------------------------------------------------------------- stream */

static int stream_get_schema(struct ArrowArrayStream* stream, struct ArrowSchema* out) {
  hw_scan* s = stream->private_data;
  hw_error err;
  hw_error_init(&err);
  return hw_field_to_arrow(&s->schema, out, &err) == 0 ? 0 : ENOMEM;
}

static int stream_get_next(struct ArrowArrayStream* stream, struct ArrowArray* out) {
  hw_scan* s = stream->private_data;
  int64_t limit = s->cfg.limit;
  if (limit >= 0 && s->delivered >= limit) {
    memset(out, 0, sizeof *out); /* the limit is met: the stream ends */
    return 0;
  }
  int rc = s->cfg.mode == HW_EXEC_INLINE ? scan_inline_next(s, out) : scan_thread_next(s, out);
  if (rc != 0 || !out->release || limit < 0) return rc;
  if (out->length > limit - s->delivered) out->length = limit - s->delivered; /* children may be longer */
  s->delivered += out->length;
  if (s->delivered >= limit) scan_stop_threads(s); /* cancel partitions not started, stop running ones */
  return 0;
}

static const char* stream_get_last_error(struct ArrowArrayStream* stream) {
  hw_scan* s = stream->private_data;
  return s->failed ? s->error.message : NULL;
}

/* The stream is gone: stop the threads and hand the worker pool back now, not when the last
 * reference (say, one held by an exception's traceback) goes. Idempotent. */
static void scan_quiesce(hw_scan* s) {
  scan_stop_threads(s);
  pthread_mutex_lock(&s->mu); /* batches nobody will consume: hand their memory back */
  for (int64_t i = 0; s->queues && i < s->n_partitions; i++) {
    part_queue* q = &s->queues[i];
    for (; q->count > 0; q->count--, q->head = (q->head + 1) % q->capacity) hw_array_release(&q->items[q->head]);
  }
  pthread_mutex_unlock(&s->mu);
  if (s->pool) {
    hw_pool_unref(s->pool);
    s->pool = NULL;
  }
}

static void stream_release(struct ArrowArrayStream* stream) {
  hw_scan* s = stream->private_data;
  scan_quiesce(s);
  hw_scan_unref(s);
  stream->release = NULL;
}

int hw_scan_stream(hw_scan* s, struct ArrowArrayStream* out, hw_error* err) {
  if (s->streamed) return hw_error_set(err, "HW_INVALID_ARGUMENT", "a scan can be streamed once");
  s->streamed = true;
  if (s->cfg.mode == HW_EXEC_PROCESS && !s->pool)
    return hw_error_set(err, "HW_INVALID_ARGUMENT", "process mode needs a worker pool (hw_scan_use_pool)");
  if (s->cfg.mode != HW_EXEC_INLINE && s->cfg.limit != 0 && scan_start_threads(s, err) != 0) {
    scan_stop_threads(s);
    return -1;
  }
  atomic_fetch_add(&s->refs, 1);
  out->get_schema = stream_get_schema;
  out->get_next = stream_get_next;
  out->get_last_error = stream_get_last_error;
  out->release = stream_release;
  out->private_data = s;
  return 0;
}

/* ---------------------------------------------------------------- lifecycle */

int hw_scan_new(hw_scan** out, const hw_field* schema, PyObject* read_fn, PyObject* partitions,
                const char* source_name, const hw_scan_config* cfg, hw_error* err) {
  if (!PyList_Check(partitions)) return hw_error_set(err, "HW_INVALID_ARGUMENT", "partitions must be a list");
  if (schema->type != HW_TYPE_STRUCT)
    return hw_error_set(err, "INVALID_SCHEMA.NON_STRUCT_TYPE", "a scan needs a struct schema");
  if (cfg->max_rows_per_batch <= 0 || cfg->workers <= 0)
    return hw_error_set(err, "HW_INVALID_ARGUMENT", "rows per batch and workers must be positive");
  hw_scan* s = calloc(1, sizeof *s);
  if (!s) return hw_error_oom(err);
  atomic_init(&s->refs, 1);
  atomic_init(&s->cancelled, false);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->changed, NULL);
  hw_error_init(&s->error);
  s->cfg = *cfg;
  s->source_name = strdup(source_name ? source_name : "");
  hw_field_init(&s->schema);
  hw_field_init(&s->read_schema);
  if (!s->source_name || hw_field_copy(&s->schema, schema, err) != 0 ||
      hw_field_copy(&s->read_schema, schema, err) != 0) {
    hw_field_release(&s->schema);
    free(s->source_name);
    free(s);
    return hw_error_oom(err);
  }
  if (cfg->limit > 0 && cfg->limit < s->cfg.max_rows_per_batch) s->cfg.max_rows_per_batch = cfg->limit;
  Py_INCREF(read_fn);
  s->read_fn = read_fn;
  Py_INCREF(partitions);
  s->partitions = partitions;
  s->n_partitions = PyList_GET_SIZE(partitions);
  s->stats = malloc(sizeof *s->stats * (size_t)(s->n_partitions > 0 ? s->n_partitions : 1));
  for (int64_t i = 0; s->stats && i < s->n_partitions; i++) s->stats[i].partition = -1;
  s->record_batch_type = hw_record_batch_type();
  s->ctx = (hw_read_context){&s->read_schema, s->read_fn, s->record_batch_type, s->source_name,
                             s->cfg.max_rows_per_batch, cfg->max_bytes_per_batch, hw_allocator_heap(), &s->cancelled,
                             NULL, 0, cfg->exact_batches};
  *out = s;
  return 0;
}

bool hw_scan_failure(hw_scan* s, hw_error* err, PyObject** exception, char** traceback) {
  pthread_mutex_lock(&s->mu);
  bool failed = s->failed;
  if (failed) {
    *err = s->error;
    *exception = s->exception;
    Py_XINCREF(*exception);
    *traceback = s->traceback ? strdup(s->traceback) : NULL;
  }
  pthread_mutex_unlock(&s->mu);
  return failed;
}

int hw_scan_use_pool(hw_scan* s, hw_pool* pool, PyObject* pickled_reader, PyObject* pickled_partitions,
                     hw_error* err) {
  if (!PyBytes_Check(pickled_reader) || !PyList_Check(pickled_partitions) ||
      PyList_GET_SIZE(pickled_partitions) != s->n_partitions)
    return hw_error_set(err, "HW_INVALID_ARGUMENT", "process mode needs the pickled reader and one pickled partition each");
  for (int64_t i = 0; i < s->n_partitions; i++)
    if (!PyBytes_Check(PyList_GET_ITEM(pickled_partitions, i)))
      return hw_error_set(err, "HW_INVALID_ARGUMENT", "pickled partitions must be bytes");
  if (hw_spark_json_render(&s->read_schema, &s->schema_json, err) != 0) return -1;
  pthread_mutex_lock(&pool->mu); /* the pool is shared: concurrent scans claim its workers task by task */
  s->query = ++pool->next_query;
  pthread_mutex_unlock(&pool->mu);
  hw_pool_ref(pool); /* the pool's memory outlives a session that stops before this scan is freed */
  s->pool = pool;
  s->cfg.mode = HW_EXEC_PROCESS;
  Py_INCREF(pickled_reader);
  s->pickled_reader = pickled_reader;
  Py_INCREF(pickled_partitions);
  s->pickled_partitions = pickled_partitions;
  return 0;
}

int hw_scan_project(hw_scan* s, const int32_t* columns, int32_t n, hw_error* err) {
  if (s->streamed || s->pool) return hw_error_set(err, "HW_INVALID_ARGUMENT", "project a scan before it starts");
  for (int32_t i = 0; i < n; i++)
    if (columns[i] < 0 || columns[i] >= s->read_schema.n_children || (i > 0 && columns[i] <= columns[i - 1]))
      return hw_error_set(err, "HW_INVALID_ARGUMENT",
                          "columns must be ascending positions in the schema (of %d columns); got %d at %d",
                          s->read_schema.n_children, columns[i], i);
  int32_t* copy = malloc(sizeof *copy * (size_t)(n > 0 ? n : 1));
  if (!copy) return hw_error_oom(err);
  memcpy(copy, columns, sizeof *copy * (size_t)n);
  hw_field projected;
  if (hw_field_project(&projected, &s->read_schema, copy, n, err) != 0) {
    free(copy);
    return -1;
  }
  hw_field_release(&s->schema);
  s->schema = projected;
  free(s->columns);
  s->columns = copy;
  s->n_columns = n;
  s->ctx.columns = copy;
  s->ctx.n_columns = n;
  return 0;
}

int hw_scan_report(hw_scan* s, hw_partition_stats** out, int64_t* n) {
  pthread_mutex_lock(&s->mu);
  *n = 0;
  *out = malloc(sizeof **out * (size_t)(s->n_partitions > 0 ? s->n_partitions : 1));
  for (int64_t i = 0; *out && s->stats && i < s->n_partitions; i++)
    if (s->stats[i].partition >= 0) (*out)[(*n)++] = s->stats[i];
  pthread_mutex_unlock(&s->mu);
  return *out ? 0 : -1;
}

void hw_scan_progress(hw_scan* s, int64_t* done, int64_t* total, int64_t* rows, int64_t* bytes) {
  pthread_mutex_lock(&s->mu);
  *done = s->partitions_done;
  *total = s->n_partitions;
  *rows = s->rows_out;
  *bytes = s->bytes_done;
  pthread_mutex_unlock(&s->mu);
}

void hw_scan_counts(hw_scan* s, int64_t* batches, int64_t* rows) {
  pthread_mutex_lock(&s->mu);
  *batches = s->batches_out;
  *rows = s->rows_out;
  pthread_mutex_unlock(&s->mu);
}

void hw_scan_cancel(hw_scan* s) {
  hw_error err;
  hw_error_init(&err);
  hw_error_set(&err, "HW_CANCELLED", "the read was cancelled");
  scan_record_worker_failure(s, &err, NULL);
  atomic_store(&s->cancelled, true);
}

void hw_scan_unref(hw_scan* s) {
  if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
  scan_quiesce(s);
  PyGILState_STATE gil = PyGILState_Ensure();
  hw_partition_close(&s->inline_reader);
  Py_CLEAR(s->read_fn);
  Py_CLEAR(s->partitions);
  Py_CLEAR(s->record_batch_type);
  Py_CLEAR(s->exception);
  Py_CLEAR(s->pickled_reader);
  Py_CLEAR(s->pickled_partitions);
  PyGILState_Release(gil);
  free(s->proxies);
  free(s->retry);
  free(s->stats);
  free(s->schema_json);
  free(s->traceback);
  if (s->queues) {
    for (int64_t i = 0; i < s->n_partitions; i++) {
      part_queue* q = &s->queues[i];
      for (int32_t k = 0; q->items && k < q->count; k++)
        hw_array_release(&q->items[(q->head + k) % q->capacity]);
      free(q->items);
      free(q->producers);
    }
  }
  free(s->queues);
  free(s->threads);
  hw_field_release(&s->schema);
  hw_field_release(&s->read_schema);
  free(s->columns);
  free(s->source_name);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->changed);
  free(s);
}
