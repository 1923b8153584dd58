/* Tests of shared-memory regions (src/ipc/shm.h): memfd regions, the region arena allocator,
 * copy-in, builders writing batches straight into a region, and read-only attachment of a
 * region by a second mapping (what the host does with a worker's memfd). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arrow/allocator.h"
#include "arrow/array.h"
#include "arrow/builder.h"
#include "common/error.h"
#include "ipc/shm.h"
#include "schema/field.h"

/* ---------------------------------------------------------------- helpers */

static void region_new(hw_region* r, int32_t id) {
  hw_error err;
  hw_error_init(&err);
  if (hw_region_create(r, id, &err) != 0) fail_msg("hw_region_create: [%s] %s", err.error_class, err.message);
}

static bool fd_is_open(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

static bool aligned64(const void* p) { return ((uintptr_t)p % HW_BUFFER_ALIGNMENT) == 0; }

static bool inside(const hw_region* r, const void* p, size_t n) {
  const uint8_t* q = p;
  return q >= r->base && q <= r->base + r->capacity && n <= (size_t)(r->base + r->capacity - q);
}

/* ---------------------------------------------------------------- regions */

static void test_region_create_destroy(void** state) {
  (void)state;
  hw_region r;
  region_new(&r, 3);
  assert_int_equal(r.id, 3);
  assert_true(r.fd >= 0);
  assert_non_null(r.base);
  assert_true(aligned64(r.base));
  assert_true(r.capacity == HW_REGION_CAPACITY);
  assert_int_equal(r.used, 0);
  assert_false(r.in_flight);

  /* the memfd is sized to the capacity (sparse) and close-on-exec */
  struct stat st;
  assert_int_equal(fstat(r.fd, &st), 0);
  assert_true((uint64_t)st.st_size == (uint64_t)HW_REGION_CAPACITY);
  assert_true(fcntl(r.fd, F_GETFD) & FD_CLOEXEC);

  /* the whole capacity is mapped read-write: first and last byte */
  r.base[0] = 0x5A;
  r.base[r.capacity - 1] = 0xA5;
  assert_int_equal(r.base[0], 0x5A);
  assert_int_equal(r.base[r.capacity - 1], 0xA5);
  /* the mapping is of the memfd: the bytes are in the file */
  uint8_t b = 0;
  assert_int_equal(pread(r.fd, &b, 1, (off_t)(r.capacity - 1)), 1);
  assert_int_equal(b, 0xA5);

  int fd = r.fd;
  hw_region_destroy(&r);
  assert_null(r.base);
  assert_int_equal(r.fd, -1);
  assert_false(fd_is_open(fd));
  hw_region_destroy(&r); /* twice is harmless */
  assert_null(r.base);
}

static void test_region_several(void** state) {
  (void)state;
  /* a few 4 GiB regions at once cost only address space */
  hw_region rs[4];
  for (int i = 0; i < 4; i++) region_new(&rs[i], i);
  for (int i = 0; i < 4; i++) {
    assert_int_equal(rs[i].id, i);
    rs[i].base[12345] = (uint8_t)(i + 1);
    for (int j = 0; j < i; j++) {
      assert_true(rs[i].base != rs[j].base);
      assert_true(rs[i].fd != rs[j].fd);
    }
  }
  for (int i = 0; i < 4; i++) assert_int_equal(rs[i].base[12345], i + 1);
  for (int i = 0; i < 4; i++) hw_region_destroy(&rs[i]);
}

/* ---------------------------------------------------------------- the arena allocator */

static void test_allocator_no_region(void** state) {
  (void)state;
  hw_region_allocator ra;
  hw_region_allocator_init(&ra);
  const hw_allocator* a = &ra.allocator;
  assert_ptr_equal(a->ctx, &ra);
  assert_null(ra.current);
  assert_null(a->allocate(a->ctx, 64));
  assert_null(a->reallocate(a->ctx, NULL, 0, 64));
  a->deallocate(a->ctx, NULL, 0);
}

static void test_allocator_alignment(void** state) {
  (void)state;
  hw_region r;
  region_new(&r, 0);
  hw_region_allocator ra;
  hw_region_allocator_init(&ra);
  ra.current = &r;
  const hw_allocator* a = &ra.allocator;

  static const size_t sizes[] = {1, 3, 0, 64, 65, 100, 127, 128, 129, 4096, 7, 1 << 20, 63};
  const size_t n = sizeof sizes / sizeof sizes[0];
  uint8_t* ptrs[sizeof sizes / sizeof sizes[0]];
  for (size_t i = 0; i < n; i++) {
    ptrs[i] = a->allocate(a->ctx, sizes[i]);
    assert_non_null(ptrs[i]);
    assert_true(aligned64(ptrs[i]));
    assert_true(inside(&r, ptrs[i], sizes[i] ? sizes[i] : 1));
    /* r.used is the end of the latest allocation */
    assert_true(r.base + r.used == ptrs[i] + (sizes[i] ? sizes[i] : 1));
    if (i > 0) {
      /* bump allocation: each one after the previous, with no overlap */
      size_t prev = sizes[i - 1] ? sizes[i - 1] : 1;
      assert_true(ptrs[i] >= ptrs[i - 1] + prev);
      assert_true(ptrs[i] < ptrs[i - 1] + prev + HW_BUFFER_ALIGNMENT);
    }
    memset(ptrs[i], (int)(i + 1), sizes[i]);
  }
  /* nothing overwrote anything else */
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < sizes[i]; k += 1 + sizes[i] / 17) assert_int_equal(ptrs[i][k], (uint8_t)(i + 1));
  for (size_t i = 0; i < n; i++) a->deallocate(a->ctx, ptrs[i], sizes[i]); /* a no-op */
  hw_region_destroy(&r);
}

static void test_allocator_realloc_last_grows_in_place(void** state) {
  (void)state;
  hw_region r;
  region_new(&r, 0);
  hw_region_allocator ra;
  hw_region_allocator_init(&ra);
  ra.current = &r;
  const hw_allocator* a = &ra.allocator;

  uint8_t* first = a->allocate(a->ctx, 10);
  uint8_t* p = a->allocate(a->ctx, 100);
  assert_non_null(first);
  assert_non_null(p);
  for (int i = 0; i < 100; i++) p[i] = (uint8_t)i;
  size_t at = (size_t)(p - r.base);

  uint8_t* q = a->reallocate(a->ctx, p, 100, 1000);
  assert_ptr_equal(q, p);
  assert_int_equal(r.used, at + 1000);
  for (int i = 0; i < 100; i++) assert_int_equal(q[i], (uint8_t)i);

  /* the same size again stays put too */
  assert_ptr_equal(a->reallocate(a->ctx, q, 1000, 1000), p);
  assert_int_equal(r.used, at + 1000);

  /* grow the last allocation up to the very end of the region (pages are only touched on use) */
  size_t to_end = r.capacity - at;
  assert_ptr_equal(a->reallocate(a->ctx, q, 1000, to_end), p);
  assert_true(r.used == r.capacity);
  /* one byte more does not fit: NULL, and the allocation is still as it was */
  assert_null(a->reallocate(a->ctx, q, to_end, to_end + 1));
  assert_true(r.used == r.capacity);
  for (int i = 0; i < 100; i++) assert_int_equal(q[i], (uint8_t)i);
  /* and nothing else fits either */
  assert_null(a->allocate(a->ctx, 1));
  assert_true(r.used == r.capacity);
  hw_region_destroy(&r);
}

static void test_allocator_realloc_other_moves(void** state) {
  (void)state;
  hw_region r;
  region_new(&r, 0);
  hw_region_allocator ra;
  hw_region_allocator_init(&ra);
  ra.current = &r;
  const hw_allocator* a = &ra.allocator;

  uint8_t* p = a->allocate(a->ctx, 100);
  for (int i = 0; i < 100; i++) p[i] = (uint8_t)(3 * i + 1);
  uint8_t* other = a->allocate(a->ctx, 50);
  memset(other, 0xEE, 50);
  size_t used_before = r.used;

  uint8_t* q = a->reallocate(a->ctx, p, 100, 300);
  assert_non_null(q);
  assert_true(q != p);
  assert_true(aligned64(q));
  assert_true(q >= other + 50); /* a fresh allocation after everything else */
  assert_true(r.used > used_before);
  for (int i = 0; i < 100; i++) assert_int_equal(q[i], (uint8_t)(3 * i + 1));
  for (int i = 0; i < 50; i++) assert_int_equal(other[i], 0xEE); /* untouched */

  /* shrinking keeps the first new_size bytes (wherever they end up) */
  uint8_t* s = a->reallocate(a->ctx, other, 50, 20);
  assert_non_null(s);
  assert_true(aligned64(s));
  for (int i = 0; i < 20; i++) assert_int_equal(s[i], 0xEE);

  /* a moving reallocate that does not fit fails and leaves the old block as it was */
  r.used = r.capacity - 10;
  assert_null(a->reallocate(a->ctx, q, 100, 300));
  for (int i = 0; i < 100; i++) assert_int_equal(q[i], (uint8_t)(3 * i + 1));

  /* reallocate of NULL is an allocation */
  r.used = 0;
  uint8_t* fresh = a->reallocate(a->ctx, NULL, 0, 70);
  assert_ptr_equal(fresh, r.base);
  assert_int_equal(r.used, 70);
  hw_region_destroy(&r);
}

static void test_allocator_too_big(void** state) {
  (void)state;
  hw_region r;
  region_new(&r, 0);
  hw_region_allocator ra;
  hw_region_allocator_init(&ra);
  ra.current = &r;
  const hw_allocator* a = &ra.allocator;
  assert_null(a->allocate(a->ctx, HW_REGION_CAPACITY + 1));
  assert_null(a->allocate(a->ctx, SIZE_MAX));
  assert_null(a->allocate(a->ctx, SIZE_MAX - 63)); /* would wrap when aligned */
  assert_int_equal(r.used, 0);
  /* the exact capacity fits an empty arena */
  assert_ptr_equal(a->allocate(a->ctx, HW_REGION_CAPACITY), r.base);
  assert_true(r.used == r.capacity);
  assert_null(a->allocate(a->ctx, 1));
  /* alignment padding past the end does not wrap around */
  r.used = r.capacity - 1;
  assert_null(a->allocate(a->ctx, 1));
  hw_region_destroy(&r);
}

static void test_allocator_switch_regions(void** state) {
  (void)state;
  hw_region r1, r2;
  region_new(&r1, 1);
  region_new(&r2, 2);
  hw_region_allocator ra;
  hw_region_allocator_init(&ra);
  const hw_allocator* a = &ra.allocator;
  ra.current = &r1;
  void* p1 = a->allocate(a->ctx, 10);
  ra.current = &r2;
  void* p2 = a->allocate(a->ctx, 10);
  assert_ptr_equal(p1, r1.base);
  assert_ptr_equal(p2, r2.base);
  assert_int_equal(r1.used, 10);
  assert_int_equal(r2.used, 10);
  hw_region_destroy(&r1);
  hw_region_destroy(&r2);
}

static void test_reset(void** state) {
  (void)state;
  hw_region r;
  region_new(&r, 0);
  hw_region_allocator ra;
  hw_region_allocator_init(&ra);
  ra.current = &r;
  const hw_allocator* a = &ra.allocator;
  uint8_t* p = a->allocate(a->ctx, 1000);
  assert_ptr_equal(p, r.base);
  (void)a->allocate(a->ctx, 1000);
  assert_true(r.used > 1000);
  r.in_flight = true;

  hw_region_reset(&r);
  assert_int_equal(r.used, 0);
  assert_false(r.in_flight);
  assert_non_null(r.base); /* still mapped */
  assert_true(r.fd >= 0);
  /* the arena starts from the beginning again */
  assert_ptr_equal(a->allocate(a->ctx, 5), r.base);
  assert_int_equal(r.used, 5);
  hw_region_destroy(&r);
}

/* ---------------------------------------------------------------- copy-in */

static void test_copy_in(void** state) {
  (void)state;
  hw_region r;
  region_new(&r, 0);
  uint8_t src[300];
  for (int i = 0; i < 300; i++) src[i] = (uint8_t)(i * 7);

  int64_t o1 = hw_region_copy_in(&r, src, 3);
  assert_int_equal(o1, 0);
  int64_t o2 = hw_region_copy_in(&r, src, 300);
  assert_int_equal(o2, 64); /* the next aligned offset */
  int64_t o3 = hw_region_copy_in(&r, src, 0);
  assert_true(o3 >= o2 + 300);
  assert_int_equal(o3 % HW_BUFFER_ALIGNMENT, 0);
  assert_true((size_t)o3 < r.used); /* an empty copy still takes a byte: distinct offsets */
  int64_t o4 = hw_region_copy_in(&r, NULL, 0);
  assert_true(o4 > o3);
  assert_memory_equal(r.base + o1, src, 3);
  assert_memory_equal(r.base + o2, src, 300);

  /* what does not fit: -1 and the arena is unchanged */
  r.used = r.capacity - 100;
  assert_int_equal(hw_region_copy_in(&r, src, 300), -1);
  assert_true(r.used == r.capacity - 100);
  /* exactly to the end still fits (after alignment) */
  r.used = r.capacity - 128;
  int64_t o5 = hw_region_copy_in(&r, src, 128);
  assert_true((size_t)o5 == r.capacity - 128);
  assert_true(r.used == r.capacity);
  assert_memory_equal(r.base + o5, src, 128);
  assert_int_equal(hw_region_copy_in(&r, src, 1), -1);
  hw_region_destroy(&r);
}

/* ---------------------------------------------------------------- builders in a region */

/* Every buffer of every node of a lies in [base, base + used). */
static void assert_buffers_inside(const hw_region* r, const struct ArrowArray* a, int depth) {
  assert_true(depth < 100);
  for (int64_t i = 0; i < a->n_buffers; i++) {
    const uint8_t* p = a->buffers[i];
    if (!p) continue;
    if (!(p >= r->base && p < r->base + r->used))
      fail_msg("buffer %lld at depth %d (%p) is outside the region [%p, %p)", (long long)i, depth, (const void*)p,
               (const void*)r->base, (const void*)(r->base + r->used));
    assert_true(aligned64(p));
  }
  for (int64_t i = 0; i < a->n_children; i++) assert_buffers_inside(r, a->children[i], depth + 1);
}

static int64_t count_buffers(const struct ArrowArray* a) {
  int64_t n = 0;
  for (int64_t i = 0; i < a->n_buffers; i++) n += a->buffers[i] != NULL;
  for (int64_t i = 0; i < a->n_children; i++) n += count_buffers(a->children[i]);
  return n;
}

static void test_builder_in_region(void** state) {
  (void)state;
  hw_error err;
  hw_error_init(&err);
  hw_field schema;
  assert_int_equal(hw_ddl_parse("a INT, b STRING, c ARRAY<BIGINT>, d STRUCT<x: DOUBLE, y: BOOLEAN>, "
                                "e MAP<STRING, INT>, f DECIMAL(20, 2)",
                                &schema, &err),
                   0);
  hw_region r;
  region_new(&r, 0);
  hw_region_allocator ra;
  hw_region_allocator_init(&ra);
  ra.current = &r;
  hw_builder b;
  assert_int_equal(hw_builder_init(&b, &schema, &ra.allocator, &err), 0);

  for (int row = 0; row < 1000; row++) {
    hw_builder* c = b.children;
    if (row % 7 == 3) {
      for (int k = 0; k < 6; k++) assert_int_equal(hw_builder_append_null(&c[k]), 0);
    } else {
      char s[32];
      int n = snprintf(s, sizeof s, "value %d", row);
      assert_int_equal(hw_builder_append_int(&c[0], row), 0);
      assert_int_equal(hw_builder_append_bytes(&c[1], s, n), 0);
      for (int k = 0; k < row % 4; k++) assert_int_equal(hw_builder_append_int(&c[2].children[0], row * 10 + k), 0);
      assert_int_equal(hw_builder_close_list(&c[2]), 0);
      assert_int_equal(hw_builder_append_double(&c[3].children[0], row / 3.0), 0);
      assert_int_equal(hw_builder_append_bool(&c[3].children[1], row & 1), 0);
      assert_int_equal(hw_builder_close_struct(&c[3]), 0);
      hw_builder* entries = &c[4].children[0];
      for (int k = 0; k < row % 3; k++) {
        assert_int_equal(hw_builder_append_bytes(&entries->children[0], "k", 1), 0);
        assert_int_equal(hw_builder_append_int(&entries->children[1], k), 0);
        assert_int_equal(hw_builder_close_struct(entries), 0);
      }
      assert_int_equal(hw_builder_close_list(&c[4]), 0);
      assert_int_equal(hw_builder_append_decimal128(&c[5], (uint64_t)row, 0), 0);
    }
    assert_int_equal(hw_builder_close_struct(&b), 0);
  }
  struct ArrowArray batch;
  assert_int_equal(hw_builder_finish(&b, &batch, &err), 0);
  assert_int_equal(batch.length, 1000);
  assert_true(r.used > 0);
  assert_true(count_buffers(&batch) >= 14);
  assert_buffers_inside(&r, &batch, 0);

  /* spot-check the values through the region's memory */
  const int32_t* ints = batch.children[0]->buffers[1];
  assert_int_equal(ints[999], 999);
  const int32_t* offs = batch.children[1]->buffers[1];
  const char* chars = batch.children[1]->buffers[2];
  assert_memory_equal(chars + offs[1], "value 1", 7);

  /* releasing gives nothing back (the arena is reset as a whole) */
  size_t used = r.used;
  hw_array_release(&batch);
  assert_int_equal(r.used, used);
  hw_region_reset(&r);

  /* the builder is reusable: a second batch starts again at the region's beginning */
  assert_int_equal(hw_builder_append_int(&b.children[0], 1), 0);
  for (int k = 1; k < 6; k++) assert_int_equal(hw_builder_append_null(&b.children[k]), 0);
  assert_int_equal(hw_builder_close_struct(&b), 0);
  assert_int_equal(hw_builder_finish(&b, &batch, &err), 0);
  assert_int_equal(batch.length, 1);
  assert_buffers_inside(&r, &batch, 0);
  assert_true(r.used < used);
  hw_array_release(&batch);

  /* a region too full for the batch: appends fail cleanly */
  hw_region_reset(&r);
  r.used = r.capacity - 8;
  int failures = 0;
  for (int row = 0; row < 100 && !failures; row++) failures += hw_builder_append_int(&b.children[0], row) != 0;
  assert_true(failures > 0);
  hw_builder_release(&b);
  hw_field_release(&schema);
  hw_region_destroy(&r);
}

/* ---------------------------------------------------------------- attach */

/* The permissions of the mapping that starts at p, from /proc/self/maps ("r--s", ...). */
static void mapping_perms(const void* p, char perms[5]) {
  FILE* f = fopen("/proc/self/maps", "r");
  assert_non_null(f);
  char line[512];
  perms[0] = '\0';
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char pm[5];
    if (sscanf(line, "%lx-%lx %4s", &lo, &hi, pm) == 3 && lo == (unsigned long)(uintptr_t)p) {
      memcpy(perms, pm, 5);
      break;
    }
  }
  fclose(f);
}

static void test_attach_sees_same_bytes(void** state) {
  (void)state;
  hw_region w; /* the worker's */
  region_new(&w, 4);
  const char msg[] = "headwater shares this";
  memcpy(w.base + 100, msg, sizeof msg);
  w.base[w.capacity - 1] = 0x77;

  int fd = dup(w.fd);
  assert_true(fd >= 0);
  hw_region h; /* the host's */
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_region_attach(&h, 4, fd, w.capacity, &err), 0);
  assert_int_equal(h.id, 4);
  assert_int_equal(h.fd, -1); /* the descriptor was taken over and closed */
  assert_false(fd_is_open(fd));
  assert_true(h.capacity == w.capacity);
  assert_int_equal(h.used, 0);
  assert_non_null(h.base);
  assert_true(h.base != w.base);

  /* the same bytes, and what the worker writes later too */
  assert_memory_equal(h.base + 100, msg, sizeof msg);
  assert_int_equal(h.base[h.capacity - 1], 0x77);
  w.base[5000] = 42;
  assert_int_equal(h.base[5000], 42);
  memcpy(w.base + 100, "H", 1);
  assert_int_equal(h.base[100], 'H');

  /* read-only, shared */
  char perms[5];
  mapping_perms(h.base, perms);
  assert_string_equal(perms, "r--s");
  mapping_perms(w.base, perms);
  assert_string_equal(perms, "rw-s");

  /* the worker's region is unaffected by the host letting go */
  hw_region_destroy(&h);
  assert_null(h.base);
  assert_int_equal(w.base[5000], 42);
  assert_true(fd_is_open(w.fd));
  hw_region_destroy(&w);
}

static void test_attach_after_worker_closed(void** state) {
  (void)state;
  /* the host's mapping outlives the worker's fd and mapping */
  hw_region w;
  region_new(&w, 0);
  memcpy(w.base + 64, "persist", 7);
  int fd = dup(w.fd);
  hw_region_destroy(&w);
  hw_region h;
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_region_attach(&h, 0, fd, HW_REGION_CAPACITY, &err), 0);
  assert_memory_equal(h.base + 64, "persist", 7);
  hw_region_destroy(&h);
}

static void test_attach_errors(void** state) {
  (void)state;
  hw_error err;
  hw_error_init(&err);
  hw_region h;
  /* not a mappable file: an error, and the fd is closed anyway */
  int p[2];
  assert_int_equal(pipe(p), 0);
  assert_int_equal(hw_region_attach(&h, 1, p[0], 4096, &err), -1);
  assert_string_equal(err.error_class, "HW_SHM");
  assert_true(strlen(err.message) > 0);
  assert_null(h.base);
  assert_int_equal(h.fd, -1);
  assert_false(fd_is_open(p[0]));
  close(p[1]);

  /* a descriptor opened write-only cannot be mapped for reading */
  hw_error_init(&err);
  hw_region w;
  region_new(&w, 0);
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", w.fd);
  int wo = open(path, O_WRONLY);
  assert_true(wo >= 0);
  assert_int_equal(hw_region_attach(&h, 1, wo, 4096, &err), -1);
  assert_string_equal(err.error_class, "HW_SHM");
  assert_false(fd_is_open(wo));
  hw_region_destroy(&w);

  /* destroy of a failed attach is harmless */
  hw_region_destroy(&h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_region_create_destroy),
      cmocka_unit_test(test_region_several),
      cmocka_unit_test(test_allocator_no_region),
      cmocka_unit_test(test_allocator_alignment),
      cmocka_unit_test(test_allocator_realloc_last_grows_in_place),
      cmocka_unit_test(test_allocator_realloc_other_moves),
      cmocka_unit_test(test_allocator_too_big),
      cmocka_unit_test(test_allocator_switch_regions),
      cmocka_unit_test(test_reset),
      cmocka_unit_test(test_copy_in),
      cmocka_unit_test(test_builder_in_region),
      cmocka_unit_test(test_attach_sees_same_bytes),
      cmocka_unit_test(test_attach_after_worker_closed),
      cmocka_unit_test(test_attach_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
