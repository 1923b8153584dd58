/* Tests of the worker-proxy loop (src/ipc/proxy.c) through both its users' shapes: the task runner
 * (src/ipc/tasks.c) and a path of the test's own with retries, as the scan's. The pool runs real
 * processes: fake_worker (its path is argv[1]), which behaves as each task's payload says. One
 * fault, one error: a worker that dies is PYTHON_WORKER_CRASHED, one that breaks the protocol in
 * any way is HW_MALFORMED_MESSAGE; either way it is replaced and the pool stays whole. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "ipc/pool.h"
#include "ipc/proxy.h"
#include "ipc/tasks.h"
#include "ipc/wire.h"

extern char** environ;
static const char* fake_worker;

static hw_pool* start_pool(int32_t n) {
  hw_pool* pool = NULL;
  hw_error err;
  hw_error_init(&err);
  if (hw_pool_new(&pool, n, fake_worker, environ, &err) != 0) fail_msg("pool: %s", err.message);
  return pool;
}

/* Runs the tasks named by payloads[0..n) to the end. */
static hw_task_run* run_tasks(hw_pool* pool, const char* const* payloads, int64_t n) {
  const uint8_t* inputs[8];
  size_t lens[8];
  for (int64_t i = 0; i < n; i++) {
    inputs[i] = (const uint8_t*)payloads[i];
    lens[i] = strlen(payloads[i]);
  }
  hw_task_run* run = NULL;
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_task_run_start(&run, pool, inputs, lens, n, &err), 0);
  while (!hw_task_run_wait(run, 100)) {}
  return run;
}

static bool all_alive(hw_pool* pool) {
  pthread_mutex_lock(&pool->mu);
  bool alive = true;
  for (int32_t i = 0; i < pool->n; i++) alive = alive && hw_pool_alive(pool, i);
  pthread_mutex_unlock(&pool->mu);
  return alive;
}

/* Task 0 does `what`; the error it ends with has error_class and a message containing text. */
static void expect_task_error(hw_pool* pool, const char* what, const char* error_class, const char* text) {
  const char* payloads[] = {what};
  hw_task_run* run = run_tasks(pool, payloads, 1);
  int64_t n;
  hw_task* t = hw_task_run_tasks(run, &n);
  assert_int_equal(n, 1);
  assert_int_equal(t[0].state, HW_TASK_ERROR);
  assert_string_equal(t[0].error.error_class, error_class);
  if (!strstr(t[0].error.message, text)) fail_msg("'%s' is not in '%s'", text, t[0].error.message);
  assert_int_equal(t[0].error.partition, 0);
  hw_task_run_free(run);
  assert_true(all_alive(pool)); /* the lost worker was replaced */
}

static void test_tasks_run_and_answer(void** state) {
  (void)state;
  hw_pool* pool = start_pool(2);
  const char* payloads[] = {"ok", "ok", "ok"};
  hw_task_run* run = run_tasks(pool, payloads, 3);
  int64_t n;
  hw_task* t = hw_task_run_tasks(run, &n);
  for (int64_t i = 0; i < n; i++) {
    char want[32];
    snprintf(want, sizeof want, "out:%lld", (long long)i);
    assert_int_equal(t[i].state, HW_TASK_OK);
    assert_int_equal(t[i].output_len, strlen(want));
    assert_memory_equal(t[i].output, want, strlen(want));
  }
  hw_task_run_free(run);
  hw_pool_free(pool);
}

static void test_a_task_that_raised_is_its_error_with_traceback(void** state) {
  (void)state;
  hw_pool* pool = start_pool(1);
  const char* payloads[] = {"raise"};
  hw_task_run* run = run_tasks(pool, payloads, 1);
  int64_t n;
  hw_task* t = hw_task_run_tasks(run, &n);
  assert_int_equal(t[0].state, HW_TASK_ERROR);
  assert_string_equal(t[0].error.error_class, "HW_TEST_RAISED");
  assert_string_equal(t[0].traceback, "Traceback: here");
  hw_task_run_free(run);
  hw_pool_free(pool);
}

static void test_one_fault_one_error_on_the_task_path(void** state) {
  (void)state;
  hw_pool* pool = start_pool(1);
  expect_task_error(pool, "exit", "PYTHON_WORKER_CRASHED", "exited with code 3 while running its task");
  expect_task_error(pool, "garbage", "HW_MALFORMED_MESSAGE", "broke the protocol and was killed: ");
  expect_task_error(pool, "stray", "HW_MALFORMED_MESSAGE",
                    "broke the protocol and was killed: a worker sent message 20 during a task");
  expect_task_error(pool, "wrong", "HW_MALFORMED_MESSAGE",
                    "broke the protocol and was killed: a worker answered task 0 with task 100");
  const char* payloads[] = {"ok"}; /* and the pool still works */
  hw_task_run* run = run_tasks(pool, payloads, 1);
  int64_t n;
  assert_int_equal(hw_task_run_tasks(run, &n)[0].state, HW_TASK_OK);
  hw_task_run_free(run);
  hw_pool_free(pool);
}

/* ---------------------------------------------------------------- a path with retries */

/* Units whose first attempt does first[i] and whose later ones do "ok"; every callback is logged. */
typedef struct test_path {
  pthread_mutex_t mu;
  const char* const* first;
  int64_t n, next;
  int attempts[4];
  int64_t retry; /* a unit queued to run again, -1: none */
  bool retries;  /* whether lost() queues a unit again */
  char log[512];
  hw_error failure;
} test_path;

static void note(test_path* p, const char* fmt, ...) {
  size_t used = strlen(p->log);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->log + used, sizeof p->log - used, fmt, ap);
  va_end(ap);
}

static bool tp_stopping(void* ctx) {
  test_path* p = ctx;
  pthread_mutex_lock(&p->mu);
  bool stop = p->next >= p->n && p->retry < 0;
  pthread_mutex_unlock(&p->mu);
  return stop;
}

static void tp_no_worker(void* ctx, const hw_error* err) {
  test_path* p = ctx;
  p->failure = *err;
  note(p, "no_worker ");
}

static int64_t tp_take(void* ctx, int32_t slot, bool setup) {
  (void)slot;
  (void)setup;
  test_path* p = ctx;
  pthread_mutex_lock(&p->mu);
  int64_t unit = p->retry >= 0 ? p->retry : p->next < p->n ? p->next++ : -1;
  if (unit == p->retry) p->retry = -1;
  pthread_mutex_unlock(&p->mu);
  note(p, "take:%lld ", (long long)unit);
  return unit;
}

static int tp_start(void* ctx, hw_worker* w, bool setup, int64_t unit, hw_error* err) {
  (void)setup;
  test_path* p = ctx;
  const char* what = p->attempts[unit]++ == 0 ? p->first[unit] : "ok";
  hw_wbuf b = {0};
  hw_msg_task_encode(&b, unit, what, strlen(what));
  int rc = hw_link_send(w->link, HW_MSG_TASK, &b, -1, err);
  hw_wbuf_free(&b);
  return rc;
}

static hw_proxy_step tp_on_message(void* ctx, hw_worker* w, int64_t unit, hw_msg_type type, const uint8_t* payload,
                                   size_t len, int* fd, hw_error* err) {
  (void)w;
  (void)fd;
  test_path* p = ctx;
  int64_t index;
  bool ok;
  const uint8_t* out;
  size_t n;
  hw_task_stats stats;
  if (type != HW_MSG_RESULT || hw_msg_result_decode(payload, len, &index, &ok, &out, &n, &stats, err) != 0 ||
      index != unit) {
    hw_error_set(err, "HW_TEST", "not the answer");
    return HW_PROXY_BROKEN;
  }
  note(p, "ended:%lld ", (long long)unit);
  return HW_PROXY_ENDED;
}

static bool tp_unit_ended(void* ctx) {
  (void)ctx;
  return false;
}

static bool tp_lost(void* ctx, int64_t unit, bool respawned, bool retry) {
  test_path* p = ctx;
  note(p, "lost:%lld:%s:%s ", (long long)unit, respawned ? "respawned" : "-", retry ? "retry" : "-");
  if (!p->retries || !retry || !respawned) return false;
  p->retry = unit;
  return true;
}

static void tp_fail(void* ctx, int64_t unit, const hw_error* err) {
  test_path* p = ctx;
  p->failure = *err;
  note(p, "fail:%lld ", (long long)unit);
}

static const hw_proxy_ops test_ops = {
    .doing = "while testing",
    .stopping = tp_stopping,
    .no_worker = tp_no_worker,
    .take = tp_take,
    .start = tp_start,
    .on_message = tp_on_message,
    .unit_ended = tp_unit_ended,
    .lost = tp_lost,
    .fail = tp_fail,
};

static void run_path(hw_pool* pool, test_path* p, const char* const* first, int64_t n, bool retries) {
  memset(p, 0, sizeof *p);
  pthread_mutex_init(&p->mu, NULL);
  p->first = first;
  p->n = n;
  p->retry = -1;
  p->retries = retries;
  hw_error_init(&p->failure);
  hw_proxy_run(pool, 0, &p->mu, &test_ops, p);
  pthread_mutex_destroy(&p->mu);
}

static void test_a_dead_worker_is_offered_a_retry_and_the_unit_runs_again(void** state) {
  (void)state;
  hw_pool* pool = start_pool(1);
  const char* first[] = {"ok", "exit", "ok"};
  test_path p;
  run_path(pool, &p, first, 3, true);
  assert_string_equal(p.log, "take:0 ended:0 take:1 lost:1:respawned:retry take:1 ended:1 take:2 ended:2 take:-1 ");
  assert_true(all_alive(pool));
  hw_pool_free(pool);
}

static void test_without_a_retry_the_dead_workers_unit_fails_and_the_proxy_ends(void** state) {
  (void)state;
  hw_pool* pool = start_pool(1);
  const char* first[] = {"exit", "ok"};
  test_path p;
  run_path(pool, &p, first, 2, false);
  assert_string_equal(p.log, "take:0 lost:0:respawned:retry fail:0 ");
  assert_string_equal(p.failure.error_class, "PYTHON_WORKER_CRASHED");
  char want[160];
  snprintf(want, sizeof want, "partition 0: the worker process (pid ");
  assert_memory_equal(p.failure.message, want, strlen(want));
  assert_non_null(strstr(p.failure.message, ") exited with code 3 while testing"));
  assert_int_equal(p.failure.partition, 0);
  assert_true(all_alive(pool));
  hw_pool_free(pool);
}

static void test_a_protocol_breach_is_never_retried_and_fails_first(void** state) {
  (void)state;
  hw_pool* pool = start_pool(1);
  const char* first[] = {"garbage"};
  test_path p;
  run_path(pool, &p, first, 1, true);
  /* the run learns of the failure before the worker is ended; no retry is offered */
  assert_string_equal(p.log, "take:0 fail:0 lost:0:respawned:- ");
  assert_string_equal(p.failure.error_class, "HW_MALFORMED_MESSAGE");
  assert_non_null(strstr(p.failure.message, "broke the protocol and was killed: "));
  const char* refused[] = {"stray"}; /* a message the path refused: the same fault, the same class */
  run_path(pool, &p, refused, 1, true);
  assert_string_equal(p.log, "take:0 fail:0 lost:0:respawned:- ");
  assert_string_equal(p.failure.error_class, "HW_MALFORMED_MESSAGE");
  assert_non_null(strstr(p.failure.message, "broke the protocol and was killed: not the answer"));
  assert_true(all_alive(pool));
  hw_pool_free(pool);
}

static void test_a_stopped_pool_gives_no_worker(void** state) {
  (void)state;
  hw_pool* pool = start_pool(1);
  hw_pool_ref(pool);
  hw_pool_free(pool); /* stopped; our reference keeps the memory */
  const char* first[] = {"ok"};
  test_path p;
  run_path(pool, &p, first, 1, true);
  assert_string_equal(p.log, "no_worker ");
  assert_string_equal(p.failure.error_class, "HW_WORKER_LOST");
  hw_pool_unref(pool);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_proxy FAKE_WORKER\n");
    return 2;
  }
  fake_worker = argv[1];
  signal(SIGPIPE, SIG_IGN); /* a worker killed mid-send */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tasks_run_and_answer),
      cmocka_unit_test(test_a_task_that_raised_is_its_error_with_traceback),
      cmocka_unit_test(test_one_fault_one_error_on_the_task_path),
      cmocka_unit_test(test_a_dead_worker_is_offered_a_retry_and_the_unit_runs_again),
      cmocka_unit_test(test_without_a_retry_the_dead_workers_unit_fails_and_the_proxy_ends),
      cmocka_unit_test(test_a_protocol_breach_is_never_retried_and_fails_first),
      cmocka_unit_test(test_a_stopped_pool_gives_no_worker),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
