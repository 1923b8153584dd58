/*
 * The rows of Spark's `rate` and `rate-micro-batch` stream sources for one partition of one
 * micro-batch. Both sources give partition p of n the values range_start + p, + p + n, ... below
 * range_end, each stamped start_ms + round((value - range_start) * ms_per_value) milliseconds
 * (Spark's Math.round), as microseconds. No Python here.
 */
#ifndef HW_STREAM_RATE_H
#define HW_STREAM_RATE_H

#include <stdint.h>

#include "arrow/builder.h"
#include "common/error.h"
#include "schema/field.h"

typedef struct hw_rate_range {
  int64_t partition;
  int64_t num_partitions;
  int64_t range_start; /* first value of the batch (inclusive) */
  int64_t range_end;   /* exclusive */
  int64_t start_ms;    /* timestamp of range_start, epoch milliseconds */
  double ms_per_value; /* milliseconds between consecutive values */
} hw_rate_range;

/* The schema `timestamp TIMESTAMP, value BIGINT` (caller releases). */
int hw_rate_schema(hw_field* out, hw_error* err);

/* Fills *out (a struct array of that schema; caller releases) with the partition's rows. */
int hw_rate_batch(const hw_rate_range* r, struct ArrowArray* out, hw_error* err);

#endif
