/* The SETUP message decoder (hw_msg_setup_decode, src/ipc/messages.c) and what a worker does next with
 * it (src/pyexec/worker.c handle_setup): parse the Spark JSON schema, project the columns. */
#include "fuzz_common.h"

#include "ipc/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint8_t* p = fuzz_exact_copy(data, size);
  if (!p) return 0;
  hw_error err;
  hw_error_init(&err);
  hw_msg_setup m;
  if (hw_msg_setup_decode(p, size, &m, &err) == 0) {
    FUZZ_CHECK(m.n_columns >= -1 && m.n_columns <= INT32_MAX);
    FUZZ_CHECK(m.schema_json >= p && m.n_schema_json <= size && m.reader >= p && m.n_reader <= size);
    FUZZ_CHECK(m.name >= p && m.n_name <= size);
    FUZZ_CHECK(m.columns + 8 * (size_t)(m.n_columns > 0 ? m.n_columns : 0) + 8 == p + size); /* + exact_batches */
    volatile uint8_t sum = 0;
    for (size_t i = 0; i < m.n_reader; i++) sum += m.reader[i];
    for (size_t i = 0; i < m.n_name; i++) sum += m.name[i];
    int32_t* columns = m.n_columns >= 0 ? malloc(sizeof *columns * (size_t)(m.n_columns > 0 ? m.n_columns : 1))
                                        : NULL;
    for (int64_t i = 0; columns && i < m.n_columns; i++) columns[i] = hw_msg_setup_column(&m, i);
    char* json = strndup((const char*)m.schema_json, m.n_schema_json);
    hw_field schema, out;
    if (json && hw_spark_json_parse(json, &schema, &err) == 0) {
      if (hw_field_project(&out, &schema, columns, m.n_columns > 0 ? (int32_t)m.n_columns : 0, &err) == 0)
        hw_field_release(&out);
      hw_field_release(&schema);
    }
    free(json);
    free(columns);
  }
  free(p);
  return 0;
}
