/*
 * The inside of a scan (pyexec/scan.h), shared by its files: scan.c (configuration, failures,
 * the stream, the lifecycle), scan_inline.c, scan_threads.c (thread mode, and the consumer's side
 * of the queues both queued modes share) and scan_process.c (process mode: the proxies that drive
 * worker processes). Not a public header.
 */
#ifndef HW_PYEXEC_SCAN_INTERNAL_H
#define HW_PYEXEC_SCAN_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "pyexec/partition_reader.h"
#include "pyexec/scan.h"

/* Finished batches of one partition waiting for the consumer (thread mode). */
typedef struct part_queue {
  struct ArrowArray* items; /* ring of capacity */
  int32_t* producers;       /* process mode: the worker that sent each item (it gets a credit back) */
  int32_t capacity;
  int32_t head;
  int32_t count;
  bool done;
  int64_t popped;   /* batches the consumer took: a partition is retried only while none were */
  int64_t serial;   /* process mode: the SETUP its worker ran it under (credits name it) */
  int32_t attempts; /* process mode: runs that ended with the worker dying */
} part_queue;

struct hw_scan {
  atomic_int refs;
  hw_field schema;          /* what the stream yields: the source's schema, or the pruned columns of it */
  hw_field read_schema;     /* the source's schema: rows and RecordBatches are checked against it */
  int32_t* columns;         /* column pruning: positions in read_schema (NULL: all) */
  int32_t n_columns;
  int64_t delivered;        /* rows handed to the consumer (the limit counts them) */
  hw_scan_config cfg;
  PyObject* read_fn;
  PyObject* partitions;     /* list */
  int64_t n_partitions;
  PyObject* record_batch_type; /* pyarrow.RecordBatch, or NULL when pyarrow is absent */
  char* source_name;
  hw_read_context ctx;      /* points into the fields above */
  bool streamed;

  /* shared state: mu guards everything below */
  pthread_mutex_t mu;
  pthread_cond_t changed;
  bool failed;
  hw_error error;
  PyObject* exception;      /* the source's own exception, when that is what failed */
  int64_t batches_out;
  int64_t rows_out;
  hw_partition_stats* stats; /* the run report: one per partition, filled as each one ends (partition < 0: not yet) */
  int64_t partitions_done;
  int64_t bytes_done;        /* bytes of the partitions done */

  /* inline mode */
  hw_partition_reader inline_reader;
  int64_t inline_next;      /* next partition to open */

  /* thread mode */
  atomic_bool cancelled;
  int64_t next_claim;       /* next partition a worker takes */
  int64_t consumer_at;      /* lowest partition the consumer has not finished */
  part_queue* queues;
  pthread_t* threads;
  int32_t n_threads;

  /* process mode */
  hw_pool* pool;              /* its workers are claimed one task at a time (ipc/lease.c) */
  PyObject* pickled_reader;   /* bytes */
  PyObject* pickled_partitions; /* list of bytes */
  char* schema_json;
  int64_t query;
  char* traceback;            /* a worker's formatted traceback, with the failure */
  int64_t* retry;             /* partitions to run again (a worker died on them), claimed first */
  int64_t n_retry;
  struct proxy* proxies;
};

/* Whether queues (and so the batches in flight per worker) are bounded; unbounded ones suit a
 * consumer that keeps everything anyway (collect, toArrow) and wants partition order. */
static inline bool bounded(const hw_scan* s) { return s->cfg.queue_depth > 0; }

/* One host thread per worker process in process mode: it feeds its worker partitions and files the
 * batches that come back. */
typedef struct proxy {
  hw_scan* scan;
  int32_t slot;
  int64_t running; /* partition the worker is on, -1 when idle */
} proxy;

/* scan.c: queues and failures. */
/* Appends a batch (moved) from producer; grows when allowed. -1 when full or out of memory. mu held. */
int scan_queue_push(part_queue* q, struct ArrowArray* batch, int32_t producer, bool bounded);
/* Records the first failure (later ones are consequences). GIL held; takes the current Python
 * exception, if any, as the source's own error. */
void scan_record_failure(hw_scan* s, const hw_error* err, bool python_error, int64_t partition);
void scan_count_batch(hw_scan* s, const struct ArrowArray* batch);
/* A partition ended: its statistics go into the run report (any thread; mu not held); from a
 * partition reader's counters, or as a worker reported them. */
void scan_record_stats(hw_scan* s, int64_t partition, const hw_partition_stats* st);
void scan_record_reader_stats(hw_scan* s, int64_t partition, hw_partition_reader* r);
/* A failure reported by a worker process, or a cancel (no GIL needed). */
void scan_record_worker_failure(hw_scan* s, const hw_error* err, const char* traceback);

/* scan_inline.c: the next batch, read in the consumer's thread. GIL taken. */
int scan_inline_next(hw_scan* s, struct ArrowArray* out);

/* scan_threads.c */
/* Starts the scan's threads: C threads reading partitions, or one proxy per worker process. */
int scan_start_threads(hw_scan* s, hw_error* err);
/* The next queued batch for the consumer (thread and process modes); credits go back to workers. */
int scan_thread_next(hw_scan* s, struct ArrowArray* out);
/* Stops and joins (or, in thread mode, abandons after the grace period) the scan's threads. */
void scan_stop_threads(hw_scan* s);

/* scan_process.c */
void* scan_proxy_main(void* arg);
void scan_cancel_workers(hw_scan* s);
int32_t scan_join_or_kill(hw_scan* s);

#endif
