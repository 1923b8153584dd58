#include "ipc/shm.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

int hw_region_create(hw_region* r, int32_t id, hw_error* err) {
  memset(r, 0, sizeof *r);
  r->fd = memfd_create("headwater-batch", MFD_CLOEXEC);
  if (r->fd < 0) return hw_error_set(err, "HW_SHM", "memfd_create failed: %s", strerror(errno));
  fchmod(r->fd, 0600); /* owner only, though a memfd has no name another user could open */
  if (ftruncate(r->fd, (off_t)HW_REGION_CAPACITY) != 0) {
    int e = errno;
    close(r->fd);
    r->fd = -1;
    return hw_error_set(err, "HW_SHM", "sizing a shared-memory region failed: %s", strerror(e));
  }
  void* base = mmap(NULL, HW_REGION_CAPACITY, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, r->fd, 0);
  if (base == MAP_FAILED) {
    int e = errno;
    close(r->fd);
    r->fd = -1;
    return hw_error_set(err, "HW_SHM", "mapping a shared-memory region failed: %s", strerror(e));
  }
  r->id = id;
  r->base = base;
  r->capacity = HW_REGION_CAPACITY;
  return 0;
}

int hw_region_attach(hw_region* r, int32_t id, int fd, size_t capacity, hw_error* err) {
  memset(r, 0, sizeof *r);
  r->fd = fd;
  /* the host only reads batches: a read-only mapping keeps a broken worker from corrupting ours */
  void* base = mmap(NULL, capacity, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, 0);
  if (base == MAP_FAILED) {
    int e = errno;
    close(fd);
    r->fd = -1;
    return hw_error_set(err, "HW_SHM", "mapping a worker's shared-memory region failed: %s", strerror(e));
  }
  close(fd); /* the mapping outlives the descriptor: keep no fd per region */
  r->fd = -1;
  r->id = id;
  r->base = base;
  r->capacity = capacity;
  return 0;
}

void hw_region_destroy(hw_region* r) {
  if (r->base) munmap(r->base, r->capacity);
  if (r->fd >= 0) close(r->fd);
  r->base = NULL;
  r->fd = -1;
}

void hw_region_reset(hw_region* r) {
  r->used = 0;
  r->in_flight = 0;
}

static void* arena_take(hw_region* r, size_t size) {
  size_t start = (r->used + HW_BUFFER_ALIGNMENT - 1) & ~(size_t)(HW_BUFFER_ALIGNMENT - 1);
  if (start > r->capacity || size > r->capacity - start) return NULL;
  r->used = start + size;
  return r->base + start;
}

static void* region_allocate(void* ctx, size_t size) {
  hw_region_allocator* ra = ctx;
  return ra->current ? arena_take(ra->current, size ? size : 1) : NULL;
}

static void* region_reallocate(void* ctx, void* ptr, size_t old_size, size_t new_size) {
  hw_region_allocator* ra = ctx;
  hw_region* r = ra->current;
  if (!r) return NULL;
  /* the last allocation grows in place; anything else moves (the old space is reclaimed when the
   * region is reset) */
  if (ptr && (uint8_t*)ptr + old_size == r->base + r->used && new_size >= old_size) {
    size_t offset = (size_t)((uint8_t*)ptr - r->base);
    if (new_size <= r->capacity - offset) {
      r->used = offset + new_size;
      return ptr;
    }
    return NULL;
  }
  void* fresh = arena_take(r, new_size);
  if (fresh && ptr) memcpy(fresh, ptr, old_size < new_size ? old_size : new_size);
  return fresh;
}

static void region_deallocate(void* ctx, void* ptr, size_t size) {
  (void)ctx;
  (void)ptr;
  (void)size; /* the whole arena is reset when the host hands the region back */
}

void hw_region_allocator_init(hw_region_allocator* ra) {
  ra->allocator.allocate = region_allocate;
  ra->allocator.reallocate = region_reallocate;
  ra->allocator.deallocate = region_deallocate;
  ra->allocator.ctx = ra;
  ra->current = NULL;
}

int64_t hw_region_copy_in(hw_region* r, const void* src, size_t n) {
  uint8_t* dst = arena_take(r, n ? n : 1);
  if (!dst) return -1;
  if (n) memcpy(dst, src, n);
  return (int64_t)(dst - r->base);
}
