#include "convert/rows_to_arrow.h"

#include <datetime.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "arrow/builder.h"
#include "common/error.h"

/* Unsigned 128-bit arithmetic for decimals (a GCC/Clang extension; __extension__ keeps
 * -Wpedantic quiet). */
__extension__ typedef unsigned __int128 hw_u128;

/* One node per field of the schema, mirroring the builder tree. */
typedef struct conv_node {
  const hw_field* field; /* borrowed from the converter's schema */
  hw_builder* builder;   /* borrowed from the converter's builder tree */
  PyObject* name;        /* str: dict/attribute lookups of struct fields */
  int32_t n_children;
  struct conv_node* children;
} conv_node;

struct hw_row_converter {
  hw_field schema;        /* the converted columns (all of the row's, or a projection of them) */
  int32_t width;          /* columns a row must have (the source's schema) */
  int32_t* source_column; /* per converted column, its position in the source's schema */
  PyObject* all_names;    /* tuple: the source schema's column names (named Rows are matched by them) */
  hw_builder batch;
  conv_node root;
  int64_t partition;
  int64_t row;            /* row number within the partition */
  PyObject* decimal_type; /* decimal.Decimal */
  char source_name[128];  /* for messages */
  bool local_is_utc;      /* naive TIMESTAMP values need no shift */
  bool accept_dicts;      /* createDataFrame: dict rows, matched by field name */
  /* Named rows: the last __fields__ seen and, per schema column, its position in that row. */
  PyObject* cached_names; /* tuple of the names (identity-compared) or NULL */
  Py_ssize_t* name_positions;
  /* Column path of the value that failed, built innermost-first while unwinding. */
  char path[512];
};

/* ---------------------------------------------------------------- errors */

static void path_prepend(hw_row_converter* conv, const char* segment) {
  char old[sizeof conv->path];
  memcpy(old, conv->path, sizeof old);
  /* a path longer than the buffer is cut: intended, the return value says so */
  const char* dot = old[0] && old[0] != '[' ? "." : ""; /* a.b, a[3] */
  int n = snprintf(conv->path, sizeof conv->path, "%s%s%s", segment, dot, old);
  if (n < 0) conv->path[0] = '\0';
}

/* Shortened repr of a value for messages; never fails (falls back to the type name). */
static void short_repr(PyObject* value, char* out, size_t size) {
  PyObject* r = PyObject_Repr(value);
  const char* s = r ? PyUnicode_AsUTF8(r) : NULL;
  if (!s) {
    PyErr_Clear();
    snprintf(out, size, "<%s>", Py_TYPE(value)->tp_name);
  } else if (strlen(s) > 60) {
    snprintf(out, size, "%.57s...", s);
  } else {
    snprintf(out, size, "%s", s);
  }
  Py_XDECREF(r);
}

static int value_error(const hw_field* field, PyObject* value, const char* detail, hw_error* err) {
  char repr[72];
  short_repr(value, repr, sizeof repr);
  char* type = NULL;
  hw_error ignored;
  if (hw_ddl_render(field, &type, &ignored) != 0) type = NULL;
  hw_error_set(err, "CANNOT_CONVERT_VALUE", "expected %s, got %s %s%s%s", type ? type : "?", Py_TYPE(value)->tp_name,
               repr, detail ? ": " : "", detail ? detail : "");
  hw_free(type);
  PyErr_Clear();
  return -1;
}

static int oom(hw_error* err) { return hw_error_oom(err); }

/* ---------------------------------------------------------------- scalars */

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  /* Proleptic Gregorian calendar, days since 1970-01-01. */
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* Integers as PySpark (through pyarrow) takes them: ints in range, floats and Decimals truncated
 * toward zero; not bools. */
static int append_int(hw_row_converter* conv, const conv_node* node, PyObject* v, hw_error* err) {
  PyObject* index;
  if (PyBool_Check(v)) return value_error(node->field, v, NULL, err);
  if (PyLong_Check(v)) {
    Py_INCREF(v);
    index = v;
  } else if (PyFloat_Check(v)) {
    double d = PyFloat_AS_DOUBLE(v);
    if (!(d > -9.3e18 && d < 9.3e18)) return value_error(node->field, v, "out of range", err);
    index = PyLong_FromLongLong((long long)d); /* C's cast truncates toward zero */
  } else if (PyIndex_Check(v)) {
    index = PyNumber_Index(v);
  } else if (PyObject_IsInstance(v, conv->decimal_type) == 1) {
    index = PyNumber_Long(v); /* int(Decimal) truncates toward zero */
  } else {
    return value_error(node->field, v, NULL, err);
  }
  if (!index) return value_error(node->field, v, NULL, err);
  int overflow = 0;
  long long x = PyLong_AsLongLongAndOverflow(index, &overflow);
  Py_DECREF(index);
  int64_t lo = INT64_MIN, hi = INT64_MAX;
  switch (node->field->type) {
    case HW_TYPE_INT8: lo = INT8_MIN; hi = INT8_MAX; break;
    case HW_TYPE_INT16: lo = INT16_MIN; hi = INT16_MAX; break;
    case HW_TYPE_INT32: lo = INT32_MIN; hi = INT32_MAX; break;
    default: break;
  }
  if (overflow || (x == -1 && PyErr_Occurred()) || x < lo || x > hi)
    return value_error(node->field, v, "out of range", err);
  if (node->field->type == HW_TYPE_INT64) return hw_builder_append_int64_fast(node->builder, x) ? oom(err) : 0;
  return hw_builder_append_int(node->builder, x) ? oom(err) : 0;
}

static int append_uint(const conv_node* node, PyObject* v, hw_error* err) {
  if (PyBool_Check(v) || !PyLong_Check(v)) return value_error(node->field, v, NULL, err);
  unsigned long long x = PyLong_AsUnsignedLongLong(v);
  uint64_t hi = UINT64_MAX;
  switch (node->field->type) {
    case HW_TYPE_UINT8: hi = UINT8_MAX; break;
    case HW_TYPE_UINT16: hi = UINT16_MAX; break;
    case HW_TYPE_UINT32: hi = UINT32_MAX; break;
    default: break;
  }
  if ((x == (unsigned long long)-1 && PyErr_Occurred()) || x > hi)
    return value_error(node->field, v, "out of range", err);
  return hw_builder_append_uint(node->builder, x) ? oom(err) : 0;
}

/* Floats, bools (1.0/0.0) and ints the type represents exactly (2^24 for FLOAT, 2^53 for DOUBLE),
 * as pyarrow takes them in PySpark. */
static int append_float(const conv_node* node, PyObject* v, hw_error* err) {
  double x;
  if (PyFloat_Check(v)) {
    x = PyFloat_AS_DOUBLE(v);
  } else if (PyBool_Check(v)) {
    x = v == Py_True ? 1.0 : 0.0;
  } else if (PyLong_Check(v)) {
    int overflow = 0;
    long long i = PyLong_AsLongLongAndOverflow(v, &overflow);
    long long limit = node->field->type == HW_TYPE_FLOAT32 ? (1LL << 24) : (1LL << 53);
    if (overflow || i > limit || i < -limit)
      return value_error(node->field, v, "outside the range the type represents exactly", err);
    x = (double)i;
  } else {
    return value_error(node->field, v, NULL, err);
  }
  if (node->field->type == HW_TYPE_FLOAT64) return hw_builder_append_float64_fast(node->builder, x) ? oom(err) : 0;
  return hw_builder_append_double(node->builder, x) ? oom(err) : 0;
}

/* Spark's StringType takes any value and stores its str(); booleans as "true"/"false", as the JVM
 * side of PySpark renders them. */
static int append_string(const conv_node* node, PyObject* v, hw_error* err) {
  if (PyBool_Check(v)) {
    const char* text = v == Py_True ? "true" : "false";
    return hw_builder_append_bytes(node->builder, text, (int64_t)strlen(text)) ? oom(err) : 0;
  }
  PyObject* s = PyUnicode_Check(v) ? (Py_INCREF(v), v) : PyObject_Str(v);
  if (!s) return value_error(node->field, v, "str() failed", err);
  Py_ssize_t n;
  const char* utf8 = PyUnicode_AsUTF8AndSize(s, &n);
  int rc = !utf8                               ? value_error(node->field, v, "not encodable as UTF-8", err)
           : node->field->type == HW_TYPE_UTF8 ? (hw_builder_append_utf8_fast(node->builder, utf8, n) ? oom(err) : 0)
                                               : (hw_builder_append_bytes(node->builder, utf8, n) ? oom(err) : 0);
  Py_DECREF(s);
  return rc;
}

static int append_binary(const conv_node* node, PyObject* v, hw_error* err) {
  if (PyBytes_Check(v))
    return hw_builder_append_bytes(node->builder, PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v)) ? oom(err) : 0;
  if (PyByteArray_Check(v))
    return hw_builder_append_bytes(node->builder, PyByteArray_AS_STRING(v), PyByteArray_GET_SIZE(v)) ? oom(err) : 0;
  return value_error(node->field, v, "BINARY takes bytes or bytearray", err);
}

/* A date, a datetime (its wall-clock date), or a number of days since 1970-01-01 (floats
 * truncated), as pyarrow takes them in PySpark. */
static int append_date(const conv_node* node, PyObject* v, hw_error* err) {
  int64_t days;
  if (PyDate_Check(v)) {
    days = days_from_civil(PyDateTime_GET_YEAR(v), PyDateTime_GET_MONTH(v), PyDateTime_GET_DAY(v));
  } else if ((PyLong_Check(v) && !PyBool_Check(v)) || PyFloat_Check(v)) {
    double d = PyFloat_Check(v) ? PyFloat_AS_DOUBLE(v) : 0;
    int overflow = 0;
    days = PyFloat_Check(v) ? (d > -2147483649.0 && d < 2147483648.0 ? (int64_t)d : INT64_MAX)
                            : PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || days < INT32_MIN || days > INT32_MAX) return value_error(node->field, v, "out of range", err);
  } else {
    return value_error(node->field, v, NULL, err);
  }
  return hw_builder_append_int(node->builder, days) ? oom(err) : 0;
}

static const int64_t unit_per_second[] = {1, 1000, 1000000, 1000000000};

static int append_timestamp(hw_row_converter* conv, const conv_node* node, PyObject* v, hw_error* err) {
  if (!PyDateTime_Check(v)) return value_error(node->field, v, NULL, err);
  int64_t days = days_from_civil(PyDateTime_GET_YEAR(v), PyDateTime_GET_MONTH(v), PyDateTime_GET_DAY(v));
  int64_t seconds = days * 86400 + PyDateTime_DATE_GET_HOUR(v) * 3600 + PyDateTime_DATE_GET_MINUTE(v) * 60 +
                    PyDateTime_DATE_GET_SECOND(v);
  int64_t micros = PyDateTime_DATE_GET_MICROSECOND(v);
  /* An aware datetime is an instant: store it as UTC. A zone-less column (TIMESTAMP_NTZ) keeps the
   * wall-clock time. Naive datetimes are taken as UTC (see README: session time zone). */
  PyObject* tzinfo = PyDateTime_DATE_GET_TZINFO(v);
  if (!node->field->timezone && tzinfo != Py_None)
    return value_error(node->field, v, "TIMESTAMP_NTZ takes naive datetimes", err);
  if (node->field->timezone && tzinfo == Py_None && !conv->local_is_utc) {
    /* naive: local time of this process, as datetime.astimezone() reads it in PySpark */
    struct tm tm = {0};
    tm.tm_year = PyDateTime_GET_YEAR(v) - 1900;
    tm.tm_mon = PyDateTime_GET_MONTH(v) - 1;
    tm.tm_mday = PyDateTime_GET_DAY(v);
    tm.tm_hour = PyDateTime_DATE_GET_HOUR(v);
    tm.tm_min = PyDateTime_DATE_GET_MINUTE(v);
    tm.tm_sec = PyDateTime_DATE_GET_SECOND(v);
    tm.tm_isdst = PyDateTime_DATE_GET_FOLD(v) ? 0 : -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1 && tm.tm_year != 69) return value_error(node->field, v, "not a valid local time", err);
    seconds = (int64_t)t;
  } else if (node->field->timezone && tzinfo != Py_None && tzinfo != PyDateTime_TimeZone_UTC) {
    PyObject* offset = PyObject_CallMethod(v, "utcoffset", NULL);
    if (!offset) return value_error(node->field, v, "utcoffset() failed", err);
    if (PyDelta_Check(offset)) {
      seconds -= (int64_t)PyDateTime_DELTA_GET_DAYS(offset) * 86400 + PyDateTime_DELTA_GET_SECONDS(offset);
      micros -= PyDateTime_DELTA_GET_MICROSECONDS(offset);
    }
    Py_DECREF(offset);
  }
  int64_t per_second = unit_per_second[node->field->unit];
  int64_t value = seconds * per_second;
  if (per_second >= 1000000)
    value += micros * (per_second / 1000000);
  else
    value += micros / (1000000 / per_second);
  return hw_builder_append_int64_fast(node->builder, value) ? oom(err) : 0;
}

static hw_u128 pow10_u128(int n) {
  hw_u128 p = 1;
  while (n-- > 0) p *= 10;
  return p;
}

/* Decimal -> unscaled 128-bit integer at the column's scale, rounding half to even as PySpark's
 * quantize does. Decimal('NaN') is null, as in Spark; ints are not taken (PySpark refuses them). */
static int append_decimal(hw_row_converter* conv, const conv_node* node, PyObject* v, hw_error* err) {
  const hw_field* f = node->field;
  int sign = 0;
  hw_u128 magnitude = 0;
  int digits_after = 0; /* digits of magnitude after the decimal point */
  int overflow = 0;
  if (PyObject_IsInstance(v, conv->decimal_type) == 1) {
    PyObject* t = PyObject_CallMethod(v, "as_tuple", NULL);
    if (!t) return value_error(f, v, NULL, err);
    PyObject* exponent = PyTuple_GET_ITEM(t, 2);
    if (!PyLong_Check(exponent)) { /* 'n'/'N' (NaN) or 'F' (infinity) */
      int nan = PyUnicode_Check(exponent) && PyUnicode_CompareWithASCIIString(exponent, "F") != 0;
      Py_DECREF(t);
      if (nan) return hw_builder_append_null(node->builder) ? oom(err) : 0;
      return value_error(f, v, "infinity has no decimal value", err);
    }
    sign = PyLong_AsLong(PyTuple_GET_ITEM(t, 0)) != 0;
    long exp = PyLong_AsLong(exponent);
    PyObject* digits = PyTuple_GET_ITEM(t, 1);
    Py_ssize_t n = PyTuple_GET_SIZE(digits);
    for (Py_ssize_t i = 0; i < n; i++) {
      if (magnitude > pow10_u128(38)) overflow = 1;
      else magnitude = magnitude * 10 + (hw_u128)PyLong_AsLong(PyTuple_GET_ITEM(digits, i));
    }
    Py_DECREF(t);
    if (exp > 0) {
      if (exp > 38 || magnitude > pow10_u128(38 - (int)exp)) overflow = 1;
      else magnitude *= pow10_u128((int)exp);
    } else {
      digits_after = (int)-exp;
    }
  } else {
    return value_error(f, v, NULL, err);
  }
  /* rescale to the column's scale */
  if (!overflow && digits_after > f->scale) {
    int drop = digits_after - f->scale;
    if (drop > 38) {
      magnitude = 0;
    } else {
      hw_u128 div = pow10_u128(drop);
      hw_u128 rem = magnitude % div;
      magnitude /= div;
      /* round half to even, as PySpark's quantize does */
      if (rem * 2 > div || (rem * 2 == div && (magnitude & 1))) magnitude += 1;
    }
  } else if (!overflow && digits_after < f->scale) {
    int add = f->scale - digits_after;
    if (magnitude > pow10_u128(38 - add)) overflow = 1;
    else magnitude *= pow10_u128(add);
  }
  if (overflow || magnitude >= pow10_u128(f->precision)) return value_error(f, v, "exceeds the precision", err);
  hw_u128 bits = sign ? (hw_u128)0 - magnitude : magnitude;
  return hw_builder_append_decimal128(node->builder, (uint64_t)bits, (uint64_t)(bits >> 64)) ? oom(err) : 0;
}

/* ---------------------------------------------------------------- values */

static int append_value(hw_row_converter* conv, const conv_node* node, PyObject* v, hw_error* err);

/* Element types PySpark hands to pyarrow untouched (no converter of its own): for those, an array
 * may also be a tuple. */
static bool plain_elements(const hw_field* f) {
  switch (f->type) {
    case HW_TYPE_BOOL: case HW_TYPE_INT8: case HW_TYPE_INT16: case HW_TYPE_INT32: case HW_TYPE_INT64:
    case HW_TYPE_FLOAT32: case HW_TYPE_FLOAT64: case HW_TYPE_DATE32: return f->nullable;
    case HW_TYPE_LIST: return f->nullable && plain_elements(&f->children[0]);
    default: return false;
  }
}

/* ARRAY takes a list or an array.array, as PySpark does (a tuple only for plain elements). */
static int append_list(hw_row_converter* conv, const conv_node* node, PyObject* v, hw_error* err) {
  PyObject* seq;
  if (PyList_Check(v)) {
    Py_INCREF(v);
    seq = v;
  } else if (strcmp(Py_TYPE(v)->tp_name, "array.array") == 0 ||
             (PyTuple_Check(v) && plain_elements(&node->field->children[0]))) {
    seq = PySequence_List(v);
    if (!seq) return value_error(node->field, v, NULL, err);
  } else {
    return value_error(node->field, v, "ARRAY takes a list", err);
  }
  Py_ssize_t n = PyList_GET_SIZE(seq);
  for (Py_ssize_t i = 0; i < n; i++) {
    if (append_value(conv, &node->children[0], PyList_GET_ITEM(seq, i), err) != 0) {
      Py_DECREF(seq);
      char segment[32];
      snprintf(segment, sizeof segment, "[%zd]", i);
      path_prepend(conv, segment);
      return -1;
    }
  }
  Py_DECREF(seq);
  return hw_builder_close_list(node->builder) ? oom(err) : 0;
}

static int append_map(hw_row_converter* conv, const conv_node* node, PyObject* v, hw_error* err) {
  if (!PyDict_Check(v)) return value_error(node->field, v, NULL, err);
  const conv_node* entries = &node->children[0];
  PyObject *key, *value;
  Py_ssize_t pos = 0;
  while (PyDict_Next(v, &pos, &key, &value)) {
    if (key == Py_None) {
      hw_error_set(err, "CANNOT_CONVERT_VALUE", "map keys cannot be null");
      return -1;
    }
    if (append_value(conv, &entries->children[0], key, err) != 0) {
      path_prepend(conv, "key");
      return -1;
    }
    if (append_value(conv, &entries->children[1], value, err) != 0) {
      path_prepend(conv, "value");
      return -1;
    }
    if (hw_builder_close_struct(entries->builder)) return oom(err);
  }
  return hw_builder_close_list(node->builder) ? oom(err) : 0;
}

/* A child value of a struct, found by position or by name. */
static int append_field(hw_row_converter* conv, const conv_node* child, PyObject* value, hw_error* err) {
  if (append_value(conv, child, value, err) != 0) {
    path_prepend(conv, child->field->name ? child->field->name : "");
    return -1;
  }
  return 0;
}

/* STRUCT takes a tuple (a Row too, by position), a dict (by name; missing keys are null) or an
 * object (by its __dict__), as PySpark does. */
static int append_struct(hw_row_converter* conv, const conv_node* node, PyObject* v, hw_error* err) {
  if (PyTuple_Check(v)) {
    Py_ssize_t n = PyTuple_GET_SIZE(v);
    if (n != node->n_children)
      return hw_error_set(err, "AXIS_LENGTH_MISMATCH",
                          "Length mismatch: Expected axis has %d elements, new values have %zd elements.",
                          node->n_children, n);
    for (int32_t i = 0; i < node->n_children; i++)
      if (append_field(conv, &node->children[i], PyTuple_GET_ITEM(v, i), err) != 0) return -1;
    return hw_builder_close_struct(node->builder) ? oom(err) : 0;
  }
  PyObject* dict = NULL;
  if (PyDict_Check(v)) {
    Py_INCREF(v);
    dict = v;
  } else if (!PyList_Check(v)) {
    dict = PyObject_GetAttrString(v, "__dict__");
    if (dict && !PyDict_Check(dict)) Py_CLEAR(dict);
    PyErr_Clear();
  }
  if (!dict) return value_error(node->field, v, "STRUCT takes a tuple, Row, dict or object", err);
  for (int32_t i = 0; i < node->n_children; i++) {
    PyObject* item = PyDict_GetItemWithError(dict, node->children[i].name); /* borrowed; missing -> null */
    if (!item && PyErr_Occurred()) {
      Py_DECREF(dict);
      return value_error(node->field, v, "field lookup failed", err);
    }
    if (append_field(conv, &node->children[i], item ? item : Py_None, err) != 0) {
      Py_DECREF(dict);
      return -1;
    }
  }
  Py_DECREF(dict);
  return hw_builder_close_struct(node->builder) ? oom(err) : 0;
}

static int append_value(hw_row_converter* conv, const conv_node* node, PyObject* v, hw_error* err) {
  if (v == Py_None) {
    if (!node->field->nullable) return value_error(node->field, v, "the field is NOT NULL", err);
    return hw_builder_append_null(node->builder) ? oom(err) : 0;
  }
  switch (node->field->type) {
    case HW_TYPE_NULL: return value_error(node->field, v, NULL, err);
    case HW_TYPE_BOOL:
      if (!PyBool_Check(v)) return value_error(node->field, v, NULL, err);
      return hw_builder_append_bool(node->builder, v == Py_True) ? oom(err) : 0;
    case HW_TYPE_INT8:
    case HW_TYPE_INT16:
    case HW_TYPE_INT32:
    case HW_TYPE_INT64: return append_int(conv, node, v, err);
    case HW_TYPE_UINT8:
    case HW_TYPE_UINT16:
    case HW_TYPE_UINT32:
    case HW_TYPE_UINT64: return append_uint(node, v, err);
    case HW_TYPE_FLOAT32:
    case HW_TYPE_FLOAT64: return append_float(node, v, err);
    case HW_TYPE_UTF8:
    case HW_TYPE_LARGE_UTF8: return append_string(node, v, err);
    case HW_TYPE_BINARY:
    case HW_TYPE_LARGE_BINARY: return append_binary(node, v, err);
    case HW_TYPE_DATE32: return append_date(node, v, err);
    case HW_TYPE_TIMESTAMP: return append_timestamp(conv, node, v, err);
    case HW_TYPE_DECIMAL128: return append_decimal(conv, node, v, err);
    case HW_TYPE_LIST: return append_list(conv, node, v, err);
    case HW_TYPE_MAP: return append_map(conv, node, v, err);
    case HW_TYPE_STRUCT: return append_struct(conv, node, v, err);
  }
  return value_error(node->field, v, "unsupported type", err);
}

/* ---------------------------------------------------------------- rows */

/* Spark's message when a named Row's fields are not the schema's: both name lists, as Python
 * prints them. */
static int names_mismatch(hw_row_converter* conv, PyObject* names, hw_error* err) {
  PyObject* expected = PySequence_List(conv->all_names);
  PyObject* e = expected ? PyObject_Str(expected) : NULL;
  PyObject* a = PyObject_Str(names);
  const char* es = e ? PyUnicode_AsUTF8(e) : NULL;
  const char* as = a ? PyUnicode_AsUTF8(a) : NULL;
  hw_error_set(err, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH",
               "Return schema mismatch in the result from 'read' method. Expected: %s columns, Found: %s columns. "
               "Make sure the returned values match the required output schema.",
               es ? es : "?", as ? as : "?");
  Py_XDECREF(expected);
  Py_XDECREF(e);
  Py_XDECREF(a);
  PyErr_Clear();
  return -1;
}

/* Positions of the schema's columns in a named row's __fields__; cached while rows keep the same
 * names (compared by identity, which holds for Rows made from the same keyword arguments). */
static int named_row_positions(hw_row_converter* conv, PyObject* names, hw_error* err) {
  PyObject* seq = PySequence_Fast(names, "__fields__ must be a sequence");
  if (!seq) {
    PyErr_Clear();
    return hw_error_set(err, "DATA_SOURCE_INVALID_RETURN_TYPE", "Row.__fields__ is not a sequence");
  }
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  PyObject** items = PySequence_Fast_ITEMS(seq);
  if (conv->cached_names && PyTuple_GET_SIZE(conv->cached_names) == n) {
    Py_ssize_t i = 0;
    while (i < n && PyTuple_GET_ITEM(conv->cached_names, i) == items[i]) i++;
    if (i == n) {
      Py_DECREF(seq);
      return 0;
    }
  }
  for (int32_t c = 0; c < conv->width; c++) {
    PyObject* want = PyTuple_GET_ITEM(conv->all_names, c);
    conv->name_positions[c] = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
      int eq = PyUnicode_Check(items[i]) ? PyUnicode_Compare(items[i], want) == 0 : 0;
      if (eq) {
        conv->name_positions[c] = i;
        break;
      }
    }
    if (conv->name_positions[c] < 0) {
      Py_DECREF(seq);
      Py_CLEAR(conv->cached_names);
      return names_mismatch(conv, names, err);
    }
  }
  Py_XSETREF(conv->cached_names, PySequence_Tuple(seq));
  Py_DECREF(seq);
  if (!conv->cached_names) PyErr_Clear();
  return 0;
}

/* Spark's checks of a row, in Spark's order: width first (anything with a length), then the kind
 * (tuple or list; a Row is a tuple), then the names of a named Row (the same set as the schema's). */
/* A dict row: each column's value by its name (missing keys are null). */
static int append_dict_row(hw_row_converter* conv, PyObject* row, hw_error* err) {
  const conv_node* root = &conv->root;
  for (int32_t c = 0; c < root->n_children; c++) {
    PyObject* v = PyDict_GetItemWithError(row, root->children[c].name); /* borrowed */
    if (!v && PyErr_Occurred()) {
      PyErr_Clear(); /* a key's __eq__ raised */
      err->column = c;
      return hw_error_set(err, "HW_INTERNAL", "looking up the column in a dict row raised");
    }
    if (append_value(conv, &root->children[c], v ? v : Py_None, err) != 0) {
      err->column = c;
      return -1;
    }
  }
  return hw_builder_close_struct(root->builder) ? oom(err) : 0;
}

static int append_row(hw_row_converter* conv, PyObject* row, hw_error* err) {
  const conv_node* root = &conv->root;
  err->column = -1;
  if (conv->accept_dicts && PyDict_Check(row)) return append_dict_row(conv, row, err);
  bool sequence = PyTuple_Check(row) || PyList_Check(row);
  Py_ssize_t n = sequence ? PySequence_Fast_GET_SIZE(row) : PyObject_Size(row);
  if (n < 0) PyErr_Clear(); /* no length: only the kind check applies */
  if (n >= 0 && n != conv->width)
    return hw_error_set(err, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH",
                        "Return schema mismatch in the result from 'read' method. Expected: %d columns, Found: "
                        "%zd columns. Make sure the returned values match the required output schema.",
                        conv->width, n);
  if (!sequence)
    return hw_error_set(err, "DATA_SOURCE_INVALID_RETURN_TYPE",
                        "Unsupported return type ('%s') from Python data source '%s'. Expected types: tuple, list, "
                        "`pyspark.sql.types.Row`, `pyarrow.RecordBatch`.",
                        hw_type_name(row), conv->source_name);
  PyObject* names = NULL;
  if (!PyTuple_CheckExact(row) && PyTuple_Check(row)) {
    names = PyObject_GetAttrString(row, "__fields__");
    if (!names) PyErr_Clear();
  }
  PyObject** items = PySequence_Fast_ITEMS(row);
  if (names) {
    int rc = named_row_positions(conv, names, err);
    Py_DECREF(names);
    if (rc != 0) return -1;
    for (int32_t c = 0; c < root->n_children; c++) {
      if (append_value(conv, &root->children[c], items[conv->name_positions[conv->source_column[c]]], err) != 0) {
        err->column = c;
        return -1;
      }
    }
  } else {
    for (int32_t c = 0; c < root->n_children; c++) {
      if (append_value(conv, &root->children[c], items[conv->source_column[c]], err) != 0) {
        err->column = c;
        return -1;
      }
    }
  }
  return hw_builder_close_struct(root->builder) ? oom(err) : 0;
}

void hw_row_converter_accept_dicts(hw_row_converter* conv, bool accept) { conv->accept_dicts = accept; }

int hw_row_converter_append(hw_row_converter* conv, PyObject* row, hw_error* err) {
  conv->path[0] = '\0';
  if (append_row(conv, row, err) == 0) {
    conv->row++;
    return 0;
  }
  err->partition = conv->partition;
  err->row = conv->row;
  if (err->column >= 0 && err->column < conv->root.n_children) {
    const conv_node* col = &conv->root.children[err->column];
    path_prepend(conv, col->field->name ? col->field->name : "");
    hw_error_prefix(err, "partition %lld, row %lld, column '%s': ", (long long)conv->partition,
                    (long long)conv->row, conv->path);
    err->column = conv->source_column[err->column]; /* the column's position in the source's rows */
  } else {
    hw_error_prefix(err, "partition %lld, row %lld: ", (long long)conv->partition, (long long)conv->row);
  }
  return -1;
}

/* ---------------------------------------------------------------- lifecycle */

static void node_release(conv_node* node) {
  for (int32_t i = 0; i < node->n_children; i++) node_release(&node->children[i]);
  PyMem_Free(node->children);
  Py_CLEAR(node->name);
  node->children = NULL;
  node->n_children = 0;
}

static int node_init(conv_node* node, const hw_field* field, hw_builder* builder, hw_error* err) {
  node->field = field;
  node->builder = builder;
  node->name = PyUnicode_FromString(field->name ? field->name : "");
  if (!node->name) {
    PyErr_Clear();
    return oom(err);
  }
  if (field->n_children == 0) return 0;
  node->children = PyMem_Calloc((size_t)field->n_children, sizeof *node->children);
  if (!node->children) return oom(err);
  node->n_children = field->n_children;
  for (int32_t i = 0; i < field->n_children; i++)
    if (node_init(&node->children[i], &field->children[i], &builder->children[i], err) != 0) return -1;
  return 0;
}

int hw_row_converter_new(hw_row_converter** out, const hw_field* schema, const int32_t* columns, int32_t n_columns,
                         const hw_allocator* allocator, const char* source_name, hw_error* err) {
  if (schema->type != HW_TYPE_STRUCT)
    return hw_error_set(err, "INVALID_SCHEMA.NON_STRUCT_TYPE", "rows need a struct schema");
  if (!PyDateTimeAPI) {
    PyDateTime_IMPORT;
    if (!PyDateTimeAPI) {
      PyErr_Clear();
      return hw_error_set(err, "HW_INTERNAL", "cannot import datetime");
    }
  }
  hw_row_converter* conv = PyMem_Calloc(1, sizeof *conv);
  if (!conv) return oom(err);
  hw_field_init(&conv->schema);
  if (hw_field_project(&conv->schema, schema, columns, n_columns, err) != 0) {
    PyMem_Free(conv);
    return -1;
  }
  conv->width = schema->n_children;
  conv->schema.nullable = false; /* a batch has no null rows */
  tzset();
  conv->local_is_utc = timezone == 0 && daylight == 0;
  if (snprintf(conv->source_name, sizeof conv->source_name, "%s", source_name ? source_name : "") < 0)
    conv->source_name[0] = '\0';
  if (hw_builder_init(&conv->batch, &conv->schema, allocator, err) != 0 ||
      node_init(&conv->root, &conv->batch.field, &conv->batch, err) != 0) {
    hw_row_converter_free(conv);
    return -1;
  }
  conv->name_positions = PyMem_Calloc((size_t)(schema->n_children + 1), sizeof *conv->name_positions);
  conv->source_column = PyMem_Calloc((size_t)(conv->schema.n_children + 1), sizeof *conv->source_column);
  conv->all_names = PyTuple_New(schema->n_children);
  for (int32_t c = 0; conv->all_names && c < schema->n_children; c++) {
    const char* name = schema->children[c].name;
    PyObject* s = PyUnicode_FromString(name ? name : "");
    if (!s) {
      Py_CLEAR(conv->all_names);
      break;
    }
    PyTuple_SET_ITEM(conv->all_names, c, s);
  }
  for (int32_t c = 0; conv->source_column && c < conv->schema.n_children; c++)
    conv->source_column[c] = columns ? columns[c] : c;
  PyObject* decimal = PyImport_ImportModule("decimal");
  conv->decimal_type = decimal ? PyObject_GetAttrString(decimal, "Decimal") : NULL;
  Py_XDECREF(decimal);
  if (!conv->name_positions || !conv->decimal_type || !conv->source_column || !conv->all_names) {
    PyErr_Clear();
    hw_row_converter_free(conv);
    return hw_error_set(err, "HW_INTERNAL", "cannot set up the row converter (decimal module or memory)");
  }
  *out = conv;
  return 0;
}

void hw_row_converter_free(hw_row_converter* conv) {
  if (!conv) return;
  node_release(&conv->root);
  hw_builder_release(&conv->batch);
  hw_field_release(&conv->schema);
  Py_CLEAR(conv->decimal_type);
  Py_CLEAR(conv->cached_names);
  Py_CLEAR(conv->all_names);
  PyMem_Free(conv->name_positions);
  PyMem_Free(conv->source_column);
  PyMem_Free(conv);
}

void hw_row_converter_start_partition(hw_row_converter* conv, int64_t partition) {
  conv->partition = partition;
  conv->row = 0;
}

int64_t hw_row_converter_rows(const hw_row_converter* conv) { return conv->batch.length; }

void hw_row_converter_reserve(hw_row_converter* conv, int64_t rows) {
  (void)hw_builder_reserve(&conv->batch, rows); /* a hint: appends still grow buffers if this fails */
}

static int64_t builder_bytes(const hw_builder* b) {
  int64_t n = b->validity.bytes.size + b->bits.bytes.size + b->values.size + b->data.size;
  for (int32_t i = 0; i < b->n_children; i++) n += builder_bytes(&b->children[i]);
  return n;
}

int64_t hw_row_converter_bytes(const hw_row_converter* conv) { return builder_bytes(&conv->batch); }

int hw_row_converter_finish(hw_row_converter* conv, struct ArrowArray* out, hw_error* err) {
  return hw_builder_finish(&conv->batch, out, err);
}

const char* hw_type_name(PyObject* o) {
  const char* full = Py_TYPE(o)->tp_name;
  const char* dot = strrchr(full, '.');
  return dot ? dot + 1 : full;
}
