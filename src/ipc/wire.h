/*
 * The host <-> worker protocol over a socketpair (SOCK_STREAM): framed messages,
 * shared-memory file descriptors passed with SCM_RIGHTS, and the descriptor of
 * a batch (where each buffer of each node lies in a region), which the host
 * checks before it touches any of it.
 *
 * One header, three files: ipc/frame.c (payload buffers, framing), ipc/messages.c (an encoder and a
 * decoder per message kind), ipc/batch_desc.c (batch descriptors).
 */
#ifndef HW_IPC_WIRE_H
#define HW_IPC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/shm.h"
#include "schema/field.h"

typedef enum hw_msg_type {
  /* host -> worker */
  HW_MSG_SETUP = 1,   /* query, credits, limits, schema (Spark JSON), pickled reader, source name */
  HW_MSG_RUN = 2,     /* partition index, pickled partition */
  HW_MSG_CREDIT = 3,  /* one more batch may be sent */
  HW_MSG_RELEASE = 4, /* region id: the host dropped the batch it held */
  HW_MSG_CANCEL = 5,  /* stop the current task */
  HW_MSG_SHUTDOWN = 6,
  HW_MSG_TASK = 7,    /* task index, pickled callable (see hw_msg_task_encode) */
  /* worker -> host */
  HW_MSG_READY = 20,  /* pid */
  HW_MSG_REGION = 21, /* region id, capacity; carries the memfd */
  HW_MSG_BATCH = 22,  /* partition, region id, descriptor */
  HW_MSG_DONE = 23,   /* partition finished (or stopped by CANCEL) */
  HW_MSG_ERROR = 24,  /* partition, row, column, error class, message, traceback */
  HW_MSG_RESULT = 25, /* task index, ok flag, payload (see hw_msg_result_encode) */
} hw_msg_type;

/* A growable payload and a cursor to read one. */
typedef struct hw_wbuf {
  uint8_t* data;
  size_t size, capacity;
  int failed; /* an allocation failed: the payload is unusable */
} hw_wbuf;

void hw_wbuf_put_i64(hw_wbuf* b, int64_t v);
void hw_wbuf_put_bytes(hw_wbuf* b, const void* p, size_t n); /* length-prefixed */
void hw_wbuf_free(hw_wbuf* b);

typedef struct hw_rbuf {
  const uint8_t* data;
  size_t size, pos;
  int failed; /* read past the end */
} hw_rbuf;

int64_t hw_rbuf_i64(hw_rbuf* r);
/* A length-prefixed byte string, pointing into the payload; NULL (and failed) if it overruns. */
const uint8_t* hw_rbuf_bytes(hw_rbuf* r, size_t* n);

/* TASK: a pickled callable for a worker to run, tagged with its index. A worker calls it with no
 * arguments; it returns (ok: bool, payload: bytes), sent back as RESULT. DONE(index) instead says
 * the task was stopped by CANCEL; ERROR(index, ...) that running it raised. */
void hw_msg_task_encode(hw_wbuf* out, int64_t index, const void* task, size_t n);
/* Decodes a TASK payload: *task points into p. -1 (HW_MALFORMED_MESSAGE) when malformed. */
int hw_msg_task_decode(const uint8_t* p, size_t len, int64_t* index, const uint8_t** task, size_t* n, hw_error* err);

/* RESULT: what task index returned: ok (the task's own verdict) and its payload, then the run
 * report's counters of a write task (st: the write's and the read's, each optional; NULL: none). */
struct hw_task_stats;
void hw_msg_result_encode(hw_wbuf* out, int64_t index, bool ok, const void* payload, size_t n,
                          const struct hw_task_stats* st);
/* Decodes a RESULT payload: *payload points into p, *st filled (has_* false when absent). -1
 * (HW_MALFORMED_MESSAGE) when malformed. */
int hw_msg_result_decode(const uint8_t* p, size_t len, int64_t* index, bool* ok, const uint8_t** payload, size_t* n,
                         struct hw_task_stats* st, hw_error* err);

/* The decoders of the other messages that carry a payload. Each takes the payload of one message
 * (what hw_wire_recv returned), checks it whole (every field present, no trailing bytes, counts and
 * lengths inside the payload) and returns pointers into it; -1 (HW_MALFORMED_MESSAGE) when
 * malformed. READY and DONE carry a number nobody reads; CREDIT, CANCEL, SHUTDOWN nothing. */

/* SETUP (host -> worker). */
typedef struct hw_msg_setup {
  int64_t query, credits, max_rows, max_bytes;
  const uint8_t *schema_json, *reader, *name; /* Spark JSON, pickled reader, source name */
  size_t n_schema_json, n_reader, n_name;
  int64_t n_columns;      /* -1: every column; else 0..INT32_MAX positions follow */
  const uint8_t* columns; /* n_columns int64 values (unaligned): read with hw_msg_setup_column */
  int64_t exact_batches;  /* RecordBatches must match the schema exactly (the Spark API's rule) */
} hw_msg_setup;
int hw_msg_setup_decode(const uint8_t* p, size_t len, hw_msg_setup* out, hw_error* err);
/* Column position i of a decoded SETUP; -1 if it does not fit an int32 (hw_field_project refuses it). */
int32_t hw_msg_setup_column(const hw_msg_setup* m, int64_t i);

/* RUN (host -> worker): partition index, pickled partition. */
int hw_msg_run_decode(const uint8_t* p, size_t len, int64_t* index, const uint8_t** pickled, size_t* n,
                      hw_error* err);

/* RELEASE (host -> worker): the region id. */
int hw_msg_release_decode(const uint8_t* p, size_t len, int64_t* region_id, hw_error* err);

/* REGION (worker -> host): region id (0..INT32_MAX) and capacity (> 0); the memfd comes with it. */
int hw_msg_region_decode(const uint8_t* p, size_t len, int32_t* region_id, size_t* capacity, hw_error* err);

/* BATCH (worker -> host): partition index, region id, descriptor (check it with hw_batch_decode). */
int hw_msg_batch_decode(const uint8_t* p, size_t len, int64_t* index, int64_t* region_id, const uint8_t** desc,
                        size_t* n, hw_error* err);

/* ERROR (worker -> host): partition, row, column, error class, message, traceback. */
typedef struct hw_msg_error {
  int64_t partition, row, column;
  const uint8_t *error_class, *message, *traceback;
  size_t n_error_class, n_message, n_traceback;
} hw_msg_error;
int hw_msg_error_decode(const uint8_t* p, size_t len, hw_msg_error* out, hw_error* err);
/* Fills e from a decoded ERROR: class, message (both cut to fit), row and column; partition is left
 * to the caller. *traceback: a malloc'd copy, or NULL when empty (or out of memory). */
void hw_msg_error_apply(const hw_msg_error* m, hw_error* e, char** traceback);

/* The encoders of the other messages, one per kind: each appends the whole payload to out (a
 * failed allocation leaves out->failed set, which hw_wire_send refuses). */

/* SETUP: m's numbers and byte strings; columns[0..m->n_columns) the positions converted (NULL when
 * m->n_columns is -1: every column). m->columns is not read. */
void hw_msg_setup_encode(hw_wbuf* out, const hw_msg_setup* m, const int32_t* columns);
/* RUN: partition index, pickled partition. */
void hw_msg_run_encode(hw_wbuf* out, int64_t index, const void* pickled, size_t n);
/* CREDIT: the serial of the SETUP it is for (a worker ignores one naming another). */
void hw_msg_credit_encode(hw_wbuf* out, int64_t serial);
/* RELEASE: the region id. */
void hw_msg_release_encode(hw_wbuf* out, int64_t region_id);
/* READY: the worker's pid; DONE: the partition (or task) that ended, bare (a task stopped before it
 * read) or with the partition's statistics (the run report). The stats decoder returns -1 for a
 * bare DONE or a malformed one. */
void hw_msg_ready_encode(hw_wbuf* out, int64_t pid);
void hw_msg_done_encode(hw_wbuf* out, int64_t index);
struct hw_partition_stats;
void hw_msg_done_stats_encode(hw_wbuf* out, const struct hw_partition_stats* st);
int hw_msg_done_stats_decode(const uint8_t* p, size_t len, struct hw_partition_stats* st);
/* REGION: region id and capacity (the memfd is passed with the message). */
void hw_msg_region_encode(hw_wbuf* out, int64_t region_id, size_t capacity);
/* The bytes of an array's Arrow buffers, as far as its slots reach (offset + length; what
 * hw_batch_encode would copy), children included; a node not of f's layout counts 0. The run
 * report's bytes of a batch: a record batch of schema s counts hw_array_bytes(&s.children[i], ...)
 * over its columns. */
int64_t hw_array_bytes(const hw_field* f, const struct ArrowArray* a);
/* BATCH: partition index, region id, descriptor (made by hw_batch_encode). */
void hw_msg_batch_encode(hw_wbuf* out, int64_t index, int64_t region_id, const void* desc, size_t n);
/* ERROR: partition, and e's row, column, class and message; traceback may be NULL. */
void hw_msg_error_encode(hw_wbuf* out, int64_t partition, const hw_error* e, const char* traceback);

/* The host's reading of an ERROR payload from the worker running partition (or task) index: e
 * gets the worker's class, message, row and column, and its partition (index when the message names
 * none); *traceback a malloc'd copy or NULL. A malformed payload is HW_MALFORMED_MESSAGE (the
 * same fault on every path). */
void hw_msg_error_read(const uint8_t* p, size_t len, int64_t index, hw_error* e, char** traceback);

/* Sends one message (with fd attached when pass_fd >= 0). -1 with err set when the peer is gone. */
int hw_wire_send(int sock, hw_msg_type type, const hw_wbuf* payload, int pass_fd, hw_error* err);

/* Receives one message: *payload is malloc'd (caller frees), *fd gets a passed descriptor or -1.
 * Returns 0, 1 at end of stream (peer closed), -1 on error. EINTR is retried unless
 * *interrupted is non-NULL, when it returns -1 with *interrupted = 1. */
int hw_wire_recv(int sock, hw_msg_type* type, uint8_t** payload, size_t* len, int* fd, int* interrupted,
                 hw_error* err);

/* Worker side: describes batch (of schema) for the host. Buffers already in region are referenced
 * by offset; any other buffer (a RecordBatch the source built) is copied into region once. */
int hw_batch_encode(const hw_field* schema, const struct ArrowArray* batch, hw_region* region, hw_wbuf* out,
                    hw_error* err);

/* Host side: checks a descriptor against schema and the region's bounds and builds the batch over
 * the region's memory, without copying. on_release(token) runs when the batch is released. */
int hw_batch_decode(const hw_field* schema, const uint8_t* desc, size_t len, const hw_region* region,
                    void (*on_release)(void* token), void* token, struct ArrowArray* out, hw_error* err);

#endif
