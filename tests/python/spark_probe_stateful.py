"""Probe PySpark 4.3.0 (local[2]) for the stateful streaming semantics headwater matches.

Each query reads ``rate-micro-batch`` (rowsPerBatch, startTimestamp, advanceMillisPerBatch fixed,
so the input of batch N is known) and writes through ``foreachBatch``, which records the rows of
every batch id; the script prints JSON: per query, the inputs, the outputs and the batch
watermark per batch id, and the error classes of the refused operations. The differential tests
(test_state_spark.py) run it once and feed the same inputs to headwater's operators.

Run: ``python tests/python/spark_probe_stateful.py OUT.json [BATCHES]``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time


def record(df, mode, batches):
    """Run ``df`` (either engine) into foreachBatch until ``batches`` batches ran: rows per batch id,
    progress, and the watermark lines of offsets/N and commits/N."""
    got = {}

    def sink(bdf, bid):
        got[int(bid)] = [r.asDict(recursive=True) for r in bdf.collect()]

    ck = tempfile.mkdtemp()
    q = df.writeStream.outputMode(mode).option("checkpointLocation", ck).foreachBatch(sink).start()
    try:
        while len(got) < batches:
            time.sleep(0.05)
            if q.exception():
                raise q.exception()
    finally:
        q.stop()
    progress = {}
    for p in q.recentProgress:
        progress[p["batchId"]] = {"eventTime": p.get("eventTime"), "numInputRows": p["numInputRows"],
                                  "stateOperators": p.get("stateOperators")}
    offsets = {}
    for b in range(batches):
        try:
            with open(f"{ck}/offsets/{b}") as f:
                offsets[b] = json.loads(f.read().splitlines()[1])
        except OSError:
            pass
    commits = {}
    for b in range(batches):
        try:
            with open(f"{ck}/commits/{b}") as f:
                commits[b] = json.loads(f.read().splitlines()[1])
        except OSError:
            pass
    return {"mode": mode, "output": {b: got[b] for b in sorted(got)[:batches]}, "progress": progress,
            "offsetsMeta": offsets, "commitsMeta": commits}


def queries(spark, F, rate):
    """(name, streaming DataFrame, output mode) of every probed query: the same code runs on PySpark
    here and on headwater in test_state_spark.py (``spark``/``F``: either engine's session and
    functions; ``rate()``: a rate-micro-batch stream, 6 rows per batch, 1 s apart from 0)."""
    base = rate().withColumn("k", F.col("value") % 3)
    wm = rate().withWatermark("timestamp", "1 second").withColumn("k", F.col("value") % 2)
    dd = rate().withColumn("k", F.col("value") % 5).select("k", "timestamp", "value")
    ddw = rate().withWatermark("timestamp", "1 second").withColumn("k", F.col("value") % 5)
    sess = rate().withWatermark("timestamp", "1 second").withColumn("k", F.col("value") % 12)  # keys every other batch
    static = spark.createDataFrame([(0, "zero"), (1, "one")], "k long, name string")
    return [
        ("input", rate(), "append"),
        ("count_complete", base.groupBy("k").count(), "complete"),
        ("count_complete_sorted", base.groupBy("k").count().orderBy(F.col("k").desc()), "complete"),
        ("global_count_complete", base.groupBy().count(), "complete"),
        ("agg_update", base.groupBy("k").agg(F.count("*").alias("n"), F.sum("value"), F.avg("value"),
                                             F.min("value"), F.max("value")), "update"),
        ("window_update", wm.groupBy(F.window("timestamp", "2 seconds"), "k").count(), "update"),
        ("window_append", wm.groupBy(F.window("timestamp", "2 seconds")).count(), "append"),
        ("sliding_append", wm.groupBy(F.window("timestamp", "2 seconds", "1 second")).count(), "append"),
        ("window_expr_update", wm.groupBy(F.window("timestamp", "1 second"), F.col("value") % 4).count(), "update"),
        ("dedup", dd.dropDuplicates(["k"]), "append"),
        ("dedup_watermark", ddw.dropDuplicates(["k", "timestamp"]), "append"),
        ("dedup_within", ddw.dropDuplicatesWithinWatermark(["k"]), "append"),
        ("session_append", sess.groupBy(F.session_window("timestamp", "1 second"), "k").count(), "append"),
        ("session_complete", sess.groupBy(F.session_window("timestamp", "2 seconds"), "k").agg(F.sum("value")),
         "complete"),
        ("join_inner", base.join(static, "k"), "append"),
        ("join_left", base.join(static, "k", "left_outer"), "append"),
    ]


def refused(spark, F, rate):
    """Queries Spark refuses at start(): name -> a DataStreamWriter ready to start."""
    base = rate().withColumn("k", F.col("value") % 3)
    static = spark.createDataFrame([(0, "zero")], "value long, name string")
    return {
        "sort_no_agg": rate().sort("value").writeStream.format("memory").queryName("e1").outputMode("append"),
        "sort_agg_update": base.groupBy("k").count().sort("k").writeStream.format("memory").queryName("e5")
        .outputMode("update"),
        "complete_no_agg": rate().writeStream.format("memory").queryName("e2").outputMode("complete"),
        "stream_stream_join_outer_no_wm": rate().join(rate().withColumnRenamed("timestamp", "t2"), "value",
                                                      "full_outer").writeStream.format("memory")
        .queryName("e3").outputMode("append"),
        "append_agg_no_watermark": base.groupBy("k").count().writeStream.format("memory").queryName("e4")
        .outputMode("append"),
        "session_update": rate().withWatermark("timestamp", "1 second").groupBy(
            F.session_window("timestamp", "1 second")).count().writeStream.format("memory").queryName("e8")
        .outputMode("update"),
        "join_right_outer_stream_left": rate().join(static, "value", "right_outer").writeStream.format("memory")
        .queryName("e6").outputMode("append"),
        "join_full_outer_stream_static": rate().join(static, "value", "full_outer").writeStream.format("memory")
        .queryName("e7").outputMode("append"),
    }


def main(out_path: str, batches: int = 4) -> None:
    from pyspark.sql import SparkSession, functions as F
    from pyspark.errors import AnalysisException

    spark = (SparkSession.builder.master("local[2]").config("spark.sql.shuffle.partitions", "2")
             .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")

    def rate():
        return (spark.readStream.format("rate-micro-batch").option("rowsPerBatch", 6)
                .option("startTimestamp", 0).option("advanceMillisPerBatch", 1000).load())

    out = {}
    for name, df, mode in queries(spark, F, rate):
        out[name] = record(df, mode, batches)

    errors = {}
    for name, writer in refused(spark, F, rate).items():
        try:
            q = writer.start()
            q.stop()
            errors[name] = None
        except AnalysisException as e:
            errors[name] = {"class": e.getCondition(), "message": str(e).splitlines()[0][:300]}
    out["errors"] = errors
    spark.stop()
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1, default=str, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 4)
