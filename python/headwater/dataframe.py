"""What ``load()`` returns: a DataFrame over one read. Each action re-runs the source, as in Spark;
the data comes out of the C scan as Arrow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterator, List, Optional, Tuple

import pyarrow as pa

from headwater import _core
from headwater.errors import AnalysisException, PythonException, _from_core
from headwater.types import Row

if TYPE_CHECKING:
    from headwater.plan import ReadPlan
    from headwater.session import SparkSession
    from headwater.writer import DataFrameWriter

__all__ = ["DataFrame"]


def _raise_failure(scan: Any, original: Optional[BaseException]) -> None:
    """Raise the headwater exception for a failed scan (what stopped it, with the source's own
    traceback when the source raised)."""
    failure = scan.failure()
    if failure is None:
        if original is not None:
            raise original
        return
    error_class, message, partition, row, column, exc, traceback_text = failure
    if error_class == "HW_CANCELLED":
        raise KeyboardInterrupt(message)
    if exc is not None:
        import traceback

        tb = "".join(traceback.format_exception(exc))
        err = PythonException(
            f"An exception was thrown from the Python data source in partition {partition}:\n{tb}",
            getattr(exc, "error_class", None),  # a headwater/Spark error raised by the source keeps its class
            partition=partition,
        )
        raise err from exc
    if traceback_text:  # raised by the source's code in a worker process
        raise PythonException(
            f"An exception was thrown from the Python data source in partition {partition} "
            f"(in a worker process):\n{traceback_text}",
            error_class if error_class not in ("PYTHON_EXCEPTION", "") else None,
            partition=partition,
            row=None if row < 0 else row,
            column=None if column < 0 else column,
        ) from None
    err = _from_core(error_class, message, partition, row, column)
    if not isinstance(err, PythonException):
        err = PythonException(message, error_class or None, partition=err.partition, row=err.row, column=err.column)
    raise err from None


def _batches(scan: Any) -> Iterator[pa.RecordBatch]:
    """The batches of a C scan; failures raise headwater's exceptions."""
    reader = pa.RecordBatchReader.from_stream(scan)
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            yield batch
            del batch  # a traceback through this frame must not keep shared memory alive
    except (pa.ArrowException, OSError) as e:
        _raise_failure(scan, e)
    finally:
        reader.close()


def _drain(scan: Any, consume: Any) -> Any:
    """consume(reader) over a C scan's stream; failures raise headwater's exceptions."""
    reader = pa.RecordBatchReader.from_stream(scan)
    try:
        return consume(reader)
    except (pa.ArrowException, OSError) as e:
        _raise_failure(scan, e)
    finally:
        reader.close()


class DataFrame:
    """The result of ``spark.read...load()``."""

    def __init__(self, spark: "SparkSession", plan: "ReadPlan") -> None:
        self.sparkSession = spark
        self._plan = plan

    # ---- schema

    @property
    def schema(self) -> Any:
        """The schema, as a StructType of the flavor the source was written against."""
        return self._plan.schema

    @property
    def columns(self) -> List[str]:
        return list(self._plan.core_schema.names)

    @property
    def dtypes(self) -> List[Tuple[str, str]]:
        return [(f.name, f.dataType.simpleString()) for f in self._plan.schema.fields]

    def printSchema(self) -> None:
        print(self._tree_string(), end="")

    def _tree_string(self) -> str:
        lines = ["root"]

        def walk(dtype: Any, depth: int) -> None:
            for f in getattr(dtype, "fields", []):
                lines.append(
                    f"{' |   ' * depth} |-- {f.name}: {f.dataType.typeName()} (nullable = {str(f.nullable).lower()})"
                )
                walk(f.dataType, depth + 1)

        walk(self._plan.schema, 0)
        return "\n".join(lines) + "\n"

    # ---- running

    def _write_tasks(self) -> List[Callable[[], Iterator[pa.RecordBatch]]]:
        """One write task per partition of this DataFrame: a callable that runs that partition
        alone (an inline single-partition C scan, on the calling thread) and yields its batches.
        Reading and writing a partition are so pipelined, and partitions run in parallel on the
        writer's threads. (A read error names partition 0, the index within its own scan.)"""
        plan = self._plan
        reader = plan.make_reader()
        partitions = plan.make_partitions(reader)
        conf = self.sparkSession.conf
        options = dict(
            source_name=plan.name,
            mode="inline",
            max_rows_per_batch=int(conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") or 10000),
            max_bytes_per_batch=int(conf.get("headwater.batch.maxBytes") or 0),
        )

        def task(partition: Any) -> Callable[[], Iterator[pa.RecordBatch]]:
            return lambda: _batches(_core.Scan(plan.core_schema, reader.read, [partition], **options))

        return [task(p) for p in partitions]

    def repartition(self, numPartitions: int) -> "DataFrame":
        """The same rows in ``numPartitions`` partitions of contiguous, evenly sized row ranges
        (each action reads this DataFrame once and slices it without copying). Spark distributes
        rows round-robin; only the partition sizes match it."""
        if isinstance(numPartitions, bool) or not isinstance(numPartitions, int) or numPartitions < 1:
            raise AnalysisException(
                f"repartition needs a positive number of partitions, got {numPartitions!r}.", "HW_INVALID_ARGUMENT"
            )
        from headwater.local import LocalPlan, split_evenly

        parent = self
        plan = LocalPlan(self._plan.core_schema, lambda: split_evenly(parent.toArrow(), numPartitions),
                         self.sparkSession.conf, schema=self._plan.schema)
        return DataFrame(self.sparkSession, plan)

    @property
    def write(self) -> "DataFrameWriter":
        """A :class:`~headwater.writer.DataFrameWriter` for this DataFrame."""
        from headwater.writer import DataFrameWriter

        return DataFrameWriter(self)

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The rows as an Arrow stream (pyarrow, polars, DuckDB, ...): batches come as partitions
        complete, with bounded memory, unless ``headwater.stream.ordered`` is true."""
        ordered = (self.sparkSession.conf.get("headwater.stream.ordered") or "false").lower() == "true"
        scan, _, _ = self._plan.new_scan(self.sparkSession, ordered=ordered)
        return scan.__arrow_c_stream__(requested_schema)

    def toArrow(self) -> pa.Table:
        scan, _, _ = self._plan.new_scan(self.sparkSession, ordered=True)
        return _drain(scan, lambda reader: reader.read_all())  # batches gathered by pyarrow, not by us

    def toPandas(self) -> Any:
        table = self.toArrow()
        pdf = table.to_pandas()
        if table.num_rows == 0:
            # PySpark builds an empty frame from no records: its string columns are 'object'
            for field in table.schema:
                if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
                    pdf[field.name] = pdf[field.name].astype(object)
        return pdf

    def count(self) -> int:
        scan, _, _ = self._plan.new_scan(self.sparkSession, ordered=False)
        return _drain(scan, lambda reader: _core.count_rows(reader))  # rows counted in C

    def collect(self) -> List[Row]:
        """All rows, as PySpark returns them (converted from Arrow in C)."""
        return _core.rows_from_arrow(self.toArrow(), Row)

    def take(self, num: int) -> List[Row]:
        return self.collect()[:num]

    def head(self, n: Optional[int] = None) -> Any:
        rows = self.take(1 if n is None else n)
        if n is None:
            return rows[0] if rows else None
        return rows

    def first(self) -> Optional[Row]:
        return self.head()

    def show(self, n: int = 20, truncate: Any = True, vertical: bool = False) -> None:
        print(self._show_string(n, truncate), end="")

    def _show_string(self, n: int, truncate: Any) -> str:
        rows = self.collect()
        width = 20 if truncate is True else int(truncate) if truncate else 0
        names = self.columns

        def cell(v: Any) -> str:
            s = "NULL" if v is None else _show_value(v)
            if width and len(s) > width:
                s = s[: width - 3] + "..." if width > 3 else s[:width]
            return s

        body = [[cell(v) for v in r] for r in rows[:n]]
        widths = [max([3, len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(names)]
        sep = "+" + "+".join("-" * w for w in widths) + "+\n"
        fmt = lambda cells: "|" + "|".join(c.rjust(w) for c, w in zip(cells, widths)) + "|\n"  # noqa: E731
        out = sep + fmt(names) + sep + "".join(fmt(r) for r in body) + sep
        if len(rows) > n:
            out += f"only showing top {n} row{'s' if n != 1 else ''}\n"
        return out

    def explain(self, extended: bool = False) -> None:
        print(self._explain_string())

    def _explain_string(self) -> str:
        plan = self._plan
        reader = plan.make_reader()
        parts = plan.make_partitions(reader)
        last = getattr(plan, "last_run", None)
        mode, why = (last["mode"], last["why"]) if last else plan.execution_mode(len(parts))
        # a source may add lines (the JDBC source: its URL without password, pushed filters, and
        # the backend and WHERE clause of each partition)
        details = getattr(reader, "explain_details", None) or getattr(getattr(plan, "source", None), "explain_details", None)
        extra = "".join(line + "\n" for line in details(parts)) if callable(details) else ""
        return (
            "== Physical Plan ==\n"
            f"PythonDataSourceScan {plan.name} [{', '.join(self.columns)}]\n"
            f"  partitions: {len(parts)}\n"
            f"  execution: {mode} ({why})\n" + extra
        )

    def __repr__(self) -> str:
        return "DataFrame[" + ", ".join(f"{n}: {t}" for n, t in self.dtypes) + "]"


def _show_value(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (bytes, bytearray)):
        return "[" + " ".join(f"{b:02X}" for b in v) + "]"
    if isinstance(v, list):
        return "[" + ", ".join("NULL" if x is None else _show_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_show_value(k)} -> {'NULL' if x is None else _show_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, Row):
        return "{" + ", ".join("NULL" if x is None else _show_value(x) for x in v) + "}"
    return str(v)
