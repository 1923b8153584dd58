"""The Spark-like session: configuration, the data source registry, ``read``, ``sql`` and
``createDataFrame``."""

from __future__ import annotations

import atexit
import importlib
import os
import pkgutil
import sys
import threading
import warnings
import weakref
from typing import Any, Dict, List, Optional, Tuple, Type

from headwater import _core
from headwater.config import RuntimeConfig, cancel_grace_ms, get, install_session_factory, workers
from headwater.datasource import DataSourceRegistration
from headwater.errors import AnalysisException
from headwater.exec.local import arrow_table_from, infer_schema, local_plan, rows_table
from headwater.exec.report import RunReport, RunTracker
from headwater.formats import BUILTIN_FORMATS, builtin_format
from headwater.generic import FORMAT, register_python
from headwater.generic.spark import GenericSourceError, split_target
from headwater.jdbc import JDBCDataSource
from headwater.query.engine import QueryEngine
from headwater.query.logical import SqlQuery
from headwater.sql.dataframe import DataFrame
from headwater.sql.readwriter import DataFrameReader

__all__ = ["SparkSession", "RuntimeConfig", "session", "read_python", "cancel_grace_ms"]


# Spark's built-in formats: a Python source may not take their names (Spark refuses them too).
_BUILTIN_NAMES = frozenset(
    ["json", "csv", "parquet", "orc", "text", "avro", "jdbc", "noop", "libsvm", "binaryfile", "image", "xml",
     "console", "memory", "rate", "socket", "kafka", "delta"]
)


#: Streaming's faces on the session: the streaming layer sits above the facade and installs them.
_STREAMING: Dict[str, Any] = {}


def install_streaming(**hooks: Any) -> None:
    """Called once by :mod:`headwater.streaming`: ``reader`` (session -> DataStreamReader),
    ``manager`` (session -> StreamingQueryManager)."""
    _STREAMING.update(hooks)


def _streaming_hook(name: str) -> Any:
    if name not in _STREAMING:
        raise AnalysisException("Streaming needs headwater.streaming: import it (import headwater does).",
                                "HW_STREAMING_NOT_LOADED")
    return _STREAMING[name]


class _Registry:
    """Data source classes by lower-cased name; installed ``pyspark_*`` packages exposing
    ``DefaultSource`` and the ``headwater.datasources`` entry points are found on first lookup."""

    def __init__(self) -> None:
        self._sources: Dict[str, type] = {}
        self._origins: Dict[str, str] = {}  # lower-cased name -> where the class came from (`headwater sources`)
        self._discovered = False

    def register(self, cls: type, *, warn: bool = True, origin: str = "registered") -> None:
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
        self._origins[key] = origin

    def listing(self) -> List[Tuple[str, type, str]]:
        """(name, class, origin) of every source a lookup can find, discovered ones included:
        origin is "registered", "entry point NAME", "package NAME" or "built in"."""
        if not self._discovered:
            self._discover()
        out = [(cls.name(), cls, self._origins.get(key, "registered")) for key, cls in sorted(self._sources.items())]
        builtin = [(name, builtin_format(name)) for name in BUILTIN_FORMATS] + [("jdbc", JDBCDataSource)]
        return out + [(name, cls, "built in") for name, cls in builtin]

    def lookup(self, name: str) -> type:
        key = name.lower()
        if key == "jdbc":  # Spark's built-in name: headwater's own JDBC source (not user-registrable)
            return JDBCDataSource
        if key not in self._sources:  # headwater's built-in formats (parquet, csv, json, arrow, noop)
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

    def register_python(self, name: str, source: Any) -> type:
        """A three-method generic source class under ``name`` (:mod:`headwater.generic`)."""
        return register_python(self, name, source)

    def _discover(self) -> None:
        self._discovered = True
        from importlib.metadata import entry_points  # on first use: a slow import, needed rarely

        for info in pkgutil.iter_modules():
            if info.name.startswith("pyspark_"):
                try:
                    module = importlib.import_module(info.name)
                except Exception as e:  # a broken package must not break every lookup
                    warnings.warn(f"cannot import data source package {info.name}: {e}")
                    continue
                cls = getattr(module, "DefaultSource", None)
                if isinstance(cls, type) and cls.name().lower() not in self._sources:
                    self.register(cls, warn=False, origin=f"package {info.name}")
        for ep in entry_points(group="headwater.datasources"):
            try:
                cls = ep.load()
            except Exception as e:
                warnings.warn(f"cannot load data source entry point {ep.name}: {e}")
                continue
            if isinstance(cls, type) and cls.name().lower() not in self._sources:
                self.register(cls, warn=False, origin=f"entry point {ep.name}")


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
        self._runs = RunTracker(self.conf)  # the scans of the latest action: lastRunReport(), the progress bar
        atexit.register(_stop_pool_at_exit, weakref.ref(self))  # a weak reference: sessions can go

    def _worker_pool(self) -> Any:
        """The session's worker processes, started on first use (and again if the configured
        number changed); they live until the session stops or the interpreter exits."""
        size = workers(self.conf)
        with self._pool_lock:  # concurrent first queries start one pool, not one each
            if self._pool is not None and self._pool.size != size:
                self._stop_pool()
            if self._pool is None:
                # workers import what the host imports: the same interpreter and sys.path
                path = os.pathsep.join(os.path.abspath(p) if p else os.getcwd() for p in sys.path)
                env = [f"{k}={v}" for k, v in os.environ.items() if k != "PYTHONPATH"] + [f"PYTHONPATH={path}"]
                self._pool = _core.WorkerPool(size, sys.executable, env)
            self._pool.set_recycle(
                get(self.conf, "headwater.executor.worker.maxTasks"),
                get(self.conf, "headwater.executor.worker.maxRssBytes"),
            )
            self._pool.cancel_grace_ms = cancel_grace_ms(self.conf)
            return self._pool

    def _stop_pool(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()

    def lastRunReport(self) -> Optional[RunReport]:
        """What each partition of the latest action cost: rows, batches, bytes, wall time and the
        time in the source's code, converting and waiting on the consumer, and the worker's pid
        (None before the first read). On the session, because every action (a DataFrame's, a SQL
        query over several sources, a stream another engine consumes) runs through it."""
        return self._runs.report()

    @property
    def read(self) -> DataFrameReader:
        return DataFrameReader(self)

    @property
    def readStream(self) -> Any:
        """A DataStreamReader (:mod:`headwater.streaming`, the layer above, installs it)."""
        return _streaming_hook("reader")(self)

    @property
    def streams(self) -> Any:
        """The session's StreamingQueryManager."""
        if getattr(self, "_streams", None) is None:
            self._streams = _streaming_hook("manager")(self)
        return self._streams

    # ---- SQL on DuckDB

    def _query_engine(self) -> Any:
        if self._engine is None:
            self._engine = QueryEngine(self)
        return self._engine

    def sql(self, sqlQuery: str, args: Any = None) -> DataFrame:
        """A DataFrame for a SQL query (DuckDB's SQL, which shares most of Spark's) over the temp
        views of this session. Each action re-reads the Python sources the views read."""
        if args:
            raise AnalysisException("spark.sql() parameters are not supported; format values into the query.",
                                    "HW_UNSUPPORTED")
        views = {name: node for name, node in self._views.values()}
        engine = self._query_engine()
        comp = engine.probe(text=sqlQuery, views=views)
        names = engine.bind_names(comp.sql_with_views(sqlQuery, views), comp)
        return DataFrame(self, SqlQuery(sqlQuery, views, names))

    def table(self, tableName: str) -> DataFrame:
        """The temp view named ``tableName``."""
        found = self._views.get(tableName.lower())
        if found is None:
            raise AnalysisException(
                f"The table or view `{tableName}` cannot be found. Verify the spelling and correctness of the schema "
                "and catalog.", "TABLE_OR_VIEW_NOT_FOUND")
        return DataFrame(self, found[1])

    def createDataFrame(self, data: Any, schema: Any = None) -> DataFrame:
        """A DataFrame over in-memory data: a list of tuples, Rows or dicts (converted in C; dicts
        are mapped by the schema's names), a pandas or Polars DataFrame, a pyarrow Table or
        RecordBatch (kept as Arrow, without copying when the types are Spark's already).

        ``schema``: DDL, a StructType, or a list of column names. Without one, names come from the
        Rows/dicts (else ``_1``, ``_2``, ...) and each column's type from its first non-null value.
        The rows are split into ``min(rows, headwater.executor.workers)`` partitions, as Spark's
        local data is split over its default parallelism."""
        names = list(schema) if isinstance(schema, (list, tuple)) else None
        table = arrow_table_from(data, None if names else schema)
        if table is None:
            rows = list(data)
            inferred = schema is None or names is not None
            if inferred:
                if not rows:
                    raise AnalysisException("Can not infer schema from an empty dataset.", "CANNOT_INFER_EMPTY_SCHEMA")
                schema = infer_schema(rows)
            table = rows_table(rows, schema, get(self.conf, "headwater.batch.maxBytes"))
            if inferred and names:  # as PySpark: the data's own names (dict keys, Row fields), then renamed
                table = table.rename_columns(names + table.column_names[len(names):])
        elif names:
            table = table.rename_columns(names + table.column_names[len(names):])
        return DataFrame(self, local_plan(table, self.conf))

    def stop(self) -> None:
        """Stops the session's streaming queries, then its worker processes; the active session is
        forgotten."""
        streams = getattr(self, "_streams", None)
        for query in streams.active if streams is not None else []:
            query.stop()  # before the workers its batches run on
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


install_session_factory(lambda: SparkSession.builder.getOrCreate())


def read_python(source: Any, spark: Optional["SparkSession"] = None, /, **options: Any) -> DataFrame:
    """Read a generic source: ``read_python("pkg.module:Class", endpoint=url)``.

    The same as ``spark.read.format("python").option("python_module", ...)
    .option("python_class", ...).options(**options).load()``.

    Parameters
    ----------
    source : str or type
        ``"pkg.module:Class"``, or the class (defined at the top level of an importable module).
    spark : SparkSession, optional
        The session; the active one (created if needed) by default.
    **options
        The source's options (values are passed as strings, as Spark does).
    """
    try:
        module, qualname = split_target(source)
    except GenericSourceError as e:
        raise AnalysisException(str(e), "HW_INVALID_ARGUMENT") from None
    clash = [k for k in options if k.lower() in ("python_module", "python_class")]
    if clash:
        raise TypeError(f"read_python() takes the source as its first argument, not the option {clash[0]!r}")
    if spark is None:
        spark = SparkSession.builder.getOrCreate()
    reader = spark.read.format(FORMAT).option("python_module", module).option("python_class", qualname)
    return reader.options(**options).load()
