/*
 * Builders: append values one at a time, finish into an ArrowArray.
 *
 * One hw_builder per field of a schema tree; nested types own child
 * builders. A top-level struct builder builds a record batch (Arrow's C
 * interface represents a batch as a struct array). finish() hands the
 * buffers to the ArrowArray (freed by its release callback through the same
 * allocator) and leaves the builder empty and reusable for the next batch.
 *
 * Appends return 0, or -1 only when memory runs out. Type checks are the
 * caller's: appending a value of the wrong kind is a programming error.
 * None of these functions touch Python; no GIL needed.
 */
#ifndef HW_ARROW_BUILDER_H
#define HW_ARROW_BUILDER_H

#include <stdbool.h>
#include <stdint.h>

#include "arrow/buffer.h"
#include "schema/field.h"

typedef struct hw_builder {
  hw_field field;             /* owned copy of the field built (its children describe child builders) */
  const hw_allocator* allocator; /* borrowed */
  int64_t length;             /* values appended since the last finish */
  int64_t null_count;
  hw_bitmap validity;         /* empty until the first null: then back-filled with 1s */
  hw_bitmap bits;             /* bool values */
  hw_buffer values;           /* fixed-width values, or offsets (int32/int64) of var-size, list, map */
  hw_buffer data;             /* bytes of utf8/binary values */
  int32_t width;              /* bytes per fixed-width value or per offset; 0 for bool/null/struct */
  int32_t n_children;
  struct hw_builder* children; /* owned array: list/map element, struct fields */
} hw_builder;

/* Prepares b for field (copied). The allocator must outlive b and every array it finishes. */
int hw_builder_init(hw_builder* b, const hw_field* field, const hw_allocator* allocator, hw_error* err);

/* Frees everything, including values appended and not finished. Safe on a zeroed builder. */
void hw_builder_release(hw_builder* b);

/* A null slot: fixed-width gets zero bytes, var-size and list/map an empty element, struct a null
 * in every child. */
int hw_builder_append_null(hw_builder* b);

int hw_builder_append_bool(hw_builder* b, bool v);
/* int8/16/32/64, date32, timestamp: v is stored in the type's width (callers check the range). */
int hw_builder_append_int(hw_builder* b, int64_t v);
/* uint8/16/32/64 */
int hw_builder_append_uint(hw_builder* b, uint64_t v);
/* float32/float64 */
int hw_builder_append_double(hw_builder* b, double v);
/* utf8/large_utf8/binary/large_binary (utf8 must be valid UTF-8: callers ensure it). -1 also when a
 * 32-bit offset would overflow. */
int hw_builder_append_bytes(hw_builder* b, const void* bytes, int64_t n);
/* decimal128: the unscaled value in two's complement, low and high 64 bits. */
int hw_builder_append_decimal128(hw_builder* b, uint64_t low, uint64_t high);

/* list/map: closes one valid element made of the child values appended since the previous one. */
int hw_builder_close_list(hw_builder* b);
/* struct: closes one valid row; each child must have had exactly one value appended for it. */
int hw_builder_close_struct(hw_builder* b);

/* Moves what was appended into out (an ArrowArray owning its buffers) and empties b.
 * -1 with err set on allocation failure (b is then left empty too). */
int hw_builder_finish(hw_builder* b, struct ArrowArray* out, hw_error* err);

/* ---- additions (additive; see builder.c for the invariants they rely on) ----
 *
 * Also guaranteed by builder.c: an append that returns -1 leaves the builder as it was (only
 * capacity may have grown), so the caller may retry, finish or release (a row spread over several
 * child appends may then be half-written: finish reports struct children of unequal lengths as
 * HW_INTERNAL_ERROR and empties the builder). Appending a value of the
 * wrong kind for the builder's type returns -1 and writes nothing. hw_builder_init leaves *b zeroed
 * (safe to release) on failure. */

/* Reserves room for `additional` more values (offsets, fixed-width values, bits; recursively
 * for struct children; not the bytes of var-size values nor list elements), so that many appends
 * then grow nothing. Optional. -1 on allocation failure (b unchanged). */
int hw_builder_reserve(hw_builder* b, int64_t additional);

/*
 * Inline fast paths for the per-value hot loop. Each stores the value directly when the column
 * has had no null yet and its buffer has room; otherwise it calls the general function above,
 * so the result is always the same. The caller must pass a builder of the type named:
 *   _int64_fast: int64, timestamp;   _int32_fast: int32, date32;   _float64_fast: float64;
 *   _bool_fast: bool;                _utf8_fast: utf8, binary (32-bit offsets).
 * Invariant used (kept by builder.c): an offsets buffer with capacity > 0 already holds the
 * leading 0 offset, so values.size >= width whenever capacity - size >= width.
 */
static inline int hw_builder_append_int64_fast(hw_builder* b, int64_t v) {
  if (b->null_count == 0 && b->values.capacity - b->values.size >= 8) {
    memcpy(b->values.data + b->values.size, &v, 8);
    b->values.size += 8;
    b->length++;
    return 0;
  }
  return hw_builder_append_int(b, v);
}

static inline int hw_builder_append_int32_fast(hw_builder* b, int32_t v) {
  if (b->null_count == 0 && b->values.capacity - b->values.size >= 4) {
    memcpy(b->values.data + b->values.size, &v, 4);
    b->values.size += 4;
    b->length++;
    return 0;
  }
  return hw_builder_append_int(b, v);
}

static inline int hw_builder_append_float64_fast(hw_builder* b, double v) {
  if (b->null_count == 0 && b->values.capacity - b->values.size >= 8) {
    memcpy(b->values.data + b->values.size, &v, 8);
    b->values.size += 8;
    b->length++;
    return 0;
  }
  return hw_builder_append_double(b, v);
}

static inline int hw_builder_append_bool_fast(hw_builder* b, bool v) {
  int64_t byte = b->bits.length >> 3;
  if (b->null_count == 0 && byte < b->bits.bytes.size) {
    if (v) b->bits.bytes.data[byte] |= (uint8_t)(1u << (b->bits.length & 7));
    b->bits.length++;
    b->length++;
    return 0;
  }
  return hw_builder_append_bool(b, v);
}

static inline int hw_builder_append_utf8_fast(hw_builder* b, const void* bytes, int64_t n) {
  if (b->null_count == 0 && n >= 0 && b->values.capacity - b->values.size >= 4 &&
      b->data.capacity - b->data.size >= n && n <= (int64_t)INT32_MAX - b->data.size) {
    if (n > 0) memcpy(b->data.data + b->data.size, bytes, (size_t)n);
    b->data.size += n;
    int32_t end = (int32_t)b->data.size;
    memcpy(b->values.data + b->values.size, &end, 4);
    b->values.size += 4;
    b->length++;
    return 0;
  }
  return hw_builder_append_bytes(b, bytes, n);
}

#endif
