/* Tests of the TASK and RESULT messages (src/ipc/wire.h): round trips, also through a socketpair,
 * and the decoders' refusal of malformed payloads (each truncation, trailing bytes, negative
 * index, a bad ok flag, a length past the end). Payloads are copied into exactly sized
 * allocations so AddressSanitizer reports any read past them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "ipc/stats.h"
#include "ipc/wire.h"

static hw_task_stats no_stats; /* what RESULTs without counters decode into */

static uint8_t* exact_copy(const uint8_t* p, size_t n) {
  uint8_t* c = malloc(n ? n : 1);
  assert_non_null(c);
  if (n) memcpy(c, p, n);
  return c;
}

static void test_task_round_trip(void** state) {
  (void)state;
  const char task[] = "\x80\x05pickled-callable";
  hw_wbuf b = {0};
  hw_msg_task_encode(&b, 41, task, sizeof task);
  assert_false(b.failed);
  uint8_t* p = exact_copy(b.data, b.size);
  int64_t index;
  const uint8_t* got;
  size_t n;
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_msg_task_decode(p, b.size, &index, &got, &n, &err), 0);
  assert_int_equal(index, 41);
  assert_int_equal(n, sizeof task);
  assert_memory_equal(got, task, n);
  free(p);
  hw_wbuf_free(&b);
}

static void test_task_empty_payload(void** state) {
  (void)state;
  hw_wbuf b = {0};
  hw_msg_task_encode(&b, 0, NULL, 0);
  int64_t index;
  const uint8_t* got;
  size_t n = 99;
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_msg_task_decode(b.data, b.size, &index, &got, &n, &err), 0);
  assert_int_equal(index, 0);
  assert_int_equal(n, 0);
  hw_wbuf_free(&b);
}

static void test_result_round_trip_ok_and_failed(void** state) {
  (void)state;
  for (int ok = 0; ok <= 1; ok++) {
    const char payload[] = "commit message";
    hw_wbuf b = {0};
    hw_msg_result_encode(&b, 7, ok, payload, sizeof payload, NULL);
    uint8_t* p = exact_copy(b.data, b.size);
    int64_t index;
    bool got_ok = !ok;
    const uint8_t* got;
    size_t n;
    hw_error err;
    hw_error_init(&err);
    assert_int_equal(hw_msg_result_decode(p, b.size, &index, &got_ok, &got, &n, &no_stats, &err), 0);
    assert_int_equal(index, 7);
    assert_int_equal(got_ok, ok);
    assert_int_equal(n, sizeof payload);
    assert_memory_equal(got, payload, n);
    free(p);
    hw_wbuf_free(&b);
  }
}

static void test_result_carries_a_write_tasks_counters(void** state) {
  (void)state;
  hw_task_stats st = {.has_write = true, .has_read = true};
  st.write = (hw_write_stats){3, 1000, 2, 16000, 50, 20, 10, 20, 4242};
  st.read = (hw_partition_stats){.partition = 3, .rows = 1000, .batches = 2, .bytes = 16000, .wall_ns = 30,
                                 .source_ns = 15, .convert_ns = 10, .wait_ns = 0, .pid = 4242};
  for (int has = 0; has < 4; has++) {
    st.has_write = has & 1;
    st.has_read = has & 2;
    hw_wbuf b = {0};
    hw_msg_result_encode(&b, 3, true, "msg", 3, &st);
    uint8_t* p = exact_copy(b.data, b.size);
    int64_t index;
    bool ok;
    const uint8_t* got;
    size_t n;
    hw_task_stats back;
    hw_error err;
    hw_error_init(&err);
    assert_int_equal(hw_msg_result_decode(p, b.size, &index, &ok, &got, &n, &back, &err), 0);
    assert_int_equal(back.has_write, st.has_write);
    assert_int_equal(back.has_read, st.has_read);
    if (st.has_write) {
      assert_int_equal(back.write.rows, 1000);
      assert_int_equal(back.write.bytes, 16000);
      assert_int_equal(back.write.writer_ns, 20);
      assert_int_equal(back.write.input_ns, 20);
      assert_int_equal(back.write.pid, 4242);
    }
    if (st.has_read) {
      assert_int_equal(back.read.partition, 3);
      assert_int_equal(back.read.source_ns, 15);
      assert_int_equal(back.read.pid, 4242);
    }
    /* every truncation is refused, and flags naming counters that are not there */
    for (size_t len = 0; len < b.size; len++) {
      hw_error_init(&err);
      assert_int_equal(hw_msg_result_decode(p, len, &index, &ok, &got, &n, &back, &err), -1);
      assert_false(back.has_write || back.has_read);
    }
    free(p);
    hw_wbuf_free(&b);
  }
  /* unknown flags */
  hw_wbuf b = {0};
  hw_msg_result_encode(&b, 0, true, "x", 1, NULL);
  memset(b.data + b.size - 8, 0x7f, 8);
  int64_t index;
  bool ok;
  const uint8_t* got;
  size_t n;
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_msg_result_decode(b.data, b.size, &index, &ok, &got, &n, &no_stats, &err), -1);
  hw_wbuf_free(&b);
}

static void test_truncated_at_every_length(void** state) {
  (void)state;
  hw_wbuf t = {0}, r = {0};
  hw_msg_task_encode(&t, 3, "abcdef", 6);
  hw_msg_result_encode(&r, 3, true, "xyz", 3, NULL);
  for (size_t len = 0; len < t.size; len++) {
    uint8_t* p = exact_copy(t.data, len);
    int64_t index;
    const uint8_t* got;
    size_t n;
    hw_error err;
    hw_error_init(&err);
    assert_int_equal(hw_msg_task_decode(p, len, &index, &got, &n, &err), -1);
    assert_string_equal(err.error_class, "HW_MALFORMED_MESSAGE");
    free(p);
  }
  for (size_t len = 0; len < r.size; len++) {
    uint8_t* p = exact_copy(r.data, len);
    int64_t index;
    bool ok;
    const uint8_t* got;
    size_t n;
    hw_error err;
    hw_error_init(&err);
    assert_int_equal(hw_msg_result_decode(p, len, &index, &ok, &got, &n, &no_stats, &err), -1);
    free(p);
  }
  hw_wbuf_free(&t);
  hw_wbuf_free(&r);
}

static void test_malformed(void** state) {
  (void)state;
  hw_error err;
  int64_t index;
  bool ok;
  const uint8_t* got;
  size_t n;
  /* trailing bytes */
  hw_wbuf b = {0};
  hw_msg_task_encode(&b, 1, "ab", 2);
  hw_wbuf_put_i64(&b, 5);
  hw_error_init(&err);
  assert_int_equal(hw_msg_task_decode(b.data, b.size, &index, &got, &n, &err), -1);
  hw_wbuf_free(&b);
  /* negative index */
  hw_msg_task_encode(&b, -2, "ab", 2);
  assert_int_equal(hw_msg_task_decode(b.data, b.size, &index, &got, &n, &err), -1);
  hw_wbuf_free(&b);
  /* a length that runs past the end, and a negative one */
  int64_t lens[] = {1000, -1, INT64_MAX};
  for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
    hw_wbuf_put_i64(&b, 0);
    hw_wbuf_put_i64(&b, lens[k]);
    hw_wbuf_put_i64(&b, 0);
    uint8_t* p = exact_copy(b.data, b.size);
    assert_int_equal(hw_msg_task_decode(p, b.size, &index, &got, &n, &err), -1);
    free(p);
    hw_wbuf_free(&b);
  }
  /* an ok flag other than 0 or 1 */
  hw_wbuf_put_i64(&b, 0);
  hw_wbuf_put_i64(&b, 2);
  hw_wbuf_put_bytes(&b, "x", 1);
  assert_int_equal(hw_msg_result_decode(b.data, b.size, &index, &ok, &got, &n, &no_stats, &err), -1);
  hw_wbuf_free(&b);
  /* trailing bytes after a result */
  hw_msg_result_encode(&b, 0, false, "x", 1, NULL);
  hw_wbuf_put_i64(&b, 0);
  assert_int_equal(hw_msg_result_decode(b.data, b.size, &index, &ok, &got, &n, &no_stats, &err), -1);
  hw_wbuf_free(&b);
}

static void test_through_a_socketpair(void** state) {
  (void)state;
  int fds[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  size_t big = 3u << 20; /* larger than a socket buffer: sent in pieces by a writer thread */
  uint8_t* task = malloc(big);
  assert_non_null(task);
  for (size_t i = 0; i < big; i++) task[i] = (uint8_t)(i * 31);
  hw_wbuf b = {0};
  hw_msg_task_encode(&b, 12, task, big);
  pid_t child = fork(); /* single-threaded test process: a plain fork is safe */
  assert_true(child >= 0);
  if (child == 0) {
    hw_error e;
    hw_error_init(&e);
    _exit(hw_wire_send(fds[0], HW_MSG_TASK, &b, -1, &e) == 0 ? 0 : 1);
  }
  hw_msg_type type;
  uint8_t* payload;
  size_t len;
  int fd;
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_wire_recv(fds[1], &type, &payload, &len, &fd, NULL, &err), 0);
  assert_int_equal(type, HW_MSG_TASK);
  assert_int_equal(fd, -1);
  int64_t index;
  const uint8_t* got;
  size_t n;
  assert_int_equal(hw_msg_task_decode(payload, len, &index, &got, &n, &err), 0);
  assert_int_equal(index, 12);
  assert_int_equal(n, big);
  assert_memory_equal(got, task, big);
  free(payload);
  free(task);
  hw_wbuf_free(&b);
  close(fds[0]);
  close(fds[1]);
  int status;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_int_equal(status, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_task_round_trip),
      cmocka_unit_test(test_task_empty_payload),
      cmocka_unit_test(test_result_round_trip_ok_and_failed),
      cmocka_unit_test(test_result_carries_a_write_tasks_counters),
      cmocka_unit_test(test_truncated_at_every_length),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_through_a_socketpair),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
