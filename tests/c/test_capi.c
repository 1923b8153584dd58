/* The public C API (include/headwater.h) end to end: an embedded interpreter reading the sources of
 * tests/c/capi_sources.py. Runs against the package staged in the build directory. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "headwater.h"

static hw_runtime* rt;
#define NUMBERS "capi_sources:Numbers"

static int setup(void** state) {
  (void)state;
  hw_runtime_options o;
  hw_runtime_options_init(&o);
  o.venv = getenv("HW_TEST_VENV");
  o.python_path = getenv("HW_TEST_PYTHONPATH");
  hw_error err;
  hw_error_init(&err);
  if (hw_runtime_new(&o, &rt, &err) != 0) {
    fprintf(stderr, "runtime: %s: %s\n", err.error_class, err.message);
    return -1;
  }
  return 0;
}

static int teardown(void** state) {
  (void)state;
  hw_runtime_free(rt);
  return 0;
}

static hw_source* open_numbers(const char* partitions, const char* extra_key, const char* extra_value) {
  const char* keys[] = {"partitions", "rows", extra_key};
  const char* values[] = {partitions, "1000", extra_value};
  hw_source* src = NULL;
  hw_error err;
  hw_error_init(&err);
  int rc = hw_source_open(rt, NUMBERS, keys, values, extra_key ? 3 : 2, NULL, &src, &err);
  if (rc != 0) fprintf(stderr, "%s: %s\n", err.error_class, err.message);
  assert_int_equal(rc, 0);
  return src;
}

/* rows and the sum of column 0 (int64) of a stream; -1 rows when it failed (err filled) */
static int64_t drain(struct ArrowArrayStream* s, int64_t* sum, hw_error* err) {
  int64_t rows = 0;
  *sum = 0;
  for (;;) {
    struct ArrowArray a;
    if (s->get_next(s, &a) != 0) {
      hw_stream_error(s, err);
      return -1;
    }
    if (!a.release) break;
    const int64_t* ids = a.children[0]->buffers[1];
    for (int64_t i = 0; i < a.length; i++) *sum += ids[i + a.children[0]->offset];
    rows += a.length;
    a.release(&a);
  }
  return rows;
}

static void test_schema(void** state) {
  (void)state;
  hw_source* src = open_numbers("4", NULL, NULL);
  struct ArrowSchema schema;
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_source_schema(src, &schema, &err), 0);
  char* ddl = NULL;
  assert_int_equal(hw_schema_to_ddl(&schema, &ddl, &err), 0);
  assert_string_equal(ddl, "id BIGINT, part INT, label STRING");
  hw_free(ddl);
  schema.release(&schema);
  hw_source_free(src);
}

static void test_partitions_and_rows(void** state) {
  (void)state;
  hw_source* src = open_numbers("4", NULL, NULL);
  hw_query* q;
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_query_new(src, &q, &err), 0);
  assert_int_equal(hw_query_partitions(q), -1);
  assert_int_equal(hw_query_plan(q, &err), 0);
  assert_int_equal(hw_query_partitions(q), 4);
  int64_t total = 0, sum_all = 0;
  for (int64_t p = 0; p < 4; p++) {
    struct ArrowArrayStream s;
    assert_int_equal(hw_query_execute_partition(q, p, &s, &err), 0);
    int64_t sum;
    assert_int_equal(drain(&s, &sum, &err), 1000);
    /* partition p holds ids p*1000 .. p*1000+999 */
    assert_int_equal(sum, p * 1000 * 1000 + 999 * 1000 / 2);
    total += 1000;
    sum_all += sum;
    s.release(&s);
  }
  assert_int_equal(total, 4000);
  assert_int_equal(sum_all, 3999LL * 4000 / 2);
  /* one stream over all (worker processes) gives the same rows */
  struct ArrowArrayStream all;
  assert_int_equal(hw_query_execute(q, &all, &err), 0);
  int64_t sum;
  assert_int_equal(drain(&all, &sum, &err), 4000);
  assert_int_equal(sum, sum_all);
  all.release(&all);
  assert_int_equal(hw_query_execute_partition(q, 4, &all, &err), -1);
  assert_string_equal(err.error_class, "HW_INVALID_ARGUMENT");
  hw_query_free(q);
  hw_source_free(src);
}

static void test_select_filter_limit(void** state) {
  (void)state;
  hw_source* src = open_numbers("4", NULL, NULL);
  hw_query* q;
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_query_new(src, &q, &err), 0);
  const char* cols[] = {"label", "id"};
  assert_int_equal(hw_query_select(q, cols, 2, &err), 0);
  assert_int_equal(hw_query_filter(q, "part", "=", "2", &err), 0);
  assert_int_equal(hw_query_filter(q, "id", ">", "10", &err), 0);
  assert_int_equal(hw_query_limit(q, 7, &err), 0);
  assert_int_equal(hw_query_plan(q, &err), 0);
  assert_int_equal(hw_query_filter_accepted(q, 0), 1);
  assert_int_equal(hw_query_filter_accepted(q, 1), 0);
  assert_int_equal(hw_query_filter_accepted(q, 2), -1);
  assert_int_equal(hw_query_limit_pushed(q), 0); /* a filter is left to the engine */
  assert_int_equal(hw_query_partitions(q), 1);
  struct ArrowSchema schema;
  assert_int_equal(hw_query_schema(q, &schema, &err), 0);
  char* ddl;
  assert_int_equal(hw_schema_to_ddl(&schema, &ddl, &err), 0);
  assert_string_equal(ddl, "id BIGINT, label STRING"); /* schema order */
  hw_free(ddl);
  schema.release(&schema);
  struct ArrowArrayStream s;
  assert_int_equal(hw_query_execute_partition(q, 0, &s, &err), 0);
  int64_t sum;
  assert_int_equal(drain(&s, &sum, &err), 1000);
  assert_int_equal(sum, 2000LL * 1000 + 999 * 1000 / 2);
  s.release(&s);
  assert_int_equal(hw_query_limit(q, 3, &err), -1); /* planned already */
  hw_query_free(q);

  /* all filters accepted: the limit is pushed */
  assert_int_equal(hw_query_new(src, &q, &err), 0);
  assert_int_equal(hw_query_filter(q, "part", "=", "1", &err), 0);
  assert_int_equal(hw_query_limit(q, 7, &err), 0);
  assert_int_equal(hw_query_mode(q, HW_MODE_THREAD, &err), 0);
  assert_int_equal(hw_query_plan(q, &err), 0);
  assert_int_equal(hw_query_limit_pushed(q), 1);
  assert_int_equal(hw_query_execute_partition(q, 0, &s, &err), 0);
  assert_int_equal(drain(&s, &sum, &err), 7);
  assert_int_equal(sum, 7 * 1000 + 21);
  s.release(&s);
  hw_query_free(q);
  hw_source_free(src);
}

static void test_bad_filters(void** state) {
  (void)state;
  hw_source* src = open_numbers("2", NULL, NULL);
  hw_query* q;
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_query_new(src, &q, &err), 0);
  assert_int_equal(hw_query_filter(q, "nope", "=", "1", &err), -1);
  assert_string_equal(err.error_class, "HW_INVALID_FILTER");
  assert_non_null(strstr(err.message, "nope"));
  assert_int_equal(hw_query_filter(q, "part", "~", "1", &err), -1);
  assert_string_equal(err.error_class, "HW_INVALID_FILTER");
  assert_int_equal(hw_query_filter(q, "part", "=", "two", &err), -1);
  assert_non_null(strstr(err.message, "'two'"));
  const char* cols[] = {"missing"};
  assert_int_equal(hw_query_select(q, cols, 1, &err), -1);
  assert_non_null(strstr(err.message, "missing"));
  assert_int_equal(hw_query_limit(q, -1, &err), -1);
  assert_int_equal(hw_query_mode(q, (hw_mode)9, &err), -1);
  struct ArrowArrayStream s;
  assert_int_equal(hw_query_execute_partition(q, 0, &s, &err), -1); /* not planned */
  hw_query_free(q);
  hw_source_free(src);
}

static void test_open_errors(void** state) {
  (void)state;
  hw_source* src = NULL;
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_source_open(rt, "no_such_format", NULL, NULL, 0, NULL, &src, &err), -1);
  assert_string_equal(err.error_class, "DATA_SOURCE_NOT_FOUND");
  assert_null(src);
  assert_int_equal(hw_source_open(rt, "capi_sources:Raises", NULL, NULL, 0, NULL, &src, &err), -1);
  assert_string_equal(err.error_class, "PYTHON_DATA_SOURCE_ERROR");
  assert_non_null(strstr(err.message, "no schema today"));
  assert_non_null(strstr(err.traceback, "RuntimeError: no schema today"));
  /* a user schema in DDL; a bad one */
  assert_int_equal(hw_source_open(rt, NUMBERS, NULL, NULL, 0, "id BIGINT", &src, &err), 0);
  hw_source_free(src);
  assert_int_equal(hw_source_open(rt, NUMBERS, NULL, NULL, 0, "id BIGINT,", &src, &err), -1);
  assert_true(err.message[0] != '\0');
  /* the three-method interface */
  assert_int_equal(hw_source_open(rt, "capi_sources:Generic", NULL, NULL, 0, NULL, &src, &err), 0);
  hw_query* q;
  assert_int_equal(hw_query_new(src, &q, &err), 0);
  assert_int_equal(hw_query_plan(q, &err), 0);
  assert_int_equal(hw_query_partitions(q), 3);
  int64_t rows = 0, sum = 0;
  for (int p = 0; p < 3; p++) {
    struct ArrowArrayStream s;
    int64_t part;
    assert_int_equal(hw_query_execute_partition(q, p, &s, &err), 0);
    rows += drain(&s, &part, &err);
    sum += part;
    s.release(&s);
  }
  assert_int_equal(rows, 30);
  assert_int_equal(sum, 29 * 30 / 2);
  hw_query_free(q);
  hw_source_free(src);
}

static void test_source_raises_and_crash(void** state) {
  (void)state;
  hw_source* src = open_numbers("3", "fail_partition", "1");
  hw_query* q;
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_query_new(src, &q, &err), 0);
  assert_int_equal(hw_query_plan(q, &err), 0);
  struct ArrowArrayStream s;
  assert_int_equal(hw_query_execute_partition(q, 1, &s, &err), 0);
  int64_t sum;
  assert_int_equal(drain(&s, &sum, &err), -1);
  assert_int_equal(err.partition, 1);
  assert_non_null(strstr(err.message, "bad row in partition 1"));
  assert_non_null(strstr(err.traceback, "ValueError: bad row in partition 1"));
  assert_non_null(s.get_last_error(&s));
  s.release(&s);
  hw_query_free(q);
  hw_source_free(src);

  /* a worker process that dies */
  src = open_numbers("2", "crash", "true");
  assert_int_equal(hw_query_new(src, &q, &err), 0);
  assert_int_equal(hw_query_mode(q, HW_MODE_PROCESS, &err), 0);
  assert_int_equal(hw_query_plan(q, &err), 0);
  assert_int_equal(hw_query_execute(q, &s, &err), 0);
  assert_int_equal(drain(&s, &sum, &err), -1);
  assert_string_equal(err.error_class, "PYTHON_WORKER_CRASHED");
  s.release(&s);
  hw_query_free(q);
  hw_source_free(src);
}

static void test_released_early(void** state) {
  (void)state;
  hw_source* src = open_numbers("2", NULL, NULL);
  hw_query* q;
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_runtime_set(rt, "spark.sql.execution.arrow.maxRecordsPerBatch", "100", &err), 0);
  assert_int_equal(hw_query_new(src, &q, &err), 0);
  assert_int_equal(hw_query_mode(q, HW_MODE_THREAD, &err), 0);
  assert_int_equal(hw_query_plan(q, &err), 0);
  struct ArrowArrayStream s, unread;
  assert_int_equal(hw_query_execute_partition(q, 0, &s, &err), 0);
  assert_int_equal(hw_query_execute_partition(q, 1, &unread, &err), 0);
  struct ArrowArray a;
  assert_int_equal(s.get_next(&s, &a), 0);
  assert_int_equal(a.length, 100);
  s.release(&s); /* the batch outlives its stream */
  a.release(&a);
  unread.release(&unread);
  hw_query_free(q); /* streams may outlive the query too */
  hw_source_free(src);
  assert_int_equal(hw_runtime_set(rt, "spark.sql.execution.arrow.maxRecordsPerBatch", "10000", &err), 0);
}

typedef struct job {
  hw_query* q;
  int64_t partition, rows, sum;
} job;

static void* read_one(void* arg) { /* a thread that never touched Python */
  job* j = arg;
  hw_error err;
  hw_error_init(&err);
  struct ArrowArrayStream s;
  if (hw_query_execute_partition(j->q, j->partition, &s, &err) != 0) return NULL;
  j->rows = drain(&s, &j->sum, &err);
  s.release(&s);
  return NULL;
}

static void test_two_native_threads(void** state) {
  (void)state;
  hw_source* src = open_numbers("2", NULL, NULL);
  hw_error err;
  hw_error_init(&err);
  /* each mode runs the partitions elsewhere: the calling thread (inline), a thread of the scan's,
   * a worker process of the runtime's pool (process) */
  for (int mode = HW_MODE_INLINE; mode <= HW_MODE_PROCESS; mode++) {
    hw_query* q;
    assert_int_equal(hw_query_new(src, &q, &err), 0);
    assert_int_equal(hw_query_mode(q, (hw_mode)mode, &err), 0);
    assert_int_equal(hw_query_plan(q, &err), 0);
    job jobs[2] = {{q, 0, -2, 0}, {q, 1, -2, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, read_one, &jobs[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
      assert_int_equal(jobs[i].rows, 1000);
      assert_int_equal(jobs[i].sum, i * 1000 * 1000 + 999 * 1000 / 2);
    }
    hw_query_free(q);
  }
  hw_source_free(src);
}

static void test_process_partitions(void** state) {
  (void)state;
  hw_error err;
  hw_error_init(&err);
  /* the same rows as inline, partition by partition, with a limit and a column selected */
  hw_source* src = open_numbers("3", NULL, NULL);
  hw_query* q;
  assert_int_equal(hw_query_new(src, &q, &err), 0);
  assert_int_equal(hw_query_mode(q, HW_MODE_PROCESS, &err), 0);
  const char* cols[] = {"id"};
  assert_int_equal(hw_query_select(q, cols, 1, &err), 0);
  assert_int_equal(hw_query_plan(q, &err), 0);
  assert_int_equal(hw_query_partitions(q), 3);
  for (int64_t p = 2; p >= 0; p--) { /* any order */
    struct ArrowArrayStream s;
    assert_int_equal(hw_query_execute_partition(q, p, &s, &err), 0);
    int64_t sum;
    assert_int_equal(drain(&s, &sum, &err), 1000);
    assert_int_equal(sum, p * 1000 * 1000 + 999 * 1000 / 2);
    s.release(&s);
  }
  /* a stream released before it is read stops its worker's partition */
  struct ArrowArrayStream unread;
  assert_int_equal(hw_query_execute_partition(q, 0, &unread, &err), 0);
  unread.release(&unread);
  hw_query_free(q);
  hw_source_free(src);

  /* the source raises in a worker: the error names the partition and carries the traceback */
  src = open_numbers("2", "fail_partition", "1");
  assert_int_equal(hw_query_new(src, &q, &err), 0);
  assert_int_equal(hw_query_mode(q, HW_MODE_PROCESS, &err), 0);
  assert_int_equal(hw_query_plan(q, &err), 0);
  struct ArrowArrayStream s;
  assert_int_equal(hw_query_execute_partition(q, 1, &s, &err), 0);
  int64_t sum;
  assert_int_equal(drain(&s, &sum, &err), -1);
  assert_int_equal(err.partition, 1);
  assert_non_null(strstr(err.traceback, "ValueError: bad row in partition 1"));
  s.release(&s);
  hw_query_free(q);
  hw_source_free(src);

  /* its worker dies */
  src = open_numbers("2", "crash", "true");
  assert_int_equal(hw_query_new(src, &q, &err), 0);
  assert_int_equal(hw_query_mode(q, HW_MODE_PROCESS, &err), 0);
  assert_int_equal(hw_query_plan(q, &err), 0);
  assert_int_equal(hw_query_execute_partition(q, 0, &s, &err), 0);
  assert_int_equal(drain(&s, &sum, &err), -1);
  assert_string_equal(err.error_class, "PYTHON_WORKER_CRASHED");
  assert_int_equal(err.partition, 0);
  s.release(&s);
  hw_query_free(q);
  hw_source_free(src);
}

static void test_stream_error_foreign(void** state) {
  (void)state;
  struct ArrowArrayStream s;
  memset(&s, 0, sizeof s);
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_stream_error(&s, &err), -1);
  assert_int_equal(hw_runtime_set(rt, "headwater.executor.mode", "bogus", &err), 0); /* checked when used */
  assert_int_equal(hw_runtime_set(rt, "headwater.executor.mode", "auto", &err), 0);
}

static void test_write_parquet_and_read_back(void** state) {
  (void)state;
  char dir[] = "/tmp/hw-capi-write-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/out", dir);
  hw_source* src = open_numbers("3", NULL, NULL);
  hw_error err;
  hw_error_init(&err);
  struct ArrowSchema schema;
  assert_int_equal(hw_source_schema(src, &schema, &err), 0);
  const char* keys[] = {"path"};
  const char* values[] = {path};
  hw_writer* w;
  assert_int_equal(hw_writer_open(rt, "parquet", keys, values, 1, "bogus", &schema, &w, &err), -1);
  assert_string_equal(err.error_class, "INVALID_SAVE_MODE");
  assert_int_equal(hw_writer_open(rt, "no_such_sink", keys, values, 1, "append", &schema, &w, &err), -1);
  assert_string_equal(err.error_class, "DATA_SOURCE_NOT_FOUND");
  assert_int_equal(hw_writer_open(rt, "parquet", keys, values, 1, "overwrite", &schema, &w, &err), 0);
  schema.release(&schema); /* the writer keeps its own copy */
  hw_query* q;
  assert_int_equal(hw_query_new(src, &q, &err), 0);
  assert_int_equal(hw_query_plan(q, &err), 0);
  for (int64_t p = 0; p < 3; p++) {
    struct ArrowArrayStream s;
    assert_int_equal(hw_query_execute_partition(q, p, &s, &err), 0);
    assert_int_equal(hw_writer_write(w, &s, &err), 0);
    assert_null(s.release); /* taken */
  }
  assert_int_equal(hw_writer_commit(w, &err), 0);
  hw_writer_free(w);
  hw_query_free(q);
  hw_source_free(src);

  /* read it back: the same rows */
  hw_source* back;
  assert_int_equal(hw_source_open(rt, "parquet", keys, values, 1, NULL, &back, &err), 0);
  assert_int_equal(hw_query_new(back, &q, &err), 0);
  assert_int_equal(hw_query_plan(q, &err), 0);
  int64_t rows = 0, sum = 0;
  for (int64_t p = 0; p < hw_query_partitions(q); p++) {
    struct ArrowArrayStream s;
    int64_t part;
    assert_int_equal(hw_query_execute_partition(q, p, &s, &err), 0);
    rows += drain(&s, &part, &err);
    sum += part;
    s.release(&s);
  }
  assert_int_equal(rows, 3000);
  assert_int_equal(sum, 2999LL * 3000 / 2);
  hw_query_free(q);
  hw_source_free(back);

  /* a write that is freed without a commit is aborted; a stream that fails fails its task */
  src = open_numbers("1", "fail_partition", "0");
  assert_int_equal(hw_source_schema(src, &schema, &err), 0);
  snprintf(path, sizeof path, "%s/aborted", dir);
  assert_int_equal(hw_writer_open(rt, "parquet", keys, values, 1, NULL, &schema, &w, &err), 0);
  schema.release(&schema);
  assert_int_equal(hw_query_new(src, &q, &err), 0);
  assert_int_equal(hw_query_plan(q, &err), 0);
  struct ArrowArrayStream s;
  assert_int_equal(hw_query_execute_partition(q, 0, &s, &err), 0);
  assert_int_equal(hw_writer_write(w, &s, &err), -1);
  assert_non_null(strstr(err.message, "bad row in partition 0"));
  assert_int_equal(hw_writer_abort(w, &err), 0);
  hw_writer_free(w);
  hw_query_free(q);
  hw_source_free(src);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_schema),
      cmocka_unit_test(test_partitions_and_rows),
      cmocka_unit_test(test_select_filter_limit),
      cmocka_unit_test(test_bad_filters),
      cmocka_unit_test(test_open_errors),
      cmocka_unit_test(test_source_raises_and_crash),
      cmocka_unit_test(test_released_early),
      cmocka_unit_test(test_two_native_threads),
      cmocka_unit_test(test_process_partitions),
      cmocka_unit_test(test_stream_error_foreign),
      cmocka_unit_test(test_write_parquet_and_read_back),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
