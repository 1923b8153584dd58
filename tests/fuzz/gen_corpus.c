/* Writes the seed corpora of the fuzz targets that take encoded messages, descriptors and batches:
 * real inputs produced by the encoders (hw_msg_*_encode, hw_batch_encode, the framing of
 * hw_wire_send) and the renderers (Spark JSON from DDL). Usage: gen_corpus CORPUS_DIR DDL_FILE...
 * (the DDL seeds; those that parse give the schemas). Run by hand (see tests/fuzz/README.md); the
 * corpus it writes is committed. */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/stats.h"
#include "ipc/wire.h"
#include "fuzz_arrays.h"

static const char* corpus;
static int written;

static void put(const char* target, const char* tag, int k, const void* p, size_t n) {
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s/%s", corpus, target);
  mkdir(dir, 0755);
  snprintf(path, sizeof path, "%s/gen-%s-%03d", dir, tag, k);
  FILE* f = fopen(path, "wb");
  if (!f || (n && fwrite(p, 1, n, f) != n)) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
  fclose(f);
  written++;
}

static char* read_file(const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  char* s = calloc(1, 1 << 16);
  size_t n = fread(s, 1, (1 << 16) - 1, f);
  s[n] = '\0';
  fclose(f);
  return s;
}

/* What a peer writes into the socket for one message (hw_wire_send's framing). */
static void frame(hw_wbuf* stream, hw_msg_type type, const hw_wbuf* payload) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) exit(1);
  hw_error err;
  hw_error_init(&err);
  if (hw_wire_send(sv[0], type, payload, -1, &err) != 0) exit(1);
  close(sv[0]);
  uint8_t buf[4096];
  ssize_t r;
  while ((r = recv(sv[1], buf, sizeof buf, 0)) > 0) {
    for (ssize_t i = 0; i < r; i++) { /* byte by byte through the public writer */
      uint8_t b = buf[i];
      if (stream->size + 1 > stream->capacity) {
        size_t cap = stream->capacity ? stream->capacity * 2 : 256;
        stream->data = realloc(stream->data, cap);
        stream->capacity = cap;
      }
      stream->data[stream->size++] = b;
    }
  }
  close(sv[1]);
}

/* An ArrowSchema tree in fuzz_arrow_schema.c's input form; false if a node has over 3 children. */
static bool serialize_schema(const struct ArrowSchema* s, hw_wbuf* out) {
  if (s->n_children > 3) return false;
  uint8_t ctrl = (uint8_t)(s->n_children | (s->metadata ? 4 : 0) | (s->name ? 8 : 0) |
                           (s->flags & ARROW_FLAG_NULLABLE ? 16 : 0));
  hw_wbuf piece = {0}; /* length-prefixed chunks; the prefixes are stripped below */
  hw_wbuf_put_bytes(&piece, &ctrl, 1);
  hw_wbuf_put_bytes(&piece, s->format, strlen(s->format) + 1);
  hw_wbuf_put_bytes(&piece, s->name ? s->name : "", (s->name ? strlen(s->name) : 0) + 1);
  if (s->metadata) { /* pair count, then each key and value NUL-terminated */
    int32_t n, len;
    size_t at = 4;
    memcpy(&n, s->metadata, 4);
    uint8_t count = (uint8_t)n;
    hw_wbuf_put_bytes(&piece, &count, 1);
    for (int32_t i = 0; i < 2 * n; i++) {
      memcpy(&len, s->metadata + at, 4);
      at += 4;
      char* part = strndup(s->metadata + at, (size_t)len);
      hw_wbuf_put_bytes(&piece, part, (size_t)len + 1);
      free(part);
      at += (size_t)len;
    }
  }
  for (size_t at = 0; at < piece.size;) {
    int64_t n;
    memcpy(&n, piece.data + at, 8);
    at += 8;
    for (int64_t i = 0; i < n; i++) {
      if (out->size + 1 > out->capacity) {
        out->capacity = out->capacity ? out->capacity * 2 : 256;
        out->data = realloc(out->data, out->capacity);
      }
      out->data[out->size++] = piece.data[at + (size_t)i];
    }
    at += (size_t)n;
  }
  hw_wbuf_free(&piece);
  for (int64_t i = 0; i < s->n_children; i++)
    if (!serialize_schema(s->children[i], out)) return false;
  return true;
}

static const char* extra_ddl[] = {
    "a INT, s STRING, ts TIMESTAMP",
    "ts TIMESTAMP, ntz TIMESTAMP_NTZ, dt DATE, dec DECIMAL(10,3), d DOUBLE, e FLOAT, s STRING, b BINARY",
    "t TINYINT, s SMALLINT, i INT, l BIGINT, f FLOAT, d DOUBLE, b BOOLEAN, v VOID",
    "id BIGINT, name STRING, score DOUBLE",
    "a ARRAY<ARRAY<STRING>>, m MAP<STRING, ARRAY<INT>>, s STRUCT<x: INT, y: STRUCT<z: BINARY>>",
    "m MAP<INT, MAP<STRING, DOUBLE>> NOT NULL COMMENT 'nested', d DECIMAL(38,10)",
    "l ARRAY<STRUCT<k: STRING, v: BIGINT NOT NULL>>, c CHAR(4), vc VARCHAR(10)",
};

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  corpus = argv[1];
  int n_ddl = argc - 2 + (int)(sizeof extra_ddl / sizeof *extra_ddl);
  int k = 0;
  for (int a = 0; a < n_ddl; a++) {
    char* ddl = a < argc - 2 ? read_file(argv[2 + a]) : strdup(extra_ddl[a - (argc - 2)]);
    if (!ddl) continue;
    if (a >= argc - 2) put("ddl", "extra", a, ddl, strlen(ddl));
    hw_error err;
    hw_error_init(&err);
    hw_field f;
    if (hw_ddl_parse(ddl, &f, &err) != 0) {
      free(ddl);
      continue;
    }
    /* Spark JSON: the renderer's output for each schema; SETUP messages that carry it (as scan.c's
     * send_setup writes them: every column, or the first and the last) */
    char* json = NULL;
    if (hw_spark_json_render(&f, &json, &err) == 0) {
      put("spark_json", "render", k, json, strlen(json));
      for (int variant = 0; variant < 2 && f.type == HW_TYPE_STRUCT; variant++) {
        hw_wbuf b = {0};
        int32_t cols[2] = {0, f.n_children - 1};
        bool pruned = variant && f.n_children > 0;
        hw_msg_setup m = {.query = 7 + k, .credits = variant ? 4 : INT64_MAX / 2, .max_rows = 65536,
                          .max_bytes = 64 << 20, .schema_json = (const uint8_t*)json, .n_schema_json = strlen(json),
                          .reader = (const uint8_t*)"\x80\x05reader", .n_reader = 8,
                          .name = (const uint8_t*)"source", .n_name = 6,
                          .n_columns = pruned ? (f.n_children > 1 ? 2 : 1) : -1, .exact_batches = variant};
        hw_msg_setup_encode(&b, &m, pruned ? cols : NULL);
        put("msg_setup", "setup", 2 * k + variant, b.data, b.size);
        if (k < 4) {
          hw_wbuf stream = {0};
          frame(&stream, HW_MSG_SETUP, &b);
          put("wire_recv", "setup", 2 * k + variant, stream.data, stream.size);
          hw_wbuf_free(&stream);
        }
        hw_wbuf_free(&b);
      }
      hw_free(json);
    }
    struct ArrowSchema exported;
    if (hw_field_to_arrow(&f, &exported, &err) == 0) {
      hw_wbuf b = {0};
      if (serialize_schema(&exported, &b)) put("arrow_schema", "export", k, b.data, b.size);
      hw_wbuf_free(&b);
      exported.release(&exported);
    }
    if (f.type == HW_TYPE_STRUCT) {
      /* a batch of the schema, twice: as declared and as the same columns given in another order */
      uint8_t bytes[512];
      for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (uint8_t)(i * 37 + k);
      for (int variant = 0; variant < 2; variant++) {
        size_t dl = strlen(ddl);
        uint8_t* buf = malloc(2 * dl + 2 + 3 + sizeof bytes);
        memcpy(buf, ddl, dl + 1);
        memcpy(buf + dl + 1, ddl, dl + 1);
        size_t at = 2 * dl + 2;
        buf[at++] = variant ? 0x80 | 0x05 : 0; /* variant 1: keep columns 0 and 2 */
        buf[at++] = 5;                         /* rows */
        buf[at++] = (uint8_t)variant;          /* offset */
        memcpy(buf + at, bytes, sizeof bytes);
        put("batch_conform", "batch", 2 * k + variant, buf, at + sizeof bytes);
        free(buf);
      }
      /* a descriptor of a batch encoded into a region the fuzz input carries */
      for (int variant = 0; variant < 2; variant++) {
        input in = {bytes, sizeof bytes};
        struct ArrowArray arr;
        build(&f, variant, variant ? 3 : 5, &in, &arr, 0);
        hw_region region = {0};
        region.fd = -1;
        region.capacity = 1 << 15;
        region.base = calloc(1, region.capacity);
        hw_wbuf desc = {0};
        if (hw_batch_encode(&f, &arr, &region, &desc, &err) == 0) {
          size_t dl = strlen(ddl);
          size_t total = dl + 1 + 2 + region.used + desc.size;
          uint8_t* buf = malloc(total);
          memcpy(buf, ddl, dl + 1);
          buf[dl + 1] = (uint8_t)(region.used & 0xFF);
          buf[dl + 2] = (uint8_t)(region.used >> 8);
          memcpy(buf + dl + 3, region.base, region.used);
          memcpy(buf + dl + 3 + region.used, desc.data, desc.size);
          put("batch_decode", "batch", 2 * k + variant, buf, total);
          free(buf);
          if (variant == 0) { /* the BATCH message that carries it (partition, region, descriptor) */
            hw_wbuf msg = {0};
            hw_msg_batch_encode(&msg, k, 0, desc.data, desc.size);
            hw_wbuf stream = {0};
            frame(&stream, HW_MSG_BATCH, &msg);
            put("wire_recv", "batch", k, stream.data, stream.size);
            put("msg_batch", "batch", k, msg.data, msg.size);
            hw_wbuf_free(&stream);
            hw_wbuf_free(&msg);
          }
        } else {
          fprintf(stderr, "encoding a batch of %s: %s\n", ddl, err.message);
        }
        hw_wbuf_free(&desc);
        free(region.base);
        arr.release(&arr);
      }
    }
    hw_field_release(&f);
    free(ddl);
    k++;
  }
  /* TASK and RESULT payloads, and message streams of each kind through the framing */
  static const char pickled[] = "\x80\x05\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94.";
  for (int i = 0; i < 4; i++) {
    hw_wbuf b = {0};
    hw_msg_task_encode(&b, i * 1000, pickled, i == 0 ? 0 : (size_t)(i * 5) % sizeof pickled);
    put("msg_task", "task", i, b.data, b.size);
    hw_wbuf_free(&b);
    /* a write task's counters: none, the write's, the read's, both */
    hw_task_stats st = {.has_write = i & 1, .has_read = i >= 2};
    st.write = (hw_write_stats){i, 1000, 2, 16000, 900, 500, 300, 100, 4242};
    st.read = (hw_partition_stats){.partition = i, .rows = 1000, .batches = 2, .bytes = 16000, .wall_ns = 800, .pid = 4242};
    hw_msg_result_encode(&b, i * 7, i & 1, pickled, i == 3 ? 0 : sizeof pickled - (size_t)i, &st);
    put("msg_result", "result", i, b.data, b.size);
    hw_wbuf stream = {0};
    frame(&stream, HW_MSG_RESULT, &b);
    frame(&stream, HW_MSG_DONE, NULL);
    put("wire_recv", "result", i, stream.data, stream.size);
    hw_wbuf_free(&stream);
    hw_wbuf_free(&b);
  }
  /* RUN, RELEASE, REGION, ERROR as scan.c and worker.c write them */
  for (int i = 0; i < 3; i++) {
    hw_wbuf b = {0};
    hw_msg_run_encode(&b, i * 3, pickled, i == 0 ? 0 : sizeof pickled - 1);
    put("msg_run", "run", i, b.data, b.size);
    hw_wbuf_free(&b);
    hw_msg_release_encode(&b, i);
    put("msg_release", "release", i, b.data, b.size);
    hw_wbuf_free(&b);
    hw_msg_region_encode(&b, i, (size_t)4 << 30);
    put("msg_region", "region", i, b.data, b.size);
    hw_wbuf_free(&b);
    static const char* classes[] = {"PYTHON_DATA_SOURCE_ERROR", "DATA_SOURCE_RETURN_SCHEMA_MISMATCH", ""};
    static const char* messages[] = {"partition 2: ValueError: boom", "Return schema mismatch in the result", ""};
    static const char* tracebacks[] = {"Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom\n",
                                       "", ""};
    hw_error e;
    hw_error_init(&e);
    snprintf(e.error_class, sizeof e.error_class, "%s", classes[i]);
    snprintf(e.message, sizeof e.message, "%s", messages[i]);
    e.row = i == 1 ? 17 : -1;
    e.column = i == 1 ? 3 : -1;
    hw_msg_error_encode(&b, i == 2 ? -1 : i, &e, tracebacks[i]);
    put("msg_error", "error", i, b.data, b.size);
    hw_wbuf stream = {0};
    frame(&stream, HW_MSG_ERROR, &b);
    put("wire_recv", "error", i, stream.data, stream.size);
    hw_wbuf_free(&stream);
    hw_wbuf_free(&b);
  }
  hw_wbuf stream = {0}, b = {0};
  hw_msg_ready_encode(&b, 4242);
  frame(&stream, HW_MSG_READY, &b);
  hw_wbuf_free(&b);
  hw_msg_region_encode(&b, 0, (size_t)1 << 32);
  frame(&stream, HW_MSG_REGION, &b);
  frame(&stream, HW_MSG_CREDIT, NULL);
  frame(&stream, HW_MSG_SHUTDOWN, NULL);
  put("wire_recv", "control", 0, stream.data, stream.size);
  hw_wbuf_free(&b);
  hw_wbuf_free(&stream);
  fprintf(stderr, "gen_corpus: wrote %d files\n", written);
  return 0;
}
