#include "pyexec/arrow_to_rows.h"

#include <datetime.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/error.h"

__extension__ typedef __int128 hw_i128;
__extension__ typedef unsigned __int128 hw_u128;

typedef struct ctx {
  PyObject* row_type;
  PyObject* decimal_type;
  PyObject* fields_attr; /* "__fields__" */
  hw_error* err;
} ctx;

/* The schema tree with, for each struct, the list of names its Rows share as __fields__. */
typedef struct node {
  const hw_field* f;
  PyObject* names; /* structs only */
  int32_t n_children;
  struct node* children;
} node;

static void node_free(node* n) {
  for (int32_t i = 0; i < n->n_children; i++) node_free(&n->children[i]);
  PyMem_Free(n->children);
  Py_CLEAR(n->names);
}

static int node_init(node* n, const hw_field* f) {
  memset(n, 0, sizeof *n);
  n->f = f;
  if (f->type == HW_TYPE_STRUCT) {
    n->names = PyList_New(f->n_children);
    if (!n->names) return -1;
    for (int32_t i = 0; i < f->n_children; i++) {
      PyObject* s = PyUnicode_FromString(f->children[i].name ? f->children[i].name : "");
      if (!s) return -1;
      PyList_SET_ITEM(n->names, i, s);
    }
  }
  if (f->n_children == 0) return 0;
  n->children = PyMem_Calloc((size_t)f->n_children, sizeof *n->children);
  if (!n->children) return -1;
  n->n_children = f->n_children;
  for (int32_t i = 0; i < f->n_children; i++)
    if (node_init(&n->children[i], &f->children[i]) != 0) return -1;
  return 0;
}

static PyObject* value_at(ctx* c, const node* n, const struct ArrowArray* a, int64_t index);

static bool is_valid(const struct ArrowArray* a, int64_t physical) {
  if (a->null_count == 0 || a->n_buffers == 0 || !a->buffers[0]) return true;
  const uint8_t* bits = a->buffers[0];
  return (bits[physical >> 3] >> (physical & 7)) & 1;
}

/* Days since 1970-01-01 -> proleptic Gregorian y/m/d. */
static void civil_from_days(int64_t z, int* y, int* m, int* d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

static PyObject* make_date(ctx* c, int64_t days) {
  int y, m, d;
  civil_from_days(days, &y, &m, &d);
  if (y < 1 || y > 9999) {
    hw_error_set(c->err, "DATETIME_OVERFLOW", "date out of Python's range (year %d)", y);
    return NULL;
  }
  return PyDate_FromDate(y, m, d);
}

static const int64_t per_second[] = {1, 1000, 1000000, 1000000000};

/* TIMESTAMP: an instant shown in local time, naive (as PySpark's collect does); TIMESTAMP_NTZ:
 * the wall-clock time as stored. */
static PyObject* make_timestamp(ctx* c, const hw_field* f, int64_t value) {
  int64_t unit = per_second[f->unit];
  int64_t seconds = floor_div(value, unit);
  int64_t fraction = value - seconds * unit;
  int micros = (int)(unit >= 1000000 ? fraction / (unit / 1000000) : fraction * (1000000 / unit));
  int y, mo, d, h, mi, s;
  if (f->timezone) {
    time_t t = (time_t)seconds;
    struct tm tm;
    if (!localtime_r(&t, &tm)) {
      hw_error_set(c->err, "DATETIME_OVERFLOW", "timestamp %lld out of range", (long long)value);
      return NULL;
    }
    y = tm.tm_year + 1900, mo = tm.tm_mon + 1, d = tm.tm_mday, h = tm.tm_hour, mi = tm.tm_min, s = tm.tm_sec;
  } else {
    int64_t days = floor_div(seconds, 86400);
    int64_t rest = seconds - days * 86400;
    civil_from_days(days, &y, &mo, &d);
    h = (int)(rest / 3600), mi = (int)(rest % 3600 / 60), s = (int)(rest % 60);
  }
  if (y < 1 || y > 9999) {
    hw_error_set(c->err, "DATETIME_OVERFLOW", "timestamp out of Python's range (year %d)", y);
    return NULL;
  }
  return PyDateTime_FromDateAndTime(y, mo, d, h, mi, s, micros);
}

static PyObject* make_decimal(ctx* c, const hw_field* f, const uint8_t* bytes) {
  uint64_t lo, hi;
  memcpy(&lo, bytes, 8);
  memcpy(&hi, bytes + 8, 8);
  hw_i128 v = (hw_i128)(((hw_u128)hi << 64) | lo);
  char digits[64];
  int n = 0;
  hw_u128 mag = v < 0 ? (hw_u128)0 - (hw_u128)v : (hw_u128)v;
  do {
    digits[n++] = (char)('0' + (int)(mag % 10));
    mag /= 10;
  } while (mag);
  while (n <= f->scale) digits[n++] = '0'; /* at least one digit before the point */
  char text[80];
  int k = 0;
  if (v < 0) text[k++] = '-';
  for (int i = n - 1; i >= 0; i--) {
    text[k++] = digits[i];
    if (i == f->scale && i > 0) text[k++] = '.';
  }
  text[k] = '\0';
  return PyObject_CallFunction(c->decimal_type, "s", text);
}

/* A struct value: a Row of its fields, by position, with the shared names as __fields__. */
static PyObject* make_row(ctx* c, const node* n, const struct ArrowArray* a, int64_t index) {
  PyTypeObject* type = (PyTypeObject*)c->row_type;
  PyObject* row = type->tp_alloc(type, n->n_children);
  if (!row) return NULL;
  for (int32_t i = 0; i < n->n_children; i++) {
    PyObject* v = value_at(c, &n->children[i], a->children[i], a->offset + index);
    if (!v) {
      Py_DECREF(row);
      return NULL;
    }
    PyTuple_SET_ITEM(row, i, v);
  }
  if (PyObject_GenericSetAttr(row, c->fields_attr, n->names) != 0) Py_CLEAR(row);
  return row;
}

static PyObject* value_at(ctx* c, const node* n, const struct ArrowArray* a, int64_t index) {
  const hw_field* f = n->f;
  int64_t p = a->offset + index;
  if (f->type == HW_TYPE_NULL || !is_valid(a, p)) Py_RETURN_NONE;
  const void* values = a->n_buffers > 1 ? a->buffers[1] : NULL;
  switch (f->type) {
    case HW_TYPE_NULL: Py_RETURN_NONE;
    case HW_TYPE_BOOL: return PyBool_FromLong((((const uint8_t*)values)[p >> 3] >> (p & 7)) & 1);
    case HW_TYPE_INT8: return PyLong_FromLong(((const int8_t*)values)[p]);
    case HW_TYPE_INT16: return PyLong_FromLong(((const int16_t*)values)[p]);
    case HW_TYPE_INT32: return PyLong_FromLong(((const int32_t*)values)[p]);
    case HW_TYPE_INT64: return PyLong_FromLongLong(((const int64_t*)values)[p]);
    case HW_TYPE_UINT8: return PyLong_FromUnsignedLong(((const uint8_t*)values)[p]);
    case HW_TYPE_UINT16: return PyLong_FromUnsignedLong(((const uint16_t*)values)[p]);
    case HW_TYPE_UINT32: return PyLong_FromUnsignedLong(((const uint32_t*)values)[p]);
    case HW_TYPE_UINT64: return PyLong_FromUnsignedLongLong(((const uint64_t*)values)[p]);
    case HW_TYPE_FLOAT32: return PyFloat_FromDouble(((const float*)values)[p]);
    case HW_TYPE_FLOAT64: return PyFloat_FromDouble(((const double*)values)[p]);
    case HW_TYPE_UTF8:
    case HW_TYPE_BINARY: {
      const int32_t* off = values;
      const char* data = a->buffers[2];
      if (f->type == HW_TYPE_UTF8) return PyUnicode_DecodeUTF8(data + off[p], off[p + 1] - off[p], "replace");
      return PyBytes_FromStringAndSize(data + off[p], off[p + 1] - off[p]);
    }
    case HW_TYPE_LARGE_UTF8:
    case HW_TYPE_LARGE_BINARY: {
      const int64_t* off = values;
      const char* data = a->buffers[2];
      if (f->type == HW_TYPE_LARGE_UTF8) return PyUnicode_DecodeUTF8(data + off[p], off[p + 1] - off[p], "replace");
      return PyBytes_FromStringAndSize(data + off[p], off[p + 1] - off[p]);
    }
    case HW_TYPE_DATE32: return make_date(c, ((const int32_t*)values)[p]);
    case HW_TYPE_TIMESTAMP: return make_timestamp(c, f, ((const int64_t*)values)[p]);
    case HW_TYPE_DECIMAL128: return make_decimal(c, f, (const uint8_t*)values + 16 * p);
    case HW_TYPE_LIST: {
      const int32_t* off = values;
      PyObject* list = PyList_New(off[p + 1] - off[p]);
      for (int32_t i = off[p]; list && i < off[p + 1]; i++) {
        PyObject* v = value_at(c, &n->children[0], a->children[0], i);
        if (!v) Py_CLEAR(list);
        else PyList_SET_ITEM(list, i - off[p], v);
      }
      return list;
    }
    case HW_TYPE_MAP: {
      const int32_t* off = values;
      const struct ArrowArray* entries = a->children[0];
      const node* en = &n->children[0];
      PyObject* dict = PyDict_New();
      for (int32_t i = off[p]; dict && i < off[p + 1]; i++) {
        PyObject* k = value_at(c, &en->children[0], entries->children[0], entries->offset + i);
        PyObject* v = k ? value_at(c, &en->children[1], entries->children[1], entries->offset + i) : NULL;
        if (!v || PyDict_SetItem(dict, k, v) != 0) Py_CLEAR(dict);
        Py_XDECREF(k);
        Py_XDECREF(v);
      }
      return dict;
    }
    case HW_TYPE_STRUCT: return make_row(c, n, a, index);
  }
  hw_error_set(c->err, "UNSUPPORTED_DATATYPE", "cannot convert this Arrow type to Python");
  return NULL;
}

int hw_arrow_to_rows(const hw_field* schema, const struct ArrowArray* batch, PyObject* row_type, PyObject* list,
                     hw_error* err) {
  if (schema->type != HW_TYPE_STRUCT || batch->n_children != schema->n_children)
    return hw_error_set(err, "HW_INVALID_ARGUMENT", "rows need a record batch of the schema's %d columns",
                        schema->n_children);
  if (!PyDateTimeAPI) {
    PyDateTime_IMPORT;
    if (!PyDateTimeAPI) return hw_error_set(err, "HW_INTERNAL", "cannot import datetime");
  }
  PyObject* decimal = PyImport_ImportModule("decimal");
  ctx c = {row_type, decimal ? PyObject_GetAttrString(decimal, "Decimal") : NULL,
           PyUnicode_InternFromString("__fields__"), err};
  Py_XDECREF(decimal);
  node root;
  memset(&root, 0, sizeof root);
  int rc = -1;
  if (c.decimal_type && c.fields_attr && node_init(&root, schema) == 0) {
    rc = 0;
    /* No cyclic GC while a batch's Rows are built: each Row (and its __dict__) is a tracked
     * allocation, so collections would run every few hundred rows and each would walk the growing
     * list again (measured: ~7x the conversion's own time). None of this can be cyclic garbage;
     * the counts stay, so the collector runs once after the batch. */
    int gc_was_enabled = PyGC_Disable();
    for (int64_t i = 0; i < batch->length && rc == 0; i++) {
      PyObject* row = make_row(&c, &root, batch, i);
      if (!row || PyList_Append(list, row) != 0) rc = -1;
      Py_XDECREF(row);
    }
    if (gc_was_enabled) PyGC_Enable();
  }
  node_free(&root);
  Py_XDECREF(c.decimal_type);
  Py_XDECREF(c.fields_attr);
  if (rc != 0 && !err->message[0]) hw_error_set(err, "HW_INTERNAL", "converting Arrow to rows failed");
  return rc;
}
