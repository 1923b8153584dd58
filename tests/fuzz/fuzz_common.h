/* Helpers shared by the libFuzzer targets (tests/fuzz/fuzz_*.c). Each target defines
 * LLVMFuzzerTestOneInput; clang's -fsanitize=fuzzer supplies main for `make fuzz`, and
 * replay_main.c supplies one for the meson tests that replay the seed corpus with gcc. */
#ifndef HW_FUZZ_COMMON_H
#define HW_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "schema/field.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

/* An exactly sized copy, so AddressSanitizer sees any read past the input. */
static inline uint8_t* fuzz_exact_copy(const uint8_t* data, size_t size) {
  uint8_t* p = malloc(size ? size : 1);
  if (p && size) memcpy(p, data, size);
  return p;
}

/* data as a NUL-terminated string (exactly size + 1 bytes). */
static inline char* fuzz_cstring(const uint8_t* data, size_t size) {
  char* s = malloc(size + 1);
  if (!s) return NULL;
  if (size) memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

/* Splits off the bytes up to the next NUL (or the end): returns them as a string, advances. */
static inline char* fuzz_take_cstring(const uint8_t** data, size_t* size) {
  const uint8_t* nul = memchr(*data, 0, *size);
  size_t n = nul ? (size_t)(nul - *data) : *size;
  char* s = fuzz_cstring(*data, n);
  *data += nul ? n + 1 : n;
  *size -= nul ? n + 1 : n;
  return s;
}

/* A crash the sanitizers would not see by themselves (a broken invariant). */
#define FUZZ_CHECK(cond)       \
  do {                         \
    if (!(cond)) __builtin_trap(); \
  } while (0)

#endif
