/* Tests of hw_field_to_arrow / hw_field_from_arrow (src/schema/arrow_schema.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "schema/field.h"

/* ================= helpers ================= */

static char* sdup(const char* s) {
  if (!s) return NULL;
  size_t n = strlen(s);
  char* out = malloc(n + 1);
  assert_non_null(out);
  memcpy(out, s, n + 1);
  return out;
}

static hw_field mk(hw_type_id type, const char* name) {
  hw_field f;
  hw_field_init(&f);
  f.type = type;
  f.name = sdup(name);
  return f;
}

static hw_field mk_ts(const char* name, hw_time_unit unit, const char* tz) {
  hw_field f = mk(HW_TYPE_TIMESTAMP, name);
  f.unit = unit;
  f.timezone = sdup(tz);
  return f;
}

static hw_field mk_decimal(const char* name, int32_t precision, int32_t scale) {
  hw_field f = mk(HW_TYPE_DECIMAL128, name);
  f.precision = precision;
  f.scale = scale;
  return f;
}

/* Takes ownership of children[0..n). */
static hw_field mk_struct(const char* name, int32_t n, const hw_field* children) {
  hw_field f = mk(HW_TYPE_STRUCT, name);
  if (n > 0) {
    f.children = calloc((size_t)n, sizeof *f.children);
    assert_non_null(f.children);
    memcpy(f.children, children, (size_t)n * sizeof *children);
    f.n_children = n;
  }
  return f;
}

static hw_field mk_list(const char* name, hw_field element) {
  hw_field f = mk(HW_TYPE_LIST, name);
  f.children = calloc(1, sizeof *f.children);
  assert_non_null(f.children);
  f.children[0] = element;
  f.n_children = 1;
  return f;
}

static hw_field mk_map(const char* name, hw_field key, hw_field value) {
  key.nullable = false;
  hw_field kv[2] = {key, value};
  hw_field entries = mk_struct("entries", 2, kv);
  entries.nullable = false;
  hw_field f = mk(HW_TYPE_MAP, name);
  f.children = calloc(1, sizeof *f.children);
  assert_non_null(f.children);
  f.children[0] = entries;
  f.n_children = 1;
  return f;
}

static void export_ok(const hw_field* f, struct ArrowSchema* out) {
  hw_error err;
  hw_error_init(&err);
  memset(out, 0, sizeof *out);
  if (hw_field_to_arrow(f, out, &err) != 0) fail_msg("export: %s", err.message);
  assert_non_null(out->release);
}

static void import_ok(const struct ArrowSchema* s, hw_field* out) {
  hw_error err;
  hw_error_init(&err);
  if (hw_field_from_arrow(s, out, &err) != 0) fail_msg("import: %s: %s", err.error_class, err.message);
}

static void release_schema(struct ArrowSchema* s) {
  assert_non_null(s->release);
  s->release(s);
  assert_null(s->release);
}

/* Exports f, imports it back and checks equality (comments too). */
static void roundtrip(const hw_field* f) {
  struct ArrowSchema s;
  export_ok(f, &s);
  hw_field back;
  import_ok(&s, &back);
  release_schema(&s);
  assert_true(hw_field_equal(f, &back));
  hw_field_release(&back);
}

static bool same_comments(const hw_field* a, const hw_field* b) {
  if ((a->comment == NULL) != (b->comment == NULL)) return false;
  if (a->comment && strcmp(a->comment, b->comment) != 0) return false;
  if (a->n_children != b->n_children) return false;
  for (int32_t i = 0; i < a->n_children; i++)
    if (!same_comments(&a->children[i], &b->children[i])) return false;
  return true;
}

/* ---- hand-made input schemas (the producer's side), with a release that counts calls ---- */

static int fake_release_calls;

static void fake_release(struct ArrowSchema* s) {
  fake_release_calls++;
  s->release = NULL;
}

static void node(struct ArrowSchema* s, const char* format, const char* name, int64_t flags) {
  memset(s, 0, sizeof *s);
  s->format = format;
  s->name = name;
  s->flags = flags;
  s->release = fake_release;
}

static void expect_import_error(const struct ArrowSchema* s, const char* error_class, const char* message) {
  hw_error err;
  hw_error_init(&err);
  hw_field out;
  memset(&out, 0xab, sizeof out); /* must stay untouched */
  hw_field sentinel;
  memset(&sentinel, 0xab, sizeof sentinel);
  assert_int_equal(hw_field_from_arrow(s, &out, &err), -1);
  assert_memory_equal(&out, &sentinel, sizeof out);
  if (strcmp(err.error_class, error_class) != 0 || strcmp(err.message, message) != 0)
    fail_msg("got [%s] %s\nexpected [%s] %s", err.error_class, err.message, error_class, message);
}

/* A record-batch schema with one field "a" of the given format (and children). */
typedef struct one_field {
  struct ArrowSchema root, a;
  struct ArrowSchema* root_kids[1];
} one_field;

static void one_field_init(one_field* o, const char* format) {
  node(&o->root, "+s", "", 0);
  node(&o->a, format, "a", ARROW_FLAG_NULLABLE);
  o->root_kids[0] = &o->a;
  o->root.n_children = 1;
  o->root.children = o->root_kids;
}

/* ================= export ================= */

static void test_export_formats_every_type(void** state) {
  (void)state;
  struct {
    hw_field f;
    const char* format;
  } cases[] = {
      {mk(HW_TYPE_NULL, "x"), "n"},
      {mk(HW_TYPE_BOOL, "x"), "b"},
      {mk(HW_TYPE_INT8, "x"), "c"},
      {mk(HW_TYPE_INT16, "x"), "s"},
      {mk(HW_TYPE_INT32, "x"), "i"},
      {mk(HW_TYPE_INT64, "x"), "l"},
      {mk(HW_TYPE_UINT8, "x"), "C"},
      {mk(HW_TYPE_UINT16, "x"), "S"},
      {mk(HW_TYPE_UINT32, "x"), "I"},
      {mk(HW_TYPE_UINT64, "x"), "L"},
      {mk(HW_TYPE_FLOAT32, "x"), "f"},
      {mk(HW_TYPE_FLOAT64, "x"), "g"},
      {mk(HW_TYPE_UTF8, "x"), "u"},
      {mk(HW_TYPE_LARGE_UTF8, "x"), "U"},
      {mk(HW_TYPE_BINARY, "x"), "z"},
      {mk(HW_TYPE_LARGE_BINARY, "x"), "Z"},
      {mk(HW_TYPE_DATE32, "x"), "tdD"},
      {mk_ts("x", HW_TIME_SECOND, NULL), "tss:"},
      {mk_ts("x", HW_TIME_MILLI, "UTC"), "tsm:UTC"},
      {mk_ts("x", HW_TIME_MICRO, "+07:30"), "tsu:+07:30"},
      {mk_ts("x", HW_TIME_NANO, "America/New_York"), "tsn:America/New_York"},
      {mk_decimal("x", 10, 2), "d:10,2"},
      {mk_decimal("x", 38, 0), "d:38,0"},
      {mk_decimal("x", 5, -3), "d:5,-3"},
      {mk_list("x", mk(HW_TYPE_INT32, "element")), "+l"},
      {mk_map("x", mk(HW_TYPE_UTF8, "key"), mk(HW_TYPE_INT32, "value")), "+m"},
      {mk_struct("x", 0, NULL), "+s"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct ArrowSchema s;
    export_ok(&cases[i].f, &s);
    assert_string_equal(s.format, cases[i].format);
    assert_string_equal(s.name, "x");
    assert_int_equal(s.flags, ARROW_FLAG_NULLABLE);
    assert_null(s.metadata);
    assert_null(s.dictionary);
    assert_int_equal(s.n_children, cases[i].f.n_children);
    release_schema(&s);
    roundtrip(&cases[i].f);
    hw_field_release(&cases[i].f);
  }
}

static void test_export_names_and_flags(void** state) {
  (void)state;
  hw_field kids[] = {mk(HW_TYPE_INT32, NULL), mk(HW_TYPE_INT64, "b")};
  kids[1].nullable = false;
  hw_field f = mk_struct(NULL, 2, kids);
  f.nullable = false;
  struct ArrowSchema s;
  export_ok(&f, &s);
  assert_string_equal(s.name, ""); /* NULL name -> "" */
  assert_int_equal(s.flags, 0);
  assert_int_equal(s.n_children, 2);
  assert_string_equal(s.children[0]->name, "");
  assert_int_equal(s.children[0]->flags, ARROW_FLAG_NULLABLE);
  assert_string_equal(s.children[1]->name, "b");
  assert_int_equal(s.children[1]->flags, 0);
  for (int i = 0; i < 2; i++) {
    assert_non_null(s.children[i]->release);
    assert_int_equal(s.children[i]->n_children, 0);
  }
  release_schema(&s);
  hw_field_release(&f);
}

static void test_export_nested_default_names(void** state) {
  (void)state;
  /* anonymous children get Arrow's conventional names; named ones keep theirs */
  hw_field kids[] = {
      mk_list("l", mk(HW_TYPE_INT32, NULL)),
      mk_map("m", mk(HW_TYPE_UTF8, NULL), mk(HW_TYPE_INT32, NULL)),
      mk_list("named", mk(HW_TYPE_INT32, "item")),
  };
  free(kids[1].children[0].name); /* an anonymous entries struct */
  kids[1].children[0].name = NULL;
  hw_field f = mk_struct("", 3, kids);
  struct ArrowSchema s;
  export_ok(&f, &s);
  struct ArrowSchema* l = s.children[0];
  assert_string_equal(l->format, "+l");
  assert_int_equal(l->n_children, 1);
  assert_string_equal(l->children[0]->name, "element");
  assert_string_equal(l->children[0]->format, "i");
  struct ArrowSchema* m = s.children[1];
  assert_string_equal(m->format, "+m");
  assert_int_equal(m->n_children, 1);
  struct ArrowSchema* e = m->children[0];
  assert_string_equal(e->name, "entries");
  assert_string_equal(e->format, "+s");
  assert_int_equal(e->flags, 0); /* entries are not nullable */
  assert_int_equal(e->n_children, 2);
  assert_string_equal(e->children[0]->name, "key");
  assert_string_equal(e->children[0]->format, "u");
  assert_int_equal(e->children[0]->flags, 0);
  assert_string_equal(e->children[1]->name, "value");
  assert_string_equal(e->children[1]->format, "i");
  assert_int_equal(e->children[1]->flags, ARROW_FLAG_NULLABLE);
  assert_string_equal(s.children[2]->children[0]->name, "item");
  release_schema(&s);
  hw_field_release(&f);
}

static void test_export_comment_metadata(void** state) {
  (void)state;
  hw_field f = mk(HW_TYPE_UTF8, "c");
  f.comment = sdup("the comment");
  struct ArrowSchema s;
  export_ok(&f, &s);
  assert_non_null(s.metadata);
  /* int32 pairs, int32 key length, key, int32 value length, value (native endianness) */
  char expect[4 + 4 + 7 + 4 + 11];
  int32_t v;
  v = 1;
  memcpy(expect, &v, 4);
  v = 7;
  memcpy(expect + 4, &v, 4);
  memcpy(expect + 8, "comment", 7);
  v = 11;
  memcpy(expect + 15, &v, 4);
  memcpy(expect + 19, "the comment", 11);
  assert_memory_equal(s.metadata, expect, sizeof expect);
  hw_field back;
  import_ok(&s, &back);
  assert_string_equal(back.comment, "the comment");
  hw_field_release(&back);
  release_schema(&s);

  /* an empty comment is kept as an empty comment */
  free(f.comment);
  f.comment = sdup("");
  export_ok(&f, &s);
  import_ok(&s, &back);
  assert_non_null(back.comment);
  assert_string_equal(back.comment, "");
  hw_field_release(&back);
  release_schema(&s);
  hw_field_release(&f);
}

static void test_export_char_varchar_as_utf8(void** state) {
  (void)state;
  hw_field f = mk(HW_TYPE_UTF8, "c");
  f.string_kind = HW_STRING_VARCHAR;
  f.string_length = 10;
  struct ArrowSchema s;
  export_ok(&f, &s);
  assert_string_equal(s.format, "u");
  hw_field back;
  import_ok(&s, &back);
  assert_int_equal(back.type, HW_TYPE_UTF8);
  assert_int_equal(back.string_kind, HW_STRING_PLAIN);
  hw_field_release(&back);
  release_schema(&s);
  f.string_kind = HW_STRING_CHAR;
  export_ok(&f, &s);
  assert_string_equal(s.format, "u");
  release_schema(&s);
  hw_field_release(&f);
}

static void test_export_errors(void** state) {
  (void)state;
  hw_error err;
  struct ArrowSchema s;
  struct ArrowSchema sentinel;
  memset(&sentinel, 0x5a, sizeof sentinel);

  hw_field f = mk(HW_TYPE_LIST, "l"); /* no element */
  hw_error_init(&err);
  memcpy(&s, &sentinel, sizeof s);
  assert_int_equal(hw_field_to_arrow(&f, &s, &err), -1);
  assert_string_equal(err.error_class, "HW_INVALID_ARGUMENT");
  assert_string_equal(err.message, "field 'l': a list needs exactly one child");
  assert_memory_equal(&s, &sentinel, sizeof s);
  hw_field_release(&f);

  /* errors deep inside: the partial export is freed (ASan checks) */
  hw_field bad_map = mk_struct("m", 1, (hw_field[]){mk(HW_TYPE_INT32, "x")});
  bad_map.type = HW_TYPE_MAP;
  hw_field kids[] = {mk(HW_TYPE_INT32, "a"), mk_list("b", mk(HW_TYPE_UTF8, NULL)), bad_map};
  f = mk_struct("", 3, kids);
  assert_int_equal(hw_field_to_arrow(&f, &s, &err), -1);
  assert_string_equal(err.message, "field 'm': a map needs one struct child of two fields (key, value)");
  assert_memory_equal(&s, &sentinel, sizeof s);
  hw_field_release(&f);

  f = mk(HW_TYPE_INT32, "p");
  f.n_children = 1;
  f.children = calloc(1, sizeof *f.children);
  hw_field_init(&f.children[0]);
  assert_int_equal(hw_field_to_arrow(&f, &s, &err), -1);
  assert_string_equal(err.message, "field 'p': a primitive type has no children");
  hw_field_release(&f);

  f = mk(HW_TYPE_INT32, "t");
  f.type = (hw_type_id)77;
  assert_int_equal(hw_field_to_arrow(&f, &s, &err), -1);
  assert_string_equal(err.message, "field 't': unknown type id 77");
  f.type = HW_TYPE_TIMESTAMP;
  f.unit = (hw_time_unit)9;
  assert_int_equal(hw_field_to_arrow(&f, &s, &err), -1);
  assert_string_equal(err.message, "field 't': unknown time unit 9");
  hw_field_release(&f);

  f = mk_decimal("d", 39, 2);
  assert_int_equal(hw_field_to_arrow(&f, &s, &err), -1);
  assert_string_equal(err.message, "field 'd': decimal precision 39 is not between 1 and 38");
  f.precision = 0;
  assert_int_equal(hw_field_to_arrow(&f, &s, &err), -1);
  hw_field_release(&f);

  assert_int_equal(hw_field_to_arrow(NULL, &s, &err), -1);
  assert_memory_equal(&s, &sentinel, sizeof s);
}

static void test_consumer_moves_child_out(void** state) {
  (void)state;
  hw_field kids[] = {mk(HW_TYPE_INT32, "a"), mk_list("b", mk(HW_TYPE_UTF8, NULL))};
  kids[0].comment = sdup("c");
  hw_field f = mk_struct("", 2, kids);
  struct ArrowSchema s;
  export_ok(&f, &s);
  struct ArrowSchema moved = *s.children[1];
  s.children[1]->release = NULL;
  release_schema(&s); /* the parent frees everything but the moved child */
  assert_string_equal(moved.format, "+l");
  assert_string_equal(moved.children[0]->name, "element");
  release_schema(&moved);
  hw_field_release(&f);
}

/* ================= round trips ================= */

static hw_field every_type_struct(void) {
  hw_field leaf[] = {
      mk(HW_TYPE_NULL, "n"),          mk(HW_TYPE_BOOL, "b"),        mk(HW_TYPE_INT8, "i8"),
      mk(HW_TYPE_INT16, "i16"),       mk(HW_TYPE_INT32, "i32"),     mk(HW_TYPE_INT64, "i64"),
      mk(HW_TYPE_UINT8, "u8"),        mk(HW_TYPE_UINT16, "u16"),    mk(HW_TYPE_UINT32, "u32"),
      mk(HW_TYPE_UINT64, "u64"),      mk(HW_TYPE_FLOAT32, "f32"),   mk(HW_TYPE_FLOAT64, "f64"),
      mk(HW_TYPE_UTF8, "s"),          mk(HW_TYPE_LARGE_UTF8, "ls"), mk(HW_TYPE_BINARY, "bin"),
      mk(HW_TYPE_LARGE_BINARY, "lb"), mk(HW_TYPE_DATE32, "d"),      mk_ts("ts", HW_TIME_NANO, "Europe/Paris"),
      mk_ts("ntz", HW_TIME_MICRO, NULL), mk_decimal("dec", 38, 18),
      mk_list("l", mk(HW_TYPE_INT32, "element")),
      mk_map("m", mk(HW_TYPE_UTF8, "key"), mk_list("value", mk(HW_TYPE_DECIMAL128, "element"))),
      mk_struct("st", 2, (hw_field[]){mk(HW_TYPE_INT16, "x"), mk_ts("y", HW_TIME_MILLI, "UTC")}),
  };
  hw_field f = mk_struct("", (int32_t)(sizeof leaf / sizeof leaf[0]), leaf);
  f.nullable = false;
  for (int32_t i = 0; i < f.n_children; i++) {
    f.children[i].nullable = i % 3 != 0;
    if (i % 4 == 1) {
      char c[32];
      snprintf(c, sizeof c, "comment %d", (int)i);
      f.children[i].comment = sdup(c);
    }
  }
  f.children[20].children[0].comment = sdup("on a list element");
  f.children[21].children[0].children[1].children[0].precision = 7;
  f.children[21].children[0].children[1].children[0].scale = 3;
  return f;
}

static void test_roundtrip_every_type(void** state) {
  (void)state;
  hw_field f = every_type_struct();
  struct ArrowSchema s;
  export_ok(&f, &s);
  assert_string_equal(s.format, "+s");
  assert_int_equal(s.n_children, f.n_children);
  hw_field back;
  import_ok(&s, &back);
  release_schema(&s);
  assert_true(hw_field_equal(&f, &back));
  assert_true(same_comments(&f, &back));
  assert_null(back.children[18].timezone); /* "tsu:" -> no zone */
  assert_string_equal(back.children[17].timezone, "Europe/Paris");
  assert_int_equal(back.children[17].unit, HW_TIME_NANO);
  assert_int_equal(back.children[19].precision, 38);
  assert_int_equal(back.children[19].scale, 18);
  assert_false(back.nullable);
  hw_field_release(&back);
  hw_field_release(&f);
}

static void test_roundtrip_deep_nesting(void** state) {
  (void)state;
  /* list<struct<a: map<utf8, list<int32>>>> */
  hw_field m = mk_map("a", mk(HW_TYPE_UTF8, NULL), mk_list(NULL, mk(HW_TYPE_INT32, NULL)));
  free(m.children[0].name); /* all anonymous: export fills in the conventional names */
  m.children[0].name = NULL;
  hw_field f = mk_list("deep", mk_struct(NULL, 1, &m));
  struct ArrowSchema s;
  export_ok(&f, &s);
  assert_string_equal(s.children[0]->name, "element");
  assert_string_equal(s.children[0]->children[0]->name, "a");
  assert_string_equal(s.children[0]->children[0]->children[0]->children[1]->children[0]->name, "element");
  hw_field back;
  import_ok(&s, &back);
  release_schema(&s);
  /* names were filled in on export, so compare the shapes and the filled names */
  assert_int_equal(back.type, HW_TYPE_LIST);
  assert_string_equal(back.children[0].name, "element");
  assert_int_equal(back.children[0].type, HW_TYPE_STRUCT);
  const hw_field* bm = &back.children[0].children[0];
  assert_int_equal(bm->type, HW_TYPE_MAP);
  assert_string_equal(bm->children[0].name, "entries");
  assert_false(bm->children[0].nullable);
  assert_string_equal(bm->children[0].children[0].name, "key");
  assert_false(bm->children[0].children[0].nullable);
  assert_string_equal(bm->children[0].children[1].name, "value");
  assert_int_equal(bm->children[0].children[1].type, HW_TYPE_LIST);
  assert_int_equal(bm->children[0].children[1].children[0].type, HW_TYPE_INT32);
  hw_field_release(&back);
  hw_field_release(&f);
}

static void test_depth_limit(void** state) {
  (void)state;
  hw_error err;
  hw_error_init(&err);
  hw_field f = mk(HW_TYPE_INT32, "element");
  /* HW_MAX_NESTING levels in all (field.h): the root and 63 below it, as Arrow C++ imports */
  for (int i = 0; i < HW_MAX_NESTING - 1; i++) f = mk_list("element", f);
  roundtrip(&f); /* exactly the limit */
  f = mk_list("element", f);
  struct ArrowSchema s;
  assert_int_equal(hw_field_to_arrow(&f, &s, &err), -1);
  assert_string_equal(err.message, HW_NESTING_MESSAGE);
  hw_field_release(&f);

  /* import: a hand-made chain of 66 lists */
  struct ArrowSchema chain[HW_MAX_NESTING + 2];
  struct ArrowSchema* kid[HW_MAX_NESTING + 2];
  for (int i = 0; i < HW_MAX_NESTING + 2; i++) {
    bool leaf = i == HW_MAX_NESTING + 1;
    node(&chain[i], leaf ? "i" : "+l", i == 0 ? "" : "x", ARROW_FLAG_NULLABLE);
    if (!leaf) {
      kid[i] = &chain[i + 1];
      chain[i].n_children = 1;
      chain[i].children = &kid[i];
    }
  }
  assert_int_equal(hw_field_from_arrow(&chain[0], &f, &err), -1);
  assert_string_equal(err.error_class, "HW_INVALID_ARROW_SCHEMA");
  assert_non_null(strstr(err.message, HW_NESTING_MESSAGE));
  assert_int_equal(strncmp(err.message, "column 'x.x.x.", 14), 0);
  /* 65 levels do not import either; 64 do */
  assert_int_equal(hw_field_from_arrow(&chain[1], &f, &err), -1);
  import_ok(&chain[2], &f);
  hw_field_release(&f);
}

/* ================= import ================= */

static void test_import_primitives(void** state) {
  (void)state;
  struct {
    const char* format;
    hw_type_id type;
  } cases[] = {
      {"n", HW_TYPE_NULL},       {"b", HW_TYPE_BOOL},          {"c", HW_TYPE_INT8},    {"s", HW_TYPE_INT16},
      {"i", HW_TYPE_INT32},      {"l", HW_TYPE_INT64},         {"C", HW_TYPE_UINT8},   {"S", HW_TYPE_UINT16},
      {"I", HW_TYPE_UINT32},     {"L", HW_TYPE_UINT64},        {"f", HW_TYPE_FLOAT32}, {"g", HW_TYPE_FLOAT64},
      {"u", HW_TYPE_UTF8},       {"U", HW_TYPE_LARGE_UTF8},    {"z", HW_TYPE_BINARY},  {"Z", HW_TYPE_LARGE_BINARY},
      {"tdD", HW_TYPE_DATE32},   {"+s", HW_TYPE_STRUCT},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct ArrowSchema s;
    node(&s, cases[i].format, "col", i % 2 ? ARROW_FLAG_NULLABLE : 0);
    hw_field f;
    import_ok(&s, &f);
    assert_int_equal(f.type, cases[i].type);
    assert_string_equal(f.name, "col");
    assert_int_equal(f.nullable, i % 2 == 1);
    assert_null(f.comment);
    assert_int_equal(f.n_children, 0);
    hw_field_release(&f);
  }
  /* a NULL name stays anonymous */
  struct ArrowSchema s;
  node(&s, "i", NULL, 0);
  hw_field f;
  import_ok(&s, &f);
  assert_null(f.name);
  hw_field_release(&f);
}

static void test_import_timestamps(void** state) {
  (void)state;
  struct {
    const char* format;
    hw_time_unit unit;
    const char* tz;
  } cases[] = {
      {"tss:", HW_TIME_SECOND, NULL},
      {"tsm:UTC", HW_TIME_MILLI, "UTC"},
      {"tsu:", HW_TIME_MICRO, NULL},
      {"tsu:Asia/Tokyo", HW_TIME_MICRO, "Asia/Tokyo"},
      {"tsn:-05:00", HW_TIME_NANO, "-05:00"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct ArrowSchema s;
    node(&s, cases[i].format, "t", ARROW_FLAG_NULLABLE);
    hw_field f;
    import_ok(&s, &f);
    assert_int_equal(f.type, HW_TYPE_TIMESTAMP);
    assert_int_equal(f.unit, cases[i].unit);
    if (cases[i].tz)
      assert_string_equal(f.timezone, cases[i].tz);
    else
      assert_null(f.timezone);
    struct ArrowSchema again;
    export_ok(&f, &again);
    assert_string_equal(again.format, cases[i].format);
    release_schema(&again);
    hw_field_release(&f);
  }
}

static void test_import_decimals(void** state) {
  (void)state;
  struct {
    const char* format;
    int32_t precision, scale;
  } ok[] = {
      {"d:10,2", 10, 2}, {"d:10,2,128", 10, 2}, {"d:38,38", 38, 38}, {"d:1,0", 1, 0}, {"d:5,-3", 5, -3},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    struct ArrowSchema s;
    node(&s, ok[i].format, "d", 0);
    hw_field f;
    import_ok(&s, &f);
    assert_int_equal(f.type, HW_TYPE_DECIMAL128);
    assert_int_equal(f.precision, ok[i].precision);
    assert_int_equal(f.scale, ok[i].scale);
    hw_field_release(&f);
  }
  const char* malformed[] = {"d:", "d:10", "d:10,", "d:x,1", "d:10,2,", "d:10,2,128x", "d:10;2",
                             "d:99999999999,1", "d:10,2 ", "d:,2"};
  for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
    one_field o;
    one_field_init(&o, malformed[i]);
    char msg[256];
    snprintf(msg, sizeof msg, "column 'a': malformed Arrow schema: invalid decimal format (format '%s')",
             malformed[i]);
    expect_import_error(&o.root, "HW_INVALID_ARROW_SCHEMA", msg);
  }
  const char* precision[] = {"d:0,0", "d:39,2", "d:-1,0"};
  for (size_t i = 0; i < sizeof precision / sizeof precision[0]; i++) {
    one_field o;
    one_field_init(&o, precision[i]);
    char msg[256];
    snprintf(msg, sizeof msg,
             "column 'a': malformed Arrow schema: decimal128 precision must be between 1 and 38 (format '%s')",
             precision[i]);
    expect_import_error(&o.root, "HW_INVALID_ARROW_SCHEMA", msg);
  }
  const char* other_widths[] = {"d:10,2,256", "d:10,2,64", "d:5,1,32"};
  for (size_t i = 0; i < sizeof other_widths / sizeof other_widths[0]; i++) {
    one_field o;
    one_field_init(&o, other_widths[i]);
    char msg[256];
    snprintf(msg, sizeof msg, "column 'a': unsupported Arrow type '%s'", other_widths[i]);
    expect_import_error(&o.root, "UNSUPPORTED_DATA_TYPE", msg);
  }
}

static void test_import_rejects_unsupported_types(void** state) {
  (void)state;
  const char* formats[] = {"tdm", "w:4",  "+L",  "+ul", "+ud:0,1", "vu",  "vz",   "tts",  "ttm", "ttu",
                           "ttn", "tDs",  "tiM", "tin", "e",       "+w:3", "+r",  "+vl",  "+vL", "tsx:",
                           "ts",  "x",    "ii",  "bb",  "+",       "+ss",  "tdD ", "u:"};
  for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
    one_field o;
    one_field_init(&o, formats[i]);
    char msg[256];
    snprintf(msg, sizeof msg, "column 'a': unsupported Arrow type '%s'", formats[i]);
    expect_import_error(&o.root, "UNSUPPORTED_DATA_TYPE", msg);
  }
}

static void test_import_error_paths(void** state) {
  (void)state;
  /* struct<a: struct<b: date64>> */
  struct ArrowSchema root, a, b;
  struct ArrowSchema *rk[1] = {&a}, *ak[1] = {&b};
  node(&root, "+s", "", 0);
  node(&a, "+s", "a", ARROW_FLAG_NULLABLE);
  node(&b, "tdm", "b", ARROW_FLAG_NULLABLE);
  root.n_children = 1;
  root.children = rk;
  a.n_children = 1;
  a.children = ak;
  expect_import_error(&root, "UNSUPPORTED_DATA_TYPE", "column 'a.b': unsupported Arrow type 'tdm'");

  /* a list element: the path names the element */
  node(&a, "+l", "a", ARROW_FLAG_NULLABLE);
  a.n_children = 1;
  a.children = ak;
  node(&b, "w:16", "item", ARROW_FLAG_NULLABLE);
  expect_import_error(&root, "UNSUPPORTED_DATA_TYPE", "column 'a.item': unsupported Arrow type 'w:16'");

  /* an unnamed root (a lone type) has no column prefix; a named one starts the path */
  struct ArrowSchema lone;
  node(&lone, "tdm", "", 0);
  expect_import_error(&lone, "UNSUPPORTED_DATA_TYPE", "unsupported Arrow type 'tdm'");
  node(&lone, "tdm", NULL, 0);
  expect_import_error(&lone, "UNSUPPORTED_DATA_TYPE", "unsupported Arrow type 'tdm'");
  node(&lone, "tdm", "x", 0);
  expect_import_error(&lone, "UNSUPPORTED_DATA_TYPE", "column 'x': unsupported Arrow type 'tdm'");
  node(&lone, "+s", "x", 0);
  lone.n_children = 1;
  lone.children = ak;
  node(&b, "vu", "y", 0);
  expect_import_error(&lone, "UNSUPPORTED_DATA_TYPE", "column 'x.y': unsupported Arrow type 'vu'");
}

static void test_import_dictionary_rejected(void** state) {
  (void)state;
  struct ArrowSchema dict;
  node(&dict, "u", NULL, 0);
  one_field o;
  one_field_init(&o, "i");
  o.a.dictionary = &dict;
  expect_import_error(&o.root, "UNSUPPORTED_DATA_TYPE",
                      "column 'a': dictionary-encoded Arrow type (index type 'i') is not supported");
}

static void test_import_malformed(void** state) {
  (void)state;
  one_field o;

  one_field_init(&o, "i");
  o.a.format = NULL;
  expect_import_error(&o.root, "HW_INVALID_ARROW_SCHEMA", "column 'a': malformed Arrow schema: missing format string");

  one_field_init(&o, "");
  expect_import_error(&o.root, "HW_INVALID_ARROW_SCHEMA", "column 'a': malformed Arrow schema: empty format string");

  one_field_init(&o, "+l"); /* no element */
  expect_import_error(&o.root, "HW_INVALID_ARROW_SCHEMA",
                      "column 'a': malformed Arrow schema: a list or map needs exactly one child (format '+l')");

  struct ArrowSchema k1, k2;
  struct ArrowSchema* kids[2] = {&k1, &k2};
  node(&k1, "i", "x", 0);
  node(&k2, "i", "y", 0);
  one_field_init(&o, "+l");
  o.a.n_children = 2;
  o.a.children = kids;
  expect_import_error(&o.root, "HW_INVALID_ARROW_SCHEMA",
                      "column 'a': malformed Arrow schema: a list or map needs exactly one child (format '+l')");

  one_field_init(&o, "i");
  o.a.n_children = 1;
  o.a.children = kids;
  expect_import_error(&o.root, "HW_INVALID_ARROW_SCHEMA",
                      "column 'a': malformed Arrow schema: a primitive type has no children (format 'i')");

  one_field_init(&o, "+s");
  o.a.n_children = -1;
  expect_import_error(&o.root, "HW_INVALID_ARROW_SCHEMA",
                      "column 'a': malformed Arrow schema: invalid children (format '+s')");

  one_field_init(&o, "+s");
  o.a.n_children = 2;
  o.a.children = NULL;
  expect_import_error(&o.root, "HW_INVALID_ARROW_SCHEMA",
                      "column 'a': malformed Arrow schema: invalid children (format '+s')");

  struct ArrowSchema* null_kid[1] = {NULL};
  one_field_init(&o, "+s");
  o.a.n_children = 1;
  o.a.children = null_kid;
  expect_import_error(&o.root, "HW_INVALID_ARROW_SCHEMA",
                      "column 'a': malformed Arrow schema: missing child schema (format '+s')");

  /* map whose child is not a struct of two */
  struct ArrowSchema* one_kid[1] = {&k1};
  one_field_init(&o, "+m");
  o.a.n_children = 1;
  o.a.children = one_kid;
  expect_import_error(&o.root, "HW_INVALID_ARROW_SCHEMA",
                      "column 'a.x': malformed Arrow schema: a map's child must be a struct of two fields (key, "
                      "value) (format 'i')");
  struct ArrowSchema entries;
  node(&entries, "+s", "entries", 0);
  entries.n_children = 1;
  entries.children = kids;
  one_kid[0] = &entries;
  expect_import_error(&o.root, "HW_INVALID_ARROW_SCHEMA",
                      "column 'a.entries': malformed Arrow schema: a map's child must be a struct of two fields "
                      "(key, value) (format '+s')");

  one_field_init(&o, "tsu");
  expect_import_error(&o.root, "HW_INVALID_ARROW_SCHEMA",
                      "column 'a': malformed Arrow schema: timestamp format without ':' (format 'tsu')");

  /* metadata with a negative count */
  char bad_meta[4];
  int32_t neg = -1;
  memcpy(bad_meta, &neg, 4);
  one_field_init(&o, "i");
  o.a.metadata = bad_meta;
  expect_import_error(&o.root, "HW_INVALID_ARROW_SCHEMA",
                      "column 'a': malformed Arrow schema: negative metadata pair count");

  /* a released schema, and no schema at all */
  one_field_init(&o, "i");
  o.root.release = NULL;
  expect_import_error(&o.root, "HW_INVALID_ARROW_SCHEMA", "malformed Arrow schema: the schema was already released");
  hw_error err;
  hw_field f;
  assert_int_equal(hw_field_from_arrow(NULL, &f, &err), -1);
  assert_string_equal(err.error_class, "HW_INVALID_ARGUMENT");
}

/* Builds Arrow binary metadata from n key/value pairs into buf; returns its size. */
static size_t make_metadata(char* buf, int32_t n, const char* const* kv) {
  size_t off = 0;
  memcpy(buf + off, &n, 4);
  off += 4;
  for (int32_t i = 0; i < 2 * n; i++) {
    int32_t len = (int32_t)strlen(kv[i]);
    memcpy(buf + off, &len, 4);
    off += 4;
    memcpy(buf + off, kv[i], (size_t)len);
    off += (size_t)len;
  }
  return off;
}

static void test_import_metadata(void** state) {
  (void)state;
  char buf[256];
  const char* kv[] = {"PARQUET:field_id", "7", "comment", "hello world", "other", ""};
  make_metadata(buf, 3, kv);
  struct ArrowSchema s;
  node(&s, "l", "x", ARROW_FLAG_NULLABLE);
  s.metadata = buf;
  hw_field f;
  import_ok(&s, &f);
  assert_string_equal(f.comment, "hello world");
  hw_field_release(&f);

  /* other keys only: no comment; zero pairs: no comment */
  const char* kv2[] = {"a", "b", "commentary", "c"};
  make_metadata(buf, 2, kv2);
  import_ok(&s, &f);
  assert_null(f.comment);
  hw_field_release(&f);
  make_metadata(buf, 0, NULL);
  import_ok(&s, &f);
  assert_null(f.comment);
  hw_field_release(&f);

  /* metadata on nested fields */
  const char* kv3[] = {"comment", "inner"};
  make_metadata(buf, 1, kv3);
  struct ArrowSchema list, el;
  struct ArrowSchema* lk[1] = {&el};
  node(&list, "+l", "l", ARROW_FLAG_NULLABLE);
  node(&el, "i", "item", ARROW_FLAG_NULLABLE);
  el.metadata = buf;
  list.n_children = 1;
  list.children = lk;
  import_ok(&list, &f);
  assert_null(f.comment);
  assert_string_equal(f.children[0].name, "item"); /* any element name is accepted */
  assert_string_equal(f.children[0].comment, "inner");
  hw_field_release(&f);
}

static void test_import_does_not_take_ownership(void** state) {
  (void)state;
  struct ArrowSchema root, a, b;
  struct ArrowSchema* kids[2] = {&a, &b};
  node(&root, "+s", "", 0);
  node(&a, "u", "a", ARROW_FLAG_NULLABLE);
  node(&b, "tsu:UTC", "b", 0);
  root.n_children = 2;
  root.children = kids;
  fake_release_calls = 0;
  hw_field f;
  import_ok(&root, &f);
  assert_int_equal(fake_release_calls, 0);
  assert_non_null(root.release);
  /* the field owns copies: changing the input does not change it */
  char name[] = "a";
  a.name = name;
  name[0] = 'z';
  assert_string_equal(f.children[0].name, "a");
  assert_ptr_not_equal(f.children[1].timezone, b.format + 4);
  assert_string_equal(f.children[1].timezone, "UTC");
  assert_false(f.children[1].nullable);
  assert_true(f.children[0].nullable);
  /* failure does not release either */
  node(&b, "tdm", "b", 0);
  hw_field g;
  hw_error err;
  assert_int_equal(hw_field_from_arrow(&root, &g, &err), -1);
  assert_int_equal(fake_release_calls, 0);
  hw_field_release(&f);
}

static void test_import_map_flags_and_names(void** state) {
  (void)state;
  struct ArrowSchema m, e, k, v;
  struct ArrowSchema* mk_[1] = {&e};
  struct ArrowSchema* ek[2] = {&k, &v};
  node(&m, "+m", "m", ARROW_FLAG_NULLABLE | ARROW_FLAG_MAP_KEYS_SORTED);
  node(&e, "+s", "kv", 0); /* any names are accepted */
  node(&k, "u", "k", 0);
  node(&v, "i", "v", ARROW_FLAG_NULLABLE);
  m.n_children = 1;
  m.children = mk_;
  e.n_children = 2;
  e.children = ek;
  hw_field f;
  import_ok(&m, &f);
  assert_int_equal(f.type, HW_TYPE_MAP);
  assert_true(f.nullable);
  assert_int_equal(f.n_children, 1);
  assert_string_equal(f.children[0].name, "kv");
  assert_false(f.children[0].nullable);
  assert_int_equal(f.children[0].children[0].type, HW_TYPE_UTF8);
  assert_false(f.children[0].children[0].nullable);
  assert_int_equal(f.children[0].children[1].type, HW_TYPE_INT32);
  assert_true(f.children[0].children[1].nullable);
  struct ArrowSchema s;
  export_ok(&f, &s);
  assert_int_equal(s.flags, ARROW_FLAG_NULLABLE); /* sortedness is not kept */
  assert_string_equal(s.children[0]->name, "kv");
  release_schema(&s);
  hw_field_release(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_export_formats_every_type),
      cmocka_unit_test(test_export_names_and_flags),
      cmocka_unit_test(test_export_nested_default_names),
      cmocka_unit_test(test_export_comment_metadata),
      cmocka_unit_test(test_export_char_varchar_as_utf8),
      cmocka_unit_test(test_export_errors),
      cmocka_unit_test(test_consumer_moves_child_out),
      cmocka_unit_test(test_roundtrip_every_type),
      cmocka_unit_test(test_roundtrip_deep_nesting),
      cmocka_unit_test(test_depth_limit),
      cmocka_unit_test(test_import_primitives),
      cmocka_unit_test(test_import_timestamps),
      cmocka_unit_test(test_import_decimals),
      cmocka_unit_test(test_import_rejects_unsupported_types),
      cmocka_unit_test(test_import_error_paths),
      cmocka_unit_test(test_import_dictionary_rejected),
      cmocka_unit_test(test_import_malformed),
      cmocka_unit_test(test_import_metadata),
      cmocka_unit_test(test_import_does_not_take_ownership),
      cmocka_unit_test(test_import_map_flags_and_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
