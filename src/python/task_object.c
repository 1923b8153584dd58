/* headwater._core.run_tasks: independent pickled tasks on the session's worker processes. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ipc/tasks.h"
#include "python/glue.h"

/* One task's outcome: None (not run, or stopped by a cancel), ("ok", bytes), ("failed", bytes) or
 * ("error", error_class, message, traceback-or-None). GIL. */
static PyObject* outcome(const hw_task* t) {
  switch (t->state) {
    case HW_TASK_OK:
    case HW_TASK_FAILED:
      return Py_BuildValue("(sy#)", t->state == HW_TASK_OK ? "ok" : "failed", (const char*)t->output,
                           (Py_ssize_t)t->output_len);
    case HW_TASK_ERROR: {
      PyObject* tb = t->traceback ? PyUnicode_DecodeUTF8(t->traceback, (Py_ssize_t)strlen(t->traceback), "replace")
                                  : Py_NewRef(Py_None);
      if (!tb) return NULL;
      PyObject* msg = PyUnicode_DecodeUTF8(t->error.message, (Py_ssize_t)strlen(t->error.message), "replace");
      if (!msg) {
        Py_DECREF(tb);
        return NULL;
      }
      return Py_BuildValue("(ssNN)", "error", t->error.error_class, msg, tb); /* N: stolen, also on failure */
    }
    default: Py_RETURN_NONE;
  }
}

/* A task's counters for Python: (write, read), each None or a tuple of nine ints. GIL. */
static PyObject* stats_tuple(const hw_task_stats* st) {
  const hw_write_stats* w = &st->write;
  const hw_partition_stats* r = &st->read;
  PyObject* wt = st->has_write ? Py_BuildValue("(LLLLLLLLL)", w->partition, w->rows, w->batches, w->bytes, w->wall_ns,
                                               w->writer_ns, w->convert_ns, w->input_ns, w->pid)
                               : Py_NewRef(Py_None);
  PyObject* rt = st->has_read ? Py_BuildValue("(LLLLLLLLL)", r->partition, r->rows, r->batches, r->bytes, r->wall_ns,
                                              r->source_ns, r->convert_ns, r->wait_ns, r->pid)
                              : Py_NewRef(Py_None);
  if (!wt || !rt) {
    Py_XDECREF(wt);
    Py_XDECREF(rt);
    return NULL;
  }
  return Py_BuildValue("(NN)", wt, rt);
}

/* Hands on_done(index, stats) the tasks that ended since the last call (the progress bar and the
 * run report of a write, once per task). An error in it is reported, not raised. GIL. */
static void report_done(hw_task_run* run, PyObject* on_done) {
  if (on_done == Py_None) return;
  int64_t index[16];
  hw_task_stats stats[16];
  int64_t got;
  while ((got = hw_task_run_poll(run, index, stats, 16)) > 0) {
    for (int64_t k = 0; k < got; k++) {
      PyObject* st = stats_tuple(&stats[k]);
      PyObject* r = st ? PyObject_CallFunction(on_done, "LO", (long long)index[k], st) : NULL;
      Py_XDECREF(st);
      if (!r) PyErr_WriteUnraisable(on_done);
      Py_XDECREF(r);
    }
  }
}

/* run_tasks(pool, tasks, on_done=None) -> (outcomes, interrupted). Runs each bytes payload of `tasks` on a worker
 * (see ipc/tasks.h) and waits with the GIL released; Ctrl-C cancels the run (a second one, or the pool's cancel grace
 * period without the tasks ending, kills the workers still running), waits for the workers to stop, and returns with interrupted = True
 * (the caller aborts, then raises). GIL. */
PyObject* hw_py_run_tasks(PyObject* module, PyObject* args) {
  PyObject *pool_obj, *tasks, *on_done = Py_None;
  if (!PyArg_ParseTuple(args, "O!O!|O", hw_py_state_of_module(module)->pool_type, &pool_obj, &PyList_Type, &tasks,
                        &on_done))
    return NULL;
  hw_pool* pool = ((hw_py_pool*)pool_obj)->pool;
  if (!pool) {
    PyErr_SetString(PyExc_ValueError, "the worker pool was stopped");
    return NULL;
  }
  Py_ssize_t n = PyList_GET_SIZE(tasks);
  const uint8_t** inputs = calloc((size_t)(n > 0 ? n : 1), sizeof *inputs);
  size_t* lens = calloc((size_t)(n > 0 ? n : 1), sizeof *lens);
  if (!inputs || !lens) {
    free(inputs);
    free(lens);
    return PyErr_NoMemory();
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject* b = PyList_GET_ITEM(tasks, i);
    if (!PyBytes_Check(b)) {
      free(inputs);
      free(lens);
      return PyErr_Format(PyExc_TypeError, "task %zd is %s, not bytes", i, Py_TYPE(b)->tp_name);
    }
    inputs[i] = (const uint8_t*)PyBytes_AS_STRING(b);
    lens[i] = (size_t)PyBytes_GET_SIZE(b);
  }
  hw_error err;
  hw_error_init(&err);
  hw_task_run* run = NULL;
  int rc = hw_task_run_start(&run, pool, inputs, lens, n, &err); /* copies the inputs */
  free(inputs);
  free(lens);
  if (rc != 0) return hw_py_raise(&err);
  bool interrupted = false, over = false, killed = false;
  int waits_since_cancel = 0;
  while (!over) {
    Py_BEGIN_ALLOW_THREADS
    over = hw_task_run_wait(run, 100);
    Py_END_ALLOW_THREADS
    report_done(run, on_done);
    if (over) break;
    if (PyErr_CheckSignals() != 0) { /* Ctrl-C (main thread only) */
      PyErr_Clear();
      hw_task_run_cancel(run, interrupted); /* a second Ctrl-C kills what ignored the first */
      killed = interrupted;
      interrupted = true;
    } else if (interrupted && !killed && ++waits_since_cancel * 100 >= atomic_load(&pool->cancel_grace_ms)) {
      /* a task still running after the grace period ignored (or lost) the cancel: kill its worker,
       * as Spark does after spark.python.task.killTimeout (2 s) */
      hw_task_run_cancel(run, true);
      killed = true;
    }
  }
  int64_t count;
  hw_task* t = hw_task_run_tasks(run, &count);
  PyObject* outcomes = PyList_New((Py_ssize_t)count);
  for (int64_t i = 0; outcomes && i < count; i++) {
    PyObject* o = outcome(&t[i]);
    if (!o) Py_CLEAR(outcomes);
    else PyList_SET_ITEM(outcomes, (Py_ssize_t)i, o);
  }
  Py_BEGIN_ALLOW_THREADS
  hw_task_run_free(run);
  Py_END_ALLOW_THREADS
  if (!outcomes) return NULL;
  return Py_BuildValue("(NO)", outcomes, interrupted ? Py_True : Py_False);
}
