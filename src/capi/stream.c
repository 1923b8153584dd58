/*
 * The streams the C API hands out: a C scan's ArrowArrayStream moved out of its PyCapsule, with the
 * Python object that can say why it failed.
 *
 * The scan's own stream already takes care of the GIL (src/pyexec/scan.c): inline mode takes it
 * (PyGILState_Ensure) inside get_next, thread and process modes wait for batches without it, and
 * release takes it to drop Python references. So get_next here calls straight into C and takes
 * the GIL only when the scan failed, to describe the failure; release takes it for the owner.
 */
#include <stdlib.h>
#include <string.h>

#include "capi/capi.h"
#include "common/error.h"

typedef struct wrapped {
  struct ArrowArrayStream inner; /* the scan's stream (moved) */
  PyObject* owner;               /* capi.Stream: new reference */
  int64_t partition;
  hw_error error;
} wrapped;

static int w_get_schema(struct ArrowArrayStream* s, struct ArrowSchema* out) {
  wrapped* w = s->private_data;
  return w->inner.get_schema(&w->inner, out); /* pure C */
}

static void describe(wrapped* w) {
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject* t = PyObject_CallMethod(w->owner, "failure", NULL);
  if (t && t != Py_None) {
    hw_capi_error_from_tuple(t, &w->error);
  } else {
    PyErr_Clear();
    const char* last = w->inner.get_last_error(&w->inner);
    hw_error_set(&w->error, "HW_STREAM", "%s", last ? last : "the stream failed");
    w->error.partition = w->partition;
  }
  Py_XDECREF(t);
  PyGILState_Release(g);
}

static int w_get_next(struct ArrowArrayStream* s, struct ArrowArray* out) {
  wrapped* w = s->private_data;
  int rc = w->inner.get_next(&w->inner, out); /* takes the GIL itself when it runs Python */
  if (rc != 0) describe(w);
  return rc;
}

static const char* w_get_last_error(struct ArrowArrayStream* s) {
  wrapped* w = s->private_data;
  return w->error.message[0] ? w->error.message : NULL;
}

static void w_release(struct ArrowArrayStream* s) {
  wrapped* w = s->private_data;
  if (w->inner.release) w->inner.release(&w->inner); /* stops the scan; takes the GIL itself */
  PyGILState_STATE g = PyGILState_Ensure();
  Py_XDECREF(w->owner);
  PyGILState_Release(g);
  free(w);
  s->release = NULL;
}

int hw_capi_stream_take(hw_runtime* rt, PyObject* obj, int64_t partition, struct ArrowArrayStream* out,
                        hw_error* err) {
  PyObject* capsule = PyObject_CallMethod(obj, "__arrow_c_stream__", NULL);
  if (!capsule) return hw_capi_error_from_python(rt, err, partition);
  struct ArrowArrayStream* inner = PyCapsule_GetPointer(capsule, "arrow_array_stream");
  wrapped* w = inner ? calloc(1, sizeof *w) : NULL;
  if (!w) {
    Py_DECREF(capsule);
    if (!inner) return hw_capi_error_from_python(rt, err, partition);
    return hw_error_oom(err);
  }
  w->inner = *inner;     /* move: the capsule's destructor then finds a released stream */
  inner->release = NULL;
  Py_DECREF(capsule);
  Py_INCREF(obj);
  w->owner = obj;
  w->partition = partition;
  hw_error_init(&w->error);
  out->get_schema = w_get_schema;
  out->get_next = w_get_next;
  out->get_last_error = w_get_last_error;
  out->release = w_release;
  out->private_data = w;
  return 0;
}

int hw_stream_error(struct ArrowArrayStream* stream, hw_error* err) {
  if (!stream || stream->get_next != w_get_next)
    return hw_error_set(err, "HW_INVALID_ARGUMENT", "not a stream made by headwater");
  wrapped* w = stream->private_data;
  *err = w->error;
  return 0;
}
