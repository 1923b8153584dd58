/* Sources and scans: thin calls into headwater.capi, each under the GIL it takes itself. */
#include <stdlib.h>
#include <string.h>

#include "capi/capi.h"
#include "common/error.h"

#define WITH_GIL PyGILState_STATE gil_ = PyGILState_Ensure()
#define END_GIL PyGILState_Release(gil_)

static int schema_from_capsule(hw_runtime* rt, PyObject* capsule, struct ArrowSchema* out, hw_error* err) {
  if (!capsule) return hw_capi_error_from_python(rt, err, -1);
  struct ArrowSchema* s = PyCapsule_GetPointer(capsule, "arrow_schema");
  if (!s) {
    Py_DECREF(capsule);
    return hw_capi_error_from_python(rt, err, -1);
  }
  *out = *s; /* move */
  s->release = NULL;
  Py_DECREF(capsule);
  return 0;
}

int hw_source_open(hw_runtime* rt, const char* format, const char* const* keys, const char* const* values,
                   int32_t n_options, const char* schema_ddl, hw_source** out, hw_error* err) {
  if (!rt || !format || !out || (n_options > 0 && (!keys || !values)))
    return hw_error_set(err, "HW_INVALID_ARGUMENT", "hw_source_open: runtime, format and out are required");
  hw_source* src = calloc(1, sizeof *src);
  if (!src) return hw_error_oom(err);
  WITH_GIL;
  int rc = -1;
  PyObject* opts = PyDict_New();
  for (int32_t i = 0; opts && i < n_options; i++) {
    PyObject* v = PyUnicode_FromString(values[i] ? values[i] : "");
    if (!v || PyDict_SetItemString(opts, keys[i], v) != 0) Py_CLEAR(opts);
    Py_XDECREF(v);
  }
  src->source = opts ? PyObject_CallMethod(rt->capi, "Source", "OsOz", rt->runtime, format, opts, schema_ddl) : NULL;
  Py_XDECREF(opts);
  if (src->source) {
    src->rt = rt;
    *out = src;
    rc = 0;
  } else {
    hw_capi_error_from_python(rt, err, -1);
    free(src);
  }
  END_GIL;
  return rc;
}

int hw_source_schema(hw_source* src, struct ArrowSchema* out, hw_error* err) {
  WITH_GIL;
  int rc = schema_from_capsule(src->rt, PyObject_CallMethod(src->source, "schema_capsule", NULL), out, err);
  END_GIL;
  return rc;
}

void hw_source_free(hw_source* src) {
  if (!src) return;
  WITH_GIL;
  Py_CLEAR(src->source);
  END_GIL;
  free(src);
}

int hw_query_new(hw_source* src, hw_query** out, hw_error* err) {
  hw_query* q = calloc(1, sizeof *q);
  if (!q) return hw_error_oom(err);
  WITH_GIL;
  q->query = PyObject_CallMethod(src->rt->capi, "Query", "O", src->source);
  int rc = q->query ? 0 : hw_capi_error_from_python(src->rt, err, -1);
  END_GIL;
  if (rc != 0) {
    free(q);
    return -1;
  }
  q->src = src;
  q->n_partitions = -1;
  *out = q;
  return 0;
}

static int not_planned(hw_query* q, hw_error* err) {
  if (q->planned) return hw_error_set(err, "HW_INVALID_ARGUMENT", "the scan is planned already: set it up before hw_query_plan");
  return 0;
}

int hw_query_select(hw_query* q, const char* const* columns, int32_t n, hw_error* err) {
  if (not_planned(q, err)) return -1;
  WITH_GIL;
  PyObject* names = PyList_New(n);
  for (int32_t i = 0; names && i < n; i++) PyList_SET_ITEM(names, i, PyUnicode_FromString(columns[i] ? columns[i] : ""));
  PyObject* r = names ? PyObject_CallMethod(q->query, "select", "O", names) : NULL;
  int rc = r ? 0 : hw_capi_error_from_python(q->src->rt, err, -1);
  Py_XDECREF(r);
  Py_XDECREF(names);
  END_GIL;
  return rc;
}

int hw_query_filter(hw_query* q, const char* column, const char* op, const char* value, hw_error* err) {
  if (not_planned(q, err)) return -1;
  if (!column || !op) return hw_error_set(err, "HW_INVALID_FILTER", "a filter needs a column and an operator");
  WITH_GIL;
  PyObject* r = PyObject_CallMethod(q->query, "filter", "ssz", column, op, value);
  int rc = r ? 0 : hw_capi_error_from_python(q->src->rt, err, -1);
  Py_XDECREF(r);
  END_GIL;
  if (rc == 0) q->n_filters++;
  return rc;
}

static int set_attr(hw_query* q, const char* name, PyObject* value, hw_error* err) {
  int rc = value && PyObject_SetAttrString(q->query, name, value) == 0 ? 0 : hw_capi_error_from_python(q->src->rt, err, -1);
  Py_XDECREF(value);
  return rc;
}

int hw_query_limit(hw_query* q, int64_t limit, hw_error* err) {
  if (not_planned(q, err)) return -1;
  if (limit < 0) return hw_error_set(err, "HW_INVALID_ARGUMENT", "the limit must be >= 0, got %lld", (long long)limit);
  WITH_GIL;
  int rc = set_attr(q, "limit", PyLong_FromLongLong(limit), err);
  END_GIL;
  return rc;
}

int hw_query_mode(hw_query* q, hw_mode mode, hw_error* err) {
  static const char* names[] = {"auto", "inline", "thread", "process"};
  if (not_planned(q, err)) return -1;
  if ((int)mode < 0 || (int)mode > 3) return hw_error_set(err, "HW_INVALID_ARGUMENT", "unknown executor mode %d", (int)mode);
  WITH_GIL;
  int rc = set_attr(q, "mode", PyUnicode_FromString(names[mode]), err);
  END_GIL;
  return rc;
}

int hw_query_plan(hw_query* q, hw_error* err) {
  if (not_planned(q, err)) return -1;
  WITH_GIL;
  int rc = -1;
  PyObject* n = PyObject_CallMethod(q->query, "plan_scan", NULL);
  PyObject* acc = n ? PyObject_GetAttrString(q->query, "accepted") : NULL;
  PyObject* lim = acc ? PyObject_GetAttrString(q->query, "limit_pushed") : NULL;
  if (lim && PyList_Check(acc)) {
    q->n_partitions = PyLong_AsLongLong(n);
    q->accepted = calloc((size_t)q->n_filters + 1, sizeof *q->accepted);
    for (int32_t i = 0; q->accepted && i < q->n_filters && i < PyList_GET_SIZE(acc); i++)
      q->accepted[i] = PyObject_IsTrue(PyList_GET_ITEM(acc, i)) == 1;
    q->limit_pushed = PyObject_IsTrue(lim) == 1;
    q->planned = 1;
    rc = q->accepted ? 0 : hw_error_oom(err);
  } else {
    hw_capi_error_from_python(q->src->rt, err, -1);
  }
  Py_XDECREF(n);
  Py_XDECREF(acc);
  Py_XDECREF(lim);
  END_GIL;
  return rc;
}

int64_t hw_query_partitions(const hw_query* q) { return q->planned ? q->n_partitions : -1; }

int hw_query_filter_accepted(const hw_query* q, int32_t i) {
  return q->planned && i >= 0 && i < q->n_filters ? q->accepted[i] : -1;
}

int hw_query_limit_pushed(const hw_query* q) { return q->planned ? q->limit_pushed : -1; }

int hw_query_schema(hw_query* q, struct ArrowSchema* out, hw_error* err) {
  WITH_GIL;
  int rc = schema_from_capsule(q->src->rt, PyObject_CallMethod(q->query, "schema_capsule", NULL), out, err);
  END_GIL;
  return rc;
}

static int execute(hw_query* q, int64_t partition, struct ArrowArrayStream* out, hw_error* err) {
  if (!q->planned) return hw_error_set(err, "HW_INVALID_ARGUMENT", "plan the scan first (hw_query_plan)");
  WITH_GIL;
  PyObject* s = partition >= 0 ? PyObject_CallMethod(q->query, "partition", "L", (long long)partition)
                               : PyObject_CallMethod(q->query, "all", NULL);
  int rc = s ? hw_capi_stream_take(q->src->rt, s, partition, out, err)
             : hw_capi_error_from_python(q->src->rt, err, partition);
  Py_XDECREF(s);
  END_GIL;
  return rc;
}

int hw_query_execute_partition(hw_query* q, int64_t partition, struct ArrowArrayStream* out, hw_error* err) {
  if (partition < 0) return hw_error_set(err, "HW_INVALID_ARGUMENT", "partition %lld does not exist", (long long)partition);
  return execute(q, partition, out, err);
}

int hw_query_execute(hw_query* q, struct ArrowArrayStream* out, hw_error* err) { return execute(q, -1, out, err); }

void hw_query_free(hw_query* q) {
  if (!q) return;
  WITH_GIL;
  Py_CLEAR(q->query);
  END_GIL;
  free(q->accepted);
  free(q);
}
