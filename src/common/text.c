#include "common/text.h"

#include <stdlib.h>
#include <string.h>

int hw_utf8_decode(const unsigned char* s, uint32_t* cp) {
  unsigned c = s[0];
  int n;
  uint32_t v;
  if (c < 0x80) n = 1, v = c;
  else if (c >= 0xC2 && c <= 0xDF) n = 2, v = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, v = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, v = c & 0x07;
  else return 0;
  for (int k = 1; k < n; k++) {
    if ((s[k] & 0xC0) != 0x80) return 0; /* also stops at the terminating NUL */
    v = (v << 6) | (s[k] & 0x3F);
  }
  if ((n == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)))
    return 0;
  if (cp) *cp = v;
  return n;
}

void hw_utf8_trim_cut(char* s) {
  size_t n = strlen(s);
  size_t i = n;
  while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--; /* continuation bytes */
  if (i == 0) return;
  unsigned char c = (unsigned char)s[i - 1];
  size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (need && n - (i - 1) < need) s[i - 1] = '\0'; /* an incomplete last sequence */
}

bool hw_utf8_valid(const char* s, size_t len) {
  for (size_t i = 0; i < len;) {
    int n = hw_utf8_decode((const unsigned char*)s + i, NULL);
    if (n == 0 || i + (size_t)n > len) return false;
    i += (size_t)n;
  }
  return true;
}

size_t hw_utf8_encode(uint32_t cp, char b[4]) {
  if (cp < 0x80) {
    b[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    b[0] = (char)(0xC0 | (cp >> 6)), b[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    b[0] = (char)(0xE0 | (cp >> 12)), b[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), b[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  b[0] = (char)(0xF0 | (cp >> 18)), b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), b[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

int hw_utf16_units(uint32_t cp, uint32_t units[2]) {
  if (cp < 0x10000) {
    units[0] = cp;
    return 1;
  }
  units[0] = 0xD800 + ((cp - 0x10000) >> 10);
  units[1] = 0xDC00 + ((cp - 0x10000) & 0x3FF);
  return 2;
}

int hw_hex4(const char* s) {
  int v = 0;
  for (int k = 0; k < 4; k++) {
    char c = s[k]; /* stops at a NUL, which is no hex digit */
    int d = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                     : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

void hw_text_put(hw_text* t, const char* s, size_t n) {
  if (t->oom) return;
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 64;
    while (cap < t->len + n + 1) cap *= 2;
    char* d = realloc(t->data, cap);
    if (!d) {
      t->oom = true;
      return;
    }
    t->data = d;
    t->cap = cap;
  }
  if (n) memcpy(t->data + t->len, s, n);
  t->len += n;
  t->data[t->len] = '\0';
}

void hw_text_put_str(hw_text* t, const char* s) { hw_text_put(t, s, strlen(s)); }

void hw_text_put_utf8(hw_text* t, uint32_t cp) {
  char b[4];
  hw_text_put(t, b, hw_utf8_encode(cp, b));
}
