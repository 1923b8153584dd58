"""``df.write``: Spark's DataFrameWriter for Python data sources (batch writes).

The protocol is Spark's (checked against PySpark 4.1.1, see docs/spark-write-semantics.md):
``DataSource(options).writer(schema, overwrite)`` once at ``save()``; ``write(iterator)`` once per
DataFrame partition, each returning a ``WriterCommitMessage``; then ``commit(messages)`` on the
writer made at planning, or ``abort(messages)`` (a failed partition's slot is None) when a partition
failed. A failing ``commit`` is followed by ``abort`` with the same messages, as in Spark.

Partitions are written on the session's worker processes when ``headwater.executor.mode``
resolves to process (as for reads: ``process``, or ``auto`` with more than one partition and a
task that pickles; see :mod:`headwater.write_task`), else on threads (a ``ThreadPoolExecutor`` of
``headwater.executor.workers``). Plain writers get Rows built from Arrow in C, one batch at a time;
``DataSourceArrowWriter`` gets the RecordBatches themselves.
"""

from __future__ import annotations

import os
import threading
import traceback
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from headwater.errors import AnalysisException, HeadwaterException
from headwater.plan import Flavor, _source_error
from headwater.readwriter import _to_str
from headwater.savemode import should_write

if TYPE_CHECKING:
    from headwater.dataframe import DataFrame

__all__ = ["DataFrameWriter"]

# lower-cased mode -> Spark's SaveMode name
_SAVE_MODES = {
    "append": "Append",
    "overwrite": "Overwrite",
    "error": "ErrorIfExists",
    "errorifexists": "ErrorIfExists",
    "default": "ErrorIfExists",
    "ignore": "Ignore",
}


class DataFrameWriter:
    """Builds a write: ``format``, ``mode``, ``option``/``options``, then ``save``."""

    def __init__(self, df: "DataFrame") -> None:
        self._df = df
        self._spark = df.sparkSession
        self._format: Optional[str] = None
        self._mode = "errorifexists"  # Spark's default, which Python data sources refuse
        self._options: Dict[str, Optional[str]] = {}

    def format(self, source: str) -> "DataFrameWriter":
        self._format = source
        return self

    def mode(self, saveMode: Optional[str]) -> "DataFrameWriter":
        """``append``, ``overwrite``, ``error``/``errorifexists``/``default`` or ``ignore``; ``save()``
        refuses the last two for sources that do not opt into them (headwater/savemode.py), as Spark
        does for Python data sources."""
        if saveMode is None:
            return self
        key = str(saveMode).lower()
        if key not in _SAVE_MODES:
            raise AnalysisException(
                f'The specified save mode "{saveMode}" is invalid. Valid save modes include "append", '
                '"overwrite", "ignore", "error", "errorifexists", and "default".',
                "INVALID_SAVE_MODE",
            )
        self._mode = key
        return self

    def option(self, key: str, value: Any) -> "DataFrameWriter":
        if value is not None:  # PySpark 4.3 ignores an option set to None (4.1 failed in the JVM)
            self._options[key] = _to_str(value)
        return self

    def options(self, **options: Any) -> "DataFrameWriter":
        for k, v in options.items():
            self.option(k, v)
        return self

    def save(self, path: Optional[str] = None, format: Optional[str] = None, mode: Optional[str] = None,
             **options: Any) -> None:
        if format is not None:
            self.format(format)
        self.mode(mode)
        self.options(**options)
        if path is not None:
            self._options["path"] = path
        if self._format is None:
            raise AnalysisException("No data source format given: call format(name) first.", "HW_NO_FORMAT")
        cls = self._spark._registry.lookup(self._format)
        if not callable(getattr(cls, "writer", None)):
            raise AnalysisException(
                f"Data source '{self._format}' does not support writing (the generic python format reads only).",
                "HW_UNSUPPORTED_WRITE",
            )
        spark_mode = _SAVE_MODES[self._mode]
        # append/overwrite for every source; errorifexists/ignore for sources that opt in (savemode.py)
        if not should_write(cls, self._format, dict(self._options), spark_mode, Flavor(cls)):
            return  # ignore: the data exists
        _WriteJob(self._df, cls, dict(self._options), spark_mode == "Overwrite").run()


def _shortcut(fmt: str) -> Any:
    def write(self: "DataFrameWriter", path: str, mode: Optional[str] = None, **options: Any) -> None:
        self.save(path, format=fmt, mode=mode, **{k: v for k, v in options.items() if v is not None})

    write.__name__ = fmt
    write.__doc__ = f"``format('{fmt}').save(path)``, as Spark's ``DataFrameWriter.{fmt}``; options by keyword."
    return write


for _fmt in ("parquet", "csv", "json"):
    setattr(DataFrameWriter, _fmt, _shortcut(_fmt))


class _WriteJob:
    """One ``save()``: the writer made at planning, one write task per partition, then commit or
    abort on that writer."""

    def __init__(self, df: "DataFrame", cls: type, options: Dict[str, Optional[str]], overwrite: bool) -> None:
        self.df = df
        flavor = self.flavor = Flavor(cls)
        try:
            source = cls(flavor.options(options))
        except Exception as e:
            raise _source_error("create", "instance", e) from e
        schema = flavor.struct_type(df._core_schema)
        try:
            writer = source.writer(schema, overwrite)
        except Exception as e:
            raise _source_error("initialize", "writer", e) from e
        if not flavor.is_writer(writer):
            raise AnalysisException(
                "Failed to initialize Python data source writer: [DATA_SOURCE_TYPE_MISMATCH] Expected an "
                f"instance of DataSourceWriter, but got '{type(writer).__name__}'.",
                "PYTHON_DATA_SOURCE_ERROR",
            )
        self.writer = writer
        self.arrow = flavor.is_arrow_writer(writer)
        self.flavor_name = cls.name() if callable(getattr(cls, "name", None)) else cls.__name__

    def run(self) -> None:
        from headwater.write_task import pickle_tasks, run_in_workers, use_processes, write_tasks

        tasks = write_tasks(self.df, self.writer, self.arrow, self.flavor.row_type)
        messages: List[Any] = [None] * len(tasks)
        conf = self.df.sparkSession.conf
        processes, explicit = use_processes(conf, len(tasks))
        pickled = pickle_tasks(tasks, explicit, self.flavor_name) if processes else None
        if pickled is not None:
            try:
                failure, interrupted = run_in_workers(self.df.sparkSession._worker_pool(), pickled, messages)
            except HeadwaterException as e:
                if e.error_class != "HW_POOL_BUSY" or explicit:
                    raise
                failure, interrupted = self._run_on_threads(tasks, messages), False  # auto: the pool is busy
            if interrupted:
                self._abort(messages, failure or KeyboardInterrupt())
                raise KeyboardInterrupt("the write was interrupted")
        else:
            try:
                failure = self._run_on_threads(tasks, messages)
            except KeyboardInterrupt:
                self._abort(messages, KeyboardInterrupt())
                raise
        if failure is not None:
            self._abort(messages, failure)
            raise failure
        try:
            self.writer.commit(messages)
            return
        except Exception as e:
            err = _source_error("commit or abort", "write", e)  # its __cause__ is e
        self._abort(messages, err)  # Spark aborts a write whose commit failed, with the same messages
        raise err

    def _run_on_threads(self, tasks: List[Any], messages: List[Any]) -> Optional[BaseException]:
        """Runs the tasks on threads; fills messages and returns the first failure by partition
        index (tasks not started when one fails are not started, as Spark cancels a failed job's
        other tasks).

        Ctrl-C raises KeyboardInterrupt here at once: the running tasks' reads are cancelled, and
        they get ``headwater.executor.cancelGraceMs`` to stop. The threads are daemons: one stuck in
        a call that never returns cannot keep the interpreter from exiting."""
        conf = self.df.sparkSession.conf
        workers = int(conf.get("headwater.executor.workers") or 0) or (os.cpu_count() or 1)
        n = max(1, min(workers, len(tasks)))
        lock = threading.Lock()
        outcomes: List[Any] = [None] * len(tasks)  # (True, message) or (False, exception)
        state = {"next": 0, "stop": False, "live": n}
        over = threading.Event()

        def loop() -> None:
            try:
                while True:
                    with lock:
                        if state["stop"] or state["next"] >= len(tasks):
                            return
                        i = state["next"]
                        state["next"] += 1
                    try:
                        outcomes[i] = (True, tasks[i].run())
                    except BaseException as e:  # noqa: B036 -- reported by the calling thread
                        outcomes[i] = (False, e)
                        with lock:
                            state["stop"] = True
            finally:
                with lock:
                    state["live"] -= 1
                    if state["live"] == 0:
                        over.set()

        for k in range(n):
            threading.Thread(target=loop, name=f"headwater-write-{k}", daemon=True).start()
        try:
            while not over.wait(0.1):  # short waits: Ctrl-C is seen between them
                pass
        except KeyboardInterrupt:
            with lock:
                state["stop"] = True
            for t in tasks:
                t.cancel()
            from headwater.session import cancel_grace_ms

            over.wait(cancel_grace_ms(conf) / 1000)
            raise
        failure: Optional[BaseException] = None
        for i, out in enumerate(outcomes):
            if out is None:
                continue
            if out[0]:
                messages[i] = out[1]
            elif failure is None:
                failure = out[1]
        return failure

    def _abort(self, messages: List[Any], failure: BaseException) -> None:
        """``abort(messages)``; an error in it is attached to ``failure`` (as a note and its
        ``__context__``), never raised instead of it."""
        try:
            self.writer.abort(messages)
        except Exception as e:
            failure.add_note(
                "While aborting the write, abort() raised too:\n" + "".join(traceback.format_exception(e))
            )
            failure.__context__ = e
