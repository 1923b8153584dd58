#include "ipc/tasks.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "ipc/proxy.h"
#include "ipc/wire.h"

/* One host thread per worker (ipc/proxy.h): it hands its worker tasks and files the answers. */
typedef struct task_proxy {
  hw_task_run* run;
  int32_t slot;    /* the worker it holds, -1 when none; guarded by run->mu */
  int64_t running; /* task the worker is on, -1 when idle; guarded by run->mu */
} task_proxy;

struct hw_task_run {
  hw_pool* pool; /* its workers are claimed one task at a time (ipc/lease.c) */
  hw_task* tasks;
  uint8_t** inputs;
  size_t* input_lens;
  int64_t n;
  pthread_mutex_t mu; /* guards everything below, the tasks' states and the proxies' running */
  pthread_cond_t changed;
  int64_t next;      /* next task to hand out */
  bool stop;         /* a task failed, or the run was cancelled: hand out no more */
  int32_t live;      /* proxy threads still running */
  pthread_t* threads;
  task_proxy* proxies;
  int32_t n_threads;
};

/* Files the end of task i (output moved in). mu not held. */
static void finish(hw_task_run* run, task_proxy* px, int64_t i, hw_task_state state, uint8_t* output, size_t len,
                   const hw_error* error, const char* traceback, const hw_task_stats* stats) {
  pthread_mutex_lock(&run->mu);
  hw_task* t = &run->tasks[i];
  t->state = state;
  if (stats) t->stats = *stats;
  t->output = output;
  t->output_len = len;
  if (error) t->error = *error;
  t->traceback = traceback && traceback[0] ? strdup(traceback) : NULL;
  if (state != HW_TASK_OK) run->stop = true; /* as Spark stops a job at its first failed task */
  px->running = -1;
  pthread_cond_broadcast(&run->changed);
  pthread_mutex_unlock(&run->mu);
}

/* The next task for this proxy, on the worker in slot (-1: none), or -1. */
static int64_t claim(hw_task_run* run, task_proxy* px, int32_t slot) {
  pthread_mutex_lock(&run->mu);
  int64_t i = run->stop || run->next >= run->n ? -1 : run->next++;
  if (i >= 0) run->tasks[i].state = HW_TASK_RUNNING;
  px->running = i;
  px->slot = slot;
  pthread_mutex_unlock(&run->mu);
  return i;
}

/* ---------------------------------------------------------------- the proxy's part (ipc/proxy.h) */

/* The run stopped: its proxies stop waiting for a worker. */
static bool run_stopping(void* ctx) {
  hw_task_run* run = ((task_proxy*)ctx)->run;
  pthread_mutex_lock(&run->mu);
  bool stop = run->stop;
  pthread_mutex_unlock(&run->mu);
  return stop;
}

/* No worker: the next task fails with the reason, which stops the run. */
static void no_worker(void* ctx, const hw_error* err) {
  task_proxy* px = ctx;
  int64_t i = claim(px->run, px, -1);
  if (i >= 0) finish(px->run, px, i, HW_TASK_ERROR, NULL, 0, err, NULL, NULL);
}

static int64_t take(void* ctx, int32_t slot, bool setup) {
  (void)setup; /* tasks need no SETUP */
  task_proxy* px = ctx;
  return claim(px->run, px, slot);
}

static int start(void* ctx, hw_worker* w, bool setup, int64_t i, hw_error* err) {
  (void)setup;
  hw_task_run* run = ((task_proxy*)ctx)->run;
  hw_wbuf b = {0};
  hw_msg_task_encode(&b, i, run->inputs[i], run->input_lens[i]);
  int rc = hw_link_send(w->link, HW_MSG_TASK, &b, -1, err);
  hw_wbuf_free(&b);
  return rc;
}

static hw_proxy_step on_message(void* ctx, hw_worker* w, int64_t i, hw_msg_type type, const uint8_t* payload,
                                size_t len, int* fd, hw_error* err) {
  (void)w;
  (void)fd; /* no task message carries one: the loop closes it */
  task_proxy* px = ctx;
  hw_task_run* run = px->run;
  if (type == HW_MSG_RESULT) {
    int64_t index;
    bool ok;
    const uint8_t* out;
    size_t n;
    hw_task_stats stats;
    if (hw_msg_result_decode(payload, len, &index, &ok, &out, &n, &stats, err) != 0) return HW_PROXY_BROKEN;
    if (index != i) {
      hw_error_set(err, "HW_MALFORMED_MESSAGE", "a worker answered task %lld with task %lld", (long long)i,
                   (long long)index);
      return HW_PROXY_BROKEN;
    }
    uint8_t* copy = malloc(n ? n : 1);
    if (!copy) {
      hw_error oom;
      hw_error_oom(&oom);
      finish(run, px, i, HW_TASK_ERROR, NULL, 0, &oom, NULL, NULL);
    } else {
      if (n) memcpy(copy, out, n);
      finish(run, px, i, ok ? HW_TASK_OK : HW_TASK_FAILED, copy, n, NULL, NULL, &stats);
    }
    return HW_PROXY_ENDED;
  }
  if (type == HW_MSG_DONE) { /* stopped by our cancel */
    finish(run, px, i, HW_TASK_CANCELLED, NULL, 0, NULL, NULL, NULL);
    return HW_PROXY_ENDED;
  }
  if (type == HW_MSG_ERROR) {
    hw_error werr;
    char* traceback;
    hw_msg_error_read(payload, len, i, &werr, &traceback);
    werr.partition = i; /* the task's index, which the host knows */
    finish(run, px, i, HW_TASK_ERROR, NULL, 0, &werr, traceback, NULL);
    free(traceback);
    return HW_PROXY_ENDED;
  }
  hw_error_set(err, "HW_MALFORMED_MESSAGE", "a worker sent message %d during a task", (int)type);
  return HW_PROXY_BROKEN;
}

static bool unit_ended(void* ctx) {
  (void)ctx; /* a stopped run hands out no more tasks: take() says so */
  return false;
}

static bool lost(void* ctx, int64_t i, bool respawned, bool retry) {
  (void)i;
  (void)respawned;
  (void)retry; /* a write task is not run twice */
  ((task_proxy*)ctx)->slot = -1; /* run->mu held: a cancel finds no worker to signal */
  return false;
}

static void fail(void* ctx, int64_t i, const hw_error* err) {
  task_proxy* px = ctx;
  finish(px->run, px, i, HW_TASK_ERROR, NULL, 0, err, NULL, NULL);
}

static const hw_proxy_ops task_proxy_ops = {
    .doing = "while running its task",
    .stopping = run_stopping,
    .no_worker = no_worker,
    .take = take,
    .start = start,
    .on_message = on_message,
    .unit_ended = unit_ended,
    .lost = lost,
    .fail = fail,
};

static void* proxy_main(void* arg) {
  task_proxy* px = arg;
  hw_task_run* run = px->run;
  hw_proxy_run(run->pool, 0, &run->mu, &task_proxy_ops, px);
  pthread_mutex_lock(&run->mu);
  px->slot = -1; /* no worker to cancel */
  run->live--;
  pthread_cond_broadcast(&run->changed);
  pthread_mutex_unlock(&run->mu);
  return NULL;
}

int hw_task_run_start(hw_task_run** out, hw_pool* pool, const uint8_t* const* inputs, const size_t* input_lens,
                      int64_t n, hw_error* err) {
  if (n < 0) return hw_error_set(err, "HW_INVALID_ARGUMENT", "a negative number of tasks");
  hw_task_run* run = calloc(1, sizeof *run);
  if (!run) return hw_error_oom(err);
  pthread_mutex_init(&run->mu, NULL);
  pthread_cond_init(&run->changed, NULL);
  run->n = n;
  size_t slots = (size_t)(n > 0 ? n : 1);
  run->tasks = calloc(slots, sizeof *run->tasks);
  run->inputs = calloc(slots, sizeof *run->inputs);
  run->input_lens = calloc(slots, sizeof *run->input_lens);
  int32_t threads = pool->n < n ? pool->n : (int32_t)n;
  run->threads = calloc((size_t)(threads > 0 ? threads : 1), sizeof *run->threads);
  run->proxies = calloc((size_t)(threads > 0 ? threads : 1), sizeof *run->proxies);
  bool failed = !run->tasks || !run->inputs || !run->input_lens || !run->threads || !run->proxies;
  for (int64_t i = 0; !failed && i < n; i++) {
    hw_error_init(&run->tasks[i].error);
    run->inputs[i] = malloc(input_lens[i] ? input_lens[i] : 1);
    if (!run->inputs[i]) failed = true;
    else if (input_lens[i]) memcpy(run->inputs[i], inputs[i], input_lens[i]);
    run->input_lens[i] = input_lens[i];
  }
  if (failed) {
    hw_task_run_free(run); /* no pool yet: nothing to hand back */
    return hw_error_oom(err);
  }
  pthread_mutex_lock(&pool->mu); /* the pool is shared: concurrent runs claim its workers task by task */
  bool stopped = pool->stopped;
  pthread_mutex_unlock(&pool->mu);
  if (stopped) {
    hw_task_run_free(run);
    return hw_error_set(err, "HW_WORKER_LOST", "the worker pool was stopped");
  }
  hw_pool_ref(pool);
  run->pool = pool;
  for (int32_t k = 0; k < threads; k++) {
    run->proxies[k] = (task_proxy){run, -1, -1};
    pthread_mutex_lock(&run->mu);
    run->live++;
    pthread_mutex_unlock(&run->mu);
    if (pthread_create(&run->threads[k], NULL, proxy_main, &run->proxies[k]) != 0) {
      pthread_mutex_lock(&run->mu);
      run->live--;
      pthread_mutex_unlock(&run->mu);
      hw_error_set(err, "HW_INTERNAL", "cannot start a task thread: %s", strerror(errno));
      hw_task_run_free(run);
      return -1;
    }
    run->n_threads = k + 1;
  }
  *out = run;
  return 0;
}

bool hw_task_run_wait(hw_task_run* run, int timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&run->mu);
  int rc = 0;
  while (run->live > 0 && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&run->changed, &run->mu, &until);
  bool over = run->live == 0;
  pthread_mutex_unlock(&run->mu);
  return over;
}

void hw_task_run_cancel(hw_task_run* run, bool hard) {
  pthread_mutex_lock(&run->mu);
  run->stop = true;
  for (int32_t k = 0; run->pool && k < run->n_threads; k++) {
    if (run->proxies[k].running < 0 || run->proxies[k].slot < 0) continue;
    hw_worker* w = &run->pool->workers[run->proxies[k].slot];
    hw_error ignored;
    if (hard) {
      if (w->pid) kill(w->pid, SIGKILL); /* its proxy sees the connection end, reaps and replaces it */
      continue;
    }
    if (w->link) hw_link_send(w->link, HW_MSG_CANCEL, NULL, -1, &ignored); /* first: the worker looks for it */
    if (w->pid) kill(w->pid, SIGUSR1); /* interrupts the task's Python code */
  }
  pthread_mutex_unlock(&run->mu);
  if (run->pool) hw_pool_wake(run->pool); /* proxies waiting for a worker give up now */
}

int64_t hw_task_run_poll(hw_task_run* run, int64_t* indexes, hw_task_stats* stats, int64_t max) {
  int64_t got = 0;
  pthread_mutex_lock(&run->mu);
  for (int64_t i = 0; i < run->n && got < max; i++) {
    hw_task* t = &run->tasks[i];
    if (t->polled || (t->state != HW_TASK_OK && t->state != HW_TASK_FAILED)) continue;
    t->polled = true;
    indexes[got] = i;
    stats[got++] = t->stats;
  }
  pthread_mutex_unlock(&run->mu);
  return got;
}

hw_task* hw_task_run_tasks(hw_task_run* run, int64_t* n) {
  *n = run->n;
  return run->tasks;
}

void hw_task_run_free(hw_task_run* run) {
  if (!run) return;
  if (run->n_threads > 0 && !hw_task_run_wait(run, 0)) hw_task_run_cancel(run, false);
  for (int32_t k = 0; k < run->n_threads; k++) pthread_join(run->threads[k], NULL);
  if (run->pool) hw_pool_unref(run->pool);
  for (int64_t i = 0; i < run->n; i++) {
    if (run->tasks) {
      free(run->tasks[i].output);
      free(run->tasks[i].traceback);
    }
    if (run->inputs) free(run->inputs[i]);
  }
  free(run->tasks);
  free(run->inputs);
  free(run->input_lens);
  free(run->threads);
  free(run->proxies);
  pthread_mutex_destroy(&run->mu);
  pthread_cond_destroy(&run->changed);
  free(run);
}
