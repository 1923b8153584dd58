/*
 * Python rows -> Arrow record batches, in C.
 *
 * A data source's read() yields rows (tuples, lists, Rows); the converter
 * appends each value to the builder of its column, following Spark's
 * coercions, and closes a batch when the caller asks. This is the per-row
 * hot path: no Python code of ours runs per row or per value.
 *
 * Every function here touches Python objects and needs the GIL, except
 * hw_row_converter_finish, which is pure C.
 */
#ifndef HW_PYEXEC_ROWS_TO_ARROW_H
#define HW_PYEXEC_ROWS_TO_ARROW_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>

#include "arrow/allocator.h"
#include "schema/field.h"

typedef struct hw_row_converter hw_row_converter;

/* Makes a converter for rows of schema (a struct field; copied). Rows are checked against the whole
 * schema (width, names of named Rows), but only the columns at columns[0..n_columns) are converted,
 * in that order (column pruning; NULL columns: all). Buffers come from allocator, which must outlive
 * the converter and the batches it finishes. source_name names the data source in messages. GIL. */
int hw_row_converter_new(hw_row_converter** out, const hw_field* schema, const int32_t* columns, int32_t n_columns,
                         const hw_allocator* allocator, const char* source_name, hw_error* err);

/* Frees the converter and anything appended but not finished. GIL. */
void hw_row_converter_free(hw_row_converter* conv);

/* Sets the partition named in errors and restarts row numbering at 0. */
void hw_row_converter_start_partition(hw_row_converter* conv, int64_t partition);

/* Also accept a dict as a row, its values matched to the schema's field names (a missing key is
 * null, extra keys are ignored), as PySpark's createDataFrame does. Off by default: a data source's
 * read() may not yield dicts. */
void hw_row_converter_accept_dicts(hw_row_converter* conv, bool accept);

/* Appends one row. On error, err names the partition, row, column, expected type and the value;
 * the current batch is then unusable (the query fails). GIL. */
int hw_row_converter_append(hw_row_converter* conv, PyObject* row, hw_error* err);

/* Rows appended since the last finish. */
int64_t hw_row_converter_rows(const hw_row_converter* conv);

/* Makes room for rows more rows in the fixed-width buffers (a batch's worth, so they are not
 * regrown and copied while it fills). */
void hw_row_converter_reserve(hw_row_converter* conv, int64_t rows);

/* Bytes of Arrow buffers in use for the rows appended since the last finish. */
int64_t hw_row_converter_bytes(const hw_row_converter* conv);

/* Moves the rows appended so far into out as a record batch (a struct array). No GIL needed. */
int hw_row_converter_finish(hw_row_converter* conv, struct ArrowArray* out, hw_error* err);

/* A Python object's type name as Python prints type(o).__name__ ("RecordBatch", not
 * "pyarrow.lib.RecordBatch"). */
const char* hw_type_name(PyObject* o);


#endif
