/* Tests of the message decoders of src/ipc/wire.h other than TASK/RESULT (test_task_messages.c):
 * SETUP, RUN, RELEASE, REGION, BATCH, ERROR. Each is given what its encoder writes, then every
 * truncation and a trailing byte, then values out of range. Payloads are copied into exactly sized
 * allocations so AddressSanitizer reports any read past them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ipc/stats.h"
#include "ipc/wire.h"

typedef int (*decode_fn)(const uint8_t* p, size_t len);

static uint8_t* exact_copy(const uint8_t* p, size_t n) {
  uint8_t* c = malloc(n ? n : 1);
  assert_non_null(c);
  if (n) memcpy(c, p, n);
  return c;
}

static hw_msg_setup setup_out;
static int64_t i1, i2;
static int32_t id32;
static size_t sz, n_out;
static const uint8_t* ptr;
static hw_msg_error error_out;

static void expect_malformed(const hw_error* err) {
  assert_string_equal(err->error_class, "HW_MALFORMED_MESSAGE");
}

static int dec_setup(const uint8_t* p, size_t len) {
  hw_error err;
  hw_error_init(&err);
  int rc = hw_msg_setup_decode(p, len, &setup_out, &err);
  if (rc) expect_malformed(&err);
  return rc;
}
static int dec_run(const uint8_t* p, size_t len) {
  hw_error err;
  hw_error_init(&err);
  int rc = hw_msg_run_decode(p, len, &i1, &ptr, &n_out, &err);
  if (rc) expect_malformed(&err);
  return rc;
}
static int dec_release(const uint8_t* p, size_t len) {
  hw_error err;
  hw_error_init(&err);
  int rc = hw_msg_release_decode(p, len, &i1, &err);
  if (rc) expect_malformed(&err);
  return rc;
}
static int dec_region(const uint8_t* p, size_t len) {
  hw_error err;
  hw_error_init(&err);
  int rc = hw_msg_region_decode(p, len, &id32, &sz, &err);
  if (rc) expect_malformed(&err);
  return rc;
}
static int dec_batch(const uint8_t* p, size_t len) {
  hw_error err;
  hw_error_init(&err);
  int rc = hw_msg_batch_decode(p, len, &i1, &i2, &ptr, &n_out, &err);
  if (rc) expect_malformed(&err);
  return rc;
}
static int dec_error(const uint8_t* p, size_t len) {
  hw_error err;
  hw_error_init(&err);
  int rc = hw_msg_error_decode(p, len, &error_out, &err);
  if (rc) expect_malformed(&err);
  return rc;
}

/* The whole payload decodes; every prefix and the payload plus a byte do not. */
static void check_exact(decode_fn decode, const hw_wbuf* b) {
  assert_false(b->failed);
  for (size_t n = 0; n < b->size; n++) {
    uint8_t* p = exact_copy(b->data, n);
    assert_int_equal(decode(p, n), -1);
    free(p);
  }
  uint8_t* longer = malloc(b->size + 1);
  memcpy(longer, b->data, b->size);
  longer[b->size] = 0;
  assert_int_equal(decode(longer, b->size + 1), -1);
  free(longer);
  uint8_t* p = exact_copy(b->data, b->size);
  assert_int_equal(decode(p, b->size), 0);
  free(p);
  assert_int_equal(decode(b->data, b->size), 0); /* again, so the outputs point into b (alive) */
}

static void put_setup(hw_wbuf* b, int64_t n_columns, int64_t written_columns) {
  hw_wbuf_put_i64(b, 3);
  hw_wbuf_put_i64(b, 4);
  hw_wbuf_put_i64(b, 1000);
  hw_wbuf_put_i64(b, 1 << 20);
  hw_wbuf_put_bytes(b, "{\"type\":\"struct\",\"fields\":[]}", 29);
  hw_wbuf_put_bytes(b, "pickle", 6);
  hw_wbuf_put_bytes(b, "src", 3);
  hw_wbuf_put_i64(b, n_columns);
  for (int64_t i = 0; i < written_columns; i++) hw_wbuf_put_i64(b, i == 1 ? (int64_t)1 << 40 : 2 * i);
  hw_wbuf_put_i64(b, 1); /* exact_batches */
}

static void test_setup(void** state) {
  (void)state;
  hw_wbuf b = {0};
  put_setup(&b, 3, 3);
  check_exact(dec_setup, &b);
  assert_int_equal(setup_out.query, 3);
  assert_int_equal(setup_out.credits, 4);
  assert_int_equal(setup_out.n_schema_json, 29);
  assert_memory_equal(setup_out.reader, "pickle", 6);
  assert_memory_equal(setup_out.name, "src", 3);
  assert_int_equal(setup_out.n_columns, 3);
  assert_int_equal(setup_out.exact_batches, 1);
  assert_int_equal(hw_msg_setup_column(&setup_out, 0), 0);
  assert_int_equal(hw_msg_setup_column(&setup_out, 1), -1); /* 2^40 is no column */
  assert_int_equal(hw_msg_setup_column(&setup_out, 2), 4);
  hw_wbuf_free(&b);
  /* what the scan sends: hw_msg_setup_encode reads back the same */
  const int32_t cols[] = {0, 2, 5};
  hw_msg_setup m = {.query = 7, .credits = 2, .max_rows = 10, .max_bytes = 64, .schema_json = (const uint8_t*)"{}",
                    .n_schema_json = 2, .reader = (const uint8_t*)"r", .n_reader = 1, .name = (const uint8_t*)"nm",
                    .n_name = 2, .n_columns = 3, .exact_batches = 0};
  hw_msg_setup_encode(&b, &m, cols);
  check_exact(dec_setup, &b);
  assert_int_equal(setup_out.query, 7);
  assert_int_equal(setup_out.max_bytes, 64);
  assert_memory_equal(setup_out.name, "nm", 2);
  assert_int_equal(hw_msg_setup_column(&setup_out, 2), 5);
  assert_int_equal(setup_out.exact_batches, 0);
  hw_wbuf_free(&b);
  put_setup(&b, -1, 0); /* every column */
  check_exact(dec_setup, &b);
  assert_int_equal(setup_out.n_columns, -1);
  hw_wbuf_free(&b);
  put_setup(&b, 0, 0);
  check_exact(dec_setup, &b);
  hw_wbuf_free(&b);
  /* counts the payload cannot hold are refused before anything is allocated for them */
  int64_t bad_counts[] = {-2, INT32_MAX, (int64_t)INT32_MAX + 1, INT64_MAX, INT64_MIN, 4};
  for (size_t k = 0; k < sizeof bad_counts / sizeof *bad_counts; k++) {
    put_setup(&b, bad_counts[k], 3);
    assert_int_equal(dec_setup(b.data, b.size), -1);
    hw_wbuf_free(&b);
  }
}

static void test_run_release_region_batch(void** state) {
  (void)state;
  hw_wbuf b = {0};
  hw_msg_run_encode(&b, 9, "part", 4);
  check_exact(dec_run, &b);
  assert_int_equal(i1, 9);
  assert_int_equal(n_out, 4);
  hw_wbuf_free(&b);
  hw_wbuf_put_i64(&b, -1);
  hw_wbuf_put_bytes(&b, "part", 4);
  assert_int_equal(dec_run(b.data, b.size), -1);
  hw_wbuf_free(&b);

  hw_msg_release_encode(&b, 2);
  check_exact(dec_release, &b);
  assert_int_equal(i1, 2);
  hw_wbuf_free(&b);
  hw_wbuf_put_i64(&b, -5);
  assert_int_equal(dec_release(b.data, b.size), -1);
  hw_wbuf_free(&b);

  hw_msg_region_encode(&b, 1, (size_t)4 << 30);
  check_exact(dec_region, &b);
  assert_int_equal(id32, 1);
  assert_true(sz == (size_t)4 << 30);
  hw_wbuf_free(&b);
  int64_t bad[][2] = {{-1, 4096}, {(int64_t)INT32_MAX + 1, 4096}, {(int64_t)1 << 32, 4096}, {0, 0}, {0, -4096}};
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    hw_wbuf_put_i64(&b, bad[k][0]);
    hw_wbuf_put_i64(&b, bad[k][1]);
    assert_int_equal(dec_region(b.data, b.size), -1);
    assert_int_equal(id32, -1);
    hw_wbuf_free(&b);
  }

  hw_msg_batch_encode(&b, 5, 0, "descriptor", 10);
  check_exact(dec_batch, &b);
  assert_int_equal(i1, 5);
  assert_int_equal(i2, 0);
  assert_int_equal(n_out, 10);
  hw_wbuf_free(&b);
  hw_wbuf_put_i64(&b, 5);
  hw_wbuf_put_i64(&b, -1);
  hw_wbuf_put_bytes(&b, "", 0);
  assert_int_equal(dec_batch(b.data, b.size), -1);
  hw_wbuf_free(&b);
}

/* DONE with a partition's statistics (the run report): round trip, a DONE of the partition alone
 * (a cancelled task) and every truncation refused. */
static void test_done_stats(void** state) {
  (void)state;
  hw_partition_stats st = {.partition = 3, .rows = 2500, .batches = 3, .bytes = 40000, .wall_ns = 9000,
                           .source_ns = 4000, .convert_ns = 3000, .wait_ns = 1000, .pid = 4242};
  hw_wbuf b = {0};
  hw_msg_done_stats_encode(&b, &st);
  hw_partition_stats got;
  assert_int_equal(hw_msg_done_stats_decode(b.data, b.size, &got), 0);
  assert_int_equal(got.partition, 3);
  assert_int_equal(got.rows, 2500);
  assert_int_equal(got.batches, 3);
  assert_int_equal(got.bytes, 40000);
  assert_int_equal(got.wall_ns, 9000);
  assert_int_equal(got.source_ns, 4000);
  assert_int_equal(got.convert_ns, 3000);
  assert_int_equal(got.wait_ns, 1000);
  assert_int_equal(got.pid, 4242);
  for (size_t len = 0; len < b.size; len++) assert_int_equal(hw_msg_done_stats_decode(b.data, len, &got), -1);
  hw_wbuf_free(&b);
  hw_wbuf alone = {0};
  hw_msg_done_encode(&alone, 3); /* a bare DONE carries no statistics */
  assert_int_equal(hw_msg_done_stats_decode(alone.data, alone.size, &got), -1);
  hw_wbuf_free(&alone);
}

static void test_error(void** state) {
  (void)state;
  hw_wbuf b = {0};
  hw_error sent;
  hw_error_init(&sent);
  hw_error_set(&sent, "PYTHON_DATA_SOURCE_ERROR", "boom");
  sent.row = 17;
  sent.column = 3;
  hw_msg_error_encode(&b, 2, &sent, "Traceback");
  check_exact(dec_error, &b);
  hw_error e;
  hw_error_init(&e);
  char* tb = NULL;
  hw_msg_error_apply(&error_out, &e, &tb);
  assert_string_equal(e.error_class, "PYTHON_DATA_SOURCE_ERROR");
  assert_string_equal(e.message, "boom");
  assert_int_equal(e.row, 17);
  assert_int_equal(e.column, 3);
  assert_string_equal(tb, "Traceback");
  free(tb);
  hw_wbuf_free(&b);

  /* longer than the buffers: cut, never an int overflow of "%.*s"; a column past int32 is none;
   * an empty traceback is NULL */
  hw_msg_error m = {0};
  size_t big = sizeof e.message * 4;
  uint8_t* text = malloc(big);
  memset(text, 'x', big);
  m.error_class = text;
  m.n_error_class = big;
  m.message = text;
  m.n_message = big;
  m.column = (int64_t)1 << 33;
  m.row = 1;
  hw_error_init(&e);
  hw_msg_error_apply(&m, &e, &tb);
  assert_int_equal(strlen(e.message), sizeof e.message - 1);
  assert_int_equal(strlen(e.error_class), sizeof e.error_class - 1);
  assert_int_equal(e.column, -1);
  assert_null(tb);
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_setup),
      cmocka_unit_test(test_run_release_region_batch),
      cmocka_unit_test(test_error),
      cmocka_unit_test(test_done_stats),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
