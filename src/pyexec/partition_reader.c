#include "pyexec/partition_reader.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arrow/array.h"
#include "common/error.h"
#include "convert/batch_check.h"
#include "ipc/wire.h"

int64_t hw_now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

void hw_partition_stats_finish(hw_partition_reader* r, hw_partition_stats* out) {
  *out = r->stats;
  int64_t sampled = r->stats.sampled_source_ns + r->stats.sampled_convert_ns;
  int64_t source = sampled > 0 ? (int64_t)((double)r->stats.loop_ns * r->stats.sampled_source_ns / sampled) : 0;
  out->source_ns += source;
  out->convert_ns += r->stats.loop_ns - source;
  out->wall_ns = r->stats.opened_ns ? hw_now_ns() - r->stats.opened_ns : 0;
  out->partition = r->index;
  out->pid = getpid();
}

PyObject* hw_take_exception(void) {
  /* (PyErr_GetRaisedException is 3.12+; this works on 3.11) */
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (!type) return NULL;
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb && value) PyException_SetTraceback(value, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  return value;
}

/* Raises exc again (steals the reference). */
static void restore_exception(PyObject* exc) {
  if (!exc) return;
  PyObject* type = (PyObject*)Py_TYPE(exc);
  Py_INCREF(type);
  PyErr_Restore(type, exc, PyException_GetTraceback(exc));
}

PyObject* hw_record_batch_type(void) {
  PyObject* pyarrow = PyImport_ImportModule("pyarrow");
  PyObject* type = pyarrow ? PyObject_GetAttrString(pyarrow, "RecordBatch") : NULL;
  Py_XDECREF(pyarrow);
  PyErr_Clear(); /* without pyarrow, items simply cannot be RecordBatches */
  return type;
}

/* The message of a raised Python exception for C consumers ("partition N: read() failed: Type:
 * message"); the exception stays raised. */
static void describe_python_error(hw_error* err, int64_t partition, const char* action) {
  PyObject* exc = hw_take_exception();
  PyObject* text = exc ? PyObject_Str(exc) : NULL;
  const char* msg = text ? PyUnicode_AsUTF8(text) : NULL;
  if (!msg) PyErr_Clear();
  /* Ctrl-C in the source's code (inline mode) is a cancel, not the source's error */
  bool cancel = exc && PyErr_GivenExceptionMatches(exc, PyExc_KeyboardInterrupt);
  hw_error_set(err, cancel ? "HW_CANCELLED" : "PYTHON_EXCEPTION", "partition %lld: %s failed: %s: %s",
               (long long)partition, action, exc ? Py_TYPE(exc)->tp_name : "?", msg ? msg : "");
  err->partition = partition;
  Py_XDECREF(text);
  restore_exception(exc);
}

void hw_partition_close(hw_partition_reader* r) {
  Py_CLEAR(r->iterator);
  hw_row_converter_free(r->conv);
  r->conv = NULL;
}

int hw_partition_open(const hw_read_context* ctx, hw_partition_reader* r, int64_t index, PyObject* partition,
                      hw_error* err, bool* python_error) {
  memset(r, 0, sizeof *r);
  *python_error = false;
  r->index = index;
  r->stats.opened_ns = hw_now_ns();
  if (hw_row_converter_new(&r->conv, ctx->schema, ctx->columns, ctx->n_columns, ctx->allocator, ctx->source_name,
                           err) != 0)
    return -1;
  hw_row_converter_start_partition(r->conv, index);
  PyObject* result = PyObject_CallOneArg(ctx->read_fn, partition);
  r->stats.source_ns += hw_now_ns() - r->stats.opened_ns;
  if (!result) {
    describe_python_error(err, index, "read()");
    *python_error = true;
    return -1;
  }
  if (!PyIter_Check(result)) {
    hw_error_set(err, "DATA_SOURCE_INVALID_RETURN_TYPE",
                 "Unsupported return type ('%s') from Python data source '%s'. Expected types: iterator.",
                 hw_type_name(result), ctx->source_name);
    err->partition = index;
    Py_DECREF(result);
    return -1;
  }
  r->iterator = result;
  return 0;
}

/* A RecordBatch yielded by the source: checked against the schema (Spark: same column count, every
 * schema column present), put in schema order without copying, and moved into out. */
static int take_record_batch(const hw_read_context* ctx, hw_partition_reader* r, PyObject* item,
                             struct ArrowArray* out, hw_error* err, bool* python_error) {
  PyObject* pair = PyObject_CallMethod(item, "__arrow_c_array__", NULL);
  if (!pair) {
    describe_python_error(err, r->index, "RecordBatch.__arrow_c_array__()");
    *python_error = true;
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
    rc = hw_batch_conform(ctx->schema, &got, ctx->columns, ctx->n_columns, ctx->exact_batches, carray, out, err);
    hw_field_release(&got);
  }
  Py_DECREF(pair); /* carray was moved into out on success; the capsule frees what is left */
  for (int64_t i = 0; rc == 0 && i < out->n_children; i++) /* the run report: the buffers handed on */
    r->stats.bytes += hw_array_bytes(&ctx->schema->children[ctx->columns ? ctx->columns[i] : i], out->children[i]);
  if (rc != 0) {
    err->partition = r->index;
    hw_error_prefix(err, "partition %lld: ", (long long)r->index);
  }
  return rc;
}

/* Rows to make room for when a batch starts: a full batch, within reason. */
static int64_t batch_rows_hint(const hw_read_context* ctx) {
  return ctx->max_rows_per_batch < 65536 ? ctx->max_rows_per_batch : 65536;
}

static int next_batch(const hw_read_context* ctx, hw_partition_reader* r, struct ArrowArray* out, bool* done,
                      hw_error* err, bool* python_error, int64_t* finish_ns);

int hw_partition_next_batch(const hw_read_context* ctx, hw_partition_reader* r, struct ArrowArray* out, bool* done,
                            hw_error* err, bool* python_error) {
  int64_t start = hw_now_ns(), finish_ns = 0;
  int rc = next_batch(ctx, r, out, done, err, python_error, &finish_ns);
  int64_t took = hw_now_ns() - start;
  /* the row loop (split later by the sampled ratio) vs closing the batch (conversion, timed) */
  r->stats.loop_ns += took - finish_ns;
  r->stats.convert_ns += finish_ns;
  if (rc == 0 && !*done) {
    r->stats.batches++;
    r->stats.rows += out->length;
  }
  return rc;
}

static int finish_rows(hw_partition_reader* r, struct ArrowArray* out, hw_error* err, int64_t* finish_ns) {
  int64_t t = hw_now_ns();
  r->stats.bytes += hw_row_converter_bytes(r->conv);
  int rc = hw_row_converter_finish(r->conv, out, err);
  *finish_ns = hw_now_ns() - t;
  return rc;
}

static int next_batch(const hw_read_context* ctx, hw_partition_reader* r, struct ArrowArray* out, bool* done,
                      hw_error* err, bool* python_error, int64_t* finish_ns) {
  *done = false;
  *python_error = false;
  int64_t max_rows = ctx->max_rows_per_batch;
  int64_t max_bytes = ctx->max_bytes_per_batch;
  for (;;) {
    if (ctx->cancelled && atomic_load_explicit(ctx->cancelled, memory_order_relaxed)) {
      *done = true;
      return 0;
    }
    /* one item in HW_STATS_SAMPLE is timed: next() (the source) and its conversion apart */
    bool sample = (r->stats.items++ % HW_STATS_SAMPLE) == 0 || r->arrow_items; /* batches: every one */
    int64_t t0 = sample ? hw_now_ns() : 0;
    PyObject* item = PyIter_Next(r->iterator);
    int64_t t1 = sample ? hw_now_ns() : 0;
    if (sample) r->stats.sampled_source_ns += t1 - t0;
    if (!item) {
      if (PyErr_Occurred()) {
        describe_python_error(err, r->index, "read()");
        *python_error = true;
        return -1;
      }
      if (hw_row_converter_rows(r->conv) > 0) return finish_rows(r, out, err, finish_ns);
      *done = true;
      return 0;
    }
    bool is_batch = ctx->record_batch_type && PyObject_TypeCheck(item, (PyTypeObject*)ctx->record_batch_type);
    if (!r->seen_item) {
      r->seen_item = true;
      r->arrow_items = is_batch;
    }
    if (r->arrow_items) {
      int rc;
      if (!is_batch) {
        /* Spark's words: once the first item is a RecordBatch, the read is an Arrow UDF */
        hw_error_set(err, "UDF_RETURN_TYPE",
                     "Return type of the user-defined function should be iterator of pyarrow.RecordBatch, but is "
                     "iterator of %s.",
                     hw_type_name(item));
        err->partition = r->index;
        rc = -1;
      } else {
        rc = take_record_batch(ctx, r, item, out, err, python_error);
      }
      Py_DECREF(item);
      if (sample) r->stats.sampled_convert_ns += hw_now_ns() - t1;
      return rc;
    }
    if (hw_row_converter_rows(r->conv) == 0) hw_row_converter_reserve(r->conv, batch_rows_hint(ctx));
    int rc = hw_row_converter_append(r->conv, item, err);
    Py_DECREF(item);
    if (sample) r->stats.sampled_convert_ns += hw_now_ns() - t1;
    if (rc != 0) return -1;
    int64_t rows = hw_row_converter_rows(r->conv);
    /* the byte budget is checked after every row (a walk of the builder tree's sizes, no Python):
     * checking every 256 rows let 250 rows of 8 MB make a 2 GB batch */
    if (rows >= max_rows || (max_bytes > 0 && hw_row_converter_bytes(r->conv) >= max_bytes))
      return finish_rows(r, out, err, finish_ns);
  }
}
