/*
 * The CPython extension module headwater._core: glue between Python and the
 * C core. Nothing here runs per row; the converter does (src/pyexec/rows_to_arrow.c).
 *
 * Written as CPython's own modules are: multi-phase initialisation (PEP 489), heap types made
 * from specs (PEP 573/687) and module state instead of static globals, so each interpreter
 * that imports _core (the main one, a subinterpreter) gets its own types. Code reaches the
 * state through the module (module functions) or through an object's type (methods,
 * PyType_GetModuleByDef). Every function here needs the GIL unless it says otherwise.
 */
#ifndef HW_PYTHON_GLUE_H
#define HW_PYTHON_GLUE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "arrow/array.h"
#include "schema/field.h"

/* Raises the headwater exception for err (class chosen by headwater.errors). Returns NULL. GIL. */
PyObject* hw_py_raise(const hw_error* err);

/* headwater._core.Schema: an hw_field with __arrow_c_schema__. */
typedef struct {
  PyObject_HEAD
  hw_field field;
} hw_py_schema;

/* headwater._core.RecordBatch: a struct array shared with every consumer it is exported to. */
typedef struct {
  PyObject_HEAD
  hw_field schema;
  hw_shared_array* array;
} hw_py_batch;

/* headwater._core.ArrowStream: either batches held in memory, exported afresh (as views) on every
 * __arrow_c_stream__ call, or a foreign stream taken over by import, which can be consumed once. */
typedef struct {
  PyObject_HEAD
  hw_field schema;            /* in-memory form */
  hw_shared_array** batches;  /* in-memory form: owned references; NULL for the one-shot form */
  int64_t n_batches;
  struct ArrowArrayStream stream; /* one-shot form: release == NULL once consumed */
} hw_py_stream;

/* The module's state: its types, created by the module's exec slot (module.c). */
typedef struct {
  PyTypeObject* schema_type;
  PyTypeObject* batch_type;
  PyTypeObject* stream_type;
  PyTypeObject* scan_type;
  PyTypeObject* pool_type;
} hw_py_state;

extern PyModuleDef hw_py_module_def;

/* The state of a _core module object (a module function's first argument). */
hw_py_state* hw_py_state_of_module(PyObject* module);

/* The state of the _core module that defined type (or a base of it). */
hw_py_state* hw_py_state_of_type(PyTypeObject* type);

/* The specs the exec slot makes the types from (capsules.c, scan_object.c, pool_object.c). */
extern PyType_Spec hw_py_schema_spec;
extern PyType_Spec hw_py_batch_spec;
extern PyType_Spec hw_py_stream_spec;
extern PyType_Spec hw_py_scan_spec;
extern PyType_Spec hw_py_pool_spec;

/* A function as a PyType_Slot / PyModuleDef_Slot value (void*): through an integer, since ISO C
 * has no conversion from a function pointer to void*. */
#define HW_PY_SLOT_FN(fn) ((void*)(uintptr_t)(fn))

/* tp_traverse of a type whose objects hold no Python references but their (heap) type. */
int hw_py_traverse_type(PyObject* self, visitproc visit, void* arg);

/* tp_dealloc's ending for the heap types here: frees self and drops its reference to its type. */
void hw_py_free(PyObject* self);

/* headwater._core.WorkerPool */
typedef struct hw_pool hw_pool;
typedef struct {
  PyObject_HEAD
  hw_pool* pool; /* NULL once stopped */
} hw_py_pool;

/* _core.run_tasks(pool, tasks): pickled tasks on worker processes (task_object.c). */
PyObject* hw_py_run_tasks(PyObject* module, PyObject* args);

/* _core.worker_main(fd, parent_pid): the loop of a worker process. */
PyObject* hw_py_worker_main(PyObject* module, PyObject* args);

/* _core.rate_batch(partition, num_partitions, start, end, start_ms, ms_per_value) (rate_glue.c). */
PyObject* hw_py_rate_batch(PyObject* module, PyObject* args);

/* Constructors of st's types. Each takes ownership of what it is given (moved), also on failure. GIL. */
PyObject* hw_py_schema_new(hw_py_state* st, hw_field* field);
PyObject* hw_py_batch_new(hw_py_state* st, hw_field* schema, struct ArrowArray* array);
PyObject* hw_py_stream_new(hw_py_state* st, struct ArrowArrayStream* stream);
PyObject* hw_py_stream_from_batches(hw_py_state* st, hw_field* schema, struct ArrowArray* batches, int64_t n);

/* Destructor of an "arrow_array_stream" capsule whose stream was malloc'ed: releases and frees it. */
void hw_py_release_stream_capsule(PyObject* capsule);

/* Parses the DDL in str (a Python str) into *out, or sets a Python exception and returns -1. An
 * embedded NUL, a lone surrogate or invalid text is a ParseException at its position. GIL. */
int hw_py_ddl_parse(PyObject* str, hw_field* out);

/* Reads obj's schema: DDL text, a headwater Schema (of st), or anything with __arrow_c_schema__. GIL. */
int hw_py_field_from_object(hw_py_state* st, PyObject* obj, hw_field* out);

#endif
