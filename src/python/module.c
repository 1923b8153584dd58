/* headwater._core: module functions and initialisation. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "pyexec/arrow_to_rows.h"
#include "pyexec/rows_to_arrow.h"
#include "pyexec/write_feed.h"
#include "python/glue.h"

#define HW_DEFAULT_MAX_ROWS_PER_BATCH 10000

PyObject* hw_py_raise(const hw_error* err) {
  /* headwater.errors decides the exception class from Spark's error class; it is imported only
   * when an error happens (it does not import this module, so there is no cycle). */
  PyObject* errors = PyImport_ImportModule("headwater.errors");
  /* decoded leniently: a message that is not valid UTF-8 (cut by another component, a byte string
   * from a driver) must not turn the error into a UnicodeDecodeError that loses class and position */
  PyObject* cls = PyUnicode_DecodeUTF8(err->error_class, (Py_ssize_t)strlen(err->error_class), "replace");
  PyObject* msg = PyUnicode_DecodeUTF8(err->message, (Py_ssize_t)strlen(err->message), "replace");
  PyObject* exc = errors && cls && msg
                      ? PyObject_CallMethod(errors, "_from_core", "OOLLi", cls, msg, (long long)err->partition,
                                            (long long)err->row, (int)err->column)
                      : NULL;
  Py_XDECREF(cls);
  Py_XDECREF(msg);
  Py_XDECREF(errors);
  if (exc) {
    PyErr_SetObject((PyObject*)Py_TYPE(exc), exc);
    Py_DECREF(exc);
  }
  return NULL;
}

/* ---------------------------------------------------------------- schemas */

static PyObject* py_schema_from_ddl(PyObject* module, PyObject* arg) {
  (void)module;
  if (!PyUnicode_Check(arg)) {
    PyErr_Format(PyExc_TypeError, "a DDL schema must be a str, not %.100s", Py_TYPE(arg)->tp_name);
    return NULL;
  }
  hw_field field;
  if (hw_py_ddl_parse(arg, &field) != 0) return NULL;
  return hw_py_schema_new(&field);
}

static PyObject* py_schema_from_json(PyObject* module, PyObject* arg) {
  (void)module;
  const char* json = PyUnicode_AsUTF8(arg);
  if (!json) return NULL;
  hw_field field;
  hw_error err;
  hw_error_init(&err);
  if (hw_spark_json_parse(json, &field, &err) != 0) return hw_py_raise(&err);
  return hw_py_schema_new(&field);
}

static PyObject* py_schema_from_arrow(PyObject* module, PyObject* arg) {
  (void)module;
  hw_field field;
  if (hw_py_field_from_object(arg, &field) != 0) return NULL;
  return hw_py_schema_new(&field);
}

/* ---------------------------------------------------------------- rows -> Arrow */

/* Converts every row of `rows` into batches of at most max_rows. On success *batches holds n
 * finished arrays (caller owns them). */
/* Rows -> batches of at most max_rows rows and (checked after every row, as the partition reader
 * does) about max_bytes bytes of buffers (<= 0: no byte limit). */
static int convert_rows(PyObject* schema_obj, PyObject* rows, Py_ssize_t max_rows, int64_t max_bytes, bool dicts,
                        hw_field* schema, struct ArrowArray** batches, int64_t* n) {
  *batches = NULL;
  *n = 0;
  if (hw_py_field_from_object(schema_obj, schema) != 0) return -1;
  hw_error err;
  hw_error_init(&err);
  hw_row_converter* conv = NULL;
  if (hw_row_converter_new(&conv, schema, NULL, 0, hw_allocator_heap(), "", &err) != 0) {
    hw_field_release(schema);
    hw_py_raise(&err);
    return -1;
  }
  hw_row_converter_start_partition(conv, 0);
  hw_row_converter_accept_dicts(conv, dicts);
  PyObject* it = PyObject_GetIter(rows);
  int64_t capacity = 0;
  int failed = it == NULL;
  PyObject* row;
  while (!failed && (row = PyIter_Next(it)) != NULL) {
    failed = hw_row_converter_append(conv, row, &err) != 0;
    Py_DECREF(row);
    if (failed) hw_py_raise(&err);
    if (!failed && (hw_row_converter_rows(conv) >= max_rows ||
                    (max_bytes > 0 && hw_row_converter_bytes(conv) >= max_bytes))) {
      if (*n == capacity) {
        capacity = capacity ? capacity * 2 : 8;
        struct ArrowArray* grown = realloc(*batches, (size_t)capacity * sizeof **batches);
        if (!grown) {
          PyErr_NoMemory();
          failed = 1;
          break;
        }
        *batches = grown;
      }
      if (hw_row_converter_finish(conv, &(*batches)[*n], &err) != 0) {
        hw_py_raise(&err);
        failed = 1;
      } else {
        (*n)++;
      }
    }
  }
  if (!failed && PyErr_Occurred()) failed = 1; /* the iterator raised */
  if (!failed && (hw_row_converter_rows(conv) > 0 || *n == 0)) {
    struct ArrowArray* grown = realloc(*batches, (size_t)(*n + 1) * sizeof **batches);
    if (!grown) {
      PyErr_NoMemory();
      failed = 1;
    } else {
      *batches = grown;
      if (hw_row_converter_finish(conv, &(*batches)[*n], &err) != 0) {
        hw_py_raise(&err);
        failed = 1;
      } else {
        (*n)++;
      }
    }
  }
  Py_XDECREF(it);
  hw_row_converter_free(conv);
  if (failed) {
    for (int64_t i = 0; i < *n; i++) hw_array_release(&(*batches)[i]);
    free(*batches);
    *batches = NULL;
    *n = 0;
    hw_field_release(schema);
    return -1;
  }
  return 0;
}

static PyObject* py_rows_to_batch(PyObject* module, PyObject* args, PyObject* kwargs) {
  (void)module;
  static char* kwlist[] = {"schema", "rows", "dicts", NULL};
  PyObject *schema_obj, *rows;
  int dicts = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|p", kwlist, &schema_obj, &rows, &dicts)) return NULL;
  hw_field schema;
  struct ArrowArray* batches;
  int64_t n;
  if (convert_rows(schema_obj, rows, PY_SSIZE_T_MAX, 0, dicts != 0, &schema, &batches, &n) != 0) return NULL;
  PyObject* out = hw_py_batch_new(&schema, &batches[0]);
  free(batches);
  return out;
}

static PyObject* py_rows_to_stream(PyObject* module, PyObject* args, PyObject* kwargs) {
  (void)module;
  static char* kwlist[] = {"schema", "rows", "max_rows_per_batch", "max_bytes_per_batch", "dicts", NULL};
  PyObject *schema_obj, *rows;
  Py_ssize_t max_rows = HW_DEFAULT_MAX_ROWS_PER_BATCH;
  long long max_bytes = 0;
  int dicts = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|nLp", kwlist, &schema_obj, &rows, &max_rows, &max_bytes, &dicts))
    return NULL;
  if (max_rows <= 0) {
    PyErr_SetString(PyExc_ValueError, "max_rows_per_batch must be positive");
    return NULL;
  }
  hw_field schema;
  struct ArrowArray* batches;
  int64_t n;
  if (convert_rows(schema_obj, rows, max_rows, (int64_t)max_bytes, dicts != 0, &schema, &batches, &n) != 0) return NULL;
  PyObject* out = hw_py_stream_from_batches(&schema, batches, n);
  free(batches);
  return out;
}

/* ---------------------------------------------------------------- import */

static void* take_capsule(PyObject* obj, const char* method, const char* name, PyObject** capsule_out) {
  PyObject* capsule = PyObject_CallMethod(obj, method, NULL);
  if (!capsule) {
    if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
      PyErr_Clear();
      PyErr_Format(PyExc_TypeError, "expected an object with %s, got %s", method, Py_TYPE(obj)->tp_name);
    }
    return NULL;
  }
  void* ptr = PyCapsule_GetPointer(capsule, name);
  if (!ptr) {
    Py_DECREF(capsule);
    return NULL;
  }
  *capsule_out = capsule;
  return ptr;
}

static PyObject* py_import_stream(PyObject* module, PyObject* obj) {
  (void)module;
  PyObject* capsule;
  struct ArrowArrayStream* stream = take_capsule(obj, "__arrow_c_stream__", "arrow_array_stream", &capsule);
  if (!stream) return NULL;
  /* move the stream out: the capsule's destructor then sees it released */
  struct ArrowArrayStream moved;
  hw_stream_move(stream, &moved);
  Py_DECREF(capsule);
  return hw_py_stream_new(&moved);
}

static PyObject* py_import_batch(PyObject* module, PyObject* obj) {
  (void)module;
  PyObject* pair = PyObject_CallMethod(obj, "__arrow_c_array__", NULL);
  if (!pair) return NULL;
  if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
    Py_DECREF(pair);
    PyErr_SetString(PyExc_TypeError, "__arrow_c_array__ must return a (schema, array) pair of capsules");
    return NULL;
  }
  struct ArrowSchema* schema = PyCapsule_GetPointer(PyTuple_GET_ITEM(pair, 0), "arrow_schema");
  struct ArrowArray* array = schema ? PyCapsule_GetPointer(PyTuple_GET_ITEM(pair, 1), "arrow_array") : NULL;
  if (!array) {
    Py_DECREF(pair);
    return NULL;
  }
  hw_field field;
  hw_error err;
  hw_error_init(&err);
  if (hw_field_from_arrow(schema, &field, &err) != 0) {
    Py_DECREF(pair);
    return hw_py_raise(&err);
  }
  if (field.type != HW_TYPE_STRUCT) {
    hw_field_release(&field);
    Py_DECREF(pair);
    hw_error_set(&err, "INVALID_SCHEMA.NON_STRUCT_TYPE", "a record batch needs a struct array");
    return hw_py_raise(&err);
  }
  struct ArrowArray moved;
  hw_array_move(array, &moved);
  Py_DECREF(pair);
  return hw_py_batch_new(&field, &moved);
}

/* rows_from_arrow(obj, row_type): every row of an Arrow stream (obj.__arrow_c_stream__) as Rows. */
static PyObject* py_rows_from_arrow(PyObject* module, PyObject* args) {
  (void)module;
  PyObject *obj, *row_type;
  if (!PyArg_ParseTuple(args, "OO!", &obj, &PyType_Type, &row_type)) return NULL;
  if (!PyType_IsSubtype((PyTypeObject*)row_type, &PyTuple_Type)) {
    PyErr_SetString(PyExc_TypeError, "row_type must be a tuple subclass");
    return NULL;
  }
  PyObject* capsule;
  struct ArrowArrayStream* stream = take_capsule(obj, "__arrow_c_stream__", "arrow_array_stream", &capsule);
  if (!stream) return NULL;
  hw_error err;
  hw_error_init(&err);
  struct ArrowSchema schema;
  hw_field field;
  PyObject* rows = NULL;
  if (stream->get_schema(stream, &schema) != 0) {
    hw_error_set(&err, "HW_INTERNAL", "the Arrow stream has no schema: %s",
                 stream->get_last_error(stream) ? stream->get_last_error(stream) : "");
    goto done;
  }
  int rc = hw_field_from_arrow(&schema, &field, &err);
  hw_schema_release(&schema);
  if (rc != 0) goto done;
  rows = PyList_New(0);
  while (rows) {
    struct ArrowArray batch;
    if (stream->get_next(stream, &batch) != 0) {
      hw_error_set(&err, "HW_INTERNAL", "reading the Arrow stream failed: %s",
                   stream->get_last_error(stream) ? stream->get_last_error(stream) : "");
      Py_CLEAR(rows);
      break;
    }
    if (!batch.release) break; /* end of stream */
    rc = hw_arrow_to_rows(&field, &batch, row_type, rows, &err);
    hw_array_release(&batch);
    if (rc != 0) Py_CLEAR(rows);
  }
  hw_field_release(&field);
done:
  Py_DECREF(capsule);
  if (!rows && !PyErr_Occurred()) hw_py_raise(&err);
  return rows;
}

/* count_rows(obj): consumes obj's Arrow stream in C and returns its number of rows. */
static PyObject* py_count_rows(PyObject* module, PyObject* obj) {
  (void)module;
  PyObject* capsule;
  struct ArrowArrayStream* stream = take_capsule(obj, "__arrow_c_stream__", "arrow_array_stream", &capsule);
  if (!stream) return NULL;
  long long rows = 0;
  int rc = 0;
  const char* message = NULL;
  Py_BEGIN_ALLOW_THREADS /* the stream's producer may need the GIL (inline and thread scans) */
  for (;;) {
    struct ArrowArray batch;
    rc = stream->get_next(stream, &batch);
    if (rc != 0) {
      message = stream->get_last_error(stream);
      break;
    }
    if (!batch.release) break;
    rows += batch.length;
    batch.release(&batch);
  }
  Py_END_ALLOW_THREADS
  if (rc != 0) {
    PyErr_Format(PyExc_OSError, "reading the Arrow stream failed: %s", message ? message : "(no message)");
    Py_DECREF(capsule);
    return NULL;
  }
  Py_DECREF(capsule);
  return PyLong_FromLongLong(rows);
}

static PyObject* py_version(PyObject* module, PyObject* unused) {
  (void)module;
  (void)unused;
  return PyUnicode_FromString(hw_version());
}

static PyMethodDef module_methods[] = {
    {"schema_from_ddl", py_schema_from_ddl, METH_O, "Parse Spark DDL into a Schema."},
    {"schema_from_json", py_schema_from_json, METH_O, "Parse Spark's JSON schema form into a Schema."},
    {"schema_from_arrow", py_schema_from_arrow, METH_O, "Read any object with __arrow_c_schema__ into a Schema."},
    {"rows_to_batch", (PyCFunction)(void (*)(void))py_rows_to_batch, METH_VARARGS | METH_KEYWORDS,
     "rows_to_batch(schema, rows, dicts=False): convert rows in C (dicts: dict rows matched by field name)."},
    {"rows_to_stream", (PyCFunction)(void (*)(void))py_rows_to_stream, METH_VARARGS | METH_KEYWORDS,
     "rows_to_stream(schema, rows, max_rows_per_batch=10000, max_bytes_per_batch=0, dicts=False): convert rows in C "
     "into an ArrowStream (batches close at either limit; max_bytes <= 0: none)."},
    {"import_stream", py_import_stream, METH_O, "Take an object's __arrow_c_stream__ into an ArrowStream."},
    {"import_batch", py_import_batch, METH_O, "Take an object's __arrow_c_array__ into a RecordBatch."},
    {"rows_from_arrow", py_rows_from_arrow, METH_VARARGS,
     "rows_from_arrow(obj, row_type): the rows of an Arrow stream as Row objects, converted in C."},
    {"count_rows", py_count_rows, METH_O, "count_rows(obj): rows of an Arrow stream, consumed in C."},
    {"version", py_version, METH_NOARGS, "headwater's C core version."},
    {"run_tasks", hw_py_run_tasks, METH_VARARGS,
     "run_tasks(pool, tasks, on_done=None): run pickled tasks on the pool's workers -> (outcomes, interrupted); "
     "on_done(index, (write, read)) as each task ends (a write task's counters)."},
    {"worker_main", hw_py_worker_main, METH_VARARGS, "worker_main(fd, parent_pid): serve the host (worker processes)."},
    {"rate_batch", hw_py_rate_batch, METH_VARARGS,
     "rate_batch(partition, num_partitions, start, end, start_ms, ms_per_value): a rate source partition's rows."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "headwater._core", "headwater's C core.", 0, module_methods, NULL, NULL, NULL, NULL,
};

static int add_write_feed(PyObject* m) {
  PyObject* type = hw_write_feed_type_new(m, hw_py_raise);
  int rc = type ? PyModule_AddObjectRef(m, "WriteFeed", type) : -1;
  Py_XDECREF(type);
  return rc;
}

PyMODINIT_FUNC PyInit__core(void) {
  if (PyType_Ready(&hw_py_schema_type) < 0 || PyType_Ready(&hw_py_batch_type) < 0 ||
      PyType_Ready(&hw_py_stream_type) < 0 || PyType_Ready(&hw_py_scan_type) < 0 ||
      PyType_Ready(&hw_py_pool_type) < 0)
    return NULL;
  PyObject* m = PyModule_Create(&core_module);
  if (!m) return NULL;
  if (PyModule_AddObjectRef(m, "Schema", (PyObject*)&hw_py_schema_type) < 0 ||
      PyModule_AddObjectRef(m, "RecordBatch", (PyObject*)&hw_py_batch_type) < 0 ||
      PyModule_AddObjectRef(m, "ArrowStream", (PyObject*)&hw_py_stream_type) < 0 ||
      PyModule_AddObjectRef(m, "Scan", (PyObject*)&hw_py_scan_type) < 0 ||
      PyModule_AddObjectRef(m, "WorkerPool", (PyObject*)&hw_py_pool_type) < 0 ||
      PyModule_AddIntConstant(m, "DEFAULT_MAX_ROWS_PER_BATCH", HW_DEFAULT_MAX_ROWS_PER_BATCH) < 0 ||
      add_write_feed(m) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
