/* Spark's JSON schema form: hw_spark_json_parse and hw_spark_json_render. Expected renderings were
 * produced by PySpark 4 (DataType.json()) for the same schemas. */
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

static void json_ok(const char* json, hw_field* f) {
  hw_error err;
  hw_error_init(&err);
  if (hw_spark_json_parse(json, f, &err) != 0)
    fail_msg("parsing %s failed: [%s] %s", json, err.error_class, err.message);
}

static void ddl_ok(const char* ddl, hw_field* f) {
  hw_error err;
  hw_error_init(&err);
  if (hw_ddl_parse(ddl, f, &err) != 0) fail_msg("parsing DDL %s failed: %s", ddl, err.message);
}

static char* to_json(const hw_field* f) {
  hw_error err;
  hw_error_init(&err);
  char* out = NULL;
  if (hw_spark_json_render(f, &out, &err) != 0) fail_msg("render failed: [%s] %s", err.error_class, err.message);
  return out;
}

static char* to_ddl(const hw_field* f) {
  hw_error err;
  hw_error_init(&err);
  char* out = NULL;
  if (hw_ddl_render(f, &out, &err) != 0) fail_msg("DDL render failed: %s", err.message);
  return out;
}

static void json_fails(const char* json, const char* error_class, const char* message) {
  hw_error err;
  hw_error_init(&err);
  hw_field f;
  memset(&f, 0xCD, sizeof f); /* out must not be written on failure */
  hw_field untouched = f;
  int rc = hw_spark_json_parse(json, &f, &err);
  if (rc == 0) {
    hw_field_release(&f);
    fail_msg("parsing %s succeeded, expected \"%s\"", json, message);
  }
  assert_int_equal(rc, -1);
  assert_string_equal(err.message, message);
  assert_string_equal(err.error_class, error_class);
  assert_memory_equal(&f, &untouched, sizeof f);
}

static void render_fails(const hw_field* f, const char* error_class, const char* message) {
  hw_error err;
  hw_error_init(&err);
  char* out = (char*)"untouched";
  assert_int_equal(hw_spark_json_render(f, &out, &err), -1);
  assert_string_equal(out, "untouched");
  assert_string_equal(err.error_class, error_class);
  assert_string_equal(err.message, message);
}

static void check_field(const hw_field* f, const char* name, hw_type_id type, bool nullable, int32_t n_children) {
  if (name) assert_non_null(f->name), assert_string_equal(f->name, name);
  else assert_null(f->name);
  assert_int_equal(f->type, type);
  assert_int_equal(f->nullable, nullable);
  assert_int_equal(f->n_children, n_children);
}

/* prefix, then open n times, inner, close n times. */
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

/* ---- schemas with PySpark's renderings ---- */

static const struct {
  const char* ddl;
  const char* json; /* StructType.json() / DataType.json() from PySpark 4.x */
} k_pyspark[] = {
    {"a INT, b STRING",
     "{\"fields\":[{\"metadata\":{},\"name\":\"a\",\"nullable\":true,\"type\":\"integer\"},{\"metadata\":{},\"name\":"
     "\"b\",\"nullable\":true,\"type\":\"string\"}],\"type\":\"struct\"}"},
    {"INT", "\"integer\""},
    {"ARRAY<INT>", "{\"containsNull\":true,\"elementType\":\"integer\",\"type\":\"array\"}"},
    {"a: byte, b: decimal(  16 , 8   )",
     "{\"fields\":[{\"metadata\":{},\"name\":\"a\",\"nullable\":true,\"type\":\"byte\"},{\"metadata\":{},\"name\":\"b\","
     "\"nullable\":true,\"type\":\"decimal(16,8)\"}],\"type\":\"struct\"}"},
    {"a boolean, b tinyint, c smallint, d int, e bigint, f float, g double, h decimal(38,38), i string, j char(3), "
     "k varchar(5), l binary, m date, n timestamp, o timestamp_ntz, p void, q timestamp_ltz, r real, s long, t short, "
     "u integer, v numeric, w dec(7,2)",
     "{\"fields\":[{\"metadata\":{},\"name\":\"a\",\"nullable\":true,\"type\":\"boolean\"},{\"metadata\":{},\"name\":"
     "\"b\",\"nullable\":true,\"type\":\"byte\"},{\"metadata\":{},\"name\":\"c\",\"nullable\":true,\"type\":\"short\"},"
     "{\"metadata\":{},\"name\":\"d\",\"nullable\":true,\"type\":\"integer\"},{\"metadata\":{},\"name\":\"e\","
     "\"nullable\":true,\"type\":\"long\"},{\"metadata\":{},\"name\":\"f\",\"nullable\":true,\"type\":\"float\"},"
     "{\"metadata\":{},\"name\":\"g\",\"nullable\":true,\"type\":\"double\"},{\"metadata\":{},\"name\":\"h\","
     "\"nullable\":true,\"type\":\"decimal(38,38)\"},{\"metadata\":{},\"name\":\"i\",\"nullable\":true,\"type\":"
     "\"string\"},{\"metadata\":{},\"name\":\"j\",\"nullable\":true,\"type\":\"char(3)\"},{\"metadata\":{},\"name\":"
     "\"k\",\"nullable\":true,\"type\":\"varchar(5)\"},{\"metadata\":{},\"name\":\"l\",\"nullable\":true,\"type\":"
     "\"binary\"},{\"metadata\":{},\"name\":\"m\",\"nullable\":true,\"type\":\"date\"},{\"metadata\":{},\"name\":\"n\","
     "\"nullable\":true,\"type\":\"timestamp\"},{\"metadata\":{},\"name\":\"o\",\"nullable\":true,\"type\":"
     "\"timestamp_ntz\"},{\"metadata\":{},\"name\":\"p\",\"nullable\":true,\"type\":\"void\"},{\"metadata\":{},\"name\":"
     "\"q\",\"nullable\":true,\"type\":\"timestamp\"},{\"metadata\":{},\"name\":\"r\",\"nullable\":true,\"type\":"
     "\"float\"},{\"metadata\":{},\"name\":\"s\",\"nullable\":true,\"type\":\"long\"},{\"metadata\":{},\"name\":\"t\","
     "\"nullable\":true,\"type\":\"short\"},{\"metadata\":{},\"name\":\"u\",\"nullable\":true,\"type\":\"integer\"},"
     "{\"metadata\":{},\"name\":\"v\",\"nullable\":true,\"type\":\"decimal(10,0)\"},{\"metadata\":{},\"name\":\"w\","
     "\"nullable\":true,\"type\":\"decimal(7,2)\"}],\"type\":\"struct\"}"},
    {"a int not null comment 'hi', `b``c` string",
     "{\"fields\":[{\"metadata\":{\"comment\":\"hi\"},\"name\":\"a\",\"nullable\":false,\"type\":\"integer\"},"
     "{\"metadata\":{},\"name\":\"b`c\",\"nullable\":true,\"type\":\"string\"}],\"type\":\"struct\"}"},
    {"a array<struct<b:int not null, c: map<string, array<decimal(10,2)>>>> not null comment 'x'",
     "{\"fields\":[{\"metadata\":{\"comment\":\"x\"},\"name\":\"a\",\"nullable\":false,\"type\":{\"containsNull\":true,"
     "\"elementType\":{\"fields\":[{\"metadata\":{},\"name\":\"b\",\"nullable\":false,\"type\":\"integer\"},"
     "{\"metadata\":{},\"name\":\"c\",\"nullable\":true,\"type\":{\"keyType\":\"string\",\"type\":\"map\","
     "\"valueContainsNull\":true,\"valueType\":{\"containsNull\":true,\"elementType\":\"decimal(10,2)\",\"type\":"
     "\"array\"}}}],\"type\":\"struct\"},\"type\":\"array\"}}],\"type\":\"struct\"}"},
    {"m map<struct<a:int>, array<int>>",
     "{\"fields\":[{\"metadata\":{},\"name\":\"m\",\"nullable\":true,\"type\":{\"keyType\":{\"fields\":[{\"metadata\":"
     "{},\"name\":\"a\",\"nullable\":true,\"type\":\"integer\"}],\"type\":\"struct\"},\"type\":\"map\","
     "\"valueContainsNull\":true,\"valueType\":{\"containsNull\":true,\"elementType\":\"integer\",\"type\":"
     "\"array\"}}}],\"type\":\"struct\"}"},
    {"`ü x` int comment 'é\\t\\n\\u0001\\u007f\\\\\\'\"😀'",
     "{\"fields\":[{\"metadata\":{\"comment\":\"\\u00e9\\t\\n\\u0001\\u007f\\\\'\\\"\\ud83d\\ude00\"},\"name\":"
     "\"\\u00fc x\",\"nullable\":true,\"type\":\"integer\"}],\"type\":\"struct\"}"},
    {"s struct<>",
     "{\"fields\":[{\"metadata\":{},\"name\":\"s\",\"nullable\":true,\"type\":{\"fields\":[],\"type\":\"struct\"}}],"
     "\"type\":\"struct\"}"},
    {"`` int", "{\"fields\":[{\"metadata\":{},\"name\":\"\",\"nullable\":true,\"type\":\"integer\"}],\"type\":\"struct\"}"},
    {"a int comment ''",
     "{\"fields\":[{\"metadata\":{\"comment\":\"\"},\"name\":\"a\",\"nullable\":true,\"type\":\"integer\"}],\"type\":"
     "\"struct\"}"},
    {"", "{\"fields\":[],\"type\":\"struct\"}"},
};

static void test_render_matches_pyspark(void** state) {
  (void)state;
  for (size_t i = 0; i < sizeof k_pyspark / sizeof k_pyspark[0]; i++) {
    hw_field f;
    ddl_ok(k_pyspark[i].ddl, &f);
    char* json = to_json(&f);
    assert_string_equal(json, k_pyspark[i].json);
    free(json);
    hw_field_release(&f);
  }
}

static void test_parse_pyspark_round_trip(void** state) {
  (void)state;
  for (size_t i = 0; i < sizeof k_pyspark / sizeof k_pyspark[0]; i++) {
    hw_field from_json, from_ddl;
    json_ok(k_pyspark[i].json, &from_json);
    ddl_ok(k_pyspark[i].ddl, &from_ddl);
    assert_true(hw_field_equal(&from_json, &from_ddl));
    char* json = to_json(&from_json); /* JSON -> tree -> the same JSON */
    assert_string_equal(json, k_pyspark[i].json);
    char* a = to_ddl(&from_json); /* comments and CHAR/VARCHAR survive too */
    char* b = to_ddl(&from_ddl);
    assert_string_equal(a, b);
    free(json);
    free(a);
    free(b);
    hw_field_release(&from_json);
    hw_field_release(&from_ddl);
  }
}

static void test_parse_jvm_key_order(void** state) {
  (void)state;
  /* What Spark's JVM writes (DataType.json in Scala): the same keys, unsorted. */
  static const char* const jvm =
      "{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":{\"type\":\"array\",\"elementType\":{\"type\":"
      "\"struct\",\"fields\":[{\"name\":\"b\",\"type\":\"integer\",\"nullable\":false,\"metadata\":{}},{\"name\":\"c\","
      "\"type\":{\"type\":\"map\",\"keyType\":\"string\",\"valueType\":{\"type\":\"array\",\"elementType\":"
      "\"decimal(10,2)\",\"containsNull\":true},\"valueContainsNull\":true},\"nullable\":true,\"metadata\":{}}]},"
      "\"containsNull\":true},\"nullable\":false,\"metadata\":{\"comment\":\"x\"}}]}";
  hw_field f, g;
  json_ok(jvm, &f);
  json_ok(k_pyspark[6].json, &g);
  assert_true(hw_field_equal(&f, &g));
  assert_string_equal(f.children[0].comment, "x");
  char* json = to_json(&f);
  assert_string_equal(json, k_pyspark[6].json);
  free(json);
  hw_field_release(&f);
  hw_field_release(&g);
}

static void test_tree_shape(void** state) {
  (void)state;
  hw_field f;
  json_ok(
      "{\"type\":\"array\",\"containsNull\":false,\"elementType\":{\"type\":\"map\",\"keyType\":\"string\","
      "\"valueContainsNull\":false,\"valueType\":{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"integer\","
      "\"nullable\":true}]}}}",
      &f);
  check_field(&f, NULL, HW_TYPE_LIST, true, 1);
  const hw_field* element = &f.children[0];
  check_field(element, "element", HW_TYPE_MAP, false, 1);
  const hw_field* entries = &element->children[0];
  check_field(entries, "entries", HW_TYPE_STRUCT, false, 2);
  check_field(&entries->children[0], "key", HW_TYPE_UTF8, false, 0);
  const hw_field* value = &entries->children[1];
  check_field(value, "value", HW_TYPE_STRUCT, false, 1);
  check_field(&value->children[0], "a", HW_TYPE_INT32, true, 0);
  assert_null(value->children[0].comment);
  /* containsNull=false and valueContainsNull=false survive JSON (unlike DDL). */
  char* json = to_json(&f);
  assert_string_equal(json,
                      "{\"containsNull\":false,\"elementType\":{\"keyType\":\"string\",\"type\":\"map\","
                      "\"valueContainsNull\":false,\"valueType\":{\"fields\":[{\"metadata\":{},\"name\":\"a\","
                      "\"nullable\":true,\"type\":\"integer\"}],\"type\":\"struct\"}},\"type\":\"array\"}");
  free(json);
  hw_field_release(&f);
}

static void test_atomic_types(void** state) {
  (void)state;
  static const struct {
    const char* json;
    hw_type_id type;
    int32_t p1, p2; /* precision/scale or string length */
    hw_string_kind kind;
    const char* rendered;
  } cases[] = {
      {"\"boolean\"", HW_TYPE_BOOL, 0, 0, HW_STRING_PLAIN, "\"boolean\""},
      {"\"byte\"", HW_TYPE_INT8, 0, 0, HW_STRING_PLAIN, "\"byte\""},
      {"\"short\"", HW_TYPE_INT16, 0, 0, HW_STRING_PLAIN, "\"short\""},
      {"\"integer\"", HW_TYPE_INT32, 0, 0, HW_STRING_PLAIN, "\"integer\""},
      {"\"long\"", HW_TYPE_INT64, 0, 0, HW_STRING_PLAIN, "\"long\""},
      {"\"float\"", HW_TYPE_FLOAT32, 0, 0, HW_STRING_PLAIN, "\"float\""},
      {"\"double\"", HW_TYPE_FLOAT64, 0, 0, HW_STRING_PLAIN, "\"double\""},
      {"\"string\"", HW_TYPE_UTF8, 0, 0, HW_STRING_PLAIN, "\"string\""},
      {"\"binary\"", HW_TYPE_BINARY, 0, 0, HW_STRING_PLAIN, "\"binary\""},
      {"\"date\"", HW_TYPE_DATE32, 0, 0, HW_STRING_PLAIN, "\"date\""},
      {"\"timestamp\"", HW_TYPE_TIMESTAMP, 0, 0, HW_STRING_PLAIN, "\"timestamp\""},
      {"\"timestamp_ntz\"", HW_TYPE_TIMESTAMP, 0, 0, HW_STRING_PLAIN, "\"timestamp_ntz\""},
      {"\"void\"", HW_TYPE_NULL, 0, 0, HW_STRING_PLAIN, "\"void\""},
      {"\"null\"", HW_TYPE_NULL, 0, 0, HW_STRING_PLAIN, "\"void\""}, /* NullType's name before Spark 3 */
      {"\"decimal\"", HW_TYPE_DECIMAL128, 10, 0, HW_STRING_PLAIN, "\"decimal(10,0)\""},
      {"\"decimal(10,2)\"", HW_TYPE_DECIMAL128, 10, 2, HW_STRING_PLAIN, "\"decimal(10,2)\""},
      {"\"decimal( 5 , 3 )\"", HW_TYPE_DECIMAL128, 5, 3, HW_STRING_PLAIN, "\"decimal(5,3)\""},
      {"\"decimal(38,38)\"", HW_TYPE_DECIMAL128, 38, 38, HW_STRING_PLAIN, "\"decimal(38,38)\""},
      {"\"char(3)\"", HW_TYPE_UTF8, 3, 0, HW_STRING_CHAR, "\"char(3)\""},
      {"\"varchar( 5 )\"", HW_TYPE_UTF8, 5, 0, HW_STRING_VARCHAR, "\"varchar(5)\""},
      {"\"char(0)\"", HW_TYPE_UTF8, 0, 0, HW_STRING_CHAR, "\"char(0)\""},
      {"\"\\u0069nteger\"", HW_TYPE_INT32, 0, 0, HW_STRING_PLAIN, "\"integer\""},
      {" \n\t\"long\"\r\n ", HW_TYPE_INT64, 0, 0, HW_STRING_PLAIN, "\"long\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    hw_field f;
    json_ok(cases[i].json, &f);
    check_field(&f, NULL, cases[i].type, true, 0);
    if (cases[i].type == HW_TYPE_DECIMAL128) {
      assert_int_equal(f.precision, cases[i].p1);
      assert_int_equal(f.scale, cases[i].p2);
    }
    if (cases[i].type == HW_TYPE_UTF8) {
      assert_int_equal(f.string_kind, cases[i].kind);
      assert_int_equal(f.string_length, cases[i].p1);
    }
    if (cases[i].type == HW_TYPE_TIMESTAMP) {
      assert_int_equal(f.unit, HW_TIME_MICRO);
      if (strstr(cases[i].json, "ntz")) assert_null(f.timezone);
      else assert_string_equal(f.timezone, "UTC");
    }
    char* json = to_json(&f);
    assert_string_equal(json, cases[i].rendered);
    free(json);
    hw_field_release(&f);
  }
}

static void test_metadata(void** state) {
  (void)state;
  hw_field f;
  json_ok(
      "{\"type\":\"struct\",\"fields\":["
      "{\"name\":\"a\",\"type\":\"integer\",\"nullable\":true},"
      "{\"name\":\"b\",\"type\":\"integer\",\"nullable\":true,\"metadata\":null},"
      "{\"name\":\"c\",\"type\":\"integer\",\"nullable\":true,\"metadata\":{\"x\":[1,2.5e-3,{\"y\":null}],"
      "\"comment\":\"kept\",\"__CHAR_VARCHAR_TYPE_STRING\":\"char(3)\"}},"
      "{\"name\":\"d\",\"type\":\"integer\",\"nullable\":false,\"metadata\":{\"other\":\"ignored\"}}]}",
      &f);
  assert_int_equal(f.n_children, 4);
  assert_null(f.children[0].comment);
  assert_null(f.children[1].comment);
  assert_string_equal(f.children[2].comment, "kept");
  assert_null(f.children[3].comment);
  assert_false(f.children[3].nullable);
  char* json = to_json(&f); /* other metadata is not carried */
  assert_string_equal(json,
                      "{\"fields\":[{\"metadata\":{},\"name\":\"a\",\"nullable\":true,\"type\":\"integer\"},"
                      "{\"metadata\":{},\"name\":\"b\",\"nullable\":true,\"type\":\"integer\"},"
                      "{\"metadata\":{\"comment\":\"kept\"},\"name\":\"c\",\"nullable\":true,\"type\":\"integer\"},"
                      "{\"metadata\":{},\"name\":\"d\",\"nullable\":false,\"type\":\"integer\"}],\"type\":\"struct\"}");
  free(json);
  hw_field_release(&f);
}

static void test_unknown_keys_and_whitespace(void** state) {
  (void)state;
  hw_field f, g;
  json_ok(
      "\n{\n  \"extra\" : {\"fields\": [1, 2, {\"type\": \"x\"}]},\n  \"type\" : \"struct\" ,\n  \"fields\" : [\n"
      "    { \"name\" : \"a\" , \"nullable\" : true , \"type\" : { \"type\" : \"array\" , \"elementType\" : \"long\" ,"
      " \"containsNull\" : true , \"keyType\" : 5 } , \"extra\" : [ ] }\n  ] ,\n  \"n\" : -1.5E+3\n}\n",
      &f);
  ddl_ok("a ARRAY<BIGINT>", &g);
  assert_true(hw_field_equal(&f, &g));
  hw_field_release(&f);
  hw_field_release(&g);
}

static void test_unicode(void** state) {
  (void)state;
  hw_field f;
  /* Escapes (BMP, surrogate pair, short forms) and raw UTF-8 both decode to UTF-8. */
  json_ok(
      "{\"type\":\"struct\",\"fields\":[{\"name\":\"\\u00fc\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\\"\\\\\",\"type\":"
      "\"string\",\"nullable\":true,\"metadata\":{\"comment\":\"ü€😀\\u001f\"}}]}",
      &f);
  assert_string_equal(f.children[0].name, "ü\xF0\x9F\x98\x80/\b\f\n\r\t\"\\");
  assert_string_equal(f.children[0].comment, "ü€😀\x1f");
  char* json = to_json(&f); /* as Python's json.dumps(ensure_ascii=True) */
  assert_string_equal(json,
                      "{\"fields\":[{\"metadata\":{\"comment\":\"\\u00fc\\u20ac\\ud83d\\ude00\\u001f\"},\"name\":"
                      "\"\\u00fc\\ud83d\\ude00/\\b\\f\\n\\r\\t\\\"\\\\\",\"nullable\":true,\"type\":\"string\"}],"
                      "\"type\":\"struct\"}");
  free(json);
  /* DEL and the largest code point. */
  free(f.children[0].name);
  f.children[0].name = malloc(8);
  assert_non_null(f.children[0].name);
  memcpy(f.children[0].name, "\x7f\xF4\x8F\xBF\xBF", 6);
  free(f.children[0].comment);
  f.children[0].comment = NULL;
  json = to_json(&f);
  assert_string_equal(json,
                      "{\"fields\":[{\"metadata\":{},\"name\":\"\\u007f\\udbff\\udfff\",\"nullable\":true,\"type\":"
                      "\"string\"}],\"type\":\"struct\"}");
  hw_field g;
  json_ok(json, &g);
  assert_string_equal(g.children[0].name, "\x7f\xF4\x8F\xBF\xBF");
  free(json);
  hw_field_release(&g);
  /* A name that is not UTF-8 cannot be written as JSON. */
  f.children[0].name[0] = '\xff';
  render_fails(&f, "HW_MALFORMED_FIELD", "a name or comment is not valid UTF-8");
  hw_field_release(&f);
}

static void test_ddl_json_round_trips(void** state) {
  (void)state;
  static const char* const ddls[] = {
      "a INT NOT NULL COMMENT 'x', `b c` STRING, d ARRAY<STRUCT<e: DECIMAL(10,2)>>, m MAP<STRING, BIGINT>",
      "ARRAY<MAP<STRING, STRUCT<a: INT>>>",
      "a TIMESTAMP, b TIMESTAMP_NTZ, c DATE, d VOID, e BINARY, f BOOLEAN, g TINYINT, h SMALLINT, i FLOAT, j DOUBLE",
      "a CHAR(3) COMMENT 'fixed', b VARCHAR(10) NOT NULL",
      "s STRUCT<>, t STRUCT<u: STRUCT<v: MAP<INT, ARRAY<STRING>>>>",
      "DECIMAL(38,0)",
      "",
  };
  for (size_t i = 0; i < sizeof ddls / sizeof ddls[0]; i++) {
    hw_field f, g;
    ddl_ok(ddls[i], &f);
    char* json = to_json(&f);
    json_ok(json, &g);
    assert_true(hw_field_equal(&f, &g));
    char* ddl = to_ddl(&g);
    assert_string_equal(ddl, ddls[i]);
    free(json);
    free(ddl);
    hw_field_release(&f);
    hw_field_release(&g);
  }
}

static void test_render_arrow_only_types(void** state) {
  (void)state;
  hw_error err;
  hw_field root;
  hw_field_init(&root);
  root.type = HW_TYPE_STRUCT;
  assert_int_equal(hw_field_alloc_children(&root, 1, &err), 0);
  hw_field* x = &root.children[0];
  assert_int_equal(hw_field_set_name(x, "x", 1, &err), 0);
  static const char* const names[] = {"uint8", "uint16", "uint32", "uint64"};
  for (int k = 0; k < 4; k++) {
    x->type = (hw_type_id)(HW_TYPE_UINT8 + k);
    char message[64];
    snprintf(message, sizeof message, "type %s has no Spark equivalent", names[k]);
    render_fails(&root, "UNSUPPORTED_DATATYPE", message);
  }
  x->type = HW_TYPE_LARGE_UTF8;
  char* json = to_json(x);
  assert_string_equal(json, "\"string\"");
  free(json);
  x->type = HW_TYPE_LARGE_BINARY;
  json = to_json(x);
  assert_string_equal(json, "\"binary\"");
  free(json);
  x->type = HW_TYPE_TIMESTAMP;
  x->unit = HW_TIME_MILLI;
  json = to_json(x);
  assert_string_equal(json, "\"timestamp_ntz\"");
  free(json);
  x->type = HW_TYPE_LIST; /* no element: malformed */
  render_fails(&root, "HW_MALFORMED_FIELD", "list field must have exactly one child");
  x->type = HW_TYPE_MAP;
  render_fails(&root, "HW_MALFORMED_FIELD", "map field must have one 'entries' child with a key and a value");
  hw_field_release(&root);
}

static void test_nesting_limit(void** state) {
  (void)state;
  static const char* const open = "{\"containsNull\":true,\"elementType\":"; /* 35 bytes */
  static const char* const close = ",\"type\":\"array\"}";
  hw_field f;
  /* HW_MAX_NESTING counts Arrow levels (field.h): a lone array nests 63 deep, 64 is refused */
  char* ok = nest("", open, 63, "\"integer\"", close);
  json_ok(ok, &f);
  int depth = 0;
  for (const hw_field* p = &f; p->n_children > 0; p = &p->children[0]) depth++;
  assert_int_equal(depth, 63);
  char* json = to_json(&f);
  assert_string_equal(json, ok);
  free(json);
  free(ok);

  hw_field* leaf = &f; /* one level more is refused when rendering too */
  while (leaf->n_children > 0) leaf = &leaf->children[0];
  hw_error err;
  leaf->type = HW_TYPE_LIST;
  assert_int_equal(hw_field_alloc_children(leaf, 1, &err), 0);
  render_fails(&f, "FAILED_TO_PARSE_TOO_COMPLEX", HW_NESTING_MESSAGE);
  hw_field_release(&f);

  char* bad = nest("", open, 64, "\"integer\"", close);
  json_fails(bad, "FAILED_TO_PARSE_TOO_COMPLEX", "offset 2240: " HW_NESTING_MESSAGE);
  free(bad);

  /* 63 levels of structs: the deepest JSON a valid schema needs is within the JSON limit. */
  ok = nest("", "{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"nullable\":true,\"metadata\":{},\"type\":", 63,
            "\"integer\"", "}]}");
  json_ok(ok, &f);
  hw_field_release(&f);
  free(ok);
  bad = nest("", "{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"nullable\":true,\"metadata\":{},\"type\":", 64,
             "\"integer\"", "}]}");
  json_fails(bad, "FAILED_TO_PARSE_TOO_COMPLEX", "offset 4864: " HW_NESTING_MESSAGE);
  free(bad);

  /* maps are two levels (the map and its entries): 31 nest, 32 do not */
  static const char* const mopen = "{\"type\":\"map\",\"keyType\":\"integer\",\"valueContainsNull\":true,\"valueType\":";
  ok = nest("", mopen, 31, "\"integer\"", "}");
  json_ok(ok, &f);
  json = to_json(&f);
  free(json);
  hw_field_release(&f);
  free(ok);
  bad = nest("", mopen, 32, "\"integer\"", "}");
  char msg[256];
  snprintf(msg, sizeof msg, "offset %zu: %s", 31 * strlen(mopen) + strlen("{\"type\":\"map\",\"keyType\":"),
           HW_NESTING_MESSAGE);
  json_fails(bad, "FAILED_TO_PARSE_TOO_COMPLEX", msg);
  free(bad);

  /* Deeply nested JSON of any kind stops at the container limit: no unbounded recursion. */
  bad = nest("", "[", 300000, "", "");
  json_fails(bad, "PARSE_SYNTAX_ERROR", "offset 256: JSON nested deeper than 256 levels");
  free(bad);
  bad = nest("{\"type\":\"struct\",\"fields\":[],\"x\":", "{\"a\":", 300000, "1", "}");
  json_fails(bad, "PARSE_SYNTAX_ERROR", "offset 1308: JSON nested deeper than 256 levels");
  free(bad);
}

static void test_large_document(void** state) {
  (void)state;
  enum { N = 20000 };
  hw_error err;
  hw_field f;
  hw_field_init(&f);
  f.type = HW_TYPE_STRUCT;
  assert_int_equal(hw_field_alloc_children(&f, N, &err), 0);
  for (int i = 0; i < N; i++) {
    char name[16];
    int n = snprintf(name, sizeof name, "c%d", i);
    assert_int_equal(hw_field_set_name(&f.children[i], name, (size_t)n, &err), 0);
    f.children[i].type = i % 2 ? HW_TYPE_INT64 : HW_TYPE_UTF8;
  }
  char* json = to_json(&f);
  hw_field g;
  json_ok(json, &g);
  assert_true(hw_field_equal(&f, &g));
  free(json);
  hw_field_release(&f);
  hw_field_release(&g);
}

/* ---- errors ---- */

static void test_malformed_json(void** state) {
  (void)state;
  static const struct {
    const char* json;
    const char* error_class;
    const char* message;
  } cases[] = {
      {"", "PARSE_SYNTAX_ERROR", "offset 0: expected a value, found end of input"},
      {"   ", "PARSE_SYNTAX_ERROR", "offset 3: expected a value, found end of input"},
      {"{", "PARSE_SYNTAX_ERROR", "offset 1: expected a string key, found end of input"},
      {"[", "PARSE_SYNTAX_ERROR", "offset 1: expected a value, found end of input"},
      {"\"integer", "PARSE_SYNTAX_ERROR", "offset 0: unterminated string"},
      {"\"\\", "PARSE_SYNTAX_ERROR", "offset 0: unterminated string"},
      {"\"integer\"x", "PARSE_SYNTAX_ERROR", "offset 9: unexpected 'x' after the JSON value"},
      {"\"integer\" \"long\"", "PARSE_SYNTAX_ERROR", "offset 10: unexpected '\"' after the JSON value"},
      {"integer", "PARSE_SYNTAX_ERROR", "offset 0: expected a value, found 'i'"},
      {"tru", "PARSE_SYNTAX_ERROR", "offset 0: expected a value, found 't'"},
      {"{\"type\":\"struct\",\"fields\":[]", "PARSE_SYNTAX_ERROR",
       "offset 28: expected ',' or '}' in an object, found end of input"},
      {"{\"type\":\"struct\",\"fields\":[],}", "PARSE_SYNTAX_ERROR", "offset 29: expected a string key, found '}'"},
      {"{\"type\":\"struct\" \"fields\":[]}", "PARSE_SYNTAX_ERROR",
       "offset 17: expected ',' or '}' in an object, found '\"'"},
      {"{\"type\" \"struct\"}", "PARSE_SYNTAX_ERROR", "offset 8: expected ':' after an object key, found '\"'"},
      {"{type:\"struct\"}", "PARSE_SYNTAX_ERROR", "offset 1: expected a string key, found 't'"},
      {"{\"type\":\"struct\",\"fields\":[1,]}", "PARSE_SYNTAX_ERROR", "offset 29: expected a value, found ']'"},
      {"{\"type\":\"struct\",\"fields\":[1 2]}", "PARSE_SYNTAX_ERROR",
       "offset 29: expected ',' or ']' in an array, found '2'"},
      {"\"\\q\"", "PARSE_SYNTAX_ERROR", "offset 1: invalid escape '\\q' in a string"},
      {"\"\\u12g4\"", "PARSE_SYNTAX_ERROR", "offset 1: expected four hex digits after \\u"},
      {"\"\\ud800\"", "PARSE_SYNTAX_ERROR", "offset 1: high surrogate \\uD800 is not followed by a low surrogate"},
      {"\"\\ud800\\u0041\"", "PARSE_SYNTAX_ERROR",
       "offset 1: high surrogate \\uD800 is not followed by a low surrogate"},
      {"\"\\udc00\"", "PARSE_SYNTAX_ERROR", "offset 1: lone low surrogate \\uDC00"},
      {"\"a\tb\"", "PARSE_SYNTAX_ERROR", "offset 2: control character U+0009 must be escaped in a string"},
      {"\"\xff\"", "PARSE_SYNTAX_ERROR", "offset 1: invalid UTF-8 in a string"},
      {"\"\xe2\x82\"", "PARSE_SYNTAX_ERROR", "offset 1: invalid UTF-8 in a string"},
      {"\"\xed\xa0\x80\"", "PARSE_SYNTAX_ERROR", "offset 1: invalid UTF-8 in a string"}, /* encoded surrogate */
      {"\xef\xbb\xbf\"integer\"", "PARSE_SYNTAX_ERROR", "offset 0: expected a value, found '\xef\xbb\xbf'"},
      {"\x01", "PARSE_SYNTAX_ERROR", "offset 0: expected a value, found '\\x01'"},
      {"01", "PARSE_SYNTAX_ERROR", "offset 1: unexpected '1' after the JSON value"},
      {"-", "PARSE_SYNTAX_ERROR", "offset 1: expected a digit, found end of input"},
      {"1.", "PARSE_SYNTAX_ERROR", "offset 2: expected a digit after '.', found end of input"},
      {"1e", "PARSE_SYNTAX_ERROR", "offset 2: expected a digit in the exponent, found end of input"},
      {"\"\\u0000\"", "INVALID_JSON_DATA_TYPE", "offset 1: strings containing \\u0000 are not supported"},
      {"\"integr\"", "INVALID_JSON_DATA_TYPE", "offset 0: unknown data type \"integr\""},
      {"\"Integer\"", "INVALID_JSON_DATA_TYPE", "offset 0: unknown data type \"Integer\""},
      {"\"variant\"", "INVALID_JSON_DATA_TYPE", "offset 0: unknown data type \"variant\""},
      {"\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", "INVALID_JSON_DATA_TYPE",
       "offset 0: unknown data type \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\""},
      {"\"decimal(39,1)\"", "DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION",
       "offset 0: decimal precision 39 exceeds max precision 38"},
      {"\"decimal(99999999999999999999,1)\"", "DECIMAL_PRECISION_EXCEEDS_MAX_PRECISION",
       "offset 0: decimal precision 99999999999999999999 exceeds max precision 38"},
      {"\"decimal(5,6)\"", "DECIMAL_SCALE_EXCEEDS_PRECISION",
       "offset 0: decimal scale 6 cannot be greater than precision 5"},
      {"\"decimal(0,0)\"", "UNSUPPORTED_DATATYPE", "offset 0: decimal precision must be at least 1, found 0"},
      {"\"decimal(5,-1)\"", "UNSUPPORTED_DATATYPE", "offset 0: negative decimal scale -1 is not supported"},
      {"\"decimal(5,2\"", "INVALID_JSON_DATA_TYPE", "offset 0: unknown data type \"decimal(5,2\""},
      {"\"decimal(5)\"", "INVALID_JSON_DATA_TYPE", "offset 0: unknown data type \"decimal(5)\""},
      {"\"char(99999999999)\"", "DATATYPE_PARAMETER_VALUE_OUT_OF_RANGE",
       "offset 0: char length 99999999999 is out of the range of a 32-bit integer"},
      {"\"varchar(x)\"", "INVALID_JSON_DATA_TYPE", "offset 0: unknown data type \"varchar(x)\""},
      {"{\"type\":\"udt\",\"class\":\"x\",\"sqlType\":\"integer\"}", "INVALID_JSON_DATA_TYPE",
       "offset 8: unsupported data type object \"udt\" (expected \"struct\", \"array\" or \"map\")"},
      {"{\"type\":\"integer\"}", "INVALID_JSON_DATA_TYPE",
       "offset 8: unsupported data type object \"integer\" (expected \"struct\", \"array\" or \"map\")"},
      {"{\"fields\":[]}", "INVALID_JSON_DATA_TYPE", "offset 0: a data type object has no \"type\" key"},
      {"{\"type\":\"struct\"}", "INVALID_JSON_DATA_TYPE", "offset 0: a struct type has no \"fields\" key"},
      {"{\"type\":\"struct\",\"fields\":{}}", "INVALID_JSON_DATA_TYPE",
       "offset 26: \"fields\" must be an array, found an object"},
      {"{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"integer\"}]}", "INVALID_JSON_DATA_TYPE",
       "offset 27: a struct field has no \"nullable\" key"},
      {"{\"type\":\"struct\",\"fields\":[{\"type\":\"integer\",\"nullable\":true}]}", "INVALID_JSON_DATA_TYPE",
       "offset 27: a struct field has no \"name\" key"},
      {"{\"type\":\"struct\",\"fields\":[{\"name\":1,\"type\":\"integer\",\"nullable\":true}]}",
       "INVALID_JSON_DATA_TYPE", "offset 35: \"name\" must be a string, found a number"},
      {"{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"integer\",\"nullable\":\"yes\"}]}",
       "INVALID_JSON_DATA_TYPE", "offset 67: \"nullable\" must be true or false, found a string"},
      {"{\"type\":\"struct\",\"fields\":[\"a\"]}", "INVALID_JSON_DATA_TYPE",
       "offset 27: a struct field must be an object, found a string"},
      {"{\"type\":\"array\",\"elementType\":\"integer\"}", "INVALID_JSON_DATA_TYPE",
       "offset 0: an array type has no \"containsNull\" key"},
      {"{\"type\":\"array\",\"containsNull\":true}", "INVALID_JSON_DATA_TYPE",
       "offset 0: an array type has no \"elementType\" key"},
      {"{\"type\":\"array\",\"containsNull\":1,\"elementType\":\"long\"}", "INVALID_JSON_DATA_TYPE",
       "offset 31: \"containsNull\" must be true or false, found a number"},
      {"{\"type\":\"map\",\"keyType\":\"string\",\"valueType\":\"integer\"}", "INVALID_JSON_DATA_TYPE",
       "offset 0: a map type has no \"valueContainsNull\" key"},
      {"{\"type\":\"map\",\"valueType\":\"string\",\"valueContainsNull\":true}", "INVALID_JSON_DATA_TYPE",
       "offset 0: a map type has no \"keyType\" key"},
      {"{\"type\":\"struct\",\"type\":\"struct\",\"fields\":[]}", "INVALID_JSON_DATA_TYPE",
       "offset 17: duplicate key \"type\""},
      {"{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"integer\",\"nullable\":true,\"metadata\":{"
       "\"comment\":5}}]}",
       "INVALID_JSON_DATA_TYPE", "offset 94: \"comment\" must be a string, found a number"},
      {"{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"integer\",\"nullable\":true,\"metadata\":[]}]}",
       "INVALID_JSON_DATA_TYPE", "offset 83: \"metadata\" must be an object, found an array"},
      {"{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":5,\"nullable\":true}]}", "INVALID_JSON_DATA_TYPE",
       "offset 46: expected a data type (a string or an object), found a number"},
      {"{\"type\":\"struct\",\"fields\":[{\"name\":\"a\",\"type\":\"intger\",\"nullable\":true}]}",
       "INVALID_JSON_DATA_TYPE", "offset 46: unknown data type \"intger\""},
      {"{\"type\":5}", "INVALID_JSON_DATA_TYPE", "offset 8: \"type\" must be a string, found a number"},
      {"[]", "INVALID_JSON_DATA_TYPE", "offset 0: expected a data type (a string or an object), found an array"},
      {"5", "INVALID_JSON_DATA_TYPE", "offset 0: expected a data type (a string or an object), found a number"},
      {"null", "INVALID_JSON_DATA_TYPE", "offset 0: expected a data type (a string or an object), found null"},
      {"true", "INVALID_JSON_DATA_TYPE", "offset 0: expected a data type (a string or an object), found a boolean"},
  };
  size_t n = sizeof cases / sizeof cases[0];
  assert_true(n >= 35);
  for (size_t i = 0; i < n; i++) json_fails(cases[i].json, cases[i].error_class, cases[i].message);

  hw_error err;
  hw_field f;
  hw_error_init(&err);
  assert_int_equal(hw_spark_json_parse(NULL, &f, &err), -1);
  assert_string_equal(err.message, "no JSON string given");
  assert_int_equal(hw_spark_json_parse("{", &f, NULL), -1); /* err may be NULL */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_render_matches_pyspark),
      cmocka_unit_test(test_parse_pyspark_round_trip),
      cmocka_unit_test(test_parse_jvm_key_order),
      cmocka_unit_test(test_tree_shape),
      cmocka_unit_test(test_atomic_types),
      cmocka_unit_test(test_metadata),
      cmocka_unit_test(test_unknown_keys_and_whitespace),
      cmocka_unit_test(test_unicode),
      cmocka_unit_test(test_ddl_json_round_trips),
      cmocka_unit_test(test_render_arrow_only_types),
      cmocka_unit_test(test_nesting_limit),
      cmocka_unit_test(test_large_document),
      cmocka_unit_test(test_malformed_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
