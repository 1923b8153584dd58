/* The checks of user-built RecordBatches (hw_batch_conform, src/convert/batch_check.c): a declared
 * schema, the schema the batch says it has, the column pruning the host asked for, and a valid
 * array of the batch's type built from the input. Input: declared DDL, NUL, batch DDL, NUL, a
 * pruning byte (bit 7: prune; then one bit per column), a length byte, then bytes that fill
 * validity bitmaps, offsets and values. What conforms is walked in full under the declared schema
 * (so a column taken for a type it does not have reads out of bounds), then released. */
#include "fuzz_common.h"

#include "arrow/array.h"
#include "convert/batch_check.h"
#include "fuzz_arrays.h"

static volatile uint8_t sink;

static void touch(const void* p, int64_t n) {
  const uint8_t* b = p;
  uint8_t s = 0;
  for (int64_t i = 0; i < n; i++) s ^= b[i];
  sink ^= s;
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

/* Reads what a consumer of a valid array of type f may read. */
static void walk(const hw_field* f, const struct ArrowArray* a) {
  int64_t end = a->offset + a->length;
  if (f->type != HW_TYPE_NULL && a->buffers[0]) touch(a->buffers[0], (end + 7) / 8);
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
      for (int32_t i = 0; i < f->n_children && i < a->n_children; i++) walk(&f->children[i], a->children[i]);
      return;
  }
  FUZZ_CHECK(a->n_buffers == (f->type == HW_TYPE_LIST || f->type == HW_TYPE_MAP ? 2 : 3));
  const uint8_t* offsets = a->buffers[1];
  touch(offsets + (size_t)a->offset * (size_t)width, (a->length + 1) * width);
  for (int64_t i = a->offset; i < end; i++) {
    int64_t lo = offset_at(offsets, width, i), hi = offset_at(offsets, width, i + 1);
    FUZZ_CHECK(0 <= lo && lo <= hi);
    if (width == 4 && (f->type == HW_TYPE_UTF8 || f->type == HW_TYPE_BINARY))
      touch((const uint8_t*)a->buffers[2] + lo, hi - lo);
  }
  if ((f->type == HW_TYPE_LIST || f->type == HW_TYPE_MAP) && a->n_children == 1)
    walk(&f->children[0], a->children[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  char* want_ddl = fuzz_take_cstring(&data, &size);
  char* got_ddl = fuzz_take_cstring(&data, &size);
  hw_error err;
  hw_error_init(&err);
  hw_field want, got;
  bool have_want = want_ddl && hw_ddl_parse(want_ddl, &want, &err) == 0;
  bool have_got = have_want && got_ddl && hw_ddl_parse(got_ddl, &got, &err) == 0;
  free(want_ddl);
  free(got_ddl);
  if (!have_got) {
    if (have_want) hw_field_release(&want);
    return 0;
  }
  input in = {data, size};
  uint8_t prune = next_byte(&in);
  int32_t columns[8];
  int32_t n_columns = 0;
  if (prune & 0x80)
    for (int32_t i = 0; i < want.n_children && i < 7; i++)
      if (prune & (1u << i)) columns[n_columns++] = i;
  int64_t length = next_byte(&in) % 16;
  uint8_t shape = next_byte(&in);
  int64_t offset = shape % 4;
  bool exact = (shape & 0x80) != 0; /* the Spark API's exact rule, or matching by name */
  struct ArrowArray array, out;
  build(&got, offset, length, &in, &array, 0);
  int rc = hw_batch_conform(&want, &got, prune & 0x80 ? columns : NULL, n_columns, exact, &array, &out, &err);
  if (rc == 0) {
    FUZZ_CHECK(array.release == NULL);
    FUZZ_CHECK(out.n_children == (prune & 0x80 ? n_columns : want.n_children));
    for (int64_t i = 0; i < out.n_children; i++) {
      const hw_field* f = &want.children[prune & 0x80 ? columns[i] : i];
      walk(f, out.children[i]);
    }
    out.release(&out);
  }
  if (array.release) array.release(&array);
  hw_field_release(&want);
  hw_field_release(&got);
  return 0;
}
