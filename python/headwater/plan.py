"""Planning a read in Spark's order and with Spark's checks.

Runs once per query (no per-row work): instantiate the source with its options, take the user's
schema or call ``schema()``, then per action ``reader(schema)`` and ``partitions()``. The rows are
read and converted by the C scan (``headwater._core.Scan``).
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, Dict, List, Optional, Tuple

from headwater import _core
from headwater.errors import AnalysisException, HeadwaterException
from headwater.schema import parse_schema, to_struct_type

__all__ = ["ReadPlan", "Flavor"]


class Flavor:
    """The classes a source was written against: headwater's or pyspark's. A source built on
    pyspark gets pyspark's StructType and CaseInsensitiveDict, so its own comparisons hold."""

    def __init__(self, source_cls: type) -> None:
        self.pyspark = any(c.__module__.startswith("pyspark.") for c in source_cls.__mro__)
        if self.pyspark:
            from pyspark.sql import datasource as ds

            self.module: Any = ds
        else:
            from headwater import datasource as ds_ours

            self.module = ds_ours
        self._reader_types = _both("DataSourceReader")
        self._partition_types = _both("InputPartition")

    @property
    def row_type(self) -> type:
        """The Row class a plain writer receives (pyspark's for a source built on pyspark)."""
        if self.pyspark:
            from pyspark.sql.types import Row as SparkRow

            return SparkRow
        from headwater.types import Row

        return Row

    def is_writer(self, obj: Any) -> bool:
        return isinstance(obj, _both("DataSourceWriter"))

    def is_arrow_writer(self, obj: Any) -> bool:
        return isinstance(obj, _both("DataSourceArrowWriter"))

    def is_commit_message(self, obj: Any) -> bool:
        return isinstance(obj, _both("WriterCommitMessage"))

    def options(self, values: Dict[str, Optional[str]]) -> Any:
        return self.module.CaseInsensitiveDict(values)

    def struct_type(self, core_schema: Any) -> Any:
        return to_struct_type(core_schema, flavor="pyspark" if self.pyspark else "headwater")

    def is_reader(self, obj: Any) -> bool:
        return isinstance(obj, self._reader_types)

    def is_partition(self, obj: Any) -> bool:
        return isinstance(obj, self._partition_types)


def _both(name: str) -> Tuple[type, ...]:
    """headwater's class of that name and, when pyspark is installed, pyspark's."""
    from headwater import datasource as ours

    types: List[type] = [getattr(ours, name)]
    try:
        from pyspark.sql import datasource as theirs

        types.append(getattr(theirs, name))
    except ImportError:
        pass
    return tuple(types)


def _source_error(action: str, name: str, e: BaseException) -> BaseException:
    """Spark's PYTHON_DATA_SOURCE_ERROR for a failure in the source's own planning code ("Failed to
    create Python data source instance: ..."), with the source's traceback. A headwater error from
    one of headwater's own formats (files, jdbc) is returned as it is: Spark's built-in formats report
    their errors directly too."""
    import traceback

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
        try:
            self.source = source_cls(self.options)
        except Exception as e:
            raise _source_error("create", "instance", e) from e
        if user_schema is not None:
            declared = user_schema
        else:
            try:
                declared = self.source.schema()
            except Exception as e:
                raise _source_error("create", "instance", e) from e
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
            raise _source_error("initialize", "reader", e) from e
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
            raise _source_error("generate", "read partitions", e) from e
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
        mode = (self.conf.get("headwater.executor.mode") or "auto").lower()
        if mode in ("inline", "thread", "process"):
            return mode, "set by headwater.executor.mode"
        if mode != "auto":
            raise AnalysisException(
                f"headwater.executor.mode must be auto, inline, thread or process, got '{mode}'.", "HW_INVALID_CONF"
            )
        if n_partitions > 1:
            return "process", "auto: more than one partition, run on worker processes"
        return "thread", "auto: a single partition"

    def push_filters(self, reader: Any, filters: List[Any]) -> List[Any]:
        """Spark's step 3: offers the filters to ``reader.pushFilters`` when the reader implements it;
        returns the filters it did not push (all of them when it does not implement it)."""
        implemented = getattr(type(reader), "pushFilters", None) not in _base_push_filters()
        if implemented and (self.conf.get("spark.sql.python.filterPushdown.enabled") or "true").lower() != "true":
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
            raise _source_error("plan", "filter", e) from e
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
        mode, why = self.execution_mode(len(partitions))
        from headwater.session import cancel_grace_ms

        explicit = (self.conf.get("headwater.executor.mode") or "auto").lower() == "process"
        options = dict(
            source_name=self.name,
            workers=int(self.conf.get("headwater.executor.workers") or 0) or (os.cpu_count() or 1),
            max_rows_per_batch=int(self.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") or 10000),
            max_bytes_per_batch=int(self.conf.get("headwater.batch.maxBytes") or 0),
            ordered=ordered,
            # ordered actions keep everything anyway: workers may run ahead, except under a limit
            queue_depth=0 if ordered and limit is None else int(self.conf.get("headwater.executor.queueDepth") or 2),
            columns=columns,
            limit=-1 if limit is None else int(limit),
            exact_batches=self.exact_batches,
            cancel_grace_ms=cancel_grace_ms(self.conf),
        )
        if mode == "process":
            shipped = self._pickle_for_workers(reader, partitions, explicit)
            if shipped is None:
                mode, why = "thread", "auto: the reader does not pickle, so it cannot go to worker processes"
            else:
                try:
                    scan = _core.Scan(
                        self.core_schema, reader.read, partitions, mode="process", pool=session._worker_pool(),
                        pickled_reader=shipped[0], pickled_partitions=shipped[1],
                        task_retries=int(self.conf.get("headwater.executor.taskRetries") or 0), **options,
                    )
                except HeadwaterException as e:
                    if e.error_class != "HW_POOL_BUSY" or explicit:
                        raise
                    mode, why = "thread", "auto: the worker processes are busy with another query"
                else:
                    self.last_run = {"partitions": len(partitions), "mode": mode, "why": why}
                    return scan, mode, why
        scan = _core.Scan(self.core_schema, reader.read, partitions, mode=mode, **options)
        self.last_run = {"partitions": len(partitions), "mode": mode, "why": why}
        return scan, mode, why

    def _pickle_for_workers(self, reader: Any, partitions: List[Any], explicit: bool) -> Optional[Tuple[bytes, List[bytes]]]:
        """The reader and partitions as cloudpickle bytes (as Spark ships them); None when the reader
        does not pickle and ``auto`` may fall back to threads (with a warning), else an error that
        names the attribute that failed."""
        import cloudpickle

        try:
            return cloudpickle.dumps(reader), [cloudpickle.dumps(p) for p in partitions]
        except Exception as e:
            culprit = _unpicklable_attribute(reader)
            where = f"attribute '{culprit[0]}' ({culprit[1]})" if culprit else f"{type(e).__name__}: {e}"
            message = (
                f"The reader of Python data source {self.name} cannot be pickled for worker processes: {where}. "
                "Create connections and other live objects inside read()."
            )
            if explicit:
                raise AnalysisException(message, "PYTHON_DATA_SOURCE_ERROR") from e
            warnings.warn(message + " Running on threads instead.")
            return None


def _base_push_filters() -> Tuple[Any, ...]:
    """``DataSourceReader.pushFilters`` of headwater and of pyspark: a reader that keeps either one
    does not push."""
    return tuple(getattr(cls, "pushFilters", None) for cls in _both("DataSourceReader"))


def _unpicklable_attribute(obj: Any) -> Optional[Tuple[str, str]]:
    """The first attribute of obj that cloudpickle refuses, and why."""
    import cloudpickle

    for name, value in getattr(obj, "__dict__", {}).items():
        try:
            cloudpickle.dumps(value)
        except Exception as e:
            return name, f"{type(e).__name__}: {e}"
    return None


def paths_option(paths: List[str]) -> str:
    """Spark passes several load() paths as the option ``paths``, a JSON array (compact)."""
    return json.dumps(list(paths), separators=(",", ":"))
