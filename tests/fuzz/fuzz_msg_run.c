/* The RUN message decoder (hw_msg_run_decode, src/ipc/messages.c): any bytes as a payload. */
#include "fuzz_common.h"

#include "ipc/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint8_t* p = fuzz_exact_copy(data, size);
  if (!p) return 0;
  hw_error err;
  hw_error_init(&err);
  int64_t index;
  const uint8_t* pickled;
  size_t n;
  if (hw_msg_run_decode(p, size, &index, &pickled, &n, &err) == 0) {
    FUZZ_CHECK(index >= 0 && pickled >= p && (size_t)(pickled - p) + n == size);
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += pickled[i];
  }
  free(p);
  return 0;
}
