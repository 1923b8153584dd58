#include "arrow/array.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

void hw_array_move(struct ArrowArray* src, struct ArrowArray* dst) {
  memcpy(dst, src, sizeof *dst);
  src->release = NULL;
}

void hw_stream_move(struct ArrowArrayStream* src, struct ArrowArrayStream* dst) {
  memcpy(dst, src, sizeof *dst);
  src->release = NULL;
}

void hw_array_release(struct ArrowArray* array) {
  if (array && array->release) array->release(array);
}

void hw_schema_release(struct ArrowSchema* schema) {
  if (schema && schema->release) schema->release(schema);
}

void hw_stream_release(struct ArrowArrayStream* stream) {
  if (stream && stream->release) stream->release(stream);
}

struct hw_shared_array {
  struct ArrowArray array;
  atomic_int_fast64_t refs;
};

hw_shared_array* hw_shared_array_new(struct ArrowArray* array) {
  hw_shared_array* shared = malloc(sizeof *shared);
  if (!shared) return NULL;
  hw_array_move(array, &shared->array);
  atomic_init(&shared->refs, 1);
  return shared;
}

int64_t hw_shared_array_length(const hw_shared_array* shared) { return shared->array.length; }

void hw_shared_array_unref(hw_shared_array* shared) {
  if (!shared) return;
  if (atomic_fetch_sub_explicit(&shared->refs, 1, memory_order_acq_rel) == 1) {
    hw_array_release(&shared->array);
    free(shared);
  }
}

/* A view is a shallow copy of the shared array's top level (same buffer and child pointers, which
 * stay owned by the shared array); its release only drops a reference.
 *
 * A sliced record batch (a struct array with no validity of its own) carries the slice in its
 * children instead of its own offset: consumers such as pyarrow import a batch's columns without
 * applying the parent's offset, so each column gets a shallow copy with the offset added. */
typedef struct view_private {
  hw_shared_array* shared;
  struct ArrowArray* columns;  /* sliced copies of the children, or NULL */
  struct ArrowArray** column_ptrs;
} view_private;

static void release_column(struct ArrowArray* column) { column->release = NULL; }

static void release_view(struct ArrowArray* view) {
  view_private* p = view->private_data;
  hw_shared_array_unref(p->shared);
  free(p->columns);
  free(p->column_ptrs);
  free(p);
  view->release = NULL;
}

static int64_t sliced_null_count(const struct ArrowArray* a, int64_t offset, int64_t length) {
  if (a->null_count == 0) return 0;
  if (offset == 0 && length == a->length) return a->null_count;
  return -1; /* unknown: consumers count */
}

int hw_shared_array_view(hw_shared_array* shared, int64_t offset, int64_t length, struct ArrowArray* out,
                         hw_error* err) {
  const struct ArrowArray* a = &shared->array;
  if (offset < 0 || length < 0 || offset > a->length || length > a->length - offset)
    return hw_error_set(err, "HW_INVALID_ARGUMENT", "slice [%lld, %lld) is outside an array of %lld rows",
                        (long long)offset, (long long)(offset + length), (long long)a->length);
  view_private* p = calloc(1, sizeof *p);
  if (!p) return hw_error_oom(err);
  bool batch_like = a->n_buffers == 1 && a->buffers[0] == NULL && a->n_children > 0;
  memcpy(out, a, sizeof *out);
  if (batch_like) {
    p->columns = calloc((size_t)a->n_children, sizeof *p->columns);
    p->column_ptrs = calloc((size_t)a->n_children, sizeof *p->column_ptrs);
    if (!p->columns || !p->column_ptrs) {
      free(p->columns);
      free(p->column_ptrs);
      free(p);
      return hw_error_oom(err);
    }
    for (int64_t i = 0; i < a->n_children; i++) {
      const struct ArrowArray* child = a->children[i];
      struct ArrowArray* column = &p->columns[i];
      memcpy(column, child, sizeof *column);
      column->offset = child->offset + a->offset + offset;
      column->length = length;
      column->null_count = sliced_null_count(child, a->offset + offset, length);
      column->release = release_column;
      column->private_data = NULL;
      p->column_ptrs[i] = column;
    }
    out->children = p->column_ptrs;
    out->offset = 0;
  } else {
    out->offset = a->offset + offset;
    out->null_count = sliced_null_count(a, offset, length);
  }
  out->length = length;
  atomic_fetch_add_explicit(&shared->refs, 1, memory_order_relaxed);
  p->shared = shared;
  out->release = release_view;
  out->private_data = p;
  return 0;
}

/* The rebuilt array keeps src alive in its private data; its children pointers are src's,
 * permuted, or replacements it owns. */
typedef struct rebuilt_private {
  struct ArrowArray src;
  struct ArrowArray** children;
  struct ArrowArray* replacements; /* n entries; release == NULL where src's child is used */
  int64_t n;
} rebuilt_private;

static void release_rebuilt(struct ArrowArray* array) {
  rebuilt_private* p = array->private_data;
  for (int64_t i = 0; i < p->n; i++) hw_array_release(&p->replacements[i]);
  hw_array_release(&p->src);
  free(p->replacements);
  free(p->children);
  free(p);
  array->release = NULL;
}

int hw_array_rebuild_children(struct ArrowArray* src, const int64_t* order, struct ArrowArray* replacements,
                              int64_t n, struct ArrowArray* out, hw_error* err) {
  rebuilt_private* p = calloc(1, sizeof *p);
  struct ArrowArray** children = calloc((size_t)(n > 0 ? n : 1), sizeof *children);
  struct ArrowArray* owned = calloc((size_t)(n > 0 ? n : 1), sizeof *owned);
  int64_t bad = -1;
  for (int64_t i = 0; i < n && bad < 0; i++)
    if (order[i] < 0 || order[i] >= src->n_children) bad = i;
  if (!p || !children || !owned || bad >= 0) {
    free(p);
    free(children);
    free(owned);
    for (int64_t i = 0; replacements && i < n; i++) hw_array_release(&replacements[i]);
    hw_array_release(src);
    return bad >= 0 ? hw_error_set(err, "HW_INVALID_ARGUMENT", "child %lld does not exist", (long long)order[bad])
                    : hw_error_oom(err);
  }
  for (int64_t i = 0; i < n; i++) {
    if (replacements && replacements[i].release) {
      hw_array_move(&replacements[i], &owned[i]);
      children[i] = &owned[i];
    } else {
      children[i] = src->children[order[i]];
    }
  }
  hw_array_move(src, &p->src);
  p->children = children;
  p->replacements = owned;
  p->n = n;
  memcpy(out, &p->src, sizeof *out);
  out->n_children = n;
  out->children = children;
  out->release = release_rebuilt;
  out->private_data = p;
  return 0;
}
