/* headwater._core.WorkerPool (a session's worker processes) and worker_main (a worker's loop). */
#include <stdlib.h>

#include "common/error.h"
#include "ipc/pool.h"
#include "pyexec/worker.h"
#include "python/glue.h"

static PyObject* pool_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static char* kwlist[] = {"workers", "python", "env", NULL};
  int workers;
  const char* python;
  PyObject* env;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "isO!", kwlist, &workers, &python, &PyList_Type, &env)) return NULL;
  if (workers < 1) return PyErr_Format(PyExc_ValueError, "a pool needs at least one worker, got %d", workers);
  Py_ssize_t n = PyList_GET_SIZE(env);
  char** envp = calloc((size_t)n + 1, sizeof *envp);
  if (!envp) return PyErr_NoMemory();
  for (Py_ssize_t i = 0; i < n; i++) {
    envp[i] = (char*)PyUnicode_AsUTF8(PyList_GET_ITEM(env, i));
    if (!envp[i]) {
      free(envp);
      return NULL;
    }
  }
  hw_error err;
  hw_error_init(&err);
  hw_pool* pool = NULL;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = hw_pool_new(&pool, workers, python, envp, &err);
  Py_END_ALLOW_THREADS
  free(envp);
  if (rc != 0) return hw_py_raise(&err);
  hw_py_pool* self = (hw_py_pool*)type->tp_alloc(type, 0);
  if (!self) {
    hw_pool_free(pool);
    return NULL;
  }
  self->pool = pool;
  return (PyObject*)self;
}

static void stop_pool(hw_py_pool* self) {
  hw_pool* pool = self->pool;
  self->pool = NULL;
  if (!pool) return;
  Py_BEGIN_ALLOW_THREADS
  hw_pool_free(pool);
  Py_END_ALLOW_THREADS
}

static void pool_dealloc(hw_py_pool* self) {
  PyObject_GC_UnTrack(self);
  stop_pool(self);
  hw_py_free((PyObject*)self);
}

static PyObject* pool_stop(hw_py_pool* self, PyObject* unused) {
  (void)unused;
  stop_pool(self);
  Py_RETURN_NONE;
}

static PyObject* pool_pids(hw_py_pool* self, void* closure) {
  (void)closure;
  hw_pool* pool = self->pool;
  if (!pool) return PyList_New(0);
  pid_t* live = malloc(sizeof *live * (size_t)(pool->n > 0 ? pool->n : 1));
  if (!live) return PyErr_NoMemory();
  PyObject* pids = PyList_New(0);
  int32_t n = 0;
  hw_pool_ref(pool); /* another thread may stop the pool meanwhile */
  Py_BEGIN_ALLOW_THREADS
  pthread_mutex_lock(&pool->mu); /* queries share the pool: its slots change under this lock */
  for (int32_t i = 0; !pool->stopped && i < pool->n; i++) {
    hw_worker* w = &pool->workers[i];
    /* a claimed worker is its query's to reap if it died */
    if (w->claimed ? w->pid != 0 : hw_pool_alive(pool, i)) live[n++] = w->pid;
  }
  pthread_mutex_unlock(&pool->mu);
  Py_END_ALLOW_THREADS
  hw_pool_unref(pool);
  for (int32_t i = 0; pids && i < n; i++) {
    PyObject* pid = PyLong_FromLong(live[i]);
    if (!pid || PyList_Append(pids, pid) != 0) Py_CLEAR(pids);
    Py_XDECREF(pid);
  }
  free(live);
  return pids;
}

static PyObject* pool_size(hw_py_pool* self, void* closure) {
  (void)closure;
  return PyLong_FromLong(self->pool ? self->pool->n : 0);
}

static PyObject* pool_get_grace(hw_py_pool* self, void* closure) {
  (void)closure;
  return PyLong_FromLong(self->pool ? atomic_load(&self->pool->cancel_grace_ms) : HW_CANCEL_GRACE_MS_DEFAULT);
}

static int pool_set_grace(hw_py_pool* self, PyObject* value, void* closure) {
  (void)closure;
  long ms = value ? PyLong_AsLong(value) : -1;
  if (ms == -1 && PyErr_Occurred()) return -1;
  if (ms < 0 || ms > 24L * 3600 * 1000) {
    PyErr_SetString(PyExc_ValueError, "cancel_grace_ms must be an int from 0 to 86400000");
    return -1;
  }
  if (self->pool) atomic_store(&self->pool->cancel_grace_ms, (int)ms);
  return 0;
}

static PyObject* pool_set_recycle(hw_py_pool* self, PyObject* args) {
  long long max_tasks, max_rss;
  if (!PyArg_ParseTuple(args, "LL", &max_tasks, &max_rss)) return NULL;
  if (self->pool) hw_pool_set_recycle(self->pool, max_tasks, max_rss);
  Py_RETURN_NONE;
}

static PyObject* pool_recycled(hw_py_pool* self, void* closure) {
  (void)closure;
  if (!self->pool) return PyLong_FromLong(0);
  pthread_mutex_lock(&self->pool->mu);
  long long n = self->pool->recycled;
  pthread_mutex_unlock(&self->pool->mu);
  return PyLong_FromLongLong(n);
}

static PyMethodDef pool_methods[] = {
    {"stop", (PyCFunction)pool_stop, METH_NOARGS, "Stop and reap every worker (idempotent)."},
    {"set_recycle", (PyCFunction)pool_set_recycle, METH_VARARGS,
     "set_recycle(max_tasks, max_rss_bytes): replace a worker between tasks once it ran max_tasks tasks or "
     "its private resident memory exceeds max_rss_bytes (<= 0: no limit)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef pool_getset[] = {
    {"pids", (getter)pool_pids, NULL, "Process ids of the live workers.", NULL},
    {"size", (getter)pool_size, NULL, "Number of worker slots (0 once stopped).", NULL},
    {"cancel_grace_ms", (getter)pool_get_grace, (setter)pool_set_grace,
     "Milliseconds a cancelled (or disconnected) worker gets to stop before SIGKILL.", NULL},
    {"recycled", (getter)pool_recycled, NULL, "Workers replaced so far for reaching a recycling limit.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot pool_slots[] = {
    {Py_tp_new, HW_PY_SLOT_FN(pool_new)},
    {Py_tp_dealloc, HW_PY_SLOT_FN(pool_dealloc)},
    {Py_tp_traverse, HW_PY_SLOT_FN(hw_py_traverse_type)},
    {Py_tp_doc, "WorkerPool(workers, python, env): worker processes started with posix_spawn."},
    {Py_tp_methods, HW_PY_SLOT_FN(pool_methods)},
    {Py_tp_getset, HW_PY_SLOT_FN(pool_getset)},
    {0, NULL},
};

PyType_Spec hw_py_pool_spec = {
    .name = "headwater._core.WorkerPool",
    .basicsize = sizeof(hw_py_pool),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = pool_slots,
};

PyObject* hw_py_worker_main(PyObject* module, PyObject* args) {
  (void)module;
  int fd, parent;
  if (!PyArg_ParseTuple(args, "ii", &fd, &parent)) return NULL;
  hw_worker_main(fd, (pid_t)parent);
  if (PyErr_Occurred()) return NULL;
  Py_RETURN_NONE;
}
