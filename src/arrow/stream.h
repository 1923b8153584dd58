/*
 * ArrowArrayStreams made by headwater. For now: a stream over batches
 * already in memory (what a finished scan hands to a consumer). The
 * executor's live streams come later and use the same get_last_error
 * convention: the message of the hw_error that stopped the stream.
 */
#ifndef HW_ARROW_STREAM_H
#define HW_ARROW_STREAM_H

#include <stdint.h>

#include "headwater.h"
#include "schema/field.h"

/* Makes out a stream of schema (a struct field, copied) yielding batches[0..n) in order, then the
 * end of the stream. Takes ownership of every batch (moved out, also on failure, when they are
 * released). -1 (err set) on allocation failure. */
int hw_batch_stream_init(struct ArrowArrayStream* out, const hw_field* schema, struct ArrowArray* batches,
                         int64_t n, hw_error* err);

#endif
