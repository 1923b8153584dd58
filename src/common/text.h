/*
 * Text helpers shared by the schema parsers and renderers (DDL, Spark JSON) and the error
 * messages (cut on a character boundary): UTF-8 sequences,
 * UTF-16 surrogate pairs (how Java and JSON spell characters above U+FFFF in \u escapes), and a
 * growable NUL-terminated text buffer. Pure C, no GIL.
 */
#ifndef HW_COMMON_TEXT_H
#define HW_COMMON_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes the valid UTF-8 sequence at s into *cp (may be NULL); returns its length (1..4), or 0
 * when none starts there (overlong forms, surrogates and code points above U+10FFFF are invalid).
 * Stops at a NUL, so a NUL-terminated string is never read past its end. */
int hw_utf8_decode(const unsigned char* s, uint32_t* cp);

/* Whether s[0..len) is valid UTF-8 (s is NUL-terminated at or after len). */
bool hw_utf8_valid(const char* s, size_t len);

/* Drops an incomplete UTF-8 sequence at the end of s (what a byte-count cut, snprintf's, leaves),
 * so s stays valid UTF-8 when it was before the cut. Complete sequences are left alone. */
void hw_utf8_trim_cut(char* s);

/* Writes code point cp (<= U+10FFFF) as UTF-8 into b; returns its length (1..4). */
size_t hw_utf8_encode(uint32_t cp, char b[4]);

static inline bool hw_is_high_surrogate(int u) { return u >= 0xD800 && u <= 0xDBFF; }
static inline bool hw_is_low_surrogate(int u) { return u >= 0xDC00 && u <= 0xDFFF; }

/* The code point of a surrogate pair (hi, lo checked by the caller). */
static inline uint32_t hw_surrogate_join(int hi, int lo) {
  return 0x10000 + (((uint32_t)hi - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
}

/* Writes cp as UTF-16 code units; returns how many (1, or 2 for a surrogate pair). */
int hw_utf16_units(uint32_t cp, uint32_t units[2]);

/* Four hex digits at s as a number (0..0xFFFF), or -1 if any is not a hex digit (a NUL is not). */
int hw_hex4(const char* s);

/* A growable NUL-terminated text; zero-initialised it is empty (data NULL until the first put).
 * Running out of memory is sticky (oom): check it once, at the end. The caller frees data. */
typedef struct hw_text {
  char* data;
  size_t len, cap;
  bool oom;
} hw_text;

void hw_text_put(hw_text* t, const char* s, size_t n);
void hw_text_put_str(hw_text* t, const char* s);
void hw_text_put_utf8(hw_text* t, uint32_t cp);

#endif
