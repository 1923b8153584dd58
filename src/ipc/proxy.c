#include "ipc/proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "ipc/wire.h"

/* The unit's worker broke the protocol: the one error for that fault, whatever the detail's class. */
static void protocol_error(hw_error* err, int64_t unit, pid_t pid) {
  char detail[sizeof err->message];
  memcpy(detail, err->message, sizeof detail);
  hw_error_set(err, "HW_MALFORMED_MESSAGE", "partition %lld: the worker process (pid %d) broke the protocol and was "
               "killed: %s", (long long)unit, (int)pid, detail);
  err->partition = unit;
}

/* Waits for the unit's messages until it ends. 0: ended; -1: the worker is lost (*broken: it broke
 * the protocol, err says how; else its connection ended). */
static int serve_unit(const hw_proxy_ops* ops, void* ctx, hw_worker* w, int64_t unit, bool* broken, hw_error* err) {
  for (;;) {
    hw_msg_type type;
    uint8_t* payload;
    size_t len;
    int fd;
    int got = hw_wire_recv(w->sock, &type, &payload, &len, &fd, NULL, err);
    if (got != 0) {
      *broken = hw_wire_garbage(got, err); /* garbage, not an end: killed at once */
      return -1;
    }
    hw_proxy_step step = ops->on_message(ctx, w, unit, type, payload, len, &fd, err);
    if (fd >= 0) close(fd);
    free(payload);
    if (step == HW_PROXY_BROKEN) {
      *broken = true;
      return -1;
    }
    if (step == HW_PROXY_ENDED) return 0;
  }
}

void hw_proxy_run(hw_pool* pool, int64_t query, pthread_mutex_t* outer, const hw_proxy_ops* ops, void* ctx) {
  hw_error err;
  hw_error_init(&err);
  for (;;) {
    /* a worker for one unit, shared with the session's other queries; claimed before the unit, so
     * the lowest unit not done always has a worker (an ordered consumer waits for it) */
    bool setup;
    int32_t slot = hw_pool_claim(pool, query, ops->stopping, ctx, &setup, &err);
    if (slot < 0) {
      if (slot == -1) ops->no_worker(ctx, &err);
      return;
    }
    hw_worker* w = &pool->workers[slot];
    int64_t unit = ops->take(ctx, slot, setup);
    if (unit < 0) {
      if (setup) { /* never set up: the next claim must not take it for set up */
        pthread_mutex_lock(&pool->mu);
        w->query = 0;
        pthread_mutex_unlock(&pool->mu);
      }
      hw_pool_release(pool, slot, false);
      return;
    }
    bool broken = false;
    if (ops->start(ctx, w, setup, unit, &err) == 0 && serve_unit(ops, ctx, w, unit, &broken, &err) == 0) {
      bool stop = ops->unit_ended(ctx);
      hw_pool_release(pool, slot, true);
      if (stop) return;
      continue;
    }
    /* the worker is lost: end it (at once when it broke the protocol, else after the grace
     * period) with no lock held while it is waited for, and replace it */
    pid_t pid = w->pid;
    hw_error failure = err;
    if (broken) {
      protocol_error(&failure, unit, pid);
      ops->fail(ctx, unit, &failure); /* first, so the run stops before the worker is waited for */
    }
    char how[160];
    hw_pool_end_worker(pool, slot, outer, broken, how, sizeof how);
    pthread_mutex_lock(outer);     /* the run's readers of worker slots (cancel) */
    pthread_mutex_lock(&pool->mu); /* and a stopping pool tears the slots down itself */
    hw_error ignored;
    bool respawned = !pool->stopped && hw_pool_respawn(pool, slot, &ignored) == 0; /* the pool stays whole */
    bool again = ops->lost ? ops->lost(ctx, unit, respawned, !broken) : false;
    pthread_mutex_unlock(&pool->mu);
    pthread_mutex_unlock(outer);
    hw_pool_release(pool, slot, false);
    if (again) continue;
    if (!broken) {
      hw_error_set(&failure, "PYTHON_WORKER_CRASHED", "partition %lld: the worker process (pid %d) %s %s",
                   (long long)unit, (int)pid, how, ops->doing);
      failure.partition = unit;
      ops->fail(ctx, unit, &failure);
    }
    return;
  }
}
