"""Planning a read in Spark's order and with Spark's checks.

Runs once per query (no per-row work): instantiate the source with its options, take the user's
schema or call ``schema()``, then per action ``reader(schema)`` and ``partitions()``. The rows are
read and converted by the C scan (``headwater._core.Scan``), in the mode :mod:`headwater.exec.policy`
chooses.

Every read plan (:class:`ReadPlan`; :class:`~headwater.generic.source.GenericPlan`, which extends
it; :class:`~headwater.exec.local.LocalPlan` for in-memory data) meets :class:`ReadPlanProtocol`,
the one interface the query layer and the facade use.
"""

from __future__ import annotations

import functools
import json
import traceback
from typing import Any, Dict, List, Optional, Protocol, Tuple

from headwater import _core
from headwater import datasource as _ours
from headwater.config import cancel_grace_ms, get, scan_options, workers
from headwater.errors import AnalysisException, HeadwaterException
from headwater.exec.policy import PICKLE_FALLBACK, choose_mode, pickle_for_workers
from headwater.schema import parse_schema, to_struct_type
from headwater.types import Row

__all__ = ["ReadPlan", "ReadPlanProtocol", "Flavor", "api_classes", "source_error", "make_source", "paths_option"]


@functools.lru_cache(maxsize=None)
def _pyspark() -> Optional[Tuple[Any, type]]:
    """``pyspark.sql.datasource`` and pyspark's Row when pyspark is installed (an optional
    dependency, imported on first use: sources written against its classes run the same way)."""
    try:
        from pyspark.sql import datasource
        from pyspark.sql.types import Row as SparkRow
    except ImportError:
        return None
    return datasource, SparkRow


class ReadPlanProtocol(Protocol):
    """What a read plan offers: its schema (the source's flavor and the C core's), its name, and
    per action a reader, its partitions, the filters it pushes and a fresh C scan."""

    name: str
    schema: Any
    core_schema: Any
    exact_batches: bool  # RecordBatches from read() must match the schema exactly (PySpark 4.3)

    def make_reader(self) -> Any: ...

    def make_partitions(self, reader: Any) -> List[Any]: ...

    def execution_mode(self, n_partitions: int) -> Tuple[str, str]: ...

    def push_filters(self, reader: Any, filters: List[Any]) -> List[Any]: ...

    def new_scan(self, session: Any = None, ordered: bool = True, reader: Any = None,
                 columns: Optional[List[int]] = None, limit: Optional[int] = None) -> Tuple[Any, str, str]: ...


class Flavor:
    """The classes a source was written against: headwater's or pyspark's. A source built on
    pyspark gets pyspark's StructType and CaseInsensitiveDict, so its own comparisons hold."""

    def __init__(self, source_cls: type) -> None:
        self.pyspark = any(c.__module__.startswith("pyspark.") for c in source_cls.__mro__)
        self.module: Any = _pyspark()[0] if self.pyspark else _ours
        self._reader_types = api_classes("DataSourceReader")
        self._partition_types = api_classes("InputPartition")

    @property
    def row_type(self) -> type:
        """The Row class a plain writer receives (pyspark's for a source built on pyspark)."""
        return _pyspark()[1] if self.pyspark else Row

    def is_writer(self, obj: Any) -> bool:
        return isinstance(obj, api_classes("DataSourceWriter"))

    def is_arrow_writer(self, obj: Any) -> bool:
        return isinstance(obj, api_classes("DataSourceArrowWriter"))

    def options(self, values: Dict[str, Optional[str]]) -> Any:
        return self.module.CaseInsensitiveDict(values)

    def struct_type(self, core_schema: Any) -> Any:
        return to_struct_type(core_schema, flavor="pyspark" if self.pyspark else "headwater")

    def is_reader(self, obj: Any) -> bool:
        return isinstance(obj, self._reader_types)

    def is_partition(self, obj: Any) -> bool:
        return isinstance(obj, self._partition_types)


def api_classes(name: str) -> Tuple[type, ...]:
    """headwater's class of that name and, when pyspark is installed, pyspark's."""
    theirs = _pyspark()
    return (getattr(_ours, name),) if theirs is None else (getattr(_ours, name), getattr(theirs[0], name))


def make_source(cls: type, options: Any, conf: Any = None) -> Any:
    """``cls(options)``, as Spark instantiates a source; a failure is Spark's
    PYTHON_DATA_SOURCE_ERROR. headwater's built-in sources (file formats, jdbc) are then handed the
    session's settings (``_hw_configure(conf)``) instead of reaching for an active session."""
    try:
        source = cls(options)
    except Exception as e:
        raise source_error("create", "instance", e) from e
    configure = getattr(source, "_hw_configure", None)
    if conf is not None and callable(configure):
        configure(conf)
    return source


def source_error(action: str, name: str, e: BaseException) -> BaseException:
    """Spark's PYTHON_DATA_SOURCE_ERROR for a failure in the source's own planning code ("Failed to
    create Python data source instance: ..."), with the source's traceback. A headwater error from
    one of headwater's own formats (files, jdbc) is returned as it is: Spark's built-in formats report
    their errors directly too."""
    # a built-in format's own error (file formats: ``spark_error``; jdbc: ``_hw_builtin``) already has
    # Spark's class and words
    if isinstance(e, HeadwaterException) and (getattr(e, "spark_error", False) or getattr(e, "_hw_builtin", False)):
        err = type(e)(e.message, e.error_class)
        err.__cause__ = e
        return err

    tb = "".join(traceback.format_exception(e))
    err = AnalysisException(f"Failed to {action} Python data source {name}: {tb}", "PYTHON_DATA_SOURCE_ERROR")
    err.__cause__ = e
    return err


class ReadPlan:
    """One ``spark.read...load()``: the source instance and its schema, resolved eagerly as Spark
    does; readers and partitions are made per action."""

    # RecordBatches from read() must match the schema exactly (PySpark 4.3 checks the first batch's
    # Arrow schema with Schema.equals); the generic format matches them by name instead.
    exact_batches = True

    def source_schema(self) -> Any:
        """The schema the source declares, when the user gave none."""
        try:
            return self.source.schema()
        except Exception as e:
            raise source_error("create", "instance", e) from e

    def __init__(
        self,
        source_cls: type,
        options: Dict[str, Optional[str]],
        user_schema: Any,
        conf: Any,
    ) -> None:
        self.source_cls = source_cls
        self.name = source_cls.name()
        self.flavor = Flavor(source_cls)
        self.conf = conf
        self.options = self.flavor.options(options)
        self.source = make_source(source_cls, self.options, conf)
        declared = user_schema if user_schema is not None else self.source_schema()
        try:
            self.core_schema = parse_schema(declared)
        except TypeError as e:
            raise AnalysisException(
                f"The schema of Python data source {self.name} must be a DDL string or a StructType: {e}",
                "INVALID_SCHEMA.NON_STRUCT_TYPE",
            ) from None
        if not self.core_schema.is_struct:
            # Spark's message: the schema as given (DDL text, or a type's JSON), then its type
            shown = declared if isinstance(declared, str) else f'"{self.core_schema.to_json().strip(chr(34))}"'
            raise AnalysisException(
                f"The input schema {shown} is not a valid schema string. The input expression should be "
                f'evaluated to struct type, but got "{self.core_schema.to_ddl()}".',
                "INVALID_SCHEMA.NON_STRUCT_TYPE",
            )
        self.schema = self.flavor.struct_type(self.core_schema)

    # ---- per action

    def make_reader(self) -> Any:
        try:
            reader = self.source.reader(self.schema)
        except Exception as e:
            raise source_error("initialize", "reader", e) from e
        if not self.flavor.is_reader(reader):
            # Spark reports the check inside PYTHON_DATA_SOURCE_ERROR (it runs in its planner process)
            raise AnalysisException(
                "Failed to initialize Python data source reader: [DATA_SOURCE_TYPE_MISMATCH] Expected an "
                f"instance of DataSourceReader, but got '{type(reader).__name__}'.",
                "PYTHON_DATA_SOURCE_ERROR",
            )
        return reader

    def make_partitions(self, reader: Any) -> List[Any]:
        try:
            partitions = reader.partitions()
        except NotImplementedError:  # PySpark 4.3: the old base class's default, read as one partition
            return [self.flavor.module.InputPartition(None)]
        except Exception as e:
            raise source_error("generate", "read partitions", e) from e
        prefix = "Failed to generate Python data source read partitions: [DATA_SOURCE_TYPE_MISMATCH] "
        if not isinstance(partitions, list):
            raise AnalysisException(
                prefix + f"Expected 'partitions' to return a list, but got '{type(partitions).__name__}'.",
                "PYTHON_DATA_SOURCE_ERROR",
            )
        bad = [p for p in partitions if not self.flavor.is_partition(p)]
        if bad:
            raise AnalysisException(
                prefix
                + "Expected elements in 'partitions' to be of type 'InputPartition', but got "
                + ", ".join(f"'{type(p).__name__}'" for p in partitions)
                + ".",
                "PYTHON_DATA_SOURCE_ERROR",
            )
        return partitions or [self.flavor.module.InputPartition(None)]  # as PySpark 4.3 (4.1 passed None)

    def execution_mode(self, n_partitions: int) -> Tuple[str, str]:
        """The executor mode asked for, and why (``auto`` is settled in :meth:`new_scan`, where it is
        known whether the reader pickles)."""
        mode, why, _ = choose_mode(self.conf, n_partitions)
        return mode, why

    def push_filters(self, reader: Any, filters: List[Any]) -> List[Any]:
        """Spark's step 3: offers the filters to ``reader.pushFilters`` when the reader implements it;
        returns the filters it did not push (all of them when it does not implement it)."""
        implemented = getattr(type(reader), "pushFilters", None) not in _base_push_filters()
        if implemented and not get(self.conf, "spark.sql.python.filterPushdown.enabled"):
            raise AnalysisException(
                f"{type(reader).__name__} implements pushFilters() but filter pushdown is disabled because "
                "configuration 'spark.sql.python.filterPushdown.enabled' is false. Set it to true to enable filter "
                "pushdown.",
                "DATA_SOURCE_PUSHDOWN_DISABLED",
            )
        if not filters or not implemented:
            return list(filters)
        try:
            rejected = list(reader.pushFilters(list(filters)))
        except Exception as e:
            raise source_error("plan", "filter", e) from e
        if any(not any(r is f for f in filters) for r in rejected):
            raise AnalysisException(
                f"{type(reader).__name__}.pushFilters() returned filters that are not part of the input. Make sure "
                "that each returned filter is one of the input filters by reference.",
                "DATA_SOURCE_EXTRANEOUS_FILTERS",
            )
        return rejected

    def new_scan(self, session: Any = None, ordered: bool = True, reader: Any = None,
                 columns: Optional[List[int]] = None, limit: Optional[int] = None) -> Tuple[Any, str, str]:
        """A fresh C scan for one action, with the mode that runs it and why.

        ``ordered``: batches in partition order, buffered without bound (for actions that keep
        everything anyway: collect, toArrow); otherwise as partitions complete, with at most
        ``headwater.executor.queueDepth`` batches in flight per worker, so memory stays bounded
        however slow the consumer. ``reader``: one already made (and offered filters) for this
        action. ``columns``: the schema positions to convert (column pruning); ``limit``: the scan
        stops after that many rows."""
        if reader is None:
            reader = self.make_reader()
        partitions = self.make_partitions(reader)
        mode, why, explicit = choose_mode(self.conf, len(partitions))
        options = dict(
            source_name=self.name,
            workers=workers(self.conf),
            ordered=ordered,
            # ordered actions keep everything anyway: workers may run ahead, except under a limit
            queue_depth=0 if ordered and limit is None else get(self.conf, "headwater.executor.queueDepth"),
            columns=columns,
            limit=-1 if limit is None else int(limit),
            exact_batches=self.exact_batches,
            cancel_grace_ms=cancel_grace_ms(self.conf),
            **scan_options(self.conf),
        )
        if mode == "process":
            shipped = pickle_for_workers([reader, *partitions], explicit=explicit, what="reader", source=self.name,
                                         suspects=[("", reader)], inside="read", instead="Running")
            if shipped is None:
                mode, why = "thread", PICKLE_FALLBACK
            else:
                # queries share the pool's workers (exec/lease.c): a busy pool is waited for
                scan = _core.Scan(
                    self.core_schema, reader.read, partitions, mode="process", pool=session._worker_pool(),
                    pickled_reader=shipped[0], pickled_partitions=shipped[1:],
                    task_retries=get(self.conf, "headwater.executor.taskRetries"), **options,
                )
                self.last_run = {"partitions": len(partitions), "mode": mode, "why": why}
                _track(session, scan, self.name, mode)
                return scan, mode, why
        scan = _core.Scan(self.core_schema, reader.read, partitions, mode=mode, **options)
        self.last_run = {"partitions": len(partitions), "mode": mode, "why": why}
        _track(session, scan, self.name, mode)
        return scan, mode, why


def _track(session: Any, scan: Any, name: str, mode: str) -> None:
    """The session's run tracker (exec/report.py) learns of the scan: the run report and the
    progress bar read its C counters."""
    tracker = getattr(session, "_runs", None)
    if tracker is not None:
        tracker.started(scan, name, mode)


def _base_push_filters() -> Tuple[Any, ...]:
    """``DataSourceReader.pushFilters`` of headwater and of pyspark: a reader that keeps either one
    does not push."""
    return tuple(getattr(cls, "pushFilters", None) for cls in api_classes("DataSourceReader"))


def paths_option(paths: List[str]) -> str:
    """Spark passes several load() paths as the option ``paths``, a JSON array (compact)."""
    return json.dumps(list(paths), separators=(",", ":"))
