/*
 * Builders: values appended one at a time into allocator-backed buffers, then moved into an
 * ArrowArray (Arrow C Data Interface) by hw_builder_finish.
 *
 * Buffers per type (what finish exports, in buffers[] order):
 *   null                          no buffers (n_buffers 0); null_count = length
 *   bool                          validity, bit-packed values
 *   int*, uint*, float*, date32,
 *   timestamp, decimal128         validity, values (width bytes each)
 *   utf8, binary                  validity, int32 offsets (length + 1), data
 *   large_utf8, large_binary      validity, int64 offsets (length + 1), data
 *   list, map                     validity, int32 offsets (length + 1); one child
 *   struct                        validity; one child per field
 * The validity buffer is NULL (and null_count 0) when no null was appended. Every other buffer is
 * a valid pointer even for an empty array; an empty offsets buffer holds the single 0.
 *
 * Invariants between appends:
 *   - null_count > 0  <=>  the validity bitmap is materialised, and then validity.length == length.
 *     Before the first null there is no bitmap at all; the first null back-fills `length` 1-bits.
 *   - offsets buffers (values of utf8/binary/list/map): either size == 0 and capacity == 0 (nothing
 *     allocated yet), or size == (length + 1) * width with offsets[0] == 0. The last offset is never
 *     read back: it is data.size (var-size) or the child's length (list/map).
 *   - bits beyond a bitmap's length are 0 (bitmaps only ever OR bits in).
 *
 * Failure: an append that returns -1 leaves the builder logically unchanged (it may have grown a
 * buffer's capacity). Every append reserves all it needs first and only then writes; struct nulls
 * reserve for the whole subtree before writing into any child. Appending a value of the wrong kind
 * for the builder's type also returns -1 (a programming error; nothing is written).
 */
#include "arrow/builder.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* ---- type helpers ---- */

static int32_t type_width(hw_type_id t) {
  switch (t) {
    case HW_TYPE_INT8:
    case HW_TYPE_UINT8:
      return 1;
    case HW_TYPE_INT16:
    case HW_TYPE_UINT16:
      return 2;
    case HW_TYPE_INT32:
    case HW_TYPE_UINT32:
    case HW_TYPE_FLOAT32:
    case HW_TYPE_DATE32:
    case HW_TYPE_UTF8:
    case HW_TYPE_BINARY:
    case HW_TYPE_LIST:
    case HW_TYPE_MAP:
      return 4;
    case HW_TYPE_INT64:
    case HW_TYPE_UINT64:
    case HW_TYPE_FLOAT64:
    case HW_TYPE_TIMESTAMP:
    case HW_TYPE_LARGE_UTF8:
    case HW_TYPE_LARGE_BINARY:
      return 8;
    case HW_TYPE_DECIMAL128:
      return 16;
    case HW_TYPE_NULL:
    case HW_TYPE_BOOL:
    case HW_TYPE_STRUCT:
      return 0;
  }
  return 0;
}

static bool is_var_bytes(hw_type_id t) {
  return t == HW_TYPE_UTF8 || t == HW_TYPE_LARGE_UTF8 || t == HW_TYPE_BINARY || t == HW_TYPE_LARGE_BINARY;
}

static bool has_offsets(hw_type_id t) { return is_var_bytes(t) || t == HW_TYPE_LIST || t == HW_TYPE_MAP; }

static bool is_fixed(hw_type_id t) {
  switch (t) {
    case HW_TYPE_INT8:
    case HW_TYPE_INT16:
    case HW_TYPE_INT32:
    case HW_TYPE_INT64:
    case HW_TYPE_UINT8:
    case HW_TYPE_UINT16:
    case HW_TYPE_UINT32:
    case HW_TYPE_UINT64:
    case HW_TYPE_FLOAT32:
    case HW_TYPE_FLOAT64:
    case HW_TYPE_DATE32:
    case HW_TYPE_TIMESTAMP:
    case HW_TYPE_DECIMAL128:
      return true;
    default:
      return false;
  }
}

/* ---- reservation helpers: grow capacity only, never change what is visible ---- */

/* Room for `bytes` more bytes in buf. */
static inline int buffer_room(hw_buffer* buf, int64_t bytes) {
  if (buf->capacity - buf->size >= bytes) return 0;
  if (bytes > INT64_MAX - buf->size) return -1;
  return hw_buffer_grow(buf, buf->size + bytes);
}

/* Room in bm for a total of `nbits` bits (whatever its current length). */
static inline int bitmap_room(hw_bitmap* bm, int64_t nbits) {
  int64_t need = (nbits + 7) >> 3;
  if (need <= bm->bytes.capacity) return 0;
  return hw_buffer_grow(&bm->bytes, need);
}

/* Room for n more offsets; writes the leading 0 when the buffer is still unallocated. */
static int offsets_room(hw_builder* b, int64_t n) {
  int64_t w = b->width;
  if (b->values.size == 0) {
    if (hw_buffer_grow(&b->values, (n + 1) * w) != 0) return -1;
    memset(b->values.data, 0, (size_t)w);
    b->values.size = w;
    return 0;
  }
  return buffer_room(&b->values, n * w);
}

/* Writes one offset; room must have been reserved. */
static inline void offsets_push(hw_builder* b, int64_t end) {
  uint8_t* p = b->values.data + b->values.size;
  if (b->width == 4) {
    int32_t v = (int32_t)end;
    memcpy(p, &v, 4);
  } else {
    memcpy(p, &end, 8);
  }
  b->values.size += b->width;
}

/* Before a valid value: room for its validity bit when a bitmap exists. */
static inline int validity_room_valid(hw_builder* b) {
  return b->null_count ? bitmap_room(&b->validity, b->length + 1) : 0;
}

/* After a valid value was written: its validity bit (cannot fail once validity_room_valid passed). */
static inline void validity_push_valid(hw_builder* b) {
  if (b->null_count) (void)hw_bitmap_append(&b->validity, true);
  b->length++;
}

/* ---- init / release ---- */

static void builder_zero(hw_builder* b, const hw_allocator* allocator) {
  memset(b, 0, sizeof *b);
  hw_field_init(&b->field);
  b->allocator = allocator;
  hw_bitmap_init(&b->validity, allocator);
  hw_bitmap_init(&b->bits, allocator);
  hw_buffer_init(&b->values, allocator);
  hw_buffer_init(&b->data, allocator);
}

static int check_shape(const hw_field* f, hw_error* err) {
  const char* name = f->name ? f->name : "";
  switch (f->type) {
    case HW_TYPE_LIST:
      if (f->n_children != 1 || !f->children)
        return hw_error_set(err, "HW_INVALID_ARGUMENT", "field '%s': a list needs exactly one child", name);
      return 0;
    case HW_TYPE_MAP:
      if (f->n_children != 1 || !f->children || f->children[0].type != HW_TYPE_STRUCT ||
          f->children[0].n_children != 2)
        return hw_error_set(err, "HW_INVALID_ARGUMENT",
                            "field '%s': a map needs one struct child of two fields (key, value)", name);
      return 0;
    case HW_TYPE_STRUCT:
      if (f->n_children < 0 || (f->n_children > 0 && !f->children))
        return hw_error_set(err, "HW_INVALID_ARGUMENT", "field '%s': malformed struct", name);
      return 0;
    case HW_TYPE_NULL:
    case HW_TYPE_BOOL:
    case HW_TYPE_INT8:
    case HW_TYPE_INT16:
    case HW_TYPE_INT32:
    case HW_TYPE_INT64:
    case HW_TYPE_UINT8:
    case HW_TYPE_UINT16:
    case HW_TYPE_UINT32:
    case HW_TYPE_UINT64:
    case HW_TYPE_FLOAT32:
    case HW_TYPE_FLOAT64:
    case HW_TYPE_UTF8:
    case HW_TYPE_LARGE_UTF8:
    case HW_TYPE_BINARY:
    case HW_TYPE_LARGE_BINARY:
    case HW_TYPE_DATE32:
    case HW_TYPE_TIMESTAMP:
    case HW_TYPE_DECIMAL128:
      if (f->n_children != 0)
        return hw_error_set(err, "HW_INVALID_ARGUMENT", "field '%s': a primitive type has no children", name);
      return 0;
  }
  return hw_error_set(err, "HW_INVALID_ARGUMENT", "field '%s': unknown type id %d", name, (int)f->type);
}

static int builder_init_rec(hw_builder* b, const hw_field* field, const hw_allocator* allocator, int depth,
                            hw_error* err) {
  builder_zero(b, allocator);
  if (depth > HW_MAX_NESTING)
    return hw_error_set(err, "HW_INVALID_ARGUMENT", "type nesting deeper than %d levels", HW_MAX_NESTING);
  if (check_shape(field, err) != 0) return -1;
  if (hw_field_copy(&b->field, field, err) != 0) return -1;
  b->width = type_width(field->type);
  if (field->n_children > 0) {
    b->children = calloc((size_t)field->n_children, sizeof *b->children);
    if (!b->children) {
      hw_field_release(&b->field);
      return hw_error_oom(err);
    }
    b->n_children = field->n_children; /* calloc'ed builders are safe to release */
    for (int32_t i = 0; i < field->n_children; i++) {
      if (builder_init_rec(&b->children[i], &field->children[i], allocator, depth + 1, err) != 0) {
        hw_builder_release(b);
        return -1;
      }
    }
  }
  return 0;
}

int hw_builder_init(hw_builder* b, const hw_field* field, const hw_allocator* allocator, hw_error* err) {
  if (!b) return hw_error_set(err, "HW_INVALID_ARGUMENT", "no builder");
  if (!field || !allocator) {
    memset(b, 0, sizeof *b);
    return hw_error_set(err, "HW_INVALID_ARGUMENT", "builder needs a field and an allocator");
  }
  if (builder_init_rec(b, field, allocator, 0, err) != 0) {
    hw_builder_release(b);
    return -1;
  }
  return 0;
}

void hw_builder_release(hw_builder* b) {
  if (!b) return;
  if (b->children) {
    for (int32_t i = 0; i < b->n_children; i++) hw_builder_release(&b->children[i]);
    free(b->children);
  }
  hw_buffer_reset(&b->validity.bytes);
  hw_buffer_reset(&b->bits.bytes);
  hw_buffer_reset(&b->values);
  hw_buffer_reset(&b->data);
  hw_field_release(&b->field);
  memset(b, 0, sizeof *b);
}

/* Drops everything appended (frees the buffers); the builder stays usable. */
static void builder_clear(hw_builder* b) {
  hw_bitmap_reset(&b->validity);
  hw_bitmap_reset(&b->bits);
  hw_buffer_reset(&b->values);
  hw_buffer_reset(&b->data);
  b->length = 0;
  b->null_count = 0;
  for (int32_t i = 0; i < b->n_children; i++) builder_clear(&b->children[i]);
}

/* ---- reserve ---- */

int hw_builder_reserve(hw_builder* b, int64_t additional) {
  if (additional <= 0) return 0;
  hw_type_id t = b->field.type;
  if (t == HW_TYPE_NULL) return 0;
  if (b->null_count && bitmap_room(&b->validity, b->length + additional) != 0) return -1;
  if (t == HW_TYPE_BOOL) return bitmap_room(&b->bits, b->bits.length + additional);
  if (has_offsets(t)) {
    if (additional > INT64_MAX / 8 - 1) return -1;
    return offsets_room(b, additional);
  }
  if (is_fixed(t)) {
    if (additional > INT64_MAX / b->width) return -1;
    return buffer_room(&b->values, additional * b->width);
  }
  if (t == HW_TYPE_STRUCT) {
    for (int32_t i = 0; i < b->n_children; i++)
      if (hw_builder_reserve(&b->children[i], additional) != 0) return -1;
  }
  return 0;
}

/* ---- nulls ---- */

/* Reserves everything one null needs in b (and, for a struct, in its whole subtree). */
static int null_room(hw_builder* b) {
  hw_type_id t = b->field.type;
  if (t == HW_TYPE_NULL) return 0;
  if (bitmap_room(&b->validity, b->length + 1) != 0) return -1;
  if (t == HW_TYPE_BOOL) return bitmap_room(&b->bits, b->bits.length + 1);
  if (is_fixed(t)) return buffer_room(&b->values, b->width);
  if (has_offsets(t)) {
    if (t == HW_TYPE_LIST || t == HW_TYPE_MAP) {
      if (b->width == 4 && b->children[0].length > INT32_MAX) return -1;
    }
    return offsets_room(b, 1);
  }
  /* struct */
  for (int32_t i = 0; i < b->n_children; i++)
    if (null_room(&b->children[i]) != 0) return -1;
  return 0;
}

/* Appends one null; everything was reserved by null_room, so nothing here can fail. */
static void null_push(hw_builder* b) {
  hw_type_id t = b->field.type;
  if (t == HW_TYPE_NULL) {
    b->length++;
    b->null_count++;
    return;
  }
  if (b->null_count == 0) (void)hw_bitmap_append_n(&b->validity, true, b->length);
  (void)hw_bitmap_append(&b->validity, false);
  b->null_count++;
  if (t == HW_TYPE_BOOL) {
    (void)hw_bitmap_append(&b->bits, false);
  } else if (is_fixed(t)) {
    memset(b->values.data + b->values.size, 0, (size_t)b->width);
    b->values.size += b->width;
  } else if (is_var_bytes(t)) {
    offsets_push(b, b->data.size);
  } else if (t == HW_TYPE_LIST || t == HW_TYPE_MAP) {
    offsets_push(b, b->children[0].length);
  } else {
    for (int32_t i = 0; i < b->n_children; i++) null_push(&b->children[i]);
  }
  b->length++;
}

int hw_builder_append_null(hw_builder* b) {
  if (null_room(b) != 0) return -1;
  null_push(b);
  return 0;
}

/* ---- values ---- */

int hw_builder_append_bool(hw_builder* b, bool v) {
  if (b->field.type != HW_TYPE_BOOL) return -1;
  if (bitmap_room(&b->bits, b->bits.length + 1) != 0 || validity_room_valid(b) != 0) return -1;
  (void)hw_bitmap_append(&b->bits, v);
  validity_push_valid(b);
  return 0;
}

/* Stores one fixed-width value (n is a constant once inlined). */
static inline int put_fixed(hw_builder* b, const void* x, size_t n) {
  if (buffer_room(&b->values, (int64_t)n) != 0 || validity_room_valid(b) != 0) return -1;
  memcpy(b->values.data + b->values.size, x, n);
  b->values.size += (int64_t)n;
  validity_push_valid(b);
  return 0;
}

int hw_builder_append_int(hw_builder* b, int64_t v) {
  switch (b->field.type) {
    case HW_TYPE_INT8: {
      int8_t x = (int8_t)v;
      return put_fixed(b, &x, 1);
    }
    case HW_TYPE_INT16: {
      int16_t x = (int16_t)v;
      return put_fixed(b, &x, 2);
    }
    case HW_TYPE_INT32:
    case HW_TYPE_DATE32: {
      int32_t x = (int32_t)v;
      return put_fixed(b, &x, 4);
    }
    case HW_TYPE_INT64:
    case HW_TYPE_TIMESTAMP:
      return put_fixed(b, &v, 8);
    default:
      return -1;
  }
}

int hw_builder_append_uint(hw_builder* b, uint64_t v) {
  switch (b->field.type) {
    case HW_TYPE_UINT8: {
      uint8_t x = (uint8_t)v;
      return put_fixed(b, &x, 1);
    }
    case HW_TYPE_UINT16: {
      uint16_t x = (uint16_t)v;
      return put_fixed(b, &x, 2);
    }
    case HW_TYPE_UINT32: {
      uint32_t x = (uint32_t)v;
      return put_fixed(b, &x, 4);
    }
    case HW_TYPE_UINT64:
      return put_fixed(b, &v, 8);
    default:
      return -1;
  }
}

int hw_builder_append_double(hw_builder* b, double v) {
  switch (b->field.type) {
    case HW_TYPE_FLOAT32: {
      float x = (float)v;
      return put_fixed(b, &x, 4);
    }
    case HW_TYPE_FLOAT64:
      return put_fixed(b, &v, 8);
    default:
      return -1;
  }
}

int hw_builder_append_decimal128(hw_builder* b, uint64_t low, uint64_t high) {
  if (b->field.type != HW_TYPE_DECIMAL128) return -1;
  /* one native-endian 128-bit integer, as Arrow stores it: low word first on little-endian hosts */
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  uint64_t x[2] = {high, low};
#else
  uint64_t x[2] = {low, high};
#endif
  return put_fixed(b, x, 16);
}

int hw_builder_append_bytes(hw_builder* b, const void* bytes, int64_t n) {
  switch (b->field.type) {
    case HW_TYPE_UTF8:
    case HW_TYPE_BINARY:
      /* 32-bit offsets: the data buffer may not pass INT32_MAX bytes */
      if (n < 0 || n > (int64_t)INT32_MAX - b->data.size) return -1;
      break;
    case HW_TYPE_LARGE_UTF8:
    case HW_TYPE_LARGE_BINARY:
      if (n < 0 || n > INT64_MAX - b->data.size) return -1;
      break;
    default:
      return -1;
  }
  if (n > 0 && !bytes) return -1;
  if (offsets_room(b, 1) != 0 || buffer_room(&b->data, n) != 0 || validity_room_valid(b) != 0) return -1;
  if (n > 0) memcpy(b->data.data + b->data.size, bytes, (size_t)n);
  b->data.size += n;
  offsets_push(b, b->data.size);
  validity_push_valid(b);
  return 0;
}

int hw_builder_close_list(hw_builder* b) {
  if (b->field.type != HW_TYPE_LIST && b->field.type != HW_TYPE_MAP) return -1;
  int64_t end = b->children[0].length;
  if (end > INT32_MAX) return -1; /* 32-bit offsets */
  if (offsets_room(b, 1) != 0 || validity_room_valid(b) != 0) return -1;
  offsets_push(b, end);
  validity_push_valid(b);
  return 0;
}

int hw_builder_close_struct(hw_builder* b) {
  if (b->field.type != HW_TYPE_STRUCT) return -1;
  if (validity_room_valid(b) != 0) return -1;
  validity_push_valid(b);
  return 0;
}

/* ---- finish: builder -> ArrowArray ---- */

/* What an exported ArrowArray owns. Freed by its release callback. */
typedef struct array_private {
  const hw_allocator* allocator;    /* borrowed: buffers go back to it */
  void* owned[3];                   /* buffers from allocator (NULL = none) */
  int64_t capacity[3];              /* allocated size of each, for deallocate */
  const void* buffers[3];           /* ArrowArray.buffers points here */
  int64_t n_children;               /* children finished so far (all of them once exported) */
  struct ArrowArray* child_arrays;  /* malloc'ed; each released by this array's release */
  struct ArrowArray** child_ptrs;   /* ArrowArray.children points here */
} array_private;

static void private_free(array_private* p) {
  if (!p) return;
  for (int64_t i = 0; i < p->n_children; i++) {
    struct ArrowArray* c = &p->child_arrays[i];
    if (c->release) c->release(c); /* NULL when a consumer moved the child out */
  }
  free(p->child_arrays);
  free(p->child_ptrs);
  for (int k = 0; k < 3; k++)
    if (p->owned[k]) p->allocator->deallocate(p->allocator->ctx, p->owned[k], (size_t)p->capacity[k]);
  free(p);
}

static void release_array(struct ArrowArray* array) {
  if (!array || !array->release) return;
  private_free(array->private_data);
  array->private_data = NULL;
  array->release = NULL;
}

/* Moves buf's memory into slot k of p. */
static int take_buffer(array_private* p, int k, hw_buffer* buf) {
  int64_t cap = 0;
  uint8_t* data = hw_buffer_take(buf, &cap);
  if (!data) return -1;
  p->owned[k] = data;
  p->capacity[k] = cap;
  p->buffers[k] = data;
  return 0;
}

/* Structural checks before anything moves: every struct child holds one value per row. */
static int finish_check(const hw_builder* b, hw_error* err) {
  if (b->field.type == HW_TYPE_STRUCT) {
    for (int32_t i = 0; i < b->n_children; i++) {
      const hw_builder* c = &b->children[i];
      if (c->length != b->length)
        return hw_error_set(err, "HW_INTERNAL_ERROR",
                            "struct field '%s' has %lld values for %lld rows of '%s'",
                            c->field.name ? c->field.name : "", (long long)c->length, (long long)b->length,
                            b->field.name ? b->field.name : "");
    }
  }
  for (int32_t i = 0; i < b->n_children; i++)
    if (finish_check(&b->children[i], err) != 0) return -1;
  return 0;
}

/* On failure b (with its subtree) is left empty and nothing leaks. */
static int finish_rec(hw_builder* b, struct ArrowArray* out, hw_error* err) {
  hw_type_id t = b->field.type;
  array_private* p = calloc(1, sizeof *p);
  if (!p) goto oom;
  p->allocator = b->allocator;

  if (b->n_children > 0) {
    p->child_arrays = calloc((size_t)b->n_children, sizeof *p->child_arrays);
    p->child_ptrs = calloc((size_t)b->n_children, sizeof *p->child_ptrs);
    if (!p->child_arrays || !p->child_ptrs) goto oom;
    for (int32_t i = 0; i < b->n_children; i++) {
      if (finish_rec(&b->children[i], &p->child_arrays[i], err) != 0) goto fail;
      p->child_ptrs[i] = &p->child_arrays[i];
      p->n_children = i + 1;
    }
  }

  int64_t n_buffers = 0;
  if (t != HW_TYPE_NULL) {
    n_buffers = 1;
    if (b->null_count > 0) {
      if (take_buffer(p, 0, &b->validity.bytes) != 0) goto oom;
    } else {
      p->buffers[0] = NULL;
    }
    if (t == HW_TYPE_BOOL) {
      if (take_buffer(p, 1, &b->bits.bytes) != 0) goto oom;
      n_buffers = 2;
    } else if (is_fixed(t)) {
      if (take_buffer(p, 1, &b->values) != 0) goto oom;
      n_buffers = 2;
    } else if (has_offsets(t)) {
      if (b->values.size == 0 && offsets_room(b, 0) != 0) goto oom; /* the single 0 */
      if (take_buffer(p, 1, &b->values) != 0) goto oom;
      n_buffers = 2;
      if (is_var_bytes(t)) {
        if (take_buffer(p, 2, &b->data) != 0) goto oom;
        n_buffers = 3;
      }
    }
  }

  out->length = b->length;
  out->null_count = t == HW_TYPE_NULL ? b->length : b->null_count;
  out->offset = 0;
  out->n_buffers = n_buffers;
  out->n_children = b->n_children;
  out->buffers = p->buffers;
  out->children = b->n_children > 0 ? p->child_ptrs : NULL;
  out->dictionary = NULL;
  out->release = release_array;
  out->private_data = p;
  builder_clear(b); /* buffers were moved; this resets lengths and frees unused capacity */
  return 0;

oom:
  hw_error_oom(err);
fail:
  builder_clear(b);
  private_free(p);
  return -1;
}

int hw_builder_finish(hw_builder* b, struct ArrowArray* out, hw_error* err) {
  if (!b || !out) return hw_error_set(err, "HW_INVALID_ARGUMENT", "no builder or output array");
  if (finish_check(b, err) != 0) {
    builder_clear(b);
    return -1;
  }
  struct ArrowArray tmp;
  if (finish_rec(b, &tmp, err) != 0) return -1;
  *out = tmp;
  return 0;
}
