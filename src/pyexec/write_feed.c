#include "pyexec/write_feed.h"

#include <string.h>

#include "arrow/array.h"
#include "ipc/wire.h"
#include "pyexec/arrow_to_rows.h"
#include "pyexec/partition_reader.h"
#include "schema/field.h"

/* Rows are built this many at a time: a slice's Rows are handed out and can be freed before the
 * next slice's are made, so their memory stays in cache and is reused (measured on a 100k-row
 * batch of two BIGINTs, building and iterating its Rows: whole 52 ms, 2048-row slices 29 ms,
 * 256-row slices 25 ms). */
#define HW_ROWS_PER_CONVERSION 256

typedef struct write_feed {
  PyObject_HEAD
  PyObject* input;    /* iterator of pyarrow RecordBatches; NULL once exhausted */
  PyObject* row_type; /* the Row class; NULL: batches pass through (Arrow writers) */
  PyObject* rows;     /* the current slice's Rows */
  Py_ssize_t next_row;
  PyObject* exported; /* the current batch's (schema, array) capsules: they own `array` */
  struct ArrowArray* array;
  int64_t converted;  /* rows of `array` made into Rows so far */
  hw_field schema; /* of the batches: parsed from the first one */
  bool has_schema;
  int64_t n_rows, batches, bytes;
  int64_t opened_ns, input_ns, convert_ns;
} write_feed;

static PyObject* (*raise_error)(const hw_error* err);

static int feed_init(write_feed* self, PyObject* args, PyObject* kwargs) {
  static char* names[] = {"batches", "row_type", NULL};
  PyObject *batches, *row_type = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:WriteFeed", names, &batches, &row_type)) return -1;
  if (row_type != Py_None && !(PyType_Check(row_type) && PyType_IsSubtype((PyTypeObject*)row_type, &PyTuple_Type))) {
    PyErr_SetString(PyExc_TypeError, "row_type must be a tuple subclass or None");
    return -1;
  }
  PyObject* it = PyObject_GetIter(batches);
  if (!it) return -1;
  Py_XSETREF(self->input, it);
  Py_XSETREF(self->row_type, row_type == Py_None ? NULL : Py_NewRef(row_type));
  self->opened_ns = hw_now_ns();
  return 0;
}

static int feed_traverse(write_feed* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(self->input);
  Py_VISIT(self->row_type);
  Py_VISIT(self->rows);
  Py_VISIT(self->exported);
  return 0;
}

static int feed_clear(write_feed* self) {
  Py_CLEAR(self->input);
  Py_CLEAR(self->row_type);
  Py_CLEAR(self->rows);
  Py_CLEAR(self->exported);
  self->array = NULL;
  return 0;
}

static void feed_dealloc(write_feed* self) {
  PyTypeObject* type = Py_TYPE(self);
  PyObject_GC_UnTrack(self);
  feed_clear(self);
  if (self->has_schema) hw_field_release(&self->schema);
  type->tp_free(self);
  Py_DECREF(type);
}

/* Counts one batch (and, for plain writers, converts it into self->rows). Steals batch; returns
 * it (Arrow writers), Py_None (rows made) or NULL. */
static PyObject* take_batch(write_feed* self, PyObject* batch) {
  hw_error err;
  hw_error_init(&err);
  PyObject* pair = PyObject_CallMethod(batch, "__arrow_c_array__", NULL);
  struct ArrowSchema* cschema = NULL;
  struct ArrowArray* carray = NULL;
  if (pair && PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2) {
    cschema = PyCapsule_GetPointer(PyTuple_GET_ITEM(pair, 0), "arrow_schema");
    carray = cschema ? PyCapsule_GetPointer(PyTuple_GET_ITEM(pair, 1), "arrow_array") : NULL;
  }
  PyObject* out = NULL;
  if (!carray) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "a write task's input is not an Arrow record batch");
    goto done;
  }
  if (!self->has_schema) {
    if (hw_field_from_arrow(cschema, &self->schema, &err) != 0) {
      raise_error(&err);
      goto done;
    }
    self->has_schema = true;
  }
  if (self->schema.type != HW_TYPE_STRUCT || carray->n_children != self->schema.n_children) {
    PyErr_SetString(PyExc_TypeError, "a write task's batches changed schema");
    goto done;
  }
  self->batches++;
  self->n_rows += carray->length;
  for (int32_t i = 0; i < self->schema.n_children; i++)
    self->bytes += hw_array_bytes(&self->schema.children[i], carray->children[i]);
  if (!self->row_type) {
    out = Py_NewRef(batch);
    goto done;
  }
  Py_XSETREF(self->exported, Py_NewRef(pair)); /* converted a slice at a time by next_slice */
  self->array = carray;
  self->converted = 0;
  out = Py_NewRef(Py_None);
done:
  Py_XDECREF(pair);
  Py_DECREF(batch);
  return out;
}

/* The next HW_ROWS_PER_CONVERSION rows of the current batch as self->rows: a view of the batch
 * (its own offset moved; children read at parent offset + index). 0, or -1 with an exception. */
static int next_slice(write_feed* self) {
  struct ArrowArray view = *self->array; /* shallow: released by its capsule, never by us */
  int64_t left = self->array->length - self->converted;
  view.offset = self->array->offset + self->converted;
  view.length = left < HW_ROWS_PER_CONVERSION ? left : HW_ROWS_PER_CONVERSION;
  view.release = NULL;
  hw_error err;
  hw_error_init(&err);
  int64_t t = hw_now_ns();
  PyObject* rows = PyList_New(0);
  if (rows && hw_arrow_to_rows(&self->schema, &view, self->row_type, rows, &err) != 0) {
    Py_CLEAR(rows);
    if (!PyErr_Occurred()) raise_error(&err);
  }
  self->convert_ns += hw_now_ns() - t;
  if (!rows) return -1;
  self->converted += view.length;
  Py_XSETREF(self->rows, rows);
  self->next_row = 0;
  return 0;
}

static PyObject* feed_next(write_feed* self) {
  for (;;) {
    if (self->rows) {
      if (self->next_row < PyList_GET_SIZE(self->rows)) return Py_NewRef(PyList_GET_ITEM(self->rows, self->next_row++));
      Py_CLEAR(self->rows);
    }
    if (self->array) {
      if (self->converted < self->array->length) {
        if (next_slice(self) != 0) return NULL;
        continue;
      }
      self->array = NULL;
      Py_CLEAR(self->exported);
    }
    if (!self->input) return NULL;
    int64_t t = hw_now_ns();
    PyObject* batch = PyIter_Next(self->input);
    self->input_ns += hw_now_ns() - t;
    if (!batch) {
      if (!PyErr_Occurred()) Py_CLEAR(self->input);
      return NULL;
    }
    PyObject* got = take_batch(self, batch);
    if (got != Py_None) return got; /* a RecordBatch, or NULL */
    Py_DECREF(got);
  }
}

static PyObject* feed_stats(write_feed* self, PyObject* unused) {
  (void)unused;
  int64_t wall = hw_now_ns() - self->opened_ns;
  int64_t writer = wall - self->input_ns - self->convert_ns;
  return Py_BuildValue("(LLLLLLL)", self->n_rows, self->batches, self->bytes, wall, writer > 0 ? writer : 0,
                       self->convert_ns, self->input_ns);
}

static PyObject* feed_progress(write_feed* self, void* unused) {
  (void)unused;
  return Py_BuildValue("(LL)", self->n_rows, self->bytes);
}

static PyMethodDef feed_methods[] = {
    {"stats", (PyCFunction)feed_stats, METH_NOARGS,
     "stats() -> (rows, batches, bytes, wall_ns, writer_ns, convert_ns, input_ns) since the feed was made: call it "
     "when write() returned."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef feed_getset[] = {
    {"progress", (getter)feed_progress, NULL, "(rows, bytes) handed to the writer so far.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot feed_slots[] = {
    {Py_tp_doc, "WriteFeed(batches, row_type=None): what a writer's write(iterator) gets: the batches' Rows (a "
                "Row class given) or the batches, counted and timed per batch for the run report."},
    {Py_tp_init, feed_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, feed_dealloc},
    {Py_tp_traverse, feed_traverse},
    {Py_tp_clear, feed_clear},
    {Py_tp_iter, PyObject_SelfIter},
    {Py_tp_iternext, feed_next},
    {Py_tp_methods, feed_methods},
    {Py_tp_getset, feed_getset},
    {0, NULL},
};

static PyType_Spec feed_spec = {
    "headwater._core.WriteFeed", sizeof(write_feed), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, feed_slots,
};

PyObject* hw_write_feed_type_new(PyObject* module, PyObject* (*raise)(const hw_error* err)) {
  raise_error = raise;
  return PyType_FromModuleAndSpec(module, &feed_spec, NULL);
}
