/*
 * The runtime: starts the embedded interpreter (or attaches to the host's), imports
 * headwater.capi, and releases the GIL so that any thread may call in.
 */
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capi/capi.h"
#include "common/error.h"

void hw_runtime_options_init(hw_runtime_options* opts) { memset(opts, 0, sizeof *opts); }

static void copy_text(char* dst, size_t cap, PyObject* o) {
  const char* s = o && PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
  if (!s) {
    PyErr_Clear();
    s = "";
  }
  size_t n = strlen(s);
  if (n >= cap) s += n - (cap - 1); /* keep the tail: a traceback ends with the error */
  snprintf(dst, cap, "%s", s);
  hw_utf8_trim_cut(dst);
}

void hw_capi_error_from_tuple(PyObject* t, hw_error* err) {
  hw_error_init(err);
  if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 6) {
    hw_error_set(err, "HW_INTERNAL", "headwater.capi gave a malformed error");
    return;
  }
  copy_text(err->error_class, sizeof err->error_class, PyTuple_GET_ITEM(t, 0));
  char msg[sizeof err->message];
  const char* m = PyUnicode_Check(PyTuple_GET_ITEM(t, 1)) ? PyUnicode_AsUTF8(PyTuple_GET_ITEM(t, 1)) : NULL;
  if (!m) PyErr_Clear();
  snprintf(msg, sizeof msg, "%s", m ? m : "");
  hw_utf8_trim_cut(msg);
  memcpy(err->message, msg, sizeof msg);
  err->partition = PyLong_AsLongLong(PyTuple_GET_ITEM(t, 2));
  err->row = PyLong_AsLongLong(PyTuple_GET_ITEM(t, 3));
  err->column = (int32_t)PyLong_AsLong(PyTuple_GET_ITEM(t, 4));
  if (PyErr_Occurred()) PyErr_Clear();
  copy_text(err->traceback, sizeof err->traceback, PyTuple_GET_ITEM(t, 5));
}

int hw_capi_error_from_python(hw_runtime* rt, hw_error* err, int64_t partition) {
  PyObject *type, *exc, *tb;
  PyErr_Fetch(&type, &exc, &tb);
  PyErr_NormalizeException(&type, &exc, &tb);
  if (exc && tb) PyException_SetTraceback(exc, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  if (!exc) return hw_error_set(err, "HW_INTERNAL", "a call failed without an exception");
  PyObject* t = rt && rt->capi ? PyObject_CallMethod(rt->capi, "describe_error", "OL", exc, (long long)partition) : NULL;
  if (t) {
    hw_capi_error_from_tuple(t, err);
    Py_DECREF(t);
  } else {
    PyErr_Clear();
    PyObject* s = PyObject_Str(exc);
    hw_error_init(err);
    hw_error_set(err, Py_TYPE(exc)->tp_name, "%s", s && PyUnicode_Check(s) ? PyUnicode_AsUTF8(s) : "?");
    PyErr_Clear();
    Py_XDECREF(s);
  }
  Py_DECREF(exc);
  return -1;
}

/* The environment libheadwater is installed in: <prefix>/lib/pythonX.Y/site-packages/headwater/lib. */
static int installed_prefix(char* out, size_t cap) {
  Dl_info info;
  static const int anchor = 0; /* any symbol of this library */
  if (!dladdr(&anchor, &info) || !info.dli_fname) return -1;
  char path[PATH_MAX];
  if (!realpath(info.dli_fname, path)) return -1;
  for (int up = 0; up < 6; up++) dirname(path); /* lib, headwater, site-packages, pythonX.Y, lib */
  char python[PATH_MAX + 16];
  snprintf(python, sizeof python, "%s/bin/python3", path);
  if (access(python, X_OK) != 0) return -1;
  snprintf(out, cap, "%s", path);
  return 0;
}

static int start_interpreter(const hw_runtime_options* o, hw_error* err) {
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.install_signal_handlers = 0; /* the host's signals stay the host's */
  config.parse_argv = 0;
  char prefix[PATH_MAX];
  const char* venv = o && o->venv ? o->venv : (installed_prefix(prefix, sizeof prefix) == 0 ? prefix : NULL);
  PyStatus st = PyStatus_Ok();
  if (venv) {
    /* the venv's python as the program: its pyvenv.cfg gives sys.prefix and site-packages, and
     * sys.executable is what the worker processes are started with */
    char exe[PATH_MAX + 16];
    snprintf(exe, sizeof exe, "%s/bin/python3", venv);
    st = PyConfig_SetBytesString(&config, &config.program_name, exe);
    if (!PyStatus_Exception(st)) st = PyConfig_SetBytesString(&config, &config.executable, exe);
  }
  if (!PyStatus_Exception(st) && o && o->python_home)
    st = PyConfig_SetBytesString(&config, &config.home, o->python_home);
  if (!PyStatus_Exception(st)) st = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(st))
    return hw_error_set(err, "HW_RUNTIME", "cannot start the Python interpreter: %s",
                        st.err_msg ? st.err_msg : "unknown error");
  return 0;
}

int hw_runtime_new(const hw_runtime_options* opts, hw_runtime** out, hw_error* err) {
  hw_runtime* rt = calloc(1, sizeof *rt);
  if (!rt) return hw_error_oom(err);
  bool embedded = !Py_IsInitialized();
  if (embedded && start_interpreter(opts, err) != 0) {
    free(rt);
    return -1;
  }
  PyGILState_STATE g = PyGILState_Ensure();
  int rc = 0;
  if (opts && opts->python_path) {
    PyObject* sys_path = PySys_GetObject("path"); /* borrowed */
    char* copy = strdup(opts->python_path);
    int at = 0;
    for (char* tok = copy ? strtok(copy, ":") : NULL; tok && sys_path; tok = strtok(NULL, ":")) {
      PyObject* s = PyUnicode_FromString(tok);
      if (s) PyList_Insert(sys_path, at++, s);
      Py_XDECREF(s);
    }
    free(copy);
  }
  rt->capi = PyImport_ImportModule("headwater.capi");
  rt->runtime = rt->capi ? PyObject_CallMethod(rt->capi, "Runtime", NULL) : NULL;
  if (!rt->runtime) {
    hw_capi_error_from_python(rt, err, -1);
    hw_error_prefix(err, "cannot load headwater in Python: ");
    Py_CLEAR(rt->capi);
    rc = -1;
  }
  PyGILState_Release(g);
  if (embedded) rt->main = PyEval_SaveThread(); /* the GIL is free: any thread may take it */
  if (rc != 0) {
    hw_runtime_free(rt);
    return -1;
  }
  *out = rt;
  return 0;
}

int hw_runtime_set(hw_runtime* rt, const char* key, const char* value, hw_error* err) {
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject* r = PyObject_CallMethod(rt->runtime, "set", "ss", key, value);
  int rc = r ? 0 : hw_capi_error_from_python(rt, err, -1);
  Py_XDECREF(r);
  PyGILState_Release(g);
  return rc;
}

void hw_runtime_free(hw_runtime* rt) {
  if (!rt) return;
  PyGILState_STATE g = PyGILState_LOCKED;
  if (rt->main) PyEval_RestoreThread(rt->main);
  else g = PyGILState_Ensure();
  if (rt->runtime) {
    PyObject* r = PyObject_CallMethod(rt->runtime, "close", NULL);
    if (!r) PyErr_Clear();
    Py_XDECREF(r);
  }
  Py_CLEAR(rt->runtime);
  Py_CLEAR(rt->capi);
  if (rt->main) Py_FinalizeEx(); /* ours: the interpreter ends with the runtime */
  else PyGILState_Release(g);
  free(rt);
}
