"""The Python half of the public C API (include/headwater.h, src/capi/): what libheadwater calls.

Runs once per runtime, source, query and partition: it opens a source through the facade, plans a
scan (columns, filters offered to ``pushFilters``, limit, executor mode) and hands back objects
whose ``__arrow_c_stream__`` is a C scan; libheadwater moves each stream out of its capsule, so no
Python of ours runs per batch.

``python -m headwater.capi --pkg-config-path`` prints the directory of ``headwater.pc``.
"""

from __future__ import annotations

import datetime
import decimal
import importlib
import os
import sys
import threading
import traceback
from typing import Any, Dict, List, Optional, Tuple

import pyarrow as pa

from headwater import _core, datasource
from headwater.config import cancel_grace_ms, get, scan_options
from headwater.errors import AnalysisException, HeadwaterException
from headwater.datasource import InputPartition
from headwater.exec.plan import Flavor
from headwater.exec.policy import pickle_for_workers
from headwater.exec.savemode import should_write
from headwater.exec.write_task import WriteJob, WriteTask
from headwater.schema import parse_schema
from headwater.exec.scan import raise_failure
from headwater.sql.readwriter import DataFrameReader
from headwater.sql.session import SparkSession, read_python
from headwater.sql.writer import _SAVE_MODES

__all__ = ["Runtime", "Source", "Query", "Writer", "describe_error", "pkg_config_path"]

_OPS = {"=": "EqualTo", "<=>": "EqualNullSafe", "<": "LessThan", "<=": "LessThanOrEqual", ">": "GreaterThan",
        ">=": "GreaterThanOrEqual", "STARTSWITH": "StringStartsWith", "ENDSWITH": "StringEndsWith",
        "CONTAINS": "StringContains"}


class Runtime:
    """The C runtime's session (its own settings and worker pool)."""

    def __init__(self) -> None:
        self.session = SparkSession.builder.create()

    def set(self, key: str, value: str) -> None:
        self.session.conf.set(key, value)

    def close(self) -> None:
        self.session.stop()


class Source:
    """An opened source: ``format`` a source name, a built-in format, ``jdbc`` or ``pkg.module:Class``."""

    def __init__(self, runtime: Runtime, fmt: str, options: Dict[str, str], schema: Optional[str]) -> None:
        spark = runtime.session
        if ":" in fmt and _spark_source(fmt) is not None:
            cls = _spark_source(fmt)
            spark.dataSource.register(cls)
            fmt = cls.name()
        if ":" in fmt:
            df = read_python(fmt, spark, **options) if schema is None else \
                DataFrameReader(spark).format("python").schema(schema).options(
                    python_module=fmt.split(":", 1)[0], python_class=fmt.split(":", 1)[1], **options).load()
        else:
            reader = DataFrameReader(spark).format(fmt).options(**options)
            df = (reader.schema(schema) if schema is not None else reader).load()
        self.session = spark
        self.plan = df._plan

    def schema_capsule(self) -> Any:
        return pa.schema(self.plan.core_schema).__arrow_c_schema__()


def _spark_source(target: str) -> Optional[type]:
    """The class named by ``pkg.module:Class`` when it is a Spark-API source (it has ``reader``);
    None for a three-method class."""
    module, _, qualname = target.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None  # the generic format reports it with its own words
    return obj if isinstance(obj, type) and callable(getattr(obj, "reader", None)) else None


def _literal(value: Optional[str], t: pa.DataType, where: str) -> Any:
    """A filter's text literal as the column's Python type (what the source's pushFilters sees)."""
    if value is None:
        raise AnalysisException(f"{where}: needs a value", "HW_INVALID_FILTER")
    try:
        if pa.types.is_boolean(t):
            if value.lower() not in ("true", "false"):
                raise ValueError(value)
            return value.lower() == "true"
        if pa.types.is_integer(t):
            return int(value)
        if pa.types.is_floating(t):
            return float(value)
        if pa.types.is_decimal(t):
            return decimal.Decimal(value)
        if pa.types.is_timestamp(t):
            return datetime.datetime.fromisoformat(value)
        if pa.types.is_date(t):
            return datetime.date.fromisoformat(value)
        if pa.types.is_binary(t):
            return value.encode()
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return value
    except (ValueError, decimal.InvalidOperation) as e:
        raise AnalysisException(f"{where}: '{value}' is not a {t} ({e})", "HW_INVALID_FILTER") from None
    raise AnalysisException(f"{where}: columns of type {t} take no filters", "HW_INVALID_FILTER")


class Query:
    """One scan of a source: its plan (reader, filters, partitions) and its streams."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.plan = source.plan
        self.columns: Optional[List[int]] = None
        self.filters: List[Any] = []
        self.limit: Optional[int] = None
        self.mode = "auto"
        self.reader: Any = None
        self.partitions: List[Any] = []
        self.accepted: List[bool] = []
        self._shipped: Optional[List[bytes]] = None  # process mode: the reader and partitions pickled, once
        self._shipping = threading.Lock()  # native threads may ask for partitions at once

    def select(self, names: List[str]) -> None:
        known = list(self.plan.core_schema.names)
        missing = [n for n in names if n not in known]
        if missing:
            raise AnalysisException(f"column '{missing[0]}' is not in the schema ({', '.join(known)})",
                                    "UNRESOLVED_COLUMN.WITH_SUGGESTION")
        self.columns = sorted({known.index(n) for n in names})

    def filter(self, column: str, op: str, value: Optional[str]) -> None:
        m = getattr(self.plan, "flavor", None)
        m = m.module if m is not None else datasource
        schema = pa.schema(self.plan.core_schema)
        where = f"filter {column} {op} {value!r}"
        if schema.get_field_index(column) < 0:
            raise AnalysisException(f"{where}: no column '{column}' in the schema", "HW_INVALID_FILTER")
        t = schema.field(column).type
        key = op.strip().upper()
        if key in ("IS NULL", "IS NOT NULL"):
            f = (m.IsNull if key == "IS NULL" else m.IsNotNull)((column,))
        elif key == "!=":
            f = m.Not(m.EqualTo((column,), _literal(value, t, where)))
        elif key in _OPS:
            lit = _literal(value, t, where)
            if key in ("STARTSWITH", "ENDSWITH", "CONTAINS") and not isinstance(lit, str):
                raise AnalysisException(f"{where}: {key} needs a string column", "HW_INVALID_FILTER")
            f = getattr(m, _OPS[key])((column,), lit)
        else:
            raise AnalysisException(f"{where}: unknown operator '{op}' (= <=> < <= > >= != IS NULL IS NOT NULL "
                                    "STARTSWITH ENDSWITH CONTAINS)", "HW_INVALID_FILTER")
        self.filters.append(f)

    def set_mode(self, mode: str) -> None:
        self.mode = mode

    def plan_scan(self) -> int:
        """Spark's planning order: the reader, pushFilters, then the partitions."""
        self.reader = self.plan.make_reader()
        rejected = self.plan.push_filters(self.reader, list(self.filters))
        self.accepted = [not any(f is r for r in rejected) for f in self.filters]
        self.partitions = self.plan.make_partitions(self.reader)
        return len(self.partitions)

    @property
    def limit_pushed(self) -> bool:
        return self.limit is not None and all(self.accepted)

    def _limit(self) -> Optional[int]:
        return self.limit if self.limit_pushed else None

    def schema_capsule(self) -> Any:
        full = pa.schema(self.plan.core_schema)
        cols = self.columns if self.columns is not None else range(len(full))
        return pa.schema([full.field(i) for i in cols]).__arrow_c_schema__()

    def partition(self, index: int) -> "Stream":
        """Partition ``index`` alone: on the calling thread (inline, and auto: the engine's threads
        are the parallelism), a thread of its own, or a worker process of the runtime's pool
        (process: the calling thread then only waits, without the GIL, so native threads reading
        partitions at once run in parallel)."""
        n = len(self.partitions)
        if not 0 <= index < n:
            raise AnalysisException(f"partition {index} does not exist (the scan has {n})", "HW_INVALID_ARGUMENT")
        mode = self.mode if self.mode in ("inline", "thread", "process") else "inline"
        limit = self._limit()
        conf = self.plan.conf
        options = dict(source_name=self.plan.name, mode=mode, first_index=index, columns=self.columns,
                       limit=-1 if limit is None else int(limit), exact_batches=self.plan.exact_batches,
                       **scan_options(conf))
        if mode == "process":
            shipped = self._ship()
            options.update(pool=self.source.session._worker_pool(), pickled_reader=shipped[0],
                           pickled_partitions=[shipped[1 + index]], queue_depth=get(conf, "headwater.executor.queueDepth"),
                           task_retries=get(conf, "headwater.executor.taskRetries"), cancel_grace_ms=cancel_grace_ms(conf))
        scan = _core.Scan(self.plan.core_schema, self.reader.read, [self.partitions[index]], **options)
        return Stream(scan, index)

    def _ship(self) -> List[bytes]:
        """The reader and every partition as cloudpickle bytes, made at the first process-mode
        partition; an error names what does not pickle."""
        with self._shipping:
            if self._shipped is None:
                self._shipped = pickle_for_workers(
                    [self.reader, *self.partitions], explicit=True, what="reader", source=self.plan.name,
                    suspects=[("", self.reader)], inside="read", instead="Running")
            return self._shipped

    def all(self) -> "Stream":
        """Every partition through one stream, run by the executor (worker processes by default)."""
        conf = self.plan.conf
        before = conf.get("headwater.executor.mode", None)
        if self.mode != "auto":  # this scan's mode only: the session's setting is put back
            conf.set("headwater.executor.mode", self.mode)
        try:
            scan, _, _ = self.plan.new_scan(self.source.session, ordered=False, reader=self.reader,
                                            columns=self.columns, limit=self._limit())
        finally:
            if self.mode != "auto":
                conf.set("headwater.executor.mode", before) if before is not None else conf.unset(
                    "headwater.executor.mode")
        return Stream(scan, -1)


class Stream:
    """A C scan whose stream libheadwater takes, and the failure it reports."""

    def __init__(self, scan: Any, partition: int) -> None:
        self.scan = scan
        self.partition = partition

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self.scan.__arrow_c_stream__(requested_schema)

    def failure(self) -> Optional[Tuple[str, str, int, int, int, str]]:
        """(class, message, partition, row, column, traceback) as headwater raises the failure."""
        failure = self.scan.failure()
        if failure is None:
            return None
        try:
            raise_failure(self.scan, None)
        except BaseException as e:  # noqa: B036 -- described to C, not raised
            described = describe_error(e, self.partition)
            worker_traceback = failure[6]  # the source raised in a worker process: its traceback, as text
            if not described[5] and worker_traceback:
                described = (*described[:5], worker_traceback)
            return described
        return None


def _read_batches(partition: Any) -> Any:
    """A write task's read: the engine's stream (a pyarrow RecordBatchReader), batch by batch."""
    return iter(partition.value)


class Writer:
    """One write from the engine: ``DataSource(options).writer(schema, overwrite)``, a write task per
    stream the engine hands over (on the engine's thread), then ``commit`` or ``abort``."""

    def __init__(self, runtime: Runtime, fmt: str, options: Dict[str, str], mode: str, schema_capsule: Any) -> None:
        spark = runtime.session
        cls = _spark_source(fmt) if ":" in fmt else None
        if cls is not None:
            spark.dataSource.register(cls)
            fmt = cls.name()
        cls = spark._registry.lookup(fmt)
        key = (mode or "append").lower()
        if key not in _SAVE_MODES:
            raise AnalysisException(f'The specified save mode "{mode}" is invalid. Valid save modes include '
                                    '"append", "overwrite", "ignore", "error", "errorifexists", and "default".',
                                    "INVALID_SAVE_MODE")
        if not callable(getattr(cls, "writer", None)):
            raise AnalysisException(f"Data source '{fmt}' does not support writing.", "HW_UNSUPPORTED_WRITE")
        self.core_schema = parse_schema(pa.Schema._import_from_c_capsule(schema_capsule))
        spark_mode = _SAVE_MODES[key]
        self.skip = not should_write(cls, fmt, dict(options), spark_mode, Flavor(cls))  # ignore: the data exists
        self.job = None if self.skip else WriteJob(spark, cls, dict(options), spark_mode == "Overwrite",
                                                   self.core_schema)
        self.conf = spark.conf
        self.name = fmt
        self.messages: List[Any] = []
        self.done = False

    def write(self, stream_capsule: Any) -> None:
        """Writes one stream as one task (partition ``len(messages)``); its failure leaves ``None`` in
        its slot for ``abort``."""
        reader = pa.RecordBatchReader._import_from_c_capsule(stream_capsule)
        if self.done:
            raise AnalysisException("the write is committed or aborted already", "HW_INVALID_ARGUMENT")
        index = len(self.messages)
        self.messages.append(None)
        if self.job is None:
            return
        task = WriteTask(self.core_schema.to_json(), self.name, _read_batches, InputPartition(reader), index,
                         scan_options(self.conf), self.job.writer, self.job.arrow, self.job.flavor.row_type)
        self.messages[index] = task.run()

    def commit(self) -> None:
        self.done = True
        if self.job is not None:
            self.job.commit(self.messages)

    def abort(self) -> None:
        self.done = True
        if self.job is not None:
            self.job.writer.abort(self.messages)


def describe_error(e: BaseException, partition: int = -1) -> Tuple[str, str, int, int, int, str]:
    """An exception as the C API's hw_error fields; the source's own traceback when it raised."""
    cls = getattr(e, "error_class", None) or type(e).__name__
    message = getattr(e, "message", None) or str(e)
    part = getattr(e, "partition", None)
    row = getattr(e, "row", None)
    col = getattr(e, "column", None)
    cause = e.__cause__ if e.__cause__ is not None and not isinstance(e.__cause__, HeadwaterException) else None
    tb = "".join(traceback.format_exception(cause)) if cause is not None else ""
    if not tb and not isinstance(e, HeadwaterException):
        tb = "".join(traceback.format_exception(e))
    return (str(cls), str(message), partition if part is None or partition >= 0 else int(part),
            -1 if row is None else int(row), -1 if not isinstance(col, int) else col, tb)


def pkg_config_path() -> str:
    """The directory holding headwater.pc (installed next to libheadwater in the package)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib", "pkgconfig")


if __name__ == "__main__":
    if sys.argv[1:] == ["--pkg-config-path"]:
        print(pkg_config_path())
    else:
        print("usage: python -m headwater.capi --pkg-config-path", file=sys.stderr)
        sys.exit(2)
