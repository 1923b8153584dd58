/*
 * hw_field -> Spark DDL ("a INT NOT NULL, b ARRAY<STRING>") and Spark's simpleString
 * ("struct<a:int,b:array<string>>"). One recursive walk serves both styles.
 *
 * Spark DDL cannot say that an ARRAY's elements or a MAP's values are non-nullable
 * (containsNull / valueContainsNull = false): such types are rendered as if nullable, so a
 * round trip through DDL loses exactly that. Arrow-only distinctions collapse the same way:
 * large strings/binaries render as STRING/BINARY and every timestamp unit as TIMESTAMP (Spark
 * only has microseconds). Unsigned integers have no Spark type and are an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/text.h"
#include "schema/field.h"

typedef enum style {
  STYLE_DDL,    /* uppercase types, quoted names, NOT NULL and COMMENT */
  STYLE_SIMPLE, /* Spark's simpleString: lowercase, names as they are, nothing else */
} style;

typedef struct renderer {
  hw_text out;
  style style;
  hw_error* err;
} renderer;

/* Spark's lowercase (simpleString) name of an atomic type, or NULL if f is not one Spark has. */
static const char* atomic_name(const hw_field* f) {
  switch (f->type) {
    case HW_TYPE_NULL: return "void";
    case HW_TYPE_BOOL: return "boolean";
    case HW_TYPE_INT8: return "tinyint";
    case HW_TYPE_INT16: return "smallint";
    case HW_TYPE_INT32: return "int";
    case HW_TYPE_INT64: return "bigint";
    case HW_TYPE_FLOAT32: return "float";
    case HW_TYPE_FLOAT64: return "double";
    case HW_TYPE_UTF8:
    case HW_TYPE_LARGE_UTF8: return "string";
    case HW_TYPE_BINARY:
    case HW_TYPE_LARGE_BINARY: return "binary";
    case HW_TYPE_DATE32: return "date";
    case HW_TYPE_TIMESTAMP: return f->timezone ? "timestamp" : "timestamp_ntz";
    default: return NULL;
  }
}

static const char* unsigned_name(hw_type_id t) {
  switch (t) {
    case HW_TYPE_UINT8: return "uint8";
    case HW_TYPE_UINT16: return "uint16";
    case HW_TYPE_UINT32: return "uint32";
    case HW_TYPE_UINT64: return "uint64";
    default: return NULL;
  }
}

/* Appends a keyword given in lowercase, uppercased in DDL style. */
static void put_keyword(renderer* r, const char* kw) {
  char buf[64];
  size_t n = strlen(kw);
  if (n >= sizeof buf) n = sizeof buf - 1;
  for (size_t i = 0; i < n; i++) {
    char c = kw[i];
    buf[i] = (r->style == STYLE_DDL && c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
  }
  hw_text_put(&r->out, buf, n);
}

static bool is_plain_identifier(const char* s) {
  if (!*s || (*s >= '0' && *s <= '9')) return false;
  for (; *s; s++) {
    char c = *s;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

static void put_name(renderer* r, const char* name) {
  if (!name) name = "";
  if (r->style == STYLE_SIMPLE || is_plain_identifier(name)) {
    hw_text_put_str(&r->out, name);
    return;
  }
  hw_text_put(&r->out, "`", 1);
  for (const char* s = name; *s; s++) {
    hw_text_put(&r->out, s, 1);
    if (*s == '`') hw_text_put(&r->out, "`", 1); /* ` is escaped by doubling */
  }
  hw_text_put(&r->out, "`", 1);
}

/* A single-quoted literal our parser (and Spark's) reads back to the same text. */
static void put_comment(renderer* r, const char* comment) {
  hw_text_put(&r->out, " COMMENT '", 10);
  for (const char* s = comment; *s; s++) {
    switch (*s) {
      case '\'': hw_text_put(&r->out, "\\'", 2); break;
      case '\\': hw_text_put(&r->out, "\\\\", 2); break;
      case '\n': hw_text_put(&r->out, "\\n", 2); break;
      case '\r': hw_text_put(&r->out, "\\r", 2); break;
      case '\t': hw_text_put(&r->out, "\\t", 2); break;
      default: hw_text_put(&r->out, s, 1); break;
    }
  }
  hw_text_put(&r->out, "'", 1);
}

static int render_type(renderer* r, const hw_field* f, int depth);

/* One struct field: "name TYPE NOT NULL COMMENT '...'" at the top level of DDL, "name: TYPE ..."
 * inside STRUCT<>, "name:type" in simpleString. depth = the field's level in the Arrow schema tree
 * (HW_MAX_NESTING: the root is 0, a MAP's key and value are 2 below the map). */
static int render_field(renderer* r, const hw_field* f, int depth, bool top) {
  put_name(r, f->name);
  if (r->style == STYLE_SIMPLE) hw_text_put(&r->out, ":", 1);
  else hw_text_put_str(&r->out, top ? " " : ": ");
  if (render_type(r, f, depth) != 0) return -1;
  if (r->style == STYLE_DDL) {
    if (!f->nullable) hw_text_put(&r->out, " NOT NULL", 9);
    if (f->comment) put_comment(r, f->comment);
  }
  return 0;
}

static int render_fields(renderer* r, const hw_field* f, int depth, bool top) {
  if (f->n_children > 0 && !f->children)
    return hw_error_set(r->err, "HW_MALFORMED_FIELD", "struct has %d fields but no children array",
                        (int)f->n_children);
  for (int32_t i = 0; i < f->n_children; i++) {
    if (i > 0) hw_text_put_str(&r->out, r->style == STYLE_DDL ? ", " : ",");
    if (render_field(r, &f->children[i], depth, top) != 0) return -1;
  }
  return 0;
}

static int render_type(renderer* r, const hw_field* f, int depth) {
  if (depth >= HW_MAX_NESTING) return hw_error_set(r->err, "FAILED_TO_PARSE_TOO_COMPLEX", HW_NESTING_MESSAGE);
  char buf[64];
  switch (f->type) {
    case HW_TYPE_DECIMAL128:
      snprintf(buf, sizeof buf, "decimal(%d,%d)", (int)f->precision, (int)f->scale);
      put_keyword(r, buf);
      return 0;
    case HW_TYPE_UTF8:
      if (f->string_kind != HW_STRING_PLAIN) {
        snprintf(buf, sizeof buf, "%s(%d)", f->string_kind == HW_STRING_CHAR ? "char" : "varchar",
                 (int)f->string_length);
        put_keyword(r, buf);
        return 0;
      }
      break;
    case HW_TYPE_LIST:
      if (f->n_children != 1 || !f->children)
        return hw_error_set(r->err, "HW_MALFORMED_FIELD", "list field must have exactly one child");
      put_keyword(r, "array<");
      if (render_type(r, &f->children[0], depth + 1) != 0) return -1;
      hw_text_put(&r->out, ">", 1);
      return 0;
    case HW_TYPE_MAP: {
      const hw_field* entries = f->n_children == 1 && f->children ? &f->children[0] : NULL;
      if (!entries || entries->n_children != 2 || !entries->children)
        return hw_error_set(r->err, "HW_MALFORMED_FIELD",
                            "map field must have one 'entries' child with a key and a value");
      put_keyword(r, "map<");
      if (render_type(r, &entries->children[0], depth + 2) != 0) return -1; /* below the entries struct */
      hw_text_put_str(&r->out, r->style == STYLE_DDL ? ", " : ",");
      if (render_type(r, &entries->children[1], depth + 2) != 0) return -1;
      hw_text_put(&r->out, ">", 1);
      return 0;
    }
    case HW_TYPE_STRUCT:
      put_keyword(r, "struct<");
      if (render_fields(r, f, depth + 1, false) != 0) return -1;
      hw_text_put(&r->out, ">", 1);
      return 0;
    default: break;
  }
  const char* name = atomic_name(f);
  if (!name) {
    const char* u = unsigned_name(f->type);
    if (u) return hw_error_set(r->err, "UNSUPPORTED_DATATYPE", "type %s has no Spark equivalent", u);
    return hw_error_set(r->err, "HW_MALFORMED_FIELD", "unknown type id %d", (int)f->type);
  }
  put_keyword(r, name);
  return 0;
}

static int finish(renderer* r, int rc, char** out) {
  if (rc == 0 && r->out.oom) rc = hw_error_oom(r->err);
  if (rc == 0 && !r->out.data) { /* an empty struct renders as "" */
    hw_text_put(&r->out, "", 0);
    if (r->out.oom) rc = hw_error_oom(r->err);
  }
  if (rc != 0) {
    free(r->out.data);
    return -1;
  }
  *out = r->out.data;
  return 0;
}

int hw_ddl_render(const hw_field* f, char** out, hw_error* err) {
  renderer r = {.style = STYLE_DDL, .err = err};
  int rc;
  if (f->type == HW_TYPE_STRUCT) rc = render_fields(&r, f, 1, true); /* the struct is level 1 */
  else rc = render_type(&r, f, 0);
  return finish(&r, rc, out);
}

int hw_simple_string(const hw_field* f, char** out, hw_error* err) {
  renderer r = {.style = STYLE_SIMPLE, .err = err};
  return finish(&r, render_type(&r, f, 0), out);
}
