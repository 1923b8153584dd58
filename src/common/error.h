/* Filling hw_error: the one way core code reports a failure. */
#ifndef HW_COMMON_ERROR_H
#define HW_COMMON_ERROR_H

#include "common/text.h" /* hw_utf8_trim_cut: messages are cut on a character boundary */
#include "headwater.h"

#if defined(__GNUC__)
#define HW_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define HW_PRINTF(fmt_index, first_arg)
#endif

/* Sets class (may be NULL for none) and a formatted message; returns -1 so callers can
 * write `return hw_error_set(err, ...)`. err may be NULL (the error is then dropped). */
int hw_error_set(hw_error* err, const char* error_class, const char* fmt, ...) HW_PRINTF(3, 4);

/* Sets the "out of memory" error; returns -1. */
int hw_error_oom(hw_error* err);

/* Prepends a formatted context ("column 'a': ") to the current message; returns -1. */
int hw_error_prefix(hw_error* err, const char* fmt, ...) HW_PRINTF(2, 3);

#endif
