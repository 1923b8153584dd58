/*
 * Growable byte buffers and validity bitmaps on an hw_allocator. The append
 * helpers are inline because the row converter calls them once per value.
 */
#ifndef HW_ARROW_BUFFER_H
#define HW_ARROW_BUFFER_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "arrow/allocator.h"

typedef struct hw_buffer {
  uint8_t* data;      /* owned, from allocator; NULL while capacity is 0 */
  int64_t size;       /* bytes in use */
  int64_t capacity;   /* bytes allocated */
  const hw_allocator* allocator; /* borrowed; must outlive the buffer */
} hw_buffer;

void hw_buffer_init(hw_buffer* buf, const hw_allocator* allocator);

/* Frees the memory and leaves an empty buffer on the same allocator. */
void hw_buffer_reset(hw_buffer* buf);

/* Slow path of hw_buffer_reserve: grows capacity geometrically. -1 on allocation failure. */
int hw_buffer_grow(hw_buffer* buf, int64_t min_capacity);

/* Ensures room for `additional` more bytes. -1 on allocation failure (buffer unchanged). */
static inline int hw_buffer_reserve(hw_buffer* buf, int64_t additional) {
  if (buf->size + additional <= buf->capacity) return 0;
  return hw_buffer_grow(buf, buf->size + additional);
}

static inline int hw_buffer_append(hw_buffer* buf, const void* src, int64_t n) {
  if (hw_buffer_reserve(buf, n) != 0) return -1;
  if (n > 0) memcpy(buf->data + buf->size, src, (size_t)n);
  buf->size += n;
  return 0;
}

static inline int hw_buffer_append_zeros(hw_buffer* buf, int64_t n) {
  if (hw_buffer_reserve(buf, n) != 0) return -1;
  if (n > 0) memset(buf->data + buf->size, 0, (size_t)n);
  buf->size += n;
  return 0;
}

/* Hands the memory to the caller (who frees it with buf->allocator) and empties the buffer.
 * Never returns NULL: an empty buffer yields a fresh small allocation so Arrow consumers always
 * see a valid pointer; NULL only on allocation failure. */
uint8_t* hw_buffer_take(hw_buffer* buf, int64_t* size_out);

/* ---- bit-packed bitmaps (validity and booleans), LSB first as Arrow specifies ---- */

typedef struct hw_bitmap {
  hw_buffer bytes;
  int64_t length; /* bits in use */
} hw_bitmap;

void hw_bitmap_init(hw_bitmap* bm, const hw_allocator* allocator);
void hw_bitmap_reset(hw_bitmap* bm);

/* Appends n copies of bit. -1 on allocation failure. */
int hw_bitmap_append_n(hw_bitmap* bm, bool bit, int64_t n);

static inline int hw_bitmap_append(hw_bitmap* bm, bool bit) {
  int64_t byte = bm->length >> 3;
  if (byte >= bm->bytes.size) {
    if (hw_buffer_append_zeros(&bm->bytes, 1) != 0) return -1;
  }
  if (bit) bm->bytes.data[byte] |= (uint8_t)(1u << (bm->length & 7));
  bm->length++;
  return 0;
}

static inline bool hw_bitmap_get(const uint8_t* bits, int64_t i) { return (bits[i >> 3] >> (i & 7)) & 1; }

#endif
