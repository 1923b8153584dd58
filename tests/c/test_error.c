/* Unit tests of hw_error (src/common/error.h): messages cut on a UTF-8 character boundary. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/error.h"
#include "common/text.h"

static bool valid_utf8(const char* s) { return hw_utf8_valid(s, strlen(s)); }


static void long_messages_stay_valid(void** state) {
  (void)state;
  char value[4000];
  for (int shift = 0; shift < 4; shift++) {
    /* shift ASCII bytes, then 3-byte characters, so the 2048-byte cut lands at every offset */
    size_t n = 0;
    for (int i = 0; i < shift; i++) value[n++] = 'x';
    while (n + 3 < sizeof value) {
      memcpy(value + n, "\xE2\x82\xAC", 3);
      n += 3;
    }
    value[n] = '\0';
    hw_error err;
    hw_error_init(&err);
    hw_error_set(&err, "CANNOT_CONVERT_VALUE", "%s", value);
    assert_true(valid_utf8(err.message));
    assert_true(strlen(err.message) >= sizeof err.message - 4);
    hw_error_prefix(&err, "partition %d, row %d, column '%s': ", 1, 2, "\xC3\xA9");
    assert_true(valid_utf8(err.message));
    assert_memory_equal(err.message, "partition 1, row 2, column '\xC3\xA9': ", 33);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(long_messages_stay_valid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
