/* Process mode: one proxy thread per claimed worker process feeds it partitions and files the
 * batches it sends. */
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
#include "ipc/proxy.h"
#include "pyexec/partition_reader.h"
#include "pyexec/scan_internal.h"

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
  if (hw_msg_batch_decode(payload, len, &index, &region_id, &desc, &n, err) != 0) return -1;
  if (index != px->running || region_id < 0 || region_id >= w->n_regions)
    return hw_error_set(err, "HW_MALFORMED_MESSAGE", "a worker sent a batch for an unknown partition or region");
  hw_host_region* r = w->regions[region_id];
  struct ArrowArray batch;
  atomic_fetch_add(&r->refs, 1);
  if (hw_batch_decode(&s->schema, desc, n, &r->region, release_region_batch, r, &batch, err) != 0) {
    hw_host_region_unref(r);
    return -1;
  }
  pthread_mutex_lock(&s->mu);
  part_queue* q = &s->queues[index];
  bool keep = !s->failed && !atomic_load(&s->cancelled);
  bool overrun = keep && scan_queue_push(q, &batch, px->slot, bounded(s)) != 0;
  if (keep && !overrun) pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->mu);
  if (keep && !overrun) { /* one more batch waits for the consumer */
    pthread_mutex_lock(&s->pool->mu);
    w->outstanding++;
    pthread_mutex_unlock(&s->pool->mu);
  }
  if (overrun) {
    hw_array_release(&batch);
    return hw_error_set(err, "HW_MALFORMED_MESSAGE", "a worker sent more batches than it had credits for");
  }
  if (!keep) {
    hw_array_release(&batch); /* cancelled or failed: hand the region straight back */
    hw_error ignored;
    hw_link_send(w->link, HW_MSG_CREDIT, NULL, -1, &ignored);
  }
  return 0;
}

/* ---------------------------------------------------------------- the proxy's part (ipc/proxy.h) */

/* The scan failed, was cancelled, or has no partition left to hand out: its proxies stop waiting
 * for a worker. */
static bool scan_stopping(void* ctx) {
  hw_scan* s = ((proxy*)ctx)->scan;
  pthread_mutex_lock(&s->mu);
  bool stop = s->failed || atomic_load(&s->cancelled) || (s->next_claim >= s->n_partitions && s->n_retry == 0);
  pthread_mutex_unlock(&s->mu);
  return stop;
}

static void no_worker(void* ctx, const hw_error* err) {
  scan_record_worker_failure(((proxy*)ctx)->scan, err, NULL);
}

/* The next partition: one to run again first, else the next not started. */
static int64_t take(void* ctx, int32_t slot, bool setup) {
  proxy* px = ctx;
  hw_scan* s = px->scan;
  pthread_mutex_lock(&s->mu);
  int64_t index = s->failed || atomic_load(&s->cancelled) ? -1
                  : s->n_retry > 0                          ? s->retry[--s->n_retry]
                  : s->next_claim < s->n_partitions         ? s->next_claim++
                                                            : -1;
  px->slot = slot;
  px->running = index;
  if (index >= 0) s->queues[index].serial = s->pool->workers[slot].serial;
  pthread_mutex_unlock(&s->mu);
  if (index >= 0 && setup) { /* the credits of this SETUP (ipc/lease.c watches them for stalls) */
    hw_worker* w = &s->pool->workers[slot];
    pthread_mutex_lock(&s->pool->mu);
    w->credit_limit = bounded(s) ? s->cfg.queue_depth : 0;
    w->outstanding = 0;
    pthread_mutex_unlock(&s->pool->mu);
  }
  return index;
}

static int start(void* ctx, hw_worker* w, bool setup, int64_t index, hw_error* err) {
  hw_scan* s = ((proxy*)ctx)->scan;
  if (setup && send_setup(s, w, err) != 0) return -1;
  return send_run(s, w, index, err);
}

static hw_proxy_step on_message(void* ctx, hw_worker* w, int64_t index, hw_msg_type type, const uint8_t* payload,
                                size_t len, int* fd, hw_error* err) {
  proxy* px = ctx;
  hw_scan* s = px->scan;
  switch (type) {
    case HW_MSG_REGION: {
      int32_t id;
      size_t capacity;
      if (hw_msg_region_decode(payload, len, &id, &capacity, err) != 0) return HW_PROXY_BROKEN;
      if (*fd < 0) {
        hw_error_set(err, "HW_MALFORMED_MESSAGE", "a worker announced a region without memory");
        return HW_PROXY_BROKEN;
      }
      int taken = *fd;
      *fd = -1; /* the region owns it now, also on failure */
      return hw_worker_add_region(w, id, taken, capacity, err) == 0 ? HW_PROXY_MORE : HW_PROXY_BROKEN;
    }
    case HW_MSG_BATCH: return accept_batch(s, px, w, payload, len, err) == 0 ? HW_PROXY_MORE : HW_PROXY_BROKEN;
    case HW_MSG_DONE: {
      hw_partition_stats st;
      if (hw_msg_done_stats_decode(payload, len, &st) == 0) scan_record_stats(s, index, &st);
      pthread_mutex_lock(&s->mu);
      s->queues[index].done = true;
      px->running = -1; /* together, so a finished scan never cancels an idle worker */
      pthread_cond_broadcast(&s->changed);
      pthread_mutex_unlock(&s->mu);
      return HW_PROXY_ENDED;
    }
    case HW_MSG_ERROR: {
      hw_error werr;
      char* traceback;
      hw_msg_error_read(payload, len, index, &werr, &traceback);
      scan_record_worker_failure(s, &werr, traceback);
      free(traceback);
      return HW_PROXY_ENDED;
    }
    default:
      hw_error_set(err, "HW_MALFORMED_MESSAGE", "a worker sent message %d during a partition", (int)type);
      return HW_PROXY_BROKEN;
  }
}

/* A partition ended: the scan stops here when it failed. */
static bool unit_ended(void* ctx) {
  proxy* px = ctx;
  pthread_mutex_lock(&px->scan->mu);
  bool stop = px->scan->failed;
  px->running = -1;
  pthread_mutex_unlock(&px->scan->mu);
  return stop;
}

/* The worker on partition index died (s->mu and pool->mu held): the partition runs again on the
 * fresh worker while retries are left and the consumer has taken none of its batches (what it
 * holds must not be read twice). */
static bool lost(void* ctx, int64_t index, bool respawned, bool retry) {
  proxy* px = ctx;
  hw_scan* s = px->scan;
  px->running = -1;
  if (!respawned || !retry || s->failed || atomic_load(&s->cancelled)) return false;
  part_queue* q = &s->queues[index];
  if (q->popped != 0 || q->attempts >= s->cfg.task_retries) return false;
  int64_t* grown = realloc(s->retry, sizeof *grown * (size_t)(s->n_retry + 1));
  if (!grown) return false;
  for (; q->count > 0; q->count--, q->head = (q->head + 1) % q->capacity) hw_array_release(&q->items[q->head]);
  q->attempts++;
  s->retry = grown;
  s->retry[s->n_retry++] = index;
  return true;
}

static void fail(void* ctx, int64_t index, const hw_error* err) {
  (void)index;
  scan_record_worker_failure(((proxy*)ctx)->scan, err, NULL);
}

static const hw_proxy_ops scan_proxy_ops = {
    .doing = "while reading it",
    .stopping = scan_stopping,
    .no_worker = no_worker,
    .take = take,
    .start = start,
    .on_message = on_message,
    .unit_ended = unit_ended,
    .lost = lost,
    .fail = fail,
};

void* scan_proxy_main(void* arg) {
  proxy* px = arg;
  hw_scan* s = px->scan;
  hw_proxy_run(s->pool, s->query, &s->mu, &scan_proxy_ops, px);
  return NULL;
}

/* Cancels what the workers are running (the scan was abandoned or failed). */
void scan_cancel_workers(hw_scan* s) {
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
int32_t scan_join_or_kill(hw_scan* s) {
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
