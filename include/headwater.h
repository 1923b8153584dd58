/*
 * headwater: a C runtime for Python data sources.
 *
 * This is the public C API. It exposes the Arrow C Data Interface structs
 * (as defined by the Arrow specification, so they are ABI-compatible with
 * every other Arrow implementation), headwater's error struct and the schema
 * functions. Later versions add scans that native engines pull as
 * ArrowArrayStreams.
 *
 * Conventions: functions that can fail return int (0 = ok, -1 = error) and
 * fill the hw_error the caller passes. Strings returned through char** are
 * owned by the caller and freed with hw_free().
 */
#ifndef HEADWATER_H
#define HEADWATER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HW_VERSION_MAJOR 0
#define HW_VERSION_MINOR 1
#define HW_VERSION_PATCH 0
#define HW_VERSION_STRING "0.1.0"

/* ---- Arrow C Data Interface (ABI from the Arrow specification) ---- */
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  const char* format;
  const char* name;
  const char* metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema** children;
  struct ArrowSchema* dictionary;
  void (*release)(struct ArrowSchema*);
  void* private_data;
};

struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void** buffers;
  struct ArrowArray** children;
  struct ArrowArray* dictionary;
  void (*release)(struct ArrowArray*);
  void* private_data;
};

#endif /* ARROW_C_DATA_INTERFACE */

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE

struct ArrowArrayStream {
  int (*get_schema)(struct ArrowArrayStream*, struct ArrowSchema* out);
  int (*get_next)(struct ArrowArrayStream*, struct ArrowArray* out);
  const char* (*get_last_error)(struct ArrowArrayStream*);
  void (*release)(struct ArrowArrayStream*);
  void* private_data;
};

#endif /* ARROW_C_STREAM_INTERFACE */

/* ---- Errors ---- */

/*
 * An error as headwater reports it: Spark's error class (empty when the
 * failure has none), a message, and where it happened. Fixed-size so that
 * filling it never allocates on an error path.
 */
typedef struct hw_error {
  char error_class[96];
  char message[2048];
  int64_t partition; /* -1 when not about a partition */
  int64_t row;       /* -1 when not about a row (row number within the partition) */
  int32_t column;    /* -1 when not about a column */
} hw_error;

/* Resets err to "no error" (empty class and message, positions -1). */
void hw_error_init(hw_error* err);

/* ---- Library ---- */

const char* hw_version(void);

/* Frees memory headwater handed to the caller (strings from the functions below). */
void hw_free(void* ptr);

/* ---- Schemas ---- */

/*
 * Parses Spark DDL ("a INT, b STRUCT<c: STRING>" or a single type such as
 * "ARRAY<INT>") into an Arrow schema. out is written only on success and is
 * then owned by the caller (call out->release). Syntax errors carry
 * "line:column: expected ..." messages.
 */
int hw_schema_from_ddl(const char* ddl, struct ArrowSchema* out, hw_error* err);

/* Renders an Arrow struct schema as Spark DDL ("a INT NOT NULL, b STRING"). *out: caller frees with hw_free. */
int hw_schema_to_ddl(const struct ArrowSchema* schema, char** out, hw_error* err);

/* Renders an Arrow schema as Spark's simpleString ("struct<a:int,b:string>"). *out: caller frees with hw_free. */
int hw_schema_to_simple_string(const struct ArrowSchema* schema, char** out, hw_error* err);

#ifdef __cplusplus
}
#endif

#endif /* HEADWATER_H */
