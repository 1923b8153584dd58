/*
 * Writes rows a C program makes itself (an int64 column "id", 0..N-1, in batches of 1000) to a Python
 * data source's writer through headwater's C API: one write task per native stream, then commit.
 *
 *   write_rows FORMAT N [key=value ...]      e.g. write_rows parquet 100000 path=/tmp/out
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "headwater.h"

/* ---- a minimal Arrow producer: struct<id: int64> batches */
typedef struct producer {
  int64_t next, end;
} producer;

static void release_schema(struct ArrowSchema* s) {
  for (int64_t i = 0; i < s->n_children; i++) free(s->children[i]);
  free(s->children);
  s->release = NULL;
}

static void make_schema(struct ArrowSchema* out) {
  struct ArrowSchema* id = calloc(1, sizeof *id);
  *id = (struct ArrowSchema){.format = "l", .name = "id", .release = release_schema};
  *out = (struct ArrowSchema){.format = "+s", .name = "", .n_children = 1, .release = release_schema};
  out->children = malloc(sizeof *out->children);
  out->children[0] = id;
}

static void release_array(struct ArrowArray* a) {
  if (a->n_children) { /* the struct: its child owns the values */
    a->children[0]->release(a->children[0]);
    free(a->children[0]);
    free(a->children);
  } else {
    free((void*)a->buffers[1]);
  }
  free(a->buffers);
  a->release = NULL;
}

static int get_schema(struct ArrowArrayStream* s, struct ArrowSchema* out) {
  (void)s;
  make_schema(out);
  return 0;
}

static int get_next(struct ArrowArrayStream* s, struct ArrowArray* out) {
  producer* p = s->private_data;
  if (p->next >= p->end) {
    out->release = NULL; /* end of stream */
    return 0;
  }
  int64_t n = p->end - p->next < 1000 ? p->end - p->next : 1000;
  int64_t* values = malloc(sizeof *values * (size_t)n);
  for (int64_t i = 0; i < n; i++) values[i] = p->next + i;
  p->next += n;
  struct ArrowArray* id = calloc(1, sizeof *id);
  *id = (struct ArrowArray){.length = n, .n_buffers = 2, .release = release_array};
  id->buffers = calloc(2, sizeof(void*));
  id->buffers[1] = values;
  *out = (struct ArrowArray){.length = n, .n_buffers = 1, .n_children = 1, .release = release_array};
  out->buffers = calloc(1, sizeof(void*));
  out->children = malloc(sizeof *out->children);
  out->children[0] = id;
  return 0;
}

static const char* last_error(struct ArrowArrayStream* s) {
  (void)s;
  return NULL;
}

static void release_stream(struct ArrowArrayStream* s) {
  free(s->private_data);
  s->release = NULL;
}

static void make_stream(int64_t start, int64_t end, struct ArrowArrayStream* out) {
  producer* p = malloc(sizeof *p);
  *p = (producer){start, end};
  *out = (struct ArrowArrayStream){get_schema, get_next, last_error, release_stream, p};
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s FORMAT N [key=value ...]\n", argv[0]);
    return 2;
  }
  int64_t rows = atoll(argv[2]);
  int n = argc - 3;
  const char** keys = calloc((size_t)n + 1, sizeof *keys);
  const char** values = calloc((size_t)n + 1, sizeof *values);
  for (int i = 0; i < n; i++) {
    char* eq = strchr(argv[i + 3], '=');
    if (eq) *eq = '\0';
    keys[i] = argv[i + 3];
    values[i] = eq ? eq + 1 : "";
  }
  hw_error err;
  hw_error_init(&err);
  hw_runtime_options opts;
  hw_runtime_options_init(&opts);
  opts.python_path = getenv("HEADWATER_PYTHONPATH");
  hw_runtime* rt;
  if (hw_runtime_new(&opts, &rt, &err) != 0) {
    fprintf(stderr, "error: %s: %s\n", err.error_class, err.message);
    return 1;
  }
  struct ArrowSchema schema;
  make_schema(&schema);
  hw_writer* w = NULL;
  int rc = 1;
  if (hw_writer_open(rt, argv[1], keys, values, n, "overwrite", &schema, &w, &err) == 0) {
    rc = 0;
    for (int task = 0; task < 2 && rc == 0; task++) { /* two tasks: the halves of the rows */
      struct ArrowArrayStream s;
      make_stream(task * rows / 2, (task + 1) * rows / 2, &s);
      if (hw_writer_write(w, &s, &err) != 0) rc = 1;
    }
    if (rc == 0 && hw_writer_commit(w, &err) != 0) rc = 1;
    if (rc != 0) {
      hw_error ignored;
      hw_writer_abort(w, &ignored);
    }
  }
  if (rc != 0) fprintf(stderr, "error: %s: %s\n%s", err.error_class, err.message, err.traceback);
  else printf("wrote %lld rows in 2 tasks\n", (long long)rows);
  schema.release(&schema);
  hw_writer_free(w);
  hw_runtime_free(rt);
  free(keys);
  free(values);
  return rc;
}
