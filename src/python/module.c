/* headwater._core: module functions and initialisation. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "pyexec/arrow_to_rows.h"
#include "pyexec/partition_reader.h"
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
  if (!PyUnicode_Check(arg)) {
    PyErr_Format(PyExc_TypeError, "a DDL schema must be a str, not %.100s", Py_TYPE(arg)->tp_name);
    return NULL;
  }
  hw_field field;
  if (hw_py_ddl_parse(arg, &field) != 0) return NULL;
  return hw_py_schema_new(hw_py_state_of_module(module), &field);
}

static PyObject* py_schema_from_json(PyObject* module, PyObject* arg) {
  const char* json = PyUnicode_AsUTF8(arg);
  if (!json) return NULL;
  hw_field field;
  hw_error err;
  hw_error_init(&err);
  if (hw_spark_json_parse(json, &field, &err) != 0) return hw_py_raise(&err);
  return hw_py_schema_new(hw_py_state_of_module(module), &field);
}

static PyObject* py_schema_from_arrow(PyObject* module, PyObject* arg) {
  hw_py_state* st = hw_py_state_of_module(module);
  hw_field field;
  if (hw_py_field_from_object(st, arg, &field) != 0) return NULL;
  return hw_py_schema_new(st, &field);
}

/* ---------------------------------------------------------------- rows -> Arrow */

/* Appends batch (moved) to batches[0..*n), growing it. -1 (the batch released) when out of memory. */
static int push_batch(struct ArrowArray** batches, int64_t* n, int64_t* capacity, struct ArrowArray* batch) {
  if (*n == *capacity) {
    int64_t grown_to = *capacity ? *capacity * 2 : 8;
    struct ArrowArray* grown = realloc(*batches, (size_t)grown_to * sizeof **batches);
    if (!grown) {
      hw_array_release(batch);
      return -1;
    }
    *batches = grown;
    *capacity = grown_to;
  }
  hw_array_move(batch, &(*batches)[(*n)++]);
  return 0;
}

/* Rows -> batches, read as a source's partition is (src/pyexec/partition_reader.c: the same row
 * and byte limits, max_bytes <= 0: none): `rows` is the partition and iter() its read(). At least
 * one batch (empty when there are no rows). On success *batches holds n finished arrays (the
 * caller owns them) and *schema the schema. Otherwise a Python exception is raised. */
static int convert_rows(hw_py_state* st, PyObject* schema_obj, PyObject* rows, int64_t max_rows, int64_t max_bytes,
                        bool dicts, hw_field* schema, struct ArrowArray** batches, int64_t* n) {
  *batches = NULL;
  *n = 0;
  PyObject* iter_fn = PyDict_GetItemString(PyEval_GetBuiltins(), "iter"); /* borrowed */
  if (!iter_fn) {
    PyErr_SetString(PyExc_RuntimeError, "the builtin iter() is missing");
    return -1;
  }
  if (hw_py_field_from_object(st, schema_obj, schema) != 0) return -1;
  /* a list's or tuple's length bounds its batch: the reader then reserves no more rows than come */
  if ((PyList_Check(rows) || PyTuple_Check(rows)) && Py_SIZE(rows) < max_rows)
    max_rows = Py_SIZE(rows) > 0 ? Py_SIZE(rows) : 1;
  hw_read_context ctx = {
      .schema = schema,
      .read_fn = iter_fn,
      .source_name = "",
      .max_rows_per_batch = max_rows,
      .max_bytes_per_batch = max_bytes,
      .allocator = hw_allocator_heap(),
  };
  hw_error err;
  hw_error_init(&err);
  bool python_error = false;
  hw_partition_reader reader;
  int64_t capacity = 0;
  int rc = hw_partition_open(&ctx, &reader, 0, rows, &err, &python_error);
  if (reader.conv) hw_row_converter_accept_dicts(reader.conv, dicts); /* createDataFrame's dict rows */
  while (rc == 0) {
    struct ArrowArray batch;
    bool done;
    rc = hw_partition_next_batch(&ctx, &reader, &batch, &done, &err, &python_error);
    if (rc != 0 || done) break;
    if (push_batch(batches, n, &capacity, &batch) != 0) rc = hw_error_oom(&err);
  }
  if (rc == 0 && *n == 0) { /* no rows: one empty batch */
    struct ArrowArray empty;
    rc = hw_row_converter_finish(reader.conv, &empty, &err);
    if (rc == 0 && push_batch(batches, n, &capacity, &empty) != 0) rc = hw_error_oom(&err);
  }
  hw_partition_close(&reader);
  if (rc == 0) return 0;
  if (!python_error) hw_py_raise(&err); /* else the rows' own exception stays raised */
  for (int64_t i = 0; i < *n; i++) hw_array_release(&(*batches)[i]);
  free(*batches);
  *batches = NULL;
  *n = 0;
  hw_field_release(schema);
  return -1;
}

static PyObject* py_rows_to_batch(PyObject* module, PyObject* args, PyObject* kwargs) {
  hw_py_state* st = hw_py_state_of_module(module);
  static char* kwlist[] = {"schema", "rows", "dicts", NULL};
  PyObject *schema_obj, *rows;
  int dicts = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|p", kwlist, &schema_obj, &rows, &dicts)) return NULL;
  hw_field schema;
  struct ArrowArray* batches;
  int64_t n;
  if (convert_rows(st, schema_obj, rows, PY_SSIZE_T_MAX, 0, dicts != 0, &schema, &batches, &n) != 0) return NULL;
  if (n > 1) { /* only when the conversion's own calls grew the list (a value's __float__, ...) */
    for (int64_t i = 0; i < n; i++) hw_array_release(&batches[i]);
    free(batches);
    hw_field_release(&schema);
    PyErr_SetString(PyExc_RuntimeError, "rows changed size during the conversion");
    return NULL;
  }
  PyObject* out = hw_py_batch_new(st, &schema, &batches[0]);
  free(batches);
  return out;
}

static PyObject* py_rows_to_stream(PyObject* module, PyObject* args, PyObject* kwargs) {
  hw_py_state* st = hw_py_state_of_module(module);
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
  if (convert_rows(st, schema_obj, rows, max_rows, (int64_t)max_bytes, dicts != 0, &schema, &batches, &n) != 0)
    return NULL;
  PyObject* out = hw_py_stream_from_batches(st, &schema, batches, n);
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
  PyObject* capsule;
  struct ArrowArrayStream* stream = take_capsule(obj, "__arrow_c_stream__", "arrow_array_stream", &capsule);
  if (!stream) return NULL;
  /* move the stream out: the capsule's destructor then sees it released */
  struct ArrowArrayStream moved;
  hw_stream_move(stream, &moved);
  Py_DECREF(capsule);
  return hw_py_stream_new(hw_py_state_of_module(module), &moved);
}

static PyObject* py_import_batch(PyObject* module, PyObject* obj) {
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
  return hw_py_batch_new(hw_py_state_of_module(module), &field, &moved);
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

/* ---------------------------------------------------------------- the module */

hw_py_state* hw_py_state_of_module(PyObject* module) {
  return (hw_py_state*)PyModule_GetState(module);
}

hw_py_state* hw_py_state_of_type(PyTypeObject* type) {
  return hw_py_state_of_module(PyType_GetModuleByDef(type, &hw_py_module_def));
}

static int add_type(PyObject* module, PyType_Spec* spec, PyTypeObject** slot) {
  *slot = (PyTypeObject*)PyType_FromModuleAndSpec(module, spec, NULL);
  if (!*slot) return -1;
  return PyModule_AddType(module, *slot); /* the module's attribute is a second reference */
}

static int add_write_feed(PyObject* m) {
  PyObject* type = hw_write_feed_type_new(m, hw_py_raise);
  int rc = type ? PyModule_AddObjectRef(m, "WriteFeed", type) : -1;
  Py_XDECREF(type);
  return rc;
}

/* Py_mod_exec: runs once per module object, i.e. once per interpreter that imports _core. */
static int core_exec(PyObject* module) {
  hw_py_state* st = hw_py_state_of_module(module);
  if (add_type(module, &hw_py_schema_spec, &st->schema_type) < 0 ||
      add_type(module, &hw_py_batch_spec, &st->batch_type) < 0 ||
      add_type(module, &hw_py_stream_spec, &st->stream_type) < 0 ||
      add_type(module, &hw_py_scan_spec, &st->scan_type) < 0 ||
      add_type(module, &hw_py_pool_spec, &st->pool_type) < 0 || add_write_feed(module) < 0 ||
      PyModule_AddIntConstant(module, "DEFAULT_MAX_ROWS_PER_BATCH", HW_DEFAULT_MAX_ROWS_PER_BATCH) < 0)
    return -1;
  return 0;
}

static int core_traverse(PyObject* module, visitproc visit, void* arg) {
  hw_py_state* st = hw_py_state_of_module(module);
  Py_VISIT(st->schema_type);
  Py_VISIT(st->batch_type);
  Py_VISIT(st->stream_type);
  Py_VISIT(st->scan_type);
  Py_VISIT(st->pool_type);
  return 0;
}

static int core_clear(PyObject* module) {
  hw_py_state* st = hw_py_state_of_module(module);
  Py_CLEAR(st->schema_type);
  Py_CLEAR(st->batch_type);
  Py_CLEAR(st->stream_type);
  Py_CLEAR(st->scan_type);
  Py_CLEAR(st->pool_type);
  return 0;
}

static void core_free(void* module) {
  core_clear((PyObject*)module);
}

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, HW_PY_SLOT_FN(core_exec)},
#ifdef Py_mod_multiple_interpreters
    /* 3.12+: loads and converts in subinterpreters that share the main GIL, not in ones with a GIL
     * of their own. Scans belong to the main interpreter: their C threads (and the inline scan's
     * get_next) take the GIL with PyGILState_Ensure, which knows only the main interpreter. */
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED},
#endif
#ifdef Py_mod_gil
    /* free-threaded builds: the scan and the converters rely on the GIL today */
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, NULL},
};

PyModuleDef hw_py_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "headwater._core",
    .m_doc = "headwater's C core.",
    .m_size = sizeof(hw_py_state),
    .m_methods = module_methods,
    .m_slots = core_slots,
    .m_traverse = core_traverse,
    .m_clear = core_clear,
    .m_free = core_free,
};

PyMODINIT_FUNC PyInit__core(void) {
  return PyModuleDef_Init(&hw_py_module_def);
}
