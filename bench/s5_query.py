"""S5: pushdown into Python sources (issue 7), measured side by side in one process.

1. Filter: a source of --rows rows partitioned by `id` that implements ``pushFilters`` for ranges of
   `id` (its "index": it reads only the matching ranges), queried with a filter selecting 1% —
   pushdown on vs off (``headwater.sql.pushdown``): rows the source yielded and time.
2. Columns: a 20-column source queried for 2 columns. Conversion time with pruning vs without, where
   conversion time = scan CPU time - the bare generator's CPU time (the same rows iterated, no
   conversion); for rows the source builds as it reads them, and for prepared tuples. Target: the pruned conversion time is within 1.5x of proportional (2/20 of the full).
   Measured on the C scan alone and, for information, end to end through DuckDB.
3. Limit: ``limit(10).collect()`` on a --rows-row source, per execution mode: time to result (target
   < 50 ms; the worker pool is started before timing).

    .venv/bin/python bench/s5_query.py [--rows 10000000] [--reps 3]

Prints a table and ratios; writes nothing. Timings are medians of --reps runs after a warm-up.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time

import pyarrow as pa

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import headwater  # noqa: E402
from headwater import _core  # noqa: E402
from headwater import functions as F  # noqa: E402
from headwater.datasource import DataSource, DataSourceReader, InputPartition  # noqa: E402

PARTS = 8
YIELDED = collections.Counter()  # rows yielded by the indexed source (inline mode: same process)


class IndexedReader(DataSourceReader):
    """Rows (id, x, s); accepts id comparisons and reads only the id ranges they allow."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.lo, self.hi = 0, rows

    def pushFilters(self, filters):
        for f in filters:
            kind = type(f).__name__
            if f.attribute == ("id",) and kind in ("GreaterThanOrEqual", "GreaterThan", "LessThan", "EqualTo"):
                v = int(f.value)
                if kind == "GreaterThanOrEqual":
                    self.lo = max(self.lo, v)
                elif kind == "GreaterThan":
                    self.lo = max(self.lo, v + 1)
                elif kind == "LessThan":
                    self.hi = min(self.hi, v)
                else:
                    self.lo, self.hi = max(self.lo, v), min(self.hi, v + 1)
            else:
                yield f

    def partitions(self):
        step = self.rows // PARTS
        return [InputPartition((i * step, self.rows if i == PARTS - 1 else (i + 1) * step)) for i in range(PARTS)]

    def read(self, partition):
        start, end = partition.value
        start, end = max(start, self.lo), min(end, self.hi)
        YIELDED["rows"] += max(0, end - start)
        for i in range(start, end):
            yield (i, i * 0.5, "row")


class Indexed(DataSource):
    @classmethod
    def name(cls):
        return "s5_indexed"

    def schema(self):
        return "id BIGINT, x DOUBLE, s STRING"

    def reader(self, schema):
        return IndexedReader(int(self.options["rows"]))


WIDE_COLS = 20
_WIDE_ROWS: list = []


def wide_rows(n: int) -> list:
    """n ready-made 20-value tuples (built once, outside the timings); every value is its own
    object, as in rows a real source builds."""
    if len(_WIDE_ROWS) != n:
        _WIDE_ROWS[:] = [tuple([i] + [i * 0.5 + k for k in range(9)] + [f"v{i}-{k}" for k in range(10)])
                         for i in range(n)]
    return _WIDE_ROWS


WIDE_SCHEMA = ", ".join(["c0 BIGINT"] + [f"c{i} DOUBLE" for i in range(1, 10)] + [f"c{i} STRING" for i in range(10, 20)])


_WIDE_TEXT = [f"value-{k}" for k in range(10)]


class WideReader(DataSourceReader):
    """20 columns. ``prepared``: the ready-made tuples of wide_rows (the converter fetches every
    value object from memory); otherwise each row is built as it is read, as a source does."""

    def __init__(self, rows: int, prepared: bool = False) -> None:
        self.rows = rows
        self.prepared = prepared

    def partitions(self):
        return [InputPartition(0)]

    def read(self, partition):
        if self.prepared:
            yield from wide_rows(self.rows)
            return
        text = _WIDE_TEXT
        for i in range(self.rows):
            x = i * 0.5
            yield (i, x, x + 1, x + 2, x + 3, x + 4, x + 5, x + 6, x + 7, x + 8, *text)


class Wide(DataSource):
    @classmethod
    def name(cls):
        return "s5_wide"

    def schema(self):
        return WIDE_SCHEMA

    def reader(self, schema):
        return WideReader(int(self.options["rows"]))


class Endless(DataSource):
    """--rows rows in 8 partitions, built as they are read (a limit must not wait for them)."""

    @classmethod
    def name(cls):
        return "s5_rows"

    def schema(self):
        return "id BIGINT, x DOUBLE, s STRING"

    def reader(self, schema):
        return EndlessReader(int(self.options["rows"]))


class EndlessReader(DataSourceReader):
    def __init__(self, rows: int) -> None:
        self.rows = rows

    def partitions(self):
        step = self.rows // PARTS
        return [InputPartition((i * step, (i + 1) * step)) for i in range(PARTS)]

    def read(self, partition):
        for i in range(*partition.value):
            yield (i, i * 0.5, "row")


def timed(fn, reps: int, clock=time.perf_counter, pick=statistics.median):
    """Median (or ``pick``) of reps runs after a warm-up (``clock``: wall time, or CPU time for the
    conversion comparison, which other load on the machine disturbs less)."""
    fn()  # warm-up
    out = []
    for _ in range(reps):
        t = clock()
        fn()
        out.append(clock() - t)
    return pick(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--wide-rows", type=int, default=500_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    spark = headwater.session()
    for cls in (Indexed, Wide, Endless):
        spark.dataSource.register(cls)
    spark.conf.set("headwater.executor.mode", "inline")
    print(f"S5 on {os.cpu_count()} cores; rows={args.rows:,}, wide rows={args.wide_rows:,}, reps={args.reps}\n")

    # 1. filter pushdown
    lo = args.rows // 2
    hi = lo + args.rows // 100
    df = spark.read.format("s5_indexed").option("rows", args.rows).load()
    query = df.filter((F.col("id") >= lo) & (F.col("id") < hi)).agg(F.count("*"), F.sum("x"))
    results = {}
    for setting in ("true", "false"):
        spark.conf.set("headwater.sql.pushdown", setting)
        YIELDED.clear()
        got = query.collect()[0]
        assert got[0] == hi - lo, got
        read = YIELDED["rows"]
        results[setting] = (timed(lambda: query.collect(), args.reps), read)
    spark.conf.unset("headwater.sql.pushdown")
    on, off = results["true"], results["false"]
    print("1. filter selecting 1% on an indexed column (inline)")
    print(f"   pushdown on : {on[0] * 1000:9.1f} ms, rows read {on[1]:>12,}")
    print(f"   pushdown off: {off[0] * 1000:9.1f} ms, rows read {off[1]:>12,}")
    print(f"   -> {off[0] / on[0]:.1f}x faster, {off[1] / max(on[1], 1):.0f}x fewer rows read\n")

    # 2. column pruning
    n = args.wide_rows
    wide_rows(n)
    schema = headwater.parse_schema(WIDE_SCHEMA)
    cpu = time.process_time  # inline mode: all of the work is on this thread
    print(f"2. 20 columns, 2 queried (c0 bigint and c10 string; {n:,} rows, one partition; least CPU time "
          f"of {max(args.reps, 7)} runs)")
    for prepared in (False, True):
        reader = WideReader(n, prepared)

        def scan(columns, reader=reader):
            s = _core.Scan(schema, reader.read, [InputPartition(0)], columns=columns)
            _core.count_rows(pa.RecordBatchReader.from_stream(s))

        # conversion = scan - generator, a difference of CPU times: the least of several runs each
        reps = max(args.reps, 7)
        gen = timed(lambda: collections.deque(reader.read(None), 0), reps, cpu, min)
        full = timed(lambda: scan(None), reps, cpu, min)
        two = timed(lambda: scan([0, 10]), reps, cpu, min)
        conv_full, conv_two = full - gen, two - gen
        ratio = conv_two / (conv_full * 2 / WIDE_COLS) if conv_full > 0 else float("nan")
        print("   " + ("prepared tuples (every value fetched from memory)" if prepared else
                      "rows built as they are read (a source's usual case)"))
        print(f"     bare generator {gen * 1000:8.1f} ms; conversion of all 20 columns {conv_full * 1000:8.1f} ms "
              f"({conv_full / n * 1e9:.1f} ns/row), of 2 columns {conv_two * 1000:8.1f} ms ({conv_two / n * 1e9:.1f} ns/row)")
        print(f"     -> conversion {conv_full / conv_two:.1f}x less; {ratio:.2f}x of proportional (2/20 of full); "
              f"target <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'}")
    wide = spark.read.format("s5_wide").option("rows", n).load()
    e2e_full = timed(lambda: wide.filter(F.col("c0") >= 0).toArrow(), args.reps)
    e2e_two = timed(lambda: wide.select("c0", "c10").filter(F.col("c0") >= 0).toArrow(), args.reps)
    print(f"   end to end via DuckDB (rows built as read, wall time): all columns {e2e_full * 1000:.1f} ms, "
          f"2 columns {e2e_two * 1000:.1f} ms ({e2e_full / e2e_two:.1f}x)\n")

    # 3. limit
    print(f"3. limit(10).collect() on {args.rows:,} rows in {PARTS} partitions (time to result)")
    spark.conf.set("headwater.executor.workers", 2)
    big = spark.read.format("s5_rows").option("rows", args.rows).load()
    for mode in ("inline", "thread", "process"):
        spark.conf.set("headwater.executor.mode", mode)
        if mode == "process":
            spark._worker_pool()
        direct = timed(lambda: big.take(10), args.reps)
        query = timed(lambda: big.select("id", "x").limit(10).collect(), args.reps)
        print(f"   {mode:8s}: take(10) {direct * 1000:7.1f} ms, select(...).limit(10) via DuckDB "
              f"{query * 1000:7.1f} ms; target < 50 ms: {'met' if max(direct, query) < 0.05 else 'NOT met'}")
    spark.stop()


if __name__ == "__main__":
    main()
