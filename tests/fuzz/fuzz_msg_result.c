/* The RESULT message decoder (hw_msg_result_decode, src/ipc/messages.c): any bytes as a payload. */
#include "fuzz_common.h"

#include "ipc/stats.h"
#include "ipc/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint8_t* p = fuzz_exact_copy(data, size);
  if (!p) return 0;
  hw_error err;
  hw_error_init(&err);
  int64_t index;
  bool ok;
  const uint8_t* payload;
  size_t n;
  hw_task_stats stats;
  if (hw_msg_result_decode(p, size, &index, &ok, &payload, &n, &stats, &err) == 0) {
    FUZZ_CHECK(index >= 0 && payload >= p && n <= size && (size_t)(payload - p) + n <= size);
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += payload[i];
    hw_wbuf b = {0};
    hw_msg_result_encode(&b, index, ok, payload, n, &stats);
    FUZZ_CHECK(!b.failed && b.size == size && memcmp(b.data, p, size) == 0);
    hw_wbuf_free(&b);
  }
  free(p);
  return 0;
}
