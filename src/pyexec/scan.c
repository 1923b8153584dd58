#include "pyexec/scan.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "arrow/array.h"
#include "arrow/allocator.h"
#include "common/error.h"
#include "pyexec/partition_reader.h"

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

/* Makes room for one more item, growing the ring (unbounded queues only). mu held. */
static int queue_grow(part_queue* q) {
  int32_t cap = q->capacity ? q->capacity * 2 : 4;
  struct ArrowArray* items = calloc((size_t)cap, sizeof *items);
  int32_t* producers = calloc((size_t)cap, sizeof *producers);
  if (!items || !producers) {
    free(items);
    free(producers);
    return -1;
  }
  for (int32_t k = 0; k < q->count; k++) {
    int32_t from = (q->head + k) % q->capacity;
    items[k] = q->items[from]; /* a plain struct copy moves an ArrowArray */
    producers[k] = q->producers[from];
  }
  free(q->items);
  free(q->producers);
  q->items = items;
  q->producers = producers;
  q->capacity = cap;
  q->head = 0;
  return 0;
}

/* Appends a batch (moved) from producer; grows when allowed. -1 when full or out of memory. */
static int queue_push(part_queue* q, struct ArrowArray* batch, int32_t producer, bool bounded) {
  if (q->count == q->capacity && (bounded || queue_grow(q) != 0)) return -1;
  int32_t slot = (q->head + q->count) % q->capacity;
  hw_array_move(batch, &q->items[slot]);
  q->producers[slot] = producer;
  q->count++;
  return 0;
}

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
static bool bounded(const hw_scan* s) { return s->cfg.queue_depth > 0; }

/* One host thread per worker process in process mode: it feeds its worker partitions and files the
 * batches that come back. */
typedef struct proxy {
  hw_scan* scan;
  int32_t slot;
  int64_t running; /* partition the worker is on, -1 when idle */
} proxy;

void hw_scan_config_default(hw_scan_config* cfg) {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  cfg->mode = HW_EXEC_INLINE;
  cfg->workers = cpus > 0 ? (int32_t)cpus : 1;
  cfg->max_rows_per_batch = 10000;
  cfg->max_bytes_per_batch = 64 << 20;
  cfg->queue_depth = 2;
  cfg->ordered = true;
  cfg->task_retries = 0;
  cfg->limit = -1;
  cfg->first_index = 0;
  cfg->exact_batches = false;
  cfg->cancel_grace_ms = 2000;
}

/* ---------------------------------------------------------------- failures */

/* Records the first failure (later ones are consequences). The caller holds the GIL; takes the
 * current Python exception, if any, as the source's own error. */
static void record_failure(hw_scan* s, const hw_error* err, bool python_error, int64_t partition) {
  PyObject* exc = NULL;
  if (python_error) {
    exc = hw_take_exception();
  }
  pthread_mutex_lock(&s->mu);
  if (!s->failed) {
    s->failed = true;
    s->error = *err;
    if (s->error.partition < 0) s->error.partition = partition;
    s->exception = exc;
    exc = NULL;
  }
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->mu);
  Py_XDECREF(exc);
}

static void count_batch(hw_scan* s, const struct ArrowArray* batch) {
  pthread_mutex_lock(&s->mu);
  s->batches_out++;
  s->rows_out += batch->length;
  pthread_mutex_unlock(&s->mu);
}

/* A partition ended: its statistics go into the run report (any thread; mu not held). */
static void record_stats(hw_scan* s, int64_t at, const hw_partition_stats* st) {
  pthread_mutex_lock(&s->mu);
  if (s->stats && at >= 0 && at < s->n_partitions) {
    if (s->stats[at].partition < 0) s->partitions_done++;
    s->stats[at] = *st;
    s->bytes_done += st->bytes;
  }
  pthread_mutex_unlock(&s->mu);
}

static void record_reader_stats(hw_scan* s, int64_t at, hw_partition_reader* r) {
  hw_partition_stats st;
  hw_partition_stats_finish(r, &st);
  record_stats(s, at, &st);
}

/* A failure reported by a worker process (no GIL needed). */
static void record_worker_failure(hw_scan* s, const hw_error* err, const char* traceback) {
  pthread_mutex_lock(&s->mu);
  if (!s->failed) {
    s->failed = true;
    s->error = *err;
    s->traceback = traceback && traceback[0] ? strdup(traceback) : NULL;
  }
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->mu);
}

/* ---------------------------------------------------------------- inline mode */

static int inline_next(hw_scan* s, struct ArrowArray* out) {
  PyGILState_STATE gil = PyGILState_Ensure();
  hw_error err;
  hw_error_init(&err);
  int rc = 0;
  for (;;) {
    if (s->failed) {
      rc = EIO;
      break;
    }
    hw_partition_reader* r = &s->inline_reader;
    bool python_error;
    if (!r->iterator) {
      if (s->inline_next >= s->n_partitions) {
        memset(out, 0, sizeof *out); /* end of stream */
        break;
      }
      int64_t at = s->inline_next++, index = at + s->cfg.first_index;
      if (hw_partition_open(&s->ctx, r, index, PyList_GET_ITEM(s->partitions, at), &err, &python_error) != 0) {
        record_failure(s, &err, python_error, index);
        hw_partition_close(r);
        rc = EIO;
        break;
      }
    }
    bool done;
    if (hw_partition_next_batch(&s->ctx, r, out, &done, &err, &python_error) != 0) {
      record_failure(s, &err, python_error, r->index);
      hw_partition_close(r);
      rc = EIO;
      break;
    }
    if (!done) {
      count_batch(s, out);
      break;
    }
    record_reader_stats(s, s->inline_next - 1, r);
    hw_partition_close(r);
  }
  PyGILState_Release(gil);
  return rc;
}

/* ---------------------------------------------------------------- thread mode */

/* Waits on the condition with the GIL released if this thread holds it. mu must be held. */
static void wait_changed(hw_scan* s) { pthread_cond_wait(&s->changed, &s->mu); }

static void* worker_main(void* arg) {
  hw_scan* s = arg;
  PyGILState_STATE gil = PyGILState_Ensure();
  hw_partition_reader r;
  memset(&r, 0, sizeof r);
  hw_error err;
  hw_error_init(&err);
  for (;;) {
    pthread_mutex_lock(&s->mu);
    int64_t index = s->failed ? s->n_partitions : s->next_claim++;
    pthread_mutex_unlock(&s->mu);
    if (index >= s->n_partitions || atomic_load(&s->cancelled)) break;
    bool python_error;
    int64_t shown = index + s->cfg.first_index; /* the partition's index in messages */
    if (hw_partition_open(&s->ctx, &r, shown, PyList_GET_ITEM(s->partitions, index), &err, &python_error) != 0) {
      record_failure(s, &err, python_error, shown);
      hw_partition_close(&r);
      break;
    }
    part_queue* q = &s->queues[index];
    bool stop = false;
    for (;;) {
      struct ArrowArray batch;
      bool done;
      if (hw_partition_next_batch(&s->ctx, &r, &batch, &done, &err, &python_error) != 0) {
        record_failure(s, &err, python_error, shown);
        stop = true;
        break;
      }
      /* hand over (or mark done) without the GIL: the consumer may be waiting for it */
      PyThreadState* ts = PyEval_SaveThread();
      int64_t waited = hw_now_ns();
      pthread_mutex_lock(&s->mu);
      while (!done && bounded(s) && q->count == q->capacity && !atomic_load(&s->cancelled) && !s->failed)
        wait_changed(s);
      r.stats.wait_ns += hw_now_ns() - waited;
      bool give_up = atomic_load(&s->cancelled) || s->failed;
      if (!give_up) {
        if (done) {
          q->done = true;
        } else if (queue_push(q, &batch, -1, bounded(s)) != 0) {
          hw_error oom;
          hw_error_init(&oom);
          hw_error_oom(&oom);
          s->failed = true; /* mu held: record directly */
          s->error = oom;
          give_up = true;
        }
      }
      pthread_cond_broadcast(&s->changed);
      pthread_mutex_unlock(&s->mu);
      if (give_up && !done) hw_array_release(&batch);
      PyEval_RestoreThread(ts);
      if (give_up) stop = true;
      if (done && !stop) record_reader_stats(s, index, &r);
      if (done || stop) break;
    }
    hw_partition_close(&r);
    if (stop) break;
  }
  PyGILState_Release(gil);
  hw_scan_unref(s); /* the thread's reference: the scan outlives a thread left in the source's code */
  return NULL;
}

static void* proxy_main(void* arg);

static int start_threads(hw_scan* s, hw_error* err) {
  int32_t n = s->pool ? s->pool->n : s->cfg.workers;
  if (n > s->n_partitions) n = (int32_t)s->n_partitions;
  if (n < 1) n = 1;
  s->queues = calloc((size_t)(s->n_partitions > 0 ? s->n_partitions : 1), sizeof *s->queues);
  s->threads = calloc((size_t)n, sizeof *s->threads);
  if (!s->queues || !s->threads) return hw_error_oom(err);
  for (int64_t i = 0; i < s->n_partitions; i++) {
    int32_t cap = bounded(s) ? s->cfg.queue_depth : 4;
    s->queues[i].items = calloc((size_t)cap, sizeof(struct ArrowArray));
    s->queues[i].producers = calloc((size_t)cap, sizeof(int32_t));
    s->queues[i].capacity = cap;
    if (!s->queues[i].items || !s->queues[i].producers) return hw_error_oom(err);
  }
  if (s->pool) {
    s->proxies = calloc((size_t)n, sizeof *s->proxies);
    if (!s->proxies) return hw_error_oom(err);
  }
  for (int32_t i = 0; i < n; i++) {
    if (s->pool) s->proxies[i] = (proxy){s, i, -1};
    else atomic_fetch_add(&s->refs, 1); /* dropped by worker_main as it ends */
    if (pthread_create(&s->threads[i], NULL, s->pool ? proxy_main : worker_main, s->pool ? (void*)&s->proxies[i] : s) != 0) {
      if (!s->pool) atomic_fetch_sub(&s->refs, 1);
      return hw_error_set(err, "HW_INTERNAL", "cannot start a scan thread: %s", strerror(errno));
    }
    s->n_threads = i + 1;
  }
  return 0;
}

/* Pops the next batch for the consumer; mu held. Returns 1 with out filled, 0 at the end, -1 when
 * the scan failed, 2 when it must wait. */
static int pop_ready(hw_scan* s, struct ArrowArray* out, int32_t* producer, int64_t* serial) {
  if (s->failed) return -1;
  while (s->consumer_at < s->n_partitions && s->queues[s->consumer_at].done &&
         s->queues[s->consumer_at].count == 0)
    s->consumer_at++;
  if (s->consumer_at >= s->n_partitions) return 0;
  int64_t last = s->cfg.ordered ? s->consumer_at : s->n_partitions - 1;
  for (int64_t i = s->consumer_at; i <= last; i++) {
    part_queue* q = &s->queues[i];
    if (q->count > 0) {
      hw_array_move(&q->items[q->head], out);
      *producer = q->producers[q->head];
      *serial = q->serial;
      q->popped++;
      q->head = (q->head + 1) % q->capacity;
      q->count--;
      return 1;
    }
  }
  return 2;
}

/* Waits up to 100 ms for a change; mu held. */
static void wait_changed_briefly(hw_scan* s) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_nsec += 100 * 1000 * 1000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000;
  }
  pthread_cond_timedwait(&s->changed, &s->mu, &until);
}

/* Ctrl-C while the consumer waits: fail the scan as HW_CANCELLED (the workers are stopped when it
 * is released; headwater's Python layer raises KeyboardInterrupt for it). Needs the consumer's
 * thread state; mu not held. */
static bool interrupted(hw_scan* s, PyThreadState* ts) {
  /* Python handles signals on the main thread only; and another thread must not wait for the GIL
   * here (its holder may be waiting for this very batch) */
  if (!ts && syscall(SYS_gettid) != getpid()) return false;
  /* the consumer may have released the GIL itself (pyarrow does): take it to look */
  PyGILState_STATE gil = PyGILState_LOCKED;
  if (ts) PyEval_RestoreThread(ts);
  else gil = PyGILState_Ensure();
  bool hit = PyErr_CheckSignals() != 0; /* signals are handled on the main thread only */
  if (hit) {
    PyErr_Clear(); /* the consumer (often pyarrow) reports the stream's error instead */
    hw_error err;
    hw_error_init(&err);
    hw_error_set(&err, "HW_CANCELLED", "the read was interrupted");
    record_worker_failure(s, &err, NULL);
    atomic_store(&s->cancelled, true);
  }
  if (ts) PyEval_SaveThread();
  else PyGILState_Release(gil);
  return hit;
}

static int thread_next(hw_scan* s, struct ArrowArray* out) {
  /* never block while holding the GIL: the workers need it to make progress */
  PyThreadState* ts = PyGILState_Check() ? PyEval_SaveThread() : NULL;
  pthread_mutex_lock(&s->mu);
  int got;
  int32_t producer = -1;
  int64_t serial = 0;
  while ((got = pop_ready(s, out, &producer, &serial)) == 2) {
    wait_changed_briefly(s);
    if ((got = pop_ready(s, out, &producer, &serial)) != 2) break;
    /* still nothing after a while: let Ctrl-C through */
    pthread_mutex_unlock(&s->mu);
    bool hit = interrupted(s, ts);
    pthread_mutex_lock(&s->mu);
    if (hit) {
      got = -1;
      break;
    }
  }
  if (got == 1) {
    s->batches_out++;
    s->rows_out += out->length;
  }
  hw_worker_link* credit_to = NULL;
  if (got == 1 && s->pool && producer >= 0) { /* the slot may serve another query now: look under its lock */
    pthread_mutex_lock(&s->pool->mu);
    hw_worker* pw = &s->pool->workers[producer];
    s->pool->credits_returned++;
    if (pw->link && pw->serial == serial) {
      pw->outstanding--;
      credit_to = pw->link;
      atomic_fetch_add(&credit_to->refs, 1);
    }
    pthread_mutex_unlock(&s->pool->mu);
  }
  pthread_cond_broadcast(&s->changed); /* a queue slot is free */
  pthread_mutex_unlock(&s->mu);
  if (credit_to) { /* the worker may build one more batch */
    hw_error ignored;
    hw_wbuf b = {0};
    hw_msg_credit_encode(&b, serial); /* stale (ignored) if the worker was set up for another query since */
    hw_link_send(credit_to, HW_MSG_CREDIT, &b, -1, &ignored);
    hw_wbuf_free(&b);
    hw_link_unref(credit_to);
  }
  if (ts) PyEval_RestoreThread(ts);
  if (got == 0) memset(out, 0, sizeof *out);
  return got < 0 ? EIO : 0;
}

/* ---------------------------------------------------------------- process mode */

/* A batch on a worker's region was released by whoever held it: the worker may reuse the region. */
static void release_region_batch(void* token) {
  hw_host_region* r = token;
  hw_wbuf b = {0};
  hw_msg_release_encode(&b, r->region.id);
  hw_error ignored;
  hw_link_send(r->link, HW_MSG_RELEASE, &b, -1, &ignored);
  hw_wbuf_free(&b);
  hw_host_region_unref(r);
}

static int send_setup(hw_scan* s, hw_worker* w, hw_error* err) {
  hw_msg_setup m = {
      .query = w->serial, /* this lease's SETUP: the worker ignores credits naming another */
      /* credits: batches in flight per worker (unbounded queues: as many as the worker makes) */
      .credits = bounded(s) ? s->cfg.queue_depth : INT64_MAX / 2,
      .max_rows = s->cfg.max_rows_per_batch,
      .max_bytes = s->cfg.max_bytes_per_batch,
      .schema_json = (const uint8_t*)s->schema_json,
      .n_schema_json = strlen(s->schema_json),
      .reader = (const uint8_t*)PyBytes_AS_STRING(s->pickled_reader),
      .n_reader = (size_t)PyBytes_GET_SIZE(s->pickled_reader),
      .name = (const uint8_t*)s->source_name,
      .n_name = strlen(s->source_name),
      .n_columns = s->columns ? s->n_columns : -1, /* column pruning: the positions converted */
      .exact_batches = s->cfg.exact_batches,
  };
  hw_wbuf b = {0};
  hw_msg_setup_encode(&b, &m, s->columns);
  int rc = hw_link_send(w->link, HW_MSG_SETUP, &b, -1, err);
  hw_wbuf_free(&b);
  return rc;
}

static int send_run(hw_scan* s, hw_worker* w, int64_t index, hw_error* err) {
  PyObject* pickled = PyList_GET_ITEM(s->pickled_partitions, index); /* bytes: immutable, no GIL needed */
  hw_wbuf b = {0};
  hw_msg_run_encode(&b, index, PyBytes_AS_STRING(pickled), (size_t)PyBytes_GET_SIZE(pickled));
  int rc = hw_link_send(w->link, HW_MSG_RUN, &b, -1, err);
  hw_wbuf_free(&b);
  return rc;
}

/* Files one batch the worker sent for partition index. */
static int accept_batch(hw_scan* s, proxy* px, hw_worker* w, const uint8_t* payload, size_t len, hw_error* err) {
  int64_t index, region_id;
  size_t n;
  const uint8_t* desc;
  if (hw_msg_batch_decode(payload, len, &index, &region_id, &desc, &n, err) != 0 || index != px->running ||
      region_id >= w->n_regions)
    return hw_error_set(err, "HW_MALFORMED_BATCH", "a worker sent a batch for an unknown partition or region");
  hw_host_region* r = w->regions[region_id];
  struct ArrowArray batch;
  atomic_fetch_add(&r->refs, 1);
  if (hw_batch_decode(&s->schema, desc, n, &r->region, release_region_batch, r, &batch, err) != 0) {
    hw_host_region_unref(r);
    err->partition = index;
    return -1;
  }
  pthread_mutex_lock(&s->mu);
  part_queue* q = &s->queues[index];
  bool keep = !s->failed && !atomic_load(&s->cancelled);
  bool overrun = keep && queue_push(q, &batch, px->slot, bounded(s)) != 0;
  if (keep && !overrun) pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->mu);
  if (keep && !overrun) { /* one more batch waits for the consumer */
    pthread_mutex_lock(&s->pool->mu);
    w->outstanding++;
    pthread_mutex_unlock(&s->pool->mu);
  }
  if (overrun) {
    hw_array_release(&batch);
    return hw_error_set(err, "HW_MALFORMED_BATCH", "a worker sent more batches than it had credits for");
  }
  if (!keep) {
    hw_array_release(&batch); /* cancelled or failed: hand the region straight back */
    hw_error ignored;
    hw_link_send(w->link, HW_MSG_CREDIT, NULL, -1, &ignored);
  }
  return 0;
}

/* The scan failed, was cancelled, or has no partition left to hand out: its proxies stop waiting
 * for a worker. */
static bool scan_stopping(void* arg) {
  hw_scan* s = arg;
  pthread_mutex_lock(&s->mu);
  bool stop = s->failed || atomic_load(&s->cancelled) || (s->next_claim >= s->n_partitions && s->n_retry == 0);
  pthread_mutex_unlock(&s->mu);
  return stop;
}

static void* proxy_main(void* arg) {
  proxy* px = arg;
  hw_scan* s = px->scan;
  hw_pool* pool = s->pool;
  hw_error err;
  hw_error_init(&err);
  bool broken = false; /* the connection carried garbage (not an end): the worker is killed at once */
  hw_worker* w = NULL;
  for (;;) {
    /* a worker for one task, shared with the session's other queries; claimed before the partition,
     * so the lowest partition not done always has a worker (an ordered consumer waits for it) */
    bool setup;
    int32_t slot = hw_pool_claim(pool, s->query, scan_stopping, s, &setup, &err);
    if (slot < 0) {
      if (slot == -1) record_worker_failure(s, &err, NULL);
      break;
    }
    px->slot = slot;
    w = &pool->workers[slot];
    pthread_mutex_lock(&s->mu);
    int64_t index = s->failed || atomic_load(&s->cancelled) ? s->n_partitions
                    : s->n_retry > 0                          ? s->retry[--s->n_retry]
                                                              : s->next_claim++;
    px->running = index < s->n_partitions ? index : -1;
    if (index < s->n_partitions) s->queues[index].serial = w->serial;
    pthread_mutex_unlock(&s->mu);
    if (setup) { /* the credits of this SETUP (ipc/lease.c watches them for stalls) */
      pthread_mutex_lock(&pool->mu);
      w->credit_limit = bounded(s) ? s->cfg.queue_depth : 0;
      w->outstanding = 0;
      pthread_mutex_unlock(&pool->mu);
    }
    if (index >= s->n_partitions) {
      if (setup) { /* never set up: the next claim must not take it for set up */
        pthread_mutex_lock(&pool->mu);
        w->query = 0;
        pthread_mutex_unlock(&pool->mu);
      }
      hw_pool_release(pool, slot, false);
      break;
    }
    if (setup && send_setup(s, w, &err) != 0) goto lost;
    if (send_run(s, w, index, &err) != 0) goto lost;
    for (;;) { /* until the worker says the task ended */
      hw_msg_type type;
      uint8_t* payload;
      size_t len;
      int fd;
      int got = hw_wire_recv(w->sock, &type, &payload, &len, &fd, NULL, &err);
      if (got != 0) {
        broken = hw_wire_garbage(got, &err);
        goto lost;
      }
      int rc = 0;
      bool ended = false;
      if (type == HW_MSG_REGION) {
        int32_t id;
        size_t capacity;
        if (hw_msg_region_decode(payload, len, &id, &capacity, &err) != 0 || fd < 0) {
          if (fd >= 0) close(fd);
          rc = hw_error_set(&err, "HW_MALFORMED_BATCH", "a worker announced a region without memory");
        } else {
          rc = hw_worker_add_region(w, id, fd, capacity, &err);
        }
      } else {
        if (fd >= 0) close(fd);
        if (type == HW_MSG_BATCH) {
          rc = accept_batch(s, px, w, payload, len, &err);
        } else if (type == HW_MSG_DONE) {
          hw_partition_stats st;
          if (hw_msg_done_stats_decode(payload, len, &st) == 0) record_stats(s, index, &st);
          pthread_mutex_lock(&s->mu);
          s->queues[index].done = true;
          px->running = -1; /* together, so a finished scan never cancels an idle worker */
          pthread_cond_broadcast(&s->changed);
          pthread_mutex_unlock(&s->mu);
          ended = true;
        } else if (type == HW_MSG_ERROR) {
          hw_error werr;
          char* traceback;
          hw_msg_error_read(payload, len, index, &werr, &traceback);
          record_worker_failure(s, &werr, traceback);
          free(traceback);
          ended = true;
        }
      }
      free(payload);
      if (rc != 0) {
        if (err.partition < 0) err.partition = index;
        hw_error_prefix(&err, "partition %lld: the worker process (pid %d) broke the protocol and was killed: ",
                        (long long)index, (int)w->pid);
        record_worker_failure(s, &err, NULL);
        goto kill_worker; /* a worker that breaks the protocol is not trusted again */
      }
      if (ended) break;
    }
    pthread_mutex_lock(&s->mu);
    bool stop = s->failed;
    px->running = -1;
    pthread_mutex_unlock(&s->mu);
    hw_pool_release(pool, px->slot, true);
    if (stop) break;
    continue;

lost: {
  /* the worker died, its connection ended, or it sent garbage: end it (killed at once when it broke
   * the protocol, else after the grace period), with no lock held while it is waited for */
  char how[160];
  int64_t running = px->running;
  pid_t pid = w->pid;
  hw_pool_end_worker(pool, px->slot, &s->mu, broken, how, sizeof how);
  pthread_mutex_lock(&s->mu); /* the consumer reads worker slots when it sends credits */
  pthread_mutex_lock(&pool->mu); /* and a stopping pool tears the slots down itself */
  hw_error died;
  hw_error_init(&died);
  if (broken)
    hw_error_set(&died, "HW_MALFORMED_MESSAGE", "partition %lld: the worker process (pid %d) broke the protocol (%s) "
                 "and was killed", (long long)running, (int)pid, err.message);
  else if (running >= 0)
    hw_error_set(&died, "PYTHON_WORKER_CRASHED", "partition %lld: the worker process (pid %d) %s while reading it",
                 (long long)running, (int)pid, how);
  else
    hw_error_set(&died, "PYTHON_WORKER_CRASHED", "the worker process (pid %d) %s", (int)pid, how);
  died.partition = running;
  hw_error ignored;
  bool respawned = !pool->stopped && hw_pool_respawn(pool, px->slot, &ignored) == 0;
  /* run the partition again on the fresh worker while retries are left and the consumer has taken
   * none of its batches (what it holds must not be read twice) */
  bool retry = false;
  if (respawned && !broken && running >= 0 && !s->failed && !atomic_load(&s->cancelled)) {
    part_queue* q = &s->queues[running];
    if (q->popped == 0 && q->attempts < s->cfg.task_retries) {
      for (; q->count > 0; q->count--, q->head = (q->head + 1) % q->capacity) hw_array_release(&q->items[q->head]);
      q->attempts++;
      int64_t* grown = realloc(s->retry, sizeof *grown * (size_t)(s->n_retry + 1));
      if (grown) {
        s->retry = grown;
        s->retry[s->n_retry++] = running;
        retry = true;
      }
    }
  }
  px->running = -1;
  pthread_mutex_unlock(&pool->mu);
  pthread_mutex_unlock(&s->mu);
  hw_pool_release(pool, px->slot, false);
  if (retry) continue;
  record_worker_failure(s, &died, NULL);
  return NULL;
}
kill_worker: {
  char how[160];
  hw_error ignored;
  hw_pool_end_worker(pool, px->slot, &s->mu, true, how, sizeof how);
  pthread_mutex_lock(&s->mu);
  pthread_mutex_lock(&pool->mu);
  if (!pool->stopped) hw_pool_respawn(pool, px->slot, &ignored); /* the pool stays whole for later queries */
  px->running = -1;
  pthread_mutex_unlock(&pool->mu);
  pthread_mutex_unlock(&s->mu);
  hw_pool_release(pool, px->slot, false);
  return NULL;
}
  }
  return NULL;
}

/* Cancels what the workers are running (the scan was abandoned or failed). */
static void cancel_workers(hw_scan* s) {
  pthread_mutex_lock(&s->mu);
  for (int32_t i = 0; s->proxies && i < s->n_threads; i++) {
    if (s->proxies[i].running < 0) continue;
    hw_worker* w = &s->pool->workers[s->proxies[i].slot];
    hw_error ignored;
    if (w->link) hw_link_send(w->link, HW_MSG_CANCEL, NULL, -1, &ignored);
    if (w->pid) kill(w->pid, SIGUSR1); /* interrupts user code that is not yielding */
  }
  pthread_mutex_unlock(&s->mu);
}

/* After a cancel: waits up to the pool's grace period for the proxies to end, then kills (SIGKILL)
 * the workers still on a partition (one that ignores SIGUSR1, or is stopped), so that their proxies
 * see the connection end. Returns how many threads (in order) were joined. No GIL; mu not held. */
static int32_t join_or_kill(hw_scan* s) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  int ms = atomic_load(&s->pool->cancel_grace_ms);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  int32_t joined = 0;
  while (joined < s->n_threads && pthread_timedjoin_np(s->threads[joined], NULL, &until) == 0) joined++;
  if (joined < s->n_threads) {
    pthread_mutex_lock(&s->mu);
    for (int32_t i = joined; i < s->n_threads; i++) {
      if (s->proxies[i].running < 0) continue;
      hw_worker* w = &s->pool->workers[s->proxies[i].slot];
      if (w->pid) kill(w->pid, SIGKILL); /* its proxy reaps it (hw_pool_end_worker) */
    }
    pthread_mutex_unlock(&s->mu);
  }
  return joined;
}

/* Thread mode, after a cancel: waits up to cfg.cancel_grace_ms for the threads to end; one still in
 * the source's code then (a call that does not return: Python threads cannot be interrupted) is
 * detached and left to finish on its own, holding its reference to the scan. No GIL; mu not held. */
static void join_or_abandon(hw_scan* s) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  int ms = s->cfg.cancel_grace_ms;
  until.tv_sec += ms / 1000;
  until.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  for (int32_t i = 0; i < s->n_threads; i++)
    if (pthread_timedjoin_np(s->threads[i], NULL, &until) != 0) pthread_detach(s->threads[i]);
}

static void stop_threads(hw_scan* s) {
  if (!s->threads) return;
  atomic_store(&s->cancelled, true);
  pthread_mutex_lock(&s->mu);
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->mu);
  if (s->pool) {
    cancel_workers(s);
    hw_pool_wake(s->pool); /* proxies waiting for a worker give up now */
  }
  PyThreadState* ts = PyGILState_Check() ? PyEval_SaveThread() : NULL;
  if (s->pool)
    for (int32_t i = join_or_kill(s); i < s->n_threads; i++) pthread_join(s->threads[i], NULL);
  else
    join_or_abandon(s);
  if (ts) PyEval_RestoreThread(ts);
  s->n_threads = 0;
}

/* ---------------------------------------------------------------- stream */

static int stream_get_schema(struct ArrowArrayStream* stream, struct ArrowSchema* out) {
  hw_scan* s = stream->private_data;
  hw_error err;
  hw_error_init(&err);
  return hw_field_to_arrow(&s->schema, out, &err) == 0 ? 0 : ENOMEM;
}

static int stream_get_next(struct ArrowArrayStream* stream, struct ArrowArray* out) {
  hw_scan* s = stream->private_data;
  int64_t limit = s->cfg.limit;
  if (limit >= 0 && s->delivered >= limit) {
    memset(out, 0, sizeof *out); /* the limit is met: the stream ends */
    return 0;
  }
  int rc = s->cfg.mode == HW_EXEC_INLINE ? inline_next(s, out) : thread_next(s, out);
  if (rc != 0 || !out->release || limit < 0) return rc;
  if (out->length > limit - s->delivered) out->length = limit - s->delivered; /* children may be longer */
  s->delivered += out->length;
  if (s->delivered >= limit) stop_threads(s); /* cancel partitions not started, stop running ones */
  return 0;
}

static const char* stream_get_last_error(struct ArrowArrayStream* stream) {
  hw_scan* s = stream->private_data;
  return s->failed ? s->error.message : NULL;
}

/* The stream is gone: stop the threads and hand the worker pool back now, not when the last
 * reference (say, one held by an exception's traceback) goes. Idempotent. */
static void scan_quiesce(hw_scan* s) {
  stop_threads(s);
  pthread_mutex_lock(&s->mu); /* batches nobody will consume: hand their memory back */
  for (int64_t i = 0; s->queues && i < s->n_partitions; i++) {
    part_queue* q = &s->queues[i];
    for (; q->count > 0; q->count--, q->head = (q->head + 1) % q->capacity) hw_array_release(&q->items[q->head]);
  }
  pthread_mutex_unlock(&s->mu);
  if (s->pool) {
    hw_pool_unref(s->pool);
    s->pool = NULL;
  }
}

static void stream_release(struct ArrowArrayStream* stream) {
  hw_scan* s = stream->private_data;
  scan_quiesce(s);
  hw_scan_unref(s);
  stream->release = NULL;
}

int hw_scan_stream(hw_scan* s, struct ArrowArrayStream* out, hw_error* err) {
  if (s->streamed) return hw_error_set(err, "HW_INVALID_ARGUMENT", "a scan can be streamed once");
  s->streamed = true;
  if (s->cfg.mode == HW_EXEC_PROCESS && !s->pool)
    return hw_error_set(err, "HW_INVALID_ARGUMENT", "process mode needs a worker pool (hw_scan_use_pool)");
  if (s->cfg.mode != HW_EXEC_INLINE && s->cfg.limit != 0 && start_threads(s, err) != 0) {
    stop_threads(s);
    return -1;
  }
  atomic_fetch_add(&s->refs, 1);
  out->get_schema = stream_get_schema;
  out->get_next = stream_get_next;
  out->get_last_error = stream_get_last_error;
  out->release = stream_release;
  out->private_data = s;
  return 0;
}

/* ---------------------------------------------------------------- lifecycle */

int hw_scan_new(hw_scan** out, const hw_field* schema, PyObject* read_fn, PyObject* partitions,
                const char* source_name, const hw_scan_config* cfg, hw_error* err) {
  if (!PyList_Check(partitions)) return hw_error_set(err, "HW_INVALID_ARGUMENT", "partitions must be a list");
  if (schema->type != HW_TYPE_STRUCT)
    return hw_error_set(err, "INVALID_SCHEMA.NON_STRUCT_TYPE", "a scan needs a struct schema");
  if (cfg->max_rows_per_batch <= 0 || cfg->workers <= 0)
    return hw_error_set(err, "HW_INVALID_ARGUMENT", "rows per batch and workers must be positive");
  hw_scan* s = calloc(1, sizeof *s);
  if (!s) return hw_error_oom(err);
  atomic_init(&s->refs, 1);
  atomic_init(&s->cancelled, false);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->changed, NULL);
  hw_error_init(&s->error);
  s->cfg = *cfg;
  s->source_name = strdup(source_name ? source_name : "");
  hw_field_init(&s->schema);
  hw_field_init(&s->read_schema);
  if (!s->source_name || hw_field_copy(&s->schema, schema, err) != 0 ||
      hw_field_copy(&s->read_schema, schema, err) != 0) {
    hw_field_release(&s->schema);
    free(s->source_name);
    free(s);
    return hw_error_oom(err);
  }
  if (cfg->limit > 0 && cfg->limit < s->cfg.max_rows_per_batch) s->cfg.max_rows_per_batch = cfg->limit;
  Py_INCREF(read_fn);
  s->read_fn = read_fn;
  Py_INCREF(partitions);
  s->partitions = partitions;
  s->n_partitions = PyList_GET_SIZE(partitions);
  s->stats = malloc(sizeof *s->stats * (size_t)(s->n_partitions > 0 ? s->n_partitions : 1));
  for (int64_t i = 0; s->stats && i < s->n_partitions; i++) s->stats[i].partition = -1;
  s->record_batch_type = hw_record_batch_type();
  s->ctx = (hw_read_context){&s->read_schema, s->read_fn, s->record_batch_type, s->source_name,
                             s->cfg.max_rows_per_batch, cfg->max_bytes_per_batch, hw_allocator_heap(), &s->cancelled,
                             NULL, 0, cfg->exact_batches};
  *out = s;
  return 0;
}

bool hw_scan_failure(hw_scan* s, hw_error* err, PyObject** exception, char** traceback) {
  pthread_mutex_lock(&s->mu);
  bool failed = s->failed;
  if (failed) {
    *err = s->error;
    *exception = s->exception;
    Py_XINCREF(*exception);
    *traceback = s->traceback ? strdup(s->traceback) : NULL;
  }
  pthread_mutex_unlock(&s->mu);
  return failed;
}

int hw_scan_use_pool(hw_scan* s, hw_pool* pool, PyObject* pickled_reader, PyObject* pickled_partitions,
                     hw_error* err) {
  if (!PyBytes_Check(pickled_reader) || !PyList_Check(pickled_partitions) ||
      PyList_GET_SIZE(pickled_partitions) != s->n_partitions)
    return hw_error_set(err, "HW_INVALID_ARGUMENT", "process mode needs the pickled reader and one pickled partition each");
  for (int64_t i = 0; i < s->n_partitions; i++)
    if (!PyBytes_Check(PyList_GET_ITEM(pickled_partitions, i)))
      return hw_error_set(err, "HW_INVALID_ARGUMENT", "pickled partitions must be bytes");
  if (hw_spark_json_render(&s->read_schema, &s->schema_json, err) != 0) return -1;
  pthread_mutex_lock(&pool->mu); /* the pool is shared: concurrent scans claim its workers task by task */
  s->query = ++pool->next_query;
  pthread_mutex_unlock(&pool->mu);
  hw_pool_ref(pool); /* the pool's memory outlives a session that stops before this scan is freed */
  s->pool = pool;
  s->cfg.mode = HW_EXEC_PROCESS;
  Py_INCREF(pickled_reader);
  s->pickled_reader = pickled_reader;
  Py_INCREF(pickled_partitions);
  s->pickled_partitions = pickled_partitions;
  return 0;
}

int hw_scan_project(hw_scan* s, const int32_t* columns, int32_t n, hw_error* err) {
  if (s->streamed || s->pool) return hw_error_set(err, "HW_INVALID_ARGUMENT", "project a scan before it starts");
  for (int32_t i = 0; i < n; i++)
    if (columns[i] < 0 || columns[i] >= s->read_schema.n_children || (i > 0 && columns[i] <= columns[i - 1]))
      return hw_error_set(err, "HW_INVALID_ARGUMENT",
                          "columns must be ascending positions in the schema (of %d columns); got %d at %d",
                          s->read_schema.n_children, columns[i], i);
  int32_t* copy = malloc(sizeof *copy * (size_t)(n > 0 ? n : 1));
  if (!copy) return hw_error_oom(err);
  memcpy(copy, columns, sizeof *copy * (size_t)n);
  hw_field projected;
  if (hw_field_project(&projected, &s->read_schema, copy, n, err) != 0) {
    free(copy);
    return -1;
  }
  hw_field_release(&s->schema);
  s->schema = projected;
  free(s->columns);
  s->columns = copy;
  s->n_columns = n;
  s->ctx.columns = copy;
  s->ctx.n_columns = n;
  return 0;
}

int hw_scan_report(hw_scan* s, hw_partition_stats** out, int64_t* n) {
  pthread_mutex_lock(&s->mu);
  *n = 0;
  *out = malloc(sizeof **out * (size_t)(s->n_partitions > 0 ? s->n_partitions : 1));
  for (int64_t i = 0; *out && s->stats && i < s->n_partitions; i++)
    if (s->stats[i].partition >= 0) (*out)[(*n)++] = s->stats[i];
  pthread_mutex_unlock(&s->mu);
  return *out ? 0 : -1;
}

void hw_scan_progress(hw_scan* s, int64_t* done, int64_t* total, int64_t* rows, int64_t* bytes) {
  pthread_mutex_lock(&s->mu);
  *done = s->partitions_done;
  *total = s->n_partitions;
  *rows = s->rows_out;
  *bytes = s->bytes_done;
  pthread_mutex_unlock(&s->mu);
}

void hw_scan_counts(hw_scan* s, int64_t* batches, int64_t* rows) {
  pthread_mutex_lock(&s->mu);
  *batches = s->batches_out;
  *rows = s->rows_out;
  pthread_mutex_unlock(&s->mu);
}

void hw_scan_cancel(hw_scan* s) {
  hw_error err;
  hw_error_init(&err);
  hw_error_set(&err, "HW_CANCELLED", "the read was cancelled");
  record_worker_failure(s, &err, NULL);
  atomic_store(&s->cancelled, true);
}

void hw_scan_unref(hw_scan* s) {
  if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
  scan_quiesce(s);
  PyGILState_STATE gil = PyGILState_Ensure();
  hw_partition_close(&s->inline_reader);
  Py_CLEAR(s->read_fn);
  Py_CLEAR(s->partitions);
  Py_CLEAR(s->record_batch_type);
  Py_CLEAR(s->exception);
  Py_CLEAR(s->pickled_reader);
  Py_CLEAR(s->pickled_partitions);
  PyGILState_Release(gil);
  free(s->proxies);
  free(s->retry);
  free(s->stats);
  free(s->schema_json);
  free(s->traceback);
  if (s->queues) {
    for (int64_t i = 0; i < s->n_partitions; i++) {
      part_queue* q = &s->queues[i];
      for (int32_t k = 0; q->items && k < q->count; k++)
        hw_array_release(&q->items[(q->head + k) % q->capacity]);
      free(q->items);
      free(q->producers);
    }
  }
  free(s->queues);
  free(s->threads);
  hw_field_release(&s->schema);
  hw_field_release(&s->read_schema);
  free(s->columns);
  free(s->source_name);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->changed);
  free(s);
}
