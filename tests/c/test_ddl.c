/* Spark DDL: hw_ddl_parse, hw_ddl_render and hw_simple_string. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "schema/field.h"

/* ---- helpers ---- */

static void parse_ok(const char* ddl, hw_field* f) {
  hw_error err;
  hw_error_init(&err);
  int rc = hw_ddl_parse(ddl, f, &err);
  if (rc != 0) fail_msg("parsing \"%s\" failed: [%s] %s", ddl, err.error_class, err.message);
}

static void parse_fails(const char* ddl, const char* error_class, const char* message) {
  hw_error err;
  hw_error_init(&err);
  hw_field f;
  memset(&f, 0xAB, sizeof f); /* out must not be written on failure */
  hw_field untouched = f;
  int rc = hw_ddl_parse(ddl, &f, &err);
  if (rc == 0) {
    hw_field_release(&f);
    fail_msg("parsing \"%s\" succeeded, expected \"%s\"", ddl, message);
  }
  assert_int_equal(rc, -1);
  assert_string_equal(err.message, message);
  assert_string_equal(err.error_class, error_class);
  assert_memory_equal(&f, &untouched, sizeof f);
}

static char* render(const hw_field* f) {
  hw_error err;
  hw_error_init(&err);
  char* out = NULL;
  if (hw_ddl_render(f, &out, &err) != 0) fail_msg("render failed: [%s] %s", err.error_class, err.message);
  return out;
}

static char* simple(const hw_field* f) {
  hw_error err;
  hw_error_init(&err);
  char* out = NULL;
  if (hw_simple_string(f, &out, &err) != 0) fail_msg("simpleString failed: [%s] %s", err.error_class, err.message);
  return out;
}

static void check_field(const hw_field* f, const char* name, hw_type_id type, bool nullable, int32_t n_children) {
  if (name) assert_non_null(f->name), assert_string_equal(f->name, name);
  else assert_null(f->name);
  assert_int_equal(f->type, type);
  assert_int_equal(f->nullable, nullable);
  assert_int_equal(f->n_children, n_children);
}

/* Parses ddl and expects one top-level field of the given type; returns it (in *holder). */
static const hw_field* single_field(const char* ddl, hw_field* holder) {
  parse_ok(ddl, holder);
  assert_int_equal(holder->type, HW_TYPE_STRUCT);
  assert_int_equal(holder->n_children, 1);
  return &holder->children[0];
}

/* "<open>" n times, then inner, then "<close>" n times. */
static char* nest(const char* prefix, const char* open, int n, const char* inner, const char* close) {
  size_t len = strlen(prefix) + (size_t)n * (strlen(open) + strlen(close)) + strlen(inner) + 1;
  char* s = malloc(len);
  assert_non_null(s);
  char* o = s;
  o += sprintf(o, "%s", prefix);
  for (int i = 0; i < n; i++) o += sprintf(o, "%s", open);
  o += sprintf(o, "%s", inner);
  for (int i = 0; i < n; i++) o += sprintf(o, "%s", close);
  return s;
}

/* ---- parsing ---- */

static void test_every_atomic_type(void** state) {
  (void)state;
  static const struct {
    const char* ddl;
    hw_type_id type;
    const char* timezone;
  } cases[] = {
      {"BOOLEAN", HW_TYPE_BOOL, NULL},         {"TINYINT", HW_TYPE_INT8, NULL},
      {"BYTE", HW_TYPE_INT8, NULL},            {"SMALLINT", HW_TYPE_INT16, NULL},
      {"SHORT", HW_TYPE_INT16, NULL},          {"INT", HW_TYPE_INT32, NULL},
      {"INTEGER", HW_TYPE_INT32, NULL},        {"BIGINT", HW_TYPE_INT64, NULL},
      {"LONG", HW_TYPE_INT64, NULL},           {"FLOAT", HW_TYPE_FLOAT32, NULL},
      {"REAL", HW_TYPE_FLOAT32, NULL},         {"DOUBLE", HW_TYPE_FLOAT64, NULL},
      {"STRING", HW_TYPE_UTF8, NULL},          {"BINARY", HW_TYPE_BINARY, NULL},
      {"DATE", HW_TYPE_DATE32, NULL},          {"VOID", HW_TYPE_NULL, NULL},
      {"TIMESTAMP", HW_TYPE_TIMESTAMP, "UTC"}, {"TIMESTAMP_LTZ", HW_TYPE_TIMESTAMP, "UTC"},
      {"TIMESTAMP_NTZ", HW_TYPE_TIMESTAMP, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hw_field f;
    parse_ok(cases[i].ddl, &f); /* a lone type is that type */
    check_field(&f, NULL, cases[i].type, true, 0);
    assert_null(f.comment);
    assert_int_equal(f.string_kind, HW_STRING_PLAIN);
    if (cases[i].type == HW_TYPE_TIMESTAMP) {
      assert_int_equal(f.unit, HW_TIME_MICRO);
      if (cases[i].timezone) assert_string_equal(f.timezone, cases[i].timezone);
      else assert_null(f.timezone);
    } else {
      assert_null(f.timezone);
    }
    hw_field_release(&f);

    char ddl[64]; /* and the same as a field */
    snprintf(ddl, sizeof ddl, "x %s", cases[i].ddl);
    hw_field holder;
    const hw_field* x = single_field(ddl, &holder);
    check_field(x, "x", cases[i].type, true, 0);
    hw_field_release(&holder);
  }
}

static void test_keywords_are_case_insensitive(void** state) {
  (void)state;
  hw_field a, b;
  parse_ok("a int not null comment 'c', b array<sTrInG>, c Map<iNt, DeCiMaL(5,2)>, d struct<X: bOoLeAn>", &a);
  parse_ok("a INT NOT NULL COMMENT 'c', b ARRAY<STRING>, c MAP<INT, DECIMAL(5,2)>, d STRUCT<X: BOOLEAN>", &b);
  assert_true(hw_field_equal(&a, &b));
  assert_false(a.children[0].nullable);
  assert_string_equal(a.children[0].comment, "c");
  hw_field_release(&a);
  hw_field_release(&b);
  parse_ok("TiMeStAmP_nTz", &a);
  check_field(&a, NULL, HW_TYPE_TIMESTAMP, true, 0);
  assert_null(a.timezone);
  hw_field_release(&a);
}

static void test_field_list_forms(void** state) {
  (void)state;
  hw_field f;
  parse_ok("a INT, b: STRING,c:BIGINT NOT NULL , d\tDOUBLE", &f);
  check_field(&f, NULL, HW_TYPE_STRUCT, true, 4);
  check_field(&f.children[0], "a", HW_TYPE_INT32, true, 0);
  check_field(&f.children[1], "b", HW_TYPE_UTF8, true, 0);
  check_field(&f.children[2], "c", HW_TYPE_INT64, false, 0);
  check_field(&f.children[3], "d", HW_TYPE_FLOAT64, true, 0);
  hw_field_release(&f);

  /* Both forms inside STRUCT<> too, and a top-level STRUCT<> is the struct itself. */
  hw_field g;
  parse_ok("STRUCT<a INT, b: STRING, c:BIGINT NOT NULL, d DOUBLE>", &g);
  parse_ok("a INT, b STRING, c BIGINT NOT NULL, d DOUBLE", &f);
  assert_true(hw_field_equal(&f, &g));
  hw_field_release(&f);
  hw_field_release(&g);

  /* Type keywords and modifier keywords are fine as names: names come first. */
  parse_ok("int INT, not STRING NOT NULL, comment DATE COMMENT 'c', struct ARRAY<INT>, null VOID, _1 INT, 1a INT", &f);
  check_field(&f.children[0], "int", HW_TYPE_INT32, true, 0);
  check_field(&f.children[1], "not", HW_TYPE_UTF8, false, 0);
  check_field(&f.children[2], "comment", HW_TYPE_DATE32, true, 0);
  assert_string_equal(f.children[2].comment, "c");
  check_field(&f.children[3], "struct", HW_TYPE_LIST, true, 1);
  check_field(&f.children[4], "null", HW_TYPE_NULL, true, 0);
  check_field(&f.children[5], "_1", HW_TYPE_INT32, true, 0);
  check_field(&f.children[6], "1a", HW_TYPE_INT32, true, 0); /* Spark allows leading digits */
  hw_field_release(&f);

  /* Duplicate names are allowed, as in Spark. */
  parse_ok("a INT, a STRING", &f);
  assert_int_equal(f.n_children, 2);
  hw_field_release(&f);
}

static void test_backticked_names(void** state) {
  (void)state;
  hw_field f;
  parse_ok("`a b` INT, `x``y` STRING, ```` INT, `` INT, `é,<>:` INT, `NOT` INT NOT NULL, `a`:INT", &f);
  assert_int_equal(f.n_children, 7);
  assert_string_equal(f.children[0].name, "a b");
  assert_string_equal(f.children[1].name, "x`y");
  assert_string_equal(f.children[2].name, "`");
  assert_string_equal(f.children[3].name, "");
  assert_string_equal(f.children[4].name, "é,<>:");
  check_field(&f.children[5], "NOT", HW_TYPE_INT32, false, 0);
  check_field(&f.children[6], "a", HW_TYPE_INT32, true, 0);
  hw_field_release(&f);
  parse_ok("STRUCT<`a b`: INT, `c``d` STRING>", &f);
  assert_string_equal(f.children[0].name, "a b");
  assert_string_equal(f.children[1].name, "c`d");
  hw_field_release(&f);
}

static void test_not_null_and_comment(void** state) {
  (void)state;
  static const struct {
    const char* ddl;
    const char* comment;
  } cases[] = {
      {"a INT COMMENT 'plain'", "plain"},
      {"a INT COMMENT \"double\"", "double"},
      {"a INT COMMENT ''", ""},
      {"a INT COMMENT 'it''s'", "it's"},
      {"a INT COMMENT \"say \"\"hi\"\"\"", "say \"hi\""},
      {"a INT COMMENT 'it\\'s'", "it's"},
      {"a INT COMMENT \"q\\\"q\"", "q\"q"},
      {"a INT COMMENT 'x\"y'", "x\"y"},
      {"a INT COMMENT \"x'y\"", "x'y"},
      {"a INT COMMENT 'back\\\\slash'", "back\\slash"},
      {"a INT COMMENT 'a\\nb\\tc\\rd\\be'", "a\nb\tc\rd\be"},
      {"a INT COMMENT 'raw\nnewline'", "raw\nnewline"},
      {"a INT COMMENT 'a' 'b' \"c\"", "abc"}, /* adjacent literals concatenate */
      {"a INT COMMENT '\\u00e9\\u20AC'", "é€"},
      {"a INT COMMENT '\\uD83D\\uDE00'", "\xF0\x9F\x98\x80"},
      {"a INT COMMENT 'ü😀'", "ü😀"},
      {"a INT COMMENT '\\101\\102'", "AB"}, /* octal */
      {"a INT COMMENT '100\\%\\_'", "100\\%\\_"},
      {"a INT COMMENT '\\q\\Z'", "q\x1A"},
      {"a INT COMMENT '-- not a comment /* */'", "-- not a comment /* */"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hw_field holder;
    const hw_field* a = single_field(cases[i].ddl, &holder);
    check_field(a, "a", HW_TYPE_INT32, true, 0);
    assert_non_null(a->comment);
    assert_string_equal(a->comment, cases[i].comment);
    hw_field_release(&holder);
  }

  hw_field holder;
  const hw_field* a = single_field("a STRING NOT NULL COMMENT 'both'", &holder);
  check_field(a, "a", HW_TYPE_UTF8, false, 0);
  assert_string_equal(a->comment, "both");
  hw_field_release(&holder);
  a = single_field("a ARRAY<INT> NOT NULL", &holder);
  check_field(a, "a", HW_TYPE_LIST, false, 1);
  assert_null(a->comment);
  hw_field_release(&holder);
}

static void test_nested_tree(void** state) {
  (void)state;
  hw_field f;
  parse_ok("ARRAY<MAP<STRING, STRUCT<a: INT>>>", &f);
  check_field(&f, NULL, HW_TYPE_LIST, true, 1);
  const hw_field* element = &f.children[0];
  check_field(element, "element", HW_TYPE_MAP, true, 1);
  const hw_field* entries = &element->children[0];
  check_field(entries, "entries", HW_TYPE_STRUCT, false, 2);
  check_field(&entries->children[0], "key", HW_TYPE_UTF8, false, 0);
  const hw_field* value = &entries->children[1];
  check_field(value, "value", HW_TYPE_STRUCT, true, 1);
  check_field(&value->children[0], "a", HW_TYPE_INT32, true, 0);
  hw_field_release(&f);

  parse_ok("m MAP<STRUCT<k: INT NOT NULL>, ARRAY<DECIMAL(12,3)>> NOT NULL COMMENT 'map'", &f);
  check_field(&f, NULL, HW_TYPE_STRUCT, true, 1);
  const hw_field* m = &f.children[0];
  check_field(m, "m", HW_TYPE_MAP, false, 1);
  assert_string_equal(m->comment, "map");
  entries = &m->children[0];
  check_field(entries, "entries", HW_TYPE_STRUCT, false, 2);
  const hw_field* key = &entries->children[0];
  check_field(key, "key", HW_TYPE_STRUCT, false, 1);
  check_field(&key->children[0], "k", HW_TYPE_INT32, false, 0);
  value = &entries->children[1];
  check_field(value, "value", HW_TYPE_LIST, true, 1);
  check_field(&value->children[0], "element", HW_TYPE_DECIMAL128, true, 0);
  assert_int_equal(value->children[0].precision, 12);
  assert_int_equal(value->children[0].scale, 3);
  hw_field_release(&f);
}

static void test_decimal(void** state) {
  (void)state;
  static const struct {
    const char* ddl;
    int32_t precision, scale;
  } cases[] = {
      {"DECIMAL", 10, 0},        {"DECIMAL(5)", 5, 0},          {"DECIMAL(5,2)", 5, 2},
      {"DECIMAL( 7 , 3 )", 7, 3}, {"DECIMAL(38,38)", 38, 38},     {"DECIMAL(1,0)", 1, 0},
      {"DECIMAL(38)", 38, 0},    {"DEC", 10, 0},                {"DEC(4,1)", 4, 1},
      {"NUMERIC", 10, 0},        {"numeric(20, 10)", 20, 10},   {"DECIMAL(010,02)", 10, 2},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hw_field f;
    parse_ok(cases[i].ddl, &f);
    check_field(&f, NULL, HW_TYPE_DECIMAL128, true, 0);
    assert_int_equal(f.precision, cases[i].precision);
    assert_int_equal(f.scale, cases[i].scale);
    hw_field_release(&f);
  }
  parse_fails("DECIMAL(39)", "DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION", "1:9: decimal precision 39 exceeds max precision 38");
  parse_fails("x DEC(3,4)", "DECIMAL_SCALE_EXCEEDS_PRECISION", "1:9: decimal scale 4 cannot be greater than precision 3");
  parse_fails("DECIMAL(0,0)", "UNSUPPORTED_DATATYPE", "1:9: decimal precision must be at least 1, found 0");
}

static void test_char_varchar(void** state) {
  (void)state;
  static const struct {
    const char* ddl;
    hw_string_kind kind;
    int32_t length;
  } cases[] = {
      {"CHAR(3)", HW_STRING_CHAR, 3},         {"CHARACTER(10)", HW_STRING_CHAR, 10},
      {"VARCHAR(5)", HW_STRING_VARCHAR, 5},   {"varchar( 255 )", HW_STRING_VARCHAR, 255},
      {"CHAR(0)", HW_STRING_CHAR, 0}, /* Spark 4 accepts a zero length */
      {"VARCHAR(2147483647)", HW_STRING_VARCHAR, 2147483647},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hw_field f;
    parse_ok(cases[i].ddl, &f);
    check_field(&f, NULL, HW_TYPE_UTF8, true, 0);
    assert_int_equal(f.string_kind, cases[i].kind);
    assert_int_equal(f.string_length, cases[i].length);
    hw_field_release(&f);
  }
  hw_field f, g;
  parse_ok("a CHAR(3), b VARCHAR(5), c STRING", &f);
  char* ddl = render(&f);
  assert_string_equal(ddl, "a CHAR(3), b VARCHAR(5), c STRING");
  char* s = simple(&f);
  assert_string_equal(s, "struct<a:char(3),b:varchar(5),c:string>");
  /* hw_field_equal ignores CHAR/VARCHAR: all three are Arrow strings. */
  parse_ok("a STRING, b STRING, c STRING", &g);
  assert_true(hw_field_equal(&f, &g));
  free(ddl);
  free(s);
  hw_field_release(&f);
  hw_field_release(&g);
  parse_fails("VARCHAR(2147483648)", "DATATYPE_PARAMETER_VALUE_OUT_OF_RANGE",
              "1:9: VARCHAR length 2147483648 is out of the range of a 32-bit integer");
}

static void test_empty_and_whitespace(void** state) {
  (void)state;
  static const char* const empties[] = {"", "   ", "\n\t \r\n", "-- only a comment", "/* block */", "STRUCT<>",
                                        " struct < > "};
  for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
    hw_field f;
    parse_ok(empties[i], &f);
    check_field(&f, NULL, HW_TYPE_STRUCT, true, 0);
    assert_null(f.children);
    char* ddl = render(&f);
    assert_string_equal(ddl, "");
    char* s = simple(&f);
    assert_string_equal(s, "struct<>");
    free(ddl);
    free(s);
    hw_field_release(&f);
  }
  hw_field f, g;
  parse_ok("\n  a\tINT /* one /* nested */ comment */ ,\r\n b STRING -- trailing\n", &f);
  parse_ok("a INT, b STRING", &g);
  assert_true(hw_field_equal(&f, &g));
  hw_field_release(&f);
  hw_field_release(&g);
  parse_ok("  ARRAY < INT >  ", &f);
  check_field(&f, NULL, HW_TYPE_LIST, true, 1);
  hw_field_release(&f);
  parse_ok("a STRUCT<>", &f);
  check_field(&f.children[0], "a", HW_TYPE_STRUCT, true, 0);
  hw_field_release(&f);
}

/* ---- rendering and round trips ---- */

static void test_round_trips(void** state) {
  (void)state;
  static const struct {
    const char* input;
    const char* ddl;
    const char* simple;
  } cases[] = {
      {"a INT, b STRING", "a INT, b STRING", "struct<a:int,b:string>"},
      {"a int not null comment 'x', `b c` string, d array<struct<e: decimal(10,2)>>, m map<string, bigint>",
       "a INT NOT NULL COMMENT 'x', `b c` STRING, d ARRAY<STRUCT<e: DECIMAL(10,2)>>, m MAP<STRING, BIGINT>",
       "struct<a:int,b c:string,d:array<struct<e:decimal(10,2)>>,m:map<string,bigint>>"},
      {"INT", "INT", "int"},
      {"array<int>", "ARRAY<INT>", "array<int>"},
      {"map<struct<a:int>, array<int>>", "MAP<STRUCT<a: INT>, ARRAY<INT>>", "map<struct<a:int>,array<int>>"},
      {"array<map<string,struct<a:int not null comment 'x'>>>", "ARRAY<MAP<STRING, STRUCT<a: INT NOT NULL COMMENT 'x'>>>",
       "array<map<string,struct<a:int>>>"},
      {"struct<a: int, b struct<c: string>>", "a INT, b STRUCT<c: STRING>", "struct<a:int,b:struct<c:string>>"},
      {"", "", "struct<>"},
      {"s struct<>", "s STRUCT<>", "struct<s:struct<>>"},
      {"`a b` int, `1a` int, _x int, `` int, `x``y` int, `é` int", "`a b` INT, `1a` INT, _x INT, `` INT, `x``y` INT, `é` INT",
       "struct<a b:int,1a:int,_x:int,:int,x`y:int,é:int>"},
      {"t timestamp, n timestamp_ntz, l timestamp_ltz", "t TIMESTAMP, n TIMESTAMP_NTZ, l TIMESTAMP",
       "struct<t:timestamp,n:timestamp_ntz,l:timestamp>"},
      {"a byte, b short, c integer, d long, e real, f dec, g numeric(5), h character(2)",
       "a TINYINT, b SMALLINT, c INT, d BIGINT, e FLOAT, f DECIMAL(10,0), g DECIMAL(5,0), h CHAR(2)",
       "struct<a:tinyint,b:smallint,c:int,d:bigint,e:float,f:decimal(10,0),g:decimal(5,0),h:char(2)>"},
      {"v void, b binary, d date, o boolean, f float, x double", "v VOID, b BINARY, d DATE, o BOOLEAN, f FLOAT, x DOUBLE",
       "struct<v:void,b:binary,d:date,o:boolean,f:float,x:double>"},
      {"a int comment 'it''s \\\\ a\\nb\\tc\\rd \"q\"'", "a INT COMMENT 'it\\'s \\\\ a\\nb\\tc\\rd \"q\"'", "struct<a:int>"},
      {"not int, comment string, struct array<int>", "not INT, comment STRING, struct ARRAY<INT>",
       "struct<not:int,comment:string,struct:array<int>>"},
      {"a decimal(38,38) not null, b decimal(1)", "a DECIMAL(38,38) NOT NULL, b DECIMAL(1,0)",
       "struct<a:decimal(38,38),b:decimal(1,0)>"},
      {"a int, b string, c array<bigint>, d map<string,int>, e decimal(10,2), f timestamp, g timestamp_ntz, h char(3), "
       "i varchar(5), j void, k tinyint, l smallint, m float, n double, o boolean, p binary, q date",
       "a INT, b STRING, c ARRAY<BIGINT>, d MAP<STRING, INT>, e DECIMAL(10,2), f TIMESTAMP, g TIMESTAMP_NTZ, h CHAR(3), "
       "i VARCHAR(5), j VOID, k TINYINT, l SMALLINT, m FLOAT, n DOUBLE, o BOOLEAN, p BINARY, q DATE",
       "struct<a:int,b:string,c:array<bigint>,d:map<string,int>,e:decimal(10,2),f:timestamp,g:timestamp_ntz,h:char(3),"
       "i:varchar(5),j:void,k:tinyint,l:smallint,m:float,n:double,o:boolean,p:binary,q:date>"},
      {"STRUCT<`a``b`: MAP<STRING, ARRAY<STRUCT<x: INT NOT NULL COMMENT 'deep'>>> NOT NULL>",
       "`a``b` MAP<STRING, ARRAY<STRUCT<x: INT NOT NULL COMMENT 'deep'>>> NOT NULL",
       "struct<a`b:map<string,array<struct<x:int>>>>"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hw_field f, g;
    parse_ok(cases[i].input, &f);
    char* ddl = render(&f);
    assert_string_equal(ddl, cases[i].ddl);
    char* s = simple(&f);
    assert_string_equal(s, cases[i].simple);
    parse_ok(ddl, &g); /* the rendering parses back to the same tree and renders the same */
    assert_true(hw_field_equal(&f, &g));
    char* again = render(&g);
    assert_string_equal(again, ddl);
    free(ddl);
    free(s);
    free(again);
    hw_field_release(&f);
    hw_field_release(&g);
  }
}

static void test_render_comment_escapes(void** state) {
  (void)state;
  static const char* const comments[] = {"", "plain", "it's", "back\\slash", "multi\nline\ttab\rcr", "\"dq\"",
                                         "é😀", "\\'\\'", "x\x01y"};
  for (size_t i = 0; i < sizeof comments / sizeof comments[0]; i++) {
    hw_field holder;
    const hw_field* a = single_field("a INT", &holder);
    hw_field* mutable_a = &holder.children[0];
    mutable_a->comment = malloc(strlen(comments[i]) + 1);
    assert_non_null(mutable_a->comment);
    strcpy(mutable_a->comment, comments[i]);
    char* ddl = render(&holder);
    hw_field back;
    const hw_field* b = single_field(ddl, &back);
    assert_string_equal(b->comment, a->comment);
    free(ddl);
    hw_field_release(&back);
    hw_field_release(&holder);
  }
  hw_field f;
  parse_ok("a INT COMMENT 'it''s a\\\\b\\nc'", &f);
  char* ddl = render(&f);
  assert_string_equal(ddl, "a INT COMMENT 'it\\'s a\\\\b\\nc'");
  free(ddl);
  hw_field_release(&f);
}

/* Builds a one-field struct whose field x has the given type. */
static void make_struct_of(hw_field* root, hw_type_id type) {
  hw_error err;
  hw_field_init(root);
  root->type = HW_TYPE_STRUCT;
  assert_int_equal(hw_field_alloc_children(root, 1, &err), 0);
  assert_int_equal(hw_field_set_name(&root->children[0], "x", 1, &err), 0);
  root->children[0].type = type;
}

static void render_fails(const hw_field* f, const char* error_class, const char* message) {
  hw_error err;
  hw_error_init(&err);
  char* out = (char*)"untouched";
  assert_int_equal(hw_ddl_render(f, &out, &err), -1);
  assert_string_equal(out, "untouched");
  assert_string_equal(err.error_class, error_class);
  assert_string_equal(err.message, message);
  hw_error_init(&err);
  assert_int_equal(hw_simple_string(f, &out, &err), -1);
  assert_string_equal(out, "untouched");
  assert_string_equal(err.error_class, error_class);
  assert_string_equal(err.message, message);
}

static void test_render_arrow_only_types(void** state) {
  (void)state;
  static const struct {
    hw_type_id type;
    const char* message;
  } unsigned_types[] = {
      {HW_TYPE_UINT8, "type uint8 has no Spark equivalent"},
      {HW_TYPE_UINT16, "type uint16 has no Spark equivalent"},
      {HW_TYPE_UINT32, "type uint32 has no Spark equivalent"},
      {HW_TYPE_UINT64, "type uint64 has no Spark equivalent"},
  };
  for (size_t i = 0; i < sizeof unsigned_types / sizeof unsigned_types[0]; i++) {
    hw_field root;
    make_struct_of(&root, unsigned_types[i].type);
    render_fails(&root, "UNSUPPORTED_DATATYPE", unsigned_types[i].message);
    render_fails(&root.children[0], "UNSUPPORTED_DATATYPE", unsigned_types[i].message);
    hw_field_release(&root);
  }

  hw_field root;
  hw_error err;
  make_struct_of(&root, HW_TYPE_LARGE_UTF8);
  char* ddl = render(&root);
  assert_string_equal(ddl, "x STRING");
  free(ddl);
  root.children[0].type = HW_TYPE_LARGE_BINARY;
  ddl = render(&root);
  assert_string_equal(ddl, "x BINARY");
  free(ddl);
  /* Spark has microseconds only: other units render as the same Spark types. */
  root.children[0].type = HW_TYPE_TIMESTAMP;
  root.children[0].unit = HW_TIME_NANO;
  root.children[0].timezone = malloc(13);
  assert_non_null(root.children[0].timezone);
  strcpy(root.children[0].timezone, "Europe/Paris");
  ddl = render(&root);
  assert_string_equal(ddl, "x TIMESTAMP");
  free(ddl);
  free(root.children[0].timezone);
  root.children[0].timezone = NULL;
  root.children[0].unit = HW_TIME_SECOND;
  ddl = render(&root);
  assert_string_equal(ddl, "x TIMESTAMP_NTZ");
  free(ddl);
  char* s = simple(&root);
  assert_string_equal(s, "struct<x:timestamp_ntz>");
  free(s);
  hw_field_release(&root);

  /* containsNull=false / valueContainsNull=false have no DDL spelling: rendered as nullable. */
  hw_field f;
  parse_ok("a ARRAY<INT>, m MAP<STRING, INT>", &f);
  f.children[0].children[0].nullable = false;
  f.children[1].children[0].children[1].nullable = false;
  ddl = render(&f);
  assert_string_equal(ddl, "a ARRAY<INT>, m MAP<STRING, INT>");
  free(ddl);
  hw_field_release(&f);

  /* Malformed trees are errors, not crashes. */
  make_struct_of(&root, HW_TYPE_LIST);
  render_fails(&root, "HW_MALFORMED_FIELD", "list field must have exactly one child");
  root.children[0].type = HW_TYPE_MAP;
  render_fails(&root, "HW_MALFORMED_FIELD", "map field must have one 'entries' child with a key and a value");
  assert_int_equal(hw_field_alloc_children(&root.children[0], 1, &err), 0);
  render_fails(&root, "HW_MALFORMED_FIELD", "map field must have one 'entries' child with a key and a value");
  hw_field_release(&root);
}

static void test_render_names(void** state) {
  (void)state;
  static const struct {
    const char* name;
    const char* ddl;
    const char* simple;
  } cases[] = {
      {"plain_1", "plain_1 INT", "struct<plain_1:int>"},
      {"_x", "_x INT", "struct<_x:int>"},
      {"1a", "`1a` INT", "struct<1a:int>"},
      {"123", "`123` INT", "struct<123:int>"},
      {"a b", "`a b` INT", "struct<a b:int>"},
      {"", "`` INT", "struct<:int>"},
      {"x`y", "`x``y` INT", "struct<x`y:int>"},
      {"``", "`````` INT", "struct<``:int>"},
      {"é", "`é` INT", "struct<é:int>"},
      {"a-b", "`a-b` INT", "struct<a-b:int>"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hw_field root;
    hw_error err;
    make_struct_of(&root, HW_TYPE_INT32);
    assert_int_equal(hw_field_set_name(&root.children[0], cases[i].name, strlen(cases[i].name), &err), 0);
    char* ddl = render(&root);
    assert_string_equal(ddl, cases[i].ddl);
    char* s = simple(&root);
    assert_string_equal(s, cases[i].simple);
    hw_field back;
    parse_ok(ddl, &back);
    assert_true(hw_field_equal(&root, &back));
    free(ddl);
    free(s);
    hw_field_release(&back);
    hw_field_release(&root);
  }
  /* An anonymous (NULL-named) field renders as an empty name. */
  hw_field root;
  make_struct_of(&root, HW_TYPE_INT32);
  free(root.children[0].name);
  root.children[0].name = NULL;
  char* ddl = render(&root);
  assert_string_equal(ddl, "`` INT");
  free(ddl);
  hw_field_release(&root);
}

/* ---- limits ---- */

static int depth_of(const hw_field* f) {
  int d = 0;
  while (f->n_children > 0) {
    d++;
    f = f->type == HW_TYPE_MAP ? &f->children[0].children[1] : &f->children[0];
  }
  return d;
}

/* HW_MAX_NESTING counts Arrow schema levels (see field.h): the root is level 0, every node must be
 * below 64, ARRAY and STRUCT are one level and MAP two. So a lone type nests 63 ARRAYs or STRUCTs
 * or 31 MAPs, a top-level column one less (pyarrow's own limits: checked in test_hardening_ddl.py). */
static void test_nesting_limit(void** state) {
  (void)state;
  hw_field f;
  char* ok = nest("", "ARRAY<", 63, "INT", ">");
  parse_ok(ok, &f);
  assert_int_equal(depth_of(&f), 63);
  char* ddl = render(&f);
  assert_string_equal(ddl, ok);
  free(ddl);
  char* s = simple(&f);
  assert_int_equal(strlen(s), strlen(ok));
  free(s);
  free(ok);

  /* One more level below the deepest tree is refused by the renderers too. */
  hw_field* leaf = &f;
  while (leaf->n_children > 0) leaf = &leaf->children[0];
  hw_error err;
  leaf->type = HW_TYPE_LIST;
  assert_int_equal(hw_field_alloc_children(leaf, 1, &err), 0);
  leaf->children[0].type = HW_TYPE_INT32;
  render_fails(&f, "FAILED_TO_PARSE_TOO_COMPLEX", HW_NESTING_MESSAGE);
  hw_field_release(&f);

  /* The error points at the first type that would sit at level 64. */
  char* bad = nest("", "ARRAY<", 64, "INT", ">");
  parse_fails(bad, "FAILED_TO_PARSE_TOO_COMPLEX", "1:385: " HW_NESTING_MESSAGE);
  free(bad);

  /* In a field list the implicit struct is level 0 and a column level 1: limit-1, limit, limit+1. */
  static const struct {
    const char* open;
    int max;            /* the most levels of open a column can take */
    const char* where;  /* error position at max + 1 */
    const char* where2; /* error position at max + 2 */
  } kinds[] = {
      {"ARRAY<", 62, "1:381", "1:381"},
      {"STRUCT<a: ", 62, "1:633", "1:633"},
      {"MAP<INT, ", 31, "1:286", "1:286"},
      {"MAP<", 31, "1:131", "1:131"}, /* the value: MAP<MAP<...>, INT> nests in the key */
  };
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    bool key_side = strcmp(kinds[k].open, "MAP<") == 0;
    for (int n = kinds[k].max - 1; n <= kinds[k].max + 2; n++) {
      ok = nest("a ", kinds[k].open, n, "INT", key_side ? ", INT>" : ">");
      if (n <= kinds[k].max) {
        parse_ok(ok, &f);
        char* back = render(&f); /* whatever is accepted renders */
        free(back);
        back = simple(&f);
        free(back);
        hw_field_release(&f);
      } else {
        char msg[256];
        snprintf(msg, sizeof msg, "%s: %s", n == kinds[k].max + 1 ? kinds[k].where : kinds[k].where2,
                 HW_NESTING_MESSAGE);
        parse_fails(ok, "FAILED_TO_PARSE_TOO_COMPLEX", msg);
      }
      free(ok);
    }
  }

  ok = nest("", "STRUCT<a: ", 63, "INT", ">");
  parse_ok(ok, &f);
  assert_int_equal(depth_of(&f), 63);
  hw_field_release(&f);
  free(ok);
  bad = nest("", "STRUCT<a: ", 64, "INT", ">");
  parse_fails(bad, "FAILED_TO_PARSE_TOO_COMPLEX", "1:641: " HW_NESTING_MESSAGE);
  free(bad);

  ok = nest("", "MAP<INT, ", 31, "INT", ">");
  parse_ok(ok, &f);
  assert_int_equal(depth_of(&f), 31);
  hw_field_release(&f);
  free(ok);
  bad = nest("", "MAP<INT, ", 32, "INT", ">");
  parse_fails(bad, "FAILED_TO_PARSE_TOO_COMPLEX", "1:284: " HW_NESTING_MESSAGE);
  free(bad);

  /* Far deeper input stops at the limit: no unbounded recursion. */
  bad = nest("", "ARRAY<", 200000, "", "");
  parse_fails(bad, "FAILED_TO_PARSE_TOO_COMPLEX", "1:385: " HW_NESTING_MESSAGE);
  free(bad);
  bad = nest("a ", "STRUCT<a ", 100000, "", "");
  parse_fails(bad, "FAILED_TO_PARSE_TOO_COMPLEX", "1:570: " HW_NESTING_MESSAGE);
  free(bad);
  bad = nest("a ", "MAP<", 100000, "", "");
  parse_fails(bad, "FAILED_TO_PARSE_TOO_COMPLEX", "1:131: " HW_NESTING_MESSAGE);
  free(bad);
}

/* hw_ddl_parse_n: the whole text counts. A NUL anywhere (never a truncated schema), a lone
 * surrogate as Python's "surrogatepass" encodes it, and any other invalid UTF-8 are errors at their
 * position (line:column, columns in characters). */
static void parse_n_fails(const char* ddl, size_t len, const char* message) {
  hw_error err;
  hw_error_init(&err);
  hw_field f;
  memset(&f, 0xAB, sizeof f);
  hw_field untouched = f;
  int rc = hw_ddl_parse_n(ddl, len, &f, &err);
  if (rc == 0) {
    hw_field_release(&f);
    fail_msg("parsing %zu bytes succeeded, expected \"%s\"", len, message);
  }
  assert_string_equal(err.message, message);
  assert_string_equal(err.error_class, "PARSE_SYNTAX_ERROR");
  assert_memory_equal(&f, &untouched, sizeof f);
}

static void test_parse_n_whole_text(void** state) {
  (void)state;
  static const char nul[] = "the DDL contains a NUL character (U+0000)";
  static const char sur[] = "the DDL contains a lone surrogate (U+D800..U+DFFF), which is not text";
  static const char bad[] = "the DDL is not valid UTF-8";
  static const struct {
    const char* ddl;
    size_t len;
    const char* where;
    const char* what;
  } cases[] = {
      {"\0a INT", 7, "1:1", nul},
      {"a INT\0, b STRING, this is not DDL <<<", 38, "1:6", nul},
      {"a\0 INT", 7, "1:2", nul},
      {"a INT COMMENT 'x\0y'", 20, "1:17", nul},
      {"`a\0b` INT", 10, "1:3", nul},
      {"a INT,\n b STRING\0", 18, "2:10", nul},
      {"a INT\0", 6, "1:6", nul},
      {"\xC3\xA9\0", 3, "1:2", nul},                   /* columns count characters */
      {"a\xED\xB2\x80 INT", 8, "1:2", sur},             /* U+DC80 */
      {"`\xED\xA0\x80` INT", 9, "1:2", sur},            /* U+D800 in a quoted name */
      {"a INT COMMENT '\xED\xBF\xBF'", 19, "1:16", sur}, /* U+DFFF in a comment */
      {"\xC3\xA9 INT, b\xED\xB2\x80 INT", 17, "1:9", sur},
      {"a\xFF INT", 6, "1:2", bad},
      {"a INT COMMENT '\xC3'", 17, "1:16", bad},
      {"a \xE2\x82", 5, "1:3", bad}, /* cut sequence at the end */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char msg[200];
    snprintf(msg, sizeof msg, "%s: %s", cases[i].where, cases[i].what);
    parse_n_fails(cases[i].ddl, cases[i].len, msg);
  }
  /* the same text without the bad byte parses, and a valid text parses as hw_ddl_parse does */
  hw_field f;
  hw_error err;
  hw_error_init(&err);
  assert_int_equal(hw_ddl_parse_n("a INT, b STRING", 15, &f, &err), 0);
  assert_int_equal(f.n_children, 2);
  hw_field_release(&f);
  assert_int_equal(hw_ddl_parse_n("a INT, b STRING", 5, &f, &err), 0); /* len bounds the text */
  assert_int_equal(f.n_children, 1);
  hw_field_release(&f);
  assert_int_equal(hw_ddl_parse_n("`\xC3\xA9` STRING COMMENT '\xF0\x9F\x98\x80'", 26, &f, &err), 0);
  assert_string_equal(f.children[0].name, "\xC3\xA9");
  assert_string_equal(f.children[0].comment, "\xF0\x9F\x98\x80");
  hw_field_release(&f);
  assert_int_equal(hw_ddl_parse_n("", 0, &f, &err), 0);
  assert_int_equal(f.n_children, 0);
  hw_field_release(&f);
  assert_int_equal(hw_ddl_parse_n(NULL, 0, &f, &err), -1);
}

static void test_long_inputs(void** state) {
  (void)state;
  enum { N = 20000 };
  size_t cap = (size_t)N * 16;
  char* ddl = malloc(cap);
  assert_non_null(ddl);
  size_t len = 0;
  for (int i = 0; i < N; i++) len += (size_t)snprintf(ddl + len, cap - len, "%sc%d INT", i ? ", " : "", i);
  hw_field f;
  parse_ok(ddl, &f);
  assert_int_equal(f.n_children, N);
  assert_string_equal(f.children[N - 1].name, "c19999");
  char* back = render(&f);
  assert_string_equal(back, ddl);
  free(back);
  hw_field_release(&f);
  free(ddl);

  /* A 1 MB name, a 1 MB comment, 1 MB of garbage. */
  enum { BIG = 1 << 20 };
  char* big = malloc(BIG + 64);
  assert_non_null(big);
  memset(big, 'n', BIG);
  strcpy(big + BIG, " STRING");
  parse_ok(big, &f);
  assert_int_equal(strlen(f.children[0].name), BIG);
  hw_field_release(&f);

  memcpy(big, "a INT COMMENT '", 15);
  memset(big + 15, 'c', BIG - 16);
  strcpy(big + BIG - 1, "'");
  parse_ok(big, &f);
  assert_int_equal(strlen(f.children[0].comment), BIG - 16);
  hw_field_release(&f);

  memset(big, 'x', BIG);
  big[BIG] = '\0';
  parse_fails(big, "PARSE_SYNTAX_ERROR", "1:1: unknown type 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'");
  memset(big, '<', BIG);
  parse_fails(big, "PARSE_SYNTAX_ERROR", "1:1: expected a field name, found '<'");
  memset(big, '`', BIG - 1); /* an odd number of backticks never closes */
  big[BIG - 1] = '\0';
  parse_fails(big, "PARSE_SYNTAX_ERROR", "1:1: unterminated backtick-quoted name");
  free(big);
}

/* ---- errors ---- */

static void test_malformed_inputs(void** state) {
  (void)state;
  static const struct {
    const char* ddl;
    const char* error_class;
    const char* message;
  } cases[] = {
      {"a INT,", "PARSE_SYNTAX_ERROR", "1:7: expected a field name, found end of input"},
      {", a INT", "PARSE_SYNTAX_ERROR", "1:1: expected a field name, found ','"},
      {"a INTEGRE", "PARSE_SYNTAX_ERROR", "1:3: unknown type 'INTEGRE'"},
      {"INTEGRE", "PARSE_SYNTAX_ERROR", "1:1: unknown type 'INTEGRE'"},
      {"date DATTE", "PARSE_SYNTAX_ERROR", "1:6: unknown type 'DATTE'"},
      {"a VARIANT", "PARSE_SYNTAX_ERROR", "1:3: unknown type 'VARIANT'"},
      {"ARRAY<INT", "PARSE_SYNTAX_ERROR", "1:10: expected '>' to close ARRAY<, found end of input"},
      {"a ARRAY<STRING, b INT", "PARSE_SYNTAX_ERROR", "1:15: expected '>' to close ARRAY<, found ','"},
      {"ARRAY<INT>>", "PARSE_SYNTAX_ERROR", "1:11: unexpected '>' after the schema"},
      {"ARRAY<>", "PARSE_SYNTAX_ERROR", "1:7: expected a type name, found '>'"},
      {"MAP<STRING>", "PARSE_SYNTAX_ERROR", "1:11: expected ',' after the MAP key type, found '>'"},
      {"MAP<STRING INT>", "PARSE_SYNTAX_ERROR", "1:12: expected ',' after the MAP key type, found 'INT'"},
      {"MAP<STRING, INT", "PARSE_SYNTAX_ERROR", "1:16: expected '>' to close MAP<, found end of input"},
      {"MAP(STRING, INT)", "PARSE_SYNTAX_ERROR", "1:4: expected '<' after MAP, found '('"},
      {"STRUCT<a INT", "PARSE_SYNTAX_ERROR", "1:13: expected ',' or '>' in STRUCT<, found end of input"},
      {"STRUCT<a INT b STRING>", "PARSE_SYNTAX_ERROR", "1:14: expected ',' or '>' in STRUCT<, found 'b'"},
      {"STRUCT<a INT,>", "PARSE_SYNTAX_ERROR", "1:14: expected a field name, found '>'"},
      {"STRUCT<,>", "PARSE_SYNTAX_ERROR", "1:8: expected a field name, found ','"},
      {"STRUCT a INT", "PARSE_SYNTAX_ERROR", "1:8: expected '<' after STRUCT, found 'a'"},
      {"a STRUCT<a: >", "PARSE_SYNTAX_ERROR", "1:13: expected a type name, found '>'"},
      {"a INT NOT", "PARSE_SYNTAX_ERROR", "1:10: expected NULL after NOT, found end of input"},
      {"a INT NOT NUL", "PARSE_SYNTAX_ERROR", "1:11: expected NULL after NOT, found 'NUL'"},
      {"a INT COMMENT", "PARSE_SYNTAX_ERROR", "1:14: expected a string literal after COMMENT, found end of input"},
      {"a INT COMMENT x", "PARSE_SYNTAX_ERROR", "1:15: expected a string literal after COMMENT, found 'x'"},
      {"a INT COMMENT 'x' NOT NULL", "PARSE_SYNTAX_ERROR", "1:19: expected ',' between fields, found 'NOT'"},
      {"a INT NOT NULL NOT NULL", "PARSE_SYNTAX_ERROR", "1:16: expected ',' between fields, found 'NOT'"},
      {"a INT 'x'", "PARSE_SYNTAX_ERROR", "1:7: expected ',' between fields, found a string literal"},
      {"a INT, , b INT", "PARSE_SYNTAX_ERROR", "1:8: expected a field name, found ','"},
      {"a INT b INT", "PARSE_SYNTAX_ERROR", "1:7: expected ',' between fields, found 'b'"},
      {"a INT;", "PARSE_SYNTAX_ERROR", "1:6: expected ',' between fields, found ';'"},
      {"`a INT", "PARSE_SYNTAX_ERROR", "1:1: unterminated backtick-quoted name"},
      {"a INT, `b``", "PARSE_SYNTAX_ERROR", "1:8: unterminated backtick-quoted name"},
      {"a INT COMMENT 'x", "PARSE_SYNTAX_ERROR", "1:15: unterminated string literal"},
      {"a INT COMMENT \"x", "PARSE_SYNTAX_ERROR", "1:15: unterminated string literal"},
      {"a INT COMMENT 'x\\'", "PARSE_SYNTAX_ERROR", "1:15: unterminated string literal"},
      {"a INT COMMENT 'x\\", "PARSE_SYNTAX_ERROR", "1:15: unterminated string literal"},
      {"a INT /* never closed", "PARSE_SYNTAX_ERROR", "1:7: unterminated comment"},
      {"a INT /* /* nested */", "PARSE_SYNTAX_ERROR", "1:7: unterminated comment"},
      {"DECIMAL(39)", "DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION", "1:9: decimal precision 39 exceeds max precision 38"},
      {"DECIMAL(39,1)", "DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION", "1:9: decimal precision 39 exceeds max precision 38"},
      {"DECIMAL(99999999999999999999)", "DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION",
       "1:9: decimal precision 99999999999999999999 exceeds max precision 38"},
      {"DECIMAL(0)", "UNSUPPORTED_DATATYPE", "1:9: decimal precision must be at least 1, found 0"},
      {"DECIMAL(5,6)", "DECIMAL_SCALE_EXCEEDS_PRECISION", "1:11: decimal scale 6 cannot be greater than precision 5"},
      {"NUMERIC(5,99999999999)", "DECIMAL_SCALE_EXCEEDS_PRECISION",
       "1:11: decimal scale 99999999999 cannot be greater than precision 5"},
      {"DECIMAL(10,", "PARSE_SYNTAX_ERROR", "1:12: expected the scale of DECIMAL, found end of input"},
      {"DECIMAL(10,2", "PARSE_SYNTAX_ERROR", "1:13: expected ')' to close DECIMAL(, found end of input"},
      {"DECIMAL(x)", "PARSE_SYNTAX_ERROR", "1:9: expected the precision of DECIMAL, found 'x'"},
      {"DECIMAL(10 2)", "PARSE_SYNTAX_ERROR", "1:12: expected ',' or ')' after the precision of DECIMAL, found '2'"},
      {"DECIMAL(-1)", "PARSE_SYNTAX_ERROR", "1:9: expected the precision of DECIMAL, found '-'"},
      {"DEC(5,-1)", "PARSE_SYNTAX_ERROR", "1:7: expected the scale of DEC, found '-'"},
      {"CHAR", "DATATYPE_MISSING_SIZE", "1:5: expected '(' and a length after CHAR, found end of input"},
      {"a VARCHAR, b INT", "DATATYPE_MISSING_SIZE", "1:10: expected '(' and a length after VARCHAR, found ','"},
      {"CHAR(", "PARSE_SYNTAX_ERROR", "1:6: expected the length of CHAR, found end of input"},
      {"CHAR()", "PARSE_SYNTAX_ERROR", "1:6: expected the length of CHAR, found ')'"},
      {"CHAR(3", "PARSE_SYNTAX_ERROR", "1:7: expected ')' to close CHAR(, found end of input"},
      {"VARCHAR(abc)", "PARSE_SYNTAX_ERROR", "1:9: expected the length of VARCHAR, found 'abc'"},
      {"CHAR(99999999999)", "DATATYPE_PARAMETER_VALUE_OUT_OF_RANGE",
       "1:6: CHAR length 99999999999 is out of the range of a 32-bit integer"},
      {"INT x", "PARSE_SYNTAX_ERROR", "1:5: unknown type 'x'"},
      {"STRUCT<a:int>, b int", "PARSE_SYNTAX_ERROR", "1:14: unexpected ',' after the schema"},
      {"123 INT", "PARSE_SYNTAX_ERROR", "1:1: expected a field name, found '123'"},
      {"a.b INT", "PARSE_SYNTAX_ERROR", "1:2: expected a type name, found '.'"},
      {"<INT>", "PARSE_SYNTAX_ERROR", "1:1: expected a field name, found '<'"},
      {"a:", "PARSE_SYNTAX_ERROR", "1:3: expected a type name, found end of input"},
      {"a: : INT", "PARSE_SYNTAX_ERROR", "1:4: expected a type name, found ':'"},
      {":INT", "PARSE_SYNTAX_ERROR", "1:1: expected a field name, found ':'"},
      {"a INT NOT NULL x", "PARSE_SYNTAX_ERROR", "1:16: expected ',' between fields, found 'x'"},
      {"a ARRAY<INT NOT NULL>", "PARSE_SYNTAX_ERROR", "1:13: expected '>' to close ARRAY<, found 'NOT'"},
      {"a MAP<STRING, INT> COMMENT", "PARSE_SYNTAX_ERROR",
       "1:27: expected a string literal after COMMENT, found end of input"},
      {"a INT COMMENT '\\u12'", "PARSE_SYNTAX_ERROR", "1:16: invalid \\u escape in string literal"},
      {"a INT COMMENT '\\uD800'", "PARSE_SYNTAX_ERROR", "1:16: invalid \\u escape in string literal"},
      {"a INT COMMENT '\\uDC00\\uD800'", "PARSE_SYNTAX_ERROR", "1:16: invalid \\u escape in string literal"},
      {"a INT COMMENT 'a\\0b'", "PARSE_SYNTAX_ERROR", "1:17: string literal contains a NUL character"},
      {"a INT COMMENT 'a\\u0000'", "PARSE_SYNTAX_ERROR", "1:17: string literal contains a NUL character"},
      {"a INT COMMENT '\xff'", "PARSE_SYNTAX_ERROR", "1:15: invalid UTF-8 in string literal"},
      {"`\xc3` INT", "PARSE_SYNTAX_ERROR", "1:1: invalid UTF-8 in backtick-quoted name"},
      {"a \xff", "PARSE_SYNTAX_ERROR", "1:3: expected a type name, found '\\xFF'"},
      {"a INT\x01", "PARSE_SYNTAX_ERROR", "1:6: expected ',' between fields, found '\\x01'"},
      {"é INT", "PARSE_SYNTAX_ERROR", "1:1: expected a field name, found 'é'"},
      {"`é` INTEGRE", "PARSE_SYNTAX_ERROR", "1:5: unknown type 'INTEGRE'"},
      {"a INT,\n  b INTEGRE", "PARSE_SYNTAX_ERROR", "2:5: unknown type 'INTEGRE'"},
      {"a STRUCT<\n  x INT\n  y INT>", "PARSE_SYNTAX_ERROR", "3:3: expected ',' or '>' in STRUCT<, found 'y'"},
      {"a `b`", "PARSE_SYNTAX_ERROR", "1:3: expected a type name, found '`b`'"},
      {"a 'b'", "PARSE_SYNTAX_ERROR", "1:3: expected a type name, found a string literal"},
  };
  size_t n = sizeof cases / sizeof cases[0];
  assert_true(n >= 35);
  for (size_t i = 0; i < n; i++) parse_fails(cases[i].ddl, cases[i].error_class, cases[i].message);
}

static void test_errors_keep_caller_context(void** state) {
  (void)state;
  hw_error err;
  hw_error_init(&err);
  err.partition = 3;
  err.row = 7;
  hw_field f;
  assert_int_equal(hw_ddl_parse("a INT,", &f, &err), -1);
  assert_int_equal(err.partition, 3);
  assert_int_equal(err.row, 7);
  assert_int_equal(hw_ddl_parse("a INT,", &f, NULL), -1); /* err may be NULL */
  assert_int_equal(hw_ddl_parse(NULL, &f, &err), -1);
  assert_string_equal(err.message, "no DDL string given");
}

/* hw_field_project: a struct with some of its columns (column pruning), the rest untouched. */
static void test_field_project(void** state) {
  (void)state;
  hw_field f, out;
  parse_ok("a INT NOT NULL, b STRING, c STRUCT<x: DOUBLE, y: ARRAY<BIGINT>>", &f);
  hw_error err;
  hw_error_init(&err);
  const int32_t cols[] = {0, 2};
  assert_int_equal(hw_field_project(&out, &f, cols, 2, &err), 0);
  char* ddl = NULL;
  assert_int_equal(hw_ddl_render(&out, &ddl, &err), 0);
  assert_string_equal(ddl, "a INT NOT NULL, c STRUCT<x: DOUBLE, y: ARRAY<BIGINT>>");
  free(ddl);
  hw_field_release(&out);
  assert_int_equal(hw_field_project(&out, &f, NULL, 0, &err), 0); /* NULL: all columns */
  assert_true(hw_field_equal(&out, &f));
  hw_field_release(&out);
  assert_int_equal(hw_field_project(&out, &f, cols, 0, &err), 0); /* none: an empty struct */
  assert_int_equal(out.n_children, 0);
  assert_int_equal(out.type, HW_TYPE_STRUCT);
  hw_field_release(&out);
  const int32_t bad[] = {1, 3};
  assert_int_equal(hw_field_project(&out, &f, bad, 2, &err), -1);
  assert_string_equal(err.error_class, "HW_INVALID_ARGUMENT");
  assert_string_equal(err.message, "column 3 does not exist (the schema has 3)");
  hw_field_release(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_atomic_type),
      cmocka_unit_test(test_keywords_are_case_insensitive),
      cmocka_unit_test(test_field_list_forms),
      cmocka_unit_test(test_backticked_names),
      cmocka_unit_test(test_not_null_and_comment),
      cmocka_unit_test(test_nested_tree),
      cmocka_unit_test(test_decimal),
      cmocka_unit_test(test_char_varchar),
      cmocka_unit_test(test_empty_and_whitespace),
      cmocka_unit_test(test_round_trips),
      cmocka_unit_test(test_render_comment_escapes),
      cmocka_unit_test(test_render_arrow_only_types),
      cmocka_unit_test(test_render_names),
      cmocka_unit_test(test_nesting_limit),
      cmocka_unit_test(test_parse_n_whole_text),
      cmocka_unit_test(test_long_inputs),
      cmocka_unit_test(test_malformed_inputs),
      cmocka_unit_test(test_errors_keep_caller_context),
      cmocka_unit_test(test_field_project),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
