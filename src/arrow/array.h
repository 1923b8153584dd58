/*
 * Ownership helpers for the Arrow C structs: moving, and sharing one array
 * between several consumers (each export is a view with its own release
 * callback; the buffers are freed when the last view is released).
 */
#ifndef HW_ARROW_ARRAY_H
#define HW_ARROW_ARRAY_H

#include <stdbool.h>
#include <stdint.h>

#include "headwater.h"

/* Moves src into dst and marks src released. dst must not own anything. */
void hw_array_move(struct ArrowArray* src, struct ArrowArray* dst);
void hw_stream_move(struct ArrowArrayStream* src, struct ArrowArrayStream* dst);

/* Releases if not yet released; safe on a zeroed struct. */
void hw_array_release(struct ArrowArray* array);
void hw_schema_release(struct ArrowSchema* schema);
void hw_stream_release(struct ArrowArrayStream* stream);

/* An array shared by reference count. Thread-safe: views may be released on any thread. */
typedef struct hw_shared_array hw_shared_array;

/* Takes ownership of array (moved out). NULL on allocation failure (array is then left as it was). */
hw_shared_array* hw_shared_array_new(struct ArrowArray* array);

/* Length of the shared array. */
int64_t hw_shared_array_length(const hw_shared_array* shared);

/* Writes a view of rows [offset, offset + length) into out; the view keeps the shared array alive.
 * -1 (err set) on a range outside the array or allocation failure. */
int hw_shared_array_view(hw_shared_array* shared, int64_t offset, int64_t length, struct ArrowArray* out,
                         hw_error* err);

/* Drops the caller's reference (from hw_shared_array_new). */
void hw_shared_array_unref(hw_shared_array* shared);

/* A struct array whose i-th child is replacements[i] when that is set (release != NULL; moved in),
 * else src's child order[i]; buffers are shared, nothing is copied. replacements may be NULL.
 * Takes ownership of src and of the replacements (moved), also on failure, when they are
 * released. */
int hw_array_rebuild_children(struct ArrowArray* src, const int64_t* order, struct ArrowArray* replacements,
                              int64_t n, struct ArrowArray* out, hw_error* err);

#endif
