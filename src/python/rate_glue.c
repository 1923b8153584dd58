/* _core.rate_batch: the rows of one rate / rate-micro-batch partition as a RecordBatch (C-built). */
#include "python/glue.h"
#include "stream/rate.h"

PyObject* hw_py_rate_batch(PyObject* module, PyObject* args) {
  hw_rate_range r;
  long long p, n, start, end, start_ms;
  if (!PyArg_ParseTuple(args, "LLLLLd:rate_batch", &p, &n, &start, &end, &start_ms, &r.ms_per_value)) return NULL;
  r.partition = p;
  r.num_partitions = n;
  r.range_start = start;
  r.range_end = end;
  r.start_ms = start_ms;
  hw_error err;
  hw_error_init(&err);
  hw_field schema;
  if (hw_rate_schema(&schema, &err) != 0) return hw_py_raise(&err);
  struct ArrowArray array;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = hw_rate_batch(&r, &array, &err);
  Py_END_ALLOW_THREADS
  if (rc != 0) {
    hw_field_release(&schema);
    return hw_py_raise(&err);
  }
  return hw_py_batch_new(hw_py_state_of_module(module), &schema, &array);
}
