/* The Arrow C schema importer (hw_field_from_arrow, src/schema/arrow_schema.c): format strings,
 * names, flags and the binary metadata (int32 counts and lengths) of a schema that user code hands
 * over (a RecordBatch's schema, a pyarrow schema). Input: a tree, pre-order; per node a control
 * byte (bits 0-1: children, 2: metadata, 3: name, 4: nullable), the format string, NUL, the name,
 * NUL, then (with metadata) a pair count byte and each key and value NUL-terminated, made into a
 * well-formed, exactly sized metadata blob. What imports is exported and imported again to the same Spark type (same DDL). */
#include "fuzz_common.h"

#include "arrow/array.h"

typedef struct input {
  const uint8_t* p;
  size_t n;
} input;

static void release_node(struct ArrowSchema* s) {
  for (int64_t i = 0; i < s->n_children; i++) {
    if (s->children[i]) {
      release_node(s->children[i]);
      free(s->children[i]);
    }
  }
  free(s->children);
  free((void*)s->format);
  free((void*)s->name);
  free((void*)s->metadata);
  s->release = NULL;
}

static void build(input* in, struct ArrowSchema* s, int depth) {
  memset(s, 0, sizeof *s);
  uint8_t ctrl = in->n ? (in->n--, *in->p++) : 0;
  s->format = fuzz_take_cstring(&in->p, &in->n);
  char* name = fuzz_take_cstring(&in->p, &in->n);
  if (ctrl & 8) s->name = name;
  else free(name);
  s->flags = ctrl & 16 ? ARROW_FLAG_NULLABLE : 0;
  if (ctrl & 4) {
    /* well-formed metadata (the blob carries no size of its own: the producer vouches for its
     * lengths), exactly sized: a pair count byte, then each key and value NUL-terminated */
    int32_t n = in->n ? (in->n--, *in->p++ % 4) : 0;
    char* keys[4];
    char* values[4];
    size_t total = 4;
    for (int32_t i = 0; i < n; i++) {
      keys[i] = fuzz_take_cstring(&in->p, &in->n);
      values[i] = fuzz_take_cstring(&in->p, &in->n);
      total += 8 + strlen(keys[i]) + strlen(values[i]);
    }
    char* blob = malloc(total);
    size_t at = 0;
    memcpy(blob + at, &n, 4), at += 4;
    for (int32_t i = 0; i < n; i++) {
      char* parts[2] = {keys[i], values[i]};
      for (int j = 0; j < 2; j++) {
        int32_t len = (int32_t)strlen(parts[j]);
        memcpy(blob + at, &len, 4), at += 4;
        memcpy(blob + at, parts[j], (size_t)len), at += (size_t)len;
        free(parts[j]);
      }
    }
    s->metadata = blob;
  }
  s->release = release_node;
  int64_t n = depth < HW_MAX_NESTING + 2 ? ctrl & 3 : 0;
  if (n) {
    s->children = calloc((size_t)n, sizeof *s->children);
    s->n_children = n;
    for (int64_t i = 0; i < n; i++) {
      s->children[i] = malloc(sizeof(struct ArrowSchema));
      build(in, s->children[i], depth + 1);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  input in = {data, size};
  struct ArrowSchema schema;
  build(&in, &schema, 0);
  hw_error err;
  hw_error_init(&err);
  hw_field f;
  if (hw_field_from_arrow(&schema, &f, &err) == 0) {
    struct ArrowSchema back;
    if (hw_field_to_arrow(&f, &back, &err) == 0) {
      hw_field again;
      FUZZ_CHECK(hw_field_from_arrow(&back, &again, &err) == 0);
      /* the same Spark type (the export names a map's anonymous key/value fields "key"/"value",
       * so the trees may differ there) */
      char *d1 = NULL, *d2 = NULL;
      if (hw_ddl_render(&f, &d1, &err) == 0) {
        FUZZ_CHECK(hw_ddl_render(&again, &d2, &err) == 0 && strcmp(d1, d2) == 0);
        hw_free(d1);
        hw_free(d2);
      }
      hw_field_release(&again);
      hw_schema_release(&back);
    }
    char* ddl = NULL;
    if (hw_ddl_render(&f, &ddl, &err) == 0) hw_free(ddl);
    hw_field_release(&f);
  }
  schema.release(&schema);
  return 0;
}
