/* The RELEASE message decoder (hw_msg_release_decode, src/ipc/messages.c): any bytes as a payload. */
#include "fuzz_common.h"

#include "ipc/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint8_t* p = fuzz_exact_copy(data, size);
  if (!p) return 0;
  hw_error err;
  hw_error_init(&err);
  int64_t id;
  if (hw_msg_release_decode(p, size, &id, &err) == 0) FUZZ_CHECK(id >= 0 && size == 8);
  free(p);
  return 0;
}
