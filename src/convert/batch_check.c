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

int hw_batch_conform(const hw_field* schema, const hw_field* got, struct ArrowArray* array, struct ArrowArray* out,
                     hw_error* err) {
  if (got->type != HW_TYPE_STRUCT || got->n_children != schema->n_children || array->n_children != got->n_children)
    return hw_error_set(err, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH",
                        "Return schema mismatch in the result from 'read' method. Expected: %d columns, Found: %d "
                        "columns. Make sure the returned values match the required output schema.",
                        schema->n_children, got->type == HW_TYPE_STRUCT ? got->n_children : 1);
  int64_t n = schema->n_children;
  int64_t* order = malloc(sizeof *order * (size_t)(n > 0 ? n : 1));
  if (!order) return hw_error_oom(err);
  bool identity = true;
  for (int64_t i = 0; i < n; i++) {
    const hw_field* want = &schema->children[i];
    order[i] = -1;
    for (int64_t j = 0; j < n && order[i] < 0; j++)
      if (strcmp(name_of(want), name_of(&got->children[j])) == 0) order[i] = j;
    if (order[i] < 0) {
      char expected[512], found[512];
      names_list(schema, expected, sizeof expected);
      names_list(got, found, sizeof found);
      free(order);
      err->column = (int32_t)i;
      return hw_error_set(err, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH",
                          "Return schema mismatch in the result from 'read' method. Expected: %s columns, Found: "
                          "%s columns. Make sure the returned values match the required output schema.",
                          expected, found);
    }
    if (!hw_field_same_type(want, &got->children[order[i]])) {
      const hw_field* found = &got->children[order[i]];
      free(order);
      err->column = (int32_t)i;
      return type_mismatch(want, found, err);
    }
    identity = identity && order[i] == i;
  }
  int rc = 0;
  if (identity) {
    hw_array_move(array, out);
  } else {
    struct ArrowArray moved;
    hw_array_move(array, &moved);
    rc = hw_array_reorder_children(&moved, order, n, out, err);
  }
  free(order);
  return rc;
}
