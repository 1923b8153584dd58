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

void* scan_proxy_main(void* arg) {
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
      if (slot == -1) scan_record_worker_failure(s, &err, NULL);
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
          if (hw_msg_done_stats_decode(payload, len, &st) == 0) scan_record_stats(s, index, &st);
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
          scan_record_worker_failure(s, &werr, traceback);
          free(traceback);
          ended = true;
        }
      }
      free(payload);
      if (rc != 0) {
        if (err.partition < 0) err.partition = index;
        hw_error_prefix(&err, "partition %lld: the worker process (pid %d) broke the protocol and was killed: ",
                        (long long)index, (int)w->pid);
        scan_record_worker_failure(s, &err, NULL);
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
  scan_record_worker_failure(s, &died, NULL);
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
