#include "arrow/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arrow/array.h"
#include "common/error.h"
#include "schema/field.h"

typedef struct batch_stream {
  hw_field schema;            /* owned copy; exported afresh for each get_schema */
  struct ArrowArray* batches; /* owned; consumed ones are marked released */
  int64_t n;
  int64_t next;
  hw_error error;
} batch_stream;

static int stream_get_schema(struct ArrowArrayStream* stream, struct ArrowSchema* out) {
  batch_stream* s = stream->private_data;
  if (hw_field_to_arrow(&s->schema, out, &s->error) != 0) return ENOMEM;
  return 0;
}

static int stream_get_next(struct ArrowArrayStream* stream, struct ArrowArray* out) {
  batch_stream* s = stream->private_data;
  if (s->next >= s->n) {
    memset(out, 0, sizeof *out); /* release == NULL marks the end of the stream */
    return 0;
  }
  hw_array_move(&s->batches[s->next++], out);
  return 0;
}

static const char* stream_get_last_error(struct ArrowArrayStream* stream) {
  batch_stream* s = stream->private_data;
  return s->error.message[0] ? s->error.message : NULL;
}

static void stream_release(struct ArrowArrayStream* stream) {
  batch_stream* s = stream->private_data;
  for (int64_t i = 0; i < s->n; i++) hw_array_release(&s->batches[i]);
  free(s->batches);
  hw_field_release(&s->schema);
  free(s);
  stream->release = NULL;
}

int hw_batch_stream_init(struct ArrowArrayStream* out, const hw_field* schema, struct ArrowArray* batches,
                         int64_t n, hw_error* err) {
  batch_stream* s = calloc(1, sizeof *s);
  struct ArrowArray* owned = calloc((size_t)(n > 0 ? n : 1), sizeof *owned);
  if (!s || !owned || hw_field_copy(&s->schema, schema, err) != 0) {
    free(s);
    free(owned);
    for (int64_t i = 0; i < n; i++) hw_array_release(&batches[i]);
    return hw_error_oom(err);
  }
  hw_error_init(&s->error);
  for (int64_t i = 0; i < n; i++) hw_array_move(&batches[i], &owned[i]);
  s->batches = owned;
  s->n = n;
  out->get_schema = stream_get_schema;
  out->get_next = stream_get_next;
  out->get_last_error = stream_get_last_error;
  out->release = stream_release;
  out->private_data = s;
  return 0;
}
