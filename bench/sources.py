"""The benchmark's data source, written against PySpark's Python Data Source API.

One class, ``BenchSource`` (format name ``"bench"``), registers unchanged on PySpark, Lakesail
and headwater. Its rows are ``(id long, x double, s string, ts timestamp)``:

    (i, i * 0.5, f"name-{i:011d}", BASE + timedelta(seconds=i))

``s`` is 16 characters long; ``ts`` is a naive datetime (every peer runs with ``TZ=UTC`` and a
UTC session time zone, so no peer pays for a local-time-zone conversion the others skip).

Options (all strings, as Spark passes them):

rows
    total number of rows (default 1000)
partitions
    number of input partitions; rows are split into contiguous ranges (default 1)
no_ts
    ``"true"`` drops the ``ts`` column (rows are ``(id, x, s)``). Only for the Lakesail
    lower-bound peer: Lakesail's row path cannot build Spark's ``timestamp`` (see README).
scenario
    ``s1b`` (default): ``read()`` builds every tuple as it goes (arithmetic, an f-string, a
    datetime by ``base + timedelta``): a realistic source.
    ``s1a``: ``read()`` yields tuples that already exist (``yield from`` a prepared list), so
    nearly all the time a consumer spends is its own conversion of the rows.

How S1a's prepared tuples are built fairly
------------------------------------------
The tuples live in a module-level cache of the process that runs ``read()``; the first
``read()`` of a given ``(rows, partitions)`` in a process builds the lists of *all* partitions at
once. Every peer does one untimed warm-up run first, so in the timed runs every process that
reads (the host for headwater and Lakesail, each reused Python worker for PySpark) finds all
partitions prepared, whichever partition it is handed. Each build is appended to the file named by
``$HW_BENCH_BUILD_LOG`` (when set), so the harness can prove that no build happened inside a
timed run and report it if one did. Likewise each partition read to its end appends its row count
to ``$HW_BENCH_READ_LOG``, so the harness checks that every peer pulled every row.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timedelta
from typing import Dict, Iterator, List, Sequence, Tuple

from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
from pyspark.sql.types import (
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

__all__ = ["BenchSource", "BenchReader", "RangePartition", "SCHEMA", "make_rows", "prepared_rows"]

BASE = datetime(2024, 1, 1)

SCHEMA = StructType(
    [
        StructField("id", LongType()),
        StructField("x", DoubleType()),
        StructField("s", StringType()),
        StructField("ts", TimestampType()),
    ]
)
SCHEMA_NO_TS = StructType(SCHEMA.fields[:3])

Row = Tuple[int, float, str, datetime]

# (rows, partitions, no_ts) -> one list of tuples per partition; see the module docstring.
_PREPARED: Dict[Tuple[int, int, bool], List[List[Row]]] = {}
_PREPARED_LOCK = threading.Lock()  # engines that read partitions on threads build once


class RangePartition(InputPartition):
    """Rows ``[start, end)`` of the data set; ``index`` is the partition's number."""

    def __init__(self, index: int, start: int, end: int) -> None:
        super().__init__((index, start, end))
        self.index = index
        self.start = start
        self.end = end


def split(rows: int, partitions: int) -> List[RangePartition]:
    """Contiguous ranges covering ``[0, rows)``, sizes differing by at most one."""
    partitions = max(1, partitions)
    out = []
    for i in range(partitions):
        start = rows * i // partitions
        end = rows * (i + 1) // partitions
        out.append(RangePartition(i, start, end))
    return out


def make_rows(start: int, end: int, no_ts: bool = False) -> List[Row]:
    """The rows ``[start, end)`` as a list (what S1b's generator yields, materialized)."""
    if no_ts:
        return [(i, i * 0.5, f"name-{i:011d}") for i in range(start, end)]  # type: ignore[misc]
    base = BASE
    return [(i, i * 0.5, f"name-{i:011d}", base + timedelta(seconds=i)) for i in range(start, end)]


def prepared_rows(rows: int, partitions: int, no_ts: bool = False) -> List[List[Row]]:
    """S1a's prepared tuples of every partition, built once per process (and logged)."""
    key = (rows, partitions, no_ts)
    got = _PREPARED.get(key)
    if got is None:
        with _PREPARED_LOCK:
            got = _PREPARED.get(key)
            if got is None:
                t0 = time.perf_counter()
                got = [make_rows(p.start, p.end, no_ts) for p in split(rows, partitions)]
                _PREPARED[key] = got
                log = os.environ.get("HW_BENCH_BUILD_LOG")
                if log:
                    with open(log, "a") as f:
                        f.write(
                            f"{os.getpid()} {rows} {partitions} {int(no_ts)} "
                            f"{time.perf_counter() - t0:.3f}\n"
                        )
    return got


def _note_read(partition: RangePartition) -> None:
    """Once per partition read to its end: append its row count to ``$HW_BENCH_READ_LOG``.

    Lets the harness check that engines it cannot ask for a row count (a noop sink) really
    pulled every row of every partition.
    """
    log = os.environ.get("HW_BENCH_READ_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {partition.index} {partition.end - partition.start}\n")


class BenchReader(DataSourceReader):
    def __init__(self, rows: int, partitions: int, scenario: str, no_ts: bool = False) -> None:
        self.rows = rows
        self.nparts = partitions
        self.scenario = scenario
        self.no_ts = no_ts

    def partitions(self) -> Sequence[InputPartition]:
        return split(self.rows, self.nparts)

    def read(self, partition: InputPartition) -> Iterator[Row]:
        if self.scenario == "s1a":
            yield from prepared_rows(self.rows, self.nparts, self.no_ts)[partition.index]
        elif self.no_ts:
            for i in range(partition.start, partition.end):
                yield (i, i * 0.5, f"name-{i:011d}")
        else:
            base = BASE
            for i in range(partition.start, partition.end):
                yield (i, i * 0.5, f"name-{i:011d}", base + timedelta(seconds=i))
        _note_read(partition)


class BenchSource(DataSource):
    """``spark.read.format("bench").option("rows", N).option("partitions", P)
    .option("scenario", "s1a" | "s1b").load()``"""

    @classmethod
    def name(cls) -> str:
        return "bench"

    def _no_ts(self) -> bool:
        return str(self.options.get("no_ts", "false")).lower() in ("true", "1")

    def schema(self) -> StructType:
        return SCHEMA_NO_TS if self._no_ts() else SCHEMA

    def reader(self, schema: StructType) -> DataSourceReader:
        opts = self.options
        scenario = str(opts.get("scenario", "s1b")).lower()
        if scenario not in ("s1a", "s1b"):
            raise ValueError(f"bench: unknown scenario {scenario!r} (s1a or s1b)")
        return BenchReader(
            int(opts.get("rows", 1000)), int(opts.get("partitions", 1)), scenario, self._no_ts()
        )
