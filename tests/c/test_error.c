/* Unit tests of hw_error (src/common/error.h): messages cut on a UTF-8 character boundary. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/error.h"

static int valid_utf8(const char* s) {
  const unsigned char* p = (const unsigned char*)s;
  while (*p) {
    int n = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : (*p & 0xF8) == 0xF0 ? 4 : 0;
    if (!n) return 0;
    for (int i = 1; i < n; i++)
      if ((p[i] & 0xC0) != 0x80) return 0;
    p += n;
  }
  return 1;
}

static void trim_cut_sequences(void** state) {
  (void)state;
  char a[] = "ab\xC3";            /* first byte of é */
  hw_utf8_trim_cut(a);
  assert_string_equal(a, "ab");
  char b[] = "ab\xE2\x82";        /* two of three bytes of € */
  hw_utf8_trim_cut(b);
  assert_string_equal(b, "ab");
  char c[] = "ab\xF0\x9F\x98";    /* three of four bytes of an emoji */
  hw_utf8_trim_cut(c);
  assert_string_equal(c, "ab");
  char d[] = "ab\xE2\x82\xAC";    /* a whole € stays */
  hw_utf8_trim_cut(d);
  assert_string_equal(d, "ab\xE2\x82\xAC");
  char e[] = "";
  hw_utf8_trim_cut(e);
  assert_string_equal(e, "");
  char f[] = "\xC3";
  hw_utf8_trim_cut(f);
  assert_string_equal(f, "");
}

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
      cmocka_unit_test(trim_cut_sequences),
      cmocka_unit_test(long_messages_stay_valid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
