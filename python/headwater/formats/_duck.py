"""DuckDB for the text formats (CSV, JSON lines): Spark types as DuckDB types, SQL literals, and the
projections that give values Spark's text forms when written."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pyarrow as pa

from headwater.arrowtypes import conform_batches
from headwater.errors import IllegalArgumentException
from headwater.formats._files import spark_error

__all__ = ["connect", "lit", "ident", "duck_type", "columns_literal", "transform", "timestamp_text", "stream",
           "text_codec", "select_list"]


def connect() -> Any:
    """A private in-memory DuckDB: UTC (headwater's timestamps are UTC instants), one thread (the
    partitions of a query already run in parallel)."""
    import duckdb

    con = duckdb.connect(config={"threads": 1})
    con.execute("SET TimeZone = 'UTC'")
    return con


def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def ident(name: str) -> str:
    """A SQL identifier (any column name)."""
    return '"' + name.replace('"', '""') + '"'


def duck_type(t: pa.DataType, binary: str = "BLOB") -> str:
    """The DuckDB type holding the Spark type of Arrow type ``t`` (binary as ``binary``, at any
    depth); TypeError if there is none."""
    simple = {pa.bool_(): "BOOLEAN", pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INTEGER",
              pa.int64(): "BIGINT", pa.float32(): "FLOAT", pa.float64(): "DOUBLE", pa.string(): "VARCHAR",
              pa.binary(): binary, pa.date32(): "DATE", pa.null(): "VARCHAR"}
    for arrow_type, name in simple.items():
        if t.equals(arrow_type):
            return name
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_list(t):
        return duck_type(t.value_type, binary) + "[]"
    if pa.types.is_map(t):
        return f"MAP({duck_type(t.key_type, binary)}, {duck_type(t.item_type, binary)})"
    if pa.types.is_struct(t):
        return "STRUCT(" + ", ".join(f"{ident(f.name)} {duck_type(f.type, binary)}" for f in t) + ")"
    raise TypeError(str(t))


def columns_literal(schema: pa.Schema, binary_as_text: bool = False) -> str:
    """``{'name': 'TYPE', ...}`` for read_csv/read_json ``columns``."""
    binary = "VARCHAR" if binary_as_text else "BLOB"
    return "{" + ", ".join(f"{lit(f.name)}: {lit(duck_type(f.type, binary))}" for f in schema) + "}"


def transform(expr: str, t: pa.DataType, leaf: Callable[[str, pa.DataType], Optional[str]],
              depth: int = 0) -> Optional[str]:
    """SQL applying ``leaf`` to every value of type ``t`` in ``expr``, inside lists, maps and structs
    too; None when ``leaf`` changes nothing (the value is used as it is)."""
    if pa.types.is_list(t):
        x = f"x{depth}"
        inner = transform(x, t.value_type, leaf, depth + 1)
        return None if inner is None else f"list_transform({expr}, lambda {x}: {inner})"
    if pa.types.is_map(t):
        e = f"e{depth}"
        k = transform(f"{e}.key", t.key_type, leaf, depth + 1)
        v = transform(f"{e}.value", t.item_type, leaf, depth + 1)
        if k is None and v is None:
            return None
        return (f"map_from_entries(list_transform(map_entries({expr}), lambda {e}: "
                f"struct_pack(key := {k or e + '.key'}, value := {v or e + '.value'})))")
    if pa.types.is_struct(t):
        fields = [(f.name, transform(f"{expr}.{ident(f.name)}", f.type, leaf, depth + 1)) for f in t]
        if all(x is None for _, x in fields):
            return None
        packed = ", ".join(f"{ident(n)} := {x or expr + '.' + ident(n)}" for n, x in fields)
        return f"CASE WHEN {expr} IS NULL THEN NULL ELSE struct_pack({packed}) END"
    return leaf(expr, t)


def timestamp_text(column: str, zoned: bool) -> str:
    """Spark's text of a timestamp (``yyyy-MM-dd'T'HH:mm:ss.SSS`` and ``Z`` for UTC instants), with
    microseconds when the value has them (Spark drops them; headwater keeps them)."""
    zone = " || 'Z'" if zoned else ""
    return (f"CASE WHEN {column} IS NULL THEN NULL WHEN microsecond({column}) % 1000 = 0 "
            f"THEN strftime({column}, '%Y-%m-%dT%H:%M:%S.%g'){zone} "
            f"ELSE strftime({column}, '%Y-%m-%dT%H:%M:%S.%f'){zone} END")


def stream(con: Any, sql: str, batch_rows: int, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The batches of a query with ``schema``'s Arrow types; the connection lives as long as the
    stream is read."""
    try:
        reader = con.execute(sql).to_arrow_reader(batch_rows)
        yield from conform_batches(reader, schema)
    finally:
        con.close()


def select_list(names: List[str], exprs: List[str]) -> str:
    return ", ".join(f"{e} AS {ident(n)}" for n, e in zip(names, exprs))


# Spark's codec names for the text formats -> (file name suffix, DuckDB's COMPRESSION)
_TEXT_CODECS = {"none": ("", "none"), "uncompressed": ("", "none"), "gzip": (".gz", "gzip"), "zstd": (".zst", "zstd")}


def text_codec(options: Dict[str, str]) -> Tuple[str, str]:
    """The option ``compression`` of a CSV/JSON write: the file name suffix (Spark's) and DuckDB's
    codec; reads find the codec from the suffix."""
    codec = (options.get("compression") or "none").lower()
    if codec not in _TEXT_CODECS:
        raise spark_error(IllegalArgumentException(
            f"Codec [{codec}] is not available. Available codecs are gzip, none, uncompressed, zstd.",
            "CODEC_NOT_AVAILABLE",
        ))
    return _TEXT_CODECS[codec]
