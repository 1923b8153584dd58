"""Built-in file formats: headwater vs PySpark (local[2]) writing and reading the same rows.

    .venv/bin/python bench/formats.py [--rows 2000000] [--partitions 2] [--reps 3] [--formats parquet,csv,json]

Rows: (id BIGINT, d DOUBLE, s STRING, ts TIMESTAMP). Each peer makes its rows natively and untimed
(headwater: a pyarrow Table through createDataFrame; Spark: ``spark.range`` with expressions, cached),
then per format: ``write`` = ``df.write.format(f).mode("overwrite").save(path)`` and ``read`` =
``spark.read.format(f).load(path)`` written to ``noop`` (every column decoded: Spark's ``count()``
would skip the columns), csv/json with a user schema (no inference pass). Median
of the timed runs; ratios are PySpark's time over headwater's (> 1: headwater is faster). Nothing
asserts on time; the machine may be shared, so treat the numbers as indicative.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

SCHEMA = "id BIGINT, d DOUBLE, s STRING, ts TIMESTAMP"


def _reader(spark, fmt, path):
    """A function that loads ``path`` (csv/json with the schema: no inference pass)."""
    if fmt in ("csv", "json"):
        return lambda: spark.read.format(fmt).schema(SCHEMA).load(path)
    return lambda: spark.read.format(fmt).load(path)


def timed(fn, reps):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def headwater_peer(args, root):
    import pyarrow as pa
    import pyarrow.compute as pc

    import headwater

    spark = headwater.session()
    spark.conf.set("headwater.executor.workers", args.partitions)
    ids = pa.array(range(args.rows), pa.int64())
    table = pa.table({
        "id": ids,
        "d": pc.multiply(ids.cast(pa.float64()), 1.5),
        "s": pc.binary_join_element_wise("s", ids.cast(pa.string()), ""),
        "ts": pc.multiply(ids, 1000).cast(pa.timestamp("us", "UTC")),
    })
    df = spark.createDataFrame(table).repartition(args.partitions)
    out = {}
    for fmt in args.formats:
        path = os.path.join(root, "hw-" + fmt)
        out[(fmt, "write")] = timed(lambda: df.write.format(fmt).mode("overwrite").save(path), args.reps)
        reader = _reader(spark, fmt, path)
        assert reader().count() == args.rows
        out[(fmt, "read")] = timed(lambda: reader().write.format("noop").mode("overwrite").save(), args.reps)
    return out


def pyspark_peer(args, root):
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.driver.bindAddress", "127.0.0.1").config("spark.sql.session.timeZone", "UTC")
             .config("spark.driver.memory", "4g").config("spark.ui.showConsoleProgress", "false").getOrCreate())
    spark.sparkContext.setLogLevel("OFF")
    df = (spark.range(args.rows, numPartitions=args.partitions)
          .selectExpr("id", "id * 1.5 AS d", "concat('s', id) AS s", "timestamp_micros(id * 1000) AS ts").cache())
    df.count()
    out = {}
    for fmt in args.formats:
        path = os.path.join(root, "spark-" + fmt)
        out[(fmt, "write")] = timed(lambda: df.write.format(fmt).mode("overwrite").save(path), args.reps)
        reader = _reader(spark, fmt, path)
        assert reader().count() == args.rows
        out[(fmt, "read")] = timed(lambda: reader().write.format("noop").mode("overwrite").save(), args.reps)
    spark.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--partitions", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--formats", default="parquet,csv,json")
    args = ap.parse_args()
    args.formats = args.formats.split(",")
    root = tempfile.mkdtemp(prefix="hw-bench-formats-")
    try:
        hw = headwater_peer(args, root)
        sp = pyspark_peer(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{args.rows:,} rows ({SCHEMA}), {args.partitions} partitions, median of {args.reps}")
    print(f"{'format':8} {'op':6} {'headwater s':>12} {'rows/s':>12} {'PySpark s':>10} {'rows/s':>12} "
          f"{'PySpark/hw':>11}")
    for fmt in args.formats:
        for op in ("write", "read"):
            a, b = hw[(fmt, op)], sp[(fmt, op)]
            print(f"{fmt:8} {op:6} {a:12.3f} {args.rows / a:12,.0f} {b:10.3f} {args.rows / b:12,.0f} {b / a:10.2f}x")


if __name__ == "__main__":
    main()
