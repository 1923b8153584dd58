"""DataFrames over in-memory Arrow data: ``spark.createDataFrame(...)``, ``df.repartition(n)`` and
the query results a write reads.

:class:`LocalPlan` meets :class:`~headwater.exec.plan.ReadPlanProtocol`, the interface the
DataFrame and the query layer use for a read plan (``schema``, ``core_schema``, ``name``,
``make_reader``, ``make_partitions``, ``execution_mode``, ``new_scan``). Its "source" yields the stored RecordBatches of a partition through the C scan, which
passes RecordBatches through without copying them.
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import pyarrow as pa

from headwater import _core
from headwater.arrowtypes import spark_arrow_type
from headwater.config import workers
from headwater.datasource import InputPartition
from headwater.errors import AnalysisException
from headwater.schema import parse_schema, to_struct_type
from headwater.types import Row

__all__ = ["LocalPlan", "split_evenly", "local_plan", "arrow_table_from", "infer_schema", "rows_table"]

Partitions = List[List[pa.RecordBatch]]


def split_evenly(table: pa.Table, n: int) -> Partitions:
    """``n`` partitions of contiguous rows, sized as Spark's ``parallelize`` slices them
    (partition i holds rows ``[i*len/n, (i+1)*len/n)``); slices share the table's buffers."""
    n = max(1, int(n))
    total = table.num_rows
    out: Partitions = []
    for i in range(n):
        start, end = i * total // n, (i + 1) * total // n
        out.append(table.slice(start, end - start).to_batches())
    return out


class _LocalReader:
    """Yields a partition's stored batches (the partition's value is the list of them)."""

    @staticmethod
    def read(partition: InputPartition) -> Any:
        return iter(partition.value)


class LocalPlan:
    """A plan over RecordBatches held in memory, already split into partitions.

    ``partitions`` is the list of partitions, or a callable returning it (run on every action,
    e.g. ``repartition`` of a DataFrame that reads a source)."""

    name = "LocalTableScan"
    exact_batches = False  # the stored batches have the plan's schema already

    def __init__(self, core_schema: Any, partitions: Union[Partitions, Callable[[], Partitions]], conf: Any,
                 schema: Any = None) -> None:
        self.core_schema = parse_schema(core_schema)
        self.schema = schema if schema is not None else to_struct_type(self.core_schema)
        self.conf = conf
        self._partitions = partitions

    def make_reader(self) -> _LocalReader:
        return _LocalReader()

    def make_partitions(self, reader: Any) -> List[InputPartition]:
        parts = self._partitions() if callable(self._partitions) else self._partitions
        return [InputPartition(list(p)) for p in parts] or [InputPartition([])]

    def execution_mode(self, n_partitions: int) -> Tuple[str, str]:
        return "inline", "in-memory data: batches are handed over, nothing to run in parallel"

    def push_filters(self, reader: Any, filters: List[Any]) -> List[Any]:
        return list(filters)  # in-memory data: DuckDB filters it

    def new_scan(self, session: Any = None, ordered: bool = True, reader: Any = None,
                 columns: Optional[List[int]] = None, limit: Optional[int] = None) -> Tuple[Any, str, str]:
        reader = reader if reader is not None else self.make_reader()
        partitions = self.make_partitions(reader)
        mode, why = self.execution_mode(len(partitions))
        scan = _core.Scan(self.core_schema, reader.read, partitions, source_name=self.name, mode=mode,
                          ordered=ordered, columns=columns, limit=-1 if limit is None else int(limit))
        self.last_run = {"partitions": len(partitions), "mode": mode, "why": why}
        return scan, mode, why


# ---- createDataFrame inputs


def arrow_table_from(data: Any, schema: Any = None) -> Optional[pa.Table]:
    """``data`` as a pyarrow Table with Spark-compatible types, when it is Arrow-shaped (a pyarrow
    Table or RecordBatch, a pandas or Polars DataFrame, anything with ``__arrow_c_stream__``);
    None for Python rows. A given ``schema`` renames and casts the columns (by position)."""
    if isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif isinstance(data, pa.Table):
        table = data
    elif type(data).__module__.split(".")[0] == "pandas" and hasattr(data, "columns") and hasattr(data, "iloc"):
        table = pa.Table.from_pandas(data, preserve_index=False)
    elif hasattr(data, "__arrow_c_stream__"):  # Polars and others
        table = pa.table(data)
    else:
        return None
    wanted = pa.schema([pa.field(f.name, spark_arrow_type(f.type), f.nullable) for f in table.schema])
    if schema is not None:
        target = pa.schema(parse_schema(schema))
        if len(target) != table.num_columns:
            raise AnalysisException(
                f"The schema has {len(target)} columns but the data has {table.num_columns}.", "AXIS_LENGTH_MISMATCH"
            )
        wanted = target
    if not table.schema.equals(wanted):
        table = table.rename_columns(wanted.names).cast(wanted)
    return table


# ---- Python rows


def _infer_type(value: Any) -> str:
    """Spark's inferred DDL type for one Python value (``_infer_type`` of PySpark, simplified)."""
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "BIGINT"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, (bytes, bytearray)):
        return "BINARY"
    if isinstance(value, decimal.Decimal):
        return "DECIMAL(38,18)"
    if isinstance(value, datetime.datetime):
        return "TIMESTAMP"
    if isinstance(value, datetime.date):
        return "DATE"
    if isinstance(value, list):
        first = next((v for v in value if v is not None), None)
        return f"ARRAY<{_infer_type(first) if first is not None else 'VOID'}>"
    if isinstance(value, dict):
        item = next(((k, v) for k, v in value.items() if v is not None), None)
        if item is None:
            return "MAP<VOID, VOID>" if not value else f"MAP<{_infer_type(next(iter(value)))}, VOID>"
        return f"MAP<{_infer_type(item[0])}, {_infer_type(item[1])}>"
    if isinstance(value, Row) or (isinstance(value, tuple) and hasattr(value, "__fields__")):
        return "STRUCT<" + ", ".join(f"`{n}`: {_infer_type(v)}" for n, v in zip(value.__fields__, value)) + ">"
    if isinstance(value, tuple):
        return "STRUCT<" + ", ".join(f"`_{i + 1}`: {_infer_type(v)}" for i, v in enumerate(value)) + ">"
    raise AnalysisException(f"Unable to infer the type of the field: {type(value).__name__}.", "CANNOT_INFER_TYPE")


def infer_schema(rows: Sequence[Any], names: Optional[List[str]] = None) -> str:
    """A DDL schema for Python rows: names from the dicts' keys (all of them, sorted, as PySpark),
    the first Row's fields, else ``names`` or ``_1``, ``_2``, ...; each column's type from its first
    non-null value (``VOID`` if none)."""
    first = rows[0]
    if isinstance(first, dict):
        # PySpark: the keys of every dict, sorted (set.union and map run in C, not a loop of ours)
        cols = sorted(set().union(*rows)) if set(map(type, rows)) == {dict} else sorted(first)
    elif hasattr(first, "__fields__"):
        cols = list(first.__fields__)
    else:
        cols = [f"_{i + 1}" for i in range(len(first))]
    if names:
        cols = list(names) + cols[len(names):]
    types: List[Optional[str]] = [None] * len(cols)
    for row in rows:  # stops at the first row that completes every column
        values = [row.get(c) for c in cols] if isinstance(row, dict) else list(row)
        for i, v in enumerate(values[: len(cols)]):
            if types[i] is None and v is not None:
                types[i] = _infer_type(v)
        if all(t is not None for t in types):
            break
    return ", ".join(f"`{c}` {t or 'VOID'}" for c, t in zip(cols, types))


def rows_table(rows: Sequence[Any], schema: Any, max_bytes_per_batch: int = 64 << 20) -> pa.Table:
    """Python rows (tuples, lists, Rows, dicts) converted in C; a dict's values are matched to the
    schema's field names (a missing key is null, extra keys are ignored), as in PySpark. Batches
    close at ``max_bytes_per_batch`` bytes (``headwater.batch.maxBytes``), checked after every row,
    as a data source's reads do."""
    core = parse_schema(schema)
    stream = _core.rows_to_stream(
        core, rows, max_rows_per_batch=1 << 62, max_bytes_per_batch=max_bytes_per_batch, dicts=True
    )
    return pa.RecordBatchReader.from_stream(stream).read_all()


def local_plan(table: pa.Table, conf: Any) -> LocalPlan:
    """A plan over ``table`` split into ``min(rows, headwater.executor.workers)`` partitions, as
    Spark splits local data over its default parallelism."""
    n = min(max(table.num_rows, 1), workers(conf))
    return LocalPlan(pa.schema(table.schema), split_evenly(table, n), conf)
