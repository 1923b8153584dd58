/* Unit tests of hw_buffer and hw_bitmap (src/arrow/buffer.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arrow/allocator.h"
#include "arrow/buffer.h"

/* ---- a counting allocator that can be told to fail ---- */

typedef struct test_alloc {
  hw_allocator base;
  int64_t fail_after; /* allocate/reallocate calls that succeed before every later one fails; -1 = never */
  int64_t calls;
  int64_t live;       /* blocks not yet deallocated */
  int64_t live_bytes;
} test_alloc;

static void* ta_allocate(void* ctx, size_t size) {
  test_alloc* a = ctx;
  if (a->fail_after >= 0 && a->calls >= a->fail_after) return NULL;
  a->calls++;
  void* p = hw_allocator_heap()->allocate(NULL, size);
  if (p) {
    a->live++;
    a->live_bytes += (int64_t)size;
  }
  return p;
}

static void* ta_reallocate(void* ctx, void* ptr, size_t old_size, size_t new_size) {
  test_alloc* a = ctx;
  if (a->fail_after >= 0 && a->calls >= a->fail_after) return NULL;
  a->calls++;
  void* p = hw_allocator_heap()->reallocate(NULL, ptr, old_size, new_size);
  if (p) a->live_bytes += (int64_t)new_size - (int64_t)old_size;
  return p;
}

static void ta_deallocate(void* ctx, void* ptr, size_t size) {
  test_alloc* a = ctx;
  if (!ptr) return;
  a->live--;
  a->live_bytes -= (int64_t)size;
  hw_allocator_heap()->deallocate(NULL, ptr, size);
}

static void ta_init(test_alloc* a, int64_t fail_after) {
  a->base.allocate = ta_allocate;
  a->base.reallocate = ta_reallocate;
  a->base.deallocate = ta_deallocate;
  a->base.ctx = a;
  a->fail_after = fail_after;
  a->calls = 0;
  a->live = 0;
  a->live_bytes = 0;
}

/* ---- hw_buffer ---- */

static void test_heap_allocator_alignment(void** state) {
  (void)state;
  const hw_allocator* heap = hw_allocator_heap();
  size_t sizes[] = {0, 1, 63, 64, 65, 1000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    void* p = heap->allocate(heap->ctx, sizes[i]);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % HW_BUFFER_ALIGNMENT, 0);
    memset(p, 0xab, sizes[i]);
    p = heap->reallocate(heap->ctx, p, sizes[i], sizes[i] * 2 + 8);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % HW_BUFFER_ALIGNMENT, 0);
    for (size_t j = 0; j < sizes[i]; j++) assert_int_equal(((uint8_t*)p)[j], 0xab);
    heap->deallocate(heap->ctx, p, sizes[i] * 2 + 8);
  }
  heap->deallocate(heap->ctx, NULL, 0);
}

static void test_buffer_init_and_reset(void** state) {
  (void)state;
  test_alloc a;
  ta_init(&a, -1);
  hw_buffer buf;
  hw_buffer_init(&buf, &a.base);
  assert_null(buf.data);
  assert_int_equal(buf.size, 0);
  assert_int_equal(buf.capacity, 0);
  assert_ptr_equal(buf.allocator, &a.base);
  hw_buffer_reset(&buf); /* no-op on an empty buffer */
  assert_int_equal(a.live, 0);
  assert_int_equal(hw_buffer_append(&buf, "abc", 3), 0);
  assert_int_equal(a.live, 1);
  hw_buffer_reset(&buf);
  assert_int_equal(a.live, 0);
  assert_null(buf.data);
  assert_int_equal(buf.size, 0);
  assert_int_equal(buf.capacity, 0);
  assert_ptr_equal(buf.allocator, &a.base);
}

static void test_buffer_geometric_growth(void** state) {
  (void)state;
  test_alloc a;
  ta_init(&a, -1);
  hw_buffer buf;
  hw_buffer_init(&buf, &a.base);
  int64_t last_cap = 0;
  int grows = 0;
  for (int64_t i = 0; i < 100000; i++) {
    int64_t v = i * 7;
    assert_int_equal(hw_buffer_append(&buf, &v, sizeof v), 0);
    if (buf.capacity != last_cap) {
      if (last_cap) assert_true(buf.capacity >= 2 * last_cap);
      last_cap = buf.capacity;
      grows++;
    }
  }
  assert_int_equal(buf.size, 800000);
  assert_true(buf.capacity >= buf.size);
  assert_true(grows <= 15); /* 64 bytes doubling to 1 MiB: 15 capacities */
  assert_int_equal(a.calls, grows);
  for (int64_t i = 0; i < 100000; i++) {
    int64_t v;
    memcpy(&v, buf.data + i * 8, 8);
    assert_int_equal(v, i * 7);
  }
  assert_int_equal((uintptr_t)buf.data % HW_BUFFER_ALIGNMENT, 0);
  hw_buffer_reset(&buf);
  assert_int_equal(a.live, 0);
  assert_int_equal(a.live_bytes, 0);
}

static void test_buffer_reserve_and_zeros(void** state) {
  (void)state;
  test_alloc a;
  ta_init(&a, -1);
  hw_buffer buf;
  hw_buffer_init(&buf, &a.base);
  assert_int_equal(hw_buffer_reserve(&buf, 0), 0);
  assert_int_equal(a.calls, 0); /* reserving nothing on an empty buffer allocates nothing */
  assert_int_equal(hw_buffer_reserve(&buf, 1000), 0);
  assert_true(buf.capacity >= 1000);
  assert_int_equal(buf.size, 0);
  int64_t calls = a.calls;
  assert_int_equal(hw_buffer_append_zeros(&buf, 1000), 0);
  assert_int_equal(a.calls, calls); /* no growth after a reserve */
  for (int i = 0; i < 1000; i++) assert_int_equal(buf.data[i], 0);
  assert_int_equal(hw_buffer_append(&buf, NULL, 0), 0);
  assert_int_equal(hw_buffer_append_zeros(&buf, 0), 0);
  assert_int_equal(buf.size, 1000);
  assert_int_equal(hw_buffer_grow(&buf, -1), -1);
  hw_buffer_reset(&buf);
  assert_int_equal(a.live, 0);
}

static void test_buffer_take(void** state) {
  (void)state;
  test_alloc a;
  ta_init(&a, -1);
  hw_buffer buf;
  hw_buffer_init(&buf, &a.base);

  /* an empty buffer still yields a valid pointer */
  int64_t cap = -1;
  uint8_t* p = hw_buffer_take(&buf, &cap);
  assert_non_null(p);
  assert_true(cap > 0);
  assert_int_equal(a.live, 1);
  a.base.deallocate(a.base.ctx, p, (size_t)cap);
  assert_int_equal(a.live, 0);

  assert_int_equal(hw_buffer_append(&buf, "hello", 5), 0);
  int64_t cap_before = buf.capacity;
  p = hw_buffer_take(&buf, &cap);
  assert_non_null(p);
  assert_int_equal(cap, cap_before);
  assert_memory_equal(p, "hello", 5);
  assert_null(buf.data);
  assert_int_equal(buf.size, 0);
  assert_int_equal(buf.capacity, 0);
  assert_ptr_equal(buf.allocator, &a.base);
  a.base.deallocate(a.base.ctx, p, (size_t)cap);
  assert_int_equal(a.live_bytes, 0);

  /* size_out may be NULL */
  assert_int_equal(hw_buffer_append(&buf, "x", 1), 0);
  cap_before = buf.capacity;
  p = hw_buffer_take(&buf, NULL);
  assert_non_null(p);
  a.base.deallocate(a.base.ctx, p, (size_t)cap_before);

  /* failure to allocate for an empty take: NULL, buffer still empty */
  a.fail_after = a.calls;
  assert_null(hw_buffer_take(&buf, &cap));
  assert_null(buf.data);
  assert_int_equal(a.live, 0);
}

static void test_buffer_growth_failure_keeps_contents(void** state) {
  (void)state;
  test_alloc a;
  ta_init(&a, -1);
  hw_buffer buf;
  hw_buffer_init(&buf, &a.base);
  for (int i = 0; i < 64; i++) assert_int_equal(hw_buffer_append(&buf, &i, 1), 0);
  assert_int_equal(buf.capacity, 64);
  a.fail_after = a.calls; /* every further allocation fails */
  uint8_t* before = buf.data;
  assert_int_equal(hw_buffer_append(&buf, "z", 1), -1);
  assert_int_equal(hw_buffer_append_zeros(&buf, 10), -1);
  assert_int_equal(hw_buffer_reserve(&buf, 1), -1);
  assert_ptr_equal(buf.data, before);
  assert_int_equal(buf.size, 64);
  assert_int_equal(buf.capacity, 64);
  for (int i = 0; i < 64; i++) assert_int_equal(buf.data[i], i);
  /* appends within capacity still work */
  hw_buffer_reset(&buf);
  assert_int_equal(a.live, 0);

  /* first allocation failing leaves an empty buffer */
  assert_int_equal(hw_buffer_append(&buf, "a", 1), -1);
  assert_null(buf.data);
  assert_int_equal(buf.capacity, 0);
}

/* ---- hw_bitmap ---- */

static void check_bitmap(const hw_bitmap* bm, const bool* expect, int64_t n) {
  assert_int_equal(bm->length, n);
  assert_int_equal(bm->bytes.size, (n + 7) / 8);
  for (int64_t i = 0; i < n; i++) assert_int_equal(hw_bitmap_get(bm->bytes.data, i), expect[i]);
  /* bits past the length are zero */
  for (int64_t i = n; i < bm->bytes.size * 8; i++) assert_int_equal(hw_bitmap_get(bm->bytes.data, i), 0);
}

static void test_bitmap_append_single(void** state) {
  (void)state;
  test_alloc a;
  ta_init(&a, -1);
  hw_bitmap bm;
  hw_bitmap_init(&bm, &a.base);
  bool expect[200];
  for (int i = 0; i < 200; i++) {
    expect[i] = (i % 3 == 0) || (i % 7 == 1);
    assert_int_equal(hw_bitmap_append(&bm, expect[i]), 0);
  }
  check_bitmap(&bm, expect, 200);
  /* LSB-first bit order, as Arrow specifies: 0b...1001 for bits 1,0,0,1 */
  assert_int_equal(bm.bytes.data[0] & 0x0f, 0x0b); /* bits 0 (i%3), 1 (i%7==1), 3 (i%3) */
  hw_bitmap_reset(&bm);
  assert_int_equal(bm.length, 0);
  assert_int_equal(a.live, 0);
}

static void test_bitmap_append_n_across_boundaries(void** state) {
  (void)state;
  test_alloc a;
  ta_init(&a, -1);
  /* every start offset 0..17 and run length 0..40, both bit values, then a trailing single bit */
  for (int start = 0; start <= 17; start++) {
    for (int n = 0; n <= 40; n++) {
      for (int bit = 0; bit <= 1; bit++) {
        hw_bitmap bm;
        hw_bitmap_init(&bm, &a.base);
        bool expect[64];
        int64_t len = 0;
        for (int i = 0; i < start; i++) {
          expect[len] = (i & 1) != 0;
          assert_int_equal(hw_bitmap_append(&bm, expect[len]), 0);
          len++;
        }
        assert_int_equal(hw_bitmap_append_n(&bm, bit != 0, n), 0);
        for (int i = 0; i < n; i++) expect[len++] = bit != 0;
        assert_int_equal(hw_bitmap_append(&bm, !bit), 0);
        expect[len++] = !bit;
        check_bitmap(&bm, expect, len);
        hw_bitmap_reset(&bm);
      }
    }
  }
  assert_int_equal(a.live, 0);
}

static void test_bitmap_append_n_large_and_zero(void** state) {
  (void)state;
  test_alloc a;
  ta_init(&a, -1);
  hw_bitmap bm;
  hw_bitmap_init(&bm, &a.base);
  assert_int_equal(hw_bitmap_append_n(&bm, true, 0), 0);
  assert_int_equal(hw_bitmap_append_n(&bm, true, -5), 0);
  assert_int_equal(bm.length, 0);
  assert_int_equal(a.calls, 0);
  assert_int_equal(hw_bitmap_append_n(&bm, true, 3), 0);
  assert_int_equal(hw_bitmap_append_n(&bm, false, 10000), 0);
  assert_int_equal(hw_bitmap_append_n(&bm, true, 100001), 0);
  assert_int_equal(bm.length, 3 + 10000 + 100001);
  for (int64_t i = 0; i < bm.length; i++) {
    bool want = i < 3 || i >= 10003;
    if (hw_bitmap_get(bm.bytes.data, i) != want) fail_msg("bit %lld", (long long)i);
  }
  assert_int_equal(bm.bytes.size, (bm.length + 7) / 8);
  hw_bitmap_reset(&bm);
  assert_int_equal(a.live, 0);
}

static void test_bitmap_failure(void** state) {
  (void)state;
  test_alloc a;
  ta_init(&a, 0); /* nothing can be allocated */
  hw_bitmap bm;
  hw_bitmap_init(&bm, &a.base);
  assert_int_equal(hw_bitmap_append(&bm, true), -1);
  assert_int_equal(hw_bitmap_append_n(&bm, true, 9), -1);
  assert_int_equal(bm.length, 0);
  a.fail_after = -1;
  assert_int_equal(hw_bitmap_append_n(&bm, true, 512), 0); /* fills the 64-byte first block */
  a.fail_after = a.calls;
  assert_int_equal(hw_bitmap_append(&bm, true), -1);
  assert_int_equal(hw_bitmap_append_n(&bm, false, 3), -1);
  assert_int_equal(bm.length, 512);
  hw_bitmap_reset(&bm);
  assert_int_equal(a.live, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_heap_allocator_alignment),
      cmocka_unit_test(test_buffer_init_and_reset),
      cmocka_unit_test(test_buffer_geometric_growth),
      cmocka_unit_test(test_buffer_reserve_and_zeros),
      cmocka_unit_test(test_buffer_take),
      cmocka_unit_test(test_buffer_growth_failure_keeps_contents),
      cmocka_unit_test(test_bitmap_append_single),
      cmocka_unit_test(test_bitmap_append_n_across_boundaries),
      cmocka_unit_test(test_bitmap_append_n_large_and_zero),
      cmocka_unit_test(test_bitmap_failure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
