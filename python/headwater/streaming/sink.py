"""The sinks of a streaming query: each takes a micro-batch (an ordinary batch DataFrame over its
Arrow, and the Arrow itself) with its batch id.

A Python ``DataSourceStreamWriter``'s ``write`` runs per partition of the micro-batch, then
``commit(messages, batchId)`` -- or ``abort`` when a write failed -- on a writer made fresh for
that call, as Spark's sink runner does. In process mode, when the query has no transformation,
each partition is read and written by one write task of the batch write path on a worker
(:meth:`PythonStreamSink.write_on_workers`): the rows never cross to the host, and the reader and
the writer are pickled once per query.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable, Dict, List, Optional

import pyarrow as pa

from headwater import _core
from headwater.config import scan_options
from headwater.errors import AnalysisException, HeadwaterException, PythonException
from headwater.exec.plan import Flavor, make_source
from headwater.exec.policy import choose_mode
from headwater.exec.write_task import WriteTask, pickle_tasks, run_in_workers
from headwater.streaming.source import Shipped, StreamSource, ship

__all__ = ["make_sink", "Sink"]


class Sink:
    name = "sink"

    def open(self, checkpoint_dir: Optional[str]) -> None:
        pass

    def add_batch(self, batch_id: int, df: Any, table: pa.Table) -> None:
        raise NotImplementedError

    def description(self) -> str:
        return self.name


class NoopSink(Sink):
    name = "NoopTable"

    def add_batch(self, batch_id: int, df: Any, table: pa.Table) -> None:
        pass


class ForeachBatchSink(Sink):
    name = "ForeachBatchSink"

    def __init__(self, fn: Callable[[Any, int], Any]) -> None:
        self.fn = fn

    def add_batch(self, batch_id: int, df: Any, table: pa.Table) -> None:
        self.fn(df, batch_id)


class ForeachSink(Sink):
    """``foreach(obj)``: open(partitionId, epochId) / process(row) / close(error) per partition,
    or a plain function per row (Spark's API is per row)."""

    name = "ForeachWriterTable"

    def __init__(self, target: Any) -> None:
        self.target = target

    def add_batch(self, batch_id: int, df: Any, table: pa.Table) -> None:
        rows = df.collect()
        t = self.target
        if callable(t) and not hasattr(t, "process"):
            for row in rows:
                t(row)
            return
        opened = t.open(0, batch_id) if hasattr(t, "open") else True
        error: Optional[BaseException] = None
        try:
            if opened is None or opened:
                for row in rows:
                    t.process(row)
        except BaseException as e:
            error = e
            raise
        finally:
            if hasattr(t, "close"):
                t.close(error)


class MemorySink(Sink):
    """A temp view named by the query's name: append adds the batch's rows, complete replaces them."""

    name = "MemorySink"

    def __init__(self, session: Any, query_name: Optional[str], mode: str) -> None:
        if not query_name:
            raise AnalysisException("queryName must be specified for memory sink", "_LEGACY_ERROR_TEMP_1242")
        self.session, self.query_name, self.mode = session, query_name, mode
        self.tables: List[pa.Table] = []

    def add_batch(self, batch_id: int, df: Any, table: pa.Table) -> None:
        if self.mode == "complete":
            self.tables = [table]
        else:
            self.tables.append(table)
        whole = pa.concat_tables(self.tables) if self.tables else table
        self.session.createDataFrame(whole).createOrReplaceTempView(self.query_name)


class ConsoleSink(Sink):
    name = "ConsoleTable"

    def __init__(self, options: Dict[str, Any]) -> None:
        self.rows = int(options.get("numRows", 20))
        self.truncate = str(options.get("truncate", "true")).lower() == "true"

    def add_batch(self, batch_id: int, df: Any, table: pa.Table) -> None:
        line = "-------------------------------------------"
        print(f"{line}\nBatch: {batch_id}\n{line}")
        df.show(self.rows, self.truncate)


def _sink_error(what: str, e: BaseException) -> HeadwaterException:
    tb = e.message if isinstance(e, PythonException) else "".join(traceback.format_exception(e))
    err = HeadwaterException(
        f"Failed when Python streaming data source perform {what}: {tb}",
        "PYTHON_STREAMING_DATA_SOURCE_RUNTIME_ERROR")
    err.__cause__ = e
    return err


class PythonStreamSink(Sink):
    """A data source's ``streamWriter``: write per partition, commit/abort on a fresh writer."""

    def __init__(self, session: Any, source_cls: type, options: Dict[str, Any], schema: Any, mode: str) -> None:
        self.flavor = Flavor(source_cls)
        self.source = make_source(source_cls, self.flavor.options(options), session.conf)
        self.schema, self.overwrite = schema, mode == "complete"
        self.name = f"PythonDataSourceStreamingWrite({source_cls.name()})"
        self._writer = self._new_writer()  # checks streamWriter exists before the first batch
        self._shipped_writer: Any = None  # the writer pickled for the workers, once per query

    def _new_writer(self) -> Any:
        try:
            return self.source.streamWriter(self.schema, self.overwrite)
        except NotImplementedError:
            raise AnalysisException(
                "Data source does not support streaming write: [NOT_IMPLEMENTED] streamWriter is not implemented.",
                "PYTHON_DATA_SOURCE_ERROR") from None
        except Exception as e:
            raise _sink_error("create stream writer", e) from e

    def open(self, checkpoint_dir: Optional[str]) -> None:
        attach = getattr(self._writer, "_hw_attach_checkpoint", None)
        if attach is not None and checkpoint_dir is not None:
            attach(checkpoint_dir)
        self._checkpoint_dir = checkpoint_dir

    def _fresh(self) -> Any:
        w = self._new_writer()
        attach = getattr(w, "_hw_attach_checkpoint", None)
        if attach is not None and self._checkpoint_dir is not None:
            attach(self._checkpoint_dir)
        return w

    def write_on_workers(self, batch_id: int, source: StreamSource, start: str, end: str,
                         session: Any) -> Optional[int]:
        """The micro-batch ``[start, end)`` of ``source`` read and written on the worker processes,
        one write task per partition; commit or abort here. Returns the rows written, or None when
        the batch goes through the host instead (not process mode, a simple reader, or a reader or
        writer that does not pickle under ``auto``)."""
        if source.simple:
            return None
        partitions = source.batch_partitions(start, end) or [source.plan.flavor.module.InputPartition(None)]
        mode, _, explicit = choose_mode(session.conf, len(partitions))
        if mode != "process":
            return None
        reader = source.shipped_reader()
        if self._shipped_writer is None:
            self._shipped_writer = ship(self._writer)
        if not isinstance(reader, Shipped) or not isinstance(self._shipped_writer, Shipped):
            return None
        plan = source.plan
        options = dict(scan_options(plan.conf), exact_batches=plan.exact_batches)
        arrow = isinstance(self._writer, self.flavor.module.DataSourceStreamArrowWriter)
        tasks = [_MicroBatchWriteTask(plan.core_schema.to_json(), plan.name, reader.method("read"), p, i, options,
                                      self._shipped_writer, arrow, self.flavor.row_type)
                 for i, p in enumerate(partitions)]
        pickled = pickle_tasks(tasks, explicit, plan.name)
        if pickled is None:
            return None
        results: List[Any] = [None] * len(tasks)
        failure, interrupted = run_in_workers(session._worker_pool(), pickled, results)
        messages = [r.message if r is not None else None for r in results]
        if interrupted or failure is not None:
            try:
                self._fresh().abort(messages, batch_id)
            except Exception:
                pass  # the write's failure is the one reported
            if interrupted:
                raise KeyboardInterrupt("the micro-batch's write was interrupted")
            raise _sink_error("write", failure) if _from_writer(failure) else failure
        try:
            self._fresh().commit(messages, batch_id)
        except Exception as e:
            raise _sink_error("commit", e) from e
        return sum(r.rows for r in results)

    def add_batch(self, batch_id: int, df: Any, table: pa.Table) -> None:
        writer = self._writer
        arrow = isinstance(writer, self.flavor.module.DataSourceStreamArrowWriter)
        messages: List[Any] = []
        try:
            if arrow:
                messages.append(writer.write(iter(table.to_batches())))
            else:  # Rows converted in C a slice at a time (the same feed as a batch write task)
                messages.append(writer.write(_core.WriteFeed(table.to_batches(), self.flavor.row_type)))
        except Exception as e:
            try:
                self._fresh().abort(messages, batch_id)
            except Exception:
                pass  # the write's failure is the one reported
            raise _sink_error("write", e) from e
        try:
            self._fresh().commit(messages, batch_id)
        except Exception as e:
            raise _sink_error("commit", e) from e


class _Written:
    """A write task's answer: the writer's commit message and the rows it was given."""

    def __init__(self, message: Any, rows: int) -> None:
        self.message, self.rows = message, rows


class _MicroBatchWriteTask(WriteTask):
    """A batch write task that also counts the partition's rows (the micro-batch's progress)."""

    def batches(self) -> Any:
        for batch in super().batches():
            self.rows += batch.num_rows
            yield batch

    def run(self, where: str = "") -> Any:
        self.rows = 0  # the rows the writer took (all of them, unless it stops early)
        message = super().run(where)
        return _Written(message, self.rows)


def _from_writer(failure: BaseException) -> bool:
    """Whether a write task failed in the writer's code (not reading the partition)."""
    return isinstance(failure, PythonException) and "Python data source writer" in failure.message


def make_sink(session: Any, fmt: str, options: Dict[str, Any], schema: Any, mode: str,
              query_name: Optional[str], foreach_batch: Any, foreach: Any) -> Sink:
    if foreach_batch is not None:
        return ForeachBatchSink(foreach_batch)
    if foreach is not None:
        return ForeachSink(foreach)
    key = (fmt or "").lower()
    if key == "memory":
        return MemorySink(session, query_name, mode)
    if key == "console":
        return ConsoleSink(options)
    if key == "noop":
        return NoopSink()
    cls = session._registry.lookup(fmt)
    return PythonStreamSink(session, cls, options, schema, mode)
