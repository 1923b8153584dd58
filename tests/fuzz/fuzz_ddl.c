/* The Spark DDL parser (src/schema/ddl_parse.c): any bytes as a DDL string. What parses is
 * rendered back (DDL, simpleString, Arrow C schema) and the rendered DDL must parse again to the
 * same tree. */
#include "fuzz_common.h"

#include "arrow/array.h"

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  char* ddl = fuzz_cstring(data, size);
  if (!ddl) return 0;
  hw_error err;
  hw_error_init(&err);
  hw_field f;
  if (hw_ddl_parse(ddl, &f, &err) == 0) {
    char* rendered = NULL;
    if (hw_ddl_render(&f, &rendered, &err) == 0) {
      hw_field again;
      /* what we render, we parse back to the same tree */
      FUZZ_CHECK(hw_ddl_parse(rendered, &again, &err) == 0);
      FUZZ_CHECK(hw_field_equal(&f, &again));
      hw_field_release(&again);
      hw_free(rendered);
    }
    char* simple = NULL;
    if (hw_simple_string(&f, &simple, &err) == 0) hw_free(simple);
    struct ArrowSchema schema;
    if (hw_field_to_arrow(&f, &schema, &err) == 0) {
      hw_field back;
      if (hw_field_from_arrow(&schema, &back, &err) == 0) hw_field_release(&back);
      hw_schema_release(&schema);
    }
    hw_field_release(&f);
  }
  free(ddl);
  return 0;
}
