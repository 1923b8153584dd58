#include "arrow/buffer.h"

void hw_buffer_init(hw_buffer* buf, const hw_allocator* allocator) {
  buf->data = NULL;
  buf->size = 0;
  buf->capacity = 0;
  buf->allocator = allocator;
}

void hw_buffer_reset(hw_buffer* buf) {
  if (buf->data) buf->allocator->deallocate(buf->allocator->ctx, buf->data, (size_t)buf->capacity);
  hw_buffer_init(buf, buf->allocator);
}

int hw_buffer_grow(hw_buffer* buf, int64_t min_capacity) {
  if (min_capacity < 0) return -1;
  int64_t cap = buf->capacity < 64 ? 64 : buf->capacity;
  while (cap < min_capacity) {
    if (cap > INT64_MAX / 2) return -1;
    cap *= 2;
  }
  void* fresh = buf->data
                    ? buf->allocator->reallocate(buf->allocator->ctx, buf->data, (size_t)buf->capacity, (size_t)cap)
                    : buf->allocator->allocate(buf->allocator->ctx, (size_t)cap);
  if (!fresh) return -1;
  buf->data = fresh;
  buf->capacity = cap;
  return 0;
}

uint8_t* hw_buffer_take(hw_buffer* buf, int64_t* size_out) {
  if (!buf->data && hw_buffer_grow(buf, 1) != 0) return NULL;
  uint8_t* data = buf->data;
  if (size_out) *size_out = buf->capacity;
  hw_buffer_init(buf, buf->allocator);
  return data;
}

void hw_bitmap_init(hw_bitmap* bm, const hw_allocator* allocator) {
  hw_buffer_init(&bm->bytes, allocator);
  bm->length = 0;
}

void hw_bitmap_reset(hw_bitmap* bm) {
  hw_buffer_reset(&bm->bytes);
  bm->length = 0;
}

int hw_bitmap_append_n(hw_bitmap* bm, bool bit, int64_t n) {
  if (n <= 0) return 0;
  int64_t new_length = bm->length + n;
  int64_t need = (new_length + 7) >> 3;
  if (need > bm->bytes.size && hw_buffer_append_zeros(&bm->bytes, need - bm->bytes.size) != 0) return -1;
  if (bit) {
    int64_t i = bm->length;
    /* set leading bits up to a byte boundary, then whole bytes, then the tail */
    while (i < new_length && (i & 7)) {
      bm->bytes.data[i >> 3] |= (uint8_t)(1u << (i & 7));
      i++;
    }
    if (new_length - i >= 8) {
      int64_t whole = (new_length - i) >> 3;
      memset(bm->bytes.data + (i >> 3), 0xff, (size_t)whole);
      i += whole << 3;
    }
    while (i < new_length) {
      bm->bytes.data[i >> 3] |= (uint8_t)(1u << (i & 7));
      i++;
    }
  }
  bm->length = new_length;
  return 0;
}
