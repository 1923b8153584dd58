/* The public schema functions of include/headwater.h, on top of hw_field. */
#include "common/error.h"
#include "schema/field.h"

int hw_schema_from_ddl(const char* ddl, struct ArrowSchema* out, hw_error* err) {
  hw_field f;
  if (hw_ddl_parse(ddl, &f, err) != 0) return -1;
  int rc = hw_field_to_arrow(&f, out, err);
  hw_field_release(&f);
  return rc;
}

typedef int (*render_fn)(const hw_field*, char**, hw_error*);

static int render_arrow(const struct ArrowSchema* schema, render_fn render, char** out, hw_error* err) {
  hw_field f;
  if (hw_field_from_arrow(schema, &f, err) != 0) return -1;
  int rc = render(&f, out, err);
  hw_field_release(&f);
  return rc;
}

int hw_schema_to_ddl(const struct ArrowSchema* schema, char** out, hw_error* err) {
  return render_arrow(schema, hw_ddl_render, out, err);
}

int hw_schema_to_simple_string(const struct ArrowSchema* schema, char** out, hw_error* err) {
  return render_arrow(schema, hw_simple_string, out, err);
}
