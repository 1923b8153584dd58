/*
 * Reading one partition: call the source's read(partition), step the iterator
 * it returns, convert rows in C and pass RecordBatches through, batch by
 * batch. Shared by the in-process scan (inline and thread modes) and the
 * worker processes. Every function needs the GIL.
 */
#ifndef HW_PYEXEC_PARTITION_READER_H
#define HW_PYEXEC_PARTITION_READER_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "arrow/allocator.h"
#include "ipc/stats.h"
#include "pyexec/rows_to_arrow.h"
#include "schema/field.h"

/* What every partition of one query is read with. All borrowed. */
typedef struct hw_read_context {
  const hw_field* schema;      /* struct */
  PyObject* read_fn;           /* read(partition) -> iterator */
  PyObject* record_batch_type; /* pyarrow.RecordBatch, or NULL */
  const char* source_name;
  int64_t max_rows_per_batch;
  int64_t max_bytes_per_batch; /* <= 0: no limit */
  const hw_allocator* allocator;
  const atomic_bool* cancelled; /* stops reading at the next row when set; may be NULL */
  const int32_t* columns;       /* column pruning: the schema positions converted (ascending); NULL: all */
  int32_t n_columns;
  bool exact_batches; /* RecordBatches must match the schema exactly (Spark API readers, as PySpark 4.3) */
} hw_read_context;

/* Whether this thread holds the GIL. Not PyGILState_Check: once a subinterpreter was created in
 * the process, 3.11 and 3.12 turn that check off (it then says 1 on every thread). */
static inline bool hw_gil_held(void) {
#if PY_VERSION_HEX >= 0x030D0000
  return PyThreadState_GetUnchecked() != NULL;
#elif PY_VERSION_HEX >= 0x030C0000
  return _PyThreadState_UncheckedGet() != NULL; /* this thread's: thread-local since 3.12 */
#else
  /* 3.11: the current thread state is the process's (the GIL holder's): held when it is ours */
  PyThreadState* current = _PyThreadState_UncheckedGet();
  return current != NULL && current == PyGILState_GetThisThreadState();
#endif
}

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t hw_now_ns(void);

typedef struct hw_partition_reader {
  hw_partition_stats stats;
  int64_t index;
  PyObject* iterator;      /* NULL until opened */
  hw_row_converter* conv;
  bool arrow_items;        /* the first item was a RecordBatch: Spark then takes all items as batches */
  bool seen_item;
} hw_partition_reader;

/* Calls read(partition) and checks it returned an iterator. On failure err is set and, when the
 * source's own code raised, the Python exception stays raised (*python_error = true). */
int hw_partition_open(const hw_read_context* ctx, hw_partition_reader* r, int64_t index, PyObject* partition,
                      hw_error* err, bool* python_error);

/* The partition's next batch into out (*done = false), or *done = true at its end (or when
 * cancelled). On failure as hw_partition_open. */
int hw_partition_next_batch(const hw_read_context* ctx, hw_partition_reader* r, struct ArrowArray* out, bool* done,
                            hw_error* err, bool* python_error);

/* The reader's statistics, final: the row loop's time split by the sampled ratio, wall time to now. */
void hw_partition_stats_finish(hw_partition_reader* r, hw_partition_stats* out);

/* Frees what the reader holds; safe on a zeroed or closed reader. */
void hw_partition_close(hw_partition_reader* r);

/* The raised Python exception as one object with its traceback attached (cleared); NULL if none. */
PyObject* hw_take_exception(void);

/* The pyarrow.RecordBatch type, or NULL when pyarrow cannot be imported (new reference). */
PyObject* hw_record_batch_type(void);

#endif
