/*
 * Checks of the RecordBatches a data source yields itself: they pass through
 * without copying, after their columns are matched to the declared schema.
 * Pure C: no Python, no GIL needed.
 */
#ifndef HW_CONVERT_BATCH_CHECK_H
#define HW_CONVERT_BATCH_CHECK_H

#include "schema/field.h"

/*
 * Matches a batch (array, of schema `got`) to the declared schema: same number of columns, every
 * declared column present by name (as Spark checks), each of the declared type (nullability
 * aside; large_string/large_binary columns are taken for string/binary, their offsets narrowed to
 * 32 bits: the one copy). Columns in another order are put in schema order without copying. On success the array
 * is moved into out; on failure it is left to the caller and err names the column and both types.
 * columns (strictly ascending positions in schema; NULL: all) keeps only those columns in out, without
 * copying: every column is still checked.
 * exact (Spark API readers): the batch's schema must equal the declared one as PySpark 4.3 checks
 * the first batch (pyarrow Schema.equals: the same columns in the same order, the same types, large
 * types not taken for small ones, the same nullability of each column).
 */
int hw_batch_conform(const hw_field* schema, const hw_field* got, const int32_t* columns, int32_t n_columns,
                     bool exact, struct ArrowArray* array, struct ArrowArray* out, hw_error* err);

#endif
