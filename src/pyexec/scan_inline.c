/* Inline mode: the consumer's thread reads the partitions inside get_next, lazily. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "arrow/array.h"
#include "arrow/allocator.h"
#include "common/error.h"
#include "pyexec/partition_reader.h"
#include "pyexec/scan_internal.h"

/* ---------------------------------------------------------------- inline mode */

int scan_inline_next(hw_scan* s, struct ArrowArray* out) {
  PyGILState_STATE gil = PyGILState_Ensure();
  hw_error err;
  hw_error_init(&err);
  int rc = 0;
  for (;;) {
    if (s->failed) {
      rc = EIO;
      break;
    }
    hw_partition_reader* r = &s->inline_reader;
    bool python_error;
    if (!r->iterator) {
      if (s->inline_next >= s->n_partitions) {
        memset(out, 0, sizeof *out); /* end of stream */
        break;
      }
      int64_t at = s->inline_next++, index = at + s->cfg.first_index;
      if (hw_partition_open(&s->ctx, r, index, PyList_GET_ITEM(s->partitions, at), &err, &python_error) != 0) {
        scan_record_failure(s, &err, python_error, index);
        hw_partition_close(r);
        rc = EIO;
        break;
      }
    }
    bool done;
    if (hw_partition_next_batch(&s->ctx, r, out, &done, &err, &python_error) != 0) {
      scan_record_failure(s, &err, python_error, r->index);
      hw_partition_close(r);
      rc = EIO;
      break;
    }
    if (!done) {
      scan_count_batch(s, out);
      break;
    }
    scan_record_reader_stats(s, s->inline_next - 1, r);
    hw_partition_close(r);
  }
  PyGILState_Release(gil);
  return rc;
}
