/*
 * Independent tasks on the worker pool: each task is an opaque payload (a pickled callable) that a
 * worker runs and answers with (ok, payload) — Spark's write tasks, one per partition. The host
 * only moves bytes and watches the workers: no Python here, no GIL needed.
 *
 * A run starts one proxy thread per worker (at most one per task); each claims a worker from the
 * pool per task (as a scan's proxies do), hands tasks out in index order and collects what comes back. The first failed task
 * (ok = false, an error raised in the worker, a worker that died) stops the hand-out: tasks not
 * started stay HW_TASK_NOT_RUN, tasks already running finish. A worker that dies is reaped and
 * replaced; its task fails with PYTHON_WORKER_CRASHED naming how it died.
 */
#ifndef HW_IPC_TASKS_H
#define HW_IPC_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/pool.h"
#include "ipc/stats.h"

typedef enum hw_task_state {
  HW_TASK_NOT_RUN = 0, /* not started (the run stopped or was cancelled first) */
  HW_TASK_RUNNING,
  HW_TASK_OK,        /* the task returned ok = true; output holds its payload */
  HW_TASK_FAILED,    /* the task returned ok = false; output holds its payload */
  HW_TASK_ERROR,     /* it raised in the worker, or the worker died: error (and traceback) say why */
  HW_TASK_CANCELLED, /* stopped by hw_task_run_cancel while running */
} hw_task_state;

typedef struct hw_task {
  hw_task_state state;
  uint8_t* output; /* malloc'd (OK, FAILED) */
  size_t output_len;
  hw_error error;  /* ERROR */
  char* traceback; /* ERROR raised in the worker: its formatted traceback (malloc'd), else NULL */
  hw_task_stats stats; /* OK, FAILED: the run report's counters the worker sent (a write task's) */
  bool polled;         /* handed out by hw_task_run_poll */
} hw_task;

typedef struct hw_task_run hw_task_run;

/* Starts n tasks on pool; inputs[i] (input_lens[i] bytes) is task i's payload, copied. Each task
 * claims a worker for itself: concurrent queries share the pool (ipc/lease.c). */
int hw_task_run_start(hw_task_run** out, hw_pool* pool, const uint8_t* const* inputs, const size_t* input_lens,
                      int64_t n, hw_error* err);

/* Waits up to timeout_ms for every proxy thread to end; true when the run is over. Blocks: call
 * without the GIL. */
bool hw_task_run_wait(hw_task_run* run, int timeout_ms);

/* Stops the run: no more tasks start, running ones get CANCEL and SIGUSR1 — or, with hard, their
 * workers SIGKILL (for code that ignores the cancel; the workers are replaced). Any thread. */
void hw_task_run_cancel(hw_task_run* run, bool hard);

/* Tasks that ended OK or FAILED since the last poll (at most max): their indexes and counters,
 * for a live progress bar. Returns how many. Any thread, while the run goes on. */
int64_t hw_task_run_poll(hw_task_run* run, int64_t* indexes, hw_task_stats* stats, int64_t max);

/* The run's tasks (n of them), valid until hw_task_run_free; read them once the run is over. */
hw_task* hw_task_run_tasks(hw_task_run* run, int64_t* n);

/* Cancels what still runs, joins the threads, hands the pool back and frees everything (the tasks'
 * outputs too). Blocks: call without the GIL. */
void hw_task_run_free(hw_task_run* run);

#endif
