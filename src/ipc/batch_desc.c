/* Batch descriptors (ipc/wire.h): where each buffer of each node of a batch lies in a worker's
 * region; written by the worker, checked in full by the host before it touches any byte. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "ipc/wire.h"

/* ---------------------------------------------------------------- batch layout */

typedef enum { BUF_VALIDITY, BUF_BITS, BUF_FIXED, BUF_OFFSETS, BUF_DATA } buf_kind;

/* Buffers of a type, in C Data Interface order, and the width of fixed values / offsets. */
static int layout(const hw_field* f, buf_kind kinds[3], int* width) {
  *width = 0;
  switch (f->type) {
    case HW_TYPE_NULL: return 0;
    case HW_TYPE_BOOL: kinds[0] = BUF_VALIDITY, kinds[1] = BUF_BITS; return 2;
    case HW_TYPE_INT8: case HW_TYPE_UINT8: *width = 1; break;
    case HW_TYPE_INT16: case HW_TYPE_UINT16: *width = 2; break;
    case HW_TYPE_INT32: case HW_TYPE_UINT32: case HW_TYPE_FLOAT32: case HW_TYPE_DATE32: *width = 4; break;
    case HW_TYPE_INT64: case HW_TYPE_UINT64: case HW_TYPE_FLOAT64: case HW_TYPE_TIMESTAMP: *width = 8; break;
    case HW_TYPE_DECIMAL128: *width = 16; break;
    case HW_TYPE_UTF8: case HW_TYPE_BINARY:
      *width = 4, kinds[0] = BUF_VALIDITY, kinds[1] = BUF_OFFSETS, kinds[2] = BUF_DATA;
      return 3;
    case HW_TYPE_LARGE_UTF8: case HW_TYPE_LARGE_BINARY:
      *width = 8, kinds[0] = BUF_VALIDITY, kinds[1] = BUF_OFFSETS, kinds[2] = BUF_DATA;
      return 3;
    case HW_TYPE_LIST: case HW_TYPE_MAP: *width = 4, kinds[0] = BUF_VALIDITY, kinds[1] = BUF_OFFSETS; return 2;
    case HW_TYPE_STRUCT: kinds[0] = BUF_VALIDITY; return 1;
  }
  kinds[0] = BUF_VALIDITY, kinds[1] = BUF_FIXED;
  return 2;
}

static int expected_children(const hw_field* f) {
  return f->type == HW_TYPE_LIST || f->type == HW_TYPE_MAP ? 1 : f->type == HW_TYPE_STRUCT ? f->n_children : 0;
}

/* Last offset (end of the data / child range) of a var-size or list node. */
static int64_t last_offset(const void* offsets, int width, int64_t index) {
  if (width == 8) {
    int64_t v;
    memcpy(&v, (const uint8_t*)offsets + 8 * index, 8);
    return v;
  }
  int32_t v;
  memcpy(&v, (const uint8_t*)offsets + 4 * index, 4);
  return v;
}

/* Bytes a buffer must have for a node of `end` = offset + length slots. */
static int64_t needed(buf_kind k, int width, int64_t end, const void* offsets) {
  switch (k) {
    case BUF_VALIDITY:
    case BUF_BITS: return (end + 7) / 8;
    case BUF_FIXED: return end * width;
    case BUF_OFFSETS: return (end + 1) * width;
    case BUF_DATA: return offsets ? last_offset(offsets, width, end) : 0;
  }
  return 0;
}

int64_t hw_array_bytes(const hw_field* f, const struct ArrowArray* a) {
  buf_kind kinds[3];
  int width;
  int n = layout(f, kinds, &width);
  if (!a || a->n_buffers != n || a->n_children != expected_children(f)) return 0;
  int64_t end = a->offset + a->length, total = 0;
  const void* offsets = NULL;
  for (int i = 0; i < n; i++) {
    if (kinds[i] == BUF_OFFSETS) offsets = a->buffers[i];
    if (a->buffers[i]) total += needed(kinds[i], width, end, offsets);
  }
  for (int64_t i = 0; i < a->n_children; i++)
    total += hw_array_bytes(f->type == HW_TYPE_STRUCT ? &f->children[i] : &f->children[0], a->children[i]);
  return total;
}

/* ---------------------------------------------------------------- encode (worker) */

static int encode_node(const hw_field* f, const struct ArrowArray* a, hw_region* r, hw_wbuf* out, int depth,
                       hw_error* err) {
  if (depth > HW_MAX_NESTING) return hw_error_set(err, "HW_INTERNAL", "batch nesting too deep");
  buf_kind kinds[3];
  int width;
  int n = layout(f, kinds, &width);
  if (a->n_buffers != n || a->n_children != expected_children(f))
    return hw_error_set(err, "HW_INTERNAL", "a batch does not have its type's layout");
  int64_t end = a->offset + a->length;
  hw_wbuf_put_i64(out, a->length);
  hw_wbuf_put_i64(out, a->null_count);
  hw_wbuf_put_i64(out, a->offset);
  hw_wbuf_put_i64(out, n);
  const void* offsets = NULL;
  for (int i = 0; i < n; i++) {
    const uint8_t* p = a->buffers[i];
    if (kinds[i] == BUF_OFFSETS) offsets = p;
    if (!p) {
      hw_wbuf_put_i64(out, -1);
      hw_wbuf_put_i64(out, 0);
      continue;
    }
    int64_t len = needed(kinds[i], width, end, offsets);
    int64_t at;
    if (p >= r->base && p < r->base + r->capacity && (size_t)(p - r->base) + (size_t)len <= r->capacity) {
      at = p - r->base; /* built in the region: nothing to copy */
    } else {
      at = hw_region_copy_in(r, p, (size_t)len); /* a RecordBatch from user code: one memcpy */
      if (at < 0) return hw_error_set(err, "HW_SHM", "a batch does not fit in a shared-memory region");
    }
    hw_wbuf_put_i64(out, at);
    hw_wbuf_put_i64(out, len);
  }
  hw_wbuf_put_i64(out, a->n_children);
  for (int64_t i = 0; i < a->n_children; i++) {
    const hw_field* child = f->type == HW_TYPE_STRUCT ? &f->children[i] : &f->children[0];
    if (encode_node(child, a->children[i], r, out, depth + 1, err) != 0) return -1;
  }
  return 0;
}

int hw_batch_encode(const hw_field* schema, const struct ArrowArray* batch, hw_region* region, hw_wbuf* out,
                    hw_error* err) {
  if (encode_node(schema, batch, region, out, 0, err) != 0) return -1;
  return out->failed ? hw_error_oom(err) : 0;
}

/* ---------------------------------------------------------------- decode (host) */

/* One decoded node: the ArrowArray and what its pointers point to, in one allocation. */
typedef struct node {
  struct ArrowArray array;
  const void* buffers[3];
  struct ArrowArray** children;
} node;

/* The decoded tree: one block of nodes, alive while any node is. Every node holds a reference, so
 * a consumer may move a child out and release the parent (as the C Data Interface allows); the
 * region goes back to the worker when the last node is released. */
typedef struct decoded {
  void (*on_release)(void* token);
  void* token;
  node* nodes; /* all nodes, pre-order */
  int64_t n_nodes;
  atomic_int_fast64_t refs;
} decoded;

static void free_decoded(decoded* d) {
  for (int64_t i = 0; i < d->n_nodes; i++) free(d->nodes[i].children);
  free(d->nodes);
  if (d->on_release) d->on_release(d->token);
  free(d);
}

static void release_node(struct ArrowArray* array) {
  decoded* d = array->private_data;
  for (int64_t i = 0; i < array->n_children; i++)
    if (array->children[i]->release) array->children[i]->release(array->children[i]);
  array->release = NULL;
  if (atomic_fetch_sub(&d->refs, 1) == 1) free_decoded(d);
}

static int bad(hw_error* err, const char* what) {
  return hw_error_set(err, "HW_MALFORMED_BATCH", "a worker sent a malformed batch descriptor: %s", what);
}

static int decode_node(const hw_field* f, hw_rbuf* in, const hw_region* r, decoded* d, int64_t capacity_nodes,
                       int64_t* at, int depth, hw_error* err) {
  if (depth > HW_MAX_NESTING || *at >= capacity_nodes) return bad(err, "too many nodes");
  node* nd = &d->nodes[(*at)++];
  d->n_nodes = *at;
  struct ArrowArray* a = &nd->array;
  a->length = hw_rbuf_i64(in);
  a->null_count = hw_rbuf_i64(in);
  a->offset = hw_rbuf_i64(in);
  int64_t n = hw_rbuf_i64(in);
  buf_kind kinds[3];
  int width;
  int want = layout(f, kinds, &width);
  if (in->failed || a->length < 0 || a->offset < 0 || a->length > INT64_MAX / 16 - a->offset ||
      a->null_count < -1 || a->null_count > a->length || n != want)
    return bad(err, "node header");
  int64_t end = a->offset + a->length;
  const void* offsets = NULL;
  for (int i = 0; i < n; i++) {
    int64_t off = hw_rbuf_i64(in), len = hw_rbuf_i64(in);
    if (in->failed) return bad(err, "buffer list");
    if (off == -1) {
      /* only the validity buffer may be absent, and then there are no nulls */
      if (kinds[i] != BUF_VALIDITY || a->null_count > 0) return bad(err, "missing buffer");
      nd->buffers[i] = NULL;
      continue;
    }
    if (off < 0 || len < 0 || (uint64_t)off > r->capacity || (uint64_t)len > r->capacity - (uint64_t)off)
      return bad(err, "buffer outside its region");
    const uint8_t* p = r->base + off;
    if (kinds[i] == BUF_OFFSETS) {
      if (len < needed(BUF_OFFSETS, width, end, NULL)) return bad(err, "offsets buffer too short");
      offsets = p;
    } else if (len < needed(kinds[i], width, end, offsets)) {
      return bad(err, "buffer too short");
    }
    nd->buffers[i] = p;
  }
  if (offsets) {
    /* offsets must rise and stay inside the data (or child) they index */
    int64_t prev = last_offset(offsets, width, a->offset);
    if (prev < 0) return bad(err, "negative offset");
    for (int64_t k = a->offset + 1; k <= end; k++) {
      int64_t v = last_offset(offsets, width, k);
      if (v < prev) return bad(err, "offsets decrease");
      prev = v;
    }
  }
  int64_t n_children = hw_rbuf_i64(in);
  if (in->failed || n_children != expected_children(f)) return bad(err, "children");
  a->n_buffers = n;
  a->buffers = nd->buffers;
  a->n_children = n_children;
  a->release = release_node;
  a->private_data = d;
  if (n_children > 0) {
    nd->children = calloc((size_t)n_children, sizeof *nd->children);
    if (!nd->children) return hw_error_oom(err);
    a->children = nd->children;
  }
  for (int64_t i = 0; i < n_children; i++) {
    const hw_field* cf = f->type == HW_TYPE_STRUCT ? &f->children[i] : &f->children[0];
    int64_t child_at = *at;
    if (decode_node(cf, in, r, d, capacity_nodes, at, depth + 1, err) != 0) return -1;
    /* nodes never move (sized for the whole tree up front), so a and child stay valid */
    struct ArrowArray* child = &d->nodes[child_at].array;
    a->children[i] = child;
    /* the child's own length must cover what the parent indexes: for a struct its logical rows
     * [0, offset + length), for a list the element range up to the last offset */
    if (f->type == HW_TYPE_STRUCT) {
      if (child->length < end) return bad(err, "struct child too short");
    } else {
      int64_t last = last_offset(offsets, width, end);
      if (child->length < last) return bad(err, "list child too short");
    }
  }
  return 0;
}

static int64_t count_nodes(const hw_field* f) {
  int64_t n = 1;
  for (int32_t i = 0; i < f->n_children; i++) n += count_nodes(&f->children[i]);
  return n;
}

int hw_batch_decode(const hw_field* schema, const uint8_t* desc, size_t len, const hw_region* region,
                    void (*on_release)(void* token), void* token, struct ArrowArray* out, hw_error* err) {
  int64_t capacity = count_nodes(schema);
  decoded* d = calloc(1, sizeof *d);
  node* nodes = calloc((size_t)capacity, sizeof *nodes);
  if (!d || !nodes) {
    free(d);
    free(nodes);
    return hw_error_oom(err);
  }
  d->nodes = nodes;
  hw_rbuf in = {desc, len, 0, 0};
  int64_t at = 0;
  int rc = decode_node(schema, &in, region, d, capacity, &at, 0, err);
  if (rc == 0 && in.pos != in.size) rc = bad(err, "trailing bytes");
  if (rc != 0) {
    d->on_release = NULL;
    free_decoded(d);
    return -1;
  }
  atomic_init(&d->refs, d->n_nodes);
  d->on_release = on_release;
  d->token = token;
  /* the root is handed out by value; it keeps its reference like every other node */
  *out = nodes[0].array;
  nodes[0].array.release = NULL;
  return 0;
}
