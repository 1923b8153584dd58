/* Thread mode: C threads step the sources' iterators; and the consumer's side of the per-partition
 * queues, which process mode fills too. */
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
#include "pyexec/scan_internal.h"

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
      scan_record_failure(s, &err, python_error, shown);
      hw_partition_close(&r);
      break;
    }
    part_queue* q = &s->queues[index];
    bool stop = false;
    for (;;) {
      struct ArrowArray batch;
      bool done;
      if (hw_partition_next_batch(&s->ctx, &r, &batch, &done, &err, &python_error) != 0) {
        scan_record_failure(s, &err, python_error, shown);
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
        } else if (scan_queue_push(q, &batch, -1, bounded(s)) != 0) {
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
      if (done && !stop) scan_record_reader_stats(s, index, &r);
      if (done || stop) break;
    }
    hw_partition_close(&r);
    if (stop) break;
  }
  PyGILState_Release(gil);
  hw_scan_unref(s); /* the thread's reference: the scan outlives a thread left in the source's code */
  return NULL;
}

int scan_start_threads(hw_scan* s, hw_error* err) {
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
    if (s->pool) s->proxies[i] = (proxy){s, -1, -1};
    else atomic_fetch_add(&s->refs, 1); /* dropped by worker_main as it ends */
    if (pthread_create(&s->threads[i], NULL, s->pool ? scan_proxy_main : worker_main, s->pool ? (void*)&s->proxies[i] : s) != 0) {
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
    scan_record_worker_failure(s, &err, NULL);
    atomic_store(&s->cancelled, true);
  }
  if (ts) PyEval_SaveThread();
  else PyGILState_Release(gil);
  return hit;
}

int scan_thread_next(hw_scan* s, struct ArrowArray* out) {
  /* never block while holding the GIL: the workers need it to make progress */
  PyThreadState* ts = hw_gil_held() ? PyEval_SaveThread() : NULL;
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

void scan_stop_threads(hw_scan* s) {
  if (!s->threads) return;
  atomic_store(&s->cancelled, true);
  pthread_mutex_lock(&s->mu);
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->mu);
  if (s->pool) {
    scan_cancel_workers(s);
    hw_pool_wake(s->pool); /* proxies waiting for a worker give up now */
  }
  PyThreadState* ts = hw_gil_held() ? PyEval_SaveThread() : NULL;
  if (s->pool)
    for (int32_t i = scan_join_or_kill(s); i < s->n_threads; i++) pthread_join(s->threads[i], NULL);
  else
    join_or_abandon(s);
  if (ts) PyEval_RestoreThread(ts);
  s->n_threads = 0;
}
