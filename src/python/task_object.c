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

/* run_tasks(pool, tasks) -> (outcomes, interrupted). Runs each bytes payload of `tasks` on a worker
 * (see ipc/tasks.h) and waits with the GIL released; Ctrl-C cancels the run (a second one, or the pool's cancel grace
 * period without the tasks ending, kills the workers still running), waits for the workers to stop, and returns with interrupted = True
 * (the caller aborts, then raises). GIL. */
PyObject* hw_py_run_tasks(PyObject* module, PyObject* args) {
  PyObject *pool_obj, *tasks;
  if (!PyArg_ParseTuple(args, "O!O!", hw_py_state_of_module(module)->pool_type, &pool_obj, &PyList_Type, &tasks))
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
