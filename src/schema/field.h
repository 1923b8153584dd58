/*
 * hw_field: headwater's own tree of named, typed fields. Every schema form
 * (Spark DDL, Spark's JSON, Arrow's C schema, pyarrow) is converted to and
 * from this one tree, so each form needs one parser and one renderer.
 *
 * The tree follows Arrow's physical layout: a list has one child (the
 * element), a map has one child "entries", a non-nullable struct of
 * "key" (non-nullable) and "value"; a struct has its fields as children.
 */
#ifndef HW_SCHEMA_FIELD_H
#define HW_SCHEMA_FIELD_H

#include <stdbool.h>
#include <stdint.h>

#include "headwater.h"

typedef enum hw_type_id {
  HW_TYPE_NULL,
  HW_TYPE_BOOL,
  HW_TYPE_INT8,
  HW_TYPE_INT16,
  HW_TYPE_INT32,
  HW_TYPE_INT64,
  HW_TYPE_UINT8,
  HW_TYPE_UINT16,
  HW_TYPE_UINT32,
  HW_TYPE_UINT64,
  HW_TYPE_FLOAT32,
  HW_TYPE_FLOAT64,
  HW_TYPE_UTF8,
  HW_TYPE_LARGE_UTF8,
  HW_TYPE_BINARY,
  HW_TYPE_LARGE_BINARY,
  HW_TYPE_DATE32,
  HW_TYPE_TIMESTAMP,
  HW_TYPE_DECIMAL128,
  HW_TYPE_LIST,
  HW_TYPE_MAP,
  HW_TYPE_STRUCT,
} hw_type_id;

typedef enum hw_time_unit {
  HW_TIME_SECOND,
  HW_TIME_MILLI,
  HW_TIME_MICRO,
  HW_TIME_NANO,
} hw_time_unit;

/* Spark's CHAR(n)/VARCHAR(n) are strings in Arrow; we remember them to render DDL back. */
typedef enum hw_string_kind {
  HW_STRING_PLAIN,
  HW_STRING_CHAR,
  HW_STRING_VARCHAR,
} hw_string_kind;

/* The one nesting limit (every parser, renderer and the Arrow schema import/export apply it, so
 * whatever is accepted can be rendered, exported and imported by pyarrow). A type is a tree of
 * Arrow schema nodes: ARRAY and STRUCT are one node each, MAP two (the map and its "entries"
 * struct). The root (a schema's row struct, or a lone type) is at level 0; every node must be at a
 * level below HW_MAX_NESTING. That is Arrow C++'s own limit on importing an ArrowSchema (pyarrow
 * refuses a node at level 64), so a top-level column can nest 62 ARRAYs or STRUCTs, or 31 MAPs. */
#define HW_MAX_NESTING 64
#define HW_NESTING_MESSAGE \
  "type nesting deeper than 64 levels (Arrow's limit: the top-level struct, each ARRAY and STRUCT count 1, a MAP 2)"
#define HW_DECIMAL_MAX_PRECISION 38

typedef struct hw_field {
  char* name;           /* owned; NULL = anonymous (renders as "") */
  hw_type_id type;
  bool nullable;
  int32_t precision;    /* decimal128 */
  int32_t scale;        /* decimal128 */
  hw_time_unit unit;    /* timestamp */
  char* timezone;       /* timestamp; owned; NULL = no zone (Spark TIMESTAMP_NTZ) */
  hw_string_kind string_kind; /* utf8 only */
  int32_t string_length;      /* n of CHAR(n)/VARCHAR(n) */
  char* comment;        /* owned; NULL = none */
  int32_t n_children;
  struct hw_field* children; /* owned array of n_children */
} hw_field;

/* Zeroes f into a nullable, anonymous NULL-typed field with no children. */
void hw_field_init(hw_field* f);

/* Frees everything f owns (recursively) and re-initialises it. */
void hw_field_release(hw_field* f);

/* Sets f->name to a copy of name[0..len). Returns -1 on allocation failure. */
int hw_field_set_name(hw_field* f, const char* name, size_t len, hw_error* err);

/* Allocates n zero-initialised children (each hw_field_init'ed). f must have none. */
int hw_field_alloc_children(hw_field* f, int32_t n, hw_error* err);

/* Deep copy; dst is overwritten (must not own anything). */
int hw_field_copy(hw_field* dst, const hw_field* src, hw_error* err);

/* A copy of struct src with only the children at columns[0..n) (in that order; NULL columns: all
 * of them). dst is overwritten (must not own anything). An index out of range is an error. */
int hw_field_project(hw_field* dst, const hw_field* src, const int32_t* columns, int32_t n, hw_error* err);

/* Structural equality: types, struct field names, nullability, parameters (the top level's name
 * and nullability, names of list elements and map entries, comments and CHAR/VARCHAR are
 * ignored). */
bool hw_field_equal(const hw_field* a, const hw_field* b);

/* Same data type: like hw_field_equal, but nullability is ignored at every level (the layout of
 * the data is the same either way). */
bool hw_field_same_type(const hw_field* a, const hw_field* b);

/* Arrow C schema <-> hw_field. to_arrow: *out is written on success, caller releases it. */
int hw_field_to_arrow(const hw_field* f, struct ArrowSchema* out, hw_error* err);
int hw_field_from_arrow(const struct ArrowSchema* schema, hw_field* out, hw_error* err);

/* Spark DDL. parse: a field list ("a INT, b STRING") gives a struct; a lone type gives that type.
 * Errors are "line:col: expected ...". out is written only on success. */
int hw_ddl_parse(const char* ddl, hw_field* out, hw_error* err);

/* hw_ddl_parse of ddl[0..len), which need not be NUL-terminated: an embedded NUL or invalid UTF-8
 * (such as a lone surrogate, which Python passes encoded as surrogatepass does) anywhere is a
 * PARSE_SYNTAX_ERROR at its position, never a truncated schema. */
int hw_ddl_parse_n(const char* ddl, size_t len, hw_field* out, hw_error* err);

/* DDL of a struct's fields ("a INT NOT NULL, `b c` STRING COMMENT 'x'"); of any other type, its
 * type ("ARRAY<INT>"). Types with no Spark equivalent (unsigned ints) are an error. */
int hw_ddl_render(const hw_field* f, char** out, hw_error* err);

/* Spark's simpleString: "struct<a:int,b:array<string>>". */
int hw_simple_string(const hw_field* f, char** out, hw_error* err);

/* Spark's JSON schema form (StructType.json()) <-> hw_field. */
int hw_spark_json_parse(const char* json, hw_field* out, hw_error* err);
int hw_spark_json_render(const hw_field* f, char** out, hw_error* err);

#endif
