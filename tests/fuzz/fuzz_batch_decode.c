/* The batch-descriptor checks (hw_batch_decode, src/ipc/batch_desc.c): the host's only defence against a
 * worker that describes buffers outside its shared-memory region, offsets that run past the data,
 * children shorter than their parents index. Input: a DDL schema, NUL, a 2-byte region size, the
 * region's bytes (offsets live there), then the descriptor. A batch that decodes is walked in full
 * (every validity bit, value, offset and the data each offset range covers), in an exactly sized
 * region, so AddressSanitizer catches any check that lets an out-of-bounds buffer through. */
#include "fuzz_common.h"

#include "ipc/wire.h"

static int released;
static void on_release(void* token) {
  (void)token;
  released++;
}

static int64_t offset_at(const uint8_t* offsets, int width, int64_t i) {
  if (width == 8) {
    int64_t v;
    memcpy(&v, offsets + 8 * i, 8);
    return v;
  }
  int32_t v;
  memcpy(&v, offsets + 4 * i, 4);
  return v;
}

static volatile uint8_t sink;

static void touch(const void* p, int64_t n) {
  const uint8_t* b = p;
  uint8_t s = 0;
  for (int64_t i = 0; i < n; i++) s ^= b[i];
  sink ^= s;
}

/* Reads what a consumer of a valid array of type f may read. */
static void walk(const hw_field* f, const struct ArrowArray* a) {
  int64_t end = a->offset + a->length;
  if (a->buffers[0]) touch(a->buffers[0], (end + 7) / 8);
  int width = 0;
  switch (f->type) {
    case HW_TYPE_NULL: return;
    case HW_TYPE_BOOL: touch(a->buffers[1], (end + 7) / 8); return;
    case HW_TYPE_INT8: case HW_TYPE_UINT8: touch(a->buffers[1], end); return;
    case HW_TYPE_INT16: case HW_TYPE_UINT16: touch(a->buffers[1], 2 * end); return;
    case HW_TYPE_INT32: case HW_TYPE_UINT32: case HW_TYPE_FLOAT32: case HW_TYPE_DATE32:
      touch(a->buffers[1], 4 * end);
      return;
    case HW_TYPE_INT64: case HW_TYPE_UINT64: case HW_TYPE_FLOAT64: case HW_TYPE_TIMESTAMP:
      touch(a->buffers[1], 8 * end);
      return;
    case HW_TYPE_DECIMAL128: touch(a->buffers[1], 16 * end); return;
    case HW_TYPE_UTF8: case HW_TYPE_BINARY: width = 4; break;
    case HW_TYPE_LARGE_UTF8: case HW_TYPE_LARGE_BINARY: width = 8; break;
    case HW_TYPE_LIST: case HW_TYPE_MAP: width = 4; break;
    case HW_TYPE_STRUCT:
      FUZZ_CHECK(a->n_children == f->n_children);
      for (int32_t i = 0; i < f->n_children; i++) {
        FUZZ_CHECK(a->children[i]->length >= end);
        walk(&f->children[i], a->children[i]);
      }
      return;
  }
  const uint8_t* offsets = a->buffers[1];
  touch(offsets, (end + 1) * width);
  for (int64_t i = a->offset; i < end; i++) {
    int64_t lo = offset_at(offsets, width, i), hi = offset_at(offsets, width, i + 1);
    FUZZ_CHECK(0 <= lo && lo <= hi);
    if (f->type == HW_TYPE_LIST || f->type == HW_TYPE_MAP) {
      FUZZ_CHECK(a->n_children == 1 && hi <= a->children[0]->length);
    } else {
      touch((const uint8_t*)a->buffers[2] + lo, hi - lo);
    }
  }
  if (f->type == HW_TYPE_LIST || f->type == HW_TYPE_MAP) walk(&f->children[0], a->children[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  char* ddl = fuzz_take_cstring(&data, &size);
  if (!ddl) return 0;
  hw_error err;
  hw_error_init(&err);
  hw_field schema;
  if (hw_ddl_parse(ddl, &schema, &err) != 0) {
    free(ddl);
    return 0;
  }
  free(ddl);
  size_t region_size = 0;
  if (size >= 2) {
    region_size = (size_t)data[0] | (size_t)data[1] << 8;
    data += 2, size -= 2;
  }
  if (region_size > size) region_size = size;
  hw_region region = {0};
  region.fd = -1;
  region.base = fuzz_exact_copy(data, region_size);
  region.capacity = region_size;
  data += region_size, size -= region_size;
  uint8_t* desc = fuzz_exact_copy(data, size);
  struct ArrowArray batch;
  released = 0;
  if (region.base && desc && hw_batch_decode(&schema, desc, size, &region, on_release, NULL, &batch, &err) == 0) {
    walk(&schema, &batch);
    FUZZ_CHECK(released == 0);
    /* move a child out (as the C Data Interface allows), release the parent, then the child */
    struct ArrowArray child = {0};
    if (batch.n_children > 0) {
      child = *batch.children[0];
      batch.children[0]->release = NULL;
    }
    batch.release(&batch);
    FUZZ_CHECK(released == (child.release ? 0 : 1));
    if (child.release) child.release(&child);
    FUZZ_CHECK(released == 1);
  } else {
    FUZZ_CHECK(released == 0);
  }
  free(desc);
  free(region.base);
  hw_field_release(&schema);
  return 0;
}
