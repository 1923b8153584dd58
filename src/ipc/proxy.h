/*
 * The worker-proxy loop: one host thread that drives the session's worker processes, one unit of
 * work at a time, for a run (a scan's partitions, a write's tasks). Per unit it claims a worker
 * from the pool (ipc/lease.c), has the path take and start the unit, hands the path every message
 * the worker sends until the unit ends, and hands the worker back. The paths differ only in the
 * callbacks below; losing a worker is handled here, the same way for both:
 *
 *   - the worker died, or its connection ended: it gets the pool's cancel grace period, is reaped
 *     and replaced, and the unit fails with PYTHON_WORKER_CRASHED (partition, pid, how it ended),
 *     unless the path runs the unit again (a scan's task retries);
 *   - it broke the protocol (a frame that is not one, a message the path refused, a message the
 *     path does not expect): it is killed at once and replaced, and the unit fails with
 *     HW_MALFORMED_MESSAGE, "partition N: the worker process (pid P) broke the protocol and was
 *     killed: <what it sent>".
 *
 * After a unit fails with its worker lost, the proxy ends. No Python; no GIL needed.
 */
#ifndef HW_IPC_PROXY_H
#define HW_IPC_PROXY_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/pool.h"

/* What a message did to the unit. */
typedef enum hw_proxy_step {
  HW_PROXY_MORE,   /* the unit goes on: wait for the next message */
  HW_PROXY_ENDED,  /* the unit ended (finished, failed in the worker, or cancelled) */
  HW_PROXY_BROKEN, /* the message broke the protocol (err says how): the worker is killed */
} hw_proxy_step;

/* The path's part. ctx is the proxy's own (one per thread). Called with no lock held unless said. */
typedef struct hw_proxy_ops {
  const char* doing; /* what a lost worker was doing, for the error: "while reading it" */
  /* stop() for hw_pool_claim: the run wants no more workers (failed, cancelled, nothing left). */
  bool (*stopping)(void* ctx);
  /* No worker could be had (err: the pool stopped, or a worker could not start). */
  void (*no_worker)(void* ctx, const hw_error* err);
  /* The next unit for the worker claimed in slot (setup: it must be set up for the run first), now
   * marked running on this proxy; -1 when none is left. */
  int64_t (*take)(void* ctx, int32_t slot, bool setup);
  /* Sends what starts the unit on worker w. */
  int (*start)(void* ctx, hw_worker* w, bool setup, int64_t unit, hw_error* err);
  /* One message of the worker during the unit. *fd is a descriptor it passed (-1: none): set it
   * to -1 when taking it over, else the loop closes it. */
  hw_proxy_step (*on_message)(void* ctx, hw_worker* w, int64_t unit, hw_msg_type type, const uint8_t* payload,
                              size_t len, int* fd, hw_error* err);
  /* The unit ended (HW_PROXY_ENDED): the proxy is idle again. True when the run stops here. */
  bool (*unit_ended)(void* ctx);
  /* The worker that ran unit was lost and its slot refilled (respawned) or not. Called with the
   * run's lock (outer) and pool->mu held: the proxy is idle again; true when the path queued the
   * unit to run again (only offered for a worker that died: retry), false to fail it. May be NULL. */
  bool (*lost)(void* ctx, int64_t unit, bool respawned, bool retry);
  /* The unit failed with its worker lost (err: why). */
  void (*fail)(void* ctx, int64_t unit, const hw_error* err);
} hw_proxy_ops;

/* Runs the loop until no unit is left, the run stops, or a unit failed with its worker lost.
 * query: the run's lease (> 0 for a scan, whose reader a worker is set up with; 0 for tasks).
 * outer: the run's lock, which guards its readers of worker slots (cancel), taken before pool->mu.
 * Blocks: run it on its own thread, no GIL. */
void hw_proxy_run(hw_pool* pool, int64_t query, pthread_mutex_t* outer, const hw_proxy_ops* ops, void* ctx);

#endif
