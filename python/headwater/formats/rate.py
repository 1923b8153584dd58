"""Spark's built-in ``rate`` and ``rate-micro-batch`` stream sources.

Offsets, value ranges and timestamps follow Spark's RateStreamMicroBatchStream and
RatePerMicroBatchStream: ``rate``'s offset is the number of whole seconds since the stream was
created (a bare number, as Spark's LongOffset; the creation time is kept in the checkpoint's
``sources/<i>/0`` as Spark keeps it); ``rate-micro-batch``'s is ``{"offset": N, "timestamp": T}``
and advances by ``rowsPerBatch`` rows and ``advanceMillisPerBatch`` ms per batch, independent of
the clock; all rows of a batch carry its start timestamp. Partition p of n gets values
start + p, + n, ...; the rows are built in C
(``_core.rate_batch``), one Arrow batch per partition.
"""

from __future__ import annotations

import os
import time
from typing import Any, Iterator, List, Optional

import pyarrow as pa

from headwater import _core
from headwater.datasource import DataSource, DataSourceStreamReader, InputPartition
from headwater.errors import AnalysisException
from headwater.config import workers

__all__ = ["Rate", "RateMicroBatch"]

_SCHEMA = "timestamp TIMESTAMP, value BIGINT"


def _long_option(options: Any, name: str, default: Optional[int], minimum: int, source: str) -> int:
    text = options.get(name)
    if text is None:
        return default  # type: ignore[return-value]
    try:
        value = int(str(text).strip())
    except ValueError:
        raise AnalysisException(f"Invalid value '{text}' for option '{name}' of the {source} source: "
                                f"must be an integer", "HW_INVALID_OPTION") from None
    if value < minimum:
        word = "positive" if minimum == 1 else "non-negative"
        raise AnalysisException(f"Invalid value '{value}' for option '{name}' of the {source} source: "
                                f"must be {word}", "HW_INVALID_OPTION")
    return value


def _seconds_option(options: Any, name: str, source: str) -> int:
    """Spark's time string (``5s``, ``2 minutes``, a bare number = seconds) as whole seconds."""
    text = options.get(name)
    if text is None:
        return 0
    t = str(text).strip().lower().replace(" ", "")
    units = [("milliseconds", 0.001), ("millisecond", 0.001), ("ms", 0.001), ("minutes", 60), ("minute", 60),
             ("min", 60), ("m", 60), ("hours", 3600), ("hour", 3600), ("h", 3600), ("seconds", 1),
             ("second", 1), ("s", 1), ("days", 86400), ("day", 86400), ("d", 86400)]
    scale = 1.0
    for suffix, mult in units:
        if t.endswith(suffix) and t[: -len(suffix)].lstrip("-").isdigit():
            t, scale = t[: -len(suffix)], mult
            break
    try:
        seconds = int(int(t) * scale)
    except ValueError:
        raise AnalysisException(f"Invalid value '{text}' for option '{name}' of the {source} source: "
                                f"not a time interval", "HW_INVALID_OPTION") from None
    if seconds < 0:
        raise AnalysisException(f"Invalid value '{text}' for option '{name}' of the {source} source: "
                                f"must not be negative", "HW_INVALID_OPTION")
    return seconds


def value_at_second(seconds: int, rows_per_second: int, ramp_up_seconds: int) -> int:
    """The first value of second ``seconds``: speed ramps linearly to rowsPerSecond over rampUpTime."""
    delta = rows_per_second // (ramp_up_seconds + 1)
    if seconds <= ramp_up_seconds:
        # (delta * seconds) * (seconds + 1) / 2, halved first to stay exact
        return (seconds + 1) // 2 * delta * seconds if seconds % 2 == 1 else seconds // 2 * delta * (seconds + 1)
    return value_at_second(ramp_up_seconds, rows_per_second, ramp_up_seconds) + \
        (seconds - ramp_up_seconds) * rows_per_second


class RatePartition(InputPartition):
    def __init__(self, index: int, count: int, start: int, end: int, start_ms: int, ms_per_value: float) -> None:
        super().__init__(index)
        self.count, self.start, self.end = count, start, end
        self.start_ms, self.ms_per_value = start_ms, ms_per_value


def _read(partition: RatePartition) -> Iterator[Any]:
    # the C-built batch, handed to the scan as a pyarrow RecordBatch (zero-copy, Arrow C data interface)
    yield pa.record_batch(_core.rate_batch(partition.value, partition.count, partition.start, partition.end,
                           partition.start_ms, partition.ms_per_value))


class _RateReader(DataSourceStreamReader):
    def __init__(self, rows_per_second: int, ramp_up: int, num_partitions: int) -> None:
        self.rows_per_second, self.ramp_up, self.num_partitions = rows_per_second, ramp_up, num_partitions
        self.creation_ms: Optional[int] = None
        self.last_ms = 0

    def _hw_attach_checkpoint(self, source_dir: str) -> None:
        """Spark keeps the creation time as batch 0 of a metadata log in the source's directory:
        ``v1`` and the time in ms; a restart keeps counting seconds from it."""
        path = os.path.join(source_dir, "0")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                lines = f.read().lstrip("\0").split("\n")
            if lines[0] != "v1" or len(lines) < 2:
                raise AnalysisException(f"The rate source's log {path} is not in a known format",
                                        "HW_CHECKPOINT_CORRUPT")
            self.creation_ms = int(lines[1].strip())
        else:
            self.creation_ms = int(time.time() * 1000)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(f"v1\n{self.creation_ms}")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        self.last_ms = self.creation_ms

    def _created(self) -> int:
        if self.creation_ms is None:
            self.creation_ms = self.last_ms = int(time.time() * 1000)
        return self.creation_ms

    def initialOffset(self) -> Any:
        self._created()
        return 0

    def latestOffset(self) -> Any:
        created = self._created()
        self.last_ms = max(self.last_ms, int(time.time() * 1000))
        return (self.last_ms - created) // 1000

    def partitions(self, start: Any, end: Any) -> List[InputPartition]:
        created = self._created()
        start_s, end_s = int(start or 0), int(end)
        # a restart re-plans a batch from its logged offsets: the clock must not run behind them
        self.last_ms = max(self.last_ms, created + end_s * 1000)
        first = value_at_second(start_s, self.rows_per_second, self.ramp_up)
        last = value_at_second(end_s, self.rows_per_second, self.ramp_up)
        if first == last:
            return []
        ms_per_value = (end_s - start_s) * 1000.0 / (last - first)
        start_ms = created + start_s * 1000
        return [RatePartition(p, self.num_partitions, first, last, start_ms, ms_per_value)
                for p in range(self.num_partitions)]

    def read(self, partition: InputPartition) -> Iterator[Any]:
        return _read(partition)  # type: ignore[arg-type]


class Rate(DataSource):
    """``spark.readStream.format("rate")``: rowsPerSecond rows a second (after rampUpTime)."""

    @classmethod
    def name(cls) -> str:
        return "rate"

    def schema(self) -> str:
        return _SCHEMA

    def _hw_configure(self, conf: Any) -> None:
        """The session's settings: numPartitions defaults to its worker count (Spark: the default
        parallelism)."""
        self._conf = conf

    def streamReader(self, schema: Any) -> _RateReader:
        default_partitions = workers(getattr(self, "_conf", None))
        return _RateReader(_long_option(self.options, "rowsPerSecond", 1, 1, "rate"),
                           _seconds_option(self.options, "rampUpTime", "rate"),
                           _long_option(self.options, "numPartitions", default_partitions, 1, "rate"))


class _RateMicroBatchReader(DataSourceStreamReader):
    def __init__(self, rows_per_batch: int, num_partitions: int, start_ts: int, advance_ms: int) -> None:
        self.rows_per_batch, self.num_partitions = rows_per_batch, num_partitions
        self.start_ts, self.advance_ms = start_ts, advance_ms

    def initialOffset(self) -> dict:
        return {"offset": 0, "timestamp": self.start_ts}

    def latestOffset(self, start: Optional[dict] = None, limit: Any = None) -> dict:
        start = start if start is not None else self.initialOffset()
        return {"offset": int(start["offset"]) + self.rows_per_batch,
                "timestamp": int(start["timestamp"]) + self.advance_ms}

    def partitions(self, start: dict, end: dict) -> List[InputPartition]:
        first, last = int(start["offset"]), int(end["offset"])
        if first == last:
            return []
        # every row of a batch carries the batch's start timestamp (probed on PySpark 4.3)
        return [RatePartition(p, self.num_partitions, first, last, int(start["timestamp"]), 0.0)
                for p in range(self.num_partitions)]

    def read(self, partition: InputPartition) -> Iterator[Any]:
        return _read(partition)  # type: ignore[arg-type]


class RateMicroBatch(DataSource):
    """``spark.readStream.format("rate-micro-batch")``: rowsPerBatch rows per micro-batch."""

    @classmethod
    def name(cls) -> str:
        return "rate-micro-batch"

    def schema(self) -> str:
        return _SCHEMA

    def _hw_configure(self, conf: Any) -> None:
        """The session's settings: numPartitions defaults to its worker count (Spark: the default
        parallelism)."""
        self._conf = conf

    def streamReader(self, schema: Any) -> _RateMicroBatchReader:
        name, opts = "rate-micro-batch", self.options
        if opts.get("rowsPerBatch") is None:
            raise AnalysisException("The rate-micro-batch source needs the option 'rowsPerBatch'", "HW_INVALID_OPTION")
        return _RateMicroBatchReader(_long_option(opts, "rowsPerBatch", None, 1, name),
                                     _long_option(opts, "numPartitions", workers(getattr(self, "_conf", None)), 1,
                                                  name),
                                     _long_option(opts, "startTimestamp", 0, 0, name),
                                     _long_option(opts, "advanceMillisPerBatch", 1000, 0, name))
