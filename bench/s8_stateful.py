"""Stateful streaming: headwater's state operator vs PySpark 4.3 (local[2]) on the same micro-batches.

    .venv/bin/python bench/s8_stateful.py [--rows-per-batch 100000] [--batches 30]

The query: ``rate-micro-batch`` (rowsPerBatch, advanceMillisPerBatch 1000) ->
``withWatermark("timestamp", "2 seconds").groupBy(window("timestamp", "1 second"), value % 100).count()``,
``update`` mode, checkpointed, into ``noop``. PySpark runs it as a streaming query (its figures from
the progress reports: triggerExecution per batch). headwater: the batches rate-micro-batch would
produce, made in numpy/Arrow, through the streaming aggregation operator (python/headwater/state),
the watermark and the state commit of every batch (the micro-batch loop of issue 14 is not merged
here yet, so this times the stateful part plus the source's batch making, not offsets/commit logs).
Ratios are PySpark over headwater (> 1: headwater is faster). Nothing asserts on time; the machine
is shared, treat the numbers as indicative.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def headwater_run(rows: int, batches: int) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from headwater.state import Agg, StreamingAggregate, Watermark, Window

    ck = tempfile.mkdtemp(prefix="hw-s8-")
    try:
        op = StreamingAggregate([Window("timestamp", "1 second"), "(value % 100)"],
                                [Agg("count")], "update", event_time="timestamp", checkpoint=ck)
        wm = Watermark("timestamp", "2 seconds")
        times, mem = [], []
        start = time.perf_counter()
        for b in range(batches):
            t0 = time.perf_counter()
            values = pa.array(np.arange(b * rows, (b + 1) * rows, dtype=np.int64))
            ts = pa.array(np.full(rows, b * 1_000_000, dtype=np.int64)).cast(pa.timestamp("us", tz="UTC"))
            batch = pa.table({"timestamp": ts, "value": values, "(value % 100)": pc.remainder(values, 100)})
            op.process(batch, wm.batch_ms)
            wm.observe(batch)
            op.commit(b)
            wm.advance()
            times.append(time.perf_counter() - t0)
            if b in (batches // 2, batches - 1):
                mem.append((b, op.metrics()["numRowsTotal"], op.metrics()["memoryUsedBytes"]))
        total = time.perf_counter() - start
        op.close()
        return {"rows_per_s": rows * batches / total, "batch_ms": statistics.median(times) * 1000, "state": mem}
    finally:
        shutil.rmtree(ck, ignore_errors=True)


def spark_run(rows: int, batches: int) -> dict:
    from pyspark.sql import SparkSession, functions as F

    spark = (SparkSession.builder.master("local[2]").config("spark.sql.shuffle.partitions", "2")
             .config("spark.ui.enabled", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    ck = tempfile.mkdtemp(prefix="spark-s8-")
    try:
        df = (spark.readStream.format("rate-micro-batch").option("rowsPerBatch", rows)
              .option("advanceMillisPerBatch", 1000).option("startTimestamp", 0).load()
              .withWatermark("timestamp", "2 seconds")
              .groupBy(F.window("timestamp", "1 second"), F.col("value") % 100).count())
        q = df.writeStream.outputMode("update").format("noop").option("checkpointLocation", ck).start()
        start = time.perf_counter()
        while (q.lastProgress or {}).get("batchId", -1) < batches - 1:
            if q.exception():
                raise q.exception()
            time.sleep(0.05)
        total = time.perf_counter() - start
        prog = [p for p in q.recentProgress if p["batchId"] < batches]
        q.stop()
        per = [p["durationMs"]["triggerExecution"] for p in prog]
        state = [(p["batchId"], p["stateOperators"][0]["numRowsTotal"], p["stateOperators"][0]["memoryUsedBytes"])
                 for p in prog if p["batchId"] in (batches // 2, batches - 1)]
        return {"rows_per_s": rows * batches / total, "batch_ms": statistics.median(per), "state": state}
    finally:
        spark.stop()
        shutil.rmtree(ck, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows-per-batch", type=int, default=100_000)
    ap.add_argument("--batches", type=int, default=30)
    a = ap.parse_args()
    hw = headwater_run(a.rows_per_batch, a.batches)
    sp = spark_run(a.rows_per_batch, a.batches)
    print(f"rows/batch {a.rows_per_batch}, batches {a.batches}")
    print(f"{'':12}{'rows/s':>14}{'ms/batch':>12}  state (batch, rows, bytes)")
    for name, r in (("headwater", hw), ("pyspark", sp)):
        print(f"{name:12}{r['rows_per_s']:>14,.0f}{r['batch_ms']:>12.1f}  {r['state']}")
    print(f"ratio rows/s {hw['rows_per_s'] / sp['rows_per_s']:.1f}x, time per batch "
          f"{sp['batch_ms'] / hw['batch_ms']:.1f}x less")


if __name__ == "__main__":
    sys.exit(main())
