/*
 * The iterator a DataSourceWriter's write(iterator) receives: the partition's batches, as Rows
 * converted in C a batch at a time (plain writers) or as the RecordBatches themselves (Arrow
 * writers), counted and timed for the run report once per batch, never per row. Needs the GIL.
 */
#ifndef HW_PYEXEC_WRITE_FEED_H
#define HW_PYEXEC_WRITE_FEED_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "common/error.h"

/* The WriteFeed type, a new heap type (a new reference, NULL with an exception). raise turns a
 * conversion error into the extension's exception (python/glue's hw_py_raise). */
PyObject* hw_write_feed_type_new(PyObject* module, PyObject* (*raise)(const hw_error* err));

#endif
