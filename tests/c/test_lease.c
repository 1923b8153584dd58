/* Tests of worker leases (src/ipc/lease.c): claiming idle workers per task, first come first
 * served waiting, giving up when asked, preferring a worker set up for the same query, a stopped
 * pool, and reading a process's private RSS. The pool here is built by hand with the test's own pid
 * in its slots, so no worker process is started (and no recycling limit is set). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "ipc/pool.h"

static hw_pool* fake_pool(int32_t n) {
  hw_pool* pool = calloc(1, sizeof *pool);
  assert_non_null(pool);
  atomic_init(&pool->refs, 1);
  pthread_mutex_init(&pool->mu, NULL);
  pthread_cond_init(&pool->freed, NULL);
  pool->n = n;
  pool->workers = calloc((size_t)n, sizeof *pool->workers);
  assert_non_null(pool->workers);
  for (int32_t i = 0; i < n; i++) {
    pool->workers[i].pid = getpid(); /* "alive": a claim starts nothing */
    pool->workers[i].sock = -1;
  }
  return pool;
}

static void fake_pool_free(hw_pool* pool) {
  pthread_mutex_destroy(&pool->mu);
  pthread_cond_destroy(&pool->freed);
  free(pool->workers);
  free(pool);
}

static bool never(void* ctx) {
  (void)ctx;
  return false;
}

static bool flag_set(void* ctx) { return atomic_load((atomic_bool*)ctx); }

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void test_claim_and_release(void** state) {
  (void)state;
  hw_pool* pool = fake_pool(2);
  hw_error err;
  hw_error_init(&err);
  bool setup;
  int32_t a = hw_pool_claim(pool, 0, never, NULL, &setup, &err);
  int32_t b = hw_pool_claim(pool, 0, never, NULL, &setup, &err);
  assert_true(a >= 0 && b >= 0 && a != b);
  assert_false(setup); /* query 0 needs no SETUP */
  assert_true(pool->workers[a].claimed && pool->workers[b].claimed);
  hw_pool_release(pool, a, true);
  assert_false(pool->workers[a].claimed);
  assert_int_equal(pool->workers[a].tasks, 1);
  assert_int_equal(hw_pool_claim(pool, 0, never, NULL, &setup, &err), a);
  hw_pool_release(pool, a, false);
  assert_int_equal(pool->workers[a].tasks, 1);
  hw_pool_release(pool, b, true);
  fake_pool_free(pool);
}

static void test_same_query_is_preferred_and_setup_gets_a_fresh_serial(void** state) {
  (void)state;
  hw_pool* pool = fake_pool(3);
  hw_error err;
  hw_error_init(&err);
  bool setup;
  int32_t s7 = hw_pool_claim(pool, 7, never, NULL, &setup, &err);
  assert_true(setup);
  int64_t serial = pool->workers[s7].serial;
  assert_true(serial > 0);
  hw_pool_release(pool, s7, true);
  int32_t again = hw_pool_claim(pool, 7, never, NULL, &setup, &err);
  assert_int_equal(again, s7); /* the worker that has query 7's reader */
  assert_false(setup);
  int32_t s8 = hw_pool_claim(pool, 8, never, NULL, &setup, &err);
  assert_true(setup && s8 != s7);
  assert_true(pool->workers[s8].serial > serial);
  hw_pool_release(pool, s7, true);
  hw_pool_release(pool, s8, true);
  fake_pool_free(pool);
}

typedef struct claimant {
  hw_pool* pool;
  atomic_bool stop;
  atomic_int slot; /* -100 while waiting */
  int order;
  atomic_int* next_order;
} claimant;

static void* claim_thread(void* arg) {
  claimant* c = arg;
  hw_error err;
  hw_error_init(&err);
  bool setup;
  int32_t slot = hw_pool_claim(c->pool, 0, flag_set, &c->stop, &setup, &err);
  if (slot >= 0) c->order = atomic_fetch_add(c->next_order, 1);
  atomic_store(&c->slot, slot);
  return NULL;
}

static void test_waiters_are_served_in_order_and_can_give_up(void** state) {
  (void)state;
  hw_pool* pool = fake_pool(1);
  hw_error err;
  hw_error_init(&err);
  bool setup;
  int32_t held = hw_pool_claim(pool, 0, never, NULL, &setup, &err);
  assert_int_equal(held, 0);
  atomic_int next_order;
  atomic_init(&next_order, 0);
  claimant cs[3];
  pthread_t ts[3];
  for (int k = 0; k < 3; k++) {
    cs[k].pool = pool;
    atomic_init(&cs[k].stop, false);
    atomic_init(&cs[k].slot, -100);
    cs[k].order = -1;
    cs[k].next_order = &next_order;
    assert_int_equal(pthread_create(&ts[k], NULL, claim_thread, &cs[k]), 0);
    sleep_ms(50); /* they line up in this order */
  }
  /* the middle one gives up: it leaves the line without a worker */
  atomic_store(&cs[1].stop, true);
  hw_pool_wake(pool);
  pthread_join(ts[1], NULL);
  assert_int_equal(atomic_load(&cs[1].slot), -2);
  assert_int_equal(atomic_load(&cs[0].slot), -100);
  hw_pool_release(pool, held, true); /* first in line gets it */
  pthread_join(ts[0], NULL);
  assert_int_equal(atomic_load(&cs[0].slot), 0);
  sleep_ms(50);
  assert_int_equal(atomic_load(&cs[2].slot), -100); /* still waiting: the worker is claimed */
  hw_pool_release(pool, 0, true);
  pthread_join(ts[2], NULL);
  assert_int_equal(atomic_load(&cs[2].slot), 0);
  assert_true(cs[0].order < cs[2].order);
  hw_pool_release(pool, 0, true);
  assert_int_equal(pool->workers[0].tasks, 3);
  assert_null(pool->waiters);
  fake_pool_free(pool);
}

static void test_a_stopped_pool_ends_the_wait(void** state) {
  (void)state;
  hw_pool* pool = fake_pool(1);
  hw_error err;
  hw_error_init(&err);
  bool setup;
  assert_int_equal(hw_pool_claim(pool, 0, never, NULL, &setup, &err), 0);
  atomic_int next_order;
  atomic_init(&next_order, 0);
  claimant c = {.pool = pool, .next_order = &next_order};
  atomic_init(&c.stop, false);
  atomic_init(&c.slot, -100);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, claim_thread, &c), 0);
  sleep_ms(50);
  pthread_mutex_lock(&pool->mu);
  pool->stopped = true;
  pthread_cond_broadcast(&pool->freed);
  pthread_mutex_unlock(&pool->mu);
  pthread_join(t, NULL);
  assert_int_equal(atomic_load(&c.slot), -1);
  assert_int_equal(hw_pool_claim(pool, 0, never, NULL, &setup, &err), -1);
  assert_string_equal(err.error_class, "HW_WORKER_LOST");
  hw_pool_release(pool, 0, true); /* a stopped pool recycles nothing */
  fake_pool_free(pool);
}

static void test_a_pool_stalled_on_its_consumers_fails_the_claim(void** state) {
  (void)state;
  hw_pool* pool = fake_pool(1);
  hw_error err;
  hw_error_init(&err);
  bool setup;
  assert_int_equal(hw_pool_claim(pool, 5, never, NULL, &setup, &err), 0);
  pthread_mutex_lock(&pool->mu);
  pool->workers[0].credit_limit = 2; /* its task sent 2 batches nobody takes */
  pool->workers[0].outstanding = 2;
  pthread_mutex_unlock(&pool->mu);
  time_t t0 = time(NULL);
  assert_int_equal(hw_pool_claim(pool, 6, never, NULL, &setup, &err), -1);
  assert_string_equal(err.error_class, "HW_POOL_BUSY");
  assert_true(time(NULL) - t0 >= HW_POOL_STALL_SECONDS - 1);
  assert_null(pool->waiters);
  hw_pool_release(pool, 0, true);
  fake_pool_free(pool);
}

static void test_private_rss(void** state) {
  (void)state;
  int64_t before = hw_pool_worker_rss(getpid());
  assert_true(before > 0);
  size_t n = (size_t)64 << 20;
  char* p = malloc(n);
  assert_non_null(p);
  memset(p, 1, n);
  int64_t after = hw_pool_worker_rss(getpid());
  assert_true(after - before >= (int64_t)(48 << 20));
  free(p);
  assert_int_equal(hw_pool_worker_rss(0x7ffffff0), -1); /* no such process */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_claim_and_release),
      cmocka_unit_test(test_same_query_is_preferred_and_setup_gets_a_fresh_serial),
      cmocka_unit_test(test_waiters_are_served_in_order_and_can_give_up),
      cmocka_unit_test(test_a_stopped_pool_ends_the_wait),
      cmocka_unit_test(test_a_pool_stalled_on_its_consumers_fails_the_claim),
      cmocka_unit_test(test_private_rss),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
