#include "arrow/allocator.h"

#include <stdlib.h>
#include <string.h>

static void* heap_allocate(void* ctx, size_t size) {
  (void)ctx;
  /* aligned_alloc needs a multiple of the alignment, and a non-zero size */
  size_t rounded = (size + HW_BUFFER_ALIGNMENT - 1) & ~(size_t)(HW_BUFFER_ALIGNMENT - 1);
  if (rounded == 0) rounded = HW_BUFFER_ALIGNMENT;
  if (rounded < size) return NULL; /* overflow */
  return aligned_alloc(HW_BUFFER_ALIGNMENT, rounded);
}

static void* heap_reallocate(void* ctx, void* ptr, size_t old_size, size_t new_size) {
  /* realloc would lose the alignment: allocate, copy, free */
  void* fresh = heap_allocate(ctx, new_size);
  if (!fresh) return NULL;
  if (ptr) {
    memcpy(fresh, ptr, old_size < new_size ? old_size : new_size);
    free(ptr);
  }
  return fresh;
}

static void heap_deallocate(void* ctx, void* ptr, size_t size) {
  (void)ctx;
  (void)size;
  free(ptr);
}

static const hw_allocator heap_allocator = {heap_allocate, heap_reallocate, heap_deallocate, NULL};

const hw_allocator* hw_allocator_heap(void) { return &heap_allocator; }
