/* Unit tests of the shared text helpers (src/common/text.h) the DDL and Spark JSON code use. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/text.h"

static void utf8_sequences(void** state) {
  (void)state;
  uint32_t cp = 0;
  assert_int_equal(hw_utf8_decode((const unsigned char*)"a", &cp), 1);
  assert_int_equal(cp, 'a');
  assert_int_equal(hw_utf8_decode((const unsigned char*)"\xC3\xA9", &cp), 2);
  assert_int_equal(cp, 0xE9);
  assert_int_equal(hw_utf8_decode((const unsigned char*)"\xE2\x82\xAC", &cp), 3);
  assert_int_equal(cp, 0x20AC);
  assert_int_equal(hw_utf8_decode((const unsigned char*)"\xF0\x9F\x98\x80", &cp), 4);
  assert_int_equal(cp, 0x1F600);
  assert_int_equal(hw_utf8_decode((const unsigned char*)"\xC0\x80", &cp), 0);     /* overlong */
  assert_int_equal(hw_utf8_decode((const unsigned char*)"\xED\xA0\x80", &cp), 0); /* a surrogate */
  assert_int_equal(hw_utf8_decode((const unsigned char*)"\xF4\x90\x80\x80", &cp), 0); /* > U+10FFFF */
  assert_int_equal(hw_utf8_decode((const unsigned char*)"\xE2\x82", &cp), 0);     /* cut by the NUL */
  assert_true(hw_utf8_valid("caf\xC3\xA9", 5));
  assert_false(hw_utf8_valid("caf\xC3\xA9", 4)); /* the sequence runs past len */
  char b[4];
  for (uint32_t c = 0; c <= 0x10FFFF; c += (c < 0x800 ? 1 : 97)) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    char z[5] = {0};
    size_t n = hw_utf8_encode(c, b);
    memcpy(z, b, n);
    assert_int_equal(hw_utf8_decode((const unsigned char*)z, &cp), (int)n);
    assert_int_equal(cp, c);
  }
}

static void surrogate_pairs(void** state) {
  (void)state;
  uint32_t u[2];
  assert_int_equal(hw_utf16_units(0x41, u), 1);
  assert_int_equal(u[0], 0x41);
  assert_int_equal(hw_utf16_units(0x1F600, u), 2);
  assert_int_equal(u[0], 0xD83D);
  assert_int_equal(u[1], 0xDE00);
  assert_true(hw_is_high_surrogate((int)u[0]));
  assert_true(hw_is_low_surrogate((int)u[1]));
  assert_false(hw_is_low_surrogate((int)u[0]));
  assert_int_equal(hw_surrogate_join((int)u[0], (int)u[1]), 0x1F600);
  assert_int_equal(hw_hex4("d83D"), 0xD83D);
  assert_int_equal(hw_hex4("12\0" "4"), -1);
  assert_int_equal(hw_hex4("12g4"), -1);
}

static void growable_text(void** state) {
  (void)state;
  hw_text t = {0};
  hw_text_put(&t, "", 0);
  assert_non_null(t.data);
  assert_string_equal(t.data, "");
  for (int i = 0; i < 100; i++) hw_text_put_str(&t, "ab");
  hw_text_put_utf8(&t, 0xE9);
  assert_int_equal(t.len, 202);
  assert_false(t.oom);
  assert_memory_equal(t.data + 198, "ab\xC3\xA9", 5); /* with the NUL */
  free(t.data);
}

/* hw_utf8_trim_cut: what a byte-count cut leaves of a sequence goes, a whole one stays. */
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(utf8_sequences),
      cmocka_unit_test(surrogate_pairs),
      cmocka_unit_test(growable_text),
      cmocka_unit_test(trim_cut_sequences),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
