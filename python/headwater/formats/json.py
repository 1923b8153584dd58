"""The ``json`` format: JSON lines (one object per line), read and written by DuckDB.

Inferred schemas follow Spark: every line is read; integers are bigint, other numbers double,
objects structs (never maps), fields sorted by name at every level, strings stay strings (Spark infers
no dates or timestamps from JSON by default) and a field that is only ever null is a string. A user
schema (``.schema(...)``) maps fields by name and reads maps, binary (base64, as Spark writes it),
dates, timestamps and decimals."""

from __future__ import annotations

from typing import Dict, Iterator, List, Optional

import pyarrow as pa

from headwater.errors import AnalysisException
from headwater.formats._base import FileFormat, unsupported_type
from headwater.formats._files import spark_error
from headwater.formats._duck import (
    columns_literal, connect, duck_type, ident, lit, select_list, stream, text_codec, timestamp_text, transform,
)

__all__ = ["JSON"]

_JSON_OPTS = "format='newline_delimited'"


def _spark_inferred(t: pa.DataType) -> pa.DataType:
    """Spark's inferred type for what DuckDB found in JSON text."""
    if pa.types.is_integer(t) or (pa.types.is_decimal(t) and t.scale == 0):  # DuckDB: HUGEINT for mixed signs
        return pa.int64()
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return pa.float64()
    if pa.types.is_boolean(t):
        return t
    if pa.types.is_struct(t):
        return pa.struct(sorted((pa.field(f.name, _spark_inferred(f.type)) for f in t), key=lambda f: f.name))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(pa.field("element", _spark_inferred(t.value_type)))
    return pa.string()  # strings, and what DuckDB made of strings (dates, times, uuids), nulls, JSON


def _to_text(expr: str, t: pa.DataType) -> Optional[str]:
    """Spark's JSON form of a value, at any depth: timestamps as text, binary as base64, NaN and
    the infinities as strings; None: DuckDB's own form is Spark's."""
    if pa.types.is_timestamp(t):
        return timestamp_text(expr, bool(t.tz))
    if t.equals(pa.binary()):
        return f"base64({expr})"
    if pa.types.is_floating(t):
        return (f"CASE WHEN isnan({expr}) THEN '\"NaN\"'::JSON WHEN isinf({expr}) AND {expr} > 0 "
                f"THEN '\"Infinity\"'::JSON WHEN isinf({expr}) THEN '\"-Infinity\"'::JSON ELSE to_json({expr}) END")
    return None


def _from_text(expr: str, t: pa.DataType) -> Optional[str]:
    """Binary is read as text (base64) and decoded; DuckDB parses the rest by the column types."""
    return f"from_base64({expr})" if t.equals(pa.binary()) else None


class JSON(FileFormat):
    label = "JSON"
    extension = ".json"

    def file_extension(self) -> str:
        return self.extension + text_codec(self._options())[0]  # option compression: gzip, zstd

    @classmethod
    def name(cls) -> str:
        return "json"

    def infer(self, files: List[str]) -> pa.Schema:
        con = connect()
        try:
            found = con.execute(
                f"SELECT * FROM read_json([{', '.join(lit(f) for f in files)}], {_JSON_OPTS}, sample_size=-1, "
                "maximum_depth=-1, map_inference_threshold=-1) LIMIT 0"
            ).to_arrow_table().schema
        except Exception as e:
            raise spark_error(AnalysisException(
                f"Unable to infer schema for JSON from {files[0]}: {e}", "UNABLE_TO_INFER_SCHEMA")) from e
        finally:
            con.close()
        return pa.schema(sorted((pa.field(f.name, _spark_inferred(f.type)) for f in found), key=lambda f: f.name))

    def check_writable(self, schema: pa.Schema) -> None:
        for f in schema:
            try:
                duck_type(f.type)
            except TypeError:
                raise unsupported_type(self.label, f) from None

    @classmethod
    def read_file(cls, path: str, schema: pa.Schema, options: Dict[str, str],
                  batch_rows: int) -> Iterator[pa.RecordBatch]:
        exprs = [transform(ident(f.name), f.type, _from_text) or ident(f.name) for f in schema]
        sql = (f"SELECT {select_list(schema.names, exprs)} FROM read_json({lit(path)}, {_JSON_OPTS}, "
               f"columns={columns_literal(schema, binary_as_text=True)})")
        return stream(connect(), sql, batch_rows, schema)

    @classmethod
    def write_file(cls, path: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch],
                   options: Dict[str, str]) -> None:
        exprs = [transform(ident(f.name), f.type, _to_text) or ident(f.name) for f in schema]
        con = connect()
        try:
            con.register("batches", pa.RecordBatchReader.from_batches(schema, batches))
            con.execute(f"COPY (SELECT {select_list(schema.names, exprs)} FROM batches) TO {lit(path)} "
                        f"(FORMAT JSON, COMPRESSION {text_codec(options)[1]})")
        finally:
            con.close()
