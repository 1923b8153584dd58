"""The ``csv`` format, read and written by DuckDB with Spark's defaults and options.

Options (Spark's names and defaults): ``header`` (false: columns ``_c0``, ``_c1``, ...), ``sep`` or
``delimiter`` (``,``), ``quote`` (``"``), ``escape`` (``\\``), ``nullValue`` (empty), ``inferSchema``
(false: every column a string; true: int, bigint, double, boolean, date, timestamp or string, from
all the data). A user schema (``.schema(...)``) maps the columns by position, as Spark does."""

from __future__ import annotations

from typing import Dict, Iterator, List

import pyarrow as pa

from headwater.errors import AnalysisException
from headwater.formats._base import FileFormat, unsupported_type
from headwater.formats._files import spark_error
from headwater.formats._duck import (
    columns_literal, connect, duck_type, ident, lit, select_list, stream, text_codec, timestamp_text,
)

__all__ = ["CSV"]


def _flag(options: Dict[str, str], key: str) -> bool:
    return str(options.get(key, "false")).strip().lower() == "true"


def _dialect(options: Dict[str, str]) -> str:
    """The read_csv arguments for the options, as SQL."""
    sep = options.get("sep", options.get("delimiter", ","))
    return (f"header={str(_flag(options, 'header')).lower()}, delim={lit(sep)}, "
            f"quote={lit(options.get('quote', chr(34)))}, "
            f"escape={lit(options.get('escape', chr(92)))}, nullstr={lit(options.get('nullvalue', ''))}")


def _files_literal(files: List[str]) -> str:
    return "[" + ", ".join(lit(f) for f in files) + "]"


class CSV(FileFormat):
    label = "CSV"
    extension = ".csv"

    def file_extension(self) -> str:
        return self.extension + text_codec(self._options())[0]  # option compression: gzip, zstd

    @classmethod
    def name(cls) -> str:
        return "csv"

    def infer(self, files: List[str]) -> pa.Schema:
        options = self._options()
        infer = _flag(options, "inferschema")
        con = connect()
        try:
            source = (f"read_csv({_files_literal(files)}, {_dialect(options)}, auto_detect=true, sample_size=-1"
                      f"{'' if infer else ', all_varchar=true'})")
            try:
                found = con.execute(f"SELECT * FROM {source} LIMIT 0").to_arrow_table().schema
            except Exception as e:
                raise spark_error(AnalysisException(
                    f"Unable to infer schema for CSV from {files[0]}: {e}", "UNABLE_TO_INFER_SCHEMA")) from e
            header = _flag(options, "header")
            names = [f.name if header else f"_c{i}" for i, f in enumerate(found)]
            if not infer:
                return pa.schema([pa.field(n, pa.string()) for n in names])
            types = [self._spark_type(f.type) for f in found]
            ints = [i for i, t in enumerate(types) if t == pa.int64()]
            if ints:  # Spark infers int when every value fits, else bigint
                aggs = ", ".join(f"min({ident(found[i].name)}), max({ident(found[i].name)})" for i in ints)
                bounds = con.execute(f"SELECT {aggs} FROM {source}").fetchone()
                for k, i in enumerate(ints):
                    lo, hi = bounds[2 * k], bounds[2 * k + 1]
                    if lo is None or (-(2**31) <= lo and hi < 2**31):
                        types[i] = pa.int32()
            texts = [i for i, t in enumerate(types) if t == pa.string()]
            if texts:  # Spark reads NaN and Infinity as doubles; DuckDB's sniffer leaves such columns text
                aggs = ", ".join(f"count({ident(found[i].name)}), count(TRY_CAST({ident(found[i].name)} AS DOUBLE))"
                                 for i in texts)
                counts = con.execute(f"SELECT {aggs} FROM {source}").fetchone()
                for k, i in enumerate(texts):
                    if counts[2 * k] and counts[2 * k] == counts[2 * k + 1]:
                        types[i] = pa.float64()
            return pa.schema([pa.field(n, t) for n, t in zip(names, types)])
        finally:
            con.close()

    @staticmethod
    def _spark_type(t: pa.DataType) -> pa.DataType:
        """Spark's inferred type for what DuckDB's sniffer found (Spark infers no decimals by
        default, and no time-of-day type)."""
        if pa.types.is_integer(t):
            return pa.int64()
        if pa.types.is_floating(t) or pa.types.is_decimal(t):
            return pa.float64()
        if pa.types.is_boolean(t) or t.equals(pa.date32()):
            return t
        if pa.types.is_timestamp(t):
            return pa.timestamp("us", "UTC")
        return pa.string()

    def check_writable(self, schema: pa.Schema) -> None:
        for f in schema:
            t = f.type
            if pa.types.is_nested(t) or pa.types.is_binary(t):
                raise unsupported_type(self.label, f)
            try:
                duck_type(t)
            except TypeError:
                raise unsupported_type(self.label, f) from None

    @classmethod
    def read_file(cls, path: str, schema: pa.Schema, options: Dict[str, str],
                  batch_rows: int) -> Iterator[pa.RecordBatch]:
        con = connect()
        sql = (f"SELECT * FROM read_csv({lit(path)}, {_dialect(options)}, columns={columns_literal(schema)}, "
               "auto_detect=false)")
        return stream(con, sql, batch_rows, schema)

    @classmethod
    def write_file(cls, path: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch],
                   options: Dict[str, str]) -> None:
        exprs = []
        for f in schema:
            c = ident(f.name)
            if pa.types.is_timestamp(f.type):
                exprs.append(timestamp_text(c, bool(f.type.tz)))
            elif pa.types.is_floating(f.type):  # Spark's (Java's) words for the special values
                exprs.append(f"CASE WHEN isnan({c}) THEN 'NaN' WHEN isinf({c}) AND {c} > 0 THEN 'Infinity' "
                             f"WHEN isinf({c}) THEN '-Infinity' ELSE CAST({c} AS VARCHAR) END")
            else:
                exprs.append(c)
        sep = options.get("sep", options.get("delimiter", ","))
        con = connect()
        try:
            con.register("batches", pa.RecordBatchReader.from_batches(schema, batches))
            con.execute(
                f"COPY (SELECT {select_list(schema.names, exprs)} FROM batches) TO {lit(path)} (FORMAT CSV, "
                f"HEADER {str(_flag(options, 'header')).lower()}, DELIMITER {lit(sep)}, "
                f"QUOTE {lit(options.get('quote', chr(34)))}, ESCAPE {lit(options.get('escape', chr(92)))}, "
                f"NULLSTR {lit(options.get('nullvalue', ''))}, COMPRESSION {text_codec(options)[1]})"
            )
        finally:
            con.close()

