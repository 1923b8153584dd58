#include "pyexec/rows_to_arrow.h"

#include <datetime.h>
#include <limits.h>
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
  PyObject* as_tuple_name; /* "as_tuple" */
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
  else if (n >= (int)sizeof conv->path) hw_utf8_trim_cut(conv->path); /* cut on a character boundary */
}

/* Shortened repr of a value for messages; never fails (falls back to the type name). */
static void short_repr(PyObject* value, char* out, size_t size) {
  PyObject* r = PyObject_Repr(value);
  const char* s = r ? PyUnicode_AsUTF8(r) : NULL;
  if (!s) {
    PyErr_Clear();
    snprintf(out, size, "<%s>", Py_TYPE(value)->tp_name);
  } else if (strlen(s) > 60 && size > 61) {
    /* cut on a UTF-8 character boundary: a cut inside a sequence made the whole error undecodable */
    memcpy(out, s, 57);
    out[57] = '\0';
    hw_utf8_trim_cut(out);
    strcat(out, "...");
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
    /* [-2^63, 2^63): every double in it truncates to an int64 (2^63 itself does not; NaN fails) */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
      return value_error(node->field, v, "out of range", err);
    index = PyLong_FromLongLong((long long)d); /* C's cast truncates toward zero */
  } else if (PyIndex_Check(v)) {
    index = PyNumber_Index(v); /* user __index__: the result is checked to be an int by CPython */
  } else if (PyObject_TypeCheck(v, (PyTypeObject*)conv->decimal_type)) {
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

/* STRING/BINARY have 32-bit offsets: one batch of a column holds at most INT32_MAX bytes. Batches
 * close at headwater.batch.maxBytes, so only a row bigger than that room gets here: say which limit
 * it hit (not "out of memory", what the builder's refusal looked like before). */
static int offsets_overflow(const conv_node* node, int64_t n, hw_error* err) {
  hw_type_id t = node->field->type;
  if (t != HW_TYPE_UTF8 && t != HW_TYPE_BINARY) return 0;
  int64_t used = node->builder->data.size;
  if (n <= (int64_t)INT32_MAX - used) return 0;
  const char* what = t == HW_TYPE_UTF8 ? "STRING" : "BINARY";
  if (n > (int64_t)INT32_MAX)
    return hw_error_set(err, "HW_VALUE_TOO_LARGE",
                        "a %s value of %lld bytes is over Arrow's limit of 2147483647 bytes for one value of a "
                        "column with 32-bit offsets",
                        what, (long long)n);
  return hw_error_set(err, "HW_VALUE_TOO_LARGE",
                      "a %s value of %lld bytes does not fit in the batch: the column already holds %lld bytes and "
                      "Arrow's 32-bit offsets allow 2147483647 (one row is bigger than the room "
                      "headwater.batch.maxBytes leaves)",
                      what, (long long)n, (long long)used);
}

/* Spark's StringType takes any value and stores its str(); booleans as "true"/"false", as the JVM
 * side of PySpark renders them. */
static int append_string(const conv_node* node, PyObject* v, hw_error* err) {
  if (PyBool_Check(v)) {
    const char* text = v == Py_True ? "true" : "false";
    return hw_builder_append_bytes(node->builder, text, (int64_t)strlen(text)) ? oom(err) : 0;
  }
  PyObject* s = PyUnicode_CheckExact(v) ? (Py_INCREF(v), v) : PyObject_Str(v);
  if (!s) return value_error(node->field, v, "str() failed", err);
  Py_ssize_t n;
  const char* utf8 = PyUnicode_AsUTF8AndSize(s, &n);
  int rc = !utf8                                 ? value_error(node->field, v, "not encodable as UTF-8", err)
           : offsets_overflow(node, (int64_t)n, err) ? -1
           : node->field->type == HW_TYPE_UTF8   ? (hw_builder_append_utf8_fast(node->builder, utf8, n) ? oom(err) : 0)
                                                 : (hw_builder_append_bytes(node->builder, utf8, n) ? oom(err) : 0);
  Py_DECREF(s);
  return rc;
}

static int append_binary(const conv_node* node, PyObject* v, hw_error* err) {
  if (PyBytes_Check(v)) {
    if (offsets_overflow(node, (int64_t)PyBytes_GET_SIZE(v), err)) return -1;
    return hw_builder_append_bytes(node->builder, PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v)) ? oom(err) : 0;
  }
  if (PyByteArray_Check(v)) {
    if (offsets_overflow(node, (int64_t)PyByteArray_GET_SIZE(v), err)) return -1;
    return hw_builder_append_bytes(node->builder, PyByteArray_AS_STRING(v), PyByteArray_GET_SIZE(v)) ? oom(err) : 0;
  }
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

/* "Type: message" of the raised Python exception, which is cleared (for error details). */
static void python_error_text(char* out, size_t size) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyObject* text = value ? PyObject_Str(value) : NULL;
  const char* t = text ? PyUnicode_AsUTF8(text) : NULL;
  snprintf(out, size, "%s: %s", type ? ((PyTypeObject*)type)->tp_name : "error", t ? t : "");
  hw_utf8_trim_cut(out);
  Py_XDECREF(text);
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  PyErr_Clear();
}

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
  PyObject* offset = NULL; /* an aware value's utcoffset(); None makes it naive, as astimezone() does */
  if (node->field->timezone && tzinfo != Py_None && tzinfo != PyDateTime_TimeZone_UTC) {
    offset = PyObject_CallMethod(v, "utcoffset", NULL); /* user tzinfo code; v is held by our caller */
    if (!offset) return value_error(node->field, v, "utcoffset() failed", err);
    if (offset == Py_None) {
      Py_CLEAR(offset);
      tzinfo = Py_None;
    } else if (!PyDelta_Check(offset)) {
      Py_DECREF(offset);
      return value_error(node->field, v, "utcoffset() did not return a timedelta", err);
    }
  }
  if (node->field->timezone && tzinfo == Py_None && PyDateTime_GET_YEAR(v) % 9998 == 1 &&
      ((PyDateTime_GET_YEAR(v) == 1 && PyDateTime_GET_MONTH(v) == 1 && PyDateTime_GET_DAY(v) <= 2) ||
       (PyDateTime_GET_YEAR(v) == 9999 && PyDateTime_GET_MONTH(v) == 12 && PyDateTime_GET_DAY(v) >= 30))) {
    /* local time within a day of datetime's range: Python's own astimezone(UTC), which PySpark
     * calls, decides (it refuses 0001-01-01 even where local time is UTC) */
    PyObject* utc = PyObject_CallMethod(v, "astimezone", "O", PyDateTime_TimeZone_UTC);
    if (!utc) {
      char detail[160];
      python_error_text(detail, sizeof detail);
      return value_error(node->field, v, detail, err);
    }
    int rc = append_timestamp(conv, node, utc, err);
    Py_DECREF(utc);
    return rc;
  }
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
  } else if (offset) {
    seconds -= (int64_t)PyDateTime_DELTA_GET_DAYS(offset) * 86400 + PyDateTime_DELTA_GET_SECONDS(offset);
    micros -= PyDateTime_DELTA_GET_MICROSECONDS(offset);
    Py_DECREF(offset);
  }
  /* PySpark's value.astimezone(UTC) raises OverflowError when the instant is outside the years
   * 1-9999; the naive local-time path likewise (mktime gives any year). */
  static const int64_t min_seconds = -62135596800LL;  /* 0001-01-01T00:00:00Z */
  static const int64_t max_seconds = 253402300799LL;  /* 9999-12-31T23:59:59Z */
  int64_t total_micros_s = seconds + (micros < 0 ? -1 : 0);
  if (node->field->timezone && (total_micros_s < min_seconds || total_micros_s > max_seconds))
    return value_error(node->field, v, "the instant in UTC is outside the years 1-9999 (date value out of range)", err);
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

/* A Decimal's sign, digits and exponent (decimal.Decimal.as_tuple, called unbound so a subclass's
 * as_tuple cannot lie), each checked: sign 0/1, digits a tuple of ints 0-9, exponent an int or
 * 'n'/'N'/'F'. Returns a new reference to the tuple, or NULL with err set. */
static PyObject* decimal_parts(hw_row_converter* conv, const hw_field* f, PyObject* v, hw_error* err) {
  PyObject* t = PyObject_CallMethodOneArg(conv->decimal_type, conv->as_tuple_name, v);
  if (!t) {
    value_error(f, v, "Decimal.as_tuple() failed", err);
    return NULL;
  }
  bool ok = PyTuple_Check(t) && PyTuple_GET_SIZE(t) == 3 && PyLong_CheckExact(PyTuple_GET_ITEM(t, 0)) &&
            PyTuple_Check(PyTuple_GET_ITEM(t, 1)) &&
            (PyLong_CheckExact(PyTuple_GET_ITEM(t, 2)) || PyUnicode_CheckExact(PyTuple_GET_ITEM(t, 2)));
  if (ok) {
    long sign = PyLong_AsLong(PyTuple_GET_ITEM(t, 0));
    ok = sign == 0 || sign == 1;
    PyObject* digits = PyTuple_GET_ITEM(t, 1);
    for (Py_ssize_t i = 0; ok && i < PyTuple_GET_SIZE(digits); i++) {
      PyObject* d = PyTuple_GET_ITEM(digits, i);
      long x = PyLong_CheckExact(d) ? PyLong_AsLong(d) : -1;
      ok = x >= 0 && x <= 9;
    }
  }
  PyErr_Clear();
  if (!ok) {
    Py_DECREF(t);
    value_error(f, v, "Decimal.as_tuple() is not (sign, digits, exponent)", err);
    return NULL;
  }
  return t;
}

/* Decimal -> unscaled 128-bit integer at the column's scale, exactly as PySpark's
 * value.quantize(Decimal('1E-s'), Context(prec=p, rounding=ROUND_HALF_EVEN)): rounding half to
 * even on the digit string (any number of digits, any exponent), then at most p digits.
 * Decimal('NaN')/sNaN is null, as in Spark; ints are not taken (PySpark refuses them). */
static int append_decimal(hw_row_converter* conv, const conv_node* node, PyObject* v, hw_error* err) {
  const hw_field* f = node->field;
  /* the real type, not isinstance: an object spoofing __class__ is not a Decimal */
  if (!PyObject_TypeCheck(v, (PyTypeObject*)conv->decimal_type)) return value_error(f, v, NULL, err);
  PyObject* t = decimal_parts(conv, f, v, err);
  if (!t) return -1;
  PyObject* exponent = PyTuple_GET_ITEM(t, 2);
  if (!PyLong_Check(exponent)) { /* 'n'/'N' (NaN) or 'F' (infinity) */
    int inf = PyUnicode_CompareWithASCIIString(exponent, "F") == 0;
    int nan = !inf && (PyUnicode_CompareWithASCIIString(exponent, "n") == 0 ||
                       PyUnicode_CompareWithASCIIString(exponent, "N") == 0);
    Py_DECREF(t);
    if (inf) return value_error(f, v, "infinity has no decimal value", err);
    if (!nan) return value_error(f, v, "Decimal.as_tuple() has an unknown exponent", err);
    if (!f->nullable) return value_error(f, v, "NaN is null and the field is NOT NULL", err);
    return hw_builder_append_null(node->builder) ? oom(err) : 0;
  }
  int sign = PyLong_AsLong(PyTuple_GET_ITEM(t, 0)) != 0;
  int overflow_exp = 0;
  long long exp = PyLong_AsLongLongAndOverflow(exponent, &overflow_exp);
  PyErr_Clear();
  PyObject* digits = PyTuple_GET_ITEM(t, 1);
  Py_ssize_t n = PyTuple_GET_SIZE(digits);
  /* skip leading zeros: the value is digits[first..n) * 10^exp */
  Py_ssize_t first = 0;
  while (first < n && PyLong_AsLong(PyTuple_GET_ITEM(digits, first)) == 0) first++;
  if (first == n) { /* zero, whatever its exponent: quantize gives 0 at the scale */
    Py_DECREF(t);
    return hw_builder_append_decimal128(node->builder, 0, 0) ? oom(err) : 0;
  }
  if (overflow_exp > 0) { /* a nonzero value times 10^(huge) */
    Py_DECREF(t);
    return value_error(f, v, "exceeds the precision", err);
  }
  /* digits kept at scale s: the value is D * 10^exp; at scale s the unscaled value is
   * D * 10^(exp + s). drop = -(exp + s) digits are rounded away when positive. */
  long long shift = overflow_exp < 0 ? LLONG_MIN / 2 : exp + f->scale;
  Py_ssize_t sig = n - first; /* significant digits */
  hw_u128 magnitude = 0;
  bool too_big = false;
  if (shift >= 0) {
    /* no rounding: sig digits followed by shift zeros must fit in p digits */
    if ((long long)sig + shift > f->precision) too_big = true;
    else {
      for (Py_ssize_t i = first; i < n; i++) magnitude = magnitude * 10 + (hw_u128)PyLong_AsLong(PyTuple_GET_ITEM(digits, i));
      magnitude *= pow10_u128((int)shift);
    }
  } else {
    long long drop = -shift; /* digits rounded away, from the right */
    Py_ssize_t keep = drop >= (long long)sig ? 0 : (Py_ssize_t)(sig - drop);
    if (keep > f->precision) too_big = true; /* rounding adds at most one digit: still too big */
    else {
      for (Py_ssize_t i = first; i < first + keep; i++)
        magnitude = magnitude * 10 + (hw_u128)PyLong_AsLong(PyTuple_GET_ITEM(digits, i));
      /* the first dropped digit (a virtual 0 when drop > sig) and whether anything after it is nonzero */
      int half = 0; /* 0: below half, 1: exactly half, 2: above half */
      if (drop <= (long long)sig) {
        long d0 = PyLong_AsLong(PyTuple_GET_ITEM(digits, first + keep));
        bool rest = false;
        for (Py_ssize_t i = first + keep + 1; i < n && !rest; i++) rest = PyLong_AsLong(PyTuple_GET_ITEM(digits, i)) != 0;
        half = d0 > 5 || (d0 == 5 && rest) ? 2 : d0 == 5 ? 1 : 0;
      }
      if (half == 2 || (half == 1 && (magnitude & 1))) magnitude += 1;
      if (magnitude >= pow10_u128(f->precision)) too_big = true;
    }
  }
  Py_DECREF(t);
  if (too_big) return value_error(f, v, "exceeds the precision", err);
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

/* Converting a value may run user code (__str__, __index__, utcoffset, __dict__ ...), which may
 * mutate or free the container the value came from. So every value handed to append_value is a
 * strong reference held for the call, containers are read by index with their size re-checked
 * after each element (as Python's own iteration does), and a dict that changes size while it is
 * converted is an error (Python raises "dictionary changed size during iteration"). */
static int container_mutated(hw_error* err, const char* what) {
  return hw_error_set(err, "HW_CONTAINER_MUTATED",
                      "the %s changed size while it was being converted (user code run by the conversion of one "
                      "of its values mutated it)",
                      what);
}

/* ARRAY takes a list or an array.array, as PySpark does (a tuple only for plain elements). */
static int append_list(hw_row_converter* conv, const conv_node* node, PyObject* v, hw_error* err) {
  PyObject* seq;
  if (PyList_CheckExact(v)) {
    Py_INCREF(v);
    seq = v;
  } else if (PyList_Check(v) || strcmp(Py_TYPE(v)->tp_name, "array.array") == 0 ||
             (PyTuple_Check(v) && plain_elements(&node->field->children[0]))) {
    seq = PySequence_List(v); /* a list subclass iterates by its own __iter__, as in PySpark */
    if (!seq) return value_error(node->field, v, NULL, err);
  } else {
    return value_error(node->field, v, "ARRAY takes a list", err);
  }
  /* Python's list iteration: by index while the index is below the current size */
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(seq); i++) {
    PyObject* item = PyList_GET_ITEM(seq, i);
    Py_INCREF(item);
    int rc = append_value(conv, &node->children[0], item, err);
    Py_DECREF(item);
    if (rc != 0) {
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

static int append_entry(hw_row_converter* conv, const conv_node* entries, PyObject* key, PyObject* value,
                        hw_error* err) {
  if (key == Py_None) return hw_error_set(err, "CANNOT_CONVERT_VALUE", "map keys cannot be null");
  if (append_value(conv, &entries->children[0], key, err) != 0) {
    path_prepend(conv, "key");
    return -1;
  }
  if (append_value(conv, &entries->children[1], value, err) != 0) {
    path_prepend(conv, "value");
    return -1;
  }
  return hw_builder_close_struct(entries->builder) ? oom(err) : 0;
}

static int append_map(hw_row_converter* conv, const conv_node* node, PyObject* v, hw_error* err) {
  if (!PyDict_Check(v)) return value_error(node->field, v, NULL, err);
  const conv_node* entries = &node->children[0];
  if (!PyDict_CheckExact(v)) {
    /* a dict subclass: its own items(), as PySpark's `for k, v in value.items()` */
    PyObject* items = PyObject_CallMethod(v, "items", NULL);
    PyObject* list = items ? PySequence_List(items) : NULL;
    Py_XDECREF(items);
    if (!list) return value_error(node->field, v, "items() failed", err);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
      PyObject* pair = PyList_GET_ITEM(list, i);
      if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
        Py_DECREF(list);
        return value_error(node->field, v, "items() did not give (key, value) pairs", err);
      }
      Py_INCREF(pair);
      int rc = append_entry(conv, entries, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1), err);
      Py_DECREF(pair);
      if (rc != 0) {
        Py_DECREF(list);
        return -1;
      }
    }
    Py_DECREF(list);
    return hw_builder_close_list(node->builder) ? oom(err) : 0;
  }
  Py_ssize_t size = PyDict_GET_SIZE(v);
  PyObject *key, *value;
  Py_ssize_t pos = 0;
  while (PyDict_Next(v, &pos, &key, &value)) {
    Py_INCREF(key);
    Py_INCREF(value);
    int rc = append_entry(conv, entries, key, value, err);
    Py_DECREF(key);
    Py_DECREF(value);
    if (rc != 0) return -1;
    if (PyDict_GET_SIZE(v) != size) return container_mutated(err, "dict");
  }
  if (PyDict_GET_SIZE(v) != size) return container_mutated(err, "dict");
  return hw_builder_close_list(node->builder) ? oom(err) : 0;
}

/* A child value of a struct, found by position or by name; value is borrowed and held here. */
static int append_field(hw_row_converter* conv, const conv_node* child, PyObject* value, hw_error* err) {
  Py_INCREF(value);
  int rc = append_value(conv, child, value, err);
  Py_DECREF(value);
  if (rc != 0) {
    path_prepend(conv, child->field->name ? child->field->name : "");
    return -1;
  }
  return 0;
}

/* A dict's value for a field name: a new reference (None when missing), or NULL on error. Exact
 * dicts are read directly; a subclass through its get(), as PySpark's value.get(field). */
static PyObject* dict_get(PyObject* dict, PyObject* name) {
  if (!PyDict_CheckExact(dict)) return PyObject_CallMethod(dict, "get", "O", name);
  PyObject* item = PyDict_GetItemWithError(dict, name); /* borrowed: taken at once */
  if (!item) return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
  return Py_NewRef(item);
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
    /* a tuple cannot change size; v is held by our caller and holds its items */
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
    PyObject* item = dict_get(dict, node->children[i].name); /* new reference; missing -> None */
    if (!item) {
      Py_DECREF(dict);
      return value_error(node->field, v, "field lookup failed", err);
    }
    int rc = append_field(conv, &node->children[i], item, err);
    Py_DECREF(item);
    if (rc != 0) {
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
  /* Spark: set(__fields__) must equal the schema's names; so every name is a schema name */
  for (Py_ssize_t i = 0; i < n; i++) {
    bool known = false;
    for (int32_t c = 0; !known && PyUnicode_Check(items[i]) && c < conv->width; c++)
      known = PyUnicode_Compare(items[i], PyTuple_GET_ITEM(conv->all_names, c)) == 0;
    PyErr_Clear();
    if (!known) {
      Py_DECREF(seq);
      Py_CLEAR(conv->cached_names);
      return names_mismatch(conv, names, err);
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

/* The position of source column c in a named row of size n, or -1 with err set: __fields__ may
 * name a position the tuple does not have (a tuple subclass with a longer __fields__). */
static Py_ssize_t named_position(hw_row_converter* conv, int32_t c, Py_ssize_t n, hw_error* err) {
  Py_ssize_t pos = conv->name_positions[c];
  if (pos >= 0 && pos < n) return pos;
  hw_error_set(err, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH",
               "Return schema mismatch in the result from 'read' method: the row's __fields__ puts column %d at "
               "position %zd, but the row has %zd values.",
               (int)c, pos, n);
  return -1;
}

/* Spark's checks of a row, in Spark's order: width first (anything with a length), then the kind
 * (tuple or list; a Row is a tuple), then the names of a named Row (the same set as the schema's). */
/* A dict row: each column's value by its name (missing keys are null). */
static int append_dict_row(hw_row_converter* conv, PyObject* row, hw_error* err) {
  const conv_node* root = &conv->root;
  for (int32_t c = 0; c < root->n_children; c++) {
    PyObject* v = dict_get(row, root->children[c].name); /* new reference; missing -> None */
    if (!v) {
      PyErr_Clear(); /* a key's __eq__ raised */
      err->column = c;
      return hw_error_set(err, "HW_INTERNAL", "looking up the column in a dict row raised");
    }
    int rc = append_value(conv, &root->children[c], v, err);
    Py_DECREF(v);
    if (rc != 0) {
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
  if (names) {
    int rc = named_row_positions(conv, names, err);
    Py_DECREF(names);
    if (rc != 0) return -1;
  }
  /* A tuple's items cannot change; a list row can be mutated by user code its values run, so each
   * value is a strong reference and the list's size is re-checked before each read. */
  for (int32_t c = 0; c < root->n_children; c++) {
    Py_ssize_t size = PySequence_Fast_GET_SIZE(row);
    if (size != n) {
      err->column = c;
      return container_mutated(err, "row");
    }
    Py_ssize_t pos = conv->source_column[c];
    if (names && (pos = named_position(conv, conv->source_column[c], size, err)) < 0) return -1;
    PyObject* v = PySequence_Fast_GET_ITEM(row, pos);
    Py_INCREF(v);
    int rc = append_value(conv, &root->children[c], v, err);
    Py_DECREF(v);
    if (rc != 0) {
      err->column = c;
      return -1;
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
  conv->as_tuple_name = PyUnicode_InternFromString("as_tuple");
  if (!conv->name_positions || !conv->decimal_type || !conv->as_tuple_name || !conv->source_column || !conv->all_names) {
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
  Py_CLEAR(conv->as_tuple_name);
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
