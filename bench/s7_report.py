"""The run report's and the progress bar's cost: the same read side by side, without and with the
progress bar drawing (forced on, to /dev/null) and the report read after every action. The C
counters themselves are always on (clock reads per batch, one row in 64 timed); their share is
printed from a count of the clock reads a read makes. Then a write's feed: a plain writer's rows
from the counting C feed (``_core.WriteFeed``, what write tasks hand ``write()``) beside the
uncounted chain of per-batch conversions it replaced. Prints medians and ratios; asserts nothing.

    .venv/bin/python bench/s7_report.py [--rows N] [--partitions P] [--reps R] [--mode inline]
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))

import headwater  # noqa: E402
import cli_sources  # noqa: E402
from headwater.exec import progress  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--mode", default="inline")
    a = ap.parse_args()
    spark = headwater.SparkSession({"headwater.executor.mode": a.mode, "headwater.progress.delayMs": "0",
                                    "spark.ui.consoleProgress.update.interval": "50"})
    spark.dataSource.register(cli_sources.CountSource)
    df = spark.read.format("cli_count").option("rows", str(a.rows)).option("partitions", str(a.partitions)).load()

    def timed(bar: bool) -> float:
        spark.conf.set("spark.ui.showConsoleProgress", str(bar).lower())
        t = time.perf_counter()
        n = df.count()
        if bar:
            spark.lastRunReport()
        assert n == a.rows
        return time.perf_counter() - t

    devnull = open(os.devnull, "w")
    real_enabled, real_stderr = progress.enabled, sys.stderr
    results = {False: [], True: []}
    timed(False)  # warm up (and the pool, in process mode)
    for _ in range(a.reps):
        for bar in (False, True):
            if bar:  # draw for real, into /dev/null: stderr here may not be a terminal
                progress.enabled = lambda conf: True
                sys.stderr = devnull
            try:
                results[bar].append(timed(bar))
            finally:
                progress.enabled, sys.stderr = real_enabled, real_stderr
    off, on = statistics.median(results[False]), statistics.median(results[True])
    report = spark.lastRunReport()
    batches = sum(p.batches for p in report.partitions)
    clock_reads = 2 * batches + 3 * (a.rows // 64 + a.partitions)
    t = time.perf_counter_ns()
    for _ in range(100_000):
        time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    per_read_ns = (time.perf_counter_ns() - t) / 100_000  # an upper bound: Python's call around the vDSO read
    print(f"rows={a.rows} partitions={a.partitions} mode={a.mode} reps={a.reps}")
    print(f"read, no bar:            {off * 1e3:8.1f} ms  ({a.rows / off:,.0f} rows/s)")
    print(f"read, bar + report:      {on * 1e3:8.1f} ms  ratio {on / off:.3f}")
    print(f"C counters: {clock_reads:,} clock reads x <= {per_read_ns:.0f} ns = <= {clock_reads * per_read_ns / 1e6:.2f} ms "
          f"= <= {clock_reads * per_read_ns / 1e9 / off * 100:.2f}% of the read")
    spark.stop()
    write_feed(a.reps)


def write_feed(reps: int) -> None:
    """1M rows in 100 batches handed to a writer's loop: counted per batch in C, or not counted."""
    import itertools

    import pyarrow as pa
    from headwater import _core
    from headwater.types import Row

    batch = pa.record_batch({"id": pa.array(range(10_000), pa.int64()), "name": [f"n{i}" for i in range(10_000)]})
    batches = [batch] * 100
    ways = {"uncounted chain": lambda: itertools.chain.from_iterable(_core.rows_from_arrow(b, Row) for b in batches),
            "WriteFeed (counted)": lambda: _core.WriteFeed(batches, Row)}
    took = {name: [] for name in ways}
    for _ in range(reps):
        for name, make in ways.items():
            t = time.perf_counter()
            n = sum(1 for _ in make())
            took[name].append(time.perf_counter() - t)
            assert n == 1_000_000
    base = statistics.median(took["uncounted chain"])
    for name in ways:
        m = statistics.median(took[name])
        print(f"write feed, {name:20} {m * 1e3:8.1f} ms  ({1e6 / m:,.0f} rows/s)  ratio {m / base:.2f}")


if __name__ == "__main__":
    main()
