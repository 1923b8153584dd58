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
#include "ipc/wire.h"

/* One host thread per worker: it hands its worker tasks and files the answers. */
typedef struct task_proxy {
  hw_task_run* run;
  int32_t slot;
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

/* The next task for this proxy, or -1. */
static int64_t claim(hw_task_run* run, task_proxy* px) {
  pthread_mutex_lock(&run->mu);
  int64_t i = run->stop || run->next >= run->n ? -1 : run->next++;
  if (i >= 0) run->tasks[i].state = HW_TASK_RUNNING;
  px->running = i;
  pthread_mutex_unlock(&run->mu);
  return i;
}

/* Starts a fresh worker in an emptied slot (not once the pool is stopped). */
static void respawn(hw_task_run* run, hw_pool* pool, int32_t slot) {
  hw_error ignored;
  pthread_mutex_lock(&run->mu); /* cancel reads the worker slots under it */
  pthread_mutex_lock(&pool->mu);
  if (!pool->stopped) hw_pool_respawn(pool, slot, &ignored);
  pthread_mutex_unlock(&pool->mu);
  pthread_mutex_unlock(&run->mu);
}

/* The run stopped: its proxies stop waiting for a worker. */
static bool run_stopping(void* arg) {
  hw_task_run* run = arg;
  pthread_mutex_lock(&run->mu);
  bool stop = run->stop;
  pthread_mutex_unlock(&run->mu);
  return stop;
}

static void* proxy_main(void* arg) {
  task_proxy* px = arg;
  hw_task_run* run = px->run;
  hw_pool* pool = run->pool;
  hw_worker* w = NULL;
  hw_error err;
  hw_error_init(&err);
  bool garbage = false;
  for (;;) {
    /* a worker for this one task, shared with the session's other queries */
    bool setup;
    int32_t slot = hw_pool_claim(pool, 0, run_stopping, run, &setup, &err);
    if (slot < 0) {
      px->slot = -1; /* no worker to cancel */
      int64_t i = slot == -1 ? claim(run, px) : -1;
      if (i >= 0) finish(run, px, i, HW_TASK_ERROR, NULL, 0, &err, NULL, NULL);
      goto out;
    }
    px->slot = slot;
    w = &pool->workers[slot];
    int64_t i = claim(run, px);
    if (i < 0) {
      hw_pool_release(pool, slot, false);
      break;
    }
    hw_wbuf b = {0};
    hw_msg_task_encode(&b, i, run->inputs[i], run->input_lens[i]);
    int rc = hw_link_send(w->link, HW_MSG_TASK, &b, -1, &err);
    hw_wbuf_free(&b);
    if (rc != 0) goto lost;
    for (;;) { /* until the worker answers task i */
      hw_msg_type type;
      uint8_t* payload;
      size_t len;
      int fd;
      int got = hw_wire_recv(w->sock, &type, &payload, &len, &fd, NULL, &err);
      if (got != 0) {
        garbage = hw_wire_garbage(got, &err); /* not an end: the worker is killed at once */
        goto lost;
      }
      if (fd >= 0) close(fd);
      bool answered = true, broken = false;
      if (type == HW_MSG_RESULT) {
        int64_t index;
        bool ok;
        const uint8_t* out;
        size_t n;
        hw_task_stats stats;
        if (hw_msg_result_decode(payload, len, &index, &ok, &out, &n, &stats, &err) != 0 || index != i) {
          if (index != i) hw_error_set(&err, "HW_MALFORMED_MESSAGE", "a worker answered task %lld with task %lld",
                                       (long long)i, (long long)index);
          broken = true;
        } else {
          uint8_t* copy = malloc(n ? n : 1);
          if (!copy) {
            hw_error_oom(&err);
            finish(run, px, i, HW_TASK_ERROR, NULL, 0, &err, NULL, NULL);
          } else {
            if (n) memcpy(copy, out, n);
            finish(run, px, i, ok ? HW_TASK_OK : HW_TASK_FAILED, copy, n, NULL, NULL, &stats);
          }
        }
      } else if (type == HW_MSG_DONE) { /* stopped by our cancel */
        finish(run, px, i, HW_TASK_CANCELLED, NULL, 0, NULL, NULL, NULL);
      } else if (type == HW_MSG_ERROR) {
        hw_error werr;
        char* traceback;
        hw_msg_error_read(payload, len, i, &werr, &traceback);
        werr.partition = i; /* the task's index, which the host knows */
        finish(run, px, i, HW_TASK_ERROR, NULL, 0, &werr, traceback, NULL);
        free(traceback);
      } else {
        hw_error_set(&err, "HW_MALFORMED_MESSAGE", "a worker sent message %d during a task", (int)type);
        broken = true;
      }
      free(payload);
      if (broken) {
        /* a worker that breaks the protocol is not trusted again: killed and replaced */
        err.partition = i;
        hw_error_prefix(&err, "partition %lld: the worker process (pid %d) broke the protocol and was killed: ",
                        (long long)i, (int)w->pid);
        finish(run, px, i, HW_TASK_ERROR, NULL, 0, &err, NULL, NULL);
        char how[160];
        hw_pool_end_worker(pool, px->slot, &run->mu, true, how, sizeof how);
        respawn(run, pool, px->slot);
        hw_pool_release(pool, px->slot, false);
        goto out;
      }
      if (answered) break;
    }
    hw_pool_release(pool, px->slot, true);
  }
  goto out;

lost: {
  /* the worker died, its connection ended or carried garbage, while on a task: end it (at once for
   * garbage, else after the grace period) with no lock held while it is waited for, and replace it */
  char how[160];
  pthread_mutex_lock(&run->mu);
  int64_t i = px->running;
  pid_t pid = w->pid;
  pthread_mutex_unlock(&run->mu);
  hw_pool_end_worker(pool, px->slot, &run->mu, garbage, how, sizeof how);
  hw_error died;
  hw_error_init(&died);
  if (garbage)
    hw_error_set(&died, "HW_MALFORMED_MESSAGE", "partition %lld: the worker process (pid %d) broke the protocol (%s) "
                 "and was killed", (long long)i, (int)pid, err.message);
  else
    hw_error_set(&died, "PYTHON_WORKER_CRASHED", "partition %lld: the worker process (pid %d) %s while running its task",
                 (long long)i, (int)pid, how);
  died.partition = i;
  respawn(run, pool, px->slot); /* the pool stays whole for later queries */
  if (i >= 0) finish(run, px, i, HW_TASK_ERROR, NULL, 0, &died, NULL, NULL);
  hw_pool_release(pool, px->slot, false);
}
out:
  pthread_mutex_lock(&run->mu);
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
    run->proxies[k] = (task_proxy){run, k, -1};
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
