"""``df.write``: Spark's DataFrameWriter for Python data sources (batch writes).

The protocol is Spark's (checked against PySpark 4.1.1, see docs/spark-write-semantics.md):
``DataSource(options).writer(schema, overwrite)`` once at ``save()``; ``write(iterator)`` once per
DataFrame partition, each returning a ``WriterCommitMessage``; then ``commit(messages)`` on the
writer made at planning, or ``abort(messages)`` (a failed partition's slot is None) when a partition
failed. A failing ``commit`` is followed by ``abort`` with the same messages, as in Spark.

Partitions are written on the session's worker processes when ``headwater.executor.mode``
resolves to process (as for reads: ``process``, or ``auto`` with more than one partition and a
task that pickles; see :mod:`headwater.exec.policy` and :mod:`headwater.exec.write_task`), else on
threads. Plain writers get Rows built from Arrow in C, one batch at a time;
``DataSourceArrowWriter`` gets the RecordBatches themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional

from headwater.errors import AnalysisException
from headwater.exec.local import local_plan
from headwater.exec.plan import Flavor
from headwater.exec.savemode import should_write
from headwater.exec.write_task import WriteJob

if TYPE_CHECKING:
    from headwater.sql.dataframe import DataFrame

__all__ = ["DataFrameWriter"]


def _to_str(value: Any) -> Optional[str]:
    """Spark's option values: strings; booleans lower-cased; None stays None."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return None
    return str(value)

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
        refuses the last two for sources that do not opt into them (headwater/exec/savemode.py), as Spark
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
        df = self._df
        job = WriteJob(self._spark, cls, dict(self._options), spark_mode == "Overwrite", df._core_schema)
        self._spark._runs.begin()  # the run report: the reads and the write from here on are this action's
        try:
            # a plain source read is written partition by partition as it is read; a query (or a cached
            # result) is computed by DuckDB and its rows split evenly
            job.run(df._plan if df._direct() else local_plan(df.toArrow(), self._spark.conf))
        finally:
            self._spark._runs.end()  # the progress bar is gone before the caller prints


def _shortcut(fmt: str) -> Any:
    def write(self: "DataFrameWriter", path: str, mode: Optional[str] = None, **options: Any) -> None:
        self.save(path, format=fmt, mode=mode, **{k: v for k, v in options.items() if v is not None})

    write.__name__ = fmt
    write.__doc__ = f"``format('{fmt}').save(path)``, as Spark's ``DataFrameWriter.{fmt}``; options by keyword."
    return write


for _fmt in ("parquet", "csv", "json"):
    setattr(DataFrameWriter, _fmt, _shortcut(_fmt))
