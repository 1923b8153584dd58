/*
 * The worker pool: Python worker processes started once per session with
 * posix_spawn (never fork() of a threaded host), each connected to the host by
 * a socketpair, reused across queries, replaced when one dies.
 *
 * Workers stop when the pool is freed (SHUTDOWN, then SIGKILL after a grace
 * period), when the host exits, and when the host dies by any means: each
 * worker runs a watchdog thread that exits the process once its parent is gone.
 * The host reaps every worker it started: no zombies.
 */
#ifndef HW_IPC_POOL_H
#define HW_IPC_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "ipc/shm.h"
#include "ipc/wire.h"

/* The host's end of one worker's socket, shared with the batches on the worker's regions (which send
 * RELEASE from whatever thread drops them). */
typedef struct hw_worker_link {
  atomic_int refs;
  pthread_mutex_t mu; /* serialises sends */
  int sock;           /* -1 once the worker is gone */
} hw_worker_link;

/* A worker's region as mapped by the host; referenced by the worker's table and each live batch. */
typedef struct hw_host_region {
  hw_region region;
  atomic_int refs;
  hw_worker_link* link;
} hw_host_region;

typedef struct hw_worker {
  pid_t pid;           /* 0 when the slot has no live worker */
  int sock;            /* receiving end (the proxy thread of the query that claimed it reads it) */
  hw_worker_link* link;
  hw_host_region** regions; /* by region id */
  int32_t n_regions;
  /* leases (ipc/lease.c); guarded by the pool's mu. Zeroed when the slot gets a new process. */
  bool claimed;        /* a query's proxy holds it for a task */
  int64_t query;       /* the scan whose reader it was set up with (0: none) */
  int64_t serial;      /* that SETUP's serial: credits name it, so stale ones are ignored */
  int64_t tasks;       /* tasks it has run */
  int64_t credit_limit; /* batches it may have unconsumed under that SETUP (0: no limit) */
  int64_t outstanding;  /* batches it sent under it that the consumer has not taken */
} hw_worker;

typedef struct hw_pool {
  atomic_int refs;  /* the owner's, and one per scan using the pool */
  bool stopped;     /* no more workers are started */
  int32_t n;
  hw_worker* workers;
  char* python;  /* interpreter that runs `-m headwater.exec._worker` */
  char** env;    /* environment of the workers (NULL-terminated, owned) */
  pthread_mutex_t mu;
  int64_t next_query;
  atomic_int cancel_grace_ms; /* how long a cancelled or disconnected worker gets before SIGKILL */
  /* leases (ipc/lease.c), guarded by mu */
  pthread_cond_t freed;                 /* a worker went back to the pool, or the pool stopped */
  struct hw_pool_waiter* waiters;       /* queries waiting for a worker, first come first served */
  int64_t next_serial;
  int64_t max_tasks;                    /* recycle a worker after this many tasks (<= 0: never) */
  int64_t max_rss;                      /* ... or once its private resident memory exceeds this (<= 0: never) */
  int64_t recycled;                     /* workers replaced for those limits */
  int64_t credits_returned;             /* progress: batches consumers took (a stalled pool shows none) */
} hw_pool;

#define HW_CANCEL_GRACE_MS_DEFAULT 2000 /* as Spark's spark.python.task.killTimeout */

/* Starts n workers running `python -m headwater.exec._worker`. env is copied. Blocks until each says
 * READY; a worker that fails to start is an error naming how it ended. */
int hw_pool_new(hw_pool** out, int32_t n, const char* python, char* const* env, hw_error* err);

/* Stops every worker (SHUTDOWN, then SIGKILL after a grace period), reaps them, and drops the
 * owner's reference (the memory goes with the last reference: a scan may still hold one). */
void hw_pool_free(hw_pool* pool);

/* References held by scans. */
void hw_pool_ref(hw_pool* pool);
void hw_pool_unref(hw_pool* pool);

/* Replaces the worker in slot i: a live one is killed (SIGKILL) and reaped first. An error once the
 * pool is stopped. */
int hw_pool_respawn(hw_pool* pool, int32_t i, hw_error* err);

/* Reaps worker i after its connection ended and describes how it died ("killed by signal 9
 * (Killed)", "exited with code 3"); the slot is left empty. */
void hw_pool_bury(hw_pool* pool, int32_t i, char* how, size_t how_size);

/* Ends the worker in slot i and empties the slot, holding no lock while it waits. The process is
 * first taken out of the slot under outer (the caller's lock that guards readers of the slot; may
 * be NULL) and pool->mu, so nobody else signals or reaps it; then, with no lock held, it is killed
 * at once (kill_now: it broke the protocol) or given pool->cancel_grace_ms to exit by itself (its
 * connection ended) before SIGKILL, and reaped; then the slot's link and regions are dropped
 * (under outer and pool->mu again). Says how the worker ended in how. The slot is left empty for
 * hw_pool_respawn. outer and pool->mu must not be held. */
void hw_pool_end_worker(hw_pool* pool, int32_t i, pthread_mutex_t* outer, bool kill_now, char* how,
                        size_t how_size);

/* Whether hw_wire_recv's result got (with err) says the worker sent garbage (a malformed frame), as
 * opposed to its connection ending or breaking (a worker that dies may reset it). */
bool hw_wire_garbage(int got, const hw_error* err);

/* Whether slot i has a live worker (reaps it if it exited). */
bool hw_pool_alive(hw_pool* pool, int32_t i);

/* Sends a message to a worker through its link (any thread). */
int hw_link_send(hw_worker_link* link, hw_msg_type type, const hw_wbuf* payload, int pass_fd, hw_error* err);

void hw_link_unref(hw_worker_link* link);

/* Drops a reference to a host region (the last one unmaps it). */
void hw_host_region_unref(hw_host_region* r);

/* Records a region a worker announced (fd taken over). */
int hw_worker_add_region(hw_worker* w, int32_t id, int fd, size_t capacity, hw_error* err);

/* ---------------------------------------------------------------- leases (ipc/lease.c)
 *
 * Concurrent queries share the pool: a query's proxy thread claims a worker for one task (a
 * partition, a write task) and hands it back when the task ends; waiting queries are served first
 * come, first served. A claim that waits while every worker is held by a task stalled on its
 * consumer (all its credits out, none coming back for HW_POOL_STALL_SECONDS: say an open stream
 * nobody reads, in the thread that now runs another query) fails with HW_POOL_BUSY instead of
 * waiting forever. A worker handed back is recycled (replaced by a fresh process, between tasks,
 * never during one) once it has run max_tasks tasks or its private resident memory exceeds max_rss.
 */

#define HW_POOL_STALL_SECONDS 10

/* Claims an idle worker for a task of query (> 0 for a scan, whose reader a worker must have been
 * SETUP with; 0 for work that needs none). Waits while every worker is claimed; stop(ctx) is polled
 * without the pool's lock and ends the wait. A slot without a process gets a fresh one. Returns the
 * slot; *setup tells whether the worker must be sent SETUP first (its serial is then in
 * workers[slot].serial). -1 with err set when the pool stopped or a worker could not start, -2 when
 * stop(ctx) said so. Blocks: no GIL. */
int32_t hw_pool_claim(hw_pool* pool, int64_t query, bool (*stop)(void* ctx), void* ctx, bool* setup, hw_error* err);

/* Hands a claimed worker back after a task (task_ran: count it toward max_tasks), recycling it when
 * it reached a limit. */
void hw_pool_release(hw_pool* pool, int32_t slot, bool task_ran);

/* Sets the recycling limits (<= 0: none). */
void hw_pool_set_recycle(hw_pool* pool, int64_t max_tasks, int64_t max_rss);

/* Wakes claimants so they poll their stop condition now. */
void hw_pool_wake(hw_pool* pool);

/* Private resident memory of a live worker (resident minus shared pages in /proc/PID/statm: the
 * shared-memory batch regions do not count), in bytes; -1 when it cannot be read. */
int64_t hw_pool_worker_rss(pid_t pid);

#endif
