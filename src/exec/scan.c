#include "exec/scan.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arrow/array.h"
#include "arrow/allocator.h"
#include "common/error.h"
#include "convert/batch_check.h"
#include "convert/rows_to_arrow.h"

/* One partition being read: its iterator and converter. */
typedef struct part_reader {
  int64_t index;
  PyObject* iterator;      /* NULL until opened */
  hw_row_converter* conv;
  PyObject* pending;       /* a RecordBatch that must follow the rows being converted */
  bool arrow_items;        /* the first item was a RecordBatch: Spark then takes all items as batches */
  bool seen_item;
} part_reader;

/* Finished batches of one partition waiting for the consumer (thread mode). */
typedef struct part_queue {
  struct ArrowArray* items; /* ring of queue_depth */
  int32_t head;
  int32_t count;
  bool done;
} part_queue;

struct hw_scan {
  atomic_int refs;
  hw_field schema;
  hw_scan_config cfg;
  PyObject* read_fn;
  PyObject* partitions;     /* list */
  int64_t n_partitions;
  PyObject* record_batch_type; /* pyarrow.RecordBatch, or NULL when pyarrow is absent */
  char* source_name;
  bool streamed;

  /* shared state: mu guards everything below */
  pthread_mutex_t mu;
  pthread_cond_t changed;
  bool failed;
  hw_error error;
  PyObject* exception;      /* the source's own exception, when that is what failed */
  int64_t batches_out;
  int64_t rows_out;

  /* inline mode */
  part_reader inline_reader;
  int64_t inline_next;      /* next partition to open */

  /* thread mode */
  atomic_bool cancelled;
  int64_t next_claim;       /* next partition a worker takes */
  int64_t consumer_at;      /* lowest partition the consumer has not finished */
  part_queue* queues;
  pthread_t* threads;
  int32_t n_threads;
};

void hw_scan_config_default(hw_scan_config* cfg) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  cfg->mode = HW_EXEC_INLINE;
  cfg->workers = cpus > 0 ? (int32_t)cpus : 1;
  cfg->max_rows_per_batch = 10000;
  cfg->max_bytes_per_batch = 64 << 20;
  cfg->queue_depth = 2;
  cfg->ordered = true;
}

/* ---------------------------------------------------------------- failures */

/* The raised exception as one object (its traceback attached), clearing it; NULL if none. GIL.
 * (PyErr_GetRaisedException is 3.12+; this works on 3.11.) */
static PyObject* take_exception(void) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (!type) return NULL;
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb && value) PyException_SetTraceback(value, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  return value;
}

/* Raises exc again (steals the reference). GIL. */
static void restore_exception(PyObject* exc) {
  if (!exc) return;
  PyObject* type = (PyObject*)Py_TYPE(exc);
  Py_INCREF(type);
  PyErr_Restore(type, exc, PyException_GetTraceback(exc));
}

/* Records the first failure (later ones are consequences). The caller holds the GIL; takes the
 * current Python exception, if any, as the source's own error. */
static void record_failure(hw_scan* s, const hw_error* err, bool python_error, int64_t partition) {
  PyObject* exc = NULL;
  if (python_error) {
    exc = take_exception();
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

/* The message of a Python exception for C consumers: "partition N: Type: message". GIL. */
static void describe_python_error(hw_error* err, int64_t partition, const char* action) {
  PyObject* exc = take_exception();
  PyObject* text = exc ? PyObject_Str(exc) : NULL;
  const char* msg = text ? PyUnicode_AsUTF8(text) : NULL;
  if (!msg) PyErr_Clear();
  hw_error_set(err, "PYTHON_EXCEPTION", "partition %lld: %s failed: %s: %s", (long long)partition, action,
               exc ? Py_TYPE(exc)->tp_name : "?", msg ? msg : "");
  err->partition = partition;
  Py_XDECREF(text);
  restore_exception(exc); /* keep it raised for record_failure */
}

/* ---------------------------------------------------------------- reading a partition */

static void reader_close(part_reader* r) {
  Py_CLEAR(r->iterator);
  Py_CLEAR(r->pending);
  hw_row_converter_free(r->conv);
  r->conv = NULL;
}

/* Calls read(partition) and checks it returned an iterator. GIL. */
static int reader_open(hw_scan* s, part_reader* r, int64_t index, hw_error* err) {
  memset(r, 0, sizeof *r);
  r->index = index;
  if (hw_row_converter_new(&r->conv, &s->schema, hw_allocator_heap(), s->source_name, err) != 0) return -1;
  hw_row_converter_start_partition(r->conv, index);
  PyObject* partition = PyList_GET_ITEM(s->partitions, index); /* borrowed */
  PyObject* result = PyObject_CallOneArg(s->read_fn, partition);
  if (!result) {
    describe_python_error(err, index, "read()");
    return -1;
  }
  if (!PyIter_Check(result)) {
    hw_error_set(err, "DATA_SOURCE_INVALID_RETURN_TYPE",
                 "Unsupported return type ('%s') from Python data source '%s'. Expected types: iterator.",
                 Py_TYPE(result)->tp_name, s->source_name);
    err->partition = index;
    Py_DECREF(result);
    return -1;
  }
  r->iterator = result;
  return 0;
}

/* A RecordBatch yielded by the source: checked against the schema (Spark: same column count,
 * every schema column present), put in schema order without copying, and moved into out. GIL. */
static int take_record_batch(hw_scan* s, part_reader* r, PyObject* item, struct ArrowArray* out, hw_error* err) {
  PyObject* pair = PyObject_CallMethod(item, "__arrow_c_array__", NULL);
  if (!pair) {
    describe_python_error(err, r->index, "RecordBatch.__arrow_c_array__()");
    return -1;
  }
  struct ArrowSchema* cschema = NULL;
  struct ArrowArray* carray = NULL;
  if (PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2) {
    cschema = PyCapsule_GetPointer(PyTuple_GET_ITEM(pair, 0), "arrow_schema");
    carray = cschema ? PyCapsule_GetPointer(PyTuple_GET_ITEM(pair, 1), "arrow_array") : NULL;
  }
  if (!carray) {
    Py_DECREF(pair);
    PyErr_Clear();
    hw_error_set(err, "HW_INTERNAL", "partition %lld: a RecordBatch exported no Arrow array", (long long)r->index);
    return -1;
  }
  hw_field got;
  int rc = hw_field_from_arrow(cschema, &got, err);
  if (rc == 0) {
    rc = hw_batch_conform(&s->schema, &got, carray, out, err);
    hw_field_release(&got);
  }
  Py_DECREF(pair); /* carray was moved into out on success; the capsule frees what is left */
  if (rc != 0) {
    err->partition = r->index;
    hw_error_prefix(err, "partition %lld: ", (long long)r->index);
  }
  return rc;
}

/*
 * Produces the partition's next batch into out (*done = false), or reports that the partition is
 * finished (*done = true, out untouched). GIL.
 */
static int reader_next_batch(hw_scan* s, part_reader* r, struct ArrowArray* out, bool* done, hw_error* err,
                             bool* python_error) {
  *done = false;
  *python_error = false;
  if (r->pending) {
    PyObject* item = r->pending;
    r->pending = NULL;
    int rc = take_record_batch(s, r, item, out, err);
    Py_DECREF(item);
    return rc;
  }
  int64_t max_rows = s->cfg.max_rows_per_batch;
  int64_t max_bytes = s->cfg.max_bytes_per_batch;
  for (;;) {
    if (atomic_load_explicit(&s->cancelled, memory_order_relaxed)) {
      *done = true;
      return 0;
    }
    PyObject* item = PyIter_Next(r->iterator);
    if (!item) {
      if (PyErr_Occurred()) {
        describe_python_error(err, r->index, "read()");
        *python_error = true;
        return -1;
      }
      if (hw_row_converter_rows(r->conv) > 0) return hw_row_converter_finish(r->conv, out, err);
      *done = true;
      return 0;
    }
    bool is_batch = s->record_batch_type && PyObject_TypeCheck(item, (PyTypeObject*)s->record_batch_type);
    if (!r->seen_item) {
      r->seen_item = true;
      r->arrow_items = is_batch;
    }
    if (r->arrow_items) {
      int rc;
      if (!is_batch) {
        hw_error_set(err, "DATA_SOURCE_INVALID_RETURN_TYPE",
                     "Unsupported return type ('%s') from Python data source '%s'. Expected types: "
                     "pyarrow.RecordBatch (the partition's first item was a RecordBatch, so all must be).",
                     Py_TYPE(item)->tp_name, s->source_name);
        err->partition = r->index;
        rc = -1;
      } else {
        rc = take_record_batch(s, r, item, out, err);
      }
      Py_DECREF(item);
      return rc;
    }
    int rc = hw_row_converter_append(r->conv, item, err);
    Py_DECREF(item);
    if (rc != 0) return -1;
    int64_t rows = hw_row_converter_rows(r->conv);
    if (rows >= max_rows || (max_bytes > 0 && (rows & 255) == 0 && hw_row_converter_bytes(r->conv) >= max_bytes))
      return hw_row_converter_finish(r->conv, out, err);
  }
}

static void count_batch(hw_scan* s, const struct ArrowArray* batch) {
  pthread_mutex_lock(&s->mu);
  s->batches_out++;
  s->rows_out += batch->length;
  pthread_mutex_unlock(&s->mu);
}

/* ---------------------------------------------------------------- inline mode */

static int inline_next(hw_scan* s, struct ArrowArray* out) {
  PyGILState_STATE gil = PyGILState_Ensure();
  hw_error err;
  hw_error_init(&err);
  int rc = 0;
  for (;;) {
    if (s->failed) {
      rc = EIO;
      break;
    }
    part_reader* r = &s->inline_reader;
    if (!r->iterator) {
      if (s->inline_next >= s->n_partitions) {
        memset(out, 0, sizeof *out); /* end of stream */
        break;
      }
      int64_t index = s->inline_next++;
      if (reader_open(s, r, index, &err) != 0) {
        record_failure(s, &err, PyErr_Occurred() != NULL, index);
        reader_close(r);
        rc = EIO;
        break;
      }
    }
    bool done, python_error;
    if (reader_next_batch(s, r, out, &done, &err, &python_error) != 0) {
      record_failure(s, &err, python_error, r->index);
      reader_close(r);
      rc = EIO;
      break;
    }
    if (!done) {
      count_batch(s, out);
      break;
    }
    reader_close(r);
  }
  PyGILState_Release(gil);
  return rc;
}

/* ---------------------------------------------------------------- thread mode */

/* Waits on the condition with the GIL released if this thread holds it. mu must be held. */
static void wait_changed(hw_scan* s) { pthread_cond_wait(&s->changed, &s->mu); }

static void* worker_main(void* arg) {
  hw_scan* s = arg;
  PyGILState_STATE gil = PyGILState_Ensure();
  part_reader r;
  memset(&r, 0, sizeof r);
  hw_error err;
  hw_error_init(&err);
  for (;;) {
    pthread_mutex_lock(&s->mu);
    int64_t index = s->failed ? s->n_partitions : s->next_claim++;
    pthread_mutex_unlock(&s->mu);
    if (index >= s->n_partitions || atomic_load(&s->cancelled)) break;
    if (reader_open(s, &r, index, &err) != 0) {
      record_failure(s, &err, PyErr_Occurred() != NULL, index);
      reader_close(&r);
      break;
    }
    part_queue* q = &s->queues[index];
    bool stop = false;
    for (;;) {
      struct ArrowArray batch;
      bool done, python_error;
      if (reader_next_batch(s, &r, &batch, &done, &err, &python_error) != 0) {
        record_failure(s, &err, python_error, index);
        stop = true;
        break;
      }
      /* hand over (or mark done) without the GIL: the consumer may be waiting for it */
      PyThreadState* ts = PyEval_SaveThread();
      pthread_mutex_lock(&s->mu);
      while (!done && q->count == s->cfg.queue_depth && !atomic_load(&s->cancelled) && !s->failed)
        wait_changed(s);
      bool give_up = atomic_load(&s->cancelled) || s->failed;
      if (!give_up) {
        if (done) {
          q->done = true;
        } else {
          hw_array_move(&batch, &q->items[(q->head + q->count) % s->cfg.queue_depth]);
          q->count++;
        }
      }
      pthread_cond_broadcast(&s->changed);
      pthread_mutex_unlock(&s->mu);
      if (give_up && !done) hw_array_release(&batch);
      PyEval_RestoreThread(ts);
      if (give_up) stop = true;
      if (done || stop) break;
    }
    reader_close(&r);
    if (stop) break;
  }
  PyGILState_Release(gil);
  return NULL;
}

static int start_threads(hw_scan* s, hw_error* err) {
  int32_t n = s->cfg.workers;
  if (n > s->n_partitions) n = (int32_t)s->n_partitions;
  if (n < 1) n = 1;
  s->queues = calloc((size_t)(s->n_partitions > 0 ? s->n_partitions : 1), sizeof *s->queues);
  s->threads = calloc((size_t)n, sizeof *s->threads);
  if (!s->queues || !s->threads) return hw_error_oom(err);
  for (int64_t i = 0; i < s->n_partitions; i++) {
    s->queues[i].items = calloc((size_t)s->cfg.queue_depth, sizeof(struct ArrowArray));
    if (!s->queues[i].items) return hw_error_oom(err);
  }
  for (int32_t i = 0; i < n; i++) {
    if (pthread_create(&s->threads[i], NULL, worker_main, s) != 0)
      return hw_error_set(err, "HW_INTERNAL", "cannot start a scan thread: %s", strerror(errno));
    s->n_threads = i + 1;
  }
  return 0;
}

/* Pops the next batch for the consumer; mu held. Returns 1 with out filled, 0 at the end, -1 when
 * the scan failed, 2 when it must wait. */
static int pop_ready(hw_scan* s, struct ArrowArray* out) {
  if (s->failed) return -1;
  while (s->consumer_at < s->n_partitions && s->queues[s->consumer_at].done &&
         s->queues[s->consumer_at].count == 0)
    s->consumer_at++;
  if (s->consumer_at >= s->n_partitions) return 0;
  int64_t last = s->cfg.ordered ? s->consumer_at : s->n_partitions - 1;
  for (int64_t i = s->consumer_at; i <= last; i++) {
    part_queue* q = &s->queues[i];
    if (q->count > 0) {
      hw_array_move(&q->items[q->head], out);
      q->head = (q->head + 1) % s->cfg.queue_depth;
      q->count--;
      return 1;
    }
  }
  return 2;
}

static int thread_next(hw_scan* s, struct ArrowArray* out) {
  /* never block while holding the GIL: the workers need it to make progress */
  PyThreadState* ts = PyGILState_Check() ? PyEval_SaveThread() : NULL;
  pthread_mutex_lock(&s->mu);
  int got;
  while ((got = pop_ready(s, out)) == 2) wait_changed(s);
  if (got == 1) {
    s->batches_out++;
    s->rows_out += out->length;
  }
  pthread_cond_broadcast(&s->changed); /* a queue slot is free */
  pthread_mutex_unlock(&s->mu);
  if (ts) PyEval_RestoreThread(ts);
  if (got == 0) memset(out, 0, sizeof *out);
  return got < 0 ? EIO : 0;
}

static void stop_threads(hw_scan* s) {
  if (!s->threads) return;
  atomic_store(&s->cancelled, true);
  pthread_mutex_lock(&s->mu);
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->mu);
  PyThreadState* ts = PyGILState_Check() ? PyEval_SaveThread() : NULL;
  for (int32_t i = 0; i < s->n_threads; i++) pthread_join(s->threads[i], NULL);
  if (ts) PyEval_RestoreThread(ts);
  s->n_threads = 0;
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
  return s->cfg.mode == HW_EXEC_THREAD ? thread_next(s, out) : inline_next(s, out);
}

static const char* stream_get_last_error(struct ArrowArrayStream* stream) {
  hw_scan* s = stream->private_data;
  return s->failed ? s->error.message : NULL;
}

static void stream_release(struct ArrowArrayStream* stream) {
  hw_scan_unref(stream->private_data);
  stream->release = NULL;
}

int hw_scan_stream(hw_scan* s, struct ArrowArrayStream* out, hw_error* err) {
  if (s->streamed) return hw_error_set(err, "HW_INVALID_ARGUMENT", "a scan can be streamed once");
  s->streamed = true;
  if (s->cfg.mode == HW_EXEC_THREAD && start_threads(s, err) != 0) {
    stop_threads(s);
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
  if (cfg->max_rows_per_batch <= 0 || cfg->queue_depth <= 0 || cfg->workers <= 0)
    return hw_error_set(err, "HW_INVALID_ARGUMENT", "rows per batch, queue depth and workers must be positive");
  hw_scan* s = calloc(1, sizeof *s);
  if (!s) return hw_error_oom(err);
  atomic_init(&s->refs, 1);
  atomic_init(&s->cancelled, false);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->changed, NULL);
  hw_error_init(&s->error);
  s->cfg = *cfg;
  s->source_name = strdup(source_name ? source_name : "");
  if (!s->source_name || hw_field_copy(&s->schema, schema, err) != 0) {
    free(s->source_name);
    free(s);
    return hw_error_oom(err);
  }
  Py_INCREF(read_fn);
  s->read_fn = read_fn;
  Py_INCREF(partitions);
  s->partitions = partitions;
  s->n_partitions = PyList_GET_SIZE(partitions);
  PyObject* pyarrow = PyImport_ImportModule("pyarrow");
  s->record_batch_type = pyarrow ? PyObject_GetAttrString(pyarrow, "RecordBatch") : NULL;
  Py_XDECREF(pyarrow);
  PyErr_Clear(); /* without pyarrow, items simply cannot be RecordBatches */
  *out = s;
  return 0;
}

bool hw_scan_failure(hw_scan* s, hw_error* err, PyObject** exception) {
  pthread_mutex_lock(&s->mu);
  bool failed = s->failed;
  if (failed) {
    *err = s->error;
    *exception = s->exception;
    Py_XINCREF(*exception);
  }
  pthread_mutex_unlock(&s->mu);
  return failed;
}

void hw_scan_counts(hw_scan* s, int64_t* batches, int64_t* rows) {
  pthread_mutex_lock(&s->mu);
  *batches = s->batches_out;
  *rows = s->rows_out;
  pthread_mutex_unlock(&s->mu);
}

void hw_scan_unref(hw_scan* s) {
  if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
  stop_threads(s);
  PyGILState_STATE gil = PyGILState_Ensure();
  reader_close(&s->inline_reader);
  Py_CLEAR(s->read_fn);
  Py_CLEAR(s->partitions);
  Py_CLEAR(s->record_batch_type);
  Py_CLEAR(s->exception);
  PyGILState_Release(gil);
  if (s->queues) {
    for (int64_t i = 0; i < s->n_partitions; i++) {
      part_queue* q = &s->queues[i];
      for (int32_t k = 0; q->items && k < q->count; k++)
        hw_array_release(&q->items[(q->head + k) % s->cfg.queue_depth]);
      free(q->items);
    }
  }
  free(s->queues);
  free(s->threads);
  hw_field_release(&s->schema);
  free(s->source_name);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->changed);
  free(s);
}
