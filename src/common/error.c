#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hw_error_init(hw_error* err) {
  if (!err) return;
  err->error_class[0] = '\0';
  err->message[0] = '\0';
  err->partition = -1;
  err->row = -1;
  err->column = -1;
  err->traceback[0] = '\0';
}

int hw_error_set(hw_error* err, const char* error_class, const char* fmt, ...) {
  if (!err) return -1;
  snprintf(err->error_class, sizeof err->error_class, "%s", error_class ? error_class : "");
  va_list ap;
  va_start(ap, fmt);
  if (vsnprintf(err->message, sizeof err->message, fmt, ap) >= (int)sizeof err->message)
    hw_utf8_trim_cut(err->message);
  va_end(ap);
  return -1;
}

int hw_error_oom(hw_error* err) { return hw_error_set(err, "HW_OUT_OF_MEMORY", "out of memory"); }

int hw_error_prefix(hw_error* err, const char* fmt, ...) {
  if (!err) return -1;
  char prefix[512];
  va_list ap;
  va_start(ap, fmt);
  if (vsnprintf(prefix, sizeof prefix, fmt, ap) >= (int)sizeof prefix) hw_utf8_trim_cut(prefix);
  va_end(ap);
  char old[sizeof err->message];
  memcpy(old, err->message, sizeof old);
  /* truncation of over-long messages is intended; the return value is checked to say so */
  int n = snprintf(err->message, sizeof err->message, "%s%s", prefix, old);
  if (n < 0) err->message[0] = '\0';
  else if (n >= (int)sizeof err->message) hw_utf8_trim_cut(err->message);
  return -1;
}

const char* hw_version(void) { return HW_VERSION_STRING; }

void hw_free(void* ptr) { free(ptr); }
