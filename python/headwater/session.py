"""The Spark-like session: configuration, the data source registry and ``read``."""

from __future__ import annotations

import atexit
import os
import sys
import threading
import warnings
import weakref
from typing import TYPE_CHECKING, Any, Dict, Optional, Type

from headwater.datasource import DataSourceRegistration
from headwater.errors import AnalysisException

if TYPE_CHECKING:
    from headwater.dataframe import DataFrame
    from headwater.readwriter import DataFrameReader

__all__ = ["SparkSession", "RuntimeConfig", "session"]

# Defaults of the settings headwater reads; everything else set is kept and returned as given.
_DEFAULT_CONF: Dict[str, str] = {
    "headwater.executor.mode": "auto",
    "headwater.executor.workers": "0",  # 0: one per CPU
    "headwater.executor.worker.maxTasks": "0",  # replace a worker after this many tasks (0: never, as Spark)
    "headwater.executor.worker.maxRssBytes": "0",  # ... or above this private RSS (0: no limit)
    "spark.sql.execution.arrow.maxRecordsPerBatch": "10000",
    "headwater.batch.maxBytes": str(64 << 20),
    "headwater.executor.queueDepth": "2",  # batches in flight per worker when streaming
    "headwater.stream.ordered": "false",  # __arrow_c_stream__ in partition order (may stall workers)
    "headwater.executor.taskRetries": "0",  # re-runs of a partition whose worker died (local Spark: 0)
    # after a cancel (Ctrl-C, a released stream) or a lost connection: how long a worker gets to stop
    # before SIGKILL (Spark's spark.python.task.killTimeout is 2 s)
    "headwater.executor.cancelGraceMs": "2000",
}


def cancel_grace_ms(conf: "RuntimeConfig") -> int:
    """``headwater.executor.cancelGraceMs``: how long cancelled work (Ctrl-C, a released stream, a
    lost worker connection) gets to stop before its worker process is killed (SIGKILL), or, in
    thread mode, before its thread is left to finish on its own."""
    grace = conf.get("headwater.executor.cancelGraceMs") or "2000"
    try:
        ms = int(grace)
    except ValueError:
        ms = -1
    if not 0 <= ms <= 86_400_000:
        raise AnalysisException(
            f"headwater.executor.cancelGraceMs must be a number of milliseconds (0 to 86400000), got '{grace}'.",
            "HW_INVALID_CONF")
    return ms


class RuntimeConfig:
    """``spark.conf``: string settings, as in Spark."""

    def __init__(self, initial: Optional[Dict[str, str]] = None) -> None:
        self._values: Dict[str, str] = dict(_DEFAULT_CONF)
        self._values.update(initial or {})

    def set(self, key: str, value: Any) -> None:
        self._values[key] = str(value).lower() if isinstance(value, bool) else str(value)

    def get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        return self._values.get(key, default)

    def unset(self, key: str) -> None:
        self._values.pop(key, None)
        if key in _DEFAULT_CONF:
            self._values[key] = _DEFAULT_CONF[key]

    def getAll(self) -> Dict[str, str]:
        return dict(self._values)


# Spark's built-in formats: a Python source may not take their names (Spark refuses them too).
_BUILTIN_NAMES = frozenset(
    ["json", "csv", "parquet", "orc", "text", "avro", "jdbc", "noop", "libsvm", "binaryfile", "image", "xml",
     "console", "memory", "rate", "socket", "kafka", "delta"]
)


class _Registry:
    """Data source classes by lower-cased name; installed ``pyspark_*`` packages exposing
    ``DefaultSource`` and the ``headwater.datasources`` entry points are found on first lookup."""

    def __init__(self) -> None:
        self._sources: Dict[str, type] = {}
        self._discovered = False

    def register(self, cls: type, *, warn: bool = True) -> None:
        if not isinstance(cls, type) or not callable(getattr(cls, "name", None)):
            raise AnalysisException(
                f"Expected a data source class with a name() classmethod, but got '{type(cls).__name__}'.",
                "DATA_SOURCE_TYPE_MISMATCH",
            )
        name = cls.name()
        key = name.lower()
        if key in _BUILTIN_NAMES:
            raise AnalysisException(
                f"Data source '{name}' already exists. Please choose a different name for the new data source.",
                "DATA_SOURCE_ALREADY_EXISTS",
            )
        if warn and key in self._sources and self._sources[key] is not cls:
            warnings.warn(f"The data source '{name}' replaces a data source registered under the same name.")
        self._sources[key] = cls

    def lookup(self, name: str) -> type:
        key = name.lower()
        if key == "jdbc":  # Spark's built-in name: headwater's own JDBC source (not user-registrable)
            from headwater.jdbc import JDBCDataSource

            return JDBCDataSource
        if key not in self._sources:  # headwater's built-in formats (parquet, csv, json, arrow, noop)
            from headwater.formats import builtin_format

            builtin = builtin_format(key)
            if builtin is not None:
                return builtin
        if key not in self._sources and not self._discovered:
            self._discover()
        if key not in self._sources:
            raise AnalysisException(
                f"Failed to find the data source: {name}. Make sure the provider name is correct and the "
                "package is properly registered and compatible with your Spark version.",
                "DATA_SOURCE_NOT_FOUND",
            )
        return self._sources[key]

    def _discover(self) -> None:
        self._discovered = True
        import importlib
        import pkgutil
        from importlib.metadata import entry_points

        for info in pkgutil.iter_modules():
            if info.name.startswith("pyspark_"):
                try:
                    module = importlib.import_module(info.name)
                except Exception as e:  # a broken package must not break every lookup
                    warnings.warn(f"cannot import data source package {info.name}: {e}")
                    continue
                cls = getattr(module, "DefaultSource", None)
                if isinstance(cls, type) and cls.name().lower() not in self._sources:
                    self.register(cls, warn=False)
        for ep in entry_points(group="headwater.datasources"):
            try:
                cls = ep.load()
            except Exception as e:
                warnings.warn(f"cannot load data source entry point {ep.name}: {e}")
                continue
            if isinstance(cls, type) and cls.name().lower() not in self._sources:
                self.register(cls, warn=False)


class SparkSession:
    """headwater's session: ``read``, ``dataSource``, ``conf``; no JVM.

    Create it with ``SparkSession.builder.getOrCreate()`` or :func:`headwater.session`.
    """

    _active: Optional["SparkSession"] = None
    _lock = threading.Lock()

    class Builder:
        def __init__(self) -> None:
            self._conf: Dict[str, str] = {}

        def config(self, key: Optional[str] = None, value: Any = None, conf: Optional[Dict[str, Any]] = None) -> "SparkSession.Builder":
            if conf:
                for k, v in conf.items():
                    self._conf[k] = str(v)
            if key is not None:
                self._conf[key] = str(value).lower() if isinstance(value, bool) else str(value)
            return self

        def appName(self, name: str) -> "SparkSession.Builder":
            return self.config("spark.app.name", name)

        def master(self, master: str) -> "SparkSession.Builder":
            return self.config("spark.master", master)

        def getOrCreate(self) -> "SparkSession":
            with SparkSession._lock:
                if SparkSession._active is None:
                    SparkSession._active = SparkSession(self._conf)
                else:
                    for k, v in self._conf.items():
                        SparkSession._active.conf.set(k, v)
                return SparkSession._active

        def create(self) -> "SparkSession":
            return SparkSession(self._conf)

    builder: "SparkSession.Builder"

    def __init__(self, conf: Optional[Dict[str, str]] = None) -> None:
        self.conf = RuntimeConfig(conf)
        self._registry = _Registry()
        self.dataSource = DataSourceRegistration(self)
        self._pool: Any = None
        self._pool_lock = threading.RLock()  # starts and stops of the worker pool
        self._engine: Any = None  # DuckDB, started by the first query that needs it
        self._views: Dict[str, Any] = {}  # lower-cased name -> (name, plan node)
        atexit.register(_stop_pool_at_exit, weakref.ref(self))  # a weak reference: sessions can go

    def _worker_pool(self) -> Any:
        """The session's worker processes, started on first use (and again if the configured
        number changed); they live until the session stops or the interpreter exits."""
        from headwater import _core

        size = int(self.conf.get("headwater.executor.workers") or 0) or (os.cpu_count() or 1)
        with self._pool_lock:  # concurrent first queries start one pool, not one each
            if self._pool is not None and self._pool.size != size:
                self._stop_pool()
            if self._pool is None:
                # workers import what the host imports: the same interpreter and sys.path
                path = os.pathsep.join(os.path.abspath(p) if p else os.getcwd() for p in sys.path)
                env = [f"{k}={v}" for k, v in os.environ.items() if k != "PYTHONPATH"] + [f"PYTHONPATH={path}"]
                self._pool = _core.WorkerPool(size, sys.executable, env)
            self._pool.set_recycle(
                int(self.conf.get("headwater.executor.worker.maxTasks") or 0),
                _byte_size(self.conf.get("headwater.executor.worker.maxRssBytes") or "0"),
            )
            self._pool.cancel_grace_ms = cancel_grace_ms(self.conf)
            return self._pool

    def _stop_pool(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()

    @property
    def read(self) -> "DataFrameReader":
        from headwater.readwriter import DataFrameReader

        return DataFrameReader(self)

    # ---- SQL on DuckDB

    def _query_engine(self) -> Any:
        if self._engine is None:
            from headwater.engine import QueryEngine

            self._engine = QueryEngine(self)
        return self._engine

    def sql(self, sqlQuery: str, args: Any = None) -> "DataFrame":
        """A DataFrame for a SQL query (DuckDB's SQL, which shares most of Spark's) over the temp
        views of this session. Each action re-reads the Python sources the views read."""
        from headwater.dataframe import DataFrame
        from headwater.logical import Compiler, SqlQuery

        if args:
            raise AnalysisException("spark.sql() parameters are not supported; format values into the query.",
                                    "HW_UNSUPPORTED")
        views = {name: node for name, node in self._views.values()}
        engine = self._query_engine()
        comp = Compiler(engine, placeholders=True)
        names = engine.bind_names(comp.sql_with_views(sqlQuery, views), comp)
        return DataFrame(self, SqlQuery(sqlQuery, views, names))

    def table(self, tableName: str) -> "DataFrame":
        """The temp view named ``tableName``."""
        from headwater.dataframe import DataFrame

        found = self._views.get(tableName.lower())
        if found is None:
            raise AnalysisException(
                f"The table or view `{tableName}` cannot be found. Verify the spelling and correctness of the schema "
                "and catalog.", "TABLE_OR_VIEW_NOT_FOUND")
        return DataFrame(self, found[1])

    def createDataFrame(self, data: Any, schema: Any = None) -> "DataFrame":
        """A DataFrame over in-memory data: a list of tuples, Rows or dicts (converted in C; dicts
        are mapped by the schema's names), a pandas or Polars DataFrame, a pyarrow Table or
        RecordBatch (kept as Arrow, without copying when the types are Spark's already).

        ``schema``: DDL, a StructType, or a list of column names. Without one, names come from the
        Rows/dicts (else ``_1``, ``_2``, ...) and each column's type from its first non-null value.
        The rows are split into ``min(rows, headwater.executor.workers)`` partitions, as Spark's
        local data is split over its default parallelism."""
        import pyarrow as pa

        from headwater.dataframe import DataFrame
        from headwater.local import LocalPlan, arrow_table_from, default_parallelism, infer_schema, rows_table
        from headwater.local import split_evenly

        names = list(schema) if isinstance(schema, (list, tuple)) else None
        table = arrow_table_from(data, None if names else schema)
        if table is None:
            rows = list(data)
            inferred = schema is None or names is not None
            if inferred:
                if not rows:
                    raise AnalysisException("Can not infer schema from an empty dataset.", "CANNOT_INFER_EMPTY_SCHEMA")
                schema = infer_schema(rows)
            table = rows_table(rows, schema, int(self.conf.get("headwater.batch.maxBytes") or 0))
            if inferred and names:  # as PySpark: the data's own names (dict keys, Row fields), then renamed
                table = table.rename_columns(names + table.column_names[len(names):])
        elif names:
            table = table.rename_columns(names + table.column_names[len(names):])
        n = min(max(table.num_rows, 1), default_parallelism(self.conf))
        return DataFrame(self, LocalPlan(pa.schema(table.schema), split_evenly(table, n), self.conf))

    def stop(self) -> None:
        """Stops the session's worker processes; the active session is forgotten."""
        self._stop_pool()
        with SparkSession._lock:
            if SparkSession._active is self:
                SparkSession._active = None

    def __enter__(self) -> "SparkSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @classmethod
    def getActiveSession(cls) -> Optional["SparkSession"]:
        return cls._active


def _byte_size(text: str) -> int:
    """A byte count as Spark writes sizes: ``1073741824``, ``512m``, ``2g`` (k, m, g, t; an optional
    trailing ``b``)."""
    t = str(text).strip().lower()
    t = t[:-1] if t.endswith("b") and len(t) > 1 else t
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}.get(t[-1:], 1)
    return int(float(t[:-1] if scale != 1 else t) * scale)


def _stop_pool_at_exit(session_ref: "weakref.ref[SparkSession]") -> None:
    session = session_ref()
    if session is not None:
        session._stop_pool()


class _BuilderDescriptor:
    def __get__(self, obj: Any, owner: Type[SparkSession]) -> SparkSession.Builder:
        return SparkSession.Builder()


SparkSession.builder = _BuilderDescriptor()  # type: ignore[assignment]


def session(**conf: Any) -> SparkSession:
    """The active session (created on first use); keyword arguments are settings."""
    builder = SparkSession.builder
    for k, v in conf.items():
        builder.config(k, v)
    return builder.getOrCreate()

