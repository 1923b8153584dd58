/*
 * hw_field <-> Arrow C Data Interface schema (struct ArrowSchema), following the format strings
 * of the Arrow specification.
 *
 * Export: every ArrowSchema node owns its strings and children through a private struct freed by
 * its release callback (children are ArrowSchema structs held in the parent's private data and
 * released by the parent's release, unless a consumer moved one out and nulled its release).
 * Import: reads the input without taking ownership and copies everything into the hw_field.
 *
 * Error classes: UNSUPPORTED_DATA_TYPE (a valid Arrow type headwater does not build, or a
 * dictionary-encoded field); HW_INVALID_ARROW_SCHEMA (a malformed schema); HW_INVALID_ARGUMENT
 * (an hw_field that cannot be exported); HW_OUT_OF_MEMORY.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "schema/field.h"

static char* dup_string(const char* s, size_t len) {
  char* out = malloc(len + 1);
  if (!out) return NULL;
  if (len) memcpy(out, s, len);
  out[len] = '\0';
  return out;
}

/* ================================ export ================================ */

typedef struct schema_private {
  char* format;
  char* name;
  char* metadata;
  int64_t n_children;               /* children exported so far */
  struct ArrowSchema* child_schemas; /* malloc'ed; released by the parent's release */
  struct ArrowSchema** child_ptrs;   /* ArrowSchema.children points here */
} schema_private;

static void schema_private_free(schema_private* p) {
  if (!p) return;
  for (int64_t i = 0; i < p->n_children; i++) {
    struct ArrowSchema* c = &p->child_schemas[i];
    if (c->release) c->release(c); /* NULL when a consumer moved the child out */
  }
  free(p->child_schemas);
  free(p->child_ptrs);
  free(p->format);
  free(p->name);
  free(p->metadata);
  free(p);
}

static void release_schema(struct ArrowSchema* schema) {
  if (!schema || !schema->release) return;
  schema_private_free(schema->private_data);
  schema->private_data = NULL;
  schema->release = NULL;
}

static const char* field_label(const hw_field* f) { return f->name ? f->name : ""; }

/* The format string of f (malloc'ed), or NULL with err set. */
static char* export_format(const hw_field* f, hw_error* err) {
  const char* fixed = NULL;
  switch (f->type) {
    case HW_TYPE_NULL: fixed = "n"; break;
    case HW_TYPE_BOOL: fixed = "b"; break;
    case HW_TYPE_INT8: fixed = "c"; break;
    case HW_TYPE_INT16: fixed = "s"; break;
    case HW_TYPE_INT32: fixed = "i"; break;
    case HW_TYPE_INT64: fixed = "l"; break;
    case HW_TYPE_UINT8: fixed = "C"; break;
    case HW_TYPE_UINT16: fixed = "S"; break;
    case HW_TYPE_UINT32: fixed = "I"; break;
    case HW_TYPE_UINT64: fixed = "L"; break;
    case HW_TYPE_FLOAT32: fixed = "f"; break;
    case HW_TYPE_FLOAT64: fixed = "g"; break;
    case HW_TYPE_UTF8: fixed = "u"; break; /* CHAR/VARCHAR too: Arrow has no such types */
    case HW_TYPE_LARGE_UTF8: fixed = "U"; break;
    case HW_TYPE_BINARY: fixed = "z"; break;
    case HW_TYPE_LARGE_BINARY: fixed = "Z"; break;
    case HW_TYPE_DATE32: fixed = "tdD"; break;
    case HW_TYPE_LIST: fixed = "+l"; break;
    case HW_TYPE_MAP: fixed = "+m"; break;
    case HW_TYPE_STRUCT: fixed = "+s"; break;
    case HW_TYPE_TIMESTAMP: {
      char unit;
      switch (f->unit) {
        case HW_TIME_SECOND: unit = 's'; break;
        case HW_TIME_MILLI: unit = 'm'; break;
        case HW_TIME_MICRO: unit = 'u'; break;
        case HW_TIME_NANO: unit = 'n'; break;
        default:
          hw_error_set(err, "HW_INVALID_ARGUMENT", "field '%s': unknown time unit %d", field_label(f), (int)f->unit);
          return NULL;
      }
      const char* tz = f->timezone ? f->timezone : "";
      size_t tz_len = strlen(tz);
      char* out = malloc(tz_len + 5);
      if (!out) {
        hw_error_oom(err);
        return NULL;
      }
      out[0] = 't';
      out[1] = 's';
      out[2] = unit;
      out[3] = ':';
      memcpy(out + 4, tz, tz_len + 1);
      return out;
    }
    case HW_TYPE_DECIMAL128: {
      if (f->precision < 1 || f->precision > HW_DECIMAL_MAX_PRECISION) {
        hw_error_set(err, "HW_INVALID_ARGUMENT", "field '%s': decimal precision %d is not between 1 and %d",
                     field_label(f), (int)f->precision, HW_DECIMAL_MAX_PRECISION);
        return NULL;
      }
      char buf[48];
      snprintf(buf, sizeof buf, "d:%d,%d", (int)f->precision, (int)f->scale);
      char* out = dup_string(buf, strlen(buf));
      if (!out) hw_error_oom(err);
      return out;
    }
  }
  if (!fixed) {
    hw_error_set(err, "HW_INVALID_ARGUMENT", "field '%s': unknown type id %d", field_label(f), (int)f->type);
    return NULL;
  }
  char* out = dup_string(fixed, strlen(fixed));
  if (!out) hw_error_oom(err);
  return out;
}

static void put_i32(char* p, int32_t v) { memcpy(p, &v, sizeof v); }

/* Arrow's binary metadata holding the single pair ("comment", comment). NULL with err set on
 * failure. */
static char* export_metadata(const char* comment, hw_error* err) {
  static const char key[] = "comment";
  size_t key_len = sizeof key - 1;
  size_t value_len = strlen(comment);
  if (value_len > (size_t)INT32_MAX - 64) {
    hw_error_set(err, "HW_INVALID_ARGUMENT", "comment too long for Arrow metadata");
    return NULL;
  }
  char* out = malloc(4 + 4 + key_len + 4 + value_len);
  if (!out) {
    hw_error_oom(err);
    return NULL;
  }
  char* p = out;
  put_i32(p, 1);
  p += 4;
  put_i32(p, (int32_t)key_len);
  p += 4;
  memcpy(p, key, key_len);
  p += key_len;
  put_i32(p, (int32_t)value_len);
  p += 4;
  if (value_len) memcpy(p, comment, value_len);
  return out;
}

/* Checks f's children match its type (the layout field.h describes). */
static int export_check_shape(const hw_field* f, hw_error* err) {
  switch (f->type) {
    case HW_TYPE_LIST:
      if (f->n_children != 1 || !f->children)
        return hw_error_set(err, "HW_INVALID_ARGUMENT", "field '%s': a list needs exactly one child", field_label(f));
      return 0;
    case HW_TYPE_MAP:
      if (f->n_children != 1 || !f->children || f->children[0].type != HW_TYPE_STRUCT ||
          f->children[0].n_children != 2)
        return hw_error_set(err, "HW_INVALID_ARGUMENT",
                            "field '%s': a map needs one struct child of two fields (key, value)", field_label(f));
      return 0;
    case HW_TYPE_STRUCT:
      if (f->n_children < 0 || (f->n_children > 0 && !f->children))
        return hw_error_set(err, "HW_INVALID_ARGUMENT", "field '%s': malformed struct", field_label(f));
      return 0;
    default:
      if (f->n_children != 0)
        return hw_error_set(err, "HW_INVALID_ARGUMENT", "field '%s': a primitive type has no children",
                            field_label(f));
      return 0;
  }
}

/* default_name: used when f has no name (list element, map entries/key/value); NULL = "".
 * map_entries: f is a map's entries struct (its children default to "key" and "value"). */
static int export_rec(const hw_field* f, const char* default_name, bool map_entries, struct ArrowSchema* out,
                      int depth, hw_error* err) {
  if (depth >= HW_MAX_NESTING) return hw_error_set(err, "FAILED_TO_PARSE_TOO_COMPLEX", HW_NESTING_MESSAGE);
  if (export_check_shape(f, err) != 0) return -1;
  schema_private* p = calloc(1, sizeof *p);
  if (!p) return hw_error_oom(err);

  const char* name = f->name ? f->name : (default_name ? default_name : "");
  if (!(p->format = export_format(f, err))) goto fail;
  if (!(p->name = dup_string(name, strlen(name)))) goto oom;
  if (f->comment && !(p->metadata = export_metadata(f->comment, err))) goto fail;

  if (f->n_children > 0) {
    p->child_schemas = calloc((size_t)f->n_children, sizeof *p->child_schemas);
    p->child_ptrs = calloc((size_t)f->n_children, sizeof *p->child_ptrs);
    if (!p->child_schemas || !p->child_ptrs) goto oom;
    for (int32_t i = 0; i < f->n_children; i++) {
      const char* dflt = NULL;
      if (f->type == HW_TYPE_LIST) dflt = "element";
      else if (f->type == HW_TYPE_MAP) dflt = "entries";
      else if (map_entries) dflt = i == 0 ? "key" : "value";
      if (export_rec(&f->children[i], dflt, f->type == HW_TYPE_MAP, &p->child_schemas[i], depth + 1, err) != 0)
        goto fail;
      p->child_ptrs[i] = &p->child_schemas[i];
      p->n_children = i + 1;
    }
  }

  out->format = p->format;
  out->name = p->name;
  out->metadata = p->metadata;
  out->flags = f->nullable ? ARROW_FLAG_NULLABLE : 0;
  out->n_children = f->n_children;
  out->children = f->n_children > 0 ? p->child_ptrs : NULL;
  out->dictionary = NULL;
  out->release = release_schema;
  out->private_data = p;
  return 0;

oom:
  hw_error_oom(err);
fail:
  schema_private_free(p);
  return -1;
}

int hw_field_to_arrow(const hw_field* f, struct ArrowSchema* out, hw_error* err) {
  if (!f || !out) return hw_error_set(err, "HW_INVALID_ARGUMENT", "no field or output schema");
  struct ArrowSchema tmp;
  if (export_rec(f, NULL, false, &tmp, 0, err) != 0) return -1;
  *out = tmp;
  return 0;
}

/* ================================ import ================================ */

/* The dotted path of the field being imported, for messages ("a.b"); truncated if very long. */
typedef struct import_path {
  char text[512];
  size_t len;
} import_path;

static size_t path_push(import_path* path, const char* name) {
  size_t saved = path->len;
  const char* n = name ? name : "";
  int written = snprintf(path->text + path->len, sizeof path->text - path->len, "%s%s", path->len ? "." : "", n);
  if (written > 0) {
    size_t w = (size_t)written;
    path->len = path->len + w < sizeof path->text ? path->len + w : sizeof path->text - 1;
  }
  return saved;
}

static void path_pop(import_path* path, size_t saved) {
  path->len = saved;
  path->text[saved] = '\0';
}

/* Sets err with "column 'path': " before the message (no prefix when path is empty). */
static int import_error(hw_error* err, const import_path* path, const char* error_class, const char* what) {
  if (path->len) return hw_error_set(err, error_class, "column '%s': %s", path->text, what);
  return hw_error_set(err, error_class, "%s", what);
}

static int unsupported(hw_error* err, const import_path* path, const char* format) {
  char what[256];
  snprintf(what, sizeof what, "unsupported Arrow type '%s'", format);
  return import_error(err, path, "UNSUPPORTED_DATA_TYPE", what);
}

static int malformed(hw_error* err, const import_path* path, const char* what, const char* format) {
  char msg[320];
  if (format)
    snprintf(msg, sizeof msg, "malformed Arrow schema: %s (format '%s')", what, format);
  else
    snprintf(msg, sizeof msg, "malformed Arrow schema: %s", what);
  return import_error(err, path, "HW_INVALID_ARROW_SCHEMA", msg);
}

/* Parses an optionally negative decimal int32 at *p; advances *p. */
static bool parse_i32(const char** p, int32_t* out) {
  const char* s = *p;
  bool neg = false;
  if (*s == '-') {
    neg = true;
    s++;
  }
  if (*s < '0' || *s > '9') return false;
  int64_t v = 0;
  while (*s >= '0' && *s <= '9') {
    v = v * 10 + (*s - '0');
    if (v > (int64_t)INT32_MAX + 1) return false;
    s++;
  }
  if (neg) v = -v;
  if (v > INT32_MAX || v < INT32_MIN) return false;
  *out = (int32_t)v;
  *p = s;
  return true;
}

static int32_t get_i32(const char* p) {
  int32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* Finds the "comment" key of Arrow binary metadata; copies its value into *comment. */
static int import_metadata(const char* metadata, char** comment, hw_error* err, const import_path* path) {
  if (!metadata) return 0;
  const char* p = metadata;
  int32_t n = get_i32(p);
  p += 4;
  if (n < 0) return malformed(err, path, "negative metadata pair count", NULL);
  for (int32_t i = 0; i < n; i++) {
    int32_t key_len = get_i32(p);
    p += 4;
    if (key_len < 0) return malformed(err, path, "negative metadata key length", NULL);
    const char* key = p;
    p += key_len;
    int32_t value_len = get_i32(p);
    p += 4;
    if (value_len < 0) return malformed(err, path, "negative metadata value length", NULL);
    const char* value = p;
    p += value_len;
    if (key_len == 7 && memcmp(key, "comment", 7) == 0) {
      char* copy = dup_string(value, (size_t)value_len);
      if (!copy) return hw_error_oom(err);
      free(*comment);
      *comment = copy;
    }
  }
  return 0;
}

/* Sets out's type (and parameters) from a format string that takes no children. */
static int import_format(const char* fmt, hw_field* out, hw_error* err, const import_path* path) {
  static const struct {
    const char* format;
    hw_type_id type;
  } simple[] = {
      {"n", HW_TYPE_NULL},          {"b", HW_TYPE_BOOL},       {"c", HW_TYPE_INT8},
      {"s", HW_TYPE_INT16},         {"i", HW_TYPE_INT32},      {"l", HW_TYPE_INT64},
      {"C", HW_TYPE_UINT8},         {"S", HW_TYPE_UINT16},     {"I", HW_TYPE_UINT32},
      {"L", HW_TYPE_UINT64},        {"f", HW_TYPE_FLOAT32},    {"g", HW_TYPE_FLOAT64},
      {"u", HW_TYPE_UTF8},          {"U", HW_TYPE_LARGE_UTF8}, {"z", HW_TYPE_BINARY},
      {"Z", HW_TYPE_LARGE_BINARY},  {"tdD", HW_TYPE_DATE32},   {"+l", HW_TYPE_LIST},
      {"+m", HW_TYPE_MAP},          {"+s", HW_TYPE_STRUCT},
  };
  for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
    if (strcmp(fmt, simple[i].format) == 0) {
      out->type = simple[i].type;
      return 0;
    }
  }
  if (fmt[0] == 't' && fmt[1] == 's' && fmt[2] != '\0') {
    hw_time_unit unit;
    switch (fmt[2]) {
      case 's': unit = HW_TIME_SECOND; break;
      case 'm': unit = HW_TIME_MILLI; break;
      case 'u': unit = HW_TIME_MICRO; break;
      case 'n': unit = HW_TIME_NANO; break;
      default: return unsupported(err, path, fmt);
    }
    if (fmt[3] != ':') return malformed(err, path, "timestamp format without ':'", fmt);
    const char* tz = fmt + 4;
    out->type = HW_TYPE_TIMESTAMP;
    out->unit = unit;
    if (*tz) {
      if (!(out->timezone = dup_string(tz, strlen(tz)))) return hw_error_oom(err);
    }
    return 0;
  }
  if (fmt[0] == 'd' && fmt[1] == ':') {
    const char* p = fmt + 2;
    int32_t precision, scale, bitwidth = 128;
    if (!parse_i32(&p, &precision) || *p != ',') return malformed(err, path, "invalid decimal format", fmt);
    p++;
    if (!parse_i32(&p, &scale)) return malformed(err, path, "invalid decimal format", fmt);
    if (*p == ',') {
      p++;
      if (!parse_i32(&p, &bitwidth)) return malformed(err, path, "invalid decimal format", fmt);
    }
    if (*p != '\0') return malformed(err, path, "invalid decimal format", fmt);
    if (bitwidth != 128) return unsupported(err, path, fmt);
    if (precision < 1 || precision > HW_DECIMAL_MAX_PRECISION)
      return malformed(err, path, "decimal128 precision must be between 1 and 38", fmt);
    out->type = HW_TYPE_DECIMAL128;
    out->precision = precision;
    out->scale = scale;
    return 0;
  }
  return unsupported(err, path, fmt);
}

static int import_rec(const struct ArrowSchema* s, hw_field* out, import_path* path, int depth, hw_error* err) {
  if (depth >= HW_MAX_NESTING) return import_error(err, path, "HW_INVALID_ARROW_SCHEMA", HW_NESTING_MESSAGE);
  const char* fmt = s->format;
  if (!fmt) return malformed(err, path, "missing format string", NULL);
  if (!*fmt) return malformed(err, path, "empty format string", NULL);
  if (s->dictionary) {
    char what[256];
    snprintf(what, sizeof what, "dictionary-encoded Arrow type (index type '%s') is not supported", fmt);
    return import_error(err, path, "UNSUPPORTED_DATA_TYPE", what);
  }
  if (s->n_children < 0 || s->n_children > INT32_MAX || (s->n_children > 0 && !s->children))
    return malformed(err, path, "invalid children", fmt);

  if (s->name && hw_field_set_name(out, s->name, strlen(s->name), err) != 0) return -1;
  out->nullable = (s->flags & ARROW_FLAG_NULLABLE) != 0;
  if (import_format(fmt, out, err, path) != 0) return -1;
  if (import_metadata(s->metadata, &out->comment, err, path) != 0) return -1;

  int64_t n = s->n_children;
  switch (out->type) {
    case HW_TYPE_LIST:
    case HW_TYPE_MAP:
      if (n != 1) return malformed(err, path, "a list or map needs exactly one child", fmt);
      break;
    case HW_TYPE_STRUCT:
      break;
    default:
      if (n != 0) return malformed(err, path, "a primitive type has no children", fmt);
      break;
  }
  if (n > 0) {
    if (hw_field_alloc_children(out, (int32_t)n, err) != 0) return -1;
    for (int64_t i = 0; i < n; i++) {
      const struct ArrowSchema* c = s->children[i];
      if (!c) return malformed(err, path, "missing child schema", fmt);
      size_t saved = path_push(path, c->name);
      int rc = import_rec(c, &out->children[i], path, depth + 1, err);
      if (rc == 0 && out->type == HW_TYPE_MAP) {
        const hw_field* e = &out->children[0];
        if (e->type != HW_TYPE_STRUCT || e->n_children != 2)
          rc = malformed(err, path, "a map's child must be a struct of two fields (key, value)", c->format);
      }
      path_pop(path, saved);
      if (rc != 0) return -1;
    }
  }
  return 0;
}

int hw_field_from_arrow(const struct ArrowSchema* schema, hw_field* out, hw_error* err) {
  if (!schema || !out) return hw_error_set(err, "HW_INVALID_ARGUMENT", "no schema or output field");
  import_path path = {{0}, 0};
  if (!schema->release) return malformed(err, &path, "the schema was already released", NULL);
  hw_field tmp;
  hw_field_init(&tmp);
  /* the root's own name is part of paths only when it has one (a record batch's is "") */
  if (schema->name && *schema->name) path_push(&path, schema->name);
  if (import_rec(schema, &tmp, &path, 0, err) != 0) {
    hw_field_release(&tmp);
    return -1;
  }
  *out = tmp;
  return 0;
}
