/* headwater._core.Scan: one execution of a data source read, exported as an Arrow stream. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "pyexec/scan.h"
#include "python/glue.h"

typedef struct {
  PyObject_HEAD
  hw_scan* scan;
} hw_py_scan;

static int parse_mode(const char* mode, hw_exec_mode* out) {
  if (strcmp(mode, "inline") == 0) *out = HW_EXEC_INLINE;
  else if (strcmp(mode, "thread") == 0) *out = HW_EXEC_THREAD;
  else if (strcmp(mode, "process") == 0) *out = HW_EXEC_PROCESS;
  else return -1;
  return 0;
}

static PyObject* scan_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static char* kwlist[] = {"schema", "read", "partitions", "source_name", "mode", "workers", "max_rows_per_batch",
                           "max_bytes_per_batch", "queue_depth", "ordered", "pool", "pickled_reader",
                           "pickled_partitions", "task_retries", "columns", "limit", "first_index", "exact_batches",
                           "cancel_grace_ms", NULL};
  int task_retries = 0;
  PyObject* columns_obj = Py_None;
  long long limit = -1;
  long long first_index = 0;
  int exact_batches = 0;
  int cancel_grace_ms = -1;
  PyObject *pool_obj = Py_None, *pickled_reader = Py_None, *pickled_partitions = Py_None;
  PyObject *schema_obj, *read_fn, *partitions;
  const char* source_name = "";
  const char* mode = "inline";
  hw_scan_config cfg;
  hw_scan_config_default(&cfg);
  int workers = 0, queue_depth = cfg.queue_depth, ordered = 1;
  long long max_rows = cfg.max_rows_per_batch, max_bytes = cfg.max_bytes_per_batch;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO!|ssiLLipOOOiOLLpi", kwlist, &schema_obj, &read_fn, &PyList_Type,
                                   &partitions, &source_name, &mode, &workers, &max_rows, &max_bytes, &queue_depth,
                                   &ordered, &pool_obj, &pickled_reader, &pickled_partitions, &task_retries,
                                   &columns_obj, &limit, &first_index, &exact_batches, &cancel_grace_ms))
    return NULL;
  int32_t* columns = NULL;
  Py_ssize_t n_columns = 0;
  if (columns_obj != Py_None) { /* column pruning: ascending positions in the schema */
    PyObject* seq = PySequence_Fast(columns_obj, "columns must be a list of column positions");
    if (!seq) return NULL;
    n_columns = PySequence_Fast_GET_SIZE(seq);
    columns = PyMem_Malloc(sizeof *columns * (size_t)(n_columns > 0 ? n_columns : 1));
    for (Py_ssize_t i = 0; columns && i < n_columns; i++) {
      long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
      if (v == -1 && PyErr_Occurred()) {
        PyMem_Free(columns);
        Py_DECREF(seq);
        return NULL;
      }
      columns[i] = v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int32_t)v;
    }
    Py_DECREF(seq);
    if (!columns) return PyErr_NoMemory();
  }
  cfg.limit = limit;
  if (parse_mode(mode, &cfg.mode) != 0) {
    PyMem_Free(columns);
    return PyErr_Format(PyExc_ValueError, "unknown execution mode '%s' (expected inline, thread or process)", mode);
  }
  if (workers > 0) cfg.workers = workers;
  cfg.max_rows_per_batch = max_rows;
  cfg.max_bytes_per_batch = max_bytes;
  cfg.queue_depth = queue_depth;
  cfg.ordered = ordered != 0;
  cfg.task_retries = task_retries > 0 ? task_retries : 0;
  if (first_index < 0) return PyErr_Format(PyExc_ValueError, "first_index must be >= 0, got %lld", first_index);
  cfg.first_index = first_index;
  cfg.exact_batches = exact_batches != 0;
  if (cancel_grace_ms >= 0) cfg.cancel_grace_ms = cancel_grace_ms;
  hw_field schema;
  hw_py_state* st = hw_py_state_of_type(type);
  if (hw_py_field_from_object(st, schema_obj, &schema) != 0) {
    PyMem_Free(columns);
    return NULL;
  }
  hw_error err;
  hw_error_init(&err);
  hw_scan* scan = NULL;
  int rc = hw_scan_new(&scan, &schema, read_fn, partitions, source_name, &cfg, &err);
  hw_field_release(&schema);
  if (rc == 0 && columns && hw_scan_project(scan, columns, (int32_t)n_columns, &err) != 0) {
    hw_scan_unref(scan);
    rc = -1;
  }
  PyMem_Free(columns);
  if (rc != 0) return hw_py_raise(&err);
  if (cfg.mode == HW_EXEC_PROCESS) {
    hw_pool* pool = PyObject_TypeCheck(pool_obj, st->pool_type) ? ((hw_py_pool*)pool_obj)->pool : NULL;
    if (!pool) {
      hw_scan_unref(scan);
      PyErr_SetString(PyExc_ValueError, "process mode needs a running WorkerPool");
      return NULL;
    }
    if (hw_scan_use_pool(scan, pool, pickled_reader, pickled_partitions, &err) != 0) {
      hw_scan_unref(scan);
      return hw_py_raise(&err);
    }
  }
  hw_py_scan* self = (hw_py_scan*)type->tp_alloc(type, 0);
  if (!self) {
    hw_scan_unref(scan);
    return NULL;
  }
  self->scan = scan;
  return (PyObject*)self;
}

static void scan_dealloc(hw_py_scan* self) {
  PyObject_GC_UnTrack(self);
  hw_scan_unref(self->scan);
  hw_py_free((PyObject*)self);
}

static PyObject* scan_arrow_c_stream(hw_py_scan* self, PyObject* args, PyObject* kwargs) {
  static char* kwlist[] = {"requested_schema", NULL};
  PyObject* requested = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O", kwlist, &requested)) return NULL;
  struct ArrowArrayStream* out = calloc(1, sizeof *out);
  if (!out) return PyErr_NoMemory();
  hw_error err;
  hw_error_init(&err);
  if (hw_scan_stream(self->scan, out, &err) != 0) {
    free(out);
    return hw_py_raise(&err);
  }
  PyObject* capsule = PyCapsule_New(out, "arrow_array_stream", hw_py_release_stream_capsule);
  if (!capsule) {
    hw_stream_release(out);
    free(out);
  }
  return capsule;
}

/* None, or (error_class, message, partition, row, column, exception-or-None, traceback-or-None). */
static PyObject* scan_failure(hw_py_scan* self, PyObject* unused) {
  (void)unused;
  hw_error err;
  PyObject* exc = NULL;
  char* traceback = NULL;
  if (!hw_scan_failure(self->scan, &err, &exc, &traceback)) Py_RETURN_NONE;
  PyObject* tb = traceback ? PyUnicode_DecodeUTF8(traceback, (Py_ssize_t)strlen(traceback), "replace") : Py_None;
  if (traceback) free(traceback);
  /* lenient decoding: an invalid byte must not replace the error by a UnicodeDecodeError */
  PyObject* msg = PyUnicode_DecodeUTF8(err.message, (Py_ssize_t)strlen(err.message), "replace");
  PyObject* out = tb && msg ? Py_BuildValue("(sOLLiOO)", err.error_class, msg, (long long)err.partition,
                                            (long long)err.row, (int)err.column, exc ? exc : Py_None, tb)
                            : NULL;
  Py_XDECREF(msg);
  if (tb != Py_None) Py_XDECREF(tb);
  Py_XDECREF(exc);
  return out;
}

static PyObject* scan_counts(hw_py_scan* self, void* closure) {
  (void)closure;
  int64_t batches, rows;
  hw_scan_counts(self->scan, &batches, &rows);
  return Py_BuildValue("(LL)", (long long)batches, (long long)rows);
}

/* The run report: one tuple per partition that ended (partition, rows, batches, bytes, wall_ns,
 * source_ns, convert_ns, wait_ns, pid). */
static PyObject* scan_report(hw_py_scan* self, PyObject* unused) {
  (void)unused;
  hw_partition_stats* st;
  int64_t n;
  if (hw_scan_report(self->scan, &st, &n) != 0) return PyErr_NoMemory();
  PyObject* out = PyList_New((Py_ssize_t)n);
  for (int64_t i = 0; out && i < n; i++) {
    PyObject* t = Py_BuildValue("(LLLLLLLLL)", (long long)st[i].partition, (long long)st[i].rows,
                                (long long)st[i].batches, (long long)st[i].bytes, (long long)st[i].wall_ns,
                                (long long)st[i].source_ns, (long long)st[i].convert_ns, (long long)st[i].wait_ns,
                                (long long)st[i].pid);
    if (!t) Py_CLEAR(out);
    else PyList_SET_ITEM(out, (Py_ssize_t)i, t);
  }
  free(st);
  return out;
}

/* (partitions done, partitions, rows, bytes): read by the progress bar's timer, no per-batch work. */
static PyObject* scan_progress(hw_py_scan* self, void* closure) {
  (void)closure;
  int64_t done, total, rows, bytes;
  hw_scan_progress(self->scan, &done, &total, &rows, &bytes);
  return Py_BuildValue("(LLLL)", (long long)done, (long long)total, (long long)rows, (long long)bytes);
}

static PyObject* scan_cancel(hw_py_scan* self, PyObject* unused) {
  (void)unused;
  hw_scan_cancel(self->scan);
  Py_RETURN_NONE;
}

static PyMethodDef scan_methods[] = {
    {"__arrow_c_stream__", (PyCFunction)(void (*)(void))scan_arrow_c_stream, METH_VARARGS | METH_KEYWORDS,
     "Start the scan and export it as an Arrow stream PyCapsule (once)."},
    {"failure", (PyCFunction)scan_failure, METH_NOARGS,
     "None, or (error_class, message, partition, row, column, exception, traceback) of what stopped the scan."},
    {"report", (PyCFunction)scan_report, METH_NOARGS,
     "The run report: [(partition, rows, batches, bytes, wall_ns, source_ns, convert_ns, wait_ns, pid)] of the "
     "partitions that ended."},
    {"cancel", (PyCFunction)scan_cancel, METH_NOARGS,
     "Cancel the scan from any thread: it fails as HW_CANCELLED (KeyboardInterrupt in Python)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef scan_getset[] = {
    {"counts", (getter)scan_counts, NULL, "(batches, rows) produced so far.", NULL},
    {"progress", (getter)scan_progress, NULL, "(partitions done, partitions, rows, bytes) so far.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* The scan's own references (read, partitions, the pickles) are not traversed: its threads use them
 * without the GIL's help in ordering, and they cannot reach the Scan object back. */
static PyType_Slot scan_slots[] = {
    {Py_tp_new, HW_PY_SLOT_FN(scan_new)},
    {Py_tp_dealloc, HW_PY_SLOT_FN(scan_dealloc)},
    {Py_tp_traverse, HW_PY_SLOT_FN(hw_py_traverse_type)},
    {Py_tp_methods, HW_PY_SLOT_FN(scan_methods)},
    {Py_tp_getset, HW_PY_SLOT_FN(scan_getset)},
    {Py_tp_doc, "Scan(schema, read, partitions, source_name='', mode='inline', workers=0, max_rows_per_batch=10000, "
              "max_bytes_per_batch=64MiB, queue_depth=2, ordered=True, pool=None, pickled_reader=None, pickled_partitions=None, "
              "task_retries=0, columns=None, limit=-1): one execution of a data source read (columns: the positions "
              "converted; limit: rows after which the scan stops)."},
    {0, NULL},
};

PyType_Spec hw_py_scan_spec = {
    .name = "headwater._core.Scan",
    .basicsize = sizeof(hw_py_scan),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = scan_slots,
};
