"""One stream source of a query: the three Spark reader kinds behind one interface the engine
loop uses (initial offset, next end offset, read a micro-batch, commit, stop).

A micro-batch's partitions run on the C scan of a batch read (:class:`StreamPlan` is a
:class:`~headwater.exec.plan.ReadPlan` whose reader and partitions are the stream's), so every
executor mode, the converter and the error rules are the batch read's. In process mode the reader
is pickled once per query (:class:`Shipped`: later batches carry those bytes, only the partitions are
pickled per batch), as Spark pickles a stream's read function once when it plans the query.
"""

from __future__ import annotations

import inspect
import json
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

import cloudpickle
import pyarrow as pa

from headwater.errors import AnalysisException, HeadwaterException, HeadwaterNotImplementedError
from headwater.exec.plan import ReadPlan
from headwater.exec.policy import choose_mode
from headwater.exec.scan import drain
from headwater.schema import to_arrow_schema

__all__ = ["Shipped", "StreamPlan", "StreamSource", "offset_json"]


def offset_json(offset: Any, builtin: bool = False) -> str:
    """Offsets are compared as Spark compares them: as ``json.dumps`` strings (key order matters).
    A built-in source's (rate, files) is written as Spark's JVM sources write theirs: compact."""
    return json.dumps(offset, separators=(",", ":")) if builtin else json.dumps(offset)


def _limits(flavor_module: Any) -> Any:
    """The ReadLimit classes of the reader's own API (pyspark's for pyspark readers)."""
    if flavor_module.__name__.startswith("pyspark"):
        import pyspark.sql.streaming.datasource as limits  # optional dependency: the reader is pyspark's

        return limits
    return flavor_module


def _not_implemented_errors(flavor_module: Any) -> Tuple[type, ...]:
    """What the API's base DataSource raises for a method a source leaves out."""
    if flavor_module.__name__.startswith("pyspark"):
        from pyspark.errors import PySparkNotImplementedError  # optional dependency: the source is pyspark's

        return (PySparkNotImplementedError,)
    return (HeadwaterNotImplementedError,)


def streaming_error(what: str, e: BaseException, error_class: str = "PYTHON_STREAMING_DATA_SOURCE_RUNTIME_ERROR"
                    ) -> HeadwaterException:
    tb = "".join(traceback.format_exception(e))
    err = HeadwaterException(f"Failed when Python streaming data source perform {what}: {tb}",
                             error_class)
    err.__cause__ = e
    return err


class Shipped:
    """An object pickled once per query: pickling the wrapper again only copies those bytes, and a
    worker unpickles it to the object itself. On the host ``read`` runs the reader's (what a scan
    calls); :meth:`method` is a bound method that travels the same way."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self.pickled = cloudpickle.dumps(obj)  # raises when obj does not pickle: the caller keeps obj

    def read(self, partition: Any) -> Any:
        return self.obj.read(partition)

    def method(self, name: str) -> "_ShippedMethod":
        return _ShippedMethod(self, name)

    def __reduce__(self) -> Tuple[Callable[[bytes], Any], Tuple[bytes]]:
        return cloudpickle.loads, (self.pickled,)


class _ShippedMethod:
    """``shipped.obj.<name>``: on a worker, the unpickled object's bound method."""

    def __init__(self, shipped: Shipped, name: str) -> None:
        self.shipped, self.name = shipped, name

    def __call__(self, *args: Any) -> Any:
        return getattr(self.shipped.obj, self.name)(*args)

    def __reduce__(self) -> Tuple[Callable[[Any, str], Any], Tuple[Shipped, str]]:
        return getattr, (self.shipped, self.name)


def ship(obj: Any) -> Any:
    """``Shipped(obj)``, or obj itself when it does not pickle (the policy reports that as for reads)."""
    try:
        return Shipped(obj)
    except Exception:
        return obj


class StreamPlan(ReadPlan):
    """A read plan whose partitions are set per micro-batch."""

    def source_schema(self) -> Any:
        # a built-in file format infers no schema for a stream (Spark's _LEGACY_ERROR_TEMP_2048)
        stream_schema = getattr(self.source, "_hw_stream_schema", None)
        return stream_schema() if stream_schema is not None else super().source_schema()

    def set_batch(self, reader: Any, partitions: List[Any]) -> None:
        self._reader, self._partitions = reader, partitions

    def make_reader(self) -> Any:
        return self._reader

    def make_partitions(self, reader: Any) -> List[Any]:
        return self._partitions or [self.flavor.module.InputPartition(None)]


class _Rows:
    """The partition reader of a simple reader's batch: the rows it kept (or re-read)."""

    def __init__(self, rows: List[Any]) -> None:
        self.rows = rows

    def read(self, partition: Any) -> Any:
        return iter(self.rows)


class StreamSource:
    """A source's reader (``streamReader``, else ``simpleStreamReader``) for one query run."""

    def __init__(self, session: Any, source_cls: type, options: Dict[str, Any], user_schema: Any,
                 description: str) -> None:
        self.session = session
        self.plan = StreamPlan(source_cls, options, user_schema, session.conf)
        self.description = description
        self.reader: Any = None
        self.simple = False
        self._kept: Dict[str, Any] = {}  # simple reader: start json -> (end json, rows)
        self.latest_reported: Optional[str] = None
        self._shipped: Any = None  # see shipped_reader
        self.builtin = False  # one of headwater's built-in formats (set by open)
        self._planned: Optional[Tuple[str, str, List[Any]]] = None  # the last batch's (start, end, partitions)

    @property
    def schema(self) -> Any:
        return self.plan.schema

    def open(self, checkpoint_dir: Optional[str]) -> None:
        source = self.plan.source
        missing = _not_implemented_errors(self.plan.flavor.module)
        try:
            self.reader = source.streamReader(self.plan.schema)
        except missing:  # as Spark: only the API's own "not implemented" falls back to the simple reader
            try:
                self.reader = source.simpleStreamReader(self.plan.schema)
                self.simple = True
            except missing as e:  # Spark 4.3's words, with both "not implemented" tracebacks (probed)
                tb = "".join(traceback.format_exception(e))
                raise AnalysisException(f"Failed to plan Python data source initialize source: {tb}",
                                        "PYTHON_DATA_SOURCE_ERROR") from e
            except Exception as e:
                raise streaming_error("create simple stream reader", e) from e
        except Exception as e:
            raise streaming_error("create stream reader", e) from e
        module = self.plan.flavor.module
        self.limits = _limits(module)
        self.builtin = type(self.reader).__module__.startswith("headwater.formats.")
        attach = getattr(self.reader, "_hw_attach_checkpoint", None)
        if attach is not None and checkpoint_dir is not None:
            attach(checkpoint_dir)
        if not self.simple:
            params = inspect.signature(self.reader.latestOffset).parameters
            self._new_latest = len(params) >= 2
            get_limit = getattr(self.reader, "getDefaultReadLimit", None)
            self.limit = get_limit() if get_limit is not None else self.limits.ReadAllAvailable()

    def initial_offset(self) -> str:
        try:
            return offset_json(self.reader.initialOffset(), self.builtin)
        except Exception as e:
            raise streaming_error("initialOffset", e) from e

    def prepare_available_now(self) -> bool:
        """True when the reader bounds AvailableNow itself; else the engine runs one batch."""
        if isinstance(self.reader, self.limits.SupportsTriggerAvailableNow):
            try:
                self.reader.prepareForTriggerAvailableNow()
            except Exception as e:
                raise streaming_error("prepareForTriggerAvailableNow", e) from e
            return True
        if not self.simple:
            self.limit = self.limits.ReadAllAvailable()
        return False

    def latest_offset(self, start: str) -> str:
        """The end of the next micro-batch (== start: no new data)."""
        if self.simple:
            try:
                rows, end = self.reader.read(json.loads(start))
                rows = list(rows)
            except Exception as e:
                raise streaming_error("latestOffset", e) from e
            end_json = offset_json(end, self.builtin)
            if end_json == start and rows:
                raise HeadwaterException(
                    f"SimpleDataSourceStreamReader.read() returned "
                    f"a non-empty batch but the end offset: {end_json} did not advance past the start offset: "
                    f"{start}. The end offset must represent the position after the last record returned.",
                    "SIMPLE_STREAM_READER_OFFSET_DID_NOT_ADVANCE")
            self._kept = {start: (end_json, rows)}
            return end_json
        try:
            if self._new_latest:
                end = self.reader.latestOffset(json.loads(start), self.limit)
            else:
                end = self.reader.latestOffset()
            report = getattr(self.reader, "reportLatestOffset", None)
            reported = report() if report is not None else None
        except Exception as e:
            raise streaming_error("latestOffset", e) from e
        end_json = offset_json(end, self.builtin)
        self.latest_reported = offset_json(reported, self.builtin) if reported is not None else None
        if self.builtin and end_json != start and end == json.loads(start):
            return start  # no new data, the start as an older checkpoint spelled it
        return end_json

    def empty_batch(self) -> pa.Table:
        """No rows, the source's columns (a no-data batch)."""
        return pa.Table.from_batches([], to_arrow_schema(self.plan.core_schema))

    def read_batch(self, start: str, end: str, columns: Optional[List[int]] = None) -> pa.Table:
        """The micro-batch ``[start, end)`` through the C scan."""
        if self.simple:
            kept = self._kept.get(start)
            if kept is not None and kept[0] == end:
                rows = kept[1]
            else:  # a restart: the batch is re-read deterministically
                try:
                    rows = list(self.reader.readBetweenOffsets(json.loads(start), json.loads(end)))
                except Exception as e:
                    raise streaming_error("readBetweenOffsets", e) from e
            self._kept = {}
            part = self.plan.flavor.module.InputPartition(None)
            self.plan.set_batch(_Rows(rows), [part])
            scan, _, _ = self.plan.new_scan(self.session, ordered=True, reader=_Rows(rows), columns=columns)
            scan_mode_forced = scan  # rows live on the host: the scan reads them where they are
            return drain(scan_mode_forced, lambda r: r.read_all())
        partitions = self.batch_partitions(start, end)
        mode, _, _ = choose_mode(self.plan.conf, len(partitions))
        reader = self.shipped_reader() if mode == "process" else self.reader
        self.plan.set_batch(reader, partitions)
        scan, _, _ = self.plan.new_scan(self.session, ordered=True, reader=reader, columns=columns)
        return drain(scan, lambda r: r.read_all())

    def batch_partitions(self, start: str, end: str) -> List[Any]:
        """A full reader's partitions of ``[start, end)`` (asked once per micro-batch, as Spark)."""
        if self._planned is not None and self._planned[:2] == (start, end):
            return self._planned[2]
        try:
            partitions = list(self.reader.partitions(json.loads(start), json.loads(end)))
        except Exception as e:
            raise streaming_error("partitions", e) from e
        self._planned = (start, end, partitions)
        return partitions

    def shipped_reader(self) -> Any:
        """The reader as it goes to worker processes, pickled at its first process-mode batch and
        never again in this run (Spark too ships one pickled read function per query: later changes
        to the driver's reader never reach the executors). The reader itself when it does not
        pickle: the read policy then reports that or falls back to threads."""
        if self._shipped is None:
            self._shipped = ship(self.reader)
        return self._shipped

    def commit(self, end: str) -> None:
        try:
            self.reader.commit(json.loads(end))
        except Exception as e:
            raise streaming_error("commit", e) from e

    def stop(self) -> None:
        stop = getattr(self.reader, "stop", None)
        if stop is not None and self.reader is not None:
            stop()
