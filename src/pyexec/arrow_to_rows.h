/*
 * Arrow record batches -> Python Row objects, in C: what collect() returns
 * and what a DataSourceWriter's write(iterator) receives.
 *
 * Values come out as PySpark gives them: structs as Rows, maps as dicts,
 * arrays as lists, binary as bytes (Spark 4's binaryAsBytes default), decimals as Decimal, dates as date,
 * TIMESTAMP as a naive datetime in the process's local time zone and
 * TIMESTAMP_NTZ as a naive datetime. Needs the GIL.
 */
#ifndef HW_PYEXEC_ARROW_TO_ROWS_H
#define HW_PYEXEC_ARROW_TO_ROWS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "schema/field.h"

/*
 * Appends one Row per row of batch (a struct array of schema) to list. row_type is the Row class
 * (a tuple subclass; each row gets the shared list of field names as __fields__). GIL.
 */
int hw_arrow_to_rows(const hw_field* schema, const struct ArrowArray* batch, PyObject* row_type, PyObject* list,
                     hw_error* err);

#endif
