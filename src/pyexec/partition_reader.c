#include "pyexec/partition_reader.h"

#include <string.h>

#include "arrow/array.h"
#include "common/error.h"
#include "convert/batch_check.h"

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
  if (hw_row_converter_new(&r->conv, ctx->schema, ctx->columns, ctx->n_columns, ctx->allocator, ctx->source_name,
                           err) != 0)
    return -1;
  hw_row_converter_start_partition(r->conv, index);
  PyObject* result = PyObject_CallOneArg(ctx->read_fn, partition);
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

int hw_partition_next_batch(const hw_read_context* ctx, hw_partition_reader* r, struct ArrowArray* out, bool* done,
                            hw_error* err, bool* python_error) {
  *done = false;
  *python_error = false;
  int64_t max_rows = ctx->max_rows_per_batch;
  int64_t max_bytes = ctx->max_bytes_per_batch;
  for (;;) {
    if (ctx->cancelled && atomic_load_explicit(ctx->cancelled, memory_order_relaxed)) {
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
      return rc;
    }
    if (hw_row_converter_rows(r->conv) == 0) hw_row_converter_reserve(r->conv, batch_rows_hint(ctx));
    int rc = hw_row_converter_append(r->conv, item, err);
    Py_DECREF(item);
    if (rc != 0) return -1;
    int64_t rows = hw_row_converter_rows(r->conv);
    /* the byte budget is checked after every row (a walk of the builder tree's sizes, no Python):
     * checking every 256 rows let 250 rows of 8 MB make a 2 GB batch */
    if (rows >= max_rows || (max_bytes > 0 && hw_row_converter_bytes(r->conv) >= max_bytes))
      return hw_row_converter_finish(r->conv, out, err);
  }
}
