/* Tests of the host <-> worker protocol (src/ipc/wire.h): payload helpers, message framing over a
 * socketpair (with memfds passed by SCM_RIGHTS), and batch descriptors: encode (worker) / decode
 * (host) round trips over a shared-memory region, copies of heap batches into the region, and
 * decode's checks of malformed descriptors, which must never let the host (or a consumer of the
 * decoded batch) read out of bounds.
 *
 * Malformed descriptors are decoded against a heap copy of the region that is exactly as large as
 * the bytes in use (a "fake region"), and the descriptor itself is copied into an exactly sized
 * allocation, so that AddressSanitizer reports any read past either. A successfully decoded batch
 * is also walked the way an Arrow consumer reads it (consume()), which stops and reports instead
 * of reading when a node would be read beyond its length: decode must not accept such a batch.
 *
 * Tests named test_regression_* fail on the code as written: each documents a bug (see its comment).
 * test_fuzz_boundary_values also fails, on the same bug as test_regression_*_offset_counted_as_length. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arrow/allocator.h"
#include "arrow/array.h"
#include "arrow/builder.h"
#include "common/error.h"
#include "ipc/shm.h"
#include "ipc/wire.h"
#include "schema/field.h"

/* ================================================================ small helpers */

typedef struct rng {
  uint64_t s;
} rng;

static uint64_t rnd(rng* g) { /* splitmix64 */
  uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void region_new(hw_region* r, int32_t id) {
  hw_error err;
  hw_error_init(&err);
  if (hw_region_create(r, id, &err) != 0) fail_msg("hw_region_create: [%s] %s", err.error_class, err.message);
}

static void parse_schema(const char* ddl, hw_field* f) {
  hw_error err;
  hw_error_init(&err);
  if (hw_ddl_parse(ddl, f, &err) != 0) fail_msg("parsing \"%s\": [%s] %s", ddl, err.error_class, err.message);
}

/* Types DDL cannot spell (unsigned, large strings): retype top-level fields by name. */
static void retype(hw_field* schema, const char* name, hw_type_id type) {
  for (int32_t i = 0; i < schema->n_children; i++)
    if (schema->children[i].name && strcmp(schema->children[i].name, name) == 0) {
      schema->children[i].type = type;
      return;
    }
  fail_msg("no field %s", name);
}

static void* xmemdup(const void* p, size_t n) {
  void* q = malloc(n ? n : 1);
  assert_non_null(q);
  if (n) memcpy(q, p, n);
  return q;
}

static int count_open_fds(void) {
  DIR* d = opendir("/proc/self/fd");
  assert_non_null(d);
  int n = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

/* on_release callback: counts calls in *token. */
static void count_release(void* token) { atomic_fetch_add((atomic_int*)token, 1); }

/* ================================================================ payloads */

static void test_wbuf_rbuf(void** state) {
  (void)state;
  hw_wbuf b = {0};
  hw_wbuf_put_i64(&b, 42);
  hw_wbuf_put_i64(&b, -1);
  hw_wbuf_put_i64(&b, INT64_MIN);
  hw_wbuf_put_bytes(&b, "hello", 5);
  hw_wbuf_put_bytes(&b, NULL, 0);
  char big[1000];
  for (int i = 0; i < 1000; i++) big[i] = (char)i;
  hw_wbuf_put_bytes(&b, big, sizeof big);
  hw_wbuf_put_i64(&b, 7);
  assert_false(b.failed);
  assert_int_equal(b.size, 3 * 8 + (8 + 5) + 8 + (8 + 1000) + 8);

  hw_rbuf r = {b.data, b.size, 0, 0};
  assert_int_equal(hw_rbuf_i64(&r), 42);
  assert_int_equal(hw_rbuf_i64(&r), -1);
  assert_true(hw_rbuf_i64(&r) == INT64_MIN);
  size_t n;
  const uint8_t* p = hw_rbuf_bytes(&r, &n);
  assert_int_equal(n, 5);
  assert_memory_equal(p, "hello", 5);
  p = hw_rbuf_bytes(&r, &n);
  assert_non_null(p);
  assert_int_equal(n, 0);
  p = hw_rbuf_bytes(&r, &n);
  assert_int_equal(n, 1000);
  assert_memory_equal(p, big, 1000);
  assert_int_equal(hw_rbuf_i64(&r), 7);
  assert_false(r.failed);
  assert_int_equal(r.pos, r.size);
  /* reading past the end fails, and stays failed */
  assert_int_equal(hw_rbuf_i64(&r), 0);
  assert_true(r.failed);
  r.pos = 0;
  assert_int_equal(hw_rbuf_i64(&r), 0);
  assert_true(r.failed);

  /* an i64 cut short */
  hw_rbuf r2 = {b.data, 7, 0, 0};
  assert_int_equal(hw_rbuf_i64(&r2), 0);
  assert_true(r2.failed);

  /* byte strings whose length overruns, is negative or is cut short */
  hw_wbuf w = {0};
  hw_wbuf_put_i64(&w, 100);
  hw_wbuf_put_i64(&w, 0);
  hw_rbuf r3 = {w.data, w.size, 0, 0};
  assert_null(hw_rbuf_bytes(&r3, &n));
  assert_int_equal(n, 0);
  assert_true(r3.failed);
  hw_wbuf_free(&w);
  hw_wbuf_put_i64(&w, -8);
  hw_wbuf_put_i64(&w, 0);
  hw_rbuf r4 = {w.data, w.size, 0, 0};
  assert_null(hw_rbuf_bytes(&r4, &n));
  assert_true(r4.failed);
  hw_wbuf_free(&w);
  hw_wbuf_put_i64(&w, INT64_MAX);
  hw_rbuf r5 = {w.data, w.size, 0, 0};
  assert_null(hw_rbuf_bytes(&r5, &n));
  assert_true(r5.failed);
  hw_rbuf r6 = {w.data, 3, 0, 0};
  assert_null(hw_rbuf_bytes(&r6, &n));
  assert_true(r6.failed);
  hw_wbuf_free(&w);

  hw_wbuf_free(&b);
  assert_null(b.data);
  assert_int_equal(b.size, 0);
  hw_wbuf_free(&b); /* twice is fine */
}

/* ================================================================ framing */

static void make_pair(int sv[2]) { assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0); }

static void fill_pattern(uint8_t* p, size_t n, uint32_t seed) {
  rng g = {seed};
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd(&g);
}

static void payload_of(hw_wbuf* b, size_t n, uint32_t seed) {
  memset(b, 0, sizeof *b);
  if (n == 0) return;
  b->data = malloc(n);
  assert_non_null(b->data);
  fill_pattern(b->data, n, seed);
  b->size = b->capacity = n;
}

static void send_ok(int sock, hw_msg_type type, const hw_wbuf* b, int fd) {
  hw_error err;
  hw_error_init(&err);
  if (hw_wire_send(sock, type, b, fd, &err) != 0) fail_msg("send: [%s] %s", err.error_class, err.message);
}

/* Receives one message and checks it is (type, n bytes of pattern seed); returns the fd. */
static int recv_expect(int sock, hw_msg_type type, size_t n, uint32_t seed) {
  hw_error err;
  hw_error_init(&err);
  hw_msg_type got;
  uint8_t* payload = (uint8_t*)1;
  size_t len = 12345;
  int fd = -7;
  int rc = hw_wire_recv(sock, &got, &payload, &len, &fd, NULL, &err);
  if (rc != 0) fail_msg("recv returned %d: [%s] %s", rc, err.error_class, err.message);
  assert_int_equal(got, type);
  assert_int_equal(len, n);
  if (n == 0) {
    assert_null(payload);
  } else {
    assert_non_null(payload);
    uint8_t* want = malloc(n);
    assert_non_null(want);
    fill_pattern(want, n, seed);
    assert_memory_equal(payload, want, n);
    free(want);
  }
  free(payload);
  return fd;
}

typedef struct sender {
  int sock;
  size_t n_msgs;
  const hw_msg_type* types;
  const size_t* sizes;
  int pass_fd;
  int rc;
  hw_error err;
} sender;

static void* sender_main(void* arg) {
  sender* s = arg;
  s->rc = 0;
  hw_error_init(&s->err);
  for (size_t i = 0; i < s->n_msgs && s->rc == 0; i++) {
    hw_wbuf b;
    payload_of(&b, s->sizes[i], (uint32_t)(i + 1));
    s->rc = hw_wire_send(s->sock, s->types[i], &b, i == 0 ? s->pass_fd : -1, &s->err);
    hw_wbuf_free(&b);
  }
  return NULL;
}

static void test_send_recv_types_and_sizes(void** state) {
  (void)state;
  static const hw_msg_type types[] = {HW_MSG_SETUP,   HW_MSG_RUN,    HW_MSG_CREDIT, HW_MSG_RELEASE,
                                      HW_MSG_CANCEL,  HW_MSG_SHUTDOWN, HW_MSG_READY, HW_MSG_REGION,
                                      HW_MSG_BATCH,   HW_MSG_DONE,   HW_MSG_ERROR};
  static const size_t sizes[] = {0, 1, 2, 7, 8, 9, 255, 4096, 10000};
  int sv[2];
  make_pair(sv);
  /* one at a time, in both directions */
  uint32_t seed = 1;
  for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++, seed++) {
      hw_wbuf b;
      payload_of(&b, sizes[s], seed);
      send_ok(sv[t & 1], types[t], &b, -1);
      assert_int_equal(recv_expect(sv[1 - (t & 1)], types[t], sizes[s], seed), -1);
      hw_wbuf_free(&b);
    }
  /* several queued before any is read: they come out whole and in order */
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    hw_wbuf b;
    payload_of(&b, sizes[s], (uint32_t)(100 + s));
    send_ok(sv[0], types[s % 11], &b, -1);
    hw_wbuf_free(&b);
  }
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
    assert_int_equal(recv_expect(sv[1], types[s % 11], sizes[s], (uint32_t)(100 + s)), -1);
  /* a NULL payload is an empty one; the type is carried as is */
  send_ok(sv[0], HW_MSG_CREDIT, NULL, -1);
  assert_int_equal(recv_expect(sv[1], HW_MSG_CREDIT, 0, 0), -1);
  /* an unknown type is garbage (a peer out of step): refused before its length is trusted */
  hw_wbuf big = {0};
  hw_wbuf_put_i64(&big, 1);
  send_ok(sv[0], (hw_msg_type)777, &big, -1);
  hw_wbuf_free(&big);
  hw_error err;
  hw_error_init(&err);
  hw_msg_type type;
  uint8_t* payload;
  size_t len;
  int fd;
  assert_int_equal(hw_wire_recv(sv[1], &type, &payload, &len, &fd, NULL, &err), -1);
  assert_null(payload);
  assert_int_equal(fd, -1);
  assert_non_null(strstr(err.message, "malformed"));
  close(sv[0]);
  close(sv[1]);
}

static void test_send_recv_large(void** state) {
  (void)state;
  /* bigger than the socket buffer: the sender blocks until the receiver reads (so a thread) */
  static const hw_msg_type types[] = {HW_MSG_BATCH, HW_MSG_CREDIT, HW_MSG_ERROR, HW_MSG_SETUP, HW_MSG_RUN};
  static const size_t sizes[] = {1 << 20, 0, 1, (1 << 20) + 3, 5 << 20};
  int sv[2];
  make_pair(sv);
  sender s = {.sock = sv[0], .n_msgs = 5, .types = types, .sizes = sizes, .pass_fd = -1};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, sender_main, &s), 0);
  for (size_t i = 0; i < 5; i++) assert_int_equal(recv_expect(sv[1], types[i], sizes[i], (uint32_t)(i + 1)), -1);
  pthread_join(th, NULL);
  if (s.rc != 0) fail_msg("sender: [%s] %s", s.err.error_class, s.err.message);
  close(sv[0]);
  close(sv[1]);
}

static void same_file(int a, int b) {
  struct stat sa, sb;
  assert_int_equal(fstat(a, &sa), 0);
  assert_int_equal(fstat(b, &sb), 0);
  assert_true(sa.st_ino == sb.st_ino);
  assert_true(sa.st_dev == sb.st_dev);
}

static void test_fd_passing(void** state) {
  (void)state;
  int sv[2];
  make_pair(sv);
  int mfd = memfd_create("hw-test", MFD_CLOEXEC);
  assert_true(mfd >= 0);
  assert_int_equal(write(mfd, "shared bytes", 12), 12);

  /* with a payload */
  hw_wbuf b;
  payload_of(&b, 16, 9);
  send_ok(sv[0], HW_MSG_REGION, &b, mfd);
  hw_wbuf_free(&b);
  int got = recv_expect(sv[1], HW_MSG_REGION, 16, 9);
  assert_true(got >= 0);
  assert_true(got != mfd);
  same_file(got, mfd);
  assert_true(fcntl(got, F_GETFD) & FD_CLOEXEC);
  char buf[12];
  assert_int_equal(pread(got, buf, 12, 0), 12);
  assert_memory_equal(buf, "shared bytes", 12);
  close(got);

  /* with no payload, then a message without: the fd goes with its own message only */
  send_ok(sv[0], HW_MSG_REGION, NULL, mfd);
  send_ok(sv[0], HW_MSG_CREDIT, NULL, -1);
  got = recv_expect(sv[1], HW_MSG_REGION, 0, 0);
  assert_true(got >= 0);
  same_file(got, mfd);
  close(got);
  assert_int_equal(recv_expect(sv[1], HW_MSG_CREDIT, 0, 0), -1);

  /* two fds in a row, each with its message */
  int other = memfd_create("hw-test-2", MFD_CLOEXEC);
  assert_true(other >= 0);
  send_ok(sv[0], HW_MSG_REGION, NULL, mfd);
  send_ok(sv[0], HW_MSG_REGION, NULL, other);
  int g1 = recv_expect(sv[1], HW_MSG_REGION, 0, 0), g2 = recv_expect(sv[1], HW_MSG_REGION, 0, 0);
  same_file(g1, mfd);
  same_file(g2, other);
  struct stat s1, s2;
  fstat(g1, &s1);
  fstat(g2, &s2);
  assert_true(s1.st_ino != s2.st_ino);
  close(g1);
  close(g2);
  close(other);

  /* with a large payload (blocking sender on a thread) */
  static const hw_msg_type types[] = {HW_MSG_REGION, HW_MSG_BATCH};
  static const size_t sizes[] = {3 << 20, 10};
  sender s = {.sock = sv[0], .n_msgs = 2, .types = types, .sizes = sizes, .pass_fd = mfd};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, sender_main, &s), 0);
  got = recv_expect(sv[1], HW_MSG_REGION, sizes[0], 1);
  assert_int_equal(recv_expect(sv[1], HW_MSG_BATCH, sizes[1], 2), -1);
  pthread_join(th, NULL);
  assert_int_equal(s.rc, 0);
  assert_true(got >= 0);
  same_file(got, mfd);
  close(got);

  close(mfd);
  close(sv[0]);
  close(sv[1]);
}

/* What the pool does: a worker's region fd goes over the socket; the host maps it read-only. */
static void test_fd_passing_region(void** state) {
  (void)state;
  int sv[2];
  make_pair(sv);
  hw_region w;
  region_new(&w, 5);
  memcpy(w.base + 4096, "batch bytes", 11);
  hw_wbuf b = {0};
  hw_wbuf_put_i64(&b, w.id);
  hw_wbuf_put_i64(&b, (int64_t)w.capacity);
  send_ok(sv[0], HW_MSG_REGION, &b, w.fd);
  hw_wbuf_free(&b);

  hw_error err;
  hw_error_init(&err);
  hw_msg_type type;
  uint8_t* payload;
  size_t len;
  int fd;
  assert_int_equal(hw_wire_recv(sv[1], &type, &payload, &len, &fd, NULL, &err), 0);
  assert_int_equal(type, HW_MSG_REGION);
  hw_rbuf in = {payload, len, 0, 0};
  int64_t id = hw_rbuf_i64(&in), capacity = hw_rbuf_i64(&in);
  assert_false(in.failed);
  free(payload);
  hw_region h;
  assert_int_equal(hw_region_attach(&h, (int32_t)id, fd, (size_t)capacity, &err), 0);
  assert_int_equal(h.id, 5);
  assert_memory_equal(h.base + 4096, "batch bytes", 11);
  w.base[9000] = 99; /* later writes show through */
  assert_int_equal(h.base[9000], 99);
  hw_region_destroy(&h);
  hw_region_destroy(&w);
  close(sv[0]);
  close(sv[1]);
}

static void test_recv_eof(void** state) {
  (void)state;
  int sv[2];
  make_pair(sv);
  send_ok(sv[0], HW_MSG_DONE, NULL, -1);
  hw_wbuf b;
  payload_of(&b, 33, 3);
  send_ok(sv[0], HW_MSG_ERROR, &b, -1);
  hw_wbuf_free(&b);
  close(sv[0]);
  /* what was sent before the close is still delivered, then end of stream */
  assert_int_equal(recv_expect(sv[1], HW_MSG_DONE, 0, 0), -1);
  assert_int_equal(recv_expect(sv[1], HW_MSG_ERROR, 33, 3), -1);
  for (int k = 0; k < 2; k++) {
    hw_error err;
    hw_error_init(&err);
    hw_msg_type type;
    uint8_t* payload = (uint8_t*)1;
    size_t len = 5;
    int fd = 5;
    assert_int_equal(hw_wire_recv(sv[1], &type, &payload, &len, &fd, NULL, &err), 1);
    assert_null(payload);
    assert_int_equal(len, 0);
    assert_int_equal(fd, -1);
  }
  close(sv[1]);
}

/* The raw bytes of one framed message (whatever the frame format is). */
static uint8_t* raw_frame(hw_msg_type type, size_t payload_size, size_t* n) {
  int sv[2];
  make_pair(sv);
  hw_wbuf b;
  payload_of(&b, payload_size, 77);
  send_ok(sv[0], type, &b, -1);
  hw_wbuf_free(&b);
  close(sv[0]);
  uint8_t* raw = malloc(payload_size + 4096);
  assert_non_null(raw);
  size_t got = 0;
  for (;;) {
    ssize_t r = recv(sv[1], raw + got, payload_size + 4096 - got, 0);
    assert_true(r >= 0);
    if (r == 0) break;
    got += (size_t)r;
  }
  close(sv[1]);
  assert_true(got > payload_size);
  *n = got;
  return raw;
}

static void send_raw(int sock, const uint8_t* p, size_t n, int pass_fd) {
  struct iovec iov = {(void*)p, n};
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  if (pass_fd >= 0) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  assert_int_equal(sendmsg(sock, &msg, MSG_NOSIGNAL), (ssize_t)n);
}

/* recv on a stream that holds raw[0..cut) and then ends: the result code. */
static int recv_cut(const uint8_t* raw, size_t cut, int pass_fd, hw_error* err) {
  int sv[2];
  make_pair(sv);
  if (cut) send_raw(sv[0], raw, cut, pass_fd);
  close(sv[0]);
  hw_msg_type type;
  uint8_t* payload = (uint8_t*)1;
  size_t len = 9;
  int fd = 9;
  hw_error_init(err);
  int rc = hw_wire_recv(sv[1], &type, &payload, &len, &fd, NULL, err);
  if (rc != 0) {
    assert_null(payload);
    assert_int_equal(len, 0);
    assert_int_equal(fd, -1);
  } else {
    free(payload);
    if (fd >= 0) close(fd);
  }
  close(sv[1]);
  return rc;
}

static void test_recv_truncated_frame(void** state) {
  (void)state;
  size_t n;
  uint8_t* raw = raw_frame(HW_MSG_BATCH, 100, &n);
  hw_error err;
  /* the whole frame is fine; nothing at all is end of stream; every cut in between is an error */
  assert_int_equal(recv_cut(raw, n, -1, &err), 0);
  assert_int_equal(recv_cut(raw, 0, -1, &err), 1);
  for (size_t cut = 1; cut < n; cut++) {
    int rc = recv_cut(raw, cut, -1, &err);
    if (rc != -1) fail_msg("a frame cut after %zu of %zu bytes gave %d", cut, n, rc);
    assert_string_equal(err.error_class, "HW_WORKER_LOST");
  }
  free(raw);

  /* a header-only frame (empty payload) cut short */
  raw = raw_frame(HW_MSG_CREDIT, 0, &n);
  assert_int_equal(recv_cut(raw, n, -1, &err), 0);
  for (size_t cut = 1; cut < n; cut++) assert_int_equal(recv_cut(raw, cut, -1, &err), -1);
  free(raw);
}

static void test_recv_truncated_frame_closes_fd(void** state) {
  (void)state;
  size_t n;
  uint8_t* raw = raw_frame(HW_MSG_REGION, 64, &n);
  int baseline = count_open_fds();
  /* cuts inside the header and inside the payload; the fd that came with them must not leak */
  size_t cuts[] = {1, n / 8, n - 64 - 1, n - 64, n - 64 + 1, n - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    int mfd = memfd_create("hw-cut", MFD_CLOEXEC);
    assert_true(mfd >= 0);
    hw_error err;
    int rc = recv_cut(raw, cuts[i], mfd, &err);
    close(mfd);
    if (rc != -1) fail_msg("a frame with an fd cut after %zu of %zu bytes gave %d", cuts[i], n, rc);
    int now = count_open_fds();
    if (now != baseline) fail_msg("cut after %zu bytes: %d fds open, %d before", cuts[i], now, baseline);
  }
  free(raw);
}

static void test_recv_oversized_length(void** state) {
  (void)state;
  /* frame header: u32 type, u32 has_fd, u64 payload length; a length over 16 GiB is refused
   * before anything is allocated */
  size_t n;
  uint8_t* raw = raw_frame(HW_MSG_BATCH, 0, &n);
  assert_int_equal(n, 16);
  uint64_t lengths[] = {((uint64_t)1 << 34) + 1, (uint64_t)1 << 40, UINT64_MAX};
  for (size_t i = 0; i < 3; i++) {
    memcpy(raw + 8, &lengths[i], 8);
    int sv[2];
    make_pair(sv);
    send_raw(sv[0], raw, n, -1);
    hw_error err;
    hw_error_init(&err);
    hw_msg_type type;
    uint8_t* payload;
    size_t len;
    int fd;
    assert_int_equal(hw_wire_recv(sv[1], &type, &payload, &len, &fd, NULL, &err), -1);
    assert_null(payload);
    assert_string_equal(err.error_class, "HW_WORKER_LOST");
    close(sv[0]);
    close(sv[1]);
  }
  free(raw);
}

static void test_send_errors(void** state) {
  (void)state;
  int sv[2];
  make_pair(sv);
  hw_error err;
  /* a payload whose building failed */
  hw_wbuf failed = {0};
  failed.failed = 1;
  hw_error_init(&err);
  assert_int_equal(hw_wire_send(sv[0], HW_MSG_BATCH, &failed, -1, &err), -1);
  assert_string_equal(err.error_class, "HW_OUT_OF_MEMORY");
  /* the peer is gone: an error, not SIGPIPE */
  close(sv[1]);
  hw_error_init(&err);
  assert_int_equal(hw_wire_send(sv[0], HW_MSG_CREDIT, NULL, -1, &err), -1);
  assert_string_equal(err.error_class, "HW_WORKER_LOST");
  hw_wbuf b;
  payload_of(&b, 1 << 20, 1);
  hw_error_init(&err);
  assert_int_equal(hw_wire_send(sv[0], HW_MSG_BATCH, &b, -1, &err), -1);
  assert_string_equal(err.error_class, "HW_WORKER_LOST");
  hw_wbuf_free(&b);
  close(sv[0]);
  /* a closed socket */
  hw_error_init(&err);
  assert_int_equal(hw_wire_send(sv[0], HW_MSG_CREDIT, NULL, -1, &err), -1);
  assert_string_equal(err.error_class, "HW_WORKER_LOST");
  hw_msg_type type;
  uint8_t* payload;
  size_t len;
  int fd;
  hw_error_init(&err);
  assert_int_equal(hw_wire_recv(sv[0], &type, &payload, &len, &fd, NULL, &err), -1);
  assert_string_equal(err.error_class, "HW_WORKER_LOST");
}

/* ---- EINTR ---- */

static void on_usr1(int sig) { (void)sig; }

typedef struct poker {
  pthread_t target;
  atomic_int stop;
  int sock;       /* >= 0: send a message after some signals */
  int signals;
} poker;

static void* poker_main(void* arg) {
  poker* p = arg;
  while (!atomic_load(&p->stop)) {
    pthread_kill(p->target, SIGUSR1);
    p->signals++;
    if (p->sock >= 0 && p->signals == 20) {
      hw_error err;
      hw_error_init(&err);
      hw_wbuf b;
      payload_of(&b, 10, 4);
      (void)hw_wire_send(p->sock, HW_MSG_RUN, &b, -1, &err);
      hw_wbuf_free(&b);
    }
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

static void test_recv_interrupted(void** state) {
  (void)state;
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0; /* no SA_RESTART: blocking calls fail with EINTR */
  assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
  int sv[2];
  make_pair(sv);

  /* asked to report interruptions: -1 with *interrupted = 1 */
  poker p = {.target = pthread_self(), .sock = -1};
  atomic_init(&p.stop, 0);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, poker_main, &p), 0);
  hw_error err;
  hw_error_init(&err);
  hw_msg_type type;
  uint8_t* payload;
  size_t len;
  int fd;
  int interrupted = 0;
  assert_int_equal(hw_wire_recv(sv[1], &type, &payload, &len, &fd, &interrupted, &err), -1);
  assert_int_equal(interrupted, 1);
  assert_null(payload);
  assert_int_equal(fd, -1);
  atomic_store(&p.stop, 1);
  pthread_join(th, NULL);

  /* the stream is still usable afterwards */
  send_ok(sv[0], HW_MSG_CREDIT, NULL, -1);
  interrupted = 7;
  assert_int_equal(hw_wire_recv(sv[1], &type, &payload, &len, &fd, &interrupted, &err), 0);
  assert_int_equal(interrupted, 0);
  assert_int_equal(type, HW_MSG_CREDIT);

  /* not asked (NULL): EINTR is retried until the message comes */
  poker q = {.target = pthread_self(), .sock = sv[0]};
  atomic_init(&q.stop, 0);
  assert_int_equal(pthread_create(&th, NULL, poker_main, &q), 0);
  assert_int_equal(recv_expect(sv[1], HW_MSG_RUN, 10, 4), -1);
  atomic_store(&q.stop, 1);
  pthread_join(th, NULL);
  assert_true(q.signals >= 20);

  close(sv[0]);
  close(sv[1]);
  sigaction(SIGUSR1, &old, NULL);
}

/* ================================================================ building batches */

/* Appends one random value (or null, with probability null_pct % where the field allows). */
static void fill_value(hw_builder* b, rng* g, int null_pct) {
  const hw_field* f = &b->field;
  if (f->type == HW_TYPE_NULL || (f->nullable && (int)(rnd(g) % 100) < null_pct)) {
    assert_int_equal(hw_builder_append_null(b), 0);
    return;
  }
  switch (f->type) {
    case HW_TYPE_BOOL:
      assert_int_equal(hw_builder_append_bool(b, rnd(g) & 1), 0);
      break;
    case HW_TYPE_INT8:
    case HW_TYPE_INT16:
    case HW_TYPE_INT32:
    case HW_TYPE_INT64:
    case HW_TYPE_DATE32:
    case HW_TYPE_TIMESTAMP:
      assert_int_equal(hw_builder_append_int(b, (int64_t)rnd(g)), 0);
      break;
    case HW_TYPE_UINT8:
    case HW_TYPE_UINT16:
    case HW_TYPE_UINT32:
    case HW_TYPE_UINT64:
      assert_int_equal(hw_builder_append_uint(b, rnd(g)), 0);
      break;
    case HW_TYPE_FLOAT32:
    case HW_TYPE_FLOAT64:
      assert_int_equal(hw_builder_append_double(b, (double)(int64_t)(rnd(g) % 2000001) / 7.0), 0);
      break;
    case HW_TYPE_UTF8:
    case HW_TYPE_LARGE_UTF8:
    case HW_TYPE_BINARY:
    case HW_TYPE_LARGE_BINARY: {
      char s[16];
      int n = (int)(rnd(g) % 14);
      for (int i = 0; i < n; i++) s[i] = (char)('a' + rnd(g) % 26);
      assert_int_equal(hw_builder_append_bytes(b, s, n), 0);
      break;
    }
    case HW_TYPE_DECIMAL128:
      assert_int_equal(hw_builder_append_decimal128(b, rnd(g), rnd(g)), 0);
      break;
    case HW_TYPE_LIST: {
      int n = (int)(rnd(g) % 4);
      for (int i = 0; i < n; i++) fill_value(&b->children[0], g, null_pct);
      assert_int_equal(hw_builder_close_list(b), 0);
      break;
    }
    case HW_TYPE_MAP: {
      hw_builder* entries = &b->children[0];
      int n = (int)(rnd(g) % 3);
      for (int i = 0; i < n; i++) {
        fill_value(&entries->children[0], g, null_pct); /* keys are not nullable */
        fill_value(&entries->children[1], g, null_pct);
        assert_int_equal(hw_builder_close_struct(entries), 0);
      }
      assert_int_equal(hw_builder_close_list(b), 0);
      break;
    }
    case HW_TYPE_STRUCT:
      for (int32_t i = 0; i < b->n_children; i++) fill_value(&b->children[i], g, null_pct);
      assert_int_equal(hw_builder_close_struct(b), 0);
      break;
    case HW_TYPE_NULL:
      break;
  }
}

/* A batch of `rows` random rows of schema (a struct: rows are never null at the top). */
static void build_batch(const hw_field* schema, const hw_allocator* a, int64_t rows, uint64_t seed, int null_pct,
                        struct ArrowArray* out) {
  hw_error err;
  hw_error_init(&err);
  hw_builder b;
  if (hw_builder_init(&b, schema, a, &err) != 0) fail_msg("builder: [%s] %s", err.error_class, err.message);
  rng g = {seed};
  for (int64_t r = 0; r < rows; r++) {
    if (schema->type == HW_TYPE_STRUCT) {
      for (int32_t i = 0; i < b.n_children; i++) fill_value(&b.children[i], &g, null_pct);
      assert_int_equal(hw_builder_close_struct(&b), 0);
    } else {
      fill_value(&b, &g, null_pct);
    }
  }
  if (hw_builder_finish(&b, out, &err) != 0) fail_msg("finish: [%s] %s", err.error_class, err.message);
  hw_builder_release(&b);
}

/* ================================================================ reading batches like a consumer */

enum { K_VALIDITY, K_BITS, K_FIXED, K_OFFSETS, K_DATA };

/* Buffers of a type in C Data Interface order (written from the Arrow spec, not from batch_desc.c). */
static int spec_layout(hw_type_id t, int kinds[3], int* width) {
  *width = 0;
  switch (t) {
    case HW_TYPE_NULL: return 0;
    case HW_TYPE_BOOL: kinds[0] = K_VALIDITY, kinds[1] = K_BITS; return 2;
    case HW_TYPE_INT8: case HW_TYPE_UINT8: *width = 1; break;
    case HW_TYPE_INT16: case HW_TYPE_UINT16: *width = 2; break;
    case HW_TYPE_INT32: case HW_TYPE_UINT32: case HW_TYPE_FLOAT32: case HW_TYPE_DATE32: *width = 4; break;
    case HW_TYPE_INT64: case HW_TYPE_UINT64: case HW_TYPE_FLOAT64: case HW_TYPE_TIMESTAMP: *width = 8; break;
    case HW_TYPE_DECIMAL128: *width = 16; break;
    case HW_TYPE_UTF8: case HW_TYPE_BINARY:
      *width = 4, kinds[0] = K_VALIDITY, kinds[1] = K_OFFSETS, kinds[2] = K_DATA; return 3;
    case HW_TYPE_LARGE_UTF8: case HW_TYPE_LARGE_BINARY:
      *width = 8, kinds[0] = K_VALIDITY, kinds[1] = K_OFFSETS, kinds[2] = K_DATA; return 3;
    case HW_TYPE_LIST: case HW_TYPE_MAP: *width = 4, kinds[0] = K_VALIDITY, kinds[1] = K_OFFSETS; return 2;
    case HW_TYPE_STRUCT: kinds[0] = K_VALIDITY; return 1;
  }
  kinds[0] = K_VALIDITY, kinds[1] = K_FIXED;
  return 2;
}

static int64_t get_offset(const void* offsets, int width, int64_t i) {
  if (width == 8) {
    int64_t v;
    memcpy(&v, (const uint8_t*)offsets + 8 * i, 8);
    return v;
  }
  int32_t v;
  memcpy(&v, (const uint8_t*)offsets + 4 * i, 4);
  return v;
}

/* Bytes of buffer k a node of `end` slots spans (for data: up to its last offset). */
static int64_t span(int kind, int width, int64_t end, const void* offsets) {
  switch (kind) {
    case K_VALIDITY:
    case K_BITS: return (end + 7) / 8;
    case K_FIXED: return end * width;
    case K_OFFSETS: return (end + 1) * width;
    case K_DATA: return get_offset(offsets, width, end);
  }
  return 0;
}

static volatile uint64_t sink;

static void touch(const void* p, int64_t from, int64_t to) {
  const uint8_t* q = p;
  uint64_t s = 0;
  for (int64_t i = from; i < to; i++) s += q[i];
  sink += s;
}

/* Why the last consume() refused to read on. */
static char consume_problem[512];

#define PROBLEM(...) (snprintf(consume_problem, sizeof consume_problem, __VA_ARGS__), -1)

/* Reads rows [start, start + n) of a (field f) as an Arrow consumer would: every byte of every
 * buffer those rows involve, recursing into children (a struct's offset applies to its children;
 * a list's offsets index its child). Returns -1 (with consume_problem) instead of reading when a
 * read would fall outside a node's length or the batch is otherwise inconsistent: a decoded batch
 * where that happens would make a real consumer read out of bounds. */
static int consume(const hw_field* f, const struct ArrowArray* a, int64_t start, int64_t n, int depth) {
  if (depth > HW_MAX_NESTING + 1) return PROBLEM("nesting too deep");
  if (start < 0 || n < 0 || start > a->length || n > a->length - start)
    return PROBLEM("rows [%lld, %lld) of a node '%s' of length %lld (offset %lld)", (long long)start,
                   (long long)(start + n), f->name ? f->name : "", (long long)a->length, (long long)a->offset);
  int kinds[3], width;
  int nb = spec_layout(f->type, kinds, &width);
  if (a->n_buffers != nb) return PROBLEM("%lld buffers, the type has %d", (long long)a->n_buffers, nb);
  int64_t p0 = a->offset + start, p1 = p0 + n;
  const void* offsets = NULL;
  for (int i = 0; i < nb; i++) {
    const uint8_t* p = a->buffers[i];
    if (!p) {
      if (kinds[i] != K_VALIDITY) return PROBLEM("buffer %d missing", i);
      if (a->null_count > 0) return PROBLEM("nulls but no validity");
      continue;
    }
    switch (kinds[i]) {
      case K_VALIDITY:
      case K_BITS:
        if (n) touch(p, p0 / 8, (p1 + 7) / 8);
        break;
      case K_FIXED: touch(p, p0 * width, p1 * width); break;
      case K_OFFSETS: {
        offsets = p;
        touch(p, p0 * width, (p1 + 1) * width);
        int64_t prev = get_offset(p, width, p0);
        if (prev < 0) return PROBLEM("negative offset");
        for (int64_t k = p0 + 1; k <= p1; k++) {
          int64_t v = get_offset(p, width, k);
          if (v < prev) return PROBLEM("offsets go backwards");
          prev = v;
        }
        break;
      }
      case K_DATA: touch(p, get_offset(offsets, width, p0), get_offset(offsets, width, p1)); break;
    }
  }
  if (f->type == HW_TYPE_STRUCT) {
    if (a->n_children != f->n_children) return PROBLEM("struct with %lld children", (long long)a->n_children);
    for (int32_t i = 0; i < f->n_children; i++)
      if (consume(&f->children[i], a->children[i], p0, n, depth + 1) != 0) return -1;
  } else if (f->type == HW_TYPE_LIST || f->type == HW_TYPE_MAP) {
    if (a->n_children != 1) return PROBLEM("list with %lld children", (long long)a->n_children);
    int64_t first = get_offset(offsets, width, p0), last = get_offset(offsets, width, p1);
    return consume(&f->children[0], a->children[0], first, last - first, depth + 1);
  } else if (a->n_children != 0) {
    return PROBLEM("primitive with children");
  }
  return 0;
}

static int consume_batch(const hw_field* schema, const struct ArrowArray* a) {
  consume_problem[0] = '\0';
  return consume(schema, a, 0, a->length, 0);
}

/* ================================================================ comparing */

/* dec (decoded) equals orig node for node. zero_copy: the same buffer pointers (both in region);
 * otherwise dec's buffers lie in region and hold the same bytes over what the node spans. */
static void compare_arrays(const hw_field* f, const struct ArrowArray* orig, const struct ArrowArray* dec,
                           const hw_region* region, bool zero_copy, int depth) {
  assert_int_equal(dec->length, orig->length);
  assert_int_equal(dec->null_count, orig->null_count);
  assert_int_equal(dec->offset, orig->offset);
  assert_int_equal(dec->n_buffers, orig->n_buffers);
  assert_int_equal(dec->n_children, orig->n_children);
  assert_null(dec->dictionary);
  assert_non_null(dec->release);
  int kinds[3], width;
  int nb = spec_layout(f->type, kinds, &width);
  assert_int_equal(orig->n_buffers, nb);
  int64_t end = orig->offset + orig->length;
  for (int i = 0; i < nb; i++) {
    const uint8_t* o = orig->buffers[i];
    const uint8_t* d = dec->buffers[i];
    if (!o) {
      assert_null(d);
      continue;
    }
    assert_non_null(d);
    int64_t n = span(kinds[i], width, end, kinds[i] == K_DATA ? orig->buffers[1] : NULL);
    if (d < region->base || n > (int64_t)region->capacity || d > region->base + region->capacity - n)
      fail_msg("decoded buffer %d at depth %d lies outside the region", i, depth);
    if (zero_copy) {
      if (d != o) fail_msg("buffer %d at depth %d was not passed through in place", i, depth);
    } else {
      assert_memory_equal(d, o, (size_t)n);
    }
  }
  for (int64_t i = 0; i < orig->n_children; i++) {
    const hw_field* cf = f->type == HW_TYPE_STRUCT ? &f->children[i] : &f->children[0];
    compare_arrays(cf, orig->children[i], dec->children[i], region, zero_copy, depth + 1);
  }
}

static void encode_ok(const hw_field* schema, const struct ArrowArray* batch, hw_region* r, hw_wbuf* desc) {
  hw_error err;
  hw_error_init(&err);
  memset(desc, 0, sizeof *desc);
  if (hw_batch_encode(schema, batch, r, desc, &err) != 0) fail_msg("encode: [%s] %s", err.error_class, err.message);
}

/* Decodes and checks against orig; releases the decoded batch and checks on_release ran once. */
static void decode_and_compare(const hw_field* schema, const struct ArrowArray* orig, const hw_wbuf* desc,
                               const hw_region* r, bool zero_copy) {
  hw_error err;
  hw_error_init(&err);
  atomic_int released;
  atomic_init(&released, 0);
  uint8_t* copy = xmemdup(desc->data, desc->size); /* exactly sized: ASan sees overreads */
  struct ArrowArray dec;
  memset(&dec, 0, sizeof dec);
  if (hw_batch_decode(schema, copy, desc->size, r, count_release, &released, &dec, &err) != 0)
    fail_msg("decode: [%s] %s", err.error_class, err.message);
  free(copy); /* the decoded batch does not point into the descriptor */
  assert_int_equal(atomic_load(&released), 0);
  compare_arrays(schema, orig, &dec, r, zero_copy, 0);
  if (consume_batch(schema, &dec) != 0) fail_msg("consumer: %s", consume_problem);
  dec.release(&dec);
  assert_null(dec.release);
  assert_int_equal(atomic_load(&released), 1);
}

/* ================================================================ round trips */

static const char* const ROUND_TRIP_SCHEMAS[] = {
    /* every primitive type (u*, l* retyped below) */
    "b BOOLEAN, i8 TINYINT, i16 SMALLINT, i32 INT, i64 BIGINT, f32 FLOAT, f64 DOUBLE, s STRING, bin BINARY, "
    "d DATE, ts TIMESTAMP, tsn TIMESTAMP_NTZ, dec DECIMAL(38, 10), dec2 DECIMAL(5, 2), v VOID, u8 TINYINT, "
    "u16 SMALLINT, u32 INT, u64 BIGINT, ls STRING, lb BINARY, nn INT NOT NULL, ns STRING NOT NULL",
    /* list<struct<map<string, list<int>>>> */
    "deep ARRAY<STRUCT<m: MAP<STRING, ARRAY<INT>>>>",
    "x INT",
    "st STRUCT<a: INT, b: STRUCT<c: STRING, d: ARRAY<BOOLEAN>>>, mm MAP<INT, MAP<STRING, DOUBLE>>, "
    "la ARRAY<ARRAY<ARRAY<BIGINT>>>, ms MAP<STRING, STRUCT<p: DECIMAL(10, 0), q: BINARY NOT NULL>>, "
    "e STRUCT<n: VOID, z: TIMESTAMP>",
    /* lone types: the batch is not a struct */
    "ARRAY<STRUCT<m: MAP<STRING, ARRAY<INT>>>>",
    "MAP<STRING, ARRAY<INT>>",
    "STRING",
    "BOOLEAN",
    "v VOID",
};
#define N_ROUND_TRIP_SCHEMAS (sizeof ROUND_TRIP_SCHEMAS / sizeof ROUND_TRIP_SCHEMAS[0])

static void load_round_trip_schema(size_t i, hw_field* f) {
  parse_schema(ROUND_TRIP_SCHEMAS[i], f);
  if (i == 0) {
    retype(f, "u8", HW_TYPE_UINT8);
    retype(f, "u16", HW_TYPE_UINT16);
    retype(f, "u32", HW_TYPE_UINT32);
    retype(f, "u64", HW_TYPE_UINT64);
    retype(f, "ls", HW_TYPE_LARGE_UTF8);
    retype(f, "lb", HW_TYPE_LARGE_BINARY);
  }
}

/* A struct with no fields (rows of nothing). */
static void empty_struct_schema(hw_field* f) {
  hw_field_init(f);
  f->type = HW_TYPE_STRUCT;
}

static const int64_t ROW_COUNTS[] = {0, 1, 3, 100, 1000};
static const int NULL_PCTS[] = {0, 25, 100};

static void test_round_trip_in_region(void** state) {
  (void)state;
  hw_region r;
  region_new(&r, 0);
  hw_region_allocator ra;
  hw_region_allocator_init(&ra);
  ra.current = &r;
  int combos = 0;
  for (size_t s = 0; s <= N_ROUND_TRIP_SCHEMAS; s++) {
    hw_field schema;
    if (s < N_ROUND_TRIP_SCHEMAS)
      load_round_trip_schema(s, &schema);
    else
      empty_struct_schema(&schema);
    for (size_t rc = 0; rc < sizeof ROW_COUNTS / sizeof ROW_COUNTS[0]; rc++)
      for (size_t np = 0; np < sizeof NULL_PCTS / sizeof NULL_PCTS[0]; np++) {
        hw_region_reset(&r);
        struct ArrowArray batch;
        build_batch(&schema, &ra.allocator, ROW_COUNTS[rc], 1000 * s + 10 * rc + np, NULL_PCTS[np], &batch);
        size_t used = r.used;
        hw_wbuf desc;
        encode_ok(&schema, &batch, &r, &desc);
        assert_int_equal(r.used, used); /* nothing copied: it was all in the region already */
        decode_and_compare(&schema, &batch, &desc, &r, true);
        /* decoding twice gives two independent batches */
        decode_and_compare(&schema, &batch, &desc, &r, true);
        hw_wbuf_free(&desc);
        hw_array_release(&batch);
        combos++;
      }
    hw_field_release(&schema);
  }
  assert_int_equal(combos, (int)(N_ROUND_TRIP_SCHEMAS + 1) * 15);
  hw_region_destroy(&r);
}

/* A sliced batch (offsets at the top and in a column, null_count unknown) keeps its slicing. */
static void test_round_trip_sliced(void** state) {
  (void)state;
  hw_region r;
  region_new(&r, 0);
  hw_region_allocator ra;
  hw_region_allocator_init(&ra);
  ra.current = &r;
  for (size_t s = 0; s < 4; s++) {
    hw_field schema;
    load_round_trip_schema(s, &schema);
    hw_region_reset(&r);
    struct ArrowArray batch;
    build_batch(&schema, &ra.allocator, 50, 77 + s, 30, &batch);
    batch.offset = 3;
    batch.length = 40;
    /* a column sliced from its start (still covering the parent's rows 3..43) */
    struct ArrowArray* c0 = batch.children[0];
    int64_t saved[3] = {c0->offset, c0->length, c0->null_count};
    c0->offset = 2;
    c0->length = 48;
    c0->null_count = c0->null_count ? -1 : 0;
    hw_wbuf desc;
    encode_ok(&schema, &batch, &r, &desc);
    decode_and_compare(&schema, &batch, &desc, &r, true);
    hw_wbuf_free(&desc);
    c0->offset = saved[0];
    c0->length = saved[1];
    c0->null_count = saved[2];
    hw_array_release(&batch);
    hw_field_release(&schema);
  }
  hw_region_destroy(&r);
}

/* ---- heap batches are copied into the region once ---- */

static int64_t count_buffers(const struct ArrowArray* a) {
  int64_t n = 0;
  for (int64_t i = 0; i < a->n_buffers; i++) n += a->buffers[i] != NULL;
  for (int64_t i = 0; i < a->n_children; i++) n += count_buffers(a->children[i]);
  return n;
}

static void test_pass_through_copy(void** state) {
  (void)state;
  hw_region r;
  region_new(&r, 0);
  for (size_t s = 0; s <= N_ROUND_TRIP_SCHEMAS; s++) {
    hw_field schema;
    if (s < N_ROUND_TRIP_SCHEMAS)
      load_round_trip_schema(s, &schema);
    else
      empty_struct_schema(&schema);
    for (size_t rc = 0; rc < sizeof ROW_COUNTS / sizeof ROW_COUNTS[0]; rc++)
      for (size_t np = 0; np < sizeof NULL_PCTS / sizeof NULL_PCTS[0]; np++) {
        hw_region_reset(&r);
        struct ArrowArray batch;
        build_batch(&schema, hw_allocator_heap(), ROW_COUNTS[rc], 5000 + 1000 * s + 10 * rc + np, NULL_PCTS[np],
                    &batch);
        hw_wbuf desc;
        encode_ok(&schema, &batch, &r, &desc);
        if (count_buffers(&batch) > 0) assert_true(r.used > 0); /* copied in */
        decode_and_compare(&schema, &batch, &desc, &r, false);
        hw_wbuf_free(&desc);
        hw_array_release(&batch); /* the region copy does not depend on the heap batch */
      }
    hw_field_release(&schema);
  }
  hw_region_destroy(&r);
}

static void test_pass_through_sliced(void** state) {
  (void)state;
  hw_region r;
  region_new(&r, 0);
  hw_field schema;
  load_round_trip_schema(0, &schema);
  struct ArrowArray batch;
  build_batch(&schema, hw_allocator_heap(), 64, 4242, 20, &batch);
  batch.offset = 5;
  batch.length = 50;
  for (int64_t i = 0; i < batch.n_children; i++) { /* each column sliced too */
    batch.children[i]->offset = 1 + i % 4;
    batch.children[i]->length = 60;
    if (batch.children[i]->null_count > 0) batch.children[i]->null_count = -1;
  }
  hw_wbuf desc;
  encode_ok(&schema, &batch, &r, &desc);
  decode_and_compare(&schema, &batch, &desc, &r, false);
  hw_wbuf_free(&desc);
  hw_array_release(&batch); /* release does not look at lengths or offsets */
  hw_field_release(&schema);
  hw_region_destroy(&r);
}

/* Some columns in the region, some on the heap (a batch patched together). */
static void test_pass_through_mixed(void** state) {
  (void)state;
  hw_region r;
  region_new(&r, 0);
  hw_region_allocator ra;
  hw_region_allocator_init(&ra);
  ra.current = &r;
  hw_field schema;
  load_round_trip_schema(3, &schema);
  struct ArrowArray in_region, on_heap;
  build_batch(&schema, &ra.allocator, 200, 1, 20, &in_region);
  build_batch(&schema, hw_allocator_heap(), 200, 2, 20, &on_heap);
  struct ArrowArray* t = in_region.children[1];
  in_region.children[1] = on_heap.children[1];
  on_heap.children[1] = t;
  size_t used = r.used;
  hw_wbuf desc;
  encode_ok(&schema, &in_region, &r, &desc);
  assert_true(r.used > used); /* the heap column was copied */
  hw_error err;
  hw_error_init(&err);
  atomic_int released;
  atomic_init(&released, 0);
  struct ArrowArray dec;
  assert_int_equal(hw_batch_decode(&schema, desc.data, desc.size, &r, count_release, &released, &dec, &err), 0);
  /* the region's columns are referenced in place, the heap column is a copy */
  assert_ptr_equal(dec.children[0]->buffers[0], in_region.children[0]->buffers[0]);
  assert_ptr_equal(dec.children[2]->children[0]->buffers[1], in_region.children[2]->children[0]->buffers[1]);
  assert_true((const uint8_t*)dec.children[1]->buffers[1] >= r.base + used);
  assert_int_equal(consume_batch(&schema, &dec), 0);
  dec.release(&dec);
  assert_int_equal(atomic_load(&released), 1);
  decode_and_compare(&schema, &in_region, &desc, &r, false);
  hw_wbuf_free(&desc);
  t = in_region.children[1];
  in_region.children[1] = on_heap.children[1];
  on_heap.children[1] = t;
  hw_array_release(&in_region);
  hw_array_release(&on_heap);
  hw_field_release(&schema);
  hw_region_destroy(&r);
}

static void test_encode_errors(void** state) {
  (void)state;
  hw_region r;
  region_new(&r, 0);
  hw_field schema;
  parse_schema("a INT, b STRING", &schema);
  struct ArrowArray batch;
  build_batch(&schema, hw_allocator_heap(), 100, 3, 10, &batch);
  hw_error err;

  /* a heap batch that does not fit in the region */
  r.used = r.capacity - 100;
  hw_wbuf desc = {0};
  hw_error_init(&err);
  assert_int_equal(hw_batch_encode(&schema, &batch, &r, &desc, &err), -1);
  assert_string_equal(err.error_class, "HW_SHM");
  hw_wbuf_free(&desc);
  hw_region_reset(&r);

  /* a batch whose layout is not its type's */
  batch.children[0]->n_buffers = 3;
  hw_error_init(&err);
  assert_int_equal(hw_batch_encode(&schema, &batch, &r, &desc, &err), -1);
  assert_string_equal(err.error_class, "HW_INTERNAL");
  hw_wbuf_free(&desc);
  batch.children[0]->n_buffers = 2;
  batch.n_children = 1;
  hw_error_init(&err);
  assert_int_equal(hw_batch_encode(&schema, &batch, &r, &desc, &err), -1);
  assert_string_equal(err.error_class, "HW_INTERNAL");
  hw_wbuf_free(&desc);
  batch.n_children = 2;
  hw_array_release(&batch);
  hw_field_release(&schema);
  hw_region_destroy(&r);
}

/* A chain of `depth` nested structs (innermost: INT), as fields; nodes = depth + 1. */
static void struct_chain(hw_field* f, int depth, hw_type_id kind) {
  hw_field_init(f);
  hw_field* cur = f;
  for (int i = 0; i < depth; i++) {
    cur->type = kind;
    assert_int_equal(hw_field_alloc_children(cur, 1, NULL), 0);
    cur = &cur->children[0];
  }
  cur->type = HW_TYPE_INT32;
}

static void test_encode_too_deep(void** state) {
  (void)state;
  hw_region r;
  region_new(&r, 0);
  enum { D = HW_MAX_NESTING + 1 };
  hw_field schema;
  struct_chain(&schema, D, HW_TYPE_STRUCT);
  struct ArrowArray nodes[D + 1];
  struct ArrowArray* kids[D + 1];
  const void* bufs[D + 1][2];
  memset(nodes, 0, sizeof nodes);
  for (int i = 0; i <= D; i++) {
    bufs[i][0] = NULL;
    bufs[i][1] = r.base;
    nodes[i].buffers = bufs[i];
    nodes[i].n_buffers = i < D ? 1 : 2;
    nodes[i].n_children = i < D ? 1 : 0;
    kids[i] = i < D ? &nodes[i + 1] : NULL;
    nodes[i].children = i < D ? &kids[i] : NULL;
  }
  hw_wbuf desc = {0};
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_batch_encode(&schema, &nodes[0], &r, &desc, &err), -1);
  assert_string_equal(err.error_class, "HW_INTERNAL");
  hw_wbuf_free(&desc);
  hw_field_release(&schema);
  hw_region_destroy(&r);
}

/* ================================================================ descriptor model */

/* A descriptor parsed into a tree, to corrupt one field at a time and write back out. */
typedef struct dnode {
  int64_t length, null_count, offset, n_buffers;
  int64_t n_buf_entries;      /* (off, len) pairs written */
  int64_t off[8], len[8];
  int64_t n_children;         /* the count written */
  int64_t n_kids;             /* children written */
  struct dnode* kids;
} dnode;

static void dnode_parse(hw_rbuf* in, dnode* n, int depth) {
  assert_true(depth < 200);
  memset(n, 0, sizeof *n);
  n->length = hw_rbuf_i64(in);
  n->null_count = hw_rbuf_i64(in);
  n->offset = hw_rbuf_i64(in);
  n->n_buffers = hw_rbuf_i64(in);
  assert_false(in->failed);
  assert_true(n->n_buffers >= 0 && n->n_buffers <= 3);
  n->n_buf_entries = n->n_buffers;
  for (int64_t i = 0; i < n->n_buffers; i++) {
    n->off[i] = hw_rbuf_i64(in);
    n->len[i] = hw_rbuf_i64(in);
  }
  n->n_children = hw_rbuf_i64(in);
  assert_false(in->failed);
  assert_true(n->n_children >= 0 && n->n_children < 1000);
  n->n_kids = n->n_children;
  if (n->n_kids) {
    n->kids = calloc((size_t)n->n_kids, sizeof *n->kids);
    assert_non_null(n->kids);
    for (int64_t i = 0; i < n->n_kids; i++) dnode_parse(in, &n->kids[i], depth + 1);
  }
}

static void dnode_write(const dnode* n, hw_wbuf* out) {
  hw_wbuf_put_i64(out, n->length);
  hw_wbuf_put_i64(out, n->null_count);
  hw_wbuf_put_i64(out, n->offset);
  hw_wbuf_put_i64(out, n->n_buffers);
  for (int64_t i = 0; i < n->n_buf_entries; i++) {
    hw_wbuf_put_i64(out, n->off[i]);
    hw_wbuf_put_i64(out, n->len[i]);
  }
  hw_wbuf_put_i64(out, n->n_children);
  for (int64_t i = 0; i < n->n_kids; i++) dnode_write(&n->kids[i], out);
}

static void dnode_free(dnode* n) {
  for (int64_t i = 0; i < n->n_kids; i++) dnode_free(&n->kids[i]);
  free(n->kids);
  memset(n, 0, sizeof *n);
}

static void dnode_copy(dnode* dst, const dnode* src) {
  *dst = *src;
  dst->kids = NULL;
  if (src->n_kids) {
    dst->kids = calloc((size_t)src->n_kids, sizeof *dst->kids);
    assert_non_null(dst->kids);
    for (int64_t i = 0; i < src->n_kids; i++) dnode_copy(&dst->kids[i], &src->kids[i]);
  }
}

/* Adds one more child (a copy of kids[from]) to the written children. */
static void dnode_add_kid(dnode* n, int64_t from) {
  dnode copy;
  dnode_copy(&copy, &n->kids[from]);
  dnode* grown = realloc(n->kids, sizeof *grown * (size_t)(n->n_kids + 1));
  assert_non_null(grown);
  n->kids = grown;
  n->kids[n->n_kids++] = copy;
}

/* ================================================================ malformed descriptors */

/* The batch every corruption starts from: 10 rows, row 3 null wherever the field allows. */
enum { C_I, C_S, C_L, C_ST, C_B, C_M, C_DEC, C_LS, C_V, C_NN, C_COLUMNS };
#define FIXTURE_ROWS 10
static const char FIXTURE_DDL[] =
    "i INT, s STRING, l ARRAY<INT>, st STRUCT<x: INT, y: BOOLEAN>, b BOOLEAN, m MAP<STRING, INT>, "
    "dec DECIMAL(20, 3), ls STRING, v VOID, nn INT NOT NULL";

typedef struct fixture {
  hw_field schema;
  hw_region region;
  hw_region_allocator ra;
  hw_wbuf desc;   /* the valid descriptor */
  dnode root;     /* ... parsed */
  uint8_t* heap;  /* exact copy of the region's used bytes */
  hw_region fake; /* a region over heap, capacity = bytes used */
  /* what a case writes: the model (default), or raw bytes */
  uint8_t* raw;
  size_t raw_len;
} fixture;

static void fixture_fill(hw_builder* b) {
  for (int row = 0; row < FIXTURE_ROWS; row++) {
    hw_builder* c = b->children;
    if (row == 3) {
      for (int k = 0; k < C_NN; k++) assert_int_equal(hw_builder_append_null(&c[k]), 0);
    } else {
      char s[32];
      int n = snprintf(s, sizeof s, "str%d", row);
      assert_int_equal(hw_builder_append_int(&c[C_I], row * 10), 0);
      assert_int_equal(hw_builder_append_bytes(&c[C_S], s, n), 0);
      for (int k = 0; k <= row % 3; k++) assert_int_equal(hw_builder_append_int(&c[C_L].children[0], k), 0);
      assert_int_equal(hw_builder_close_list(&c[C_L]), 0);
      assert_int_equal(hw_builder_append_int(&c[C_ST].children[0], row), 0);
      assert_int_equal(hw_builder_append_bool(&c[C_ST].children[1], row & 1), 0);
      assert_int_equal(hw_builder_close_struct(&c[C_ST]), 0);
      assert_int_equal(hw_builder_append_bool(&c[C_B], row & 1), 0);
      hw_builder* entries = &c[C_M].children[0];
      for (int k = 0; k <= row % 2; k++) {
        n = snprintf(s, sizeof s, "k%d", k);
        assert_int_equal(hw_builder_append_bytes(&entries->children[0], s, n), 0);
        assert_int_equal(hw_builder_append_int(&entries->children[1], k), 0);
        assert_int_equal(hw_builder_close_struct(entries), 0);
      }
      assert_int_equal(hw_builder_close_list(&c[C_M]), 0);
      assert_int_equal(hw_builder_append_decimal128(&c[C_DEC], (uint64_t)row, 0), 0);
      n = snprintf(s, sizeof s, "large%d", row);
      assert_int_equal(hw_builder_append_bytes(&c[C_LS], s, n), 0);
      assert_int_equal(hw_builder_append_null(&c[C_V]), 0);
    }
    assert_int_equal(hw_builder_append_int(&c[C_NN], row), 0);
    assert_int_equal(hw_builder_close_struct(b), 0);
  }
}

/* Sets fx up from scratch (the region is created by the caller once and reset here). */
static void fixture_build(fixture* fx) {
  hw_region_reset(&fx->region);
  fx->ra.current = &fx->region;
  hw_error err;
  hw_error_init(&err);
  hw_builder b;
  assert_int_equal(hw_builder_init(&b, &fx->schema, &fx->ra.allocator, &err), 0);
  fixture_fill(&b);
  struct ArrowArray batch;
  assert_int_equal(hw_builder_finish(&b, &batch, &err), 0);
  hw_builder_release(&b);
  encode_ok(&fx->schema, &batch, &fx->region, &fx->desc);
  hw_array_release(&batch); /* its buffers stay in the region (released arena memory is not reused) */
  hw_rbuf in = {fx->desc.data, fx->desc.size, 0, 0};
  dnode_parse(&in, &fx->root, 0);
  assert_int_equal(in.pos, in.size);
  size_t used = fx->region.used;
  assert_int_equal(posix_memalign((void**)&fx->heap, 64, used), 0);
  memcpy(fx->heap, fx->region.base, used);
  memset(&fx->fake, 0, sizeof fx->fake);
  fx->fake.fd = -1;
  fx->fake.base = fx->heap;
  fx->fake.capacity = used;
  fx->fake.used = used;
  fx->raw = NULL;
  fx->raw_len = 0;
}

static void fixture_clear(fixture* fx) {
  hw_wbuf_free(&fx->desc);
  dnode_free(&fx->root);
  free(fx->heap);
  fx->heap = NULL;
  free(fx->raw);
  fx->raw = NULL;
}

static void fixture_open(fixture* fx) {
  memset(fx, 0, sizeof *fx);
  parse_schema(FIXTURE_DDL, &fx->schema);
  retype(&fx->schema, "ls", HW_TYPE_LARGE_UTF8);
  region_new(&fx->region, 0);
  hw_region_allocator_init(&fx->ra);
}

static void fixture_close(fixture* fx) {
  fixture_clear(fx);
  hw_region_destroy(&fx->region);
  hw_field_release(&fx->schema);
}

/* Decodes desc[0..len) against region. -1: refused, with class HW_MALFORMED_BATCH, `out` and the
 * release counter untouched. 0: accepted, consumed and released. 1: accepted, but a consumer would
 * read it out of bounds (consume_problem says where); released unread. */
static int decode_checked(const hw_field* schema, const uint8_t* desc, size_t len, const hw_region* region,
                          hw_error* err) {
  uint8_t* copy = xmemdup(desc, len);
  atomic_int released;
  atomic_init(&released, 0);
  struct ArrowArray out;
  memset(&out, 0xAB, sizeof out);
  struct ArrowArray untouched = out;
  hw_error_init(err);
  int rc = hw_batch_decode(schema, copy, len, region, count_release, &released, &out, err);
  free(copy);
  if (rc == 0) {
    int unreadable = consume_batch(schema, &out) != 0;
    assert_int_equal(atomic_load(&released), 0);
    out.release(&out);
    assert_null(out.release);
    assert_int_equal(atomic_load(&released), 1);
    return unreadable;
  }
  assert_int_equal(rc, -1);
  assert_string_equal(err->error_class, "HW_MALFORMED_BATCH");
  assert_true(strlen(err->message) > 0);
  assert_memory_equal(&out, &untouched, sizeof out);
  assert_int_equal(atomic_load(&released), 0);
  return -1;
}

/* ---- region memory of the fixture (the heap copy) ---- */

static dnode* kid(fixture* fx, int col) { return &fx->root.kids[col]; }

static int64_t rd_off(fixture* fx, const dnode* n, int width, int64_t i) {
  return get_offset(fx->heap + n->off[1], width, i);
}

static void wr_off(fixture* fx, const dnode* n, int width, int64_t i, int64_t v) {
  uint8_t* p = fx->heap + n->off[1] + width * i;
  if (width == 8) {
    memcpy(p, &v, 8);
  } else {
    int32_t v32 = (int32_t)v;
    memcpy(p, &v32, 4);
  }
}

/* ---- the corruptions ---- */

/* node header */
static void m_negative_length(fixture* fx) { kid(fx, C_I)->length = -1; }
static void m_negative_offset(fixture* fx) { kid(fx, C_I)->offset = -1; }
static void m_int64_min_offset(fixture* fx) { kid(fx, C_S)->offset = INT64_MIN; }
static void m_null_count_above_length(fixture* fx) { kid(fx, C_I)->null_count = FIXTURE_ROWS + 1; }
static void m_null_count_below_minus_one(fixture* fx) { kid(fx, C_I)->null_count = -2; }
static void m_huge_length(fixture* fx) { kid(fx, C_I)->length = INT64_MAX; }
static void m_offset_plus_length_overflows(fixture* fx) { kid(fx, C_DEC)->offset = INT64_MAX - 5; }
static void m_root_buffer_count(fixture* fx) { /* struct has 1 buffer */
  fx->root.n_buffers = 2;
  fx->root.off[1] = -1;
  fx->root.n_buf_entries = 2;
}
static void m_fixed_buffer_count(fixture* fx) {
  dnode* n = kid(fx, C_I);
  n->n_buffers = 3;
  n->off[2] = n->off[1];
  n->len[2] = n->len[1];
  n->n_buf_entries = 3;
}
static void m_string_buffer_count(fixture* fx) {
  kid(fx, C_S)->n_buffers = 2;
  kid(fx, C_S)->n_buf_entries = 2;
}
static void m_null_type_buffer_count(fixture* fx) {
  dnode* n = kid(fx, C_V);
  n->n_buffers = 1;
  n->off[0] = -1;
  n->len[0] = 0;
  n->n_buf_entries = 1;
}
static void m_negative_buffer_count(fixture* fx) {
  kid(fx, C_I)->n_buffers = -1;
  kid(fx, C_I)->n_buf_entries = 0;
}
static void m_huge_buffer_count(fixture* fx) { kid(fx, C_I)->n_buffers = INT64_MAX; }

/* children */
static void m_root_fewer_children(fixture* fx) {
  fx->root.n_children = C_COLUMNS - 1;
  fx->root.n_kids = C_COLUMNS - 1; /* the last one is simply not written */
}
static void m_root_more_children(fixture* fx) {
  fx->root.n_children = C_COLUMNS + 1;
  dnode_add_kid(&fx->root, C_I);
}
static void m_list_no_child(fixture* fx) {
  dnode* n = kid(fx, C_L);
  n->n_children = 0;
  n->n_kids = 0; /* kids stay allocated for dnode_free */
}
static void m_list_two_children(fixture* fx) {
  dnode* n = kid(fx, C_L);
  n->n_children = 2;
  dnode_add_kid(n, 0);
}
static void m_primitive_with_child(fixture* fx) {
  dnode* n = kid(fx, C_I);
  n->n_children = 1;
  n->n_kids = 0;
  n->kids = calloc(1, sizeof *n->kids);
  assert_non_null(n->kids);
  dnode_copy(&n->kids[0], kid(fx, C_NN));
  n->n_kids = 1;
}
static void m_huge_child_count(fixture* fx) { fx->root.n_children = INT64_MAX; }
static void m_negative_child_count(fixture* fx) { kid(fx, C_ST)->n_children = -1; }

/* buffers outside the region */
static void m_buffer_beyond_capacity(fixture* fx) { kid(fx, C_I)->off[1] = (int64_t)fx->fake.capacity + 64; }
static void m_buffer_at_capacity(fixture* fx) {
  kid(fx, C_B)->off[1] = (int64_t)fx->fake.capacity;
  kid(fx, C_B)->len[1] = 2;
}
static void m_buffer_runs_past_end(fixture* fx) {
  dnode* n = kid(fx, C_DEC);
  n->off[1] = (int64_t)fx->fake.capacity - n->len[1] + 16;
}
static void m_buffer_length_int64_max(fixture* fx) { kid(fx, C_S)->len[2] = INT64_MAX; }
static void m_buffer_offset_int64_max(fixture* fx) { kid(fx, C_S)->off[2] = INT64_MAX; }
static void m_buffer_offset_minus_two(fixture* fx) { kid(fx, C_I)->off[1] = -2; }
static void m_buffer_offset_int64_min(fixture* fx) { kid(fx, C_LS)->off[1] = INT64_MIN; }
static void m_buffer_negative_length(fixture* fx) { kid(fx, C_I)->len[1] = -1; }
static void m_validity_negative_length(fixture* fx) { kid(fx, C_ST)->len[0] = -8; }

/* missing buffers */
static void m_missing_values(fixture* fx) { kid(fx, C_I)->off[1] = -1; }
static void m_missing_offsets(fixture* fx) { kid(fx, C_S)->off[1] = -1; }
static void m_missing_data(fixture* fx) { kid(fx, C_S)->off[2] = -1; }
static void m_missing_bits(fixture* fx) { kid(fx, C_B)->off[1] = -1; }
static void m_missing_list_offsets(fixture* fx) { kid(fx, C_L)->off[1] = -1; }
static void m_missing_validity_with_nulls(fixture* fx) { kid(fx, C_I)->off[0] = -1; }
static void m_missing_struct_validity_with_nulls(fixture* fx) { kid(fx, C_ST)->off[0] = -1; }
static void m_null_count_without_validity(fixture* fx) { kid(fx, C_NN)->null_count = 1; }

/* buffers too short for their node */
static void m_fixed_too_short(fixture* fx) { kid(fx, C_I)->len[1] = 4 * FIXTURE_ROWS - 1; }
static void m_decimal_too_short(fixture* fx) { kid(fx, C_DEC)->len[1] = 16 * FIXTURE_ROWS - 1; }
static void m_validity_too_short(fixture* fx) { kid(fx, C_I)->len[0] = 1; }
static void m_struct_validity_too_short(fixture* fx) { kid(fx, C_ST)->len[0] = 0; }
static void m_bits_too_short(fixture* fx) { kid(fx, C_B)->len[1] = 1; }
static void m_offsets_too_short(fixture* fx) { kid(fx, C_S)->len[1] = 4 * (FIXTURE_ROWS + 1) - 1; }
static void m_large_offsets_too_short(fixture* fx) { kid(fx, C_LS)->len[1] = 8 * (FIXTURE_ROWS + 1) - 1; }
static void m_list_offsets_too_short(fixture* fx) { kid(fx, C_L)->len[1] = 4 * FIXTURE_ROWS; }
static void m_data_too_short(fixture* fx) {
  dnode* n = kid(fx, C_S);
  n->len[2] = rd_off(fx, n, 4, FIXTURE_ROWS) - 1;
}
static void m_offset_pushes_past_buffer(fixture* fx) { kid(fx, C_DEC)->offset = 1; }
static void m_length_pushes_past_buffer(fixture* fx) { /* longer than its buffers, parent unchanged */
  kid(fx, C_NN)->length = FIXTURE_ROWS + 1;
}

/* offsets (in the region) */
static void m_string_offsets_decrease(fixture* fx) {
  dnode* n = kid(fx, C_S);
  wr_off(fx, n, 4, 5, rd_off(fx, n, 4, 4) - 1);
}
static void m_list_offsets_decrease(fixture* fx) {
  dnode* n = kid(fx, C_L);
  wr_off(fx, n, 4, 2, rd_off(fx, n, 4, 1) - 1);
}
static void m_map_offsets_decrease(fixture* fx) {
  dnode* n = kid(fx, C_M);
  wr_off(fx, n, 4, 7, 0);
}
static void m_large_offsets_decrease(fixture* fx) {
  dnode* n = kid(fx, C_LS);
  wr_off(fx, n, 8, 6, rd_off(fx, n, 8, 5) - 1);
}
static void m_first_offset_negative(fixture* fx) { wr_off(fx, kid(fx, C_S), 4, 0, -1); }
static void m_first_list_offset_negative(fixture* fx) { wr_off(fx, kid(fx, C_L), 4, 0, -5); }
static void m_last_offset_beyond_data(fixture* fx) {
  dnode* n = kid(fx, C_S);
  wr_off(fx, n, 4, FIXTURE_ROWS, n->len[2] + 1);
}
static void m_large_last_offset_huge(fixture* fx) { wr_off(fx, kid(fx, C_LS), 8, FIXTURE_ROWS, INT64_MAX); }
static void m_last_offset_wraps_negative(fixture* fx) { wr_off(fx, kid(fx, C_S), 4, FIXTURE_ROWS, INT32_MIN); }
static void m_sliced_first_offset_negative(fixture* fx) {
  /* with offset 2, offsets[2] is the first one read: it must be checked, not offsets[0] */
  dnode* n = kid(fx, C_S);
  n->offset = 2;
  n->length = FIXTURE_ROWS - 2;
  n->null_count = 0;
  fx->root.length = FIXTURE_ROWS - 2;
  wr_off(fx, n, 4, 2, -1);
}

/* children shorter than their parents need */
static void m_list_child_too_short(fixture* fx) {
  dnode* n = kid(fx, C_L);
  n->kids[0].length = rd_off(fx, n, 4, FIXTURE_ROWS) - 1;
}
static void m_map_entries_too_short(fixture* fx) { kid(fx, C_M)->kids[0].length -= 1; }
static void m_struct_child_too_short(fixture* fx) {
  dnode* x = &kid(fx, C_ST)->kids[0];
  x->length = FIXTURE_ROWS - 1;
  x->null_count = 0;
}
static void m_column_too_short(fixture* fx) { kid(fx, C_B)->length = FIXTURE_ROWS - 1; }
static void m_root_offset_past_columns(fixture* fx) { fx->root.offset = 1; }
static void m_root_longer_than_columns(fixture* fx) { fx->root.length = FIXTURE_ROWS + 1; }

/* bytes around the descriptor */
static void raw_with_tail(fixture* fx, const uint8_t* tail, size_t n) {
  fx->raw_len = fx->desc.size + n;
  fx->raw = malloc(fx->raw_len);
  assert_non_null(fx->raw);
  memcpy(fx->raw, fx->desc.data, fx->desc.size);
  memcpy(fx->raw + fx->desc.size, tail, n);
}
static void m_trailing_byte(fixture* fx) { raw_with_tail(fx, (const uint8_t*)"", 1); }
static void m_trailing_i64(fixture* fx) {
  static const uint8_t zeros[8] = {0};
  raw_with_tail(fx, zeros, 8);
}
static void m_trailing_descriptor(fixture* fx) {
  uint8_t* again = xmemdup(fx->desc.data, fx->desc.size);
  raw_with_tail(fx, again, fx->desc.size);
  free(again);
}
static void m_cut_in_last_value(fixture* fx) {
  fx->raw_len = fx->desc.size - 1;
  fx->raw = xmemdup(fx->desc.data, fx->raw_len);
}
static void m_empty(fixture* fx) {
  fx->raw_len = 0;
  fx->raw = malloc(1);
}
static void m_cut_after_header(fixture* fx) { /* the root's header, then nothing */
  fx->raw_len = 32;
  fx->raw = xmemdup(fx->desc.data, 32);
}

typedef struct mcase {
  const char* name;
  void (*mutate)(fixture* fx);
  const char* reason; /* a part of the message that says which check caught it */
} mcase;

static const mcase CASES[] = {
    {"negative length", m_negative_length, "node header"},
    {"negative offset", m_negative_offset, "node header"},
    {"INT64_MIN offset", m_int64_min_offset, "node header"},
    {"null_count > length", m_null_count_above_length, "node header"},
    {"null_count < -1", m_null_count_below_minus_one, "node header"},
    {"huge length", m_huge_length, "node header"},
    {"offset + length overflows", m_offset_plus_length_overflows, "node header"},
    {"wrong buffer count (struct)", m_root_buffer_count, "node header"},
    {"wrong buffer count (fixed)", m_fixed_buffer_count, "node header"},
    {"wrong buffer count (string)", m_string_buffer_count, "node header"},
    {"wrong buffer count (null type)", m_null_type_buffer_count, "node header"},
    {"negative buffer count", m_negative_buffer_count, "node header"},
    {"huge buffer count", m_huge_buffer_count, "node header"},
    {"fewer children (root)", m_root_fewer_children, "children"},
    {"more children (root)", m_root_more_children, "children"},
    {"list without child", m_list_no_child, "children"},
    {"list with two children", m_list_two_children, "children"},
    {"primitive with a child", m_primitive_with_child, "children"},
    {"huge child count", m_huge_child_count, "children"},
    {"negative child count", m_negative_child_count, "children"},
    {"buffer offset beyond capacity", m_buffer_beyond_capacity, "outside its region"},
    {"buffer at capacity", m_buffer_at_capacity, "outside its region"},
    {"buffer runs past the region's end", m_buffer_runs_past_end, "outside its region"},
    {"buffer length INT64_MAX", m_buffer_length_int64_max, "outside its region"},
    {"buffer offset INT64_MAX", m_buffer_offset_int64_max, "outside its region"},
    {"buffer offset -2", m_buffer_offset_minus_two, "outside its region"},
    {"buffer offset INT64_MIN", m_buffer_offset_int64_min, "outside its region"},
    {"negative buffer length", m_buffer_negative_length, "outside its region"},
    {"negative validity length", m_validity_negative_length, "outside its region"},
    {"missing values buffer", m_missing_values, "missing buffer"},
    {"missing offsets buffer", m_missing_offsets, "missing buffer"},
    {"missing data buffer", m_missing_data, "missing buffer"},
    {"missing bool bits", m_missing_bits, "missing buffer"},
    {"missing list offsets", m_missing_list_offsets, "missing buffer"},
    {"missing validity with nulls", m_missing_validity_with_nulls, "missing buffer"},
    {"missing struct validity with nulls", m_missing_struct_validity_with_nulls, "missing buffer"},
    {"null_count > 0 on a column without validity", m_null_count_without_validity, "missing buffer"},
    {"fixed-width values too short", m_fixed_too_short, "buffer too short"},
    {"decimal values too short", m_decimal_too_short, "buffer too short"},
    {"validity too short", m_validity_too_short, "buffer too short"},
    {"struct validity too short", m_struct_validity_too_short, "buffer too short"},
    {"bool bits too short", m_bits_too_short, "buffer too short"},
    {"offsets too short", m_offsets_too_short, "offsets buffer too short"},
    {"large offsets too short", m_large_offsets_too_short, "offsets buffer too short"},
    {"list offsets too short", m_list_offsets_too_short, "offsets buffer too short"},
    {"data too short for the last offset", m_data_too_short, "buffer too short"},
    {"node offset past its buffer", m_offset_pushes_past_buffer, "buffer too short"},
    {"node length past its buffer", m_length_pushes_past_buffer, "buffer too short"},
    {"string offsets decrease", m_string_offsets_decrease, "offsets decrease"},
    {"list offsets decrease", m_list_offsets_decrease, "offsets decrease"},
    {"map offsets decrease", m_map_offsets_decrease, "offsets decrease"},
    {"large offsets decrease", m_large_offsets_decrease, "offsets decrease"},
    {"first offset negative", m_first_offset_negative, "negative offset"},
    {"first list offset negative", m_first_list_offset_negative, "negative offset"},
    {"last offset beyond the data", m_last_offset_beyond_data, "buffer too short"},
    {"large last offset INT64_MAX", m_large_last_offset_huge, "buffer too short"},
    {"last offset wraps negative", m_last_offset_wraps_negative, "offsets decrease"},
    {"sliced node's first offset negative", m_sliced_first_offset_negative, "negative offset"},
    {"list child shorter than the last offset", m_list_child_too_short, "list child too short"},
    {"map entries shorter than the last offset", m_map_entries_too_short, "list child too short"},
    {"struct child shorter than the struct", m_struct_child_too_short, "struct child too short"},
    {"column shorter than the batch", m_column_too_short, "struct child too short"},
    {"batch offset past its columns", m_root_offset_past_columns, "struct child too short"},
    {"batch longer than its columns", m_root_longer_than_columns, "struct child too short"},
    {"trailing byte", m_trailing_byte, "trailing bytes"},
    {"trailing i64", m_trailing_i64, "trailing bytes"},
    {"descriptor twice", m_trailing_descriptor, "trailing bytes"},
    {"cut inside the last value", m_cut_in_last_value, "children"},
    {"empty descriptor", m_empty, "node header"},
    {"root header only", m_cut_after_header, "buffer list"},
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

static void test_malformed_descriptors(void** state) {
  (void)state;
  fixture fx;
  fixture_open(&fx);
  /* the unmodified fixture decodes (against the fake region too) */
  fixture_build(&fx);
  hw_error err;
  assert_int_equal(decode_checked(&fx.schema, fx.desc.data, fx.desc.size, &fx.fake, &err), 0);
  hw_wbuf again = {0};
  dnode_write(&fx.root, &again);
  assert_int_equal(again.size, fx.desc.size);
  assert_memory_equal(again.data, fx.desc.data, again.size); /* the model writes back what it read */
  hw_wbuf_free(&again);
  fixture_clear(&fx);

  int failures = 0;
  for (size_t i = 0; i < N_CASES; i++) {
    fixture_build(&fx);
    CASES[i].mutate(&fx);
    hw_wbuf out = {0};
    const uint8_t* d = fx.raw;
    size_t n = fx.raw_len;
    if (!d) {
      dnode_write(&fx.root, &out);
      assert_false(out.failed);
      d = out.data;
      n = out.size;
    }
    int rc = decode_checked(&fx.schema, d, n, &fx.fake, &err);
    if (rc >= 0) {
      print_error("case \"%s\": the malformed descriptor was accepted%s%s\n", CASES[i].name,
                  rc ? "; a consumer would read: " : "", rc ? consume_problem : "");
      failures++;
    } else if (!strstr(err.message, CASES[i].reason)) {
      print_error("case \"%s\": rejected for another reason than \"%s\": %s\n", CASES[i].name, CASES[i].reason,
                  err.message);
      failures++;
    }
    hw_wbuf_free(&out);
    fixture_clear(&fx);
  }
  assert_true(N_CASES >= 25);
  assert_int_equal(failures, 0);
  fixture_close(&fx);
}

/* Every proper prefix of a valid descriptor, at every length, is refused. */
static void test_truncated_at_every_length(void** state) {
  (void)state;
  fixture fx;
  fixture_open(&fx);
  fixture_build(&fx);
  hw_error err;
  for (size_t n = 0; n < fx.desc.size; n++) {
    if (decode_checked(&fx.schema, fx.desc.data, n, &fx.fake, &err) != -1)
      fail_msg("a descriptor cut to %zu of %zu bytes was accepted", n, fx.desc.size);
  }
  assert_int_equal(decode_checked(&fx.schema, fx.desc.data, fx.desc.size, &fx.fake, &err), 0);
  /* and against the real region (not just the heap copy) */
  assert_int_equal(decode_checked(&fx.schema, fx.desc.data, fx.desc.size, &fx.region, &err), 0);
  for (size_t n = 0; n < fx.desc.size; n += 7)
    assert_int_equal(decode_checked(&fx.schema, fx.desc.data, n, &fx.region, &err), -1);
  fixture_close(&fx);
}

/* A descriptor for `nodes` nested nodes of struct_chain (all empty), against a region with a few
 * zero bytes at offset 0. */
static void chain_descriptor(hw_wbuf* out, int depth, hw_type_id kind) {
  for (int i = 0; i <= depth; i++) {
    hw_wbuf_put_i64(out, 0); /* length */
    hw_wbuf_put_i64(out, 0); /* null_count */
    hw_wbuf_put_i64(out, 0); /* offset */
    if (i < depth && kind == HW_TYPE_STRUCT) {
      hw_wbuf_put_i64(out, 1);
      hw_wbuf_put_i64(out, -1), hw_wbuf_put_i64(out, 0);
      hw_wbuf_put_i64(out, 1);
    } else if (i < depth) { /* list: validity, offsets {0} */
      hw_wbuf_put_i64(out, 2);
      hw_wbuf_put_i64(out, -1), hw_wbuf_put_i64(out, 0);
      hw_wbuf_put_i64(out, 0), hw_wbuf_put_i64(out, 4);
      hw_wbuf_put_i64(out, 1);
    } else { /* int */
      hw_wbuf_put_i64(out, 2);
      hw_wbuf_put_i64(out, -1), hw_wbuf_put_i64(out, 0);
      hw_wbuf_put_i64(out, 0), hw_wbuf_put_i64(out, 0);
      hw_wbuf_put_i64(out, 0);
    }
  }
}

static void test_nesting_limit(void** state) {
  (void)state;
  uint8_t* zeros = calloc(1, 64);
  assert_non_null(zeros);
  hw_region fake = {.id = 0, .fd = -1, .base = zeros, .capacity = 64, .used = 64};
  hw_type_id kinds[] = {HW_TYPE_STRUCT, HW_TYPE_LIST};
  for (int k = 0; k < 2; k++) {
    /* HW_MAX_NESTING levels below the root are fine; one more is not */
    for (int depth = HW_MAX_NESTING - 1; depth <= HW_MAX_NESTING + 3; depth++) {
      hw_field schema;
      struct_chain(&schema, depth, kinds[k]);
      hw_wbuf desc = {0};
      chain_descriptor(&desc, depth, kinds[k]);
      hw_error err;
      int rc = decode_checked(&schema, desc.data, desc.size, &fake, &err);
      if (depth <= HW_MAX_NESTING) {
        if (rc != 0) fail_msg("depth %d refused: %s", depth, err.message);
      } else {
        if (rc != -1) fail_msg("depth %d (beyond HW_MAX_NESTING) accepted", depth);
      }
      hw_wbuf_free(&desc);
      hw_field_release(&schema);
    }
  }
  free(zeros);
}

/* A valid descriptor for the fake region built from scratch: what the host accepts that a worker
 * might legitimately send (null_count -1, a sliced node, an absent validity). */
static void test_accepted_variants(void** state) {
  (void)state;
  fixture fx;
  fixture_open(&fx);
  hw_error err;
  /* null_count unknown (-1) with a validity bitmap */
  fixture_build(&fx);
  kid(&fx, C_I)->null_count = -1;
  hw_wbuf out = {0};
  dnode_write(&fx.root, &out);
  assert_int_equal(decode_checked(&fx.schema, out.data, out.size, &fx.fake, &err), 0);
  hw_wbuf_free(&out);
  fixture_clear(&fx);
  /* a column sliced from its start: offset 1 and one row fewer, with its own shorter use */
  fixture_build(&fx);
  fx.root.length = FIXTURE_ROWS - 1;
  kid(&fx, C_NN)->offset = 1;
  kid(&fx, C_NN)->length = FIXTURE_ROWS - 1;
  dnode_write(&fx.root, &out);
  assert_int_equal(decode_checked(&fx.schema, out.data, out.size, &fx.fake, &err), 0);
  hw_wbuf_free(&out);
  fixture_clear(&fx);
  /* an empty batch that is a slice at the very end */
  fixture_build(&fx);
  fx.root.offset = FIXTURE_ROWS;
  fx.root.length = 0;
  dnode_write(&fx.root, &out);
  assert_int_equal(decode_checked(&fx.schema, out.data, out.size, &fx.fake, &err), 0);
  hw_wbuf_free(&out);
  fixture_close(&fx);
}

/* ---- random corruption ---- */

typedef struct fuzz_base {
  hw_field schema;
  hw_region region;
  hw_region_allocator ra;
  hw_wbuf desc;
  uint8_t* heap;
  hw_region fake;
} fuzz_base;

static void fuzz_open(fuzz_base* fb, const char* ddl, int64_t rows, uint64_t seed) {
  memset(fb, 0, sizeof *fb);
  parse_schema(ddl, &fb->schema);
  region_new(&fb->region, 0);
  hw_region_allocator_init(&fb->ra);
  fb->ra.current = &fb->region;
  struct ArrowArray batch;
  build_batch(&fb->schema, &fb->ra.allocator, rows, seed, 20, &batch);
  encode_ok(&fb->schema, &batch, &fb->region, &fb->desc);
  hw_array_release(&batch);
  size_t used = fb->region.used;
  assert_int_equal(posix_memalign((void**)&fb->heap, 64, used), 0);
  memcpy(fb->heap, fb->region.base, used);
  fb->fake.fd = -1;
  fb->fake.base = fb->heap;
  fb->fake.capacity = used;
  fb->fake.used = used;
}

static void fuzz_close(fuzz_base* fb) {
  hw_wbuf_free(&fb->desc);
  free(fb->heap);
  hw_region_destroy(&fb->region);
  hw_field_release(&fb->schema);
}

/* What random corruption gave: refused, accepted, or accepted but unreadable (a consumer would
 * read out of bounds: the first example is kept). */
typedef struct tally {
  int refused, accepted, unreadable;
  char example[600];
} tally;

static void tally_add(tally* t, int rc, int iteration) {
  if (rc < 0) {
    t->refused++;
  } else if (rc == 0) {
    t->accepted++;
  } else {
    if (t->unreadable++ == 0) snprintf(t->example, sizeof t->example, "iteration %d: %s", iteration, consume_problem);
  }
}

static void tally_check(const char* what, const tally* t) {
  print_message("%s: %d refused, %d accepted, %d accepted but unreadable\n", what, t->refused, t->accepted,
                t->unreadable);
  /* Fails while batch_desc.c counts a child's offset toward its length (test_regression_*_offset_counted_*) */
  if (t->unreadable)
    fail_msg("regression: %s: %d accepted descriptors would make a consumer read out of bounds; first: %s", what,
             t->unreadable, t->example);
}

static const char FUZZ_DDL[] =
    "i INT, s STRING, l ARRAY<INT>, st STRUCT<x: INT, y: BOOLEAN>, b BOOLEAN, m MAP<STRING, INT>, "
    "dec DECIMAL(20, 3), v VOID, deep ARRAY<STRUCT<m: MAP<STRING, ARRAY<INT>>>>, d DOUBLE";

static void test_fuzz_byte_flips(void** state) {
  (void)state;
  fuzz_base fb;
  fuzz_open(&fb, FUZZ_DDL, 12, 99);
  rng g = {0x5EED};
  tally t = {0};
  uint8_t* d = malloc(fb.desc.size);
  assert_non_null(d);
  for (int it = 0; it < 10000; it++) {
    memcpy(d, fb.desc.data, fb.desc.size);
    int flips = 1 + (int)(rnd(&g) % 3);
    for (int k = 0; k < flips; k++) {
      size_t at = (size_t)(rnd(&g) % fb.desc.size);
      uint8_t x = (uint8_t)(1 + rnd(&g) % 255);
      d[at] ^= x;
    }
    hw_error err;
    tally_add(&t, decode_checked(&fb.schema, d, fb.desc.size, &fb.fake, &err), it);
  }
  free(d);
  fuzz_close(&fb);
  /* most flips land in a length, offset or count and are caught */
  assert_true(t.refused > 5000);
  tally_check("byte flips", &t);
}

/* Random i64 fields of the descriptor set to boundary values. */
static void test_fuzz_boundary_values(void** state) {
  (void)state;
  fuzz_base fb;
  fuzz_open(&fb, FUZZ_DDL, 12, 7);
  int64_t cap = (int64_t)fb.fake.capacity;
  const int64_t values[] = {0,  1,   -1,  2,   -2,  7,   8,   9,   11,  12,  13,       63,       64,
                            65, cap, cap - 1, cap + 1, cap - 8, cap / 2, INT32_MAX, INT32_MIN, INT64_MAX,
                            INT64_MIN, INT64_MAX / 16, INT64_MAX / 8 + 1, (int64_t)1 << 32};
  const size_t n_values = sizeof values / sizeof values[0];
  size_t n_fields = fb.desc.size / 8;
  rng g = {0xB0B};
  tally t = {0};
  uint8_t* d = malloc(fb.desc.size);
  assert_non_null(d);
  for (int it = 0; it < 10000; it++) {
    memcpy(d, fb.desc.data, fb.desc.size);
    int changes = 1 + (int)(rnd(&g) % 2);
    for (int k = 0; k < changes; k++) {
      size_t field = (size_t)(rnd(&g) % n_fields);
      int64_t v = values[rnd(&g) % n_values];
      memcpy(d + 8 * field, &v, 8);
    }
    hw_error err;
    tally_add(&t, decode_checked(&fb.schema, d, fb.desc.size, &fb.fake, &err), it);
  }
  free(d);
  fuzz_close(&fb);
  assert_true(t.refused > 5000);
  tally_check("boundary values", &t);
}

/* Random bytes of the region's offsets buffers (what a broken worker could write there). */
static void test_fuzz_region_bytes(void** state) {
  (void)state;
  fuzz_base fb;
  fuzz_open(&fb, FUZZ_DDL, 12, 3);
  uint8_t* pristine = xmemdup(fb.heap, fb.fake.capacity);
  rng g = {0xFACE};
  tally t = {0};
  for (int it = 0; it < 3000; it++) {
    memcpy(fb.heap, pristine, fb.fake.capacity);
    int flips = 1 + (int)(rnd(&g) % 4);
    for (int k = 0; k < flips; k++) fb.heap[rnd(&g) % fb.fake.capacity] ^= (uint8_t)(1 + rnd(&g) % 255);
    hw_error err;
    tally_add(&t, decode_checked(&fb.schema, fb.desc.data, fb.desc.size, &fb.fake, &err), it);
  }
  free(pristine);
  fuzz_close(&fb);
  assert_true(t.refused > 0);
  tally_check("region bytes", &t);
}

/* ================================================================ release */

static void test_release_runs_once(void** state) {
  (void)state;
  fixture fx;
  fixture_open(&fx);
  fixture_build(&fx);
  hw_error err;
  hw_error_init(&err);
  atomic_int released;
  atomic_init(&released, 0);
  struct ArrowArray a;
  assert_int_equal(hw_batch_decode(&fx.schema, fx.desc.data, fx.desc.size, &fx.region, count_release, &released,
                                   &a, &err),
                   0);
  /* children are marked released with the root, not separately */
  for (int64_t i = 0; i < a.n_children; i++) assert_non_null(a.children[i]->release);
  assert_int_equal(atomic_load(&released), 0);
  /* hw_array_move / hw_array_release (what consumers do) */
  struct ArrowArray moved;
  hw_array_move(&a, &moved);
  assert_null(a.release);
  assert_int_equal(atomic_load(&released), 0);
  hw_array_release(&moved);
  assert_int_equal(atomic_load(&released), 1);
  hw_array_release(&moved); /* already released: nothing happens */
  assert_int_equal(atomic_load(&released), 1);

  /* no callback at all is fine */
  assert_int_equal(hw_batch_decode(&fx.schema, fx.desc.data, fx.desc.size, &fx.region, NULL, NULL, &a, &err), 0);
  a.release(&a);
  assert_null(a.release);

  /* a failed decode never calls it */
  assert_int_equal(
      hw_batch_decode(&fx.schema, fx.desc.data, fx.desc.size - 8, &fx.region, count_release, &released, &a, &err),
      -1);
  assert_int_equal(atomic_load(&released), 1);
  fixture_close(&fx);
}

/* ================================================================ bugs */

/*
 * Regression test (was a bug in wire.c (now batch_desc.c), decode_node, the struct child check):
 *     if (child->offset + child->length < end) return bad(err, "struct child too short");
 * A struct's offset applies to its children: a consumer reads child rows [parent.offset,
 * parent.offset + parent.length) as *logical* rows of the child, i.e. physical slots
 * child.offset + parent.offset + i, so the child needs child.length >= end (Arrow's own
 * validation: "Struct child array #i has length smaller than expected"). Counting the child's
 * offset in lets a child with offset 10 and length 0 stand for 10 rows: its buffers are checked
 * for 10 slots, and a consumer reads slots 10..19, past them (past the region when the buffer
 * sits at its end). Input: column st.x of the fixture with offset 10, length 0, null_count 0.
 */
static void test_regression_struct_child_offset_counted_as_length(void** state) {
  (void)state;
  fixture fx;
  fixture_open(&fx);
  fixture_build(&fx);
  dnode* x = &kid(&fx, C_ST)->kids[0];
  x->offset = FIXTURE_ROWS;
  x->length = 0;
  x->null_count = 0;
  hw_wbuf out = {0};
  dnode_write(&fx.root, &out);
  uint8_t* copy = xmemdup(out.data, out.size);
  hw_error err;
  hw_error_init(&err);
  struct ArrowArray a;
  int rc = hw_batch_decode(&fx.schema, copy, out.size, &fx.fake, NULL, NULL, &a, &err);
  if (rc == 0) a.release(&a); /* not consumed: it would read out of bounds */
  free(copy);
  hw_wbuf_free(&out);
  fixture_close(&fx);
  if (rc == 0) fail_msg("regression: a struct child of length 0 at offset 10 was accepted for a struct of 10 rows");
  assert_string_equal(err.error_class, "HW_MALFORMED_BATCH");
}

/* The same at the top: a batch column with offset 10 and length 0 for a 10-row batch. */
static void test_regression_column_offset_counted_as_length(void** state) {
  (void)state;
  fixture fx;
  fixture_open(&fx);
  fixture_build(&fx);
  dnode* c = kid(&fx, C_NN); /* values buffer of 40 bytes: slots 0..9 */
  c->offset = FIXTURE_ROWS;
  c->length = 0;
  hw_wbuf out = {0};
  dnode_write(&fx.root, &out);
  hw_error err;
  hw_error_init(&err);
  struct ArrowArray a;
  int rc = hw_batch_decode(&fx.schema, out.data, out.size, &fx.fake, NULL, NULL, &a, &err);
  if (rc == 0) a.release(&a);
  hw_wbuf_free(&out);
  fixture_close(&fx);
  if (rc == 0) fail_msg("regression: a column of length 0 at offset 10 was accepted for a batch of 10 rows");
  assert_string_equal(err.error_class, "HW_MALFORMED_BATCH");
}

/*
 * Regression test (was a bug in wire.c (now batch_desc.c), decode_node, the list child check):
 *     if (child->offset + child->length < last) return bad(err, "list child too short");
 * List offsets index the child's logical rows (physical slot child.offset + offsets[k]), so the
 * child needs child.length >= last offset. Input: column l (ARRAY<INT>) of the fixture, whose
 * element child gets offset = last offset (16) and length 0: its values buffer covers slots 0..15,
 * and a consumer reads slots 16..31.
 */
static void test_regression_list_child_offset_counted_as_length(void** state) {
  (void)state;
  fixture fx;
  fixture_open(&fx);
  fixture_build(&fx);
  dnode* l = kid(&fx, C_L);
  dnode* e = &l->kids[0];
  int64_t last = rd_off(&fx, l, 4, FIXTURE_ROWS);
  assert_true(last > 0);
  e->offset = last;
  e->length = 0;
  e->null_count = 0;
  hw_wbuf out = {0};
  dnode_write(&fx.root, &out);
  hw_error err;
  hw_error_init(&err);
  struct ArrowArray a;
  int rc = hw_batch_decode(&fx.schema, out.data, out.size, &fx.fake, NULL, NULL, &a, &err);
  if (rc == 0) a.release(&a);
  hw_wbuf_free(&out);
  fixture_close(&fx);
  if (rc == 0) fail_msg("regression: a list child of length 0 at offset %lld was accepted for offsets up to %lld",
                        (long long)last, (long long)last);
  assert_string_equal(err.error_class, "HW_MALFORMED_BATCH");
}

/*
 * Regression test (was a bug in wire.c (now batch_desc.c), hw_batch_decode, the trailing-bytes report):
 *     if (in.pos != in.size && !err->message[0]) bad(err, "trailing bytes");
 * Whether trailing bytes are reported depends on what err held before the call: with a message
 * left in it from earlier (callers reuse one hw_error across messages), decode returns -1 with
 * that stale class and message instead of HW_MALFORMED_BATCH. (With err == NULL, which
 * hw_error_set otherwise tolerates, the same line dereferences NULL.) The decision should come
 * from decode_node's return value, not from err's contents.
 */
static void test_regression_trailing_bytes_with_used_error(void** state) {
  (void)state;
  fixture fx;
  fixture_open(&fx);
  fixture_build(&fx);
  m_trailing_i64(&fx);
  hw_error err;
  hw_error_init(&err);
  hw_error_set(&err, "HW_EARLIER", "something that went wrong before and was handled");
  struct ArrowArray a;
  int rc = hw_batch_decode(&fx.schema, fx.raw, fx.raw_len, &fx.fake, NULL, NULL, &a, &err);
  if (rc == 0) a.release(&a);
  fixture_close(&fx);
  assert_int_equal(rc, -1);
  if (strcmp(err.error_class, "HW_MALFORMED_BATCH") != 0)
    fail_msg("regression: trailing bytes reported as [%s] %s", err.error_class, err.message);
}

/*
 * Regression test (was a bug in wire.c (now batch_desc.c), release_decoded / release_child): the C Data Interface lets a consumer move a child
 * array out of a batch and release the parent right away, the child staying valid until its own
 * release ("Moving child arrays"). A decoded batch's children are views into the parent's
 * allocation and their release callbacks do nothing, so after the parent's release the moved
 * child's buffers[] and children[] point to freed memory, and on_release has already handed the
 * region back to the worker, which reuses it under the child. (builder.c's arrays support this:
 * private_free skips moved children.) The test checks the visible part only, never touching
 * the freed memory: on_release must not run before the moved child is released.
 */
static void test_regression_moved_child_outlives_parent(void** state) {
  (void)state;
  fixture fx;
  fixture_open(&fx);
  fixture_build(&fx);
  hw_error err;
  hw_error_init(&err);
  atomic_int released;
  atomic_init(&released, 0);
  struct ArrowArray a;
  assert_int_equal(hw_batch_decode(&fx.schema, fx.desc.data, fx.desc.size, &fx.region, count_release, &released,
                                   &a, &err),
                   0);
  struct ArrowArray column;
  hw_array_move(a.children[C_I], &column); /* the consumer keeps one column */
  a.release(&a);
  int early = atomic_load(&released);
  column.release(&column);
  int after = atomic_load(&released);
  fixture_close(&fx);
  if (early != 0)
    fail_msg("regression: the region was handed back (on_release ran) while a moved-out child was still alive");
  assert_int_equal(after, 1);
}

/*
 * Regression test (was a bug in wire.c (now frame.c), hw_wire_recv, the control buffer and the SCM_RIGHTS loop): the control buffer is
 * CMSG_SPACE(sizeof(int)) bytes, which on LP64 also holds CMSG_LEN(2 * sizeof(int)), so a peer
 * that passes two descriptors in one SCM_RIGHTS message gets both installed in the receiver; the
 * loop copies only the first into *fd and the second stays open in the host for good (one leaked
 * fd per message: a broken or hostile worker can exhaust the host's descriptors). Extra
 * descriptors should be closed (and MSG_CTRUNC handled).
 */
static void test_regression_second_passed_fd_leaks(void** state) {
  (void)state;
  size_t n;
  uint8_t* raw = raw_frame(HW_MSG_REGION, 0, &n);
  int baseline = count_open_fds();
  int sv[2];
  make_pair(sv);
  int fds[2] = {memfd_create("hw-a", MFD_CLOEXEC), memfd_create("hw-b", MFD_CLOEXEC)};
  assert_true(fds[0] >= 0 && fds[1] >= 0);
  struct iovec iov = {raw, n};
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  union {
    char buf[CMSG_SPACE(2 * sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(2 * sizeof(int));
  memcpy(CMSG_DATA(c), fds, sizeof fds);
  assert_int_equal(sendmsg(sv[0], &msg, MSG_NOSIGNAL), (ssize_t)n);
  close(fds[0]);
  close(fds[1]);
  hw_error err;
  hw_error_init(&err);
  hw_msg_type type;
  uint8_t* payload;
  size_t len;
  int fd;
  int rc = hw_wire_recv(sv[1], &type, &payload, &len, &fd, NULL, &err);
  free(payload);
  if (fd >= 0) close(fd);
  close(sv[0]);
  close(sv[1]);
  free(raw);
  int now = count_open_fds();
  assert_int_equal(rc, 0);
  if (now != baseline) fail_msg("regression: %d descriptor(s) leaked by a message carrying two fds", now - baseline);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wbuf_rbuf),
      cmocka_unit_test(test_send_recv_types_and_sizes),
      cmocka_unit_test(test_send_recv_large),
      cmocka_unit_test(test_fd_passing),
      cmocka_unit_test(test_fd_passing_region),
      cmocka_unit_test(test_recv_eof),
      cmocka_unit_test(test_recv_truncated_frame),
      cmocka_unit_test(test_recv_truncated_frame_closes_fd),
      cmocka_unit_test(test_recv_oversized_length),
      cmocka_unit_test(test_send_errors),
      cmocka_unit_test(test_recv_interrupted),
      cmocka_unit_test(test_round_trip_in_region),
      cmocka_unit_test(test_round_trip_sliced),
      cmocka_unit_test(test_pass_through_copy),
      cmocka_unit_test(test_pass_through_sliced),
      cmocka_unit_test(test_pass_through_mixed),
      cmocka_unit_test(test_encode_errors),
      cmocka_unit_test(test_encode_too_deep),
      cmocka_unit_test(test_release_runs_once),
      cmocka_unit_test(test_malformed_descriptors),
      cmocka_unit_test(test_truncated_at_every_length),
      cmocka_unit_test(test_nesting_limit),
      cmocka_unit_test(test_accepted_variants),
      cmocka_unit_test(test_fuzz_byte_flips),
      cmocka_unit_test(test_fuzz_boundary_values), /* fails: the child-offset bug below */
      cmocka_unit_test(test_fuzz_region_bytes),
      /* known bugs: these fail until batch_desc.c is fixed (see each test's comment) */
      cmocka_unit_test(test_regression_struct_child_offset_counted_as_length),
      cmocka_unit_test(test_regression_column_offset_counted_as_length),
      cmocka_unit_test(test_regression_list_child_offset_counted_as_length),
      cmocka_unit_test(test_regression_trailing_bytes_with_used_error),
      cmocka_unit_test(test_regression_moved_child_outlives_parent),
      cmocka_unit_test(test_regression_second_passed_fd_leaks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
