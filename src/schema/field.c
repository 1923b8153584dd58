#include "schema/field.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

void hw_field_init(hw_field* f) {
  memset(f, 0, sizeof *f);
  f->type = HW_TYPE_NULL;
  f->nullable = true;
  f->unit = HW_TIME_MICRO;
}

void hw_field_release(hw_field* f) {
  if (!f) return;
  for (int32_t i = 0; i < f->n_children; i++) hw_field_release(&f->children[i]);
  free(f->children);
  free(f->name);
  free(f->timezone);
  free(f->comment);
  hw_field_init(f);
}

static char* copy_string(const char* s, size_t len) {
  char* out = malloc(len + 1);
  if (!out) return NULL;
  memcpy(out, s, len);
  out[len] = '\0';
  return out;
}

int hw_field_set_name(hw_field* f, const char* name, size_t len, hw_error* err) {
  char* copy = copy_string(name, len);
  if (!copy) return hw_error_oom(err);
  free(f->name);
  f->name = copy;
  return 0;
}

int hw_field_alloc_children(hw_field* f, int32_t n, hw_error* err) {
  if (n <= 0) return 0;
  f->children = calloc((size_t)n, sizeof *f->children);
  if (!f->children) return hw_error_oom(err);
  for (int32_t i = 0; i < n; i++) hw_field_init(&f->children[i]);
  f->n_children = n;
  return 0;
}

int hw_field_copy(hw_field* dst, const hw_field* src, hw_error* err) {
  hw_field tmp = *src;
  tmp.name = NULL;
  tmp.timezone = NULL;
  tmp.comment = NULL;
  tmp.children = NULL;
  tmp.n_children = 0;
  if ((src->name && !(tmp.name = copy_string(src->name, strlen(src->name)))) ||
      (src->timezone && !(tmp.timezone = copy_string(src->timezone, strlen(src->timezone)))) ||
      (src->comment && !(tmp.comment = copy_string(src->comment, strlen(src->comment))))) {
    hw_field_release(&tmp);
    return hw_error_oom(err);
  }
  if (hw_field_alloc_children(&tmp, src->n_children, err) != 0) {
    hw_field_release(&tmp);
    return -1;
  }
  for (int32_t i = 0; i < src->n_children; i++) {
    if (hw_field_copy(&tmp.children[i], &src->children[i], err) != 0) {
      hw_field_release(&tmp);
      return -1;
    }
  }
  *dst = tmp;
  return 0;
}

int hw_field_project(hw_field* dst, const hw_field* src, const int32_t* columns, int32_t n, hw_error* err) {
  if (!columns) return hw_field_copy(dst, src, err);
  for (int32_t i = 0; i < n; i++)
    if (columns[i] < 0 || columns[i] >= src->n_children)
      return hw_error_set(err, "HW_INVALID_ARGUMENT", "column %d does not exist (the schema has %d)", columns[i],
                          src->n_children);
  hw_field shell = *src; /* the struct itself, without its children, then the chosen ones */
  shell.children = NULL;
  shell.n_children = 0;
  hw_field tmp;
  if (hw_field_copy(&tmp, &shell, err) != 0) return -1;
  if (hw_field_alloc_children(&tmp, n, err) != 0) {
    hw_field_release(&tmp);
    return -1;
  }
  for (int32_t i = 0; i < n; i++) {
    if (hw_field_copy(&tmp.children[i], &src->children[columns[i]], err) != 0) {
      hw_field_release(&tmp);
      return -1;
    }
  }
  *dst = tmp;
  return 0;
}

static bool same_string(const char* a, const char* b) {
  return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Names of list elements and map entries are layout details ("item" in pyarrow, "element" here):
 * only struct field names take part in equality, compared by the parent. */
static bool equal_rec(const hw_field* a, const hw_field* b, bool nullability) {
  if (a->type != b->type || (nullability && a->nullable != b->nullable) || a->n_children != b->n_children)
    return false;
  if (a->type == HW_TYPE_DECIMAL128 && (a->precision != b->precision || a->scale != b->scale)) return false;
  if (a->type == HW_TYPE_TIMESTAMP && (a->unit != b->unit || (a->timezone == NULL) != (b->timezone == NULL) ||
                                       !same_string(a->timezone, b->timezone)))
    return false;
  for (int32_t i = 0; i < a->n_children; i++) {
    if (a->type == HW_TYPE_STRUCT && !same_string(a->children[i].name, b->children[i].name)) return false;
    if (!equal_rec(&a->children[i], &b->children[i], nullability)) return false;
  }
  return true;
}

bool hw_field_equal(const hw_field* a, const hw_field* b) {
  /* the top level is a schema, not a field: its name and nullability mean nothing */
  hw_field top = *b;
  top.nullable = a->nullable;
  return equal_rec(a, &top, true);
}

bool hw_field_same_type(const hw_field* a, const hw_field* b) { return equal_rec(a, b, false); }
