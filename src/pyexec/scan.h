/*
 * A scan: the partitions of one query, each read by calling the data
 * source's read(partition) and converting what it yields to Arrow in C,
 * handed to the consumer as an ArrowArrayStream.
 *
 * Modes:
 *   inline - the consumer's thread does the work inside get_next, lazily: the
 *            first batch is out before the source has finished;
 *   thread - a pool of C threads, each taking the next partition, stepping its
 *            Python iterator under the GIL and releasing the GIL while it waits
 *            to hand a batch over. Batches wait in a small bounded queue per
 *            partition, so memory stays bounded and, in ordered mode, the
 *            consumer always makes progress on the lowest unfinished partition.
 *
 * Semantics follow Spark's Python data source reader: read() must return an
 * iterator; items are tuples, lists, Rows (converted) or pyarrow RecordBatches
 * (passed through after checking their columns); rows are grouped into batches
 * of at most max_rows_per_batch rows (or max_bytes_per_batch bytes); batches
 * never span partitions.
 *
 * A scan is shared by reference count between its creator and the stream it
 * is moved into, so the creator can still ask why it failed.
 */
#ifndef HW_PYEXEC_SCAN_H
#define HW_PYEXEC_SCAN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

#include "ipc/pool.h"
#include "pyexec/partition_reader.h"
#include "schema/field.h"

typedef enum hw_exec_mode {
  HW_EXEC_INLINE,
  HW_EXEC_THREAD,
  HW_EXEC_PROCESS,
} hw_exec_mode;

typedef struct hw_scan_config {
  hw_exec_mode mode;
  int32_t workers;             /* thread mode: threads (capped at the number of partitions) */
  int64_t max_rows_per_batch;  /* Spark's spark.sql.execution.arrow.maxRecordsPerBatch: 10000 */
  int64_t max_bytes_per_batch; /* a batch also closes at this many buffer bytes; <= 0: no limit */
  int32_t queue_depth;         /* thread/process: batches buffered per partition (per worker in flight);
                                  <= 0: unbounded, for consumers that keep everything anyway */
  bool ordered;                /* thread mode: partition order (true) or as completed (false) */
  int32_t task_retries;        /* process mode: runs again a partition whose worker died (default 0) */
  int32_t cancel_grace_ms;     /* thread mode: how long a cancelled scan waits for its threads; one still in
                                  the source's code after it is left to finish on its own (default 2000;
                                  process mode takes the pool's) */
  int64_t limit;               /* the stream ends after this many rows, stopping the partitions (< 0: none) */
  int64_t first_index;         /* inline/thread: index of the first partition in messages (a write task
                                  scans one partition of a larger DataFrame; default 0) */
  bool exact_batches;          /* RecordBatches the source yields must match the schema exactly (the
                                  Spark API's rule); false: matched by name, large types narrowed */
} hw_scan_config;

/* Spark's defaults, thread count from the machine. */
void hw_scan_config_default(hw_scan_config* cfg);

typedef struct hw_scan hw_scan;

/*
 * Makes a scan of `partitions` (a list; each item is passed to read_fn) with rows converted to
 * schema (a struct). read_fn(partition) must return an iterator. source_name names the source in
 * messages. Takes new references to read_fn and partitions. GIL.
 */
int hw_scan_new(hw_scan** out, const hw_field* schema, PyObject* read_fn, PyObject* partitions,
                const char* source_name, const hw_scan_config* cfg, hw_error* err);

/*
 * Process mode: the partitions run on pool's worker processes, claimed one partition at a time and
 * shared with the session's other queries (ipc/lease.c). pickled_reader is the reader (cloudpickle bytes),
 * pickled_partitions a list of bytes, one per partition. Call before hw_scan_stream. GIL.
 */
int hw_scan_use_pool(hw_scan* scan, hw_pool* pool, PyObject* pickled_reader, PyObject* pickled_partitions,
                     hw_error* err);

/* Column pruning: the stream yields only the columns at columns[0..n) (strictly ascending positions
 * in the schema); rows are still checked against the whole schema. Call before hw_scan_use_pool and
 * hw_scan_stream. GIL. */
int hw_scan_project(hw_scan* scan, const int32_t* columns, int32_t n, hw_error* err);

/* Starts the scan and writes the stream that yields its batches; the stream holds its own
 * reference. A scan can be streamed once. GIL. */
int hw_scan_stream(hw_scan* scan, struct ArrowArrayStream* out, hw_error* err);

/* Why the scan failed: returns false if it has not. Otherwise fills err; when the failure was an
 * exception raised by the source's own code in this process, *exception gets a new reference to
 * it (else NULL); when it was raised in a worker process, *traceback gets its formatted traceback
 * (malloc'd; else NULL). GIL. */
bool hw_scan_failure(hw_scan* scan, hw_error* err, PyObject** exception, char** traceback);

/* The run report: the statistics of every partition that has ended, in partition order (*out is
 * malloc'd; the caller frees it). -1 when out of memory. Any thread. */
int hw_scan_report(hw_scan* scan, hw_partition_stats** out, int64_t* n);

/* For a progress bar: partitions ended of all, rows handed to the consumer, bytes of the ended
 * partitions. Any thread, no GIL. */
void hw_scan_progress(hw_scan* scan, int64_t* done, int64_t* total, int64_t* rows, int64_t* bytes);

/* Batches and rows produced so far. */
void hw_scan_counts(hw_scan* scan, int64_t* batches, int64_t* rows);

/* Cancels the scan from any thread (no GIL needed): it fails as HW_CANCELLED and the source's
 * iterator is not stepped again; what still runs is stopped when the stream is released. */
void hw_scan_cancel(hw_scan* scan);

/* Drops a reference; the last one stops the workers and frees everything. Any thread, with or
 * without the GIL. */
void hw_scan_unref(hw_scan* scan);

#endif
