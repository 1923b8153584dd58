/* Tests of hw_builder (src/arrow/builder.h): every type, nulls, nesting, reuse, release, and
 * allocation failure at every point. Run under ASan/valgrind to check for leaks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrow/allocator.h"
#include "arrow/buffer.h"
#include "arrow/builder.h"
#include "common/error.h"
#include "schema/field.h"

/* ================= a checking allocator that can be told to fail ================= */

typedef struct block {
  void* ptr;
  size_t size;
} block;

typedef struct test_alloc {
  hw_allocator base;
  int64_t fail_after; /* allocate/reallocate calls that succeed before every later one fails; -1 = never */
  int64_t calls;
  int64_t failures;
  block* blocks; /* live blocks, to check deallocate gets the size allocated */
  size_t n_blocks;
  size_t cap_blocks;
} test_alloc;

static bool ta_fails(test_alloc* a) {
  if (a->fail_after >= 0 && a->calls >= a->fail_after) {
    a->failures++;
    return true;
  }
  a->calls++;
  return false;
}

static size_t ta_find(test_alloc* a, void* ptr) {
  for (size_t i = 0; i < a->n_blocks; i++)
    if (a->blocks[i].ptr == ptr) return i;
  fail_msg("pointer %p was not allocated by this allocator", ptr);
  return 0;
}

static void* ta_allocate(void* ctx, size_t size) {
  test_alloc* a = ctx;
  if (ta_fails(a)) return NULL;
  void* p = hw_allocator_heap()->allocate(NULL, size);
  assert_non_null(p);
  assert_int_equal((uintptr_t)p % HW_BUFFER_ALIGNMENT, 0);
  if (a->n_blocks == a->cap_blocks) {
    a->cap_blocks = a->cap_blocks ? a->cap_blocks * 2 : 64;
    a->blocks = realloc(a->blocks, a->cap_blocks * sizeof *a->blocks);
    assert_non_null(a->blocks);
  }
  a->blocks[a->n_blocks].ptr = p;
  a->blocks[a->n_blocks].size = size;
  a->n_blocks++;
  return p;
}

static void* ta_reallocate(void* ctx, void* ptr, size_t old_size, size_t new_size) {
  test_alloc* a = ctx;
  size_t i = ta_find(a, ptr);
  assert_int_equal(a->blocks[i].size, old_size);
  if (ta_fails(a)) return NULL;
  void* p = hw_allocator_heap()->reallocate(NULL, ptr, old_size, new_size);
  assert_non_null(p);
  a->blocks[i].ptr = p;
  a->blocks[i].size = new_size;
  return p;
}

static void ta_deallocate(void* ctx, void* ptr, size_t size) {
  test_alloc* a = ctx;
  if (!ptr) return;
  size_t i = ta_find(a, ptr);
  assert_int_equal(a->blocks[i].size, size); /* the capacity must be remembered exactly */
  a->blocks[i] = a->blocks[--a->n_blocks];
  hw_allocator_heap()->deallocate(NULL, ptr, size);
}

static void ta_init(test_alloc* a) {
  memset(a, 0, sizeof *a);
  a->base.allocate = ta_allocate;
  a->base.reallocate = ta_reallocate;
  a->base.deallocate = ta_deallocate;
  a->base.ctx = a;
  a->fail_after = -1;
}

/* Checks nothing is left allocated, and frees the block table. */
static void ta_done(test_alloc* a) {
  assert_int_equal(a->n_blocks, 0);
  free(a->blocks);
  a->blocks = NULL;
  a->cap_blocks = 0;
}

/* ================= fields ================= */

static char* sdup(const char* s) {
  if (!s) return NULL;
  size_t n = strlen(s);
  char* out = malloc(n + 1);
  assert_non_null(out);
  memcpy(out, s, n + 1);
  return out;
}

static hw_field mk(hw_type_id type, const char* name) {
  hw_field f;
  hw_field_init(&f);
  f.type = type;
  f.name = sdup(name);
  return f;
}

static hw_field mk_decimal(const char* name, int32_t precision, int32_t scale) {
  hw_field f = mk(HW_TYPE_DECIMAL128, name);
  f.precision = precision;
  f.scale = scale;
  return f;
}

static hw_field mk_ts(const char* name, hw_time_unit unit, const char* tz) {
  hw_field f = mk(HW_TYPE_TIMESTAMP, name);
  f.unit = unit;
  f.timezone = sdup(tz);
  return f;
}

/* Takes ownership of children[0..n). */
static hw_field mk_struct(const char* name, int32_t n, const hw_field* children) {
  hw_field f = mk(HW_TYPE_STRUCT, name);
  if (n > 0) {
    f.children = calloc((size_t)n, sizeof *f.children);
    assert_non_null(f.children);
    memcpy(f.children, children, (size_t)n * sizeof *children);
    f.n_children = n;
  }
  return f;
}

static hw_field mk_list(const char* name, hw_field element) {
  hw_field f = mk(HW_TYPE_LIST, name);
  f.children = calloc(1, sizeof *f.children);
  assert_non_null(f.children);
  f.children[0] = element;
  f.n_children = 1;
  return f;
}

static hw_field mk_map(const char* name, hw_field key, hw_field value) {
  key.nullable = false;
  hw_field kv[2] = {key, value};
  hw_field entries = mk_struct("entries", 2, kv);
  entries.nullable = false;
  hw_field f = mk(HW_TYPE_MAP, name);
  f.children = calloc(1, sizeof *f.children);
  assert_non_null(f.children);
  f.children[0] = entries;
  f.n_children = 1;
  return f;
}

/* ================= checking and printing arrays ================= */

static bool is_valid(const struct ArrowArray* a, int64_t i) {
  const uint8_t* v = a->buffers ? a->buffers[0] : NULL;
  return !v || hw_bitmap_get(v, a->offset + i);
}

static int64_t offset_at(const struct ArrowArray* a, int width, int64_t i) {
  if (width == 4) {
    int32_t v;
    memcpy(&v, (const uint8_t*)a->buffers[1] + (a->offset + i) * 4, 4);
    return v;
  }
  int64_t v;
  memcpy(&v, (const uint8_t*)a->buffers[1] + (a->offset + i) * 8, 8);
  return v;
}

static int fixed_width(hw_type_id t) {
  switch (t) {
    case HW_TYPE_INT8:
    case HW_TYPE_UINT8: return 1;
    case HW_TYPE_INT16:
    case HW_TYPE_UINT16: return 2;
    case HW_TYPE_INT32:
    case HW_TYPE_UINT32:
    case HW_TYPE_FLOAT32:
    case HW_TYPE_DATE32: return 4;
    case HW_TYPE_INT64:
    case HW_TYPE_UINT64:
    case HW_TYPE_FLOAT64:
    case HW_TYPE_TIMESTAMP: return 8;
    case HW_TYPE_DECIMAL128: return 16;
    default: return 0;
  }
}

/* Structural checks of an exported array against the Arrow spec, recursively. */
static void check_array(const hw_field* f, const struct ArrowArray* a) {
  assert_non_null(a->release);
  assert_null(a->dictionary);
  assert_int_equal(a->offset, 0);
  assert_true(a->length >= 0);
  assert_non_null(a->buffers);
  if (f->type == HW_TYPE_NULL) {
    assert_int_equal(a->n_buffers, 0);
    assert_int_equal(a->null_count, a->length);
    assert_int_equal(a->n_children, 0);
    return;
  }
  /* validity: NULL iff no nulls, and null_count is the number of 0 bits */
  if (a->null_count == 0) {
    assert_null(a->buffers[0]);
  } else {
    assert_non_null(a->buffers[0]);
    int64_t zeros = 0;
    for (int64_t i = 0; i < a->length; i++) zeros += !is_valid(a, i);
    assert_int_equal(zeros, a->null_count);
  }
  switch (f->type) {
    case HW_TYPE_BOOL:
      assert_int_equal(a->n_buffers, 2);
      assert_non_null(a->buffers[1]);
      assert_int_equal(a->n_children, 0);
      break;
    case HW_TYPE_UTF8:
    case HW_TYPE_BINARY:
    case HW_TYPE_LARGE_UTF8:
    case HW_TYPE_LARGE_BINARY: {
      int w = (f->type == HW_TYPE_UTF8 || f->type == HW_TYPE_BINARY) ? 4 : 8;
      assert_int_equal(a->n_buffers, 3);
      assert_non_null(a->buffers[1]);
      assert_non_null(a->buffers[2]);
      assert_int_equal(a->n_children, 0);
      assert_int_equal(offset_at(a, w, 0), 0);
      for (int64_t i = 0; i < a->length; i++) assert_true(offset_at(a, w, i) <= offset_at(a, w, i + 1));
      break;
    }
    case HW_TYPE_LIST:
    case HW_TYPE_MAP: {
      assert_int_equal(a->n_buffers, 2);
      assert_non_null(a->buffers[1]);
      assert_int_equal(a->n_children, 1);
      assert_non_null(a->children);
      assert_int_equal(offset_at(a, 4, 0), 0);
      for (int64_t i = 0; i < a->length; i++) assert_true(offset_at(a, 4, i) <= offset_at(a, 4, i + 1));
      assert_true(offset_at(a, 4, a->length) <= a->children[0]->length);
      check_array(&f->children[0], a->children[0]);
      if (f->type == HW_TYPE_MAP) assert_int_equal(a->children[0]->n_children, 2);
      break;
    }
    case HW_TYPE_STRUCT:
      assert_int_equal(a->n_buffers, 1);
      assert_int_equal(a->n_children, f->n_children);
      for (int32_t i = 0; i < f->n_children; i++) {
        assert_int_equal(a->children[i]->length, a->length);
        check_array(&f->children[i], a->children[i]);
      }
      break;
    default:
      assert_true(fixed_width(f->type) > 0);
      assert_int_equal(a->n_buffers, 2);
      assert_non_null(a->buffers[1]);
      assert_int_equal(a->n_children, 0);
      break;
  }
}

typedef struct strbuf {
  char* s;
  size_t len, cap;
} strbuf;

static void sb_add(strbuf* sb, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char tmp[128];
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  assert_true(n >= 0 && (size_t)n < sizeof tmp);
  if (sb->len + (size_t)n + 1 > sb->cap) {
    sb->cap = (sb->len + (size_t)n + 1) * 2;
    sb->s = realloc(sb->s, sb->cap);
    assert_non_null(sb->s);
  }
  memcpy(sb->s + sb->len, tmp, (size_t)n + 1);
  sb->len += (size_t)n;
}

/* Appends element i of a (of field f) in a JSON-like form. */
static void dump_value(strbuf* sb, const hw_field* f, const struct ArrowArray* a, int64_t i) {
  if (f->type == HW_TYPE_NULL || !is_valid(a, i)) {
    sb_add(sb, "null");
    return;
  }
  int64_t j = a->offset + i;
  const uint8_t* v = a->n_buffers > 1 ? a->buffers[1] : NULL;
  switch (f->type) {
    case HW_TYPE_BOOL: sb_add(sb, "%s", hw_bitmap_get(v, j) ? "true" : "false"); break;
    case HW_TYPE_INT8: sb_add(sb, "%d", (int)((const int8_t*)v)[j]); break;
    case HW_TYPE_INT16: { int16_t x; memcpy(&x, v + j * 2, 2); sb_add(sb, "%d", (int)x); break; }
    case HW_TYPE_INT32:
    case HW_TYPE_DATE32: { int32_t x; memcpy(&x, v + j * 4, 4); sb_add(sb, "%" PRId32, x); break; }
    case HW_TYPE_INT64:
    case HW_TYPE_TIMESTAMP: { int64_t x; memcpy(&x, v + j * 8, 8); sb_add(sb, "%" PRId64, x); break; }
    case HW_TYPE_UINT8: sb_add(sb, "%u", (unsigned)v[j]); break;
    case HW_TYPE_UINT16: { uint16_t x; memcpy(&x, v + j * 2, 2); sb_add(sb, "%u", (unsigned)x); break; }
    case HW_TYPE_UINT32: { uint32_t x; memcpy(&x, v + j * 4, 4); sb_add(sb, "%" PRIu32, x); break; }
    case HW_TYPE_UINT64: { uint64_t x; memcpy(&x, v + j * 8, 8); sb_add(sb, "%" PRIu64, x); break; }
    case HW_TYPE_FLOAT32: { float x; memcpy(&x, v + j * 4, 4); sb_add(sb, "%g", (double)x); break; }
    case HW_TYPE_FLOAT64: { double x; memcpy(&x, v + j * 8, 8); sb_add(sb, "%g", x); break; }
    case HW_TYPE_DECIMAL128: {
      uint64_t lo, hi;
      memcpy(&lo, v + j * 16, 8);
      memcpy(&hi, v + j * 16 + 8, 8);
      sb_add(sb, "dec(%" PRIx64 ":%" PRIx64 ")", hi, lo);
      break;
    }
    case HW_TYPE_UTF8:
    case HW_TYPE_BINARY:
    case HW_TYPE_LARGE_UTF8:
    case HW_TYPE_LARGE_BINARY: {
      int w = (f->type == HW_TYPE_UTF8 || f->type == HW_TYPE_BINARY) ? 4 : 8;
      int64_t start = offset_at(a, w, i), end = offset_at(a, w, i + 1);
      const uint8_t* data = a->buffers[2];
      sb_add(sb, "\"");
      for (int64_t k = start; k < end; k++) {
        if (data[k] >= 32 && data[k] < 127 && data[k] != '"' && data[k] != '\\')
          sb_add(sb, "%c", data[k]);
        else
          sb_add(sb, "\\x%02x", data[k]);
      }
      sb_add(sb, "\"");
      break;
    }
    case HW_TYPE_LIST: {
      int64_t start = offset_at(a, 4, i), end = offset_at(a, 4, i + 1);
      sb_add(sb, "[");
      for (int64_t k = start; k < end; k++) {
        if (k > start) sb_add(sb, ",");
        dump_value(sb, &f->children[0], a->children[0], k);
      }
      sb_add(sb, "]");
      break;
    }
    case HW_TYPE_MAP: {
      int64_t start = offset_at(a, 4, i), end = offset_at(a, 4, i + 1);
      const hw_field* e = &f->children[0];
      const struct ArrowArray* ea = a->children[0];
      sb_add(sb, "{");
      for (int64_t k = start; k < end; k++) {
        if (k > start) sb_add(sb, ",");
        dump_value(sb, &e->children[0], ea->children[0], k);
        sb_add(sb, ":");
        dump_value(sb, &e->children[1], ea->children[1], k);
      }
      sb_add(sb, "}");
      break;
    }
    case HW_TYPE_STRUCT:
      sb_add(sb, "{");
      for (int32_t c = 0; c < f->n_children; c++) {
        if (c) sb_add(sb, ",");
        sb_add(sb, "%s:", f->children[c].name ? f->children[c].name : "");
        dump_value(sb, &f->children[c], a->children[c], i);
      }
      sb_add(sb, "}");
      break;
    case HW_TYPE_NULL: break;
  }
}

/* The whole array as "[v0,v1,...]"; caller frees. Also runs check_array. */
static char* dump(const hw_field* f, const struct ArrowArray* a) {
  check_array(f, a);
  strbuf sb = {NULL, 0, 0};
  sb_add(&sb, "[");
  for (int64_t i = 0; i < a->length; i++) {
    if (i) sb_add(&sb, ",");
    dump_value(&sb, f, a, i);
  }
  sb_add(&sb, "]");
  return sb.s;
}

static void assert_dump(const hw_field* f, const struct ArrowArray* a, const char* expect) {
  char* got = dump(f, a);
  if (strcmp(got, expect) != 0) {
    print_error("got:    %s\nexpect: %s\n", got, expect);
    free(got);
    fail();
  }
  free(got);
}

/* Builds a builder for f (consumed) on allocator a. */
static void init_builder(hw_builder* b, hw_field* f, test_alloc* a) {
  hw_error err;
  hw_error_init(&err);
  if (hw_builder_init(b, f, &a->base, &err) != 0) fail_msg("init: %s", err.message);
}

static void finish_ok(hw_builder* b, struct ArrowArray* out) {
  hw_error err;
  hw_error_init(&err);
  memset(out, 0, sizeof *out);
  if (hw_builder_finish(b, out, &err) != 0) fail_msg("finish: %s", err.message);
  assert_int_equal(b->length, 0);
  assert_int_equal(b->null_count, 0);
}

static void release_array(struct ArrowArray* a) {
  assert_non_null(a->release);
  a->release(a);
  assert_null(a->release);
}

/* ================= primitive types ================= */

static void test_signed_ints(void** state) {
  (void)state;
  struct {
    hw_type_id type;
    int64_t big;
    const char* expect;
  } cases[] = {
      {HW_TYPE_INT8, 127, "[1,null,-3,127,-128]"},
      {HW_TYPE_INT16, 32767, "[1,null,-3,32767,-128]"},
      {HW_TYPE_INT32, INT32_MAX, "[1,null,-3,2147483647,-128]"},
      {HW_TYPE_INT64, INT64_MAX, "[1,null,-3,9223372036854775807,-128]"},
      {HW_TYPE_DATE32, 19000, "[1,null,-3,19000,-128]"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    test_alloc ta;
    ta_init(&ta);
    hw_field f = mk(cases[c].type, "x");
    hw_builder b;
    init_builder(&b, &f, &ta);
    assert_int_equal(b.width, fixed_width(cases[c].type));
    assert_int_equal(hw_builder_append_int(&b, 1), 0);
    assert_int_equal(hw_builder_append_null(&b), 0);
    assert_int_equal(hw_builder_append_int(&b, -3), 0);
    assert_int_equal(hw_builder_append_int(&b, cases[c].big), 0);
    assert_int_equal(hw_builder_append_int(&b, -128), 0);
    struct ArrowArray arr;
    finish_ok(&b, &arr);
    assert_int_equal(arr.length, 5);
    assert_int_equal(arr.null_count, 1);
    assert_int_equal(((const uint8_t*)arr.buffers[0])[0], 0x1d); /* 1,0,1,1,1 LSB first */
    assert_dump(&f, &arr, cases[c].expect);
    release_array(&arr);
    hw_builder_release(&b);
    hw_field_release(&f);
    ta_done(&ta);
  }
}

static void test_timestamps_every_unit(void** state) {
  (void)state;
  hw_time_unit units[] = {HW_TIME_SECOND, HW_TIME_MILLI, HW_TIME_MICRO, HW_TIME_NANO};
  for (size_t u = 0; u < 4; u++) {
    test_alloc ta;
    ta_init(&ta);
    hw_field f = mk_ts("t", units[u], u % 2 ? "UTC" : NULL);
    hw_builder b;
    init_builder(&b, &f, &ta);
    assert_int_equal(b.width, 8);
    assert_int_equal(b.field.unit, units[u]);
    assert_int_equal(hw_builder_append_int(&b, 1700000000000000LL), 0);
    assert_int_equal(hw_builder_append_null(&b), 0);
    assert_int_equal(hw_builder_append_int(&b, -1), 0);
    struct ArrowArray arr;
    finish_ok(&b, &arr);
    assert_dump(&f, &arr, "[1700000000000000,null,-1]");
    release_array(&arr);
    hw_builder_release(&b);
    hw_field_release(&f);
    ta_done(&ta);
  }
}

static void test_unsigned_ints(void** state) {
  (void)state;
  struct {
    hw_type_id type;
    uint64_t max;
    const char* expect;
  } cases[] = {
      {HW_TYPE_UINT8, UINT8_MAX, "[0,null,255,7]"},
      {HW_TYPE_UINT16, UINT16_MAX, "[0,null,65535,7]"},
      {HW_TYPE_UINT32, UINT32_MAX, "[0,null,4294967295,7]"},
      {HW_TYPE_UINT64, UINT64_MAX, "[0,null,18446744073709551615,7]"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    test_alloc ta;
    ta_init(&ta);
    hw_field f = mk(cases[c].type, "u");
    hw_builder b;
    init_builder(&b, &f, &ta);
    assert_int_equal(hw_builder_append_uint(&b, 0), 0);
    assert_int_equal(hw_builder_append_null(&b), 0);
    assert_int_equal(hw_builder_append_uint(&b, cases[c].max), 0);
    assert_int_equal(hw_builder_append_uint(&b, 7), 0);
    struct ArrowArray arr;
    finish_ok(&b, &arr);
    assert_dump(&f, &arr, cases[c].expect);
    /* the null slot holds zero bytes */
    const uint8_t* v = arr.buffers[1];
    for (int k = 0; k < fixed_width(cases[c].type); k++) assert_int_equal(v[fixed_width(cases[c].type) + k], 0);
    release_array(&arr);
    hw_builder_release(&b);
    hw_field_release(&f);
    ta_done(&ta);
  }
}

static void test_floats(void** state) {
  (void)state;
  hw_type_id types[] = {HW_TYPE_FLOAT32, HW_TYPE_FLOAT64};
  for (size_t c = 0; c < 2; c++) {
    test_alloc ta;
    ta_init(&ta);
    hw_field f = mk(types[c], "f");
    hw_builder b;
    init_builder(&b, &f, &ta);
    assert_int_equal(hw_builder_append_double(&b, 1.5), 0);
    assert_int_equal(hw_builder_append_null(&b), 0);
    assert_int_equal(hw_builder_append_double(&b, -0.25), 0);
    assert_int_equal(hw_builder_append_double(&b, 1e10), 0);
    struct ArrowArray arr;
    finish_ok(&b, &arr);
    assert_dump(&f, &arr, "[1.5,null,-0.25,1e+10]");
    if (types[c] == HW_TYPE_FLOAT32) {
      float x;
      memcpy(&x, (const uint8_t*)arr.buffers[1] + 8, 4);
      assert_true(x == -0.25f);
    } else {
      double x;
      memcpy(&x, (const uint8_t*)arr.buffers[1] + 16, 8);
      assert_true(x == -0.25);
    }
    release_array(&arr);
    hw_builder_release(&b);
    hw_field_release(&f);
    ta_done(&ta);
  }
}

static void test_bool(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field f = mk(HW_TYPE_BOOL, "b");
  hw_builder b;
  init_builder(&b, &f, &ta);
  /* 20 values: true at multiples of 3, null at i % 5 == 4 */
  for (int i = 0; i < 20; i++) {
    if (i % 5 == 4)
      assert_int_equal(hw_builder_append_null(&b), 0);
    else
      assert_int_equal(hw_builder_append_bool(&b, i % 3 == 0), 0);
  }
  struct ArrowArray arr;
  finish_ok(&b, &arr);
  assert_int_equal(arr.length, 20);
  assert_int_equal(arr.null_count, 4);
  const uint8_t* valid = arr.buffers[0];
  const uint8_t* bits = arr.buffers[1];
  for (int i = 0; i < 20; i++) {
    assert_int_equal(hw_bitmap_get(valid, i), i % 5 != 4);
    assert_int_equal(hw_bitmap_get(bits, i), i % 5 != 4 && i % 3 == 0);
  }
  assert_int_equal(bits[0], 0x49);  /* bits 0, 3, 6 */
  assert_int_equal(valid[0], 0xef); /* all but bit 4 */
  release_array(&arr);
  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

static void test_null_type(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field f = mk(HW_TYPE_NULL, "n");
  hw_builder b;
  init_builder(&b, &f, &ta);
  for (int i = 0; i < 5; i++) assert_int_equal(hw_builder_append_null(&b), 0);
  assert_int_equal(hw_builder_append_int(&b, 1), -1); /* wrong kind */
  struct ArrowArray arr;
  finish_ok(&b, &arr);
  assert_int_equal(arr.length, 5);
  assert_int_equal(arr.null_count, 5);
  assert_int_equal(arr.n_buffers, 0);
  assert_int_equal(arr.n_children, 0);
  assert_dump(&f, &arr, "[null,null,null,null,null]");
  assert_int_equal(ta.calls, 0); /* nothing allocated through the allocator */
  release_array(&arr);
  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

static void test_decimal128(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field f = mk_decimal("d", 38, 10);
  hw_builder b;
  init_builder(&b, &f, &ta);
  assert_int_equal(b.field.precision, 38);
  assert_int_equal(b.field.scale, 10);
  assert_int_equal(b.width, 16);
  assert_int_equal(hw_builder_append_decimal128(&b, 12345, 0), 0);
  assert_int_equal(hw_builder_append_null(&b), 0);
  assert_int_equal(hw_builder_append_decimal128(&b, UINT64_MAX, UINT64_MAX), 0); /* -1 */
  assert_int_equal(hw_builder_append_decimal128(&b, 0x0123456789abcdefULL, 0x1122334455667788ULL), 0);
  assert_int_equal(hw_builder_append_int(&b, 5), -1); /* wrong kind */
  struct ArrowArray arr;
  finish_ok(&b, &arr);
  assert_dump(&f, &arr, "[dec(0:3039),null,dec(ffffffffffffffff:ffffffffffffffff),dec(1122334455667788:123456789abcdef)]");
  /* little-endian bytes: low word first */
  const uint8_t* v = arr.buffers[1];
  static const uint8_t expect3[16] = {0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
                                      0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
  uint16_t probe = 1;
  uint8_t first;
  memcpy(&first, &probe, 1);
  if (first == 1) assert_memory_equal(v + 48, expect3, 16);
  for (int k = 0; k < 16; k++) assert_int_equal(v[16 + k], 0);
  release_array(&arr);
  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

static void test_var_size(void** state) {
  (void)state;
  hw_type_id types[] = {HW_TYPE_UTF8, HW_TYPE_BINARY, HW_TYPE_LARGE_UTF8, HW_TYPE_LARGE_BINARY};
  for (size_t c = 0; c < 4; c++) {
    test_alloc ta;
    ta_init(&ta);
    hw_field f = mk(types[c], "s");
    hw_builder b;
    init_builder(&b, &f, &ta);
    int w = c < 2 ? 4 : 8;
    assert_int_equal(b.width, w);
    assert_int_equal(hw_builder_append_bytes(&b, "ab", 2), 0);
    assert_int_equal(hw_builder_append_null(&b), 0);
    assert_int_equal(hw_builder_append_bytes(&b, "", 0), 0);
    assert_int_equal(hw_builder_append_bytes(&b, NULL, 0), 0);
    assert_int_equal(hw_builder_append_bytes(&b, "c\0e", 3), 0);
    assert_int_equal(hw_builder_append_bytes(&b, "x", -1), -1);
    assert_int_equal(hw_builder_append_bytes(&b, NULL, 2), -1);
    assert_int_equal(b.length, 5);
    struct ArrowArray arr;
    finish_ok(&b, &arr);
    assert_dump(&f, &arr, "[\"ab\",null,\"\",\"\",\"c\\x00e\"]");
    int64_t expect_offsets[] = {0, 2, 2, 2, 2, 5};
    for (int i = 0; i < 6; i++) assert_int_equal(offset_at(&arr, w, i), expect_offsets[i]);
    assert_memory_equal(arr.buffers[2], "abc\0e", 5);
    assert_int_equal(arr.null_count, 1);
    release_array(&arr);
    hw_builder_release(&b);
    hw_field_release(&f);
    ta_done(&ta);
  }
}

/* ================= every type: empty, all-null, no-null ================= */

/* A struct holding one field of every type, nested ones included. */
static hw_field every_type_struct(void) {
  hw_field leaf[] = {
      mk(HW_TYPE_NULL, "n"),       mk(HW_TYPE_BOOL, "b"),         mk(HW_TYPE_INT8, "i8"),
      mk(HW_TYPE_INT16, "i16"),    mk(HW_TYPE_INT32, "i32"),      mk(HW_TYPE_INT64, "i64"),
      mk(HW_TYPE_UINT8, "u8"),     mk(HW_TYPE_UINT16, "u16"),     mk(HW_TYPE_UINT32, "u32"),
      mk(HW_TYPE_UINT64, "u64"),   mk(HW_TYPE_FLOAT32, "f32"),    mk(HW_TYPE_FLOAT64, "f64"),
      mk(HW_TYPE_UTF8, "s"),       mk(HW_TYPE_LARGE_UTF8, "ls"),  mk(HW_TYPE_BINARY, "bin"),
      mk(HW_TYPE_LARGE_BINARY, "lbin"), mk(HW_TYPE_DATE32, "d"),  mk_ts("ts", HW_TIME_MICRO, "UTC"),
      mk_decimal("dec", 10, 2),    mk_list("l", mk(HW_TYPE_INT32, "element")),
      mk_map("m", mk(HW_TYPE_UTF8, "key"), mk(HW_TYPE_INT64, "value")),
      mk_struct("st", 1, (hw_field[]){mk(HW_TYPE_INT16, "x")}),
  };
  return mk_struct("", (int32_t)(sizeof leaf / sizeof leaf[0]), leaf);
}

#define N_EVERY 22

/* Appends one non-null value of row r to builder b of field f (any type, recursively). */
static int append_value(hw_builder* b, int64_t r) {
  switch (b->field.type) {
    case HW_TYPE_NULL: return hw_builder_append_null(b);
    case HW_TYPE_BOOL: return hw_builder_append_bool(b, r % 2 == 0);
    case HW_TYPE_INT8:
    case HW_TYPE_INT16:
    case HW_TYPE_INT32:
    case HW_TYPE_INT64:
    case HW_TYPE_DATE32:
    case HW_TYPE_TIMESTAMP: return hw_builder_append_int(b, r - 3);
    case HW_TYPE_UINT8:
    case HW_TYPE_UINT16:
    case HW_TYPE_UINT32:
    case HW_TYPE_UINT64: return hw_builder_append_uint(b, (uint64_t)r);
    case HW_TYPE_FLOAT32:
    case HW_TYPE_FLOAT64: return hw_builder_append_double(b, (double)r / 2);
    case HW_TYPE_UTF8:
    case HW_TYPE_LARGE_UTF8:
    case HW_TYPE_BINARY:
    case HW_TYPE_LARGE_BINARY: {
      char s[32];
      int n = snprintf(s, sizeof s, "v%lld", (long long)r);
      return hw_builder_append_bytes(b, s, n);
    }
    case HW_TYPE_DECIMAL128: return hw_builder_append_decimal128(b, (uint64_t)r * 100, 0);
    case HW_TYPE_LIST:
      for (int64_t k = 0; k < r % 3; k++)
        if ((k == 1 ? hw_builder_append_null(&b->children[0]) : append_value(&b->children[0], r + k)) != 0)
          return -1;
      return hw_builder_close_list(b);
    case HW_TYPE_MAP: {
      hw_builder* e = &b->children[0];
      for (int64_t k = 0; k < r % 3; k++) {
        if (append_value(&e->children[0], r * 10 + k) != 0) return -1;
        if ((k == 1 ? hw_builder_append_null(&e->children[1]) : append_value(&e->children[1], k)) != 0) return -1;
        if (hw_builder_close_struct(e) != 0) return -1;
      }
      return hw_builder_close_list(b);
    }
    case HW_TYPE_STRUCT:
      for (int32_t c = 0; c < b->n_children; c++) {
        /* every fifth (row + column) is null inside structs */
        int rc = (r + c) % 5 == 4 ? hw_builder_append_null(&b->children[c]) : append_value(&b->children[c], r);
        if (rc != 0) return -1;
      }
      return hw_builder_close_struct(b);
  }
  return -1;
}

static void test_empty_arrays_every_type(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field f = every_type_struct();
  assert_int_equal(f.n_children, N_EVERY);
  hw_builder b;
  init_builder(&b, &f, &ta);
  struct ArrowArray arr;
  finish_ok(&b, &arr);
  assert_int_equal(arr.length, 0);
  assert_int_equal(arr.n_children, N_EVERY);
  check_array(&f, &arr);
  for (int32_t c = 0; c < N_EVERY; c++) {
    const struct ArrowArray* ch = arr.children[c];
    assert_int_equal(ch->length, 0);
    assert_int_equal(ch->null_count, 0);
    if (f.children[c].type == HW_TYPE_NULL) continue;
    assert_null(ch->buffers[0]);
    for (int64_t k = 1; k < ch->n_buffers; k++) assert_non_null(ch->buffers[k]);
    if (ch->n_buffers >= 2 && (f.children[c].type == HW_TYPE_UTF8 || f.children[c].type == HW_TYPE_BINARY ||
                               f.children[c].type == HW_TYPE_LIST || f.children[c].type == HW_TYPE_MAP))
      assert_int_equal(offset_at(ch, 4, 0), 0);
    if (f.children[c].type == HW_TYPE_LARGE_UTF8 || f.children[c].type == HW_TYPE_LARGE_BINARY)
      assert_int_equal(offset_at(ch, 8, 0), 0);
  }
  /* the map's entries and its key/value children are empty too, with valid buffers */
  const struct ArrowArray* m = arr.children[20];
  assert_int_equal(m->children[0]->length, 0);
  assert_non_null(m->children[0]->children[0]->buffers[1]);
  assert_int_equal(offset_at(m->children[0]->children[0], 4, 0), 0);
  release_array(&arr);
  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

static void test_every_type_values_and_nulls(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field f = every_type_struct();
  hw_builder b;
  init_builder(&b, &f, &ta);
  for (int64_t r = 0; r < 7; r++) assert_int_equal(append_value(&b, r), 0);
  struct ArrowArray arr;
  finish_ok(&b, &arr);
  assert_int_equal(arr.length, 7);
  assert_int_equal(arr.null_count, 0);
  assert_null(arr.buffers[0]);
  /* rows 0..6; (r + column) % 5 == 4 is null inside the struct; lists/maps have r % 3 entries */
  assert_dump(&f, &arr,
              "[{n:null,b:true,i8:-3,i16:-3,i32:null,i64:-3,u8:0,u16:0,u32:0,u64:null,f32:0,f64:0,s:\"v0\","
              "ls:\"v0\",bin:null,lbin:\"v0\",d:-3,ts:-3,dec:dec(0:0),l:null,m:{},st:{x:-3}},"
              "{n:null,b:false,i8:-2,i16:null,i32:-2,i64:-2,u8:1,u16:1,u32:null,u64:1,f32:0.5,f64:0.5,s:\"v1\","
              "ls:null,bin:\"v1\",lbin:\"v1\",d:-2,ts:-2,dec:null,l:[-2],m:{\"v10\":-3},st:{x:-2}},"
              "{n:null,b:true,i8:null,i16:-1,i32:-1,i64:-1,u8:2,u16:null,u32:2,u64:2,f32:1,f64:1,s:null,"
              "ls:\"v2\",bin:\"v2\",lbin:\"v2\",d:-1,ts:null,dec:dec(0:c8),l:[-1,null],"
              "m:{\"v20\":-3,\"v21\":null},st:{x:-1}},"
              "{n:null,b:null,i8:0,i16:0,i32:0,i64:0,u8:null,u16:3,u32:3,u64:3,f32:1.5,f64:null,s:\"v3\","
              "ls:\"v3\",bin:\"v3\",lbin:\"v3\",d:null,ts:0,dec:dec(0:12c),l:[],m:{},st:null},"
              "{n:null,b:true,i8:1,i16:1,i32:1,i64:null,u8:4,u16:4,u32:4,u64:4,f32:null,f64:2,s:\"v4\","
              "ls:\"v4\",bin:\"v4\",lbin:null,d:1,ts:1,dec:dec(0:190),l:[1],m:null,st:{x:null}},"
              "{n:null,b:false,i8:2,i16:2,i32:null,i64:2,u8:5,u16:5,u32:5,u64:null,f32:2.5,f64:2.5,s:\"v5\","
              "ls:\"v5\",bin:null,lbin:\"v5\",d:2,ts:2,dec:dec(0:1f4),l:null,m:{\"v50\":-3,\"v51\":null},"
              "st:{x:2}},"
              "{n:null,b:true,i8:3,i16:null,i32:3,i64:3,u8:6,u16:6,u32:null,u64:6,f32:3,f64:3,s:\"v6\","
              "ls:null,bin:\"v6\",lbin:\"v6\",d:3,ts:3,dec:null,l:[],m:{},st:{x:3}}]");
  /* columns with a null at (r + c) % 5 == 4 */
  for (int32_t c = 1; c < N_EVERY; c++) {
    int64_t nulls = 0;
    for (int64_t r = 0; r < 7; r++) nulls += (r + c) % 5 == 4;
    assert_int_equal(arr.children[c]->null_count, nulls);
    for (int64_t r = 0; r < 7; r++) assert_int_equal(is_valid(arr.children[c], r), (r + c) % 5 != 4);
  }
  assert_int_equal(arr.children[0]->null_count, 7); /* null type */
  /* a few exact columns */
  hw_field* fc = f.children;
  assert_dump(&fc[4], arr.children[4], "[null,-2,-1,0,1,null,3]"); /* i32: column 4, null at r = 0, 5 */
  release_array(&arr);
  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

static void test_no_nulls_no_bitmap_and_backfill(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field f = mk(HW_TYPE_INT32, "x");
  hw_builder b;
  init_builder(&b, &f, &ta);
  for (int i = 0; i < 13; i++) assert_int_equal(hw_builder_append_int(&b, i), 0);
  assert_int_equal(b.validity.length, 0); /* not materialised yet */
  assert_null(b.validity.bytes.data);
  assert_int_equal(hw_builder_append_null(&b), 0);
  assert_int_equal(b.validity.length, 14);
  for (int i = 0; i < 3; i++) assert_int_equal(hw_builder_append_int(&b, 100 + i), 0);
  struct ArrowArray arr;
  finish_ok(&b, &arr);
  const uint8_t* v = arr.buffers[0];
  assert_int_equal(v[0], 0xff);
  assert_int_equal(v[1], 0xdf); /* bits 8..12 valid, 13 null, 14 and 15 valid */
  assert_int_equal(v[2], 0x01);                                     /* bit 16 */
  assert_int_equal(arr.null_count, 1);
  release_array(&arr);

  /* next batch without nulls: no bitmap at all */
  for (int i = 0; i < 3; i++) assert_int_equal(hw_builder_append_int(&b, i), 0);
  finish_ok(&b, &arr);
  assert_null(arr.buffers[0]);
  assert_int_equal(arr.null_count, 0);
  assert_dump(&f, &arr, "[0,1,2]");
  release_array(&arr);

  /* a batch of nulls only */
  for (int i = 0; i < 9; i++) assert_int_equal(hw_builder_append_null(&b), 0);
  finish_ok(&b, &arr);
  assert_int_equal(arr.null_count, 9);
  assert_int_equal(((const uint8_t*)arr.buffers[0])[0], 0);
  assert_int_equal(((const uint8_t*)arr.buffers[0])[1], 0);
  release_array(&arr);

  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

/* ================= nested ================= */

static void test_struct_record_batch(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field kids[] = {mk(HW_TYPE_INT32, "a"), mk(HW_TYPE_UTF8, "b"), mk(HW_TYPE_BOOL, "c")};
  hw_field f = mk_struct("", 3, kids);
  hw_builder b;
  init_builder(&b, &f, &ta);
  assert_int_equal(b.n_children, 3);
  /* (1, "x", true) */
  assert_int_equal(hw_builder_append_int(&b.children[0], 1), 0);
  assert_int_equal(hw_builder_append_bytes(&b.children[1], "x", 1), 0);
  assert_int_equal(hw_builder_append_bool(&b.children[2], true), 0);
  assert_int_equal(hw_builder_close_struct(&b), 0);
  /* (3, null, false) */
  assert_int_equal(hw_builder_append_int(&b.children[0], 3), 0);
  assert_int_equal(hw_builder_append_null(&b.children[1]), 0);
  assert_int_equal(hw_builder_append_bool(&b.children[2], false), 0);
  assert_int_equal(hw_builder_close_struct(&b), 0);
  struct ArrowArray arr;
  finish_ok(&b, &arr);
  assert_int_equal(arr.length, 2);
  assert_int_equal(arr.null_count, 0);
  assert_int_equal(arr.n_buffers, 1);
  assert_null(arr.buffers[0]);
  assert_dump(&f, &arr, "[{a:1,b:\"x\",c:true},{a:3,b:null,c:false}]");
  assert_int_equal(arr.children[1]->null_count, 1);
  assert_null(arr.children[0]->buffers[0]);
  release_array(&arr);

  /* a null struct row appends a null to every child */
  assert_int_equal(hw_builder_append_null(&b), 0);
  assert_int_equal(hw_builder_append_int(&b.children[0], 5), 0);
  assert_int_equal(hw_builder_append_bytes(&b.children[1], "yz", 2), 0);
  assert_int_equal(hw_builder_append_bool(&b.children[2], true), 0);
  assert_int_equal(hw_builder_close_struct(&b), 0);
  finish_ok(&b, &arr);
  assert_int_equal(arr.null_count, 1);
  for (int c = 0; c < 3; c++) {
    assert_int_equal(arr.children[c]->length, 2);
    assert_int_equal(arr.children[c]->null_count, 1);
    assert_false(is_valid(arr.children[c], 0));
  }
  assert_dump(&f, &arr, "[null,{a:5,b:\"yz\",c:true}]");
  assert_int_equal(offset_at(arr.children[1], 4, 1), 0);
  assert_int_equal(offset_at(arr.children[1], 4, 2), 2);
  release_array(&arr);

  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

static void test_struct_no_fields(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field f = mk_struct("", 0, NULL);
  hw_builder b;
  init_builder(&b, &f, &ta);
  assert_int_equal(hw_builder_close_struct(&b), 0);
  assert_int_equal(hw_builder_append_null(&b), 0);
  struct ArrowArray arr;
  finish_ok(&b, &arr);
  assert_int_equal(arr.length, 2);
  assert_int_equal(arr.n_children, 0);
  assert_dump(&f, &arr, "[{},null]");
  release_array(&arr);
  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

static void test_list(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field f = mk_list("l", mk(HW_TYPE_INT32, "element"));
  hw_builder b;
  init_builder(&b, &f, &ta);
  hw_builder* el = &b.children[0];
  /* [1, 2], null, [], [null, 3] */
  assert_int_equal(hw_builder_append_int(el, 1), 0);
  assert_int_equal(hw_builder_append_int(el, 2), 0);
  assert_int_equal(hw_builder_close_list(&b), 0);
  assert_int_equal(hw_builder_append_null(&b), 0);
  assert_int_equal(hw_builder_close_list(&b), 0);
  assert_int_equal(hw_builder_append_null(el), 0);
  assert_int_equal(hw_builder_append_int(el, 3), 0);
  assert_int_equal(hw_builder_close_list(&b), 0);
  assert_int_equal(hw_builder_close_struct(&b), -1); /* wrong kind */
  struct ArrowArray arr;
  finish_ok(&b, &arr);
  assert_int_equal(arr.length, 4);
  assert_int_equal(arr.null_count, 1);
  int64_t expect_offsets[] = {0, 2, 2, 2, 4};
  for (int i = 0; i < 5; i++) assert_int_equal(offset_at(&arr, 4, i), expect_offsets[i]);
  assert_int_equal(arr.children[0]->length, 4);
  assert_int_equal(arr.children[0]->null_count, 1);
  assert_dump(&f, &arr, "[[1,2],null,[],[null,3]]");
  release_array(&arr);
  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

static void test_map(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field f = mk_map("m", mk(HW_TYPE_UTF8, "key"), mk(HW_TYPE_INT32, "value"));
  hw_builder b;
  init_builder(&b, &f, &ta);
  hw_builder* e = &b.children[0];
  assert_int_equal(e->field.type, HW_TYPE_STRUCT);
  assert_int_equal(e->n_children, 2);
  /* {"a": 1, "b": null}, null, {} , {"c": 3} */
  assert_int_equal(hw_builder_append_bytes(&e->children[0], "a", 1), 0);
  assert_int_equal(hw_builder_append_int(&e->children[1], 1), 0);
  assert_int_equal(hw_builder_close_struct(e), 0);
  assert_int_equal(hw_builder_append_bytes(&e->children[0], "b", 1), 0);
  assert_int_equal(hw_builder_append_null(&e->children[1]), 0);
  assert_int_equal(hw_builder_close_struct(e), 0);
  assert_int_equal(hw_builder_close_list(&b), 0);
  assert_int_equal(hw_builder_append_null(&b), 0);
  assert_int_equal(hw_builder_close_list(&b), 0);
  assert_int_equal(hw_builder_append_bytes(&e->children[0], "c", 1), 0);
  assert_int_equal(hw_builder_append_int(&e->children[1], 3), 0);
  assert_int_equal(hw_builder_close_struct(e), 0);
  assert_int_equal(hw_builder_close_list(&b), 0);
  struct ArrowArray arr;
  finish_ok(&b, &arr);
  assert_int_equal(arr.length, 4);
  assert_int_equal(arr.null_count, 1);
  assert_int_equal(arr.n_children, 1);
  const struct ArrowArray* ea = arr.children[0];
  assert_int_equal(ea->length, 3);
  assert_int_equal(ea->null_count, 0);
  assert_int_equal(ea->n_children, 2);
  int64_t expect_offsets[] = {0, 2, 2, 2, 3};
  for (int i = 0; i < 5; i++) assert_int_equal(offset_at(&arr, 4, i), expect_offsets[i]);
  assert_dump(&f, &arr, "[{\"a\":1,\"b\":null},null,{},{\"c\":3}]");
  release_array(&arr);
  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

/* list<struct<a: map<utf8, list<int32>>>> */
static hw_field deep_field(void) {
  hw_field inner_list = mk_list("element", mk(HW_TYPE_INT32, "element"));
  hw_field m = mk_map("a", mk(HW_TYPE_UTF8, "key"), inner_list);
  hw_field st = mk_struct("element", 1, &m);
  return mk_list("deep", st);
}

static void build_deep_rows(hw_builder* b) {
  hw_builder* st = &b->children[0];
  hw_builder* m = &st->children[0];
  hw_builder* e = &m->children[0];
  hw_builder* key = &e->children[0];
  hw_builder* inner = &e->children[1];
  hw_builder* ints = &inner->children[0];
  /* row 0: [ {a: {"k1": [1, 2], "k2": null}}, null, {a: null} ] */
  assert_int_equal(hw_builder_append_bytes(key, "k1", 2), 0);
  assert_int_equal(hw_builder_append_int(ints, 1), 0);
  assert_int_equal(hw_builder_append_int(ints, 2), 0);
  assert_int_equal(hw_builder_close_list(inner), 0);
  assert_int_equal(hw_builder_close_struct(e), 0);
  assert_int_equal(hw_builder_append_bytes(key, "k2", 2), 0);
  assert_int_equal(hw_builder_append_null(inner), 0);
  assert_int_equal(hw_builder_close_struct(e), 0);
  assert_int_equal(hw_builder_close_list(m), 0);
  assert_int_equal(hw_builder_close_struct(st), 0);
  assert_int_equal(hw_builder_append_null(st), 0);
  assert_int_equal(hw_builder_append_null(m), 0);
  assert_int_equal(hw_builder_close_struct(st), 0);
  assert_int_equal(hw_builder_close_list(b), 0);
  /* row 1: null */
  assert_int_equal(hw_builder_append_null(b), 0);
  /* row 2: [] */
  assert_int_equal(hw_builder_close_list(b), 0);
  /* row 3: [ {a: {}} , {a: {"k3": [null, 3, null]}} ] */
  assert_int_equal(hw_builder_close_list(m), 0);
  assert_int_equal(hw_builder_close_struct(st), 0);
  assert_int_equal(hw_builder_append_bytes(key, "k3", 2), 0);
  assert_int_equal(hw_builder_append_null(ints), 0);
  assert_int_equal(hw_builder_append_int(ints, 3), 0);
  assert_int_equal(hw_builder_append_null(ints), 0);
  assert_int_equal(hw_builder_close_list(inner), 0);
  assert_int_equal(hw_builder_close_struct(e), 0);
  assert_int_equal(hw_builder_close_list(m), 0);
  assert_int_equal(hw_builder_close_struct(st), 0);
  assert_int_equal(hw_builder_close_list(b), 0);
}

static const char* DEEP_EXPECT =
    "[[{a:{\"k1\":[1,2],\"k2\":null}},null,{a:null}],null,[],[{a:{}},{a:{\"k3\":[null,3,null]}}]]";

static void test_nested_three_deep(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field f = deep_field();
  hw_builder b;
  init_builder(&b, &f, &ta);
  build_deep_rows(&b);
  struct ArrowArray arr;
  finish_ok(&b, &arr);
  assert_dump(&f, &arr, DEEP_EXPECT);
  /* level by level */
  assert_int_equal(arr.length, 4);
  assert_int_equal(arr.null_count, 1);
  const struct ArrowArray* st = arr.children[0];
  assert_int_equal(st->length, 5);
  assert_int_equal(st->null_count, 1);
  const struct ArrowArray* m = st->children[0];
  assert_int_equal(m->length, 5);
  assert_int_equal(m->null_count, 2); /* struct null pushed down + explicit null */
  int64_t m_offsets[] = {0, 2, 2, 2, 2, 3};
  for (int i = 0; i < 6; i++) assert_int_equal(offset_at(m, 4, i), m_offsets[i]);
  const struct ArrowArray* e = m->children[0];
  assert_int_equal(e->length, 3);
  const struct ArrowArray* inner = e->children[1];
  assert_int_equal(inner->length, 3);
  assert_int_equal(inner->null_count, 1);
  const struct ArrowArray* ints = inner->children[0];
  assert_int_equal(ints->length, 5);
  assert_int_equal(ints->null_count, 2);
  release_array(&arr);
  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

static void test_two_batches_reuse(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field f = deep_field();
  hw_builder b;
  init_builder(&b, &f, &ta);
  build_deep_rows(&b);
  struct ArrowArray first, second, third;
  finish_ok(&b, &first);
  /* second batch: different content, built while the first is alive */
  assert_int_equal(hw_builder_close_list(&b), 0);
  assert_int_equal(hw_builder_append_null(&b), 0);
  finish_ok(&b, &second);
  build_deep_rows(&b);
  finish_ok(&b, &third);
  assert_dump(&f, &second, "[[],null]");
  assert_dump(&f, &first, DEEP_EXPECT);
  assert_dump(&f, &third, DEEP_EXPECT);
  /* the arrays share nothing */
  assert_ptr_not_equal(first.buffers[1], second.buffers[1]);
  assert_ptr_not_equal(first.children[0]->children[0]->buffers[1], third.children[0]->children[0]->buffers[1]);
  release_array(&second);
  release_array(&first);
  /* an empty batch after all */
  finish_ok(&b, &first);
  assert_dump(&f, &first, "[]");
  release_array(&first);
  hw_builder_release(&b);
  release_array(&third); /* the builder's release doesn't touch finished arrays */
  hw_field_release(&f);
  ta_done(&ta);
}

static void test_release_frees_everything(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field f = every_type_struct();
  hw_builder b;
  init_builder(&b, &f, &ta);
  for (int64_t r = 0; r < 1000; r++) {
    if (r % 17 == 3)
      assert_int_equal(hw_builder_append_null(&b), 0);
    else
      assert_int_equal(append_value(&b, r), 0);
  }
  struct ArrowArray arr;
  finish_ok(&b, &arr);
  check_array(&f, &arr);
  assert_int_equal(arr.length, 1000);
  assert_true(ta.n_blocks > 0);
  /* appended but never finished values are freed by hw_builder_release */
  for (int64_t r = 0; r < 100; r++) assert_int_equal(append_value(&b, r), 0);
  hw_builder_release(&b);
  hw_builder_release(&b); /* twice is fine: the builder is zeroed */
  release_array(&arr);
  ta_done(&ta);
  hw_field_release(&f);

  /* a zeroed builder releases safely */
  hw_builder z;
  memset(&z, 0, sizeof z);
  hw_builder_release(&z);
  hw_builder_release(NULL);
}

static void test_consumer_moves_child_out(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field kids[] = {mk(HW_TYPE_INT64, "a"), mk(HW_TYPE_UTF8, "b")};
  hw_field f = mk_struct("", 2, kids);
  hw_builder b;
  init_builder(&b, &f, &ta);
  for (int r = 0; r < 3; r++) assert_int_equal(append_value(&b, r), 0);
  struct ArrowArray arr;
  finish_ok(&b, &arr);
  /* move child 1 out as the spec allows, then release the parent immediately */
  struct ArrowArray moved = *arr.children[1];
  arr.children[1]->release = NULL;
  release_array(&arr);
  assert_dump(&f.children[1], &moved, "[\"v0\",\"v1\",\"v2\"]");
  release_array(&moved);
  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

/* ================= failures ================= */

static void test_wrong_kind_appends(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field f = mk(HW_TYPE_UTF8, "s");
  hw_builder b;
  init_builder(&b, &f, &ta);
  assert_int_equal(hw_builder_append_int(&b, 1), -1);
  assert_int_equal(hw_builder_append_uint(&b, 1), -1);
  assert_int_equal(hw_builder_append_double(&b, 1), -1);
  assert_int_equal(hw_builder_append_bool(&b, true), -1);
  assert_int_equal(hw_builder_append_decimal128(&b, 1, 0), -1);
  assert_int_equal(hw_builder_close_list(&b), -1);
  assert_int_equal(hw_builder_close_struct(&b), -1);
  assert_int_equal(b.length, 0);
  assert_int_equal(ta.calls, 0); /* nothing touched */
  assert_int_equal(hw_builder_append_bytes(&b, "ok", 2), 0);
  struct ArrowArray arr;
  finish_ok(&b, &arr);
  assert_dump(&f, &arr, "[\"ok\"]");
  release_array(&arr);
  hw_builder_release(&b);
  hw_field_release(&f);

  f = mk(HW_TYPE_INT64, "i");
  init_builder(&b, &f, &ta);
  assert_int_equal(hw_builder_append_bytes(&b, "x", 1), -1);
  assert_int_equal(hw_builder_append_uint(&b, 1), -1);
  assert_int_equal(hw_builder_append_double(&b, 1), -1);
  assert_int_equal(b.length, 0);
  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

static void test_offset_overflow_32bit(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  /* utf8: pretend the data buffer already holds INT32_MAX - 1 bytes (no 2 GiB allocation) */
  hw_field f = mk(HW_TYPE_UTF8, "s");
  hw_builder b;
  init_builder(&b, &f, &ta);
  assert_int_equal(hw_builder_append_bytes(&b, "a", 1), 0);
  int64_t real = b.data.size;
  b.data.size = (int64_t)INT32_MAX - 1;
  assert_int_equal(hw_builder_append_bytes(&b, "ab", 2), -1);
  assert_int_equal(b.length, 1);
  b.data.size = real;
  assert_int_equal(hw_builder_append_bytes(&b, "b", 1), 0);
  hw_builder_release(&b);
  hw_field_release(&f);

  /* large_utf8 has no such limit at that size */
  f = mk(HW_TYPE_LARGE_UTF8, "s");
  init_builder(&b, &f, &ta);
  assert_int_equal(hw_builder_append_bytes(&b, "a", 1), 0);
  hw_builder_release(&b);
  hw_field_release(&f);

  /* list: pretend the child holds INT32_MAX + 1 elements */
  f = mk_list("l", mk(HW_TYPE_INT32, "element"));
  init_builder(&b, &f, &ta);
  assert_int_equal(hw_builder_append_int(&b.children[0], 1), 0);
  assert_int_equal(hw_builder_close_list(&b), 0);
  real = b.children[0].length;
  b.children[0].length = (int64_t)INT32_MAX + 1;
  assert_int_equal(hw_builder_close_list(&b), -1);
  assert_int_equal(hw_builder_append_null(&b), -1);
  assert_int_equal(b.length, 1);
  b.children[0].length = real;
  assert_int_equal(hw_builder_close_list(&b), 0);
  struct ArrowArray arr;
  finish_ok(&b, &arr);
  assert_dump(&f, &arr, "[[1],[]]");
  release_array(&arr);
  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

static void test_init_errors(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_error err;
  hw_builder b;

  hw_field f = mk(HW_TYPE_LIST, "l"); /* no element */
  hw_error_init(&err);
  assert_int_equal(hw_builder_init(&b, &f, &ta.base, &err), -1);
  assert_string_equal(err.error_class, "HW_INVALID_ARGUMENT");
  assert_non_null(strstr(err.message, "'l'"));
  hw_builder_release(&b); /* safe after a failed init */
  hw_field_release(&f);

  f = mk_struct("m", 1, (hw_field[]){mk(HW_TYPE_INT32, "x")});
  f.type = HW_TYPE_MAP; /* a map whose child is not a struct of two */
  assert_int_equal(hw_builder_init(&b, &f, &ta.base, &err), -1);
  hw_field_release(&f);

  hw_field bad = mk(HW_TYPE_INT32, "bad");
  bad.n_children = 1;
  bad.children = calloc(1, sizeof *bad.children);
  hw_field_init(&bad.children[0]);
  hw_field outer = mk_struct("", 1, (hw_field[]){mk(HW_TYPE_INT8, "ok")});
  /* a nested failure: struct<ok int8, bad int32-with-children> */
  hw_field* grown = realloc(outer.children, 2 * sizeof *outer.children);
  assert_non_null(grown);
  outer.children = grown;
  outer.children[1] = bad;
  outer.n_children = 2;
  assert_int_equal(hw_builder_init(&b, &outer, &ta.base, &err), -1);
  assert_non_null(strstr(err.message, "'bad'"));
  hw_field_release(&outer);

  f = mk(HW_TYPE_INT32, "x");
  f.type = (hw_type_id)99;
  assert_int_equal(hw_builder_init(&b, &f, &ta.base, &err), -1);
  f.type = HW_TYPE_INT32;
  assert_int_equal(hw_builder_init(&b, NULL, &ta.base, &err), -1);
  assert_int_equal(hw_builder_init(&b, &f, NULL, &err), -1);
  hw_field_release(&f);

  /* too deep */
  f = mk(HW_TYPE_INT32, "element");
  for (int i = 0; i < HW_MAX_NESTING + 1; i++) f = mk_list("element", f);
  assert_int_equal(hw_builder_init(&b, &f, &ta.base, &err), -1);
  assert_non_null(strstr(err.message, "nesting"));
  hw_field_release(&f);
  f = mk(HW_TYPE_INT32, "element");
  for (int i = 0; i < HW_MAX_NESTING; i++) f = mk_list("element", f);
  assert_int_equal(hw_builder_init(&b, &f, &ta.base, &err), 0);
  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

static void test_struct_child_mismatch(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field kids[] = {mk(HW_TYPE_INT32, "a"), mk(HW_TYPE_INT32, "b")};
  hw_field f = mk_struct("", 2, kids);
  hw_builder b;
  init_builder(&b, &f, &ta);
  assert_int_equal(hw_builder_append_int(&b.children[0], 1), 0); /* b missing */
  assert_int_equal(hw_builder_close_struct(&b), 0);
  struct ArrowArray arr;
  memset(&arr, 0, sizeof arr);
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_builder_finish(&b, &arr, &err), -1);
  assert_string_equal(err.error_class, "HW_INTERNAL_ERROR");
  assert_null(arr.release); /* out untouched */
  assert_int_equal(b.length, 0);
  assert_int_equal(b.children[0].length, 0);
  assert_int_equal(ta.n_blocks, 0); /* emptied */
  /* still usable */
  assert_int_equal(append_value(&b, 2), 0);
  finish_ok(&b, &arr);
  assert_dump(&f, &arr, "[{a:-1,b:-1}]");
  release_array(&arr);
  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

/* The rows the failure tests build: a mix of every type, nulls and nesting. */
static int build_script(hw_builder* every, int64_t rows) {
  for (int64_t r = 0; r < rows; r++) {
    int rc = r % 7 == 5 ? hw_builder_append_null(every) : append_value(every, r);
    if (rc != 0) return -1;
  }
  return 0;
}

/* Every allocation point during appends: the append fails cleanly, everything is freed. */
static void test_alloc_failure_during_appends(void** state) {
  (void)state;
  hw_field f = every_type_struct();
  int64_t n = 0;
  for (;; n++) {
    test_alloc ta;
    ta_init(&ta);
    ta.fail_after = n;
    hw_builder b;
    hw_error err;
    hw_error_init(&err);
    if (hw_builder_init(&b, &f, &ta.base, &err) != 0) fail_msg("init: %s", err.message);
    int rc = build_script(&b, 40);
    struct ArrowArray arr;
    memset(&arr, 0, sizeof arr);
    int frc = hw_builder_finish(&b, &arr, &err);
    if (frc == 0) {
      check_array(&f, &arr);
      release_array(&arr);
    } else {
      /* after a failed append the row may be half-written: finish reports it, or runs out of memory */
      if (rc == 0) assert_string_equal(err.error_class, "HW_OUT_OF_MEMORY");
      assert_null(arr.release);
      assert_int_equal(b.length, 0);
      assert_int_equal(ta.n_blocks, 0);
    }
    bool clean = rc == 0 && frc == 0 && ta.failures == 0;
    hw_builder_release(&b);
    ta_done(&ta);
    if (clean) break;
  }
  assert_true(n > 50); /* many distinct failure points were exercised */
  hw_field_release(&f);
}

/* Every allocation point inside finish: no leak, builder left empty and reusable. */
static void test_alloc_failure_during_finish(void** state) {
  (void)state;
  hw_field every = every_type_struct();
  hw_field deep = deep_field();
  /* 0: every type, 1 row; 1: the deep nesting; 2: every type, no rows (every buffer of every
   * column is allocated inside finish) */
  const hw_field* fields[] = {&every, &deep, &every};
  for (int which = 0; which < 3; which++) {
    const hw_field* f = fields[which];
    int64_t n = 0;
    for (;; n++) {
      test_alloc ta;
      ta_init(&ta);
      hw_builder b;
      hw_error err;
      hw_error_init(&err);
      if (hw_builder_init(&b, f, &ta.base, &err) != 0) fail_msg("init: %s", err.message);
      /* some rows, and also an all-empty column set: the empty offsets need allocations in finish */
      if (which == 0)
        assert_int_equal(build_script(&b, 1), 0); /* one row: some child buffers stay empty */
      else if (which == 1)
        build_deep_rows(&b);
      ta.fail_after = ta.calls + n;
      struct ArrowArray arr;
      memset(&arr, 0, sizeof arr);
      int rc = hw_builder_finish(&b, &arr, &err);
      bool done = rc == 0;
      if (rc == 0) {
        check_array(f, &arr);
        release_array(&arr);
      } else {
        assert_string_equal(err.error_class, "HW_OUT_OF_MEMORY");
        assert_null(arr.release);
        assert_int_equal(ta.n_blocks, 0); /* everything moved so far was freed; builder empty */
        assert_int_equal(b.length, 0);
        /* reusable: a full batch works afterwards */
        ta.fail_after = -1;
        if (which == 0)
          assert_int_equal(build_script(&b, 3), 0);
        else if (which == 1)
          build_deep_rows(&b);
        finish_ok(&b, &arr);
        if (which == 1) assert_dump(f, &arr, DEEP_EXPECT);
        release_array(&arr);
      }
      hw_builder_release(&b);
      ta_done(&ta);
      if (done) break;
    }
    /* empty: one allocation per non-validity buffer of every column: bool 1, fixed-width 13,
     * var-size 4 x 2, list 1 + element 1, map 1 + key 2 + value 1, struct's int16 1 = 29 */
    if (which == 2) assert_int_equal(n, 29);
    if (which == 0) assert_true(n > 3);
  }
  hw_field_release(&every);
  hw_field_release(&deep);
}

/* A failed append leaves the builder as it was: retrying after the failure gives the same array
 * as a run without failures. */
static void test_failed_append_changes_nothing(void** state) {
  (void)state;
  hw_field f = every_type_struct();
  char* reference = NULL;
  {
    test_alloc ta;
    ta_init(&ta);
    hw_builder b;
    init_builder(&b, &f, &ta);
    assert_int_equal(build_script(&b, 30), 0);
    struct ArrowArray arr;
    finish_ok(&b, &arr);
    reference = dump(&f, &arr);
    release_array(&arr);
    hw_builder_release(&b);
    ta_done(&ta);
  }
  /* leaf appends and struct nulls, retried: fail the k-th allocation once */
  for (int64_t k = 0; k < 200; k++) {
    test_alloc ta;
    ta_init(&ta);
    hw_builder b;
    init_builder(&b, &f, &ta);
    ta.fail_after = k;
    /* drive a single column at a time so a failing append can be retried precisely */
    for (int64_t r = 0; r < 30; r++) {
      if (r % 7 == 5) {
        int64_t len = b.length;
        if (hw_builder_append_null(&b) != 0) {
          assert_int_equal(b.length, len);
          for (int32_t c = 0; c < b.n_children; c++) assert_int_equal(b.children[c].length, len);
          ta.fail_after = -1;
          assert_int_equal(hw_builder_append_null(&b), 0);
        }
        continue;
      }
      for (int32_t c = 0; c < b.n_children; c++) {
        hw_builder* cb = &b.children[c];
        bool leaf = cb->n_children == 0;
        if (!leaf) {
          /* nested columns: use the fail-free path for simplicity */
          int64_t saved = ta.fail_after;
          ta.fail_after = -1;
          int rc = (r + c) % 5 == 4 ? hw_builder_append_null(cb) : append_value(cb, r);
          assert_int_equal(rc, 0);
          ta.fail_after = saved;
          continue;
        }
        int64_t len = cb->length, nulls = cb->null_count;
        int rc = (r + c) % 5 == 4 ? hw_builder_append_null(cb) : append_value(cb, r);
        if (rc != 0) {
          assert_int_equal(cb->length, len);
          assert_int_equal(cb->null_count, nulls);
          ta.fail_after = -1;
          rc = (r + c) % 5 == 4 ? hw_builder_append_null(cb) : append_value(cb, r);
          assert_int_equal(rc, 0);
        }
      }
      int64_t len = b.length;
      if (hw_builder_close_struct(&b) != 0) {
        assert_int_equal(b.length, len);
        ta.fail_after = -1;
        assert_int_equal(hw_builder_close_struct(&b), 0);
      }
    }
    ta.fail_after = -1;
    struct ArrowArray arr;
    finish_ok(&b, &arr);
    char* got = dump(&f, &arr);
    assert_string_equal(got, reference);
    free(got);
    release_array(&arr);
    hw_builder_release(&b);
    ta_done(&ta);
  }
  free(reference);
  hw_field_release(&f);
}

/* ================= fast paths and reserve ================= */

static void test_fast_paths_match_general(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field kids[] = {mk(HW_TYPE_INT64, "i64"), mk(HW_TYPE_INT32, "i32"), mk(HW_TYPE_FLOAT64, "f"),
                     mk(HW_TYPE_BOOL, "b"),    mk(HW_TYPE_UTF8, "s"),   mk_ts("t", HW_TIME_NANO, NULL),
                     mk(HW_TYPE_DATE32, "d"),  mk(HW_TYPE_BINARY, "bin")};
  hw_field f = mk_struct("", 8, kids);
  hw_builder fast, slow;
  init_builder(&fast, &f, &ta);
  init_builder(&slow, &f, &ta);
  for (int64_t r = 0; r < 3000; r++) {
    char s[32];
    int n = snprintf(s, sizeof s, "row%lld", (long long)r);
    bool null = r % 101 == 100 || (r > 2000 && r % 3 == 0);
    for (int c = 0; c < 8; c++) {
      if (null && c % 2 == 0) {
        assert_int_equal(hw_builder_append_null(&fast.children[c]), 0);
        assert_int_equal(hw_builder_append_null(&slow.children[c]), 0);
        continue;
      }
      switch (c) {
        case 0:
        case 5:
          assert_int_equal(hw_builder_append_int64_fast(&fast.children[c], r * 1000003), 0);
          assert_int_equal(hw_builder_append_int(&slow.children[c], r * 1000003), 0);
          break;
        case 1:
        case 6:
          assert_int_equal(hw_builder_append_int32_fast(&fast.children[c], (int32_t)(r - 1500)), 0);
          assert_int_equal(hw_builder_append_int(&slow.children[c], r - 1500), 0);
          break;
        case 2:
          assert_int_equal(hw_builder_append_float64_fast(&fast.children[c], (double)r / 8), 0);
          assert_int_equal(hw_builder_append_double(&slow.children[c], (double)r / 8), 0);
          break;
        case 3:
          assert_int_equal(hw_builder_append_bool_fast(&fast.children[c], r % 3 == 1), 0);
          assert_int_equal(hw_builder_append_bool(&slow.children[c], r % 3 == 1), 0);
          break;
        default:
          assert_int_equal(hw_builder_append_utf8_fast(&fast.children[c], s, r % 13 == 0 ? 0 : n), 0);
          assert_int_equal(hw_builder_append_bytes(&slow.children[c], s, r % 13 == 0 ? 0 : n), 0);
          break;
      }
    }
    assert_int_equal(hw_builder_close_struct(&fast), 0);
    assert_int_equal(hw_builder_close_struct(&slow), 0);
  }
  struct ArrowArray a1, a2;
  finish_ok(&fast, &a1);
  finish_ok(&slow, &a2);
  char* d1 = dump(&f, &a1);
  char* d2 = dump(&f, &a2);
  assert_string_equal(d1, d2);
  free(d1);
  free(d2);
  release_array(&a1);
  release_array(&a2);

  /* fast paths on a fresh (empty) builder and right after finish */
  assert_int_equal(hw_builder_append_utf8_fast(&fast.children[4], "abc", 3), 0);
  assert_int_equal(hw_builder_append_bool_fast(&fast.children[3], true), 0);
  hw_builder_release(&fast);
  hw_builder_release(&slow);
  hw_field_release(&f);
  ta_done(&ta);
}

static void test_reserve(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field kids[] = {mk(HW_TYPE_INT64, "a"), mk(HW_TYPE_UTF8, "s"), mk(HW_TYPE_BOOL, "b"),
                     mk(HW_TYPE_NULL, "n"), mk_list("l", mk(HW_TYPE_INT8, "element"))};
  hw_field f = mk_struct("", 5, kids);
  hw_builder b;
  init_builder(&b, &f, &ta);
  assert_int_equal(hw_builder_reserve(&b, 0), 0);
  assert_int_equal(hw_builder_reserve(&b, -3), 0);
  assert_int_equal(hw_builder_reserve(&b, 10000), 0);
  assert_int_equal(hw_builder_reserve(&b.children[1], 0), 0);
  int64_t calls = ta.calls;
  for (int64_t r = 0; r < 10000; r++) {
    assert_int_equal(hw_builder_append_int64_fast(&b.children[0], r), 0);
    assert_int_equal(hw_builder_append_utf8_fast(&b.children[1], "", 0), 0);
    assert_int_equal(hw_builder_append_bool_fast(&b.children[2], r & 1), 0);
    assert_int_equal(hw_builder_append_null(&b.children[3]), 0);
    assert_int_equal(hw_builder_close_list(&b.children[4]), 0);
    assert_int_equal(hw_builder_close_struct(&b), 0);
  }
  assert_int_equal(ta.calls, calls); /* no allocation after the reserve */
  struct ArrowArray arr;
  finish_ok(&b, &arr);
  check_array(&f, &arr);
  assert_int_equal(arr.length, 10000);
  assert_int_equal(offset_at(arr.children[1], 4, 10000), 0);
  release_array(&arr);

  /* reserve with nulls present reserves validity too; and reserve failure changes nothing */
  assert_int_equal(hw_builder_append_null(&b), 0);
  ta.fail_after = ta.calls;
  assert_int_equal(hw_builder_reserve(&b, 1000000), -1);
  assert_int_equal(b.length, 1);
  ta.fail_after = -1;
  assert_int_equal(hw_builder_reserve(&b, 100), 0);
  calls = ta.calls;
  for (int r = 0; r < 100; r++) {
    assert_int_equal(hw_builder_append_int(&b.children[0], r), 0);
    assert_int_equal(hw_builder_append_bytes(&b.children[1], "", 0), 0);
    assert_int_equal(hw_builder_append_bool(&b.children[2], true), 0);
    assert_int_equal(hw_builder_append_null(&b.children[3]), 0);
    assert_int_equal(hw_builder_append_null(&b.children[4]), 0);
    assert_int_equal(hw_builder_close_struct(&b), 0);
  }
  assert_int_equal(ta.calls, calls);
  finish_ok(&b, &arr);
  check_array(&f, &arr);
  release_array(&arr);
  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

/* A larger batch with pseudo-random nulls, checked value by value. */
static void test_large_batch(void** state) {
  (void)state;
  test_alloc ta;
  ta_init(&ta);
  hw_field f = mk(HW_TYPE_LARGE_UTF8, "s");
  hw_builder b;
  init_builder(&b, &f, &ta);
  uint32_t seed = 12345;
  const int64_t n = 200000;
  bool* nulls = malloc((size_t)n);
  assert_non_null(nulls);
  int64_t null_count = 0;
  for (int64_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    nulls[i] = (seed >> 16) % 10 == 0;
    if (nulls[i]) {
      assert_int_equal(hw_builder_append_null(&b), 0);
      null_count++;
    } else {
      char s[24];
      int len = snprintf(s, sizeof s, "%lld", (long long)i);
      assert_int_equal(hw_builder_append_bytes(&b, s, len), 0);
    }
  }
  struct ArrowArray arr;
  finish_ok(&b, &arr);
  check_array(&f, &arr);
  assert_int_equal(arr.null_count, null_count);
  const uint8_t* data = arr.buffers[2];
  for (int64_t i = 0; i < n; i++) {
    assert_int_equal(is_valid(&arr, i), !nulls[i]);
    if (!nulls[i]) {
      char s[24];
      int len = snprintf(s, sizeof s, "%lld", (long long)i);
      int64_t start = offset_at(&arr, 8, i);
      assert_int_equal(offset_at(&arr, 8, i + 1) - start, len);
      assert_memory_equal(data + start, s, (size_t)len);
    } else {
      assert_int_equal(offset_at(&arr, 8, i + 1), offset_at(&arr, 8, i));
    }
  }
  free(nulls);
  release_array(&arr);
  hw_builder_release(&b);
  hw_field_release(&f);
  ta_done(&ta);
}

static void test_heap_allocator_end_to_end(void** state) {
  (void)state;
  hw_field f = deep_field();
  hw_builder b;
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_builder_init(&b, &f, hw_allocator_heap(), &err), 0);
  build_deep_rows(&b);
  struct ArrowArray arr;
  assert_int_equal(hw_builder_finish(&b, &arr, &err), 0);
  assert_dump(&f, &arr, DEEP_EXPECT);
  arr.release(&arr);
  hw_builder_release(&b);
  hw_field_release(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_signed_ints),
      cmocka_unit_test(test_timestamps_every_unit),
      cmocka_unit_test(test_unsigned_ints),
      cmocka_unit_test(test_floats),
      cmocka_unit_test(test_bool),
      cmocka_unit_test(test_null_type),
      cmocka_unit_test(test_decimal128),
      cmocka_unit_test(test_var_size),
      cmocka_unit_test(test_empty_arrays_every_type),
      cmocka_unit_test(test_every_type_values_and_nulls),
      cmocka_unit_test(test_no_nulls_no_bitmap_and_backfill),
      cmocka_unit_test(test_struct_record_batch),
      cmocka_unit_test(test_struct_no_fields),
      cmocka_unit_test(test_list),
      cmocka_unit_test(test_map),
      cmocka_unit_test(test_nested_three_deep),
      cmocka_unit_test(test_two_batches_reuse),
      cmocka_unit_test(test_release_frees_everything),
      cmocka_unit_test(test_consumer_moves_child_out),
      cmocka_unit_test(test_wrong_kind_appends),
      cmocka_unit_test(test_offset_overflow_32bit),
      cmocka_unit_test(test_init_errors),
      cmocka_unit_test(test_struct_child_mismatch),
      cmocka_unit_test(test_alloc_failure_during_appends),
      cmocka_unit_test(test_alloc_failure_during_finish),
      cmocka_unit_test(test_failed_append_changes_nothing),
      cmocka_unit_test(test_fast_paths_match_general),
      cmocka_unit_test(test_reserve),
      cmocka_unit_test(test_large_batch),
      cmocka_unit_test(test_heap_allocator_end_to_end),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
