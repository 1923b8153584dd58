#include "convert/batch_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arrow/array.h"
#include "common/error.h"

static const char* name_of(const hw_field* f) { return f->name ? f->name : ""; }

/* "['a', 'b']", as Spark prints a list of names. */
static void names_list(const hw_field* s, char* out, size_t size) {
  size_t used = 0;
  out[0] = '\0';
  for (int32_t i = 0; i <= s->n_children && used < size; i++) {
    int n = i == s->n_children ? snprintf(out + used, size - used, "]")
                               : snprintf(out + used, size - used, "%s'%s'", i ? ", " : "[", name_of(&s->children[i]));
    if (n < 0) break;
    used += (size_t)n;
  }
  if (s->n_children == 0 && size > 2) memcpy(out, "[]", 3);
  hw_utf8_trim_cut(out); /* a long list is cut by bytes */
}

static int type_mismatch(const hw_field* want, const hw_field* got, hw_error* err) {
  char *w = NULL, *g = NULL;
  hw_error ignored;
  if (hw_ddl_render(want, &w, &ignored) != 0) w = NULL;
  if (hw_ddl_render(got, &g, &ignored) != 0) g = NULL;
  hw_error_set(err, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH",
               "Return schema mismatch in the result from 'read' method: column '%s' is %s in the RecordBatch, "
               "but the schema declares %s.",
               name_of(want), g ? g : "a type with no Spark form", w ? w : "?");
  hw_free(w);
  hw_free(g);
  return -1;
}

/* large_utf8/large_binary where the schema says utf8/binary: the same data, 32-bit offsets. */
static bool narrows(const hw_field* want, const hw_field* got) {
  return (want->type == HW_TYPE_UTF8 && got->type == HW_TYPE_LARGE_UTF8) ||
         (want->type == HW_TYPE_BINARY && got->type == HW_TYPE_LARGE_BINARY);
}

typedef struct narrowed_private {
  int32_t* offsets;
  const void* buffers[3];
} narrowed_private;

static void release_narrowed(struct ArrowArray* a) {
  narrowed_private* p = a->private_data;
  free(p->offsets);
  free(p);
  a->release = NULL;
}

/* A copy of col's offsets as int32 (the only copy: validity and data are shared with col, which
 * the caller keeps alive). Offsets before col's own offset are 0 so indexes stay the same. */
static int narrow_column(const hw_field* want, const struct ArrowArray* col, struct ArrowArray* out, hw_error* err) {
  const int64_t* wide = col->buffers[1];
  int64_t end = col->offset + col->length;
  int64_t base = wide ? wide[col->offset] : 0;
  if (wide && (wide[end] - base > INT32_MAX || base < 0))
    return hw_error_set(err, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH",
                        "column '%s' holds more than 2 GiB of %s in one batch; declare it with the large type",
                        name_of(want), want->type == HW_TYPE_UTF8 ? "text" : "bytes");
  narrowed_private* p = calloc(1, sizeof *p);
  int32_t* offsets = calloc((size_t)end + 1, sizeof *offsets);
  if (!p || !offsets) {
    free(p);
    free(offsets);
    return hw_error_oom(err);
  }
  for (int64_t k = col->offset; wide && k <= end; k++) offsets[k] = (int32_t)(wide[k] - base);
  p->offsets = offsets;
  p->buffers[0] = col->buffers[0];
  p->buffers[1] = offsets;
  p->buffers[2] = wide ? (const uint8_t*)col->buffers[2] + base : col->buffers[2];
  memset(out, 0, sizeof *out);
  out->length = col->length;
  out->null_count = col->null_count;
  out->offset = col->offset;
  out->n_buffers = 3;
  out->buffers = p->buffers;
  out->release = release_narrowed;
  out->private_data = p;
  return 0;
}

/* Spark 4.3 compares the first batch's Arrow schema with the declared one (SPARK-55583) and names
 * both in DATA_SOURCE_RETURN_SCHEMA_MISMATCH; this names the first column that differs. */
static int exact_mismatch(const hw_field* schema, const hw_field* got, int64_t i, hw_error* err) {
  const hw_field* want = &schema->children[i];
  const hw_field* found = &got->children[i];
  char *w = NULL, *g = NULL;
  hw_error ignored;
  if (hw_ddl_render(want, &w, &ignored) != 0) w = NULL;
  if (hw_ddl_render(found, &g, &ignored) != 0) g = NULL;
  /* the same Spark type in another Arrow layout (large_string for STRING): say which layout */
  char layout[128] = "";
  if (w && g && strcmp(w, g) == 0 && want->nullable == found->nullable) {
    struct ArrowSchema a = {0}, b = {0};
    if (hw_field_to_arrow(found, &a, &ignored) == 0 && hw_field_to_arrow(want, &b, &ignored) == 0)
      snprintf(layout, sizeof layout, " (Arrow format '%s' where the schema's is '%s')", a.format, b.format);
    if (a.release) a.release(&a);
    if (b.release) b.release(&b);
  }
  err->column = (int32_t)i;
  hw_error_set(err, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH",
               "Return schema mismatch in the result from 'read' method: column %lld is '%s' %s%s in the "
               "RecordBatch, but the schema declares '%s' %s%s%s. Make sure the returned values match the required "
               "output schema.",
               (long long)i, name_of(found), g ? g : "(a type with no Spark form)",
               found->nullable ? "" : " NOT NULL", name_of(want), w ? w : "?", want->nullable ? "" : " NOT NULL",
               layout);
  hw_free(w);
  hw_free(g);
  return -1;
}

int hw_batch_conform(const hw_field* schema, const hw_field* got, const int32_t* columns, int32_t n_columns,
                     bool exact, struct ArrowArray* array, struct ArrowArray* out, hw_error* err) {
  if (got->type != HW_TYPE_STRUCT || got->n_children != schema->n_children || array->n_children != got->n_children)
    return hw_error_set(err, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH",
                        "Return schema mismatch in the result from 'read' method. Expected: %d columns, Found: %d "
                        "columns. Make sure the returned values match the required output schema.",
                        schema->n_children, got->type == HW_TYPE_STRUCT ? got->n_children : 1);
  int64_t n = schema->n_children;
  int64_t* order = malloc(sizeof *order * (size_t)(n > 0 ? n : 1));
  bool* taken = calloc((size_t)(n > 0 ? n : 1), sizeof *taken); /* a batch column matches one declared column */
  if (!order || !taken) {
    free(order);
    free(taken);
    return hw_error_oom(err);
  }
  bool identity = true, narrow = false;
  for (int64_t i = 0; i < n; i++) {
    const hw_field* want = &schema->children[i];
    order[i] = -1;
    /* a repeated name matches its next occurrence, so "a INT, a STRING" never reads column 0 twice */
    for (int64_t j = 0; j < n && order[i] < 0; j++)
      if (!taken[j] && strcmp(name_of(want), name_of(&got->children[j])) == 0) order[i] = j;
    if (order[i] >= 0) taken[order[i]] = true;
    if (order[i] < 0) {
      free(taken);
      char expected[512], found[512];
      names_list(schema, expected, sizeof expected);
      names_list(got, found, sizeof found);
      free(order);
      err->column = (int32_t)i;
      return hw_error_set(err, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH",
                          "Return schema mismatch in the result from 'read' method. Expected: %s columns, Found: "
                          "%s columns. Make sure the returned values match the required output schema. "
                          "(Column '%s' is missing.)",
                          expected, found, name_of(want));
    }
    const hw_field* found = &got->children[order[i]];
    if (exact) continue; /* checked below, once every name is known to be there */
    if (narrows(want, found)) {
      narrow = true;
    } else if (!hw_field_same_type(want, found)) {
      free(order);
      free(taken);
      err->column = (int32_t)i;
      return type_mismatch(want, found, err);
    }
    identity = identity && order[i] == i;
  }
  free(taken);
  for (int64_t i = 0; exact && i < n; i++) {
    const hw_field* want = &schema->children[i];
    const hw_field* found = &got->children[i];
    if (strcmp(name_of(want), name_of(found)) != 0 || want->nullable != found->nullable ||
        !hw_field_same_type(want, found)) {
      free(order);
      return exact_mismatch(schema, got, i, err);
    }
    order[i] = i; /* exact: by position */
  }
  if (exact) identity = true;
  struct ArrowArray* replacements = NULL;
  if (narrow) {
    replacements = calloc((size_t)n, sizeof *replacements);
    if (!replacements) {
      free(order);
      return hw_error_oom(err);
    }
    for (int64_t i = 0; i < n; i++) {
      if (!narrows(&schema->children[i], &got->children[order[i]])) continue;
      if (narrow_column(&schema->children[i], array->children[order[i]], &replacements[i], err) != 0) {
        for (int64_t k = 0; k < i; k++) hw_array_release(&replacements[k]);
        free(replacements);
        free(order);
        err->column = (int32_t)i;
        return -1;
      }
    }
  }
  int rc = 0;
  if (columns) { /* column pruning: keep the chosen columns' children only (no copy) */
    for (int32_t k = 0; k < n_columns; k++) {
      int64_t c = columns[k];
      order[k] = order[c];
      if (replacements && k != c) {
        hw_array_release(&replacements[k]);
        hw_array_move(&replacements[c], &replacements[k]);
      }
    }
    for (int64_t k = n_columns; replacements && k < n; k++) hw_array_release(&replacements[k]);
    n = n_columns;
    identity = false;
  }
  if (identity && !narrow) {
    hw_array_move(array, out);
  } else {
    struct ArrowArray moved;
    hw_array_move(array, &moved);
    rc = hw_array_rebuild_children(&moved, order, replacements, n, out, err);
  }
  free(replacements);
  free(order);
  return rc;
}
