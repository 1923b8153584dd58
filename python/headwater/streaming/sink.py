"""The sinks of a streaming query: each takes a micro-batch (an ordinary batch DataFrame over its
Arrow, and the Arrow itself) with its batch id.

A Python ``DataSourceStreamWriter``'s ``write`` runs per partition of the micro-batch, then
``commit(messages, batchId)`` -- or ``abort`` when a write failed -- on a writer made fresh for
that call, as Spark's sink runner does.
"""

from __future__ import annotations

import itertools
import traceback
from typing import Any, Callable, Dict, List, Optional

import pyarrow as pa

from headwater import _core
from headwater.errors import AnalysisException, HeadwaterException
from headwater.exec.plan import Flavor, make_source

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
    tb = "".join(traceback.format_exception(e))
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

    def add_batch(self, batch_id: int, df: Any, table: pa.Table) -> None:
        writer = self._writer
        arrow = isinstance(writer, self.flavor.module.DataSourceStreamArrowWriter)
        messages: List[Any] = []
        try:
            if arrow:
                messages.append(writer.write(iter(table.to_batches())))
            else:  # Rows converted in C a batch at a time, handed over by itertools in C
                row = self.flavor.row_type
                messages.append(writer.write(itertools.chain.from_iterable(
                    _core.rows_from_arrow(b, row) for b in table.to_batches())))
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
