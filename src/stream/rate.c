/* Rows of the rate sources, built straight into Arrow buffers (see rate.h). */
#include "stream/rate.h"

#include <string.h>

int hw_rate_schema(hw_field* out, hw_error* err) {
  return hw_ddl_parse("timestamp TIMESTAMP, value BIGINT", out, err);
}

/* Java's Math.round(double): floor(x + 0.5), saturating at the long range (NaN -> 0). No libm:
 * the core links without it. */
static int64_t java_round(double x) {
  double y = x + 0.5;
  if (y != y) return 0;
  if (y >= 9223372036854775807.0) return INT64_MAX;
  if (y <= -9223372036854775808.0) return INT64_MIN;
  int64_t t = (int64_t)y; /* truncates toward zero: one less below zero when y has a fraction */
  return (double)t > y ? t - 1 : t;
}

int hw_rate_batch(const hw_rate_range* r, struct ArrowArray* out, hw_error* err) {
  if (r->num_partitions <= 0 || r->partition < 0 || r->partition >= r->num_partitions) {
    hw_error_set(err, "HW_INVALID_ARGUMENT", "rate: partition %lld of %lld is out of range", (long long)r->partition,
                 (long long)r->num_partitions);
    return -1;
  }
  /* first value of this partition, and how many: the ceiling of what is left over n */
  int64_t first = r->range_start + r->partition;
  int64_t rows = first < r->range_end ? (r->range_end - first - 1) / r->num_partitions + 1 : 0;
  hw_field schema;
  if (hw_rate_schema(&schema, err) != 0) return -1;
  hw_builder b;
  int rc = hw_builder_init(&b, &schema, hw_allocator_heap(), err);
  hw_field_release(&schema);
  if (rc != 0) return -1;
  if (hw_builder_reserve(&b, rows) != 0) goto oom;
  for (int64_t i = 0; i < rows; i++) {
    int64_t v = first + i * r->num_partitions;
    int64_t ms = r->start_ms + java_round((double)(v - r->range_start) * r->ms_per_value);
    if (hw_builder_append_int64_fast(&b.children[0], ms * 1000) != 0 ||
        hw_builder_append_int64_fast(&b.children[1], v) != 0 || hw_builder_close_struct(&b) != 0)
      goto oom;
  }
  rc = hw_builder_finish(&b, out, err);
  hw_builder_release(&b);
  return rc;
oom:
  hw_builder_release(&b);
  hw_error_oom(err);
  return -1;
}
