"""``df.write``: Spark's DataFrameWriter for Python data sources (batch writes).

The protocol is Spark's (checked against PySpark 4.1.1, see docs/spark-write-semantics.md):
``DataSource(options).writer(schema, overwrite)`` once at ``save()``; ``write(iterator)`` once per
DataFrame partition, each returning a ``WriterCommitMessage``; then ``commit(messages)`` on the
writer made at planning, or ``abort(messages)`` (a failed partition's slot is None) when a partition
failed. A failing ``commit`` is followed by ``abort`` with the same messages, as in Spark.

Partitions are written on threads (a ``ThreadPoolExecutor`` of ``headwater.executor.workers``);
writing on worker processes is a later step. Plain writers get Rows built from Arrow in C, one
batch at a time; ``DataSourceArrowWriter`` gets the RecordBatches themselves.
"""

from __future__ import annotations

import os
import traceback
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional

from headwater import _core
from headwater.errors import AnalysisException, HeadwaterException, PythonException
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


def _rows(batches: Iterator[Any], row_type: type) -> Iterator[Any]:
    """The rows of each batch, converted in C one batch at a time (lazily)."""
    for batch in batches:
        yield from _core.rows_from_arrow(batch, row_type)


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

    def _task(self, index: int, batches: Any) -> Any:
        it = batches() if self.arrow else _rows(batches(), self.flavor.row_type)
        try:
            message = self.writer.write(it)
        except HeadwaterException:
            raise  # reading the DataFrame failed: already names the partition and the cause
        except Exception as e:
            tb = "".join(traceback.format_exception(e))
            raise PythonException(
                f"An exception was thrown from the Python data source writer in partition {index}:\n{tb}",
                getattr(e, "error_class", None), partition=index,
            ) from e
        if not self.flavor.is_commit_message(message):
            raise PythonException(
                "[DATA_SOURCE_TYPE_MISMATCH] Expected 'WriterCommitMessage' as the return type of the `write` "
                f"method, but got {type(message).__name__}.",
                "DATA_SOURCE_TYPE_MISMATCH", partition=index,
            )
        return message

    def run(self) -> None:
        tasks = self.df._write_tasks()
        conf = self.df.sparkSession.conf
        workers = int(conf.get("headwater.executor.workers") or 0) or (os.cpu_count() or 1)
        messages: List[Any] = [None] * len(tasks)
        failure: Optional[BaseException] = None
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(tasks)))) as pool:
            futures = {pool.submit(self._task, i, t): i for i, t in enumerate(tasks)}
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for f in pending:  # as Spark cancels a failed job's other tasks: those not started
                f.cancel()
            wait(pending)
            # the first partition (by index) that failed is reported, as a job's first failure
            for f in sorted(futures, key=futures.get):
                if f.cancelled():
                    continue
                e = f.exception()
                if e is None:
                    messages[futures[f]] = f.result()
                elif failure is None:
                    failure = e
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
