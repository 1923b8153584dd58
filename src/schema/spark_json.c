/*
 * Spark's JSON schema form <-> hw_field.
 *
 * Rendering produces exactly what PySpark's DataType.json() produces: json.dumps(jsonValue(),
 * separators=(",", ":"), sort_keys=True) with Python's default ensure_ascii=True. So keys come
 * sorted ("fields" before "type"; "metadata", "name", "nullable", "type" in a field) and every
 * non-ASCII character is a \uXXXX escape. Spark's JVM writes the same keys unsorted; both orders
 * parse.
 *
 * Parsing is strict JSON (RFC 8259) in two passes over the text, with no document tree: the first
 * checks the syntax of the whole document (containers nested at most JSON_MAX_DEPTH deep); the
 * second reads types, finding each object's keys by scanning it and decoding values in place.
 * Unknown keys are skipped; a field's metadata contributes only "comment". Errors give the byte
 * offset (from 0) of the offending value.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/text.h"
#include "schema/field.h"

/* Every struct level costs three containers (type, "fields", field) and a leaf one more
 * (metadata), so HW_MAX_NESTING types need about 3 * 64 + 1: four per level leaves headroom. */
#define JSON_MAX_DEPTH (4 * HW_MAX_NESTING)

/* ---- errors ---- */

typedef struct jparser {
  const char* s;
  hw_error* err;
} jparser;

static int jfail(jparser* j, size_t off, const char* error_class, const char* fmt, ...) HW_PRINTF(4, 5);
static int jfail(jparser* j, size_t off, const char* error_class, const char* fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return hw_error_set(j->err, error_class, "offset %zu: %s", off, msg);
}

/* The character at off for messages: 'c', \xNN for bytes that are not printable, or end of input. */
static void describe_char(const jparser* j, size_t off, char* buf, size_t cap) {
  const unsigned char* u = (const unsigned char*)j->s + off;
  uint32_t cp;
  int n = hw_utf8_decode(u, &cp);
  if (!*u) snprintf(buf, cap, "end of input");
  else if (n > 1 || (n == 1 && cp >= 0x20 && cp != 0x7F)) snprintf(buf, cap, "'%.*s'", n, (const char*)u);
  else snprintf(buf, cap, "'\\x%02X'", *u);
}

static int fail_expected(jparser* j, size_t off, const char* what) {
  char found[32];
  describe_char(j, off, found, sizeof found);
  return jfail(j, off, "PARSE_SYNTAX_ERROR", "expected %s, found %s", what, found);
}

/* ---- syntax ---- */

static size_t skip_ws(const char* s, size_t i) {
  while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') i++;
  return i;
}

/* Reads the string at *pos (a '"'), leaving *pos after it. Decodes into out unless out is NULL
 * (then it only checks). Decoded strings may not contain NUL: they become C strings. */
static int read_string(jparser* j, size_t* pos, hw_text* out) {
  const char* s = j->s;
  size_t start = *pos, i = start + 1;
  for (;;) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"') break;
    if (c == '\0') return jfail(j, start, "PARSE_SYNTAX_ERROR", "unterminated string");
    if (c < 0x20)
      return jfail(j, i, "PARSE_SYNTAX_ERROR", "control character U+%04X must be escaped in a string", c);
    if (c == '\\') {
      size_t esc = i;
      char e = s[i + 1];
      const char* simple = NULL;
      switch (e) {
        case '"': simple = "\""; break;
        case '\\': simple = "\\"; break;
        case '/': simple = "/"; break;
        case 'b': simple = "\b"; break;
        case 'f': simple = "\f"; break;
        case 'n': simple = "\n"; break;
        case 'r': simple = "\r"; break;
        case 't': simple = "\t"; break;
        default: break;
      }
      if (simple) {
        if (out) hw_text_put(out, simple, 1);
        i += 2;
        continue;
      }
      if (e == '\0') return jfail(j, start, "PARSE_SYNTAX_ERROR", "unterminated string");
      if (e != 'u') {
        if (e > 0x20 && e < 0x7F) return jfail(j, esc, "PARSE_SYNTAX_ERROR", "invalid escape '\\%c' in a string", e);
        return jfail(j, esc, "PARSE_SYNTAX_ERROR", "invalid escape in a string");
      }
      int hi = hw_hex4(s + i + 2);
      if (hi < 0) return jfail(j, esc, "PARSE_SYNTAX_ERROR", "expected four hex digits after \\u");
      uint32_t cp = (uint32_t)hi;
      i += 6;
      if (hw_is_high_surrogate(hi)) {
        int lo = (s[i] == '\\' && s[i + 1] == 'u') ? hw_hex4(s + i + 2) : -1;
        if (!hw_is_low_surrogate(lo))
          return jfail(j, esc, "PARSE_SYNTAX_ERROR", "high surrogate \\u%04X is not followed by a low surrogate",
                       (unsigned)hi);
        cp = hw_surrogate_join(hi, lo);
        i += 6;
      } else if (hw_is_low_surrogate(hi)) {
        return jfail(j, esc, "PARSE_SYNTAX_ERROR", "lone low surrogate \\u%04X", (unsigned)hi);
      }
      if (out) {
        if (cp == 0)
          return jfail(j, esc, "INVALID_JSON_DATA_TYPE", "strings containing \\u0000 are not supported");
        hw_text_put_utf8(out, cp);
      }
      continue;
    }
    uint32_t cp;
    int n = hw_utf8_decode((const unsigned char*)s + i, &cp);
    if (n == 0) return jfail(j, i, "PARSE_SYNTAX_ERROR", "invalid UTF-8 in a string");
    if (out) hw_text_put(out, s + i, (size_t)n);
    i += (size_t)n;
  }
  *pos = i + 1;
  if (out) {
    hw_text_put(out, "", 0); /* a decoded empty string is "", not NULL */
    if (out->oom) return hw_error_oom(j->err);
  }
  return 0;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int skip_number(jparser* j, size_t* pos) {
  const char* s = j->s;
  size_t i = *pos;
  if (s[i] == '-') i++;
  if (s[i] == '0') i++;
  else if (is_digit(s[i])) while (is_digit(s[i])) i++;
  else return fail_expected(j, i, "a digit");
  if (s[i] == '.') {
    if (!is_digit(s[++i])) return fail_expected(j, i, "a digit after '.'");
    while (is_digit(s[i])) i++;
  }
  if (s[i] == 'e' || s[i] == 'E') {
    i++;
    if (s[i] == '+' || s[i] == '-') i++;
    if (!is_digit(s[i])) return fail_expected(j, i, "a digit in the exponent");
    while (is_digit(s[i])) i++;
  }
  *pos = i;
  return 0;
}

/* Checks the value at *pos (after whitespace) and moves *pos past it. depth = enclosing containers. */
static int skip_value(jparser* j, size_t* pos, int depth) {
  const char* s = j->s;
  size_t i = skip_ws(s, *pos);
  char c = s[i];
  if (c == '{' || c == '[') {
    if (depth + 1 > JSON_MAX_DEPTH)
      return jfail(j, i, "PARSE_SYNTAX_ERROR", "JSON nested deeper than %d levels", JSON_MAX_DEPTH);
    char close = c == '{' ? '}' : ']';
    i = skip_ws(s, i + 1);
    if (s[i] == close) {
      *pos = i + 1;
      return 0;
    }
    for (;;) {
      if (c == '{') {
        if (s[i] != '"') return fail_expected(j, i, "a string key");
        if (read_string(j, &i, NULL) != 0) return -1;
        i = skip_ws(s, i);
        if (s[i] != ':') return fail_expected(j, i, "':' after an object key");
        i++;
      }
      if (skip_value(j, &i, depth + 1) != 0) return -1;
      i = skip_ws(s, i);
      if (s[i] == close) break;
      if (s[i] != ',') return fail_expected(j, i, c == '{' ? "',' or '}' in an object" : "',' or ']' in an array");
      i = skip_ws(s, i + 1);
    }
    *pos = i + 1;
    return 0;
  }
  if (c == '"') {
    *pos = i;
    return read_string(j, pos, NULL);
  }
  if (c == '-' || is_digit(c)) {
    *pos = i;
    return skip_number(j, pos);
  }
  static const char* const literals[] = {"true", "false", "null"};
  for (size_t k = 0; k < 3; k++) {
    size_t n = strlen(literals[k]);
    if (strncmp(s + i, literals[k], n) == 0) {
      *pos = i + n;
      return 0;
    }
  }
  return fail_expected(j, i, "a value");
}

/* ---- reading types (the document's syntax is known to be good) ---- */

static const char* kind_of(char c) {
  switch (c) {
    case '{': return "an object";
    case '[': return "an array";
    case '"': return "a string";
    case 't':
    case 'f': return "a boolean";
    case 'n': return "null";
    default: return "a number";
  }
}

static int fail_kind(jparser* j, size_t off, const char* key, const char* want) {
  return jfail(j, off, "INVALID_JSON_DATA_TYPE", "\"%s\" must be %s, found %s", key, want, kind_of(j->s[off]));
}

/* Finds the values of keys[0..n) in the object at pos: found[k] is the offset of the value (after
 * whitespace) or SIZE_MAX if absent. Other keys are skipped; a repeated wanted key is an error. */
static int find_keys(jparser* j, size_t pos, const char* const* keys, size_t n, size_t* found) {
  const char* s = j->s;
  for (size_t k = 0; k < n; k++) found[k] = SIZE_MAX;
  size_t i = skip_ws(s, pos + 1);
  if (s[i] == '}') return 0;
  for (;;) {
    size_t key_pos = i;
    hw_text key = {0};
    if (read_string(j, &i, &key) != 0) {
      free(key.data);
      return -1;
    }
    i = skip_ws(s, i) + 1; /* past ':' */
    size_t value = skip_ws(s, i);
    for (size_t k = 0; k < n; k++) {
      if (strlen(keys[k]) == key.len && memcmp(keys[k], key.data, key.len) == 0) {
        if (found[k] != SIZE_MAX) {
          free(key.data);
          return jfail(j, key_pos, "INVALID_JSON_DATA_TYPE", "duplicate key \"%s\"", keys[k]);
        }
        found[k] = value;
      }
    }
    free(key.data);
    if (skip_value(j, &i, 0) != 0) return -1;
    i = skip_ws(s, i);
    if (s[i] == '}') return 0;
    i = skip_ws(s, i + 1); /* past ',' */
  }
}

static int require(jparser* j, size_t obj, const size_t* found, const char* const* keys, size_t k, const char* what) {
  if (found[k] != SIZE_MAX) return 0;
  return jfail(j, obj, "INVALID_JSON_DATA_TYPE", "%s has no \"%s\" key", what, keys[k]);
}

static int read_bool(jparser* j, size_t pos, const char* key, bool* out) {
  if (strncmp(j->s + pos, "true", 4) == 0) *out = true;
  else if (strncmp(j->s + pos, "false", 5) == 0) *out = false;
  else return fail_kind(j, pos, key, "true or false");
  return 0;
}

/* Decodes the string at pos into a malloc'ed C string. */
static int read_cstring(jparser* j, size_t pos, const char* key, char** out) {
  if (j->s[pos] != '"') return fail_kind(j, pos, key, "a string");
  hw_text t = {0};
  if (read_string(j, &pos, &t) != 0) {
    free(t.data);
    return -1;
  }
  *out = t.data;
  return 0;
}

static char* copy_cstr(const char* s) {
  size_t n = strlen(s) + 1;
  char* c = malloc(n);
  if (c) memcpy(c, s, n);
  return c;
}

/* A number inside a type name such as "decimal(10,2)": its value, saturated past INT32_MAX,
 * and its text (for messages, so huge numbers are quoted as written). */
typedef struct param {
  int64_t value;
  const char* text;
  int len;
} param;

static const char* skip_space_in_name(const char* p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
  return p;
}

/* Matches "<prefix>(" number ["," number ...] ")" (want numbers) over the whole of name, with
 * whitespace where PySpark's regular expressions allow it; only a second number may be negative
 * (a decimal's scale). Returns false if name does not match. */
static bool match_params(const char* name, const char* prefix, int want, param* out) {
  size_t n = strlen(prefix);
  if (strncmp(name, prefix, n) != 0 || name[n] != '(') return false;
  const char* p = name + n + 1;
  for (int k = 0; k < want; k++) {
    p = skip_space_in_name(p);
    if (k > 0) {
      if (*p++ != ',') return false;
      p = skip_space_in_name(p);
    }
    const char* start = p;
    if (k > 0 && *p == '-') p++;
    if (!is_digit(*p)) return false;
    int64_t v = 0;
    for (; is_digit(*p); p++)
      if (v <= INT32_MAX) v = v * 10 + (*p - '0');
    out[k].value = *start == '-' ? -v : v;
    out[k].text = start;
    out[k].len = (int)(p - start > 40 ? 40 : p - start);
  }
  p = skip_space_in_name(p);
  return p[0] == ')' && p[1] == '\0';
}

/* The source text of the JSON string at pos, for messages: printable and valid UTF-8 once the
 * syntax pass is done; at most 40 bytes, cut at a character. */
static int source_text(const jparser* j, size_t pos, const char** out, bool* cut) {
  const char* src = j->s + pos + 1;
  size_t len = 0;
  while (src[len] != '"') len += src[len] == '\\' ? 2 : 1;
  *cut = len > 40;
  if (*cut) {
    len = 40;
    while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80) len--;
  }
  *out = src;
  return (int)len;
}

static const struct json_atomic {
  const char* name;
  hw_type_id type;
} k_atomic[] = {
    {"boolean", HW_TYPE_BOOL},      {"byte", HW_TYPE_INT8},         {"short", HW_TYPE_INT16},
    {"integer", HW_TYPE_INT32},     {"long", HW_TYPE_INT64},        {"float", HW_TYPE_FLOAT32},
    {"double", HW_TYPE_FLOAT64},    {"string", HW_TYPE_UTF8},       {"binary", HW_TYPE_BINARY},
    {"date", HW_TYPE_DATE32},       {"timestamp", HW_TYPE_TIMESTAMP}, {"timestamp_ntz", HW_TYPE_TIMESTAMP},
    {"void", HW_TYPE_NULL},         {"null", HW_TYPE_NULL}, /* "null": NullType's name before Spark 3 */
};

/* An atomic type named by the JSON string at pos. */
static int read_atomic(jparser* j, size_t pos, hw_field* f) {
  char* name;
  if (read_cstring(j, pos, "type", &name) != 0) return -1;
  int rc = 0;
  param v[2] = {{10, "10", 2}, {0, "0", 1}}; /* "decimal" alone is Spark's DecimalType() default */
  size_t k = 0;
  while (k < sizeof k_atomic / sizeof k_atomic[0] && strcmp(name, k_atomic[k].name) != 0) k++;
  if (k < sizeof k_atomic / sizeof k_atomic[0]) {
    f->type = k_atomic[k].type;
    if (strcmp(name, "timestamp") == 0 && !(f->timezone = copy_cstr("UTC"))) rc = hw_error_oom(j->err);
  } else if (strcmp(name, "decimal") == 0 || match_params(name, "decimal", 2, v)) {
    f->type = HW_TYPE_DECIMAL128;
    if (v[0].value > HW_DECIMAL_MAX_PRECISION)
      rc = jfail(j, pos, "DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION", "decimal precision %.*s exceeds max precision %d",
                 v[0].len, v[0].text, HW_DECIMAL_MAX_PRECISION);
    else if (v[0].value < 1)
      rc = jfail(j, pos, "UNSUPPORTED_DATATYPE", "decimal precision must be at least 1, found 0");
    else if (v[1].value < 0)
      rc = jfail(j, pos, "UNSUPPORTED_DATATYPE", "negative decimal scale %.*s is not supported", v[1].len, v[1].text);
    else if (v[1].value > v[0].value)
      rc = jfail(j, pos, "DECIMAL_SCALE_EXCEEDS_PRECISION", "decimal scale %.*s cannot be greater than precision %d",
                 v[1].len, v[1].text, (int)v[0].value);
    f->precision = (int32_t)v[0].value;
    f->scale = (int32_t)v[1].value;
  } else if (match_params(name, "char", 1, v) || match_params(name, "varchar", 1, v)) {
    f->type = HW_TYPE_UTF8;
    f->string_kind = name[0] == 'c' ? HW_STRING_CHAR : HW_STRING_VARCHAR;
    if (v[0].value > INT32_MAX)
      rc = jfail(j, pos, "DATATYPE_PARAMETER_VALUE_OUT_OF_RANGE", "%s length %.*s is out of the range of a 32-bit integer",
                 name[0] == 'c' ? "char" : "varchar", v[0].len, v[0].text);
    f->string_length = (int32_t)v[0].value;
  } else {
    const char* src;
    bool cut;
    int len = source_text(j, pos, &src, &cut);
    rc = jfail(j, pos, "INVALID_JSON_DATA_TYPE", "unknown data type \"%.*s%s\"", len, src, cut ? "..." : "");
  }
  free(name);
  return rc;
}

static int read_type(jparser* j, size_t pos, int depth, hw_field* f);

/* The field object at pos: "name", "type", "nullable" required; "metadata" optional. */
static int read_field(jparser* j, size_t pos, int depth, hw_field* f) {
  if (j->s[pos] != '{')
    return jfail(j, pos, "INVALID_JSON_DATA_TYPE", "a struct field must be an object, found %s", kind_of(j->s[pos]));
  static const char* const keys[] = {"name", "type", "nullable", "metadata"};
  size_t at[4];
  if (find_keys(j, pos, keys, 4, at) != 0) return -1;
  for (size_t k = 0; k < 3; k++)
    if (require(j, pos, at, keys, k, "a struct field") != 0) return -1;
  if (read_cstring(j, at[0], "name", &f->name) != 0 || read_type(j, at[1], depth, f) != 0 ||
      read_bool(j, at[2], "nullable", &f->nullable) != 0)
    return -1;
  size_t meta = at[3];
  if (meta == SIZE_MAX || strncmp(j->s + meta, "null", 4) == 0) return 0;
  if (j->s[meta] != '{') return fail_kind(j, meta, "metadata", "an object");
  static const char* const meta_keys[] = {"comment"};
  size_t comment;
  if (find_keys(j, meta, meta_keys, 1, &comment) != 0) return -1;
  if (comment != SIZE_MAX && read_cstring(j, comment, "comment", &f->comment) != 0) return -1;
  return 0;
}

static int read_struct(jparser* j, size_t obj, size_t fields, int depth, hw_field* f) {
  const char* s = j->s;
  if (s[fields] != '[') return fail_kind(j, fields, "fields", "an array");
  int64_t n = 0;
  size_t i = skip_ws(s, fields + 1);
  if (s[i] != ']') {
    for (;;) { /* count first, so the children array is allocated once */
      if (skip_value(j, &i, 0) != 0) return -1;
      n++;
      i = skip_ws(s, i);
      if (s[i] == ']') break;
      i++;
    }
  }
  if (n > INT32_MAX) return jfail(j, obj, "INVALID_JSON_DATA_TYPE", "too many fields");
  if (hw_field_alloc_children(f, (int32_t)n, j->err) != 0) return -1;
  i = skip_ws(s, fields + 1);
  for (int32_t k = 0; k < (int32_t)n; k++) {
    if (read_field(j, i, depth, &f->children[k]) != 0) return -1;
    if (skip_value(j, &i, 0) != 0) return -1;
    i = skip_ws(s, skip_ws(s, i) + 1); /* past ',' or ']' */
  }
  return 0;
}

/* depth = f's level in the Arrow schema tree (HW_MAX_NESTING: the root is 0, a MAP's key and value
 * are 2 below the map). */
static int read_type(jparser* j, size_t pos, int depth, hw_field* f) {
  const char* s = j->s;
  if (depth >= HW_MAX_NESTING) return jfail(j, pos, "FAILED_TO_PARSE_TOO_COMPLEX", HW_NESTING_MESSAGE);
  if (s[pos] == '"') return read_atomic(j, pos, f);
  if (s[pos] != '{')
    return jfail(j, pos, "INVALID_JSON_DATA_TYPE", "expected a data type (a string or an object), found %s",
                 kind_of(s[pos]));
  static const char* const keys[] = {"type", "fields", "elementType", "containsNull", "keyType", "valueType",
                                     "valueContainsNull"};
  enum { K_TYPE, K_FIELDS, K_ELEMENT, K_CONTAINS_NULL, K_KEY, K_VALUE, K_VALUE_CONTAINS_NULL, K_COUNT };
  size_t at[K_COUNT];
  if (find_keys(j, pos, keys, K_COUNT, at) != 0) return -1;
  if (require(j, pos, at, keys, K_TYPE, "a data type object") != 0) return -1;
  char* kind;
  if (read_cstring(j, at[K_TYPE], "type", &kind) != 0) return -1;
  hw_type_id type = strcmp(kind, "struct") == 0 ? HW_TYPE_STRUCT
                    : strcmp(kind, "array") == 0 ? HW_TYPE_LIST
                    : strcmp(kind, "map") == 0   ? HW_TYPE_MAP
                                                 : HW_TYPE_NULL;
  if (type == HW_TYPE_NULL) {
    free(kind);
    const char* src;
    bool cut;
    int len = source_text(j, at[K_TYPE], &src, &cut);
    return jfail(j, at[K_TYPE], "INVALID_JSON_DATA_TYPE",
                 "unsupported data type object \"%.*s%s\" (expected \"struct\", \"array\" or \"map\")", len, src,
                 cut ? "..." : "");
  }
  free(kind);
  f->type = type;
  if (type == HW_TYPE_STRUCT) {
    if (require(j, pos, at, keys, K_FIELDS, "a struct type") != 0) return -1;
    return read_struct(j, pos, at[K_FIELDS], depth + 1, f);
  }
  if (type == HW_TYPE_LIST) {
    if (require(j, pos, at, keys, K_ELEMENT, "an array type") != 0 ||
        require(j, pos, at, keys, K_CONTAINS_NULL, "an array type") != 0)
      return -1;
    if (hw_field_alloc_children(f, 1, j->err) != 0) return -1;
    hw_field* element = &f->children[0];
    if (hw_field_set_name(element, "element", 7, j->err) != 0) return -1;
    return read_type(j, at[K_ELEMENT], depth + 1, element) != 0 ||
                   read_bool(j, at[K_CONTAINS_NULL], "containsNull", &element->nullable) != 0
               ? -1
               : 0;
  }
  if (require(j, pos, at, keys, K_KEY, "a map type") != 0 || require(j, pos, at, keys, K_VALUE, "a map type") != 0 ||
      require(j, pos, at, keys, K_VALUE_CONTAINS_NULL, "a map type") != 0)
    return -1;
  if (hw_field_alloc_children(f, 1, j->err) != 0) return -1;
  hw_field* entries = &f->children[0];
  entries->type = HW_TYPE_STRUCT;
  entries->nullable = false;
  if (hw_field_set_name(entries, "entries", 7, j->err) != 0 || hw_field_alloc_children(entries, 2, j->err) != 0 ||
      hw_field_set_name(&entries->children[0], "key", 3, j->err) != 0 ||
      hw_field_set_name(&entries->children[1], "value", 5, j->err) != 0)
    return -1;
  entries->children[0].nullable = false;
  if (read_type(j, at[K_KEY], depth + 2, &entries->children[0]) != 0 || /* below the entries struct */
      read_type(j, at[K_VALUE], depth + 2, &entries->children[1]) != 0 ||
      read_bool(j, at[K_VALUE_CONTAINS_NULL], "valueContainsNull", &entries->children[1].nullable) != 0)
    return -1;
  return 0;
}

int hw_spark_json_parse(const char* json, hw_field* out, hw_error* err) {
  if (!json) return hw_error_set(err, "PARSE_SYNTAX_ERROR", "no JSON string given");
  jparser j = {json, err};
  size_t root = skip_ws(json, 0);
  size_t end = root;
  if (skip_value(&j, &end, 0) != 0) return -1;
  end = skip_ws(json, end);
  if (json[end]) {
    char found[32];
    describe_char(&j, end, found, sizeof found);
    return jfail(&j, end, "PARSE_SYNTAX_ERROR", "unexpected %s after the JSON value", found);
  }
  hw_field f;
  hw_field_init(&f);
  if (read_type(&j, root, 0, &f) != 0) {
    hw_field_release(&f);
    return -1;
  }
  *out = f;
  return 0;
}

/* ---- rendering ---- */

typedef struct jrenderer {
  hw_text out;
  hw_error* err;
} jrenderer;

/* A JSON string as Python's json.dumps(ensure_ascii=True) writes it. */
static int put_json_string(jrenderer* r, const char* s) {
  static const char hex[] = "0123456789abcdef";
  hw_text_put(&r->out, "\"", 1);
  for (const unsigned char* u = (const unsigned char*)(s ? s : ""); *u;) {
    uint32_t cp;
    int n = hw_utf8_decode(u, &cp);
    if (n == 0) return hw_error_set(r->err, "HW_MALFORMED_FIELD", "a name or comment is not valid UTF-8");
    u += n;
    const char* esc = NULL;
    switch (cp) {
      case '"': esc = "\\\""; break;
      case '\\': esc = "\\\\"; break;
      case '\n': esc = "\\n"; break;
      case '\r': esc = "\\r"; break;
      case '\t': esc = "\\t"; break;
      case '\b': esc = "\\b"; break;
      case '\f': esc = "\\f"; break;
      default: break;
    }
    if (esc) {
      hw_text_put_str(&r->out, esc);
    } else if (cp >= 0x20 && cp <= 0x7E) {
      char c = (char)cp;
      hw_text_put(&r->out, &c, 1);
    } else {
      uint32_t units[2];
      int n_units = hw_utf16_units(cp, units); /* above U+FFFF: a surrogate pair */
      for (int k = 0; k < n_units; k++) {
        char b[6] = {'\\', 'u', hex[(units[k] >> 12) & 0xF], hex[(units[k] >> 8) & 0xF], hex[(units[k] >> 4) & 0xF],
                     hex[units[k] & 0xF]};
        hw_text_put(&r->out, b, 6);
      }
    }
  }
  hw_text_put(&r->out, "\"", 1);
  return 0;
}

static const char* json_atomic_name(const hw_field* f) {
  switch (f->type) {
    case HW_TYPE_NULL: return "void";
    case HW_TYPE_BOOL: return "boolean";
    case HW_TYPE_INT8: return "byte";
    case HW_TYPE_INT16: return "short";
    case HW_TYPE_INT32: return "integer";
    case HW_TYPE_INT64: return "long";
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

static int render_type(jrenderer* r, const hw_field* f, int depth);

/* {"metadata":{...},"name":"...","nullable":...,"type":...} */
static int render_field(jrenderer* r, const hw_field* f, int depth) {
  hw_text_put_str(&r->out, "{\"metadata\":{");
  if (f->comment) {
    hw_text_put_str(&r->out, "\"comment\":");
    if (put_json_string(r, f->comment) != 0) return -1;
  }
  hw_text_put_str(&r->out, "},\"name\":");
  if (put_json_string(r, f->name) != 0) return -1;
  hw_text_put_str(&r->out, f->nullable ? ",\"nullable\":true,\"type\":" : ",\"nullable\":false,\"type\":");
  if (render_type(r, f, depth) != 0) return -1;
  hw_text_put(&r->out, "}", 1);
  return 0;
}

static int render_type(jrenderer* r, const hw_field* f, int depth) {
  if (depth >= HW_MAX_NESTING) return hw_error_set(r->err, "FAILED_TO_PARSE_TOO_COMPLEX", HW_NESTING_MESSAGE);
  char buf[64];
  switch (f->type) {
    case HW_TYPE_DECIMAL128:
      snprintf(buf, sizeof buf, "\"decimal(%d,%d)\"", (int)f->precision, (int)f->scale);
      hw_text_put_str(&r->out, buf);
      return 0;
    case HW_TYPE_UTF8:
      if (f->string_kind == HW_STRING_PLAIN) break;
      snprintf(buf, sizeof buf, "\"%s(%d)\"", f->string_kind == HW_STRING_CHAR ? "char" : "varchar",
               (int)f->string_length);
      hw_text_put_str(&r->out, buf);
      return 0;
    case HW_TYPE_LIST:
      if (f->n_children != 1 || !f->children)
        return hw_error_set(r->err, "HW_MALFORMED_FIELD", "list field must have exactly one child");
      hw_text_put_str(&r->out, f->children[0].nullable ? "{\"containsNull\":true,\"elementType\":"
                                               : "{\"containsNull\":false,\"elementType\":");
      if (render_type(r, &f->children[0], depth + 1) != 0) return -1;
      hw_text_put_str(&r->out, ",\"type\":\"array\"}");
      return 0;
    case HW_TYPE_MAP: {
      const hw_field* entries = f->n_children == 1 && f->children ? &f->children[0] : NULL;
      if (!entries || entries->n_children != 2 || !entries->children)
        return hw_error_set(r->err, "HW_MALFORMED_FIELD",
                            "map field must have one 'entries' child with a key and a value");
      hw_text_put_str(&r->out, "{\"keyType\":");
      if (render_type(r, &entries->children[0], depth + 2) != 0) return -1; /* below the entries struct */
      hw_text_put_str(&r->out, entries->children[1].nullable ? ",\"type\":\"map\",\"valueContainsNull\":true,\"valueType\":"
                                                     : ",\"type\":\"map\",\"valueContainsNull\":false,\"valueType\":");
      if (render_type(r, &entries->children[1], depth + 2) != 0) return -1;
      hw_text_put(&r->out, "}", 1);
      return 0;
    }
    case HW_TYPE_STRUCT:
      if (f->n_children > 0 && !f->children)
        return hw_error_set(r->err, "HW_MALFORMED_FIELD", "struct has %d fields but no children array",
                            (int)f->n_children);
      hw_text_put_str(&r->out, "{\"fields\":[");
      for (int32_t i = 0; i < f->n_children; i++) {
        if (i > 0) hw_text_put(&r->out, ",", 1);
        if (render_field(r, &f->children[i], depth + 1) != 0) return -1;
      }
      hw_text_put_str(&r->out, "],\"type\":\"struct\"}");
      return 0;
    case HW_TYPE_UINT8:
    case HW_TYPE_UINT16:
    case HW_TYPE_UINT32:
    case HW_TYPE_UINT64: {
      static const char* const names[] = {"uint8", "uint16", "uint32", "uint64"};
      return hw_error_set(r->err, "UNSUPPORTED_DATATYPE", "type %s has no Spark equivalent",
                          names[f->type - HW_TYPE_UINT8]);
    }
    default: break;
  }
  const char* name = json_atomic_name(f);
  if (!name) return hw_error_set(r->err, "HW_MALFORMED_FIELD", "unknown type id %d", (int)f->type);
  hw_text_put(&r->out, "\"", 1);
  hw_text_put_str(&r->out, name);
  hw_text_put(&r->out, "\"", 1);
  return 0;
}

int hw_spark_json_render(const hw_field* f, char** out, hw_error* err) {
  jrenderer r = {{0}, err};
  int rc = render_type(&r, f, 0);
  if (rc == 0 && r.out.oom) rc = hw_error_oom(err);
  if (rc != 0) {
    free(r.out.data);
    return -1;
  }
  *out = r.out.data;
  return 0;
}
