/* Spark's JSON schema parser (src/schema/spark_json.c): any bytes as a JSON schema. What parses is
 * rendered back to JSON and DDL; the rendered JSON must parse again to the same tree. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  char* json = fuzz_cstring(data, size);
  if (!json) return 0;
  hw_error err;
  hw_error_init(&err);
  hw_field f;
  if (hw_spark_json_parse(json, &f, &err) == 0) {
    char* rendered = NULL;
    if (hw_spark_json_render(&f, &rendered, &err) == 0) {
      hw_field again;
      FUZZ_CHECK(hw_spark_json_parse(rendered, &again, &err) == 0);
      FUZZ_CHECK(hw_field_equal(&f, &again));
      hw_field_release(&again);
      hw_free(rendered);
    }
    char* ddl = NULL;
    if (hw_ddl_render(&f, &ddl, &err) == 0) hw_free(ddl);
    hw_field_release(&f);
  }
  free(json);
  return 0;
}
