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


def main(out_path: str, batches: int = 4) -> None:
    from pyspark.sql import SparkSession, functions as F
    from pyspark.errors import AnalysisException

    spark = (SparkSession.builder.master("local[2]").config("spark.sql.shuffle.partitions", "2")
             .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")

    def rate():
        return (spark.readStream.format("rate-micro-batch").option("rowsPerBatch", 6)
                .option("startTimestamp", 0).option("advanceMillisPerBatch", 1000).load())

    def run(name, df, mode, out):
        got = {}

        def sink(bdf, bid):
            got[int(bid)] = [r.asDict(recursive=True) for r in bdf.collect()]

        ck = tempfile.mkdtemp()
        q = df.writeStream.outputMode(mode).option("checkpointLocation", ck).foreachBatch(sink).start()
        try:
            while len(got) < batches:
                time.sleep(0.2)
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
        out[name] = {"mode": mode, "output": {b: got[b] for b in sorted(got)[:batches]}, "progress": progress,
                     "offsetsMeta": offsets, "commitsMeta": commits}

    out = {}
    run("input", rate(), "append", out)
    base = rate().withColumn("k", F.col("value") % 3)
    run("count_complete", base.groupBy("k").count(), "complete", out)
    run("global_count_complete", base.groupBy().count(), "complete", out)
    run("agg_update", base.groupBy("k").agg(F.count("*").alias("n"), F.sum("value"), F.avg("value"),
                                             F.min("value"), F.max("value")), "update", out)
    wm = rate().withWatermark("timestamp", "1 second").withColumn("k", F.col("value") % 2)
    run("window_update", wm.groupBy(F.window("timestamp", "2 seconds"), "k").count(), "update", out)
    run("window_append", wm.groupBy(F.window("timestamp", "2 seconds")).count(), "append", out)
    run("sliding_append", wm.groupBy(F.window("timestamp", "2 seconds", "1 second")).count(), "append", out)
    dd = rate().withColumn("k", F.col("value") % 5).select("k", "timestamp", "value")
    run("dedup", dd.dropDuplicates(["k"]), "append", out)
    ddw = rate().withWatermark("timestamp", "1 second").withColumn("k", F.col("value") % 5)
    run("dedup_watermark", ddw.dropDuplicates(["k", "timestamp"]), "append", out)
    run("dedup_within", ddw.dropDuplicatesWithinWatermark(["k"]), "append", out)
    static = spark.createDataFrame([(0, "zero"), (1, "one")], "k long, name string")
    run("join_inner", base.join(static, "k"), "append", out)
    run("join_left", base.join(static, "k", "left_outer"), "append", out)

    errors = {}
    cases = {
        "sort_no_agg": lambda: rate().sort("value").writeStream.format("memory").queryName("e1").outputMode("append"),
        "complete_no_agg": lambda: rate().writeStream.format("memory").queryName("e2").outputMode("complete"),
        "stream_stream_join_outer_no_wm": lambda: rate().join(rate().withColumnRenamed("timestamp", "t2"), "value",
                                                               "full_outer").writeStream.format("memory")
        .queryName("e3").outputMode("append"),
        "append_agg_no_watermark": lambda: base.groupBy("k").count().writeStream.format("memory").queryName("e4")
        .outputMode("append"),
    }
    for name, make in cases.items():
        try:
            q = make().start()
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
