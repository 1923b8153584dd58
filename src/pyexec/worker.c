/*
 * The worker process's loop: it takes a query's reader (pickled with
 * cloudpickle, as Spark ships it), then one partition per task, and converts
 * what read(partition) yields straight into shared-memory regions, sending the
 * host only a descriptor per batch. Credits from the host bound the batches in
 * flight; regions come back when the host releases their batch.
 */
#include "pyexec/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/mman.h>
#include <signal.h>
#include <time.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arrow/array.h"
#include "common/error.h"
#include "pyexec/partition_reader.h"
#include "ipc/shm.h"
#include "ipc/wire.h"

typedef struct wstate {
  int sock;
  pid_t parent;
  pid_t self;           /* the worker's pid: a process forked by a source's code is not the worker */
  /* the current query */
  int64_t query;
  hw_field schema;      /* the source's schema: rows are checked against it */
  hw_field out_schema;  /* the columns converted and sent (column pruning) */
  int32_t* columns;     /* their positions in schema; NULL: all */
  int32_t n_columns;
  bool exact_batches;   /* the Spark API's exact check of RecordBatches */
  PyObject* reader;
  PyObject* read_fn;
  PyObject* record_batch_type;
  char source_name[256];
  int64_t max_rows, max_bytes;
  int64_t credits;
  atomic_bool cancelled;
  /* regions, by id */
  hw_region** regions;
  int32_t n_regions;
  hw_region_allocator ra;
  PyObject* loads; /* cloudpickle.loads */
  bool stop;
} wstate;

/* ---------------------------------------------------------------- watchdog */

/* Exits the process once the host is gone (reparented), whatever the main thread is doing, so no
 * worker outlives its host, even one killed with SIGKILL. */
static void* watchdog(void* arg) {
  pid_t parent = (pid_t)(intptr_t)arg;
  for (;;) {
    if (getppid() != parent) _exit(0);
    usleep(100 * 1000);
  }
  return NULL;
}

/* ---------------------------------------------------------------- forks of the worker */

/* The worker loop of this process, for the fork handler (one per process, set once). */
static wstate* forked_from;

/* In a process forked by the source's code (os.fork() in read()): the worker's regions become
 * private copy-on-write mappings at the same addresses, so what the child writes into them never
 * reaches the shared memory the host reads. Async-signal-safe (only mmap). */
static void after_fork_in_child(void) {
  wstate* w = forked_from;
  if (!w) return;
  for (int32_t i = 0; i < w->n_regions; i++) {
    hw_region* r = w->regions[i];
    if (!r || !r->base) continue;
    void* got = r->fd >= 0 ? mmap(r->base, r->capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE,
                                  r->fd, 0)
                           : MAP_FAILED;
    if (got == MAP_FAILED)
      mmap(r->base, r->capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  }
}

/* A forked copy of the worker that comes back into this loop must never use the host's socket (the
 * host would read two writers' bytes interleaved, or lose messages to the copy): it ends here,
 * quietly, and the worker it was forked from goes on. Called before every send and receive. */
static void refuse_forked(const wstate* w) {
  if (getpid() != w->self) _exit(0);
}

static int wsend(wstate* w, hw_msg_type type, const hw_wbuf* payload, int pass_fd, hw_error* err) {
  refuse_forked(w);
  return hw_wire_send(w->sock, type, payload, pass_fd, err);
}

/* The region's descriptor reopened read-only (its mapping stays writable): code that writes to every
 * descriptor it has cannot write into a region. Kept as it was when /proc is not there. */
static void region_fd_read_only(hw_region* r) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", r->fd);
  int ro = open(path, O_RDONLY | O_CLOEXEC);
  if (ro < 0) return;
  close(r->fd);
  r->fd = ro;
}

/* ---------------------------------------------------------------- messages */

static int send_error(wstate* w, int64_t partition, const hw_error* e, const char* traceback) {
  hw_wbuf b = {0};
  hw_msg_error_encode(&b, partition, e, traceback);
  hw_error ignored;
  int rc = wsend(w, HW_MSG_ERROR, &b, -1, &ignored);
  hw_wbuf_free(&b);
  return rc;
}

/* The traceback of the raised exception, formatted (malloc'd), and the exception cleared. */
static char* format_exception(void) {
  PyObject* exc = hw_take_exception();
  if (!exc) return NULL;
  char* out = NULL;
  PyObject* tb_mod = PyImport_ImportModule("traceback");
  PyObject* lines = tb_mod ? PyObject_CallMethod(tb_mod, "format_exception", "O", exc) : NULL;
  PyObject* empty = lines ? PyUnicode_FromString("") : NULL;
  PyObject* text = empty ? PyUnicode_Join(empty, lines) : NULL;
  const char* s = text ? PyUnicode_AsUTF8(text) : NULL;
  if (s) out = strdup(s);
  PyErr_Clear();
  Py_XDECREF(text);
  Py_XDECREF(empty);
  Py_XDECREF(lines);
  Py_XDECREF(tb_mod);
  Py_DECREF(exc);
  return out;
}

static void handle_control(wstate* w, hw_msg_type type, const uint8_t* payload, size_t len) {
  hw_error ignored;
  switch (type) {
    case HW_MSG_RELEASE: { /* one batch in the region is dead; the region is reused once all are */
      int64_t id;
      if (hw_msg_release_decode(payload, len, &id, &ignored) == 0 && id < w->n_regions && w->regions[id]->in_flight > 0)
        w->regions[id]->in_flight--;
      break;
    }
    case HW_MSG_CREDIT: {
      /* a credit names the SETUP it belongs to: one for a batch of an earlier lease of this worker
       * (another query has claimed it since) is stale */
      hw_rbuf in = {payload, len, 0, 0};
      int64_t setup = len >= 8 ? hw_rbuf_i64(&in) : w->query;
      if (setup == w->query) w->credits += 1;
      break;
    }
    case HW_MSG_CANCEL: atomic_store(&w->cancelled, true); break;
    case HW_MSG_SHUTDOWN: w->stop = true; break;
    default: break;
  }
}

/* Receives one control message; waits if block, else returns 0 when none is ready. -1 when the host
 * is gone. Runs without the GIL while it waits. */
static int pump(wstate* w, bool block) {
  refuse_forked(w);
  if (!block) {
    struct pollfd p = {w->sock, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0) return 0;
  }
  hw_msg_type type;
  uint8_t* payload;
  size_t len;
  int fd, interrupted;
  hw_error err;
  hw_error_init(&err);
  int rc;
  refuse_forked(w);
  Py_BEGIN_ALLOW_THREADS
  rc = hw_wire_recv(w->sock, &type, &payload, &len, &fd, &interrupted, &err);
  Py_END_ALLOW_THREADS
  if (rc == -1 && interrupted) {
    /* a signal: the cancel handler raises; a cancel is what it means */
    if (PyErr_CheckSignals() != 0) PyErr_Clear();
    atomic_store(&w->cancelled, true);
    return 0;
  }
  if (rc != 0) return -1;
  if (fd >= 0) close(fd);
  handle_control(w, type, payload, len);
  free(payload);
  return 1;
}

/* ---------------------------------------------------------------- regions */

/* A region for the next batch: the current one while it has room (batches are packed one after
 * the other), else one whose batches the host all released, else a new one announced to the host. */
static int pick_region(wstate* w, hw_error* err) {
  hw_region* cur = w->ra.current;
  if (cur && cur->in_flight == 0) {
    hw_region_reset(cur); /* everything in it is dead */
    return 0;
  }
  if (cur && cur->used < HW_REGION_PACK_BYTES) return 0;
  for (int32_t i = 0; i < w->n_regions; i++) {
    if (!w->regions[i]->in_flight) {
      hw_region_reset(w->regions[i]);
      w->ra.current = w->regions[i];
      return 0;
    }
  }
  hw_region* r = calloc(1, sizeof *r);
  hw_region** grown = realloc(w->regions, sizeof *grown * (size_t)(w->n_regions + 1));
  if (!r || !grown) {
    free(r);
    if (grown) w->regions = grown;
    return hw_error_oom(err);
  }
  w->regions = grown;
  if (hw_region_create(r, w->n_regions, err) != 0) {
    free(r);
    return -1;
  }
  w->regions[w->n_regions++] = r;
  region_fd_read_only(r);
  hw_wbuf b = {0};
  hw_msg_region_encode(&b, r->id, r->capacity);
  int rc = wsend(w, HW_MSG_REGION, &b, r->fd, err);
  hw_wbuf_free(&b);
  w->ra.current = r;
  return rc;
}

/* ---------------------------------------------------------------- tasks */

static void clear_query(wstate* w) {
  hw_field_release(&w->schema);
  hw_field_release(&w->out_schema);
  free(w->columns);
  w->columns = NULL;
  w->n_columns = 0;
  Py_CLEAR(w->reader);
  Py_CLEAR(w->read_fn);
}

static int handle_setup(wstate* w, const uint8_t* payload, size_t len) {
  clear_query(w);
  hw_msg_setup m;
  hw_error err;
  hw_error_init(&err);
  if (hw_msg_setup_decode(payload, len, &m, &err) != 0) return send_error(w, -1, &err, NULL);
  w->query = m.query;
  w->credits = m.credits;
  w->max_rows = m.max_rows;
  w->max_bytes = m.max_bytes;
  if (m.n_columns >= 0) {
    w->columns = malloc(sizeof *w->columns * (size_t)(m.n_columns > 0 ? m.n_columns : 1));
    if (!w->columns) {
      hw_error_oom(&err);
      return send_error(w, -1, &err, NULL);
    }
    w->n_columns = (int32_t)m.n_columns;
    for (int64_t i = 0; i < m.n_columns; i++) w->columns[i] = hw_msg_setup_column(&m, i);
  }
  w->exact_batches = m.exact_batches != 0;
  size_t n_name = m.n_name < sizeof w->source_name ? m.n_name : sizeof w->source_name - 1;
  snprintf(w->source_name, sizeof w->source_name, "%.*s", (int)n_name, (const char*)m.name);
  const uint8_t* pickled = m.reader;
  size_t n_reader = m.n_reader;
  char* json = strndup((const char*)m.schema_json, m.n_schema_json);
  int rc = json ? hw_spark_json_parse(json, &w->schema, &err) : hw_error_oom(&err);
  free(json);
  if (rc == 0) rc = hw_field_project(&w->out_schema, &w->schema, w->columns, w->n_columns, &err);
  if (rc != 0) return send_error(w, -1, &err, NULL);
  PyObject* bytes = PyBytes_FromStringAndSize((const char*)pickled, (Py_ssize_t)n_reader);
  w->reader = bytes ? PyObject_CallOneArg(w->loads, bytes) : NULL;
  Py_XDECREF(bytes);
  w->read_fn = w->reader ? PyObject_GetAttrString(w->reader, "read") : NULL;
  if (!w->read_fn) {
    char* tb = format_exception();
    hw_error_set(&err, "PYTHON_DATA_SOURCE_ERROR", "a worker could not unpickle the reader of %s", w->source_name);
    rc = send_error(w, -1, &err, tb);
    free(tb);
    clear_query(w);
    return rc;
  }
  atomic_store(&w->cancelled, false);
  return 0;
}

static int send_done(wstate* w, int64_t partition) {
  hw_wbuf b = {0};
  hw_msg_done_encode(&b, partition);
  hw_error ignored;
  int rc = wsend(w, HW_MSG_DONE, &b, -1, &ignored);
  hw_wbuf_free(&b);
  return rc;
}

/* DONE for a partition read to its end, with its statistics (the run report). */
static int send_done_stats(wstate* w, hw_partition_reader* r) {
  hw_partition_stats st;
  hw_partition_stats_finish(r, &st);
  hw_wbuf b = {0};
  hw_msg_done_stats_encode(&b, &st);
  hw_error ignored;
  int rc = wsend(w, HW_MSG_DONE, &b, -1, &ignored);
  hw_wbuf_free(&b);
  return rc;
}

/* Reports a failed task: a cancel ends quietly, anything else as ERROR with the traceback. */
static int task_failed(wstate* w, int64_t partition, hw_error* err, bool python_error) {
  char* tb = python_error ? format_exception() : NULL;
  PyErr_Clear();
  /* the host sends CANCEL before SIGUSR1: a task the signal stopped may not have read it yet, and
   * must not report the interruption as its own error */
  while (pump(w, false) > 0) {
  }
  int rc = atomic_load(&w->cancelled) ? send_done(w, partition) : send_error(w, partition, err, tb);
  free(tb);
  return rc;
}

/* SIGUSR1 (the host's cancel) may interrupt only the task it was sent for: it is blocked between
 * tasks, and a stale one is discarded before the next task starts. */
static void cancel_signal(bool deliver) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  if (deliver) {
    struct timespec now = {0, 0};
    while (sigtimedwait(&set, NULL, &now) == SIGUSR1) {
    }
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  } else {
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (PyErr_CheckSignals() != 0) PyErr_Clear(); /* a cancel that came as the task ended */
  }
}

static int handle_run(wstate* w, const uint8_t* payload, size_t len) {
  int64_t index;
  size_t n;
  const uint8_t* pickled;
  hw_error err;
  hw_error_init(&err);
  if (hw_msg_run_decode(payload, len, &index, &pickled, &n, &err) != 0) return send_error(w, -1, &err, NULL);
  if (!w->read_fn) {
    hw_error_set(&err, "HW_INTERNAL", "a task arrived without a reader");
    return send_error(w, index, &err, NULL);
  }
  PyObject* bytes = PyBytes_FromStringAndSize((const char*)pickled, (Py_ssize_t)n);
  PyObject* partition = bytes ? PyObject_CallOneArg(w->loads, bytes) : NULL;
  Py_XDECREF(bytes);
  if (!partition) {
    hw_error_set(&err, "PYTHON_DATA_SOURCE_ERROR", "partition %lld: cannot unpickle the partition",
                 (long long)index);
    return task_failed(w, index, &err, true);
  }
  hw_read_context ctx = {&w->schema,  w->read_fn,   w->record_batch_type, w->source_name, w->max_rows,
                         w->max_bytes, &w->ra.allocator, &w->cancelled,  w->columns,       w->n_columns,
                         w->exact_batches};
  hw_partition_reader r;
  bool python_error;
  int rc = 0;
  if (pick_region(w, &err) != 0 || hw_partition_open(&ctx, &r, index, partition, &err, &python_error) != 0) {
    Py_DECREF(partition);
    return task_failed(w, index, &err, PyErr_Occurred() != NULL);
  }
  Py_DECREF(partition);
  for (;;) {
    struct ArrowArray batch;
    bool done;
    if (hw_partition_next_batch(&ctx, &r, &batch, &done, &err, &python_error) != 0) {
      rc = task_failed(w, index, &err, python_error);
      break;
    }
    if (done) {
      rc = send_done_stats(w, &r);
      break;
    }
    hw_region* region = w->ra.current;
    hw_wbuf b = {0};
    hw_wbuf desc = {0};
    rc = hw_batch_encode(&w->out_schema, &batch, region, &desc, &err);
    hw_array_release(&batch); /* the buffers stay in the region until the host releases it */
    /* wait for a credit before sending (not after): a worker whose partition has ended reports
     * DONE at once and goes back to the pool, whoever holds its last batches */
    while (pump(w, false) > 0) {
    }
    int64_t waited = hw_now_ns();
    while (rc == 0 && w->credits <= 0 && !atomic_load(&w->cancelled) && !w->stop)
      if (pump(w, true) < 0) {
        w->stop = true;
        break;
      }
    r.stats.wait_ns += hw_now_ns() - waited;
    if (w->stop) {
      hw_wbuf_free(&desc);
      hw_wbuf_free(&b);
      break;
    }
    if (rc == 0) {
      hw_msg_batch_encode(&b, index, region->id, desc.data, desc.size);
      region->in_flight++;
      rc = wsend(w, HW_MSG_BATCH, &b, -1, &err);
    }
    hw_wbuf_free(&desc);
    hw_wbuf_free(&b);
    if (rc != 0) {
      task_failed(w, index, &err, false);
      break;
    }
    w->credits--;
    if (pick_region(w, &err) != 0) {
      rc = task_failed(w, index, &err, false);
      break;
    }
  }
  hw_partition_close(&r);
  return rc;
}

/* Nine ints of a sequence into v (what a write task reports per record); false when it is not. GIL. */
static bool nine_ints(PyObject* seq, int64_t* const v[9]) {
  if (!PyTuple_Check(seq) || PyTuple_GET_SIZE(seq) != 9) return false;
  for (Py_ssize_t i = 0; i < 9; i++) {
    long long x = PyLong_AsLongLong(PyTuple_GET_ITEM(seq, i));
    if (x == -1 && PyErr_Occurred()) {
      PyErr_Clear();
      return false;
    }
    *v[i] = x;
  }
  return true;
}

/* A write task's third item, (write, read): each None or the nine counters of hw_write_stats /
 * DONE's hw_partition_stats in field order (exec/write_task.py). Anything else reports nothing. */
static void task_stats(PyObject* item, hw_task_stats* st) {
  memset(st, 0, sizeof *st);
  if (!item || !PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) return;
  hw_write_stats* w = &st->write;
  int64_t* const wv[9] = {&w->partition, &w->rows, &w->batches, &w->bytes, &w->wall_ns,
                          &w->writer_ns, &w->convert_ns, &w->input_ns, &w->pid};
  hw_partition_stats* r = &st->read;
  int64_t* const rv[9] = {&r->partition, &r->rows, &r->batches, &r->bytes, &r->wall_ns,
                          &r->source_ns, &r->convert_ns, &r->wait_ns, &r->pid};
  st->has_write = nine_ints(PyTuple_GET_ITEM(item, 0), wv);
  st->has_read = nine_ints(PyTuple_GET_ITEM(item, 1), rv);
}

/* Runs one TASK: unpickles the callable, calls it, sends RESULT with what it returned, (ok, bytes)
 * or, from a write task, (ok, bytes, (write counters, read counters)).
 * A callable that raises (or returns anything else) is reported as ERROR with the traceback; one
 * stopped by the host's cancel (SIGUSR1 raises in Python) ends quietly with DONE. GIL. */
static int handle_task(wstate* w, const uint8_t* payload, size_t len) {
  hw_error err;
  hw_error_init(&err);
  int64_t index;
  const uint8_t* pickled;
  size_t n;
  if (hw_msg_task_decode(payload, len, &index, &pickled, &n, &err) != 0) return send_error(w, -1, &err, NULL);
  PyObject* bytes = PyBytes_FromStringAndSize((const char*)pickled, (Py_ssize_t)n);
  PyObject* task = bytes ? PyObject_CallOneArg(w->loads, bytes) : NULL;
  Py_XDECREF(bytes);
  PyObject* result = task ? PyObject_CallNoArgs(task) : NULL;
  Py_XDECREF(task);
  int ok = -1;
  if (result && PyTuple_Check(result) && (PyTuple_GET_SIZE(result) == 2 || PyTuple_GET_SIZE(result) == 3) &&
      PyBytes_Check(PyTuple_GET_ITEM(result, 1)))
    ok = PyObject_IsTrue(PyTuple_GET_ITEM(result, 0));
  if (ok < 0) {
    /* the host sends CANCEL before SIGUSR1: a cancel that stopped the task is already queued */
    while (pump(w, false) > 0) {
    }
    if (result) {
      hw_error_set(&err, "HW_INTERNAL", "task %lld returned %s, not a (bool, bytes) tuple", (long long)index,
                   Py_TYPE(result)->tp_name);
      Py_DECREF(result);
      return atomic_load(&w->cancelled) ? send_done(w, index) : send_error(w, index, &err, NULL);
    }
    hw_error_set(&err, "PYTHON_EXCEPTION", "partition %lld: the task raised in a worker process", (long long)index);
    return task_failed(w, index, &err, true);
  }
  PyObject* out = PyTuple_GET_ITEM(result, 1);
  hw_wbuf b = {0};
  hw_task_stats st;
  task_stats(PyTuple_GET_SIZE(result) == 3 ? PyTuple_GET_ITEM(result, 2) : NULL, &st);
  hw_msg_result_encode(&b, index, ok == 1, PyBytes_AS_STRING(out), (size_t)PyBytes_GET_SIZE(out), &st);
  Py_DECREF(result);
  int rc = wsend(w, HW_MSG_RESULT, &b, -1, &err);
  hw_wbuf_free(&b);
  return rc;
}

int hw_worker_main(int sock, pid_t parent) {
  /* block the cancel signal first: the watchdog inherits the mask, so a cancel can only ever land
   * on the main thread, and only while a task runs */
  cancel_signal(false);
  pthread_t dog;
  if (pthread_create(&dog, NULL, watchdog, (void*)(intptr_t)parent) == 0) pthread_detach(dog);
  if (getppid() != parent) _exit(0); /* the host died before we started watching */
  wstate w;
  memset(&w, 0, sizeof w);
  w.sock = sock;
  w.parent = parent;
  w.self = getpid();
  atomic_init(&w.cancelled, false);
  hw_region_allocator_init(&w.ra);
  PyObject* cloudpickle = PyImport_ImportModule("cloudpickle");
  w.loads = cloudpickle ? PyObject_GetAttrString(cloudpickle, "loads") : NULL;
  Py_XDECREF(cloudpickle);
  w.record_batch_type = hw_record_batch_type();
  if (!w.loads) return -1;
  forked_from = &w;
  pthread_atfork(NULL, NULL, after_fork_in_child);
  hw_wbuf ready = {0};
  hw_msg_ready_encode(&ready, (int64_t)getpid());
  hw_error err;
  hw_error_init(&err);
  int rc = hw_wire_send(sock, HW_MSG_READY, &ready, -1, &err);
  hw_wbuf_free(&ready);
  while (rc == 0 && !w.stop) {
    hw_msg_type type;
    uint8_t* payload;
    size_t len;
    int fd, interrupted;
    int got;
    refuse_forked(&w);
    Py_BEGIN_ALLOW_THREADS
    got = hw_wire_recv(sock, &type, &payload, &len, &fd, &interrupted, &err);
    Py_END_ALLOW_THREADS
    if (got == -1 && interrupted) {
      if (PyErr_CheckSignals() != 0) PyErr_Clear(); /* a cancel with no task running */
      continue;
    }
    if (got != 0) break; /* the host is gone */
    if (fd >= 0) close(fd);
    if (type == HW_MSG_SETUP) rc = handle_setup(&w, payload, len);
    else if (type == HW_MSG_RUN) {
      atomic_store(&w.cancelled, false);
      cancel_signal(true);
      rc = handle_run(&w, payload, len);
      cancel_signal(false);
    } else if (type == HW_MSG_TASK) {
      atomic_store(&w.cancelled, false);
      cancel_signal(true);
      rc = handle_task(&w, payload, len);
      cancel_signal(false);
    } else handle_control(&w, type, payload, len);
    free(payload);
  }
  clear_query(&w);
  for (int32_t i = 0; i < w.n_regions; i++) {
    hw_region_destroy(w.regions[i]);
    free(w.regions[i]);
  }
  free(w.regions);
  Py_XDECREF(w.loads);
  Py_XDECREF(w.record_batch_type);
  forked_from = NULL;
  return 0;
}
