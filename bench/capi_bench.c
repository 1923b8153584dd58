/* bench/capi.py's C side: reads every partition of a source through the C API, on THREADS native
 * threads (partition i on thread i % THREADS); prints "seconds batches rows". The option
 * hw_mode=inline|thread|process is the scan's executor mode (not passed to the source); in process
 * mode the read runs once untimed first (the pool's workers booted), then timed.
 * usage: capi_bench THREADS FORMAT [key=value ...] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "headwater.h"

typedef struct job {
  hw_query* q;
  int64_t first, step, n, batches, rows;
} job;

static void* run(void* arg) {
  job* j = arg;
  hw_error err;
  hw_error_init(&err);
  for (int64_t p = j->first; p < j->n; p += j->step) {
    struct ArrowArrayStream s;
    if (hw_query_execute_partition(j->q, p, &s, &err) != 0) exit(1);
    for (;;) {
      struct ArrowArray a;
      if (s.get_next(&s, &a) != 0) exit(1);
      if (!a.release) break;
      j->batches++;
      j->rows += a.length;
      a.release(&a);
    }
    s.release(&s);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  int threads = atoi(argv[1]);
  hw_error err;
  hw_error_init(&err);
  hw_runtime_options o;
  hw_runtime_options_init(&o);
  o.python_path = getenv("HEADWATER_PYTHONPATH");
  hw_runtime* rt;
  if (hw_runtime_new(&o, &rt, &err) != 0) return 1;
  int n = 0;
  const char* keys[64];
  const char* values[64];
  hw_mode mode = HW_MODE_AUTO;
  for (int i = 3; i < argc && n < 64; i++) {
    char* eq = strchr(argv[i], '=');
    if (!eq) return 2;
    *eq = '\0';
    if (strcmp(argv[i], "hw_mode") == 0) {
      mode = strcmp(eq + 1, "process") == 0 ? HW_MODE_PROCESS : strcmp(eq + 1, "thread") == 0 ? HW_MODE_THREAD
                                                                                                : HW_MODE_INLINE;
      continue;
    }
    keys[n] = argv[i];
    values[n++] = eq + 1;
  }
  hw_source* src;
  hw_query* q;
  if (hw_source_open(rt, argv[2], keys, values, n, NULL, &src, &err) != 0 || hw_query_new(src, &q, &err) != 0 ||
      hw_query_mode(q, mode, &err) != 0 || hw_query_plan(q, &err) != 0) {
    fprintf(stderr, "%s\n", err.message);
    return 1;
  }
  job jobs[64];
  pthread_t t[64];
  struct timespec a, b;
  int64_t batches = 0, rows = 0;
  /* process mode: the whole read once untimed first, so every worker the timed read uses has booted
   * (spawned workers import Python and pyarrow before they are READY) */
  for (int pass = mode == HW_MODE_PROCESS ? 0 : 1; pass < 2; pass++) {
    batches = rows = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < threads; i++) {
      jobs[i] = (job){q, i, threads, hw_query_partitions(q), 0, 0};
      pthread_create(&t[i], NULL, run, &jobs[i]);
    }
    for (int i = 0; i < threads; i++) {
      pthread_join(t[i], NULL);
      batches += jobs[i].batches;
      rows += jobs[i].rows;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
  }
  printf("%.6f %lld %lld\n", (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9, (long long)batches,
         (long long)rows);
  hw_query_free(q);
  hw_source_free(src);
  hw_runtime_free(rt);
  return 0;
}
