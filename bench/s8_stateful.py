"""Stateful streaming, the whole loop: headwater vs PySpark 4.3 (local[2]), side by side in one run.

    .venv/bin/python bench/s8_stateful.py [--rows-per-batch 100000] [--batches 30]

The query, the same DataFrame code on both engines: ``rate-micro-batch`` (rowsPerBatch,
advanceMillisPerBatch 1000) -> ``withWatermark("timestamp", "2 seconds").groupBy(window("timestamp",
"1 second"), value % 100).count()``, ``update`` mode, checkpointed, into ``noop``. Each engine runs it
as a streaming query until ``--batches`` batches ran: rows/s is rows over the wall time from start()
to the last batch's progress; ms/batch is the median of the progress reports' triggerExecution
(headwater's ends when the sink has the batch, before commits/N is written; Spark's includes its
commit), wall/batch that wall time over the batches (the same measure for both).
State (batch, rows, bytes) is stateOperators[0] at the middle and the last batch: it follows the
live groups (100 keys x the windows the watermark keeps), not the rows seen. Ratios are headwater
over PySpark for rows/s and PySpark over headwater for time per batch (> 1: headwater is better).
Nothing asserts on time; the machine is shared, treat the numbers as indicative.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time


def run_query(spark, F, rows: int, batches: int) -> dict:
    """The benchmark query on ``spark`` (either engine's session; ``F``: its functions)."""
    ck = tempfile.mkdtemp(prefix="s8-")
    try:
        df = (spark.readStream.format("rate-micro-batch").option("rowsPerBatch", rows)
              .option("advanceMillisPerBatch", 1000).option("startTimestamp", 0).load()
              .withWatermark("timestamp", "2 seconds")
              .groupBy(F.window("timestamp", "1 second"), F.col("value") % 100).count())
        start = time.perf_counter()
        q = df.writeStream.outputMode("update").format("noop").option("checkpointLocation", ck).start()
        while (q.lastProgress or {}).get("batchId", -1) < batches - 1:
            if q.exception():
                raise q.exception()
            time.sleep(0.005)
        total = time.perf_counter() - start
        prog = [p for p in q.recentProgress if p["batchId"] < batches]
        q.stop()
        per = [p["durationMs"]["triggerExecution"] for p in prog]
        state = [(p["batchId"], p["stateOperators"][0]["numRowsTotal"], p["stateOperators"][0]["memoryUsedBytes"])
                 for p in prog if p["batchId"] in (batches // 2, batches - 1)]
        phases = {k: statistics.median(p["durationMs"].get(k, 0) for p in prog)
                  for k in ("latestOffset", "getBatch", "addBatch", "walCommit", "commitOffsets")}
        return {"rows_per_s": rows * batches / total, "batch_ms": statistics.median(per), "state": state,
                "phases": phases, "wall_ms": total * 1000 / batches}
    finally:
        shutil.rmtree(ck, ignore_errors=True)


def headwater_run(rows: int, batches: int) -> dict:
    import headwater
    from headwater import functions as F

    spark = headwater.session()
    try:
        return run_query(spark, F, rows, batches)
    finally:
        spark.stop()


def spark_run(rows: int, batches: int) -> dict:
    from pyspark.sql import SparkSession, functions as F

    spark = (SparkSession.builder.master("local[2]").config("spark.sql.shuffle.partitions", "2")
             .config("spark.ui.enabled", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        return run_query(spark, F, rows, batches)
    finally:
        spark.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows-per-batch", type=int, default=100_000)
    ap.add_argument("--batches", type=int, default=30)
    a = ap.parse_args()
    hw = headwater_run(a.rows_per_batch, a.batches)
    sp = spark_run(a.rows_per_batch, a.batches)
    print(f"rows/batch {a.rows_per_batch}, batches {a.batches}")
    print(f"{'':12}{'rows/s':>14}{'ms/batch':>12}{'wall/batch':>12}  state (batch, rows, bytes)")
    for name, r in (("headwater", hw), ("pyspark", sp)):
        print(f"{name:12}{r['rows_per_s']:>14,.0f}{r['batch_ms']:>12.1f}{r['wall_ms']:>12.1f}  {r['state']}")
    for name, r in (("headwater", hw), ("pyspark", sp)):
        print(f"{name:12}median ms per phase: {r['phases']}")
    print(f"ratio rows/s {hw['rows_per_s'] / sp['rows_per_s']:.1f}x, time per batch "
          f"{sp['batch_ms'] / hw['batch_ms']:.1f}x less (triggerExecution; wall time per batch "
          f"{sp['wall_ms'] / hw['wall_ms']:.1f}x less)")


if __name__ == "__main__":
    sys.exit(main())
