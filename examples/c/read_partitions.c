/*
 * Reads a Python data source through headwater's C API, one partition per native thread, and prints
 * each partition's row count and a checksum (the sum of the first column, an integer column).
 * No Python code of its own: headwater embeds the interpreter.
 *
 *   read_partitions FORMAT [key=value ...]
 *   e.g. read_partitions examples.trades_source:TradesSource rows=100000
 *
 * Environment: HEADWATER_VENV (the virtual environment headwater is installed in; default: the one
 * libheadwater lives in), HEADWATER_PYTHONPATH (extra import paths for the source's module).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "headwater.h"

typedef struct part {
  hw_query* q;
  int64_t index, rows, checksum;
  hw_error err;
  int failed;
} part;

static int64_t column_sum(const struct ArrowArray* col, const char* format) {
  int64_t s = 0;
  for (int64_t i = 0; i < col->length; i++) {
    int64_t at = i + col->offset;
    if (!strcmp(format, "l")) s += ((const int64_t*)col->buffers[1])[at];
    else if (!strcmp(format, "i")) s += ((const int32_t*)col->buffers[1])[at];
  }
  return s;
}

static void* read_partition(void* arg) { /* runs on a thread Python never saw */
  part* p = arg;
  hw_error_init(&p->err);
  struct ArrowArrayStream stream;
  if (hw_query_execute_partition(p->q, p->index, &stream, &p->err) != 0) {
    p->failed = 1;
    return NULL;
  }
  struct ArrowSchema schema;
  if (stream.get_schema(&stream, &schema) != 0) {
    p->failed = 1;
    stream.release(&stream);
    return NULL;
  }
  for (;;) {
    struct ArrowArray batch;
    if (stream.get_next(&stream, &batch) != 0) {
      hw_stream_error(&stream, &p->err);
      p->failed = 1;
      break;
    }
    if (!batch.release) break; /* end of the partition */
    p->rows += batch.length;
    p->checksum += column_sum(batch.children[0], schema.children[0]->format);
    batch.release(&batch);
  }
  schema.release(&schema);
  stream.release(&stream);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FORMAT [key=value ...]\n", argv[0]);
    return 2;
  }
  hw_error err;
  hw_error_init(&err);
  hw_runtime_options opts;
  hw_runtime_options_init(&opts);
  opts.venv = getenv("HEADWATER_VENV");
  opts.python_path = getenv("HEADWATER_PYTHONPATH");
  hw_runtime* rt;
  if (hw_runtime_new(&opts, &rt, &err) != 0) {
    fprintf(stderr, "error: %s: %s\n", err.error_class, err.message);
    return 1;
  }
  int n = argc - 2, rc = 1;
  const char** keys = calloc((size_t)n + 1, sizeof *keys);
  const char** values = calloc((size_t)n + 1, sizeof *values);
  char** copies = calloc((size_t)n + 1, sizeof *copies);
  for (int i = 0; i < n; i++) {
    copies[i] = strdup(argv[i + 2]);
    char* eq = strchr(copies[i], '=');
    if (eq) *eq = '\0';
    keys[i] = copies[i];
    values[i] = eq ? eq + 1 : "";
  }
  hw_source* src = NULL;
  hw_query* q = NULL;
  part* parts = NULL;
  if (hw_source_open(rt, argv[1], keys, values, n, NULL, &src, &err) != 0 || hw_query_new(src, &q, &err) != 0 ||
      hw_query_plan(q, &err) != 0) {
    fprintf(stderr, "error: %s: %s\n%s", err.error_class, err.message, err.traceback);
    goto done;
  }
  int64_t np = hw_query_partitions(q);
  parts = calloc((size_t)np, sizeof *parts);
  pthread_t* threads = calloc((size_t)np, sizeof *threads);
  for (int64_t i = 0; i < np; i++) {
    parts[i] = (part){.q = q, .index = i};
    pthread_create(&threads[i], NULL, read_partition, &parts[i]);
  }
  int64_t rows = 0, checksum = 0;
  rc = 0;
  for (int64_t i = 0; i < np; i++) {
    pthread_join(threads[i], NULL);
    if (parts[i].failed) {
      fprintf(stderr, "partition %lld failed: %s: %s\n%s", (long long)i, parts[i].err.error_class,
              parts[i].err.message, parts[i].err.traceback);
      rc = 1;
      continue;
    }
    printf("partition %lld: %lld rows, checksum %lld\n", (long long)i, (long long)parts[i].rows,
           (long long)parts[i].checksum);
    rows += parts[i].rows;
    checksum += parts[i].checksum;
  }
  printf("total: %lld rows, checksum %lld\n", (long long)rows, (long long)checksum);
  free(threads);
done:
  free(parts);
  hw_query_free(q);
  hw_source_free(src);
  for (int i = 0; i < n; i++) free(copies[i]);
  free(copies);
  free(keys);
  free(values);
  hw_runtime_free(rt);
  return rc;
}
