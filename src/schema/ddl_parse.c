/*
 * Spark DDL -> hw_field.
 *
 * Accepts what PySpark's schema strings accept: a field list ("a INT, b: STRING NOT NULL"),
 * a STRUCT<...>, or a single type ("ARRAY<INT>"). Like Spark, the whole string is first read as
 * one type and, if that fails, as a field list; when both fail, the error of the reading that got
 * further is reported. Empty input is an empty struct (PySpark gives StructType([])).
 *
 * A hand-written lexer and recursive-descent parser; recursion is bounded by HW_MAX_NESTING (counted
 * as Arrow counts, so a MAP is two levels), the
 * field list and string literals are loops, so no input can exhaust the stack.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/text.h"
#include "schema/field.h"

/* ---- tokens ---- */

typedef enum tok_kind {
  TK_EOF,
  TK_WORD,   /* [A-Za-z0-9_]+: keyword, identifier or number */
  TK_QUOTED, /* `backticked name` */
  TK_STRING, /* 'literal' or "literal" */
  TK_PUNCT,  /* one of < > ( ) , : */
  TK_OTHER,  /* any other character (one UTF-8 sequence) */
} tok_kind;

typedef struct token {
  tok_kind kind;
  size_t start, end; /* byte offsets into the source */
} token;

typedef struct parser {
  const char* src;
  size_t pos; /* where lexing resumes */
  token tok;  /* the current (lookahead) token */
  hw_error* err;
  size_t err_off;     /* where the error is; SIZE_MAX for out-of-memory (always reported) */
  bool err_trailing;  /* the error is "unexpected ... after the schema" */
  size_t first;       /* where the first token starts */
} parser;

/* Writes s[0..len) into buf as '...' for messages: at most 40 bytes, control characters and
 * invalid UTF-8 as \xNN, so messages stay printable and valid UTF-8. */
static void quote_text(const char* s, size_t len, char* buf, size_t cap) {
  size_t o = 0;
  bool cut = len > 40;
  if (cut) {
    len = 40;
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80) len--; /* cut at a character */
  }
  buf[o++] = '\'';
  for (size_t i = 0; i < len && o + 8 < cap;) {
    unsigned char c = (unsigned char)s[i];
    int n = hw_utf8_decode((const unsigned char*)s + i, NULL);
    if (c >= 0x20 && c != 0x7F && n > 0 && i + (size_t)n <= len) {
      memcpy(buf + o, s + i, (size_t)n);
      o += (size_t)n;
      i += (size_t)n;
    } else {
      o += (size_t)snprintf(buf + o, cap - o, "\\x%02X", c);
      i++;
    }
  }
  if (cut && o + 4 < cap) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o++] = '\'';
  buf[o] = '\0';
}

static void describe(const parser* p, const token* t, char* buf, size_t cap) {
  if (t->kind == TK_EOF) snprintf(buf, cap, "end of input");
  else if (t->kind == TK_STRING) snprintf(buf, cap, "a string literal");
  else quote_text(p->src + t->start, t->end - t->start, buf, cap);
}

/* Records an error at byte offset off as "line:col: message" (1-based; columns count UTF-8
 * characters). Returns -1. */
static int fail_at(parser* p, size_t off, const char* error_class, const char* fmt, ...) HW_PRINTF(4, 5);
static int fail_at(parser* p, size_t off, const char* error_class, const char* fmt, ...) {
  int line = 1, col = 1;
  for (size_t i = 0; i < off; i++) {
    unsigned char c = (unsigned char)p->src[i];
    if (c == '\n') line++, col = 1;
    else if ((c & 0xC0) != 0x80) col++;
  }
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  p->err_off = off;
  p->err_trailing = false;
  return hw_error_set(p->err, error_class, "%d:%d: %s", line, col, msg);
}

static int fail_oom(parser* p) {
  p->err_off = SIZE_MAX;
  return hw_error_oom(p->err);
}

/* "expected <what>, found <current token>" at the current token. */
static int fail_expected(parser* p, const char* what) {
  char found[200];
  describe(p, &p->tok, found, sizeof found);
  return fail_at(p, p->tok.start, "PARSE_SYNTAX_ERROR", "expected %s, found %s", what, found);
}

static bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Skips whitespace and comments (-- to end of line; nestable block comments, as Spark's lexer). */
static int skip_space(parser* p) {
  const char* s = p->src;
  size_t i = p->pos;
  for (;;) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      i++;
    } else if (c == '-' && s[i + 1] == '-') {
      while (s[i] && s[i] != '\n') i++;
    } else if (c == '/' && s[i + 1] == '*') {
      size_t open = i;
      int level = 0;
      do {
        if (!s[i]) return fail_at(p, open, "PARSE_SYNTAX_ERROR", "unterminated comment");
        if (s[i] == '/' && s[i + 1] == '*') level++, i += 2;
        else if (s[i] == '*' && s[i + 1] == '/') level--, i += 2;
        else i++;
      } while (level > 0);
    } else {
      p->pos = i;
      return 0;
    }
  }
}

/* Reads the next token into p->tok. */
static int next(parser* p) {
  if (skip_space(p) != 0) return -1;
  const char* s = p->src;
  size_t i = p->pos;
  token t = {TK_EOF, i, i};
  char c = s[i];
  if (c == '\0') {
    t.kind = TK_EOF;
  } else if (is_word_char(c)) {
    while (is_word_char(s[i])) i++;
    t.kind = TK_WORD;
  } else if (c == '`') {
    for (i++;; i++) {
      if (!s[i]) return fail_at(p, t.start, "PARSE_SYNTAX_ERROR", "unterminated backtick-quoted name");
      if (s[i] == '`') {
        if (s[i + 1] != '`') break;
        i++; /* `` is an escaped backtick */
      }
    }
    i++;
    t.kind = TK_QUOTED;
  } else if (c == '\'' || c == '"') {
    for (i++;; i++) {
      if (!s[i] || (s[i] == '\\' && !s[i + 1]))
        return fail_at(p, t.start, "PARSE_SYNTAX_ERROR", "unterminated string literal");
      if (s[i] == '\\') {
        i++;
      } else if (s[i] == c) {
        if (s[i + 1] != c) break;
        i++; /* a doubled quote stands for itself */
      }
    }
    i++;
    t.kind = TK_STRING;
  } else if (strchr("<>(),:", c)) {
    i++;
    t.kind = TK_PUNCT;
  } else {
    int n = hw_utf8_decode((const unsigned char*)s + i, NULL);
    i += n > 0 ? (size_t)n : 1;
    t.kind = TK_OTHER;
  }
  t.end = i;
  p->tok = t;
  p->pos = i;
  return 0;
}

static bool is_punct(const parser* p, char c) {
  return p->tok.kind == TK_PUNCT && p->src[p->tok.start] == c;
}

/* Case-insensitive keyword test of the current token. */
static bool is_keyword(const parser* p, const char* kw) {
  if (p->tok.kind != TK_WORD || p->tok.end - p->tok.start != strlen(kw)) return false;
  for (size_t i = 0; kw[i]; i++) {
    char c = p->src[p->tok.start + i];
    if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    if (c != kw[i]) return false;
  }
  return true;
}

static bool is_number(const parser* p) {
  if (p->tok.kind != TK_WORD) return false;
  for (size_t i = p->tok.start; i < p->tok.end; i++)
    if (p->src[i] < '0' || p->src[i] > '9') return false;
  return true;
}

/* Value of the current number token, saturated at INT32_MAX + 1 so overflow is detectable. */
static int64_t number_value(const parser* p) {
  int64_t v = 0;
  for (size_t i = p->tok.start; i < p->tok.end && v <= INT32_MAX; i++) v = v * 10 + (p->src[i] - '0');
  return v > INT32_MAX ? (int64_t)INT32_MAX + 1 : v;
}

/* Appends the contents of the current string literal, with Spark's escapes decoded:
 * \' \" \\ \b \n \r \t \Z \uXXXX, octal \NNN; \% and \_ keep their backslash; any other
 * escaped character stands for itself. A doubled quote stands for one quote. */
static int decode_string(parser* p, hw_text* out) {
  const char* s = p->src;
  char q = s[p->tok.start];
  for (size_t i = p->tok.start + 1; i < p->tok.end - 1; i++) {
    char c = s[i];
    if (c == q) { /* doubled quote (the lexer guarantees the pair) */
      hw_text_put(out, &q, 1);
      i++;
    } else if (c != '\\') {
      hw_text_put(out, &c, 1);
    } else {
      size_t esc = i;
      char e = s[++i];
      uint32_t cp = 0;
      bool is_cp = false;
      if (e >= '0' && e <= '3' && s[i + 1] >= '0' && s[i + 1] <= '7' && s[i + 2] >= '0' && s[i + 2] <= '7') {
        cp = (uint32_t)((e - '0') * 64 + (s[i + 1] - '0') * 8 + (s[i + 2] - '0'));
        is_cp = true;
        i += 2;
      } else if (e == 'u') {
        int hi = i + 4 < p->tok.end ? hw_hex4(s + i + 1) : -1;
        if (hi < 0) return fail_at(p, esc, "PARSE_SYNTAX_ERROR", "invalid \\u escape in string literal");
        i += 4;
        cp = (uint32_t)hi;
        if (hw_is_high_surrogate(hi)) { /* a surrogate pair, as Java strings spell astral characters */
          int lo = (i + 6 < p->tok.end && s[i + 1] == '\\' && s[i + 2] == 'u') ? hw_hex4(s + i + 3) : -1;
          if (!hw_is_low_surrogate(lo))
            return fail_at(p, esc, "PARSE_SYNTAX_ERROR", "invalid \\u escape in string literal");
          cp = hw_surrogate_join(hi, lo);
          i += 6;
        } else if (hw_is_low_surrogate(hi)) {
          return fail_at(p, esc, "PARSE_SYNTAX_ERROR", "invalid \\u escape in string literal");
        }
        is_cp = true;
      } else if (e == '0') {
        cp = 0, is_cp = true;
      } else {
        const char* lit = NULL;
        switch (e) {
          case 'b': lit = "\b"; break;
          case 'n': lit = "\n"; break;
          case 'r': lit = "\r"; break;
          case 't': lit = "\t"; break;
          case 'Z': lit = "\x1A"; break;
          case '%': lit = "\\%"; break;
          case '_': lit = "\\_"; break;
          default: break;
        }
        if (lit) hw_text_put_str(out, lit);
        else hw_text_put(out, &e, 1);
      }
      if (is_cp) {
        if (cp == 0)
          return fail_at(p, esc, "PARSE_SYNTAX_ERROR", "string literal contains a NUL character");
        hw_text_put_utf8(out, cp);
      }
    }
    if (out->oom) return fail_oom(p);
  }
  return 0;
}

/* ---- fields ---- */

typedef struct field_vec {
  hw_field* items;
  int32_t n, cap;
} field_vec;

static hw_field* vec_push(parser* p, field_vec* v) {
  if (v->n == v->cap) {
    if (v->cap >= INT32_MAX / 2) {
      fail_at(p, p->tok.start, "PARSE_SYNTAX_ERROR", "too many fields");
      return NULL;
    }
    int32_t cap = v->cap ? v->cap * 2 : 4;
    hw_field* items = realloc(v->items, (size_t)cap * sizeof *items);
    if (!items) {
      fail_oom(p);
      return NULL;
    }
    v->items = items;
    v->cap = cap;
  }
  hw_field* f = &v->items[v->n++];
  hw_field_init(f);
  return f;
}

static void vec_release(field_vec* v) {
  for (int32_t i = 0; i < v->n; i++) hw_field_release(&v->items[i]);
  free(v->items);
  v->items = NULL;
  v->n = v->cap = 0;
}

/* Hands the vector's fields to f as its children. */
static void vec_give(field_vec* v, hw_field* f) {
  if (v->n == 0) {
    free(v->items);
  } else {
    f->children = v->items;
    f->n_children = v->n;
  }
  v->items = NULL;
  v->n = v->cap = 0;
}

static char* copy_cstr(const char* s) {
  size_t n = strlen(s) + 1;
  char* c = malloc(n);
  if (c) memcpy(c, s, n);
  return c;
}

/* ---- types ---- */

typedef enum type_form {
  FORM_PLAIN,
  FORM_TS_LTZ,
  FORM_TS_NTZ,
  FORM_DECIMAL,
  FORM_CHAR,
  FORM_VARCHAR,
  FORM_ARRAY,
  FORM_MAP,
  FORM_STRUCT,
} type_form;

static const struct type_keyword {
  const char* name;
  hw_type_id type;
  type_form form;
} k_type_keywords[] = {
    {"BOOLEAN", HW_TYPE_BOOL, FORM_PLAIN},
    {"TINYINT", HW_TYPE_INT8, FORM_PLAIN},
    {"BYTE", HW_TYPE_INT8, FORM_PLAIN},
    {"SMALLINT", HW_TYPE_INT16, FORM_PLAIN},
    {"SHORT", HW_TYPE_INT16, FORM_PLAIN},
    {"INT", HW_TYPE_INT32, FORM_PLAIN},
    {"INTEGER", HW_TYPE_INT32, FORM_PLAIN},
    {"BIGINT", HW_TYPE_INT64, FORM_PLAIN},
    {"LONG", HW_TYPE_INT64, FORM_PLAIN},
    {"FLOAT", HW_TYPE_FLOAT32, FORM_PLAIN},
    {"REAL", HW_TYPE_FLOAT32, FORM_PLAIN},
    {"DOUBLE", HW_TYPE_FLOAT64, FORM_PLAIN},
    {"STRING", HW_TYPE_UTF8, FORM_PLAIN},
    {"BINARY", HW_TYPE_BINARY, FORM_PLAIN},
    {"DATE", HW_TYPE_DATE32, FORM_PLAIN},
    {"VOID", HW_TYPE_NULL, FORM_PLAIN},
    {"TIMESTAMP", HW_TYPE_TIMESTAMP, FORM_TS_LTZ},
    {"TIMESTAMP_LTZ", HW_TYPE_TIMESTAMP, FORM_TS_LTZ},
    {"TIMESTAMP_NTZ", HW_TYPE_TIMESTAMP, FORM_TS_NTZ},
    {"DECIMAL", HW_TYPE_DECIMAL128, FORM_DECIMAL},
    {"DEC", HW_TYPE_DECIMAL128, FORM_DECIMAL},
    {"NUMERIC", HW_TYPE_DECIMAL128, FORM_DECIMAL},
    {"CHAR", HW_TYPE_UTF8, FORM_CHAR},
    {"CHARACTER", HW_TYPE_UTF8, FORM_CHAR},
    {"VARCHAR", HW_TYPE_UTF8, FORM_VARCHAR},
    {"ARRAY", HW_TYPE_LIST, FORM_ARRAY},
    {"MAP", HW_TYPE_MAP, FORM_MAP},
    {"STRUCT", HW_TYPE_STRUCT, FORM_STRUCT},
};

static int parse_type(parser* p, int depth, hw_field* f);
static int parse_field(parser* p, int depth, hw_field* f);

/* Consumes the punctuation c or fails with "expected <what>". */
static int expect_punct(parser* p, char c, const char* what) {
  if (!is_punct(p, c)) return fail_expected(p, what);
  return next(p);
}

/* DECIMAL[(p[, s])]: defaults (10, 0); Arrow needs 1 <= p <= 38 and 0 <= s <= p. */
static int parse_decimal(parser* p, const char* kw, hw_field* f) {
  char what[80];
  f->precision = 10;
  f->scale = 0;
  if (!is_punct(p, '(')) return 0;
  if (next(p) != 0) return -1;
  snprintf(what, sizeof what, "the precision of %s", kw);
  if (!is_number(p)) return fail_expected(p, what);
  int64_t precision = number_value(p);
  if (precision > HW_DECIMAL_MAX_PRECISION) {
    int n = (int)(p->tok.end - p->tok.start);
    return fail_at(p, p->tok.start, "DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION",
                   "decimal precision %.*s exceeds max precision %d", n > 40 ? 40 : n, p->src + p->tok.start,
                   HW_DECIMAL_MAX_PRECISION);
  }
  if (precision < 1)
    return fail_at(p, p->tok.start, "UNSUPPORTED_DATATYPE", "decimal precision must be at least 1, found 0");
  if (next(p) != 0) return -1;
  int64_t scale = 0;
  if (is_punct(p, ',')) {
    if (next(p) != 0) return -1;
    snprintf(what, sizeof what, "the scale of %s", kw);
    if (!is_number(p)) return fail_expected(p, what);
    scale = number_value(p);
    if (scale > precision) {
      int n = (int)(p->tok.end - p->tok.start);
      return fail_at(p, p->tok.start, "DECIMAL_SCALE_EXCEEDS_PRECISION",
                     "decimal scale %.*s cannot be greater than precision %d", n > 40 ? 40 : n,
                     p->src + p->tok.start, (int)precision);
    }
    if (next(p) != 0) return -1;
    snprintf(what, sizeof what, "')' to close %s(", kw);
  } else {
    snprintf(what, sizeof what, "',' or ')' after the precision of %s", kw);
  }
  if (expect_punct(p, ')', what) != 0) return -1;
  f->precision = (int32_t)precision;
  f->scale = (int32_t)scale;
  return 0;
}

/* CHAR(n) / VARCHAR(n): the length is required. Spark accepts 0. */
static int parse_char_length(parser* p, const char* kw, hw_field* f) {
  char what[80];
  if (!is_punct(p, '(')) {
    char found[200];
    describe(p, &p->tok, found, sizeof found);
    return fail_at(p, p->tok.start, "DATATYPE_MISSING_SIZE", "expected '(' and a length after %s, found %s", kw,
                   found);
  }
  if (next(p) != 0) return -1;
  snprintf(what, sizeof what, "the length of %s", kw);
  if (!is_number(p)) return fail_expected(p, what);
  int64_t n = number_value(p);
  if (n > INT32_MAX) {
    int len = (int)(p->tok.end - p->tok.start);
    return fail_at(p, p->tok.start, "DATATYPE_PARAMETER_VALUE_OUT_OF_RANGE",
                   "%s length %.*s is out of the range of a 32-bit integer", kw, len > 40 ? 40 : len,
                   p->src + p->tok.start);
  }
  if (next(p) != 0) return -1;
  snprintf(what, sizeof what, "')' to close %s(", kw);
  if (expect_punct(p, ')', what) != 0) return -1;
  f->string_length = (int32_t)n;
  return 0;
}

/* ARRAY<t>: one nullable child "element" (Spark DDL has no way to say containsNull=false). */
static int parse_array(parser* p, int level, hw_field* f) {
  if (expect_punct(p, '<', "'<' after ARRAY") != 0) return -1;
  if (hw_field_alloc_children(f, 1, p->err) != 0) return fail_oom(p);
  hw_field* element = &f->children[0];
  if (hw_field_set_name(element, "element", 7, p->err) != 0) return fail_oom(p);
  if (parse_type(p, level + 1, element) != 0) return -1;
  return expect_punct(p, '>', "'>' to close ARRAY<");
}

/* MAP<k, v>: child "entries" (non-nullable struct) of "key" (non-nullable) and "value" (nullable). */
static int parse_map(parser* p, int level, hw_field* f) {
  if (expect_punct(p, '<', "'<' after MAP") != 0) return -1;
  if (hw_field_alloc_children(f, 1, p->err) != 0) return fail_oom(p);
  hw_field* entries = &f->children[0];
  entries->type = HW_TYPE_STRUCT;
  entries->nullable = false;
  if (hw_field_set_name(entries, "entries", 7, p->err) != 0 || hw_field_alloc_children(entries, 2, p->err) != 0 ||
      hw_field_set_name(&entries->children[0], "key", 3, p->err) != 0 ||
      hw_field_set_name(&entries->children[1], "value", 5, p->err) != 0)
    return fail_oom(p);
  entries->children[0].nullable = false;
  if (parse_type(p, level + 2, &entries->children[0]) != 0) return -1; /* below the entries struct */
  if (expect_punct(p, ',', "',' after the MAP key type") != 0) return -1;
  if (parse_type(p, level + 2, &entries->children[1]) != 0) return -1;
  return expect_punct(p, '>', "'>' to close MAP<");
}

/* STRUCT<field, ...> or STRUCT<>. */
static int parse_struct(parser* p, int level, hw_field* f) {
  if (expect_punct(p, '<', "'<' after STRUCT") != 0) return -1;
  field_vec v = {0};
  if (!is_punct(p, '>')) {
    for (;;) {
      hw_field* child = vec_push(p, &v);
      if (!child || parse_field(p, level + 1, child) != 0) goto fail;
      if (!is_punct(p, ',')) break;
      if (next(p) != 0) goto fail;
    }
    if (!is_punct(p, '>')) {
      fail_expected(p, "',' or '>' in STRUCT<");
      goto fail;
    }
  }
  if (next(p) != 0) goto fail;
  vec_give(&v, f);
  return 0;
fail:
  vec_release(&v);
  return -1;
}

/* Parses a type into f (whose name and nullability the caller owns). level = f's level in the
 * Arrow schema tree (see HW_MAX_NESTING: the root is 0, a MAP's key and value are 2 below it). */
static int parse_type(parser* p, int level, hw_field* f) {
  if (p->tok.kind != TK_WORD) return fail_expected(p, "a type name");
  const struct type_keyword* kw = NULL;
  for (size_t i = 0; i < sizeof k_type_keywords / sizeof k_type_keywords[0]; i++) {
    if (is_keyword(p, k_type_keywords[i].name)) {
      kw = &k_type_keywords[i];
      break;
    }
  }
  if (!kw) {
    char name[200];
    quote_text(p->src + p->tok.start, p->tok.end - p->tok.start, name, sizeof name);
    return fail_at(p, p->tok.start, "PARSE_SYNTAX_ERROR", "unknown type %s", name);
  }
  if (level >= HW_MAX_NESTING) return fail_at(p, p->tok.start, "FAILED_TO_PARSE_TOO_COMPLEX", HW_NESTING_MESSAGE);
  f->type = kw->type;
  if (next(p) != 0) return -1;
  switch (kw->form) {
    case FORM_PLAIN: return 0;
    case FORM_TS_LTZ:
      f->unit = HW_TIME_MICRO;
      if (!(f->timezone = copy_cstr("UTC"))) return fail_oom(p);
      return 0;
    case FORM_TS_NTZ: f->unit = HW_TIME_MICRO; return 0;
    case FORM_DECIMAL: return parse_decimal(p, kw->name, f);
    case FORM_CHAR: f->string_kind = HW_STRING_CHAR; return parse_char_length(p, kw->name, f);
    case FORM_VARCHAR: f->string_kind = HW_STRING_VARCHAR; return parse_char_length(p, kw->name, f);
    case FORM_ARRAY: return parse_array(p, level, f);
    case FORM_MAP: return parse_map(p, level, f);
    case FORM_STRUCT: return parse_struct(p, level, f);
  }
  return 0;
}

/* name [:] type [NOT NULL] [COMMENT 'text' ...]. level = the field's level (a top-level column: 1). */
static int parse_field(parser* p, int level, hw_field* f) {
  const char* s = p->src;
  const token* t = &p->tok;
  if (t->kind == TK_WORD && !is_number(p)) {
    if (hw_field_set_name(f, s + t->start, t->end - t->start, p->err) != 0) return fail_oom(p);
  } else if (t->kind == TK_QUOTED) {
    hw_text name = {0};
    hw_text_put(&name, "", 0);
    for (size_t i = t->start + 1; !name.oom && i < t->end - 1; i++) {
      hw_text_put(&name, s + i, 1);
      if (s[i] == '`') i++; /* `` -> ` */
    }
    if (name.oom) {
      free(name.data);
      return fail_oom(p);
    }
    if (!hw_utf8_valid(name.data, name.len)) {
      free(name.data);
      return fail_at(p, t->start, "PARSE_SYNTAX_ERROR", "invalid UTF-8 in backtick-quoted name");
    }
    free(f->name);
    f->name = name.data;
  } else {
    return fail_expected(p, "a field name");
  }
  if (next(p) != 0) return -1;
  if (is_punct(p, ':') && next(p) != 0) return -1;
  if (parse_type(p, level, f) != 0) return -1;
  if (is_keyword(p, "NOT")) {
    if (next(p) != 0) return -1;
    if (!is_keyword(p, "NULL")) return fail_expected(p, "NULL after NOT");
    if (next(p) != 0) return -1;
    f->nullable = false;
  }
  if (is_keyword(p, "COMMENT")) {
    if (next(p) != 0) return -1;
    if (p->tok.kind != TK_STRING) return fail_expected(p, "a string literal after COMMENT");
    hw_text comment = {0};
    hw_text_put(&comment, "", 0);
    if (comment.oom) return fail_oom(p);
    size_t start = p->tok.start;
    while (p->tok.kind == TK_STRING) { /* adjacent literals concatenate, as in Spark */
      if (decode_string(p, &comment) != 0 || next(p) != 0) {
        free(comment.data);
        return -1;
      }
    }
    if (!hw_utf8_valid(comment.data, comment.len)) {
      free(comment.data);
      return fail_at(p, start, "PARSE_SYNTAX_ERROR", "invalid UTF-8 in string literal");
    }
    free(f->comment);
    f->comment = comment.data;
  }
  return 0;
}

/* ---- top level ---- */

/* The whole input as one type. */
static int parse_whole_type(parser* p, hw_field* out) {
  if (next(p) != 0) return -1;
  p->first = p->tok.start;
  if (parse_type(p, 0, out) != 0) return -1;
  if (p->tok.kind != TK_EOF) {
    char found[200];
    describe(p, &p->tok, found, sizeof found);
    fail_at(p, p->tok.start, "PARSE_SYNTAX_ERROR", "unexpected %s after the schema", found);
    p->err_trailing = true;
    return -1;
  }
  return 0;
}

/* The whole input as a field list: an anonymous struct (empty for empty input). */
static int parse_field_list(parser* p, hw_field* out) {
  out->type = HW_TYPE_STRUCT;
  if (next(p) != 0) return -1;
  field_vec v = {0};
  if (p->tok.kind != TK_EOF) {
    for (;;) {
      hw_field* child = vec_push(p, &v);
      if (!child || parse_field(p, 1, child) != 0) goto fail;
      if (p->tok.kind == TK_EOF) break;
      if (!is_punct(p, ',')) {
        fail_expected(p, "',' between fields");
        goto fail;
      }
      if (next(p) != 0) goto fail;
    }
  }
  vec_give(&v, out);
  return 0;
fail:
  vec_release(&v);
  return -1;
}

/* True when the input is one bare word: then "unknown type 'x'" says more than "expected a
 * type name" after a field named x. */
static bool is_single_word(const char* ddl) {
  hw_error scratch;
  parser p = {.src = ddl, .err = &scratch};
  if (next(&p) != 0 || p.tok.kind != TK_WORD) return false;
  return next(&p) == 0 && p.tok.kind == TK_EOF;
}

int hw_ddl_parse(const char* ddl, hw_field* out, hw_error* err) {
  if (!ddl) return hw_error_set(err, "PARSE_SYNTAX_ERROR", "no DDL string given");
  hw_error type_err, list_err;
  hw_error_init(&type_err);
  hw_error_init(&list_err);

  parser tp = {.src = ddl, .err = &type_err};
  hw_field f;
  hw_field_init(&f);
  if (parse_whole_type(&tp, &f) == 0) {
    *out = f;
    return 0;
  }
  hw_field_release(&f);

  parser lp = {.src = ddl, .err = &list_err};
  if (parse_field_list(&lp, &f) == 0) {
    *out = f;
    return 0;
  }
  hw_field_release(&f);

  /* Report the reading that got further. On a tie, the field list's error, unless the type
   * reading failed inside the syntax of a leading type keyword ("MAP(INT, INT)", "STRUCT a INT"):
   * so "date DATTE" reports the unknown type, not text after the schema "date". */
  bool use_type = tp.err_off > lp.err_off ||
                  (tp.err_off == lp.err_off && !tp.err_trailing && tp.err_off > tp.first) ||
                  (lp.err_off != SIZE_MAX && is_single_word(ddl));
  const hw_error* chosen = use_type ? &type_err : &list_err;
  return hw_error_set(err, chosen->error_class, "%s", chosen->message);
}

int hw_ddl_parse_n(const char* ddl, size_t len, hw_field* out, hw_error* err) {
  if (!ddl) return hw_error_set(err, "PARSE_SYNTAX_ERROR", "no DDL string given");
  /* The parser reads a C string: check the whole text first, so nothing after a NUL is ignored
   * and every byte the lexer sees is valid UTF-8 (names and comments keep what they read). */
  parser p = {.src = ddl, .err = err};
  for (size_t i = 0; i < len;) {
    if (ddl[i] == '\0') return fail_at(&p, i, "PARSE_SYNTAX_ERROR", "the DDL contains a NUL character (U+0000)");
    int n = hw_utf8_decode((const unsigned char*)ddl + i, NULL);
    if (n == 0 || i + (size_t)n > len) {
      unsigned char c = (unsigned char)ddl[i];
      bool surrogate = c == 0xED && i + 1 < len && ((unsigned char)ddl[i + 1] & 0xE0) == 0xA0;
      return fail_at(&p, i, "PARSE_SYNTAX_ERROR", "%s",
                     surrogate ? "the DDL contains a lone surrogate (U+D800..U+DFFF), which is not text"
                               : "the DDL is not valid UTF-8");
    }
    i += (size_t)n;
  }
  if (len == SIZE_MAX) return hw_error_oom(err);
  char* copy = malloc(len + 1); /* ddl[len] need not be readable, let alone a NUL */
  if (!copy) return hw_error_oom(err);
  memcpy(copy, ddl, len);
  copy[len] = '\0';
  int rc = hw_ddl_parse(copy, out, err);
  free(copy);
  return rc;
}
