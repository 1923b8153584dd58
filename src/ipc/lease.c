/*
 * Leases: concurrent queries share a session's worker pool. A query's proxy thread claims an idle
 * worker for one task and hands it back when the task ends (ipc/pool.h). Claimants wait in a
 * first-come, first-served line, so a long query cannot starve a short one: each of its proxies
 * goes to the back of the line after every task. A worker handed back is recycled (SHUTDOWN, then
 * SIGKILL after a grace period; a fresh process takes the slot) once it ran max_tasks tasks or its
 * private resident memory exceeds max_rss: between tasks, never during one.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "ipc/pool.h"

typedef struct hw_pool_waiter {
  struct hw_pool_waiter* next;
} hw_pool_waiter;

/* An idle slot for query: one already set up with its reader, else a live worker, else an empty
 * slot (a fresh worker starts there); -1 when all are claimed. mu held. */
static int32_t pick_idle(hw_pool* pool, int64_t query) {
  int32_t live = -1, empty = -1;
  for (int32_t i = 0; i < pool->n; i++) {
    hw_worker* w = &pool->workers[i];
    if (w->claimed) continue;
    if (w->pid && query > 0 && w->query == query) return i;
    if (w->pid && live < 0) live = i;
    if (!w->pid && empty < 0) empty = i;
  }
  return live >= 0 ? live : empty;
}

/* Whether every worker is held by a task waiting for its consumer to take batches. mu held. */
static bool all_stalled(hw_pool* pool) {
  for (int32_t i = 0; i < pool->n; i++) {
    hw_worker* w = &pool->workers[i];
    if (!w->claimed || w->credit_limit <= 0 || w->outstanding < w->credit_limit) return false;
  }
  return pool->n > 0;
}

static void unlink_waiter(hw_pool* pool, hw_pool_waiter* me) {
  for (hw_pool_waiter** p = &pool->waiters; *p; p = &(*p)->next) {
    if (*p == me) {
      *p = me->next;
      break;
    }
  }
  pthread_cond_broadcast(&pool->freed); /* the next in line may be first now */
}

int32_t hw_pool_claim(hw_pool* pool, int64_t query, bool (*stop)(void* ctx), void* ctx, bool* setup, hw_error* err) {
  hw_pool_waiter me = {NULL};
  *setup = false;
  pthread_mutex_lock(&pool->mu);
  hw_pool_waiter** tail = &pool->waiters;
  while (*tail) tail = &(*tail)->next;
  *tail = &me;
  int32_t slot = -1;
  int64_t progress = -1;
  time_t stalled_since = 0;
  for (;;) {
    if (pool->stopped) {
      unlink_waiter(pool, &me);
      pthread_mutex_unlock(&pool->mu);
      return hw_error_set(err, "HW_WORKER_LOST", "the worker pool was stopped");
    }
    if (pool->waiters == &me && (slot = pick_idle(pool, query)) >= 0) break;
    if (pool->waiters == &me && all_stalled(pool)) {
      time_t now = time(NULL);
      if (progress != pool->credits_returned) {
        progress = pool->credits_returned;
        stalled_since = now;
      } else if (now - stalled_since >= HW_POOL_STALL_SECONDS) {
        unlink_waiter(pool, &me);
        pthread_mutex_unlock(&pool->mu);
        return hw_error_set(err, "HW_POOL_BUSY",
                            "every worker process of this session is held by another query whose consumer has not "
                            "taken its batches for %d s (an open stream that is not being read?): read or close it, "
                            "or run this query with headwater.executor.mode=thread",
                            HW_POOL_STALL_SECONDS);
      }
    } else {
      progress = -1;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 100 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&pool->freed, &pool->mu, &until);
    /* the stop condition may take the query's own lock, which is taken before the pool's */
    pthread_mutex_unlock(&pool->mu);
    bool quit = stop && stop(ctx);
    pthread_mutex_lock(&pool->mu);
    if (quit) {
      unlink_waiter(pool, &me);
      pthread_mutex_unlock(&pool->mu);
      return -2;
    }
  }
  unlink_waiter(pool, &me);
  hw_worker* w = &pool->workers[slot];
  w->claimed = true;
  if (!w->pid && hw_pool_respawn(pool, slot, err) != 0) {
    w->claimed = false;
    pthread_cond_broadcast(&pool->freed);
    pthread_mutex_unlock(&pool->mu);
    return -1;
  }
  if (query > 0 && w->query != query) {
    w->query = query;
    w->serial = ++pool->next_serial;
    *setup = true;
  } else if (query == 0) { /* a task: it does not wait for credits; a scan after it sets up afresh */
    w->query = 0;
    w->credit_limit = 0;
  }
  pthread_mutex_unlock(&pool->mu);
  return slot;
}

int64_t hw_pool_worker_rss(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
  FILE* f = fopen(path, "re");
  if (!f) return -1;
  long long size, resident, shared;
  int got = fscanf(f, "%lld %lld %lld", &size, &resident, &shared);
  fclose(f);
  if (got != 3) return -1;
  long page = sysconf(_SC_PAGESIZE);
  return (resident - shared) * (int64_t)(page > 0 ? page : 4096);
}

/* Ends an idle worker for good: SHUTDOWN (it exits its loop, so the source's atexit and finally
 * code runs), SIGKILL after a grace period; reaped by hw_pool_respawn, which starts its successor.
 * mu held. */
static void recycle(hw_pool* pool, int32_t slot) {
  hw_worker* w = &pool->workers[slot];
  hw_error ignored;
  if (w->link) hw_link_send(w->link, HW_MSG_SHUTDOWN, NULL, -1, &ignored);
  siginfo_t info;
  bool ended = false;
  for (int tries = 0; tries < 100 && !ended; tries++) { /* up to 1 s */
    memset(&info, 0, sizeof info);
    ended = waitid(P_PID, (id_t)w->pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == w->pid;
    if (!ended) {
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  pool->recycled++;
  hw_pool_respawn(pool, slot, &ignored); /* kills what is left, reaps it, starts a fresh worker; on
                                            failure the slot stays empty and the next claim starts one */
}

void hw_pool_release(hw_pool* pool, int32_t slot, bool task_ran) {
  pthread_mutex_lock(&pool->mu);
  hw_worker* w = &pool->workers[slot];
  if (task_ran) w->tasks++;
  if (!pool->stopped && w->pid) {
    bool used_up = pool->max_tasks > 0 && w->tasks >= pool->max_tasks;
    int64_t rss = pool->max_rss > 0 && !used_up ? hw_pool_worker_rss(w->pid) : -1;
    if (used_up || (pool->max_rss > 0 && rss > pool->max_rss)) recycle(pool, slot);
  }
  w->claimed = false;
  pthread_cond_broadcast(&pool->freed);
  pthread_mutex_unlock(&pool->mu);
}

void hw_pool_set_recycle(hw_pool* pool, int64_t max_tasks, int64_t max_rss) {
  pthread_mutex_lock(&pool->mu);
  pool->max_tasks = max_tasks;
  pool->max_rss = max_rss;
  pthread_mutex_unlock(&pool->mu);
}

void hw_pool_wake(hw_pool* pool) {
  pthread_mutex_lock(&pool->mu);
  pthread_cond_broadcast(&pool->freed);
  pthread_mutex_unlock(&pool->mu);
}
