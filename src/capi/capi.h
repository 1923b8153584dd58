/* libheadwater's internals: the handles of include/headwater.h and the Python calls behind them. */
#ifndef HW_CAPI_CAPI_H
#define HW_CAPI_CAPI_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "headwater.h"

struct hw_runtime {
  PyObject* capi;        /* headwater.capi (module) */
  PyObject* runtime;     /* capi.Runtime */
  PyThreadState* main;   /* the embedding thread's state while the GIL is released; NULL when attached */
};

struct hw_source {
  hw_runtime* rt;
  PyObject* source; /* capi.Source */
};

struct hw_query {
  hw_source* src;
  PyObject* query; /* capi.Query */
  int planned;
  int64_t n_partitions;
  int32_t n_filters;
  int* accepted;
  int limit_pushed;
};

/* Fills err from the current Python exception (cleared), via capi.describe_error. GIL. Returns -1. */
int hw_capi_error_from_python(hw_runtime* rt, hw_error* err, int64_t partition);
/* Fills err from a capi.describe_error tuple. GIL. */
void hw_capi_error_from_tuple(PyObject* t, hw_error* err);
/* Moves the stream out of obj.__arrow_c_stream__() into out, wrapped; takes a reference to obj. GIL. */
int hw_capi_stream_take(hw_runtime* rt, PyObject* obj, int64_t partition, struct ArrowArrayStream* out, hw_error* err);

#endif
