/* The ERROR message decoder (hw_msg_error_decode, src/ipc/messages.c) and how the host turns it into
 * an hw_error and a traceback (hw_msg_error_apply, used by scan.c and tasks.c). */
#include "fuzz_common.h"

#include "ipc/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint8_t* p = fuzz_exact_copy(data, size);
  if (!p) return 0;
  hw_error err;
  hw_error_init(&err);
  hw_msg_error m;
  if (hw_msg_error_decode(p, size, &m, &err) == 0) {
    FUZZ_CHECK(m.n_error_class + m.n_message + m.n_traceback + 48 == size);
    hw_error e;
    hw_error_init(&e);
    char* traceback = NULL;
    hw_msg_error_apply(&m, &e, &traceback);
    FUZZ_CHECK(memchr(e.message, 0, sizeof e.message) && memchr(e.error_class, 0, sizeof e.error_class));
    FUZZ_CHECK((traceback != NULL) == (m.n_traceback > 0) || traceback == NULL);
    free(traceback);
  }
  free(p);
  return 0;
}
