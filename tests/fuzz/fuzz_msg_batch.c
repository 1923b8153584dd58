/* The BATCH message decoder (hw_msg_batch_decode, src/ipc/messages.c): any bytes as a payload. The
 * descriptor it carries has its own target (fuzz_batch_decode.c). */
#include "fuzz_common.h"

#include "ipc/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint8_t* p = fuzz_exact_copy(data, size);
  if (!p) return 0;
  hw_error err;
  hw_error_init(&err);
  int64_t index, region_id;
  const uint8_t* desc;
  size_t n;
  if (hw_msg_batch_decode(p, size, &index, &region_id, &desc, &n, &err) == 0) {
    FUZZ_CHECK(index >= 0 && region_id >= 0 && desc >= p && (size_t)(desc - p) + n == size);
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < n; i++) sum += desc[i];
  }
  free(p);
  return 0;
}
