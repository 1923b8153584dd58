"""Every setting headwater reads, declared once: its key, type, default and what it does.

``spark.conf`` (:class:`RuntimeConfig`) keeps strings, as Spark's does; code that needs a setting
reads its typed value here (:func:`get`, or a helper such as :func:`workers`), so a default is
written in one place. Settings that are not declared are kept and returned as given.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

from headwater.errors import AnalysisException, IllegalArgumentException

__all__ = ["Setting", "SETTINGS", "RuntimeConfig", "EXECUTOR_MODES", "ByteSize", "Millis", "get", "workers", "executor_mode",
           "cancel_grace_ms", "scan_options", "batch_rows", "default_session", "install_session_factory"]

#: The values of ``headwater.executor.mode``.
EXECUTOR_MODES = ("auto", "inline", "thread", "process")


class ByteSize(int):
    """The type of a setting that is a byte count as Spark writes sizes: ``1073741824``, ``512m``,
    ``2g`` (k, m, g, t; an optional trailing ``b``)."""


class Millis(int):
    """The type of a setting that is a time in milliseconds as Spark writes times: ``10000``,
    ``250ms``, ``10s``, ``1min``, ``2h`` (us, ms, s, m, min, h, d; whole numbers only)."""


_TIME_UNITS_MS = {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


def _millis(text: str) -> int:
    m = re.fullmatch(r"(-?[0-9]+)([a-z]+)?", text.lower())
    if not m or (m.group(2) or "ms") not in _TIME_UNITS_MS:
        raise ValueError(text)
    n, unit = int(m.group(1)), _TIME_UNITS_MS[m.group(2) or "ms"]
    return int(n * unit) if unit >= 1 else int(n / 1000)  # microseconds: truncated toward zero, as Java's


def _byte_size(text: str) -> int:
    t = str(text).strip().lower()
    t = t[:-1] if t.endswith("b") and len(t) > 1 else t
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}.get(t[-1:], 1)
    return int(float(t[:-1] if scale != 1 else t) * scale)


@dataclass(frozen=True)
class Setting:
    """One setting: ``key``, its ``type`` (str, int, bool or :class:`ByteSize`), its ``default``
    and a ``doc`` line."""

    key: str
    type: type
    default: Any
    doc: str

    def text(self) -> str:
        """The default as ``spark.conf.get`` returns it (a string, booleans lower-cased, times in ms)."""
        if self.type is bool:
            return str(self.default).lower()
        return f"{self.default}ms" if self.type is Millis else str(self.default)

    def parse(self, text: Optional[str]) -> Any:
        """The typed value of ``text`` (an unset or empty value is the default), read as Spark reads
        its settings: trimmed, booleans ``true``/``false`` in any case, integers in Java's syntax.
        A value of another type is Spark's IllegalArgumentException."""
        if text is None or text == "":
            return self.default
        t = str(text).strip()
        try:
            if self.type is bool:
                if t.lower() not in ("true", "false"):
                    raise ValueError(t)
                return t.lower() == "true"
            if self.type is ByteSize:
                return _byte_size(t)
            if self.type is Millis:
                return _millis(t)
            if self.type is int:
                if not re.fullmatch(r"[+-]?[0-9]+", t):  # int() would take 1_000 and other digits
                    raise ValueError(t)
                return int(t)
        except ValueError:
            kind = {bool: "boolean", int: "int", Millis: "time in MILLISECONDS", ByteSize: "bytes"}[self.type]
            raise IllegalArgumentException(
                f"The value '{text}' in the config \"{self.key}\" is invalid. It should be a/an '{kind}' value.",
                "INVALID_CONF_VALUE.TYPE_MISMATCH") from None
        return str(text)


SETTINGS: Dict[str, Setting] = {s.key: s for s in (
    Setting("headwater.executor.mode", str, "auto",
            "where partitions run: auto, inline (the consumer's thread), thread (C threads) or process "
            "(the session's worker processes)"),
    Setting("headwater.executor.workers", int, 0,
            "threads or worker processes per query, and partitions of in-memory data; 0: one per CPU"),
    Setting("headwater.executor.worker.maxTasks", int, 0,
            "replace a worker process after this many tasks (0: never, as Spark)"),
    Setting("headwater.executor.worker.maxRssBytes", ByteSize, 0,
            "... or once its private resident memory exceeds this many bytes (512m, 2g; 0: no limit)"),
    Setting("headwater.executor.cancelGraceMs", int, 2000,
            "after a cancel (Ctrl-C, a released stream) or a lost connection: how long a worker gets to "
            "stop before SIGKILL, or a thread before it is left to finish (Spark's "
            "spark.python.task.killTimeout is 2 s)"),
    Setting("headwater.executor.queueDepth", int, 2,
            "batches in flight per worker when a stream is consumed as partitions complete"),
    Setting("headwater.executor.taskRetries", int, 0,
            "re-runs of a partition whose worker process died (local Spark: 0)"),
    Setting("headwater.batch.maxBytes", int, 64 << 20,
            "bytes after which the C converter closes a batch (0: no limit)"),
    Setting("headwater.stream.ordered", bool, False,
            "__arrow_c_stream__ yields batches in partition order (may stall workers)"),
    Setting("headwater.sql.pushdown", bool, True,
            "DataFrame queries offer filters, columns and limits to the sources they read"),
    Setting("spark.sql.execution.arrow.maxRecordsPerBatch", int, 10000,
            "rows per Arrow batch (Spark's setting): the converter, the file formats and JDBC fetches"),
    Setting("spark.ui.showConsoleProgress", bool, True,
            "a progress bar on stderr for reads (partitions, rows, bytes, rows/s), when stderr is a terminal "
            "(Spark's setting)"),
    Setting("spark.ui.consoleProgress.update.interval", Millis, 200,
            "milliseconds between progress bar updates (Spark's setting)"),
    Setting("headwater.progress.delayMs", int, 500,
            "the progress bar appears once an action has run this long (Spark waits 500 ms too)"),
    Setting("spark.sql.repl.eagerEval.enabled", bool, False,
            "notebooks (Jupyter) show a DataFrame as an HTML table, a REPL as show()'s text (Spark's setting)"),
    Setting("spark.sql.repl.eagerEval.maxNumRows", int, 20,
            "rows shown by eager evaluation (Spark's setting)"),
    Setting("spark.sql.repl.eagerEval.truncate", int, 20,
            "characters after which eager evaluation cuts a value (Spark's setting; 0: never)"),
    Setting("spark.sql.python.filterPushdown.enabled", bool, True,
            "Spark's switch for DataSourceReader.pushFilters"),
    Setting("spark.sql.streaming.minBatchesToRetain", int, 100,
            "streaming state: the last batches whose state stays recoverable (older files are removed)"),
    Setting("spark.sql.streaming.stateStore.minDeltasForSnapshot", int, 10,
            "streaming state: deltas written before the state is written whole again (a snapshot)"),
    Setting("spark.sql.streaming.noDataMicroBatches.enabled", bool, True,
            "streaming state: run a batch without new rows when the watermark moved and state would be evicted"),
    Setting("headwater.streaming.stateThreads", int, 1,
            "streaming state: DuckDB threads of a state operator (a micro-batch's merge is small; on 2 shared "
            "cores one thread ran a 100k-row batch's partial aggregate in 5 ms where two took 18)"),
    Setting("headwater.streaming.pollIntervalMs", int, 1,
            "a streaming query whose sources had no new data asks them again after this many ms"),
    Setting("spark.sql.streaming.numRecentProgressUpdates", int, 100,
            "progress reports a streaming query keeps (Spark's setting)"),
    Setting("spark.sql.streaming.noDataProgressEventInterval", Millis, 10000,
            "ms between two onQueryIdle events of a query with no new data (Spark's setting)"),
)}


def get(conf: Any, key: str) -> Any:
    """The typed value of the declared setting ``key`` in ``conf`` (anything with ``get``, such as
    ``spark.conf``; None gives the default)."""
    setting = SETTINGS[key]
    return setting.parse(conf.get(key) if conf is not None else None)


def workers(conf: Any) -> int:
    """``headwater.executor.workers``, 0 resolved to the number of CPUs."""
    return get(conf, "headwater.executor.workers") or (os.cpu_count() or 1)


def executor_mode(conf: Any) -> str:
    """``headwater.executor.mode``, lower-cased and checked."""
    mode = str(get(conf, "headwater.executor.mode")).lower()
    if mode not in EXECUTOR_MODES:
        raise AnalysisException(
            f"headwater.executor.mode must be auto, inline, thread or process, got '{mode}'.", "HW_INVALID_CONF"
        )
    return mode


def cancel_grace_ms(conf: Any) -> int:
    """``headwater.executor.cancelGraceMs``: how long cancelled work (Ctrl-C, a released stream, a
    lost worker connection) gets to stop before its worker process is killed (SIGKILL), or, in
    thread mode, before its thread is left to finish on its own."""
    grace = (conf.get("headwater.executor.cancelGraceMs") if conf is not None else None) or "2000"
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
    """``spark.conf``: string settings, as in Spark; the declared ones start at their defaults."""

    def __init__(self, initial: Optional[Dict[str, str]] = None) -> None:
        self._values: Dict[str, str] = {k: s.text() for k, s in SETTINGS.items()}
        self._values.update(initial or {})

    def set(self, key: str, value: Any) -> None:
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if key.startswith("spark.") and key in SETTINGS:
            SETTINGS[key].parse(text)  # Spark refuses a value of the wrong type when it is set
        self._values[key] = text

    def get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        return self._values.get(key, default)

    def unset(self, key: str) -> None:
        self._values.pop(key, None)
        if key in SETTINGS:
            self._values[key] = SETTINGS[key].text()

    def getAll(self) -> Dict[str, str]:
        return dict(self._values)

    def typed(self, key: str) -> Any:
        """The typed value of a declared setting."""
        return get(self, key)


_session_factory: Optional[Callable[[], Any]] = None


def install_session_factory(factory: Callable[[], Any]) -> None:
    """Called once by :mod:`headwater.sql.session`: how :func:`default_session` makes the session."""
    global _session_factory
    _session_factory = factory


def default_session() -> Any:
    """The active session (created on first use), for helpers below the facade that take an
    optional session (``headwater.jdbc.read_jdbc``): the facade installs the factory, so they need
    not import it."""
    if _session_factory is None:  # pragma: no cover - headwater/__init__ imports the facade
        raise RuntimeError("headwater.sql.session is not imported")
    return _session_factory()


def scan_options(conf: Any) -> Dict[str, Any]:
    """The batch limits every C scan takes from the settings."""
    return dict(
        max_rows_per_batch=get(conf, "spark.sql.execution.arrow.maxRecordsPerBatch"),
        max_bytes_per_batch=get(conf, "headwater.batch.maxBytes"),
    )


def batch_rows(conf: Any) -> int:
    """``spark.sql.execution.arrow.maxRecordsPerBatch``."""
    return int(get(conf, "spark.sql.execution.arrow.maxRecordsPerBatch"))

