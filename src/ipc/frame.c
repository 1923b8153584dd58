/* The framing of the host <-> worker protocol (ipc/wire.h): payload buffers, and messages framed
 * over the socketpair with a passed descriptor. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "ipc/wire.h"

/* ---------------------------------------------------------------- payloads */

static void wbuf_put(hw_wbuf* b, const void* p, size_t n) {
  if (b->failed) return;
  if (b->size + n > b->capacity) {
    size_t cap = b->capacity ? b->capacity : 256;
    while (cap < b->size + n) cap *= 2;
    uint8_t* grown = realloc(b->data, cap);
    if (!grown) {
      b->failed = 1;
      return;
    }
    b->data = grown;
    b->capacity = cap;
  }
  if (n) memcpy(b->data + b->size, p, n);
  b->size += n;
}

void hw_wbuf_put_i64(hw_wbuf* b, int64_t v) { wbuf_put(b, &v, sizeof v); }

void hw_wbuf_put_bytes(hw_wbuf* b, const void* p, size_t n) {
  hw_wbuf_put_i64(b, (int64_t)n);
  wbuf_put(b, p, n);
}

void hw_wbuf_free(hw_wbuf* b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

int64_t hw_rbuf_i64(hw_rbuf* r) {
  int64_t v = 0;
  if (r->failed || r->size - r->pos < sizeof v) {
    r->failed = 1;
    return 0;
  }
  memcpy(&v, r->data + r->pos, sizeof v);
  r->pos += sizeof v;
  return v;
}

const uint8_t* hw_rbuf_bytes(hw_rbuf* r, size_t* n) {
  int64_t len = hw_rbuf_i64(r);
  if (r->failed || len < 0 || (uint64_t)len > r->size - r->pos) {
    r->failed = 1;
    *n = 0;
    return NULL;
  }
  const uint8_t* p = r->data + r->pos;
  r->pos += (size_t)len;
  *n = (size_t)len;
  return p;
}

/* ---------------------------------------------------------------- framing */

typedef struct frame {
  uint32_t type;
  uint32_t has_fd;
  uint64_t length;
} frame;

static int write_all(int sock, const uint8_t* p, size_t n, hw_error* err) {
  while (n > 0) {
    ssize_t w = send(sock, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return hw_error_set(err, "HW_WORKER_LOST", "sending to a worker failed: %s", strerror(errno));
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int hw_wire_send(int sock, hw_msg_type type, const hw_wbuf* payload, int pass_fd, hw_error* err) {
  if (payload && payload->failed) return hw_error_oom(err);
  frame h = {(uint32_t)type, pass_fd >= 0, payload ? payload->size : 0};
  struct iovec iov = {&h, sizeof h};
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
  ssize_t w;
  do {
    w = sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (w < 0 && errno == EINTR);
  if (w < 0) return hw_error_set(err, "HW_WORKER_LOST", "sending to a worker failed: %s", strerror(errno));
  if ((size_t)w < sizeof h && write_all(sock, (const uint8_t*)&h + w, sizeof h - (size_t)w, err) != 0) return -1;
  return payload && payload->size ? write_all(sock, payload->data, payload->size, err) : 0;
}

/* Reads exactly n bytes. 0 ok, 1 EOF before any byte, -1 error. */
static int read_all(int sock, uint8_t* p, size_t n, int* interrupted, hw_error* err) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(sock, p + got, n - got, 0);
    if (r == 0) {
      if (got == 0) return 1;
      return hw_error_set(err, "HW_WORKER_LOST", "the connection closed inside a message");
    }
    if (r < 0) {
      if (errno == EINTR) {
        if (interrupted) {
          *interrupted = 1;
          return -1;
        }
        continue;
      }
      return hw_error_set(err, "HW_WORKER_LOST", "receiving failed: %s", strerror(errno));
    }
    got += (size_t)r;
  }
  return 0;
}

int hw_wire_recv(int sock, hw_msg_type* type, uint8_t** payload, size_t* len, int* fd, int* interrupted,
                 hw_error* err) {
  *payload = NULL;
  *len = 0;
  *fd = -1;
  if (interrupted) *interrupted = 0;
  frame h;
  struct iovec iov = {&h, sizeof h};
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t r;
  for (;;) {
    r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (r >= 0 || errno != EINTR) break;
    if (interrupted) {
      *interrupted = 1;
      return -1;
    }
  }
  if (r == 0) return 1;
  if (r < 0) return hw_error_set(err, "HW_WORKER_LOST", "receiving failed: %s", strerror(errno));
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t k = 0; k < n; k++) { /* keep the first descriptor; a peer sending more leaks none */
      int got;
      memcpy(&got, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
      if (*fd < 0) *fd = got;
      else close(got);
    }
  }
  int rc = 0;
  if ((size_t)r < sizeof h) rc = read_all(sock, (uint8_t*)&h + r, sizeof h - (size_t)r, NULL, err);
  /* an unknown type is garbage: refused before its length is trusted (a stream out of step would
   * otherwise wait for a payload that never comes) */
  bool known = (h.type >= HW_MSG_SETUP && h.type <= HW_MSG_TASK) || (h.type >= HW_MSG_READY && h.type <= HW_MSG_RESULT);
  if (rc != 0 || !known || h.length > ((uint64_t)1 << 34)) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
    return rc == 1 || rc == 0 ? hw_error_set(err, "HW_WORKER_LOST", "a malformed message header") : -1;
  }
  /* the buffer grows with the bytes that arrive (at most twice them), never to a length the header
   * merely claims: a broken peer that announces 16 GiB and sends 13 bytes costs 1 MiB */
  for (size_t got = 0, cap = 0; got < h.length; got = cap) {
    cap = cap == 0 ? (h.length < ((size_t)1 << 20) ? h.length : (size_t)1 << 20)
                   : (h.length - cap < cap ? h.length : 2 * cap);
    uint8_t* grown = realloc(*payload, cap);
    if (!grown) {
      free(*payload);
      *payload = NULL;
      if (*fd >= 0) close(*fd);
      *fd = -1;
      return hw_error_oom(err);
    }
    *payload = grown;
    rc = read_all(sock, *payload + got, cap - got, NULL, err);
    if (rc != 0) {
      free(*payload);
      *payload = NULL;
      if (*fd >= 0) close(*fd);
      *fd = -1;
      return rc == 1 ? hw_error_set(err, "HW_WORKER_LOST", "the connection closed inside a message") : -1;
    }
  }
  *type = (hw_msg_type)h.type;
  *len = h.length;
  return 0;
}
