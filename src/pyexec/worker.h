/* The loop a worker process runs (see worker.c). */
#ifndef HW_PYEXEC_WORKER_H
#define HW_PYEXEC_WORKER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sys/types.h>

/* Serves the host on sock until it says SHUTDOWN or goes away; exits the process if parent dies.
 * Needs the GIL (released while waiting). */
int hw_worker_main(int sock, pid_t parent);

#endif
