/*
 * Shared-memory regions for moving Arrow batches from worker processes to the
 * host without copying. A region is an anonymous memfd (never a named file
 * another user could open), mapped by both sides. A worker builds one batch per
 * region through the region's arena allocator; the host maps the region and
 * wraps the batch's buffers in place; when the host releases the batch the
 * region goes back to the worker, which resets the arena and reuses it.
 */
#ifndef HW_IPC_SHM_H
#define HW_IPC_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arrow/allocator.h"
#include "headwater.h"

/* Virtual size of a region: its pages only cost memory once touched. One batch must fit. */
#define HW_REGION_CAPACITY ((size_t)4 << 30)

/* A worker packs batches into its current region, one after the other, until this many bytes are
 * used; then the next batch goes to a region whose batches were all released (or a new one). So
 * 100k small held batches take a handful of regions (and mappings), and a big batch still gets a
 * region (almost) to itself. */
#define HW_REGION_PACK_BYTES ((size_t)8 << 20)

typedef struct hw_region {
  int32_t id;
  int fd;          /* memfd; -1 once closed */
  uint8_t* base;   /* mapping of `capacity` bytes */
  size_t capacity;
  size_t used;     /* arena bump offset */
  int64_t in_flight; /* worker side: batches in it the host has not released (many small batches share
                        a region, so held batches do not cost one mapping each) */
} hw_region;

/* Creates a region (memfd + ftruncate + shared mapping). */
int hw_region_create(hw_region* r, int32_t id, hw_error* err);

/* Maps a region received from a worker, read-only (fd is taken over and closed once mapped). */
int hw_region_attach(hw_region* r, int32_t id, int fd, size_t capacity, hw_error* err);

/* Unmaps and closes. */
void hw_region_destroy(hw_region* r);

/* Empties the arena (the batch it held is dead). */
void hw_region_reset(hw_region* r);

/* An allocator whose memory comes from *current's arena; switching *current switches regions.
 * The allocator struct must stay at a fixed address while in use. */
typedef struct hw_region_allocator {
  hw_allocator allocator; /* first member: pass &ra->allocator */
  hw_region* current;
} hw_region_allocator;

void hw_region_allocator_init(hw_region_allocator* ra);

/* Copies n bytes into the current region's arena; returns the offset, or -1 when it does not fit. */
int64_t hw_region_copy_in(hw_region* r, const void* src, size_t n);

#endif
