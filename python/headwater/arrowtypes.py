"""Spark's Arrow types for the schemas of files written by others, and conforming batches to them."""

from __future__ import annotations

from typing import Iterator

import pyarrow as pa

from headwater.local import _spark_arrow_type

__all__ = ["spark_schema", "conform"]


def spark_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with each type replaced by the Arrow type of the Spark type it maps to (large and
    view strings, nanosecond or zoned timestamps, unsigned integers, ...), metadata dropped."""
    return pa.schema([pa.field(f.name, _spark_arrow_type(f.type), True) for f in schema])


def _same(a: pa.Schema, b: pa.Schema) -> bool:
    return len(a) == len(b) and all(x.name == y.name and x.type.equals(y.type) for x, y in zip(a, b))


def conform(reader: pa.RecordBatchReader, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The reader's batches with ``schema``'s types: the reader itself when they match already (the
    common case, no Python step per batch), else each batch cast by pyarrow (checked, ``safe``)."""
    if _same(reader.schema, schema):
        return reader  # type: ignore[return-value]
    return (batch.cast(schema) for batch in reader)
