/*
 * Where Arrow buffers come from. Builders and buffers allocate only through
 * an hw_allocator, so the same builder code writes to the heap (in the host)
 * or into a shared-memory region (in a worker process).
 */
#ifndef HW_ARROW_ALLOCATOR_H
#define HW_ARROW_ALLOCATOR_H

#include <stddef.h>

#define HW_BUFFER_ALIGNMENT 64 /* Arrow's recommended alignment */

typedef struct hw_allocator {
  /* Returns HW_BUFFER_ALIGNMENT-aligned memory of at least size bytes, or NULL. */
  void* (*allocate)(void* ctx, size_t size);
  /* Grows or shrinks ptr (from allocate, of old_size bytes) keeping its contents; NULL on failure
   * (ptr is then still valid). */
  void* (*reallocate)(void* ctx, void* ptr, size_t old_size, size_t new_size);
  /* Frees ptr (NULL is ignored); size is what it was allocated with. */
  void (*deallocate)(void* ctx, void* ptr, size_t size);
  void* ctx;
} hw_allocator;

/* The process heap. Static, never freed. */
const hw_allocator* hw_allocator_heap(void);

#endif
