/*
 * Schema, RecordBatch and ArrowStream objects and the Arrow PyCapsule
 * interface (__arrow_c_schema__, __arrow_c_array__, __arrow_c_stream__), so
 * pyarrow, polars and duckdb take headwater's data without a copy.
 */
#include <stdlib.h>
#include <string.h>

#include "arrow/stream.h"
#include "common/error.h"
#include "python/glue.h"

/* ---------------------------------------------------------------- capsules */

static void release_schema_capsule(PyObject* capsule) {
  struct ArrowSchema* schema = PyCapsule_GetPointer(capsule, "arrow_schema");
  if (!schema) return;
  hw_schema_release(schema);
  free(schema);
}

static void release_array_capsule(PyObject* capsule) {
  struct ArrowArray* array = PyCapsule_GetPointer(capsule, "arrow_array");
  if (!array) return;
  hw_array_release(array);
  free(array);
}

void hw_py_release_stream_capsule(PyObject* capsule) {
  struct ArrowArrayStream* stream = PyCapsule_GetPointer(capsule, "arrow_array_stream");
  if (!stream) return;
  hw_stream_release(stream);
  free(stream);
}

static PyObject* schema_capsule(const hw_field* field) {
  struct ArrowSchema* schema = calloc(1, sizeof *schema);
  if (!schema) return PyErr_NoMemory();
  hw_error err;
  hw_error_init(&err);
  if (hw_field_to_arrow(field, schema, &err) != 0) {
    free(schema);
    return hw_py_raise(&err);
  }
  PyObject* capsule = PyCapsule_New(schema, "arrow_schema", release_schema_capsule);
  if (!capsule) {
    hw_schema_release(schema);
    free(schema);
  }
  return capsule;
}

/* Producers may ignore requested_schema unless they can honour it; we only accept our own. */
static int check_requested_schema(PyObject* requested) {
  if (requested == NULL || requested == Py_None) return 0;
  if (!PyCapsule_IsValid(requested, "arrow_schema")) {
    PyErr_SetString(PyExc_TypeError, "requested_schema must be an 'arrow_schema' PyCapsule or None");
    return -1;
  }
  return 0;
}

int hw_py_ddl_parse(PyObject* str, hw_field* out) {
  Py_ssize_t len;
  PyObject* keep = NULL;
  const char* ddl = PyUnicode_AsUTF8AndSize(str, &len);
  if (!ddl) {
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
    /* lone surrogates: no UTF-8, so pass them encoded as "surrogatepass" does, for the parser to
     * report as a ParseException at their position */
    PyErr_Clear();
    if (!(keep = PyUnicode_AsEncodedString(str, "utf-8", "surrogatepass"))) return -1;
    len = PyBytes_GET_SIZE(keep);
    ddl = PyBytes_AS_STRING(keep);
  }
  hw_error err;
  hw_error_init(&err);
  int rc = hw_ddl_parse_n(ddl, (size_t)len, out, &err);
  Py_XDECREF(keep);
  if (rc != 0) hw_py_raise(&err);
  return rc;
}

int hw_py_field_from_object(hw_py_state* st, PyObject* obj, hw_field* out) {
  hw_error err;
  hw_error_init(&err);
  if (PyUnicode_Check(obj)) return hw_py_ddl_parse(obj, out);
  if (PyObject_TypeCheck(obj, st->schema_type)) {
    if (hw_field_copy(out, &((hw_py_schema*)obj)->field, &err) != 0) return hw_py_raise(&err), -1;
    return 0;
  }
  PyObject* capsule = PyObject_CallMethod(obj, "__arrow_c_schema__", NULL);
  if (!capsule) {
    if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
      PyErr_Clear();
      PyErr_Format(PyExc_TypeError, "expected a schema (an object with __arrow_c_schema__), got %s",
                   Py_TYPE(obj)->tp_name);
    }
    return -1;
  }
  struct ArrowSchema* schema = PyCapsule_GetPointer(capsule, "arrow_schema");
  int rc = -1;
  if (schema) {
    rc = hw_field_from_arrow(schema, out, &err);
    if (rc != 0) hw_py_raise(&err);
  }
  Py_DECREF(capsule);
  return rc;
}

/* ---------------------------------------------------------------- heap types */

int hw_py_traverse_type(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  return 0;
}

void hw_py_free(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type); /* an object of a heap type holds a reference to it */
}

/* A zeroed, GC-tracked object of type; NULL with an exception set. */
static PyObject* alloc(PyTypeObject* type) {
  return type->tp_alloc(type, 0);
}

/* ---------------------------------------------------------------- Schema */

PyObject* hw_py_schema_new(hw_py_state* st, hw_field* field) {
  hw_py_schema* self = (hw_py_schema*)alloc(st->schema_type);
  if (!self) {
    hw_field_release(field);
    return NULL;
  }
  self->field = *field;
  hw_field_init(field);
  return (PyObject*)self;
}

static void schema_dealloc(hw_py_schema* self) {
  PyObject_GC_UnTrack(self);
  hw_field_release(&self->field);
  hw_py_free((PyObject*)self);
}

static PyObject* schema_arrow_c_schema(hw_py_schema* self, PyObject* unused) {
  (void)unused;
  return schema_capsule(&self->field);
}

typedef int (*render_fn)(const hw_field*, char**, hw_error*);

static PyObject* render(const hw_field* field, render_fn fn) {
  char* text = NULL;
  hw_error err;
  hw_error_init(&err);
  if (fn(field, &text, &err) != 0) return hw_py_raise(&err);
  PyObject* out = PyUnicode_FromString(text);
  hw_free(text);
  return out;
}

static PyObject* schema_to_ddl(hw_py_schema* self, PyObject* unused) {
  (void)unused;
  return render(&self->field, hw_ddl_render);
}

static PyObject* schema_simple_string(hw_py_schema* self, PyObject* unused) {
  (void)unused;
  return render(&self->field, hw_simple_string);
}

static PyObject* schema_to_json(hw_py_schema* self, PyObject* unused) {
  (void)unused;
  return render(&self->field, hw_spark_json_render);
}

static PyObject* schema_repr(hw_py_schema* self) {
  char* text = NULL;
  hw_error err;
  hw_error_init(&err);
  if (hw_simple_string(&self->field, &text, &err) != 0) return PyUnicode_FromString("Schema(<no Spark form>)");
  PyObject* out = PyUnicode_FromFormat("Schema(%s)", text);
  hw_free(text);
  return out;
}

static PyObject* schema_richcompare(PyObject* a, PyObject* b, int op) {
  if ((op != Py_EQ && op != Py_NE) || !PyObject_TypeCheck(b, hw_py_state_of_type(Py_TYPE(a))->schema_type))
    Py_RETURN_NOTIMPLEMENTED;
  bool eq = hw_field_equal(&((hw_py_schema*)a)->field, &((hw_py_schema*)b)->field);
  return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static PyObject* schema_names(hw_py_schema* self, void* closure) {
  (void)closure;
  PyObject* names = PyList_New(self->field.n_children);
  for (int32_t i = 0; names && i < self->field.n_children; i++) {
    const char* name = self->field.children[i].name;
    PyObject* s = PyUnicode_FromString(name ? name : "");
    if (!s) {
      Py_CLEAR(names);
      break;
    }
    PyList_SET_ITEM(names, i, s);
  }
  return names;
}

static PyObject* schema_is_struct(hw_py_schema* self, void* closure) {
  (void)closure;
  return PyBool_FromLong(self->field.type == HW_TYPE_STRUCT);
}

static PyMethodDef schema_methods[] = {
    {"__arrow_c_schema__", (PyCFunction)schema_arrow_c_schema, METH_NOARGS, "Export as an Arrow PyCapsule."},
    {"to_ddl", (PyCFunction)schema_to_ddl, METH_NOARGS, "Spark DDL of this schema."},
    {"simple_string", (PyCFunction)schema_simple_string, METH_NOARGS, "Spark's simpleString of this schema."},
    {"to_json", (PyCFunction)schema_to_json, METH_NOARGS, "Spark's JSON form (StructType.json())."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef schema_getset[] = {
    {"names", (getter)schema_names, NULL, "Field names of a struct schema.", NULL},
    {"is_struct", (getter)schema_is_struct, NULL, "Whether this is a struct (a valid table schema).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* Made by the C core only (DISALLOW_INSTANTIATION), immutable as a static type would be. */
#define HW_PY_VALUE_FLAGS \
  (Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION)

static PyType_Slot schema_slots[] = {
    {Py_tp_dealloc, HW_PY_SLOT_FN(schema_dealloc)},
    {Py_tp_traverse, HW_PY_SLOT_FN(hw_py_traverse_type)},
    {Py_tp_repr, HW_PY_SLOT_FN(schema_repr)},
    {Py_tp_richcompare, HW_PY_SLOT_FN(schema_richcompare)},
    {Py_tp_doc, "A schema held by headwater's C core (Arrow PyCapsule: __arrow_c_schema__)."},
    {Py_tp_methods, HW_PY_SLOT_FN(schema_methods)},
    {Py_tp_getset, HW_PY_SLOT_FN(schema_getset)},
    {0, NULL},
};

PyType_Spec hw_py_schema_spec = {
    .name = "headwater._core.Schema",
    .basicsize = sizeof(hw_py_schema),
    .flags = HW_PY_VALUE_FLAGS,
    .slots = schema_slots,
};

/* ---------------------------------------------------------------- RecordBatch */

static PyObject* batch_arrow_c_stream(hw_py_batch* self, PyObject* args, PyObject* kwargs);

PyObject* hw_py_batch_new(hw_py_state* st, hw_field* schema, struct ArrowArray* array) {
  hw_py_batch* self = (hw_py_batch*)alloc(st->batch_type);
  hw_shared_array* shared = self ? hw_shared_array_new(array) : NULL;
  if (!shared) {
    hw_field_release(schema);
    hw_array_release(array);
    Py_XDECREF(self); /* batch_dealloc copes with the zeroed object */
    return self ? PyErr_NoMemory() : NULL;
  }
  self->schema = *schema;
  hw_field_init(schema);
  self->array = shared;
  return (PyObject*)self;
}

static void batch_dealloc(hw_py_batch* self) {
  PyObject_GC_UnTrack(self);
  if (self->array) hw_shared_array_unref(self->array);
  hw_field_release(&self->schema);
  hw_py_free((PyObject*)self);
}

static PyObject* array_capsule(hw_py_batch* self) {
  struct ArrowArray* view = calloc(1, sizeof *view);
  if (!view) return PyErr_NoMemory();
  hw_error err;
  hw_error_init(&err);
  if (hw_shared_array_view(self->array, 0, hw_shared_array_length(self->array), view, &err) != 0) {
    free(view);
    return hw_py_raise(&err);
  }
  PyObject* capsule = PyCapsule_New(view, "arrow_array", release_array_capsule);
  if (!capsule) {
    hw_array_release(view);
    free(view);
  }
  return capsule;
}

static PyObject* batch_arrow_c_array(hw_py_batch* self, PyObject* args, PyObject* kwargs) {
  static char* kwlist[] = {"requested_schema", NULL};
  PyObject* requested = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O", kwlist, &requested)) return NULL;
  if (check_requested_schema(requested) != 0) return NULL;
  PyObject* schema = schema_capsule(&self->schema);
  PyObject* array = schema ? array_capsule(self) : NULL;
  if (!array) {
    Py_XDECREF(schema);
    return NULL;
  }
  PyObject* pair = PyTuple_Pack(2, schema, array);
  Py_DECREF(schema);
  Py_DECREF(array);
  return pair;
}

static PyObject* batch_arrow_c_schema(hw_py_batch* self, PyObject* unused) {
  (void)unused;
  return schema_capsule(&self->schema);
}

static PyObject* batch_slice(hw_py_batch* self, PyObject* args) {
  long long offset, length;
  if (!PyArg_ParseTuple(args, "LL", &offset, &length)) return NULL;
  struct ArrowArray view;
  hw_error err;
  hw_error_init(&err);
  if (hw_shared_array_view(self->array, offset, length, &view, &err) != 0) return hw_py_raise(&err);
  hw_field schema;
  if (hw_field_copy(&schema, &self->schema, &err) != 0) {
    hw_array_release(&view);
    return hw_py_raise(&err);
  }
  return hw_py_batch_new(hw_py_state_of_type(Py_TYPE(self)), &schema, &view);
}

static PyObject* batch_num_rows(hw_py_batch* self, void* closure) {
  (void)closure;
  return PyLong_FromLongLong(hw_shared_array_length(self->array));
}

static PyObject* batch_schema(hw_py_batch* self, void* closure) {
  (void)closure;
  hw_field copy;
  hw_error err;
  hw_error_init(&err);
  if (hw_field_copy(&copy, &self->schema, &err) != 0) return hw_py_raise(&err);
  return hw_py_schema_new(hw_py_state_of_type(Py_TYPE(self)), &copy);
}

static PyMethodDef batch_methods[] = {
    {"__arrow_c_array__", (PyCFunction)(void (*)(void))batch_arrow_c_array, METH_VARARGS | METH_KEYWORDS,
     "Export as Arrow PyCapsules (schema, array)."},
    {"__arrow_c_schema__", (PyCFunction)batch_arrow_c_schema, METH_NOARGS, "Export the schema as a PyCapsule."},
    {"__arrow_c_stream__", (PyCFunction)(void (*)(void))batch_arrow_c_stream, METH_VARARGS | METH_KEYWORDS,
     "Export as a one-batch Arrow stream PyCapsule."},
    {"slice", (PyCFunction)batch_slice, METH_VARARGS, "slice(offset, length): a view sharing the buffers."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef batch_getset[] = {
    {"num_rows", (getter)batch_num_rows, NULL, "Rows in the batch.", NULL},
    {"schema", (getter)batch_schema, NULL, "The batch's schema.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot batch_slots[] = {
    {Py_tp_dealloc, HW_PY_SLOT_FN(batch_dealloc)},
    {Py_tp_traverse, HW_PY_SLOT_FN(hw_py_traverse_type)},
    {Py_tp_doc, "A record batch built by headwater's C core (Arrow PyCapsule: __arrow_c_array__)."},
    {Py_tp_methods, HW_PY_SLOT_FN(batch_methods)},
    {Py_tp_getset, HW_PY_SLOT_FN(batch_getset)},
    {0, NULL},
};

PyType_Spec hw_py_batch_spec = {
    .name = "headwater._core.RecordBatch",
    .basicsize = sizeof(hw_py_batch),
    .flags = HW_PY_VALUE_FLAGS,
    .slots = batch_slots,
};

/* ---------------------------------------------------------------- ArrowStream */

/* A capsule holding a fresh stream of views of batches[0..n). */
static PyObject* views_stream_capsule(const hw_field* schema, hw_shared_array* const* batches, int64_t n) {
  hw_error err;
  hw_error_init(&err);
  struct ArrowArray* views = calloc((size_t)(n > 0 ? n : 1), sizeof *views);
  struct ArrowArrayStream* out = malloc(sizeof *out);
  if (!views || !out) {
    free(views);
    free(out);
    return PyErr_NoMemory();
  }
  for (int64_t i = 0; i < n; i++) {
    if (hw_shared_array_view(batches[i], 0, hw_shared_array_length(batches[i]), &views[i], &err) != 0) {
      for (int64_t j = 0; j < i; j++) hw_array_release(&views[j]);
      free(views);
      free(out);
      return hw_py_raise(&err);
    }
  }
  int rc = hw_batch_stream_init(out, schema, views, n, &err); /* takes the views, also on failure */
  free(views);
  if (rc != 0) {
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

static PyObject* batch_arrow_c_stream(hw_py_batch* self, PyObject* args, PyObject* kwargs) {
  static char* kwlist[] = {"requested_schema", NULL};
  PyObject* requested = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O", kwlist, &requested)) return NULL;
  if (check_requested_schema(requested) != 0) return NULL;
  return views_stream_capsule(&self->schema, &self->array, 1);
}

static hw_py_stream* stream_alloc(hw_py_state* st) {
  hw_py_stream* self = (hw_py_stream*)alloc(st->stream_type);
  if (!self) return NULL;
  hw_field_init(&self->schema);
  self->batches = NULL;
  self->n_batches = 0;
  memset(&self->stream, 0, sizeof self->stream);
  return self;
}

PyObject* hw_py_stream_new(hw_py_state* st, struct ArrowArrayStream* stream) {
  hw_py_stream* self = stream_alloc(st);
  if (!self) {
    hw_stream_release(stream);
    return NULL;
  }
  hw_stream_move(stream, &self->stream);
  return (PyObject*)self;
}

static void stream_dealloc(hw_py_stream* self) {
  PyObject_GC_UnTrack(self);
  for (int64_t i = 0; i < self->n_batches; i++) hw_shared_array_unref(self->batches[i]);
  free(self->batches);
  hw_field_release(&self->schema);
  hw_stream_release(&self->stream);
  hw_py_free((PyObject*)self);
}

PyObject* hw_py_stream_from_batches(hw_py_state* st, hw_field* schema, struct ArrowArray* batches, int64_t n) {
  hw_py_stream* self = stream_alloc(st);
  hw_shared_array** shared = calloc((size_t)(n > 0 ? n : 1), sizeof *shared);
  if (!self || !shared) {
    free(shared);
    Py_XDECREF(self);
    hw_field_release(schema);
    for (int64_t i = 0; i < n; i++) hw_array_release(&batches[i]);
    return self ? PyErr_NoMemory() : NULL;
  }
  self->schema = *schema;
  hw_field_init(schema);
  self->batches = shared;
  for (int64_t i = 0; i < n; i++) {
    shared[i] = hw_shared_array_new(&batches[i]);
    if (!shared[i]) {
      for (int64_t j = i; j < n; j++) hw_array_release(&batches[j]);
      Py_DECREF(self); /* frees the ones already shared */
      return PyErr_NoMemory();
    }
    self->n_batches = i + 1;
  }
  return (PyObject*)self;
}

static PyObject* stream_arrow_c_stream(hw_py_stream* self, PyObject* args, PyObject* kwargs) {
  static char* kwlist[] = {"requested_schema", NULL};
  PyObject* requested = NULL;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O", kwlist, &requested)) return NULL;
  if (check_requested_schema(requested) != 0) return NULL;
  if (self->batches) return views_stream_capsule(&self->schema, self->batches, self->n_batches);
  if (!self->stream.release) {
    PyErr_SetString(PyExc_ValueError, "this Arrow stream was already consumed (streams can be read once)");
    return NULL;
  }
  struct ArrowArrayStream* out = malloc(sizeof *out);
  if (!out) return PyErr_NoMemory();
  hw_stream_move(&self->stream, out);
  PyObject* capsule = PyCapsule_New(out, "arrow_array_stream", hw_py_release_stream_capsule);
  if (!capsule) {
    hw_stream_release(out);
    free(out);
  }
  return capsule;
}

static PyObject* stream_consumed(hw_py_stream* self, void* closure) {
  (void)closure;
  return PyBool_FromLong(self->batches == NULL && self->stream.release == NULL);
}

static PyMethodDef stream_methods[] = {
    {"__arrow_c_stream__", (PyCFunction)(void (*)(void))stream_arrow_c_stream, METH_VARARGS | METH_KEYWORDS,
     "Export as an Arrow PyCapsule (once)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef stream_getset[] = {
    {"consumed", (getter)stream_consumed, NULL, "Whether a one-shot (imported) stream was already exported.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot stream_slots[] = {
    {Py_tp_dealloc, HW_PY_SLOT_FN(stream_dealloc)},
    {Py_tp_traverse, HW_PY_SLOT_FN(hw_py_traverse_type)},
    {Py_tp_doc, "An Arrow stream made by headwater's C core (Arrow PyCapsule: __arrow_c_stream__)."},
    {Py_tp_methods, HW_PY_SLOT_FN(stream_methods)},
    {Py_tp_getset, HW_PY_SLOT_FN(stream_getset)},
    {0, NULL},
};

PyType_Spec hw_py_stream_spec = {
    .name = "headwater._core.ArrowStream",
    .basicsize = sizeof(hw_py_stream),
    .flags = HW_PY_VALUE_FLAGS,
    .slots = stream_slots,
};
