/* The message framing (hw_wire_recv, src/ipc/frame.c): the input is the byte stream a peer wrote
 * into the socketpair before closing it; every message is received until the end or an error. */
#include "fuzz_common.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 16) return 0; /* stays below the socket buffer: one write, no reader thread */
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 0;
  int buf = 1 << 18;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  size_t off = 0;
  while (off < size) {
    ssize_t w = send(sv[0], data + off, size - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += (size_t)w;
  }
  close(sv[0]);
  for (int k = 0; k < 1 << 12; k++) {
    hw_msg_type type;
    uint8_t* payload;
    size_t len;
    int fd;
    hw_error err;
    hw_error_init(&err);
    int rc = hw_wire_recv(sv[1], &type, &payload, &len, &fd, NULL, &err);
    if (rc != 0) {
      FUZZ_CHECK(payload == NULL && fd == -1);
      break;
    }
    FUZZ_CHECK(len <= size && (len == 0) == (payload == NULL) && fd == -1);
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < len; i++) sum += payload[i];
    free(payload);
  }
  close(sv[1]);
  return 0;
}
