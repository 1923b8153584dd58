/* Unit tests of the rate sources' row builder (src/stream/rate.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "stream/rate.h"

static void check(const hw_rate_range* r, const int64_t* values, const int64_t* micros, int64_t n) {
  hw_error err;
  hw_error_init(&err);
  struct ArrowArray out;
  assert_int_equal(hw_rate_batch(r, &out, &err), 0);
  assert_int_equal(out.length, n);
  assert_int_equal(out.n_children, 2);
  const int64_t* ts = (const int64_t*)out.children[0]->buffers[1];
  const int64_t* v = (const int64_t*)out.children[1]->buffers[1];
  for (int64_t i = 0; i < n; i++) {
    assert_int_equal(v[i], values[i]);
    assert_int_equal(ts[i], micros[i]);
  }
  out.release(&out);
}

static void partition_values_and_rounding(void** state) {
  (void)state;
  hw_rate_range r = {1, 3, 10, 20, 5000, 0.5};
  const int64_t v[] = {11, 14, 17};
  const int64_t t[] = {5001000, 5002000, 5004000};  /* 0.5 -> 1, 2, 3.5 -> 4: Java's Math.round */
  check(&r, v, t, 3);
  hw_rate_range ramp = {0, 1, 3, 6, 1000, 1000.0 / 3};  /* 333.33 ms a value */
  const int64_t v2[] = {3, 4, 5};
  const int64_t t2[] = {1000000, 1333000, 1667000};
  check(&ramp, v2, t2, 3);
}

static void empty_and_bad_partitions(void** state) {
  (void)state;
  hw_rate_range none = {2, 3, 0, 2, 0, 1.0};
  check(&none, NULL, NULL, 0);
  hw_rate_range bad = {3, 3, 0, 10, 0, 1.0};
  hw_error err;
  hw_error_init(&err);
  struct ArrowArray out;
  assert_int_equal(hw_rate_batch(&bad, &out, &err), -1);
  assert_non_null(strstr(err.message, "partition 3 of 3"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(partition_values_and_rounding),
      cmocka_unit_test(empty_and_bad_partitions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
