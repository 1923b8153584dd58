/* Writes: an engine's ArrowArrayStreams handed to a source's writer through headwater.capi.Writer. */
#include <stdlib.h>
#include <string.h>

#include "capi/capi.h"
#include "common/error.h"

struct hw_writer {
  hw_runtime* rt;
  PyObject* writer; /* capi.Writer */
  int finished;     /* committed or aborted */
};

static void release_schema_capsule(PyObject* c) {
  struct ArrowSchema* s = PyCapsule_GetPointer(c, "arrow_schema");
  if (s && s->release) s->release(s);
  free(s);
}

static void release_stream_capsule(PyObject* c) {
  struct ArrowArrayStream* s = PyCapsule_GetPointer(c, "arrow_array_stream");
  if (s && s->release) s->release(s);
  free(s);
}

/* The caller keeps its schema: Python gets a copy made through Spark DDL (the C Data Interface has
 * no copy; the data's types are Spark's anyway). */
int hw_writer_open(hw_runtime* rt, const char* format, const char* const* keys, const char* const* values,
                   int32_t n_options, const char* mode, const struct ArrowSchema* schema, hw_writer** out,
                   hw_error* err) {
  if (!rt || !format || !schema || !schema->release || !out)
    return hw_error_set(err, "HW_INVALID_ARGUMENT", "hw_writer_open: runtime, format, schema and out are required");
  char* ddl = NULL;
  if (hw_schema_to_ddl(schema, &ddl, err) != 0) return -1;
  struct ArrowSchema* copy = calloc(1, sizeof *copy);
  if (!copy || hw_schema_from_ddl(ddl, copy, err) != 0) { /* the data's schema, owned by the capsule */
    hw_free(ddl);
    free(copy);
    return copy ? -1 : hw_error_oom(err);
  }
  hw_free(ddl);
  hw_writer* w = calloc(1, sizeof *w);
  if (!w) {
    copy->release(copy);
    free(copy);
    return hw_error_oom(err);
  }
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject* capsule = PyCapsule_New(copy, "arrow_schema", release_schema_capsule);
  if (!capsule) {
    copy->release(copy);
    free(copy);
  }
  PyObject* opts = PyDict_New();
  for (int32_t i = 0; opts && i < n_options; i++) {
    PyObject* v = PyUnicode_FromString(values[i] ? values[i] : "");
    if (!v || PyDict_SetItemString(opts, keys[i], v) != 0) Py_CLEAR(opts);
    Py_XDECREF(v);
  }
  w->writer = capsule && opts ? PyObject_CallMethod(rt->capi, "Writer", "OsOzO", rt->runtime, format, opts, mode, capsule)
                              : NULL;
  Py_XDECREF(capsule);
  Py_XDECREF(opts);
  int rc = 0;
  if (!w->writer) {
    rc = hw_capi_error_from_python(rt, err, -1);
    free(w);
  } else {
    w->rt = rt;
    *out = w;
  }
  PyGILState_Release(g);
  return rc;
}

int hw_writer_write(hw_writer* w, struct ArrowArrayStream* stream, hw_error* err) {
  if (!stream || !stream->release) return hw_error_set(err, "HW_INVALID_ARGUMENT", "hw_writer_write: no stream");
  struct ArrowArrayStream* moved = malloc(sizeof *moved);
  if (!moved) {
    stream->release(stream);
    return hw_error_oom(err);
  }
  *moved = *stream; /* taken: released with the capsule */
  stream->release = NULL;
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject* capsule = PyCapsule_New(moved, "arrow_array_stream", release_stream_capsule);
  if (!capsule) {
    moved->release(moved);
    free(moved);
  }
  PyObject* r = capsule ? PyObject_CallMethod(w->writer, "write", "O", capsule) : NULL;
  int rc = r ? 0 : hw_capi_error_from_python(w->rt, err, -1);
  Py_XDECREF(r);
  Py_XDECREF(capsule);
  PyGILState_Release(g);
  return rc;
}

static int finish(hw_writer* w, const char* how, hw_error* err) {
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject* r = PyObject_CallMethod(w->writer, how, NULL);
  int rc = r ? 0 : hw_capi_error_from_python(w->rt, err, -1);
  Py_XDECREF(r);
  PyGILState_Release(g);
  w->finished = 1;
  return rc;
}

int hw_writer_commit(hw_writer* w, hw_error* err) { return finish(w, "commit", err); }

int hw_writer_abort(hw_writer* w, hw_error* err) { return finish(w, "abort", err); }

void hw_writer_free(hw_writer* w) {
  if (!w) return;
  if (!w->finished) {
    hw_error ignored;
    hw_error_init(&ignored);
    finish(w, "abort", &ignored);
  }
  PyGILState_STATE g = PyGILState_Ensure();
  Py_CLEAR(w->writer);
  PyGILState_Release(g);
  free(w);
}
