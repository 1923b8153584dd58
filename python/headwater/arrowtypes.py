"""Spark's Arrow types: the one map from the Arrow types other libraries choose (file readers,
database drivers, pandas, Polars) to the Arrow type of the Spark type they read as, and the one
batch conformer that casts batches to such a schema.

Used by the file formats, the JDBC source and local DataFrames (``createDataFrame``). The generic
format's adapter (:mod:`headwater.generic.spark`) keeps its own copy of the conformer: it imports
nothing of headwater, so that it runs on Spark executors where headwater is not installed. Batches
a source yields are checked in C (``batch_check.c``), which reorders columns without copying and
rejects a different type; this module runs only where a library's types must become Spark's.

The rules are Spark's (``pyspark.sql.pandas.types.from_arrow_type`` and Spark's JDBC reader):

==========================================  ================================================
Arrow type                                  Spark type (its Arrow type)
==========================================  ================================================
large/view string, dictionary of strings    STRING (``string``)
large/view/fixed-size binary                BINARY (``binary``)
uint8 / uint16 / uint32 / uint64            SMALLINT / INT / BIGINT / DECIMAL(20,0)
float16                                     FLOAT
timestamp with a zone, any unit             TIMESTAMP (``timestamp[us, UTC]``)
timestamp without a zone                    TIMESTAMP_NTZ (``timestamp[us]``); TIMESTAMP
                                            when ``naive_as_ntz`` is false (JDBC without
                                            ``preferTimestampNTZ``)
date64                                      DATE (``date32``)
decimal above 38 digits, decimal256         DECIMAL bounded to 38 digits (``DecimalType.bounded``)
time, duration, interval                    STRING (headwater has no TIME type yet)
null                                        VOID (``null``)
large/view/fixed-size lists                 ARRAY (``list``), elements mapped
map, struct                                 elements and fields mapped
extension types                             their storage type
==========================================  ================================================
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, List, Optional

import pyarrow as pa

__all__ = ["spark_arrow_type", "spark_schema", "make_conformer", "conform_batches"]

#: Spark's DecimalType for a numeric without precision (as Spark's JDBC reader reads it).
DEFAULT_DECIMAL = pa.decimal128(38, 18)


def _is_list(t: pa.DataType) -> bool:
    return (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
            or pa.types.is_list_view(t) or pa.types.is_large_list_view(t))


def spark_arrow_type(t: pa.DataType, naive_as_ntz: bool = True) -> pa.DataType:
    """The Arrow type of the Spark type ``t`` reads as (see the table above)."""
    if isinstance(t, pa.ExtensionType):
        if getattr(t, "extension_name", "") == "arrow.opaque" and getattr(t, "type_name", "") == "numeric":
            return DEFAULT_DECIMAL  # PostgreSQL's numeric without precision, through ADBC
        return spark_arrow_type(t.storage_type, naive_as_ntz)
    if pa.types.is_dictionary(t):
        return spark_arrow_type(t.value_type, naive_as_ntz)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t) or pa.types.is_fixed_size_binary(t):
        return pa.binary()
    if pa.types.is_unsigned_integer(t):  # Spark has no unsigned types: the next wider signed one
        return {8: pa.int16(), 16: pa.int32(), 32: pa.int64()}.get(t.bit_width, pa.decimal128(20, 0))
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us") if (naive_as_ntz and t.tz is None) else pa.timestamp("us", "UTC")
    if pa.types.is_date64(t):
        return pa.date32()
    if pa.types.is_time(t) or pa.types.is_duration(t) or pa.types.is_interval(t):
        return pa.string()
    if pa.types.is_decimal(t):
        if t.precision > 38:
            return pa.decimal128(38, min(t.scale, 38))
        return t if pa.types.is_decimal128(t) else pa.decimal128(t.precision, t.scale)
    if _is_list(t):
        return pa.list_(pa.field(t.value_field.name, spark_arrow_type(t.value_type, naive_as_ntz),
                                 t.value_field.nullable))
    if pa.types.is_map(t):
        return pa.map_(spark_arrow_type(t.key_type, naive_as_ntz), spark_arrow_type(t.item_type, naive_as_ntz))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, spark_arrow_type(f.type, naive_as_ntz), f.nullable) for f in t])
    return t


def spark_schema(schema: pa.Schema, naive_as_ntz: bool = True, nullable: Optional[bool] = True) -> pa.Schema:
    """``schema`` with each type replaced by its Spark type's Arrow type, metadata dropped; every
    field nullable (``nullable=None``: as in ``schema``)."""
    return pa.schema([pa.field(f.name, spark_arrow_type(f.type, naive_as_ntz),
                               f.nullable if nullable is None else nullable) for f in schema])


def _cast_steps(src: pa.DataType, dst: pa.DataType) -> Optional[List[Any]]:
    """How to bring an array of ``src`` to ``dst``: None when nothing is needed, else a list of
    steps (a DataType to cast to, or ``"storage"`` to unwrap an extension array)."""
    if src == dst:
        return None
    steps: List[Any] = []
    if isinstance(src, pa.ExtensionType):
        steps.append("storage")
        src = src.storage_type
    if (pa.types.is_string(src) or pa.types.is_large_string(src)) and pa.types.is_timestamp(dst) and dst.tz:
        steps.append(pa.timestamp(dst.unit))  # text without a zone: read as UTC wall clock
    steps.append(dst)
    return steps


def make_conformer(src: pa.Schema, dst: pa.Schema,
                   via: Optional[pa.Schema] = None) -> Optional[Callable[[pa.RecordBatch], pa.RecordBatch]]:
    """A function that casts a batch of schema ``src`` (columns by position, as many as ``dst``) to
    ``dst`` with pyarrow's checked (``safe``) casts, through ``via`` when given (a database's own
    column types: a numeric(12,3) that a driver delivers as decimal(38,10) becomes '1.500', not
    '1.5000000000', under a STRING customSchema); None when the types already agree (then batches
    pass untouched, with no Python step per batch)."""
    plans = []
    for i, (s, d) in enumerate(zip(src, dst)):
        mid = via.field(i).type if via is not None and len(via) == len(dst) else None
        if mid is not None and mid != s.type and mid != d.type:
            plans.append((_cast_steps(s.type, mid) or []) + (_cast_steps(mid, d.type) or []))
        else:
            plans.append(_cast_steps(s.type, d.type))
    if not any(plans) and src.names == dst.names:
        return None

    def conform_one(batch: pa.RecordBatch) -> pa.RecordBatch:
        arrays = []
        for col, steps, field in zip(batch.columns, plans, dst):
            if steps:
                if col.null_count == len(col):  # an all-NULL column a library typed on its own
                    col = pa.nulls(len(col), field.type)
                else:
                    for step in steps:
                        col = col.storage if step == "storage" else col.cast(step, safe=True)
            arrays.append(col)
        return pa.RecordBatch.from_arrays(arrays, schema=dst)

    return conform_one


def conform_batches(reader: Any, dst: pa.Schema, via: Optional[pa.Schema] = None) -> Iterator[pa.RecordBatch]:
    """The batches of a RecordBatchReader in the schema ``dst`` (see :func:`make_conformer`): the
    reader itself when the types agree already (the common case), else one pyarrow cast per batch."""
    conform_one = make_conformer(reader.schema, dst, via)
    if conform_one is None:
        return iter(reader)
    return (conform_one(batch) for batch in reader)

