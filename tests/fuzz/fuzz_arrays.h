/* Valid Arrow arrays of any hw_field type, filled from fuzz input bytes (used by
 * fuzz_batch_conform.c and the corpus generator gen_corpus.c). */
#ifndef HW_FUZZ_ARRAYS_H
#define HW_FUZZ_ARRAYS_H

#include <stdbool.h>

#include "fuzz_common.h"

typedef struct input {
  const uint8_t* p;
  size_t n;
} input;

static inline uint8_t next_byte(input* in) {
  if (in->n == 0) return 0;
  in->n--;
  return *in->p++;
}

typedef struct owned {
  void* buffers[3];
  struct ArrowArray** children;
} owned;

static void release_built(struct ArrowArray* a) {
  owned* o = a->private_data;
  for (int64_t i = 0; i < a->n_children; i++) {
    if (o->children[i]->release) o->children[i]->release(o->children[i]);
    free(o->children[i]);
  }
  free(o->children);
  for (int i = 0; i < 3; i++) free(o->buffers[i]);
  free(o);
  a->release = NULL;
}

static inline void* filled(int64_t n, input* in) {
  uint8_t* p = malloc((size_t)(n > 0 ? n : 1));
  if (!p) abort();
  for (int64_t i = 0; i < n; i++) p[i] = next_byte(in);
  return p;
}

/* A valid array of type f: length rows after offset rows, contents from in. */
static inline void build(const hw_field* f, int64_t offset, int64_t length, input* in, struct ArrowArray* a, int depth) {
  owned* o = calloc(1, sizeof *o);
  if (!o) abort();
  memset(a, 0, sizeof *a);
  a->length = length;
  a->offset = offset;
  a->release = release_built;
  a->private_data = o;
  int64_t end = offset + length;
  bool nullable = next_byte(in) & 1;
  if (f->type == HW_TYPE_NULL) {
    a->null_count = length;
    a->n_buffers = 0;
    a->buffers = (const void**)o->buffers;
    return;
  }
  if (nullable) {
    o->buffers[0] = filled((end + 7) / 8, in);
    a->null_count = -1;
  }
  int width = 0;
  int64_t child_length = -1;
  switch (f->type) {
    case HW_TYPE_BOOL: a->n_buffers = 2, o->buffers[1] = filled((end + 7) / 8, in); break;
    case HW_TYPE_INT8: case HW_TYPE_UINT8: a->n_buffers = 2, o->buffers[1] = filled(end, in); break;
    case HW_TYPE_INT16: case HW_TYPE_UINT16: a->n_buffers = 2, o->buffers[1] = filled(2 * end, in); break;
    case HW_TYPE_INT32: case HW_TYPE_UINT32: case HW_TYPE_FLOAT32: case HW_TYPE_DATE32:
      a->n_buffers = 2, o->buffers[1] = filled(4 * end, in);
      break;
    case HW_TYPE_INT64: case HW_TYPE_UINT64: case HW_TYPE_FLOAT64: case HW_TYPE_TIMESTAMP:
      a->n_buffers = 2, o->buffers[1] = filled(8 * end, in);
      break;
    case HW_TYPE_DECIMAL128: a->n_buffers = 2, o->buffers[1] = filled(16 * end, in); break;
    case HW_TYPE_UTF8: case HW_TYPE_BINARY: case HW_TYPE_LIST: case HW_TYPE_MAP: width = 4; break;
    case HW_TYPE_LARGE_UTF8: case HW_TYPE_LARGE_BINARY: width = 8; break;
    case HW_TYPE_STRUCT: case HW_TYPE_NULL: break;
  }
  if (width) { /* rising offsets from the input, starting anywhere */
    uint8_t* offsets = malloc((size_t)(end + 1) * (size_t)width);
    if (!offsets) abort();
    int64_t v = next_byte(in) % 8;
    for (int64_t i = 0; i <= end; i++) {
      if (i) v += next_byte(in) % 8;
      if (width == 4) {
        int32_t v32 = (int32_t)v;
        memcpy(offsets + 4 * i, &v32, 4);
      } else {
        memcpy(offsets + 8 * i, &v, 8);
      }
    }
    o->buffers[1] = offsets;
    if (f->type == HW_TYPE_LIST || f->type == HW_TYPE_MAP) {
      a->n_buffers = 2;
      child_length = v;
    } else {
      a->n_buffers = 3;
      o->buffers[2] = filled(v, in);
    }
  }
  if (f->type == HW_TYPE_STRUCT) {
    a->n_buffers = 1;
    child_length = end;
  }
  a->buffers = (const void**)o->buffers;
  int64_t n_children = f->type == HW_TYPE_STRUCT ? f->n_children : child_length >= 0 ? 1 : 0;
  if (n_children && depth < HW_MAX_NESTING) {
    o->children = calloc((size_t)n_children, sizeof *o->children);
    if (!o->children) abort();
    a->n_children = n_children;
    a->children = o->children;
    for (int64_t i = 0; i < n_children; i++) {
      o->children[i] = malloc(sizeof(struct ArrowArray));
      if (!o->children[i]) abort();
      int64_t extra = f->type == HW_TYPE_STRUCT ? next_byte(in) % 3 : 0; /* children may be longer */
      build(&f->children[f->type == HW_TYPE_STRUCT ? i : 0], 0, child_length + extra, in, o->children[i],
            depth + 1);
    }
  }
}

#endif
