/* A stand-in for a Python worker process (started by the pool as its "python"), for the tests of
 * the worker-proxy loop (test_proxy.c): it says READY, then runs each TASK by its payload, which
 * names a behaviour — "ok" (RESULT ok, "out:<index>"), "exit" (exits with code 3), "garbage" (writes
 * bytes that are no frame), "stray" (sends READY during the task), "wrong" (answers another task),
 * "raise" (ERROR with class HW_TEST_RAISED). It exits at SHUTDOWN or when the host is gone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "ipc/wire.h"

#define SOCK 3 /* the pool passes the worker's end of its socketpair as fd 3 */

static void send_msg(hw_msg_type type, hw_wbuf* b) {
  hw_error err;
  if (hw_wire_send(SOCK, type, b, -1, &err) != 0) exit(0);
  hw_wbuf_free(b);
}

static void run_task(int64_t index, const char* what, size_t n) {
  hw_wbuf b = {0};
  if (n == 2 && memcmp(what, "ok", 2) == 0) {
    char out[64];
    int len = snprintf(out, sizeof out, "out:%lld", (long long)index);
    hw_msg_result_encode(&b, index, true, out, (size_t)len, NULL);
    send_msg(HW_MSG_RESULT, &b);
  } else if (n == 4 && memcmp(what, "exit", 4) == 0) {
    exit(3);
  } else if (n == 7 && memcmp(what, "garbage", 7) == 0) {
    static const char junk[64] = "this is no frame of the headwater protocol, not at all";
    if (write(SOCK, junk, sizeof junk) < 0) exit(0);
    pause(); /* the host kills it */
  } else if (n == 5 && memcmp(what, "stray", 5) == 0) {
    hw_msg_ready_encode(&b, getpid());
    send_msg(HW_MSG_READY, &b);
    pause();
  } else if (n == 5 && memcmp(what, "wrong", 5) == 0) {
    hw_msg_result_encode(&b, index + 100, true, "x", 1, NULL);
    send_msg(HW_MSG_RESULT, &b);
    pause();
  } else {
    hw_error e;
    hw_error_init(&e);
    hw_error_set(&e, "HW_TEST_RAISED", "the task raised");
    hw_msg_error_encode(&b, index, &e, "Traceback: here");
    send_msg(HW_MSG_ERROR, &b);
  }
}

int main(void) {
  hw_wbuf ready = {0};
  hw_msg_ready_encode(&ready, getpid());
  send_msg(HW_MSG_READY, &ready);
  for (;;) {
    hw_msg_type type;
    uint8_t* payload;
    size_t len;
    int fd;
    hw_error err;
    if (hw_wire_recv(SOCK, &type, &payload, &len, &fd, NULL, &err) != 0) return 0;
    if (fd >= 0) close(fd);
    if (type == HW_MSG_SHUTDOWN) return 0;
    if (type == HW_MSG_TASK) {
      int64_t index;
      const uint8_t* task;
      size_t n;
      if (hw_msg_task_decode(payload, len, &index, &task, &n, &err) != 0) return 2;
      char what[16] = {0}; /* copied out: the payload is freed before a behaviour that exits */
      if (n >= sizeof what) n = sizeof what - 1;
      memcpy(what, task, n);
      free(payload);
      run_task(index, what, n);
      continue;
    }
    free(payload);
  }
}
