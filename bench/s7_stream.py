"""S7: Structured Streaming, headwater and PySpark 4.3 side by side in one run.

    .venv/bin/python bench/s7_stream.py [--small-batches 20] [--rows 2000000] [--batch-rows 200000]
                                        [--latency-samples 200] [--no-pyspark]

A Spark-API stream reader (``s7count``: ``ReadMaxRows`` admission control, AvailableNow, two
partitions of RecordBatches) into a Python ``DataSourceStreamWriter`` (``write`` counts rows,
``commit`` adds them to a file), checkpointed, ``trigger(availableNow=True)``:

- per micro-batch time at 100 rows (``--small-batches`` batches; wall time / batches);
- throughput: ``--rows`` rows in ``--batch-rows``-row micro-batches (headwater in process mode);
- latency (headwater): rows made available by a producer thread one at a time, default trigger,
  time from availability to the sink's foreachBatch (p50, p99);
- the host's peak RSS after the headwater runs.

Each engine's sink total is checked against the rows read. Ratios: PySpark's time over headwater's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time

import pyarrow as pa
from pyspark.sql.datasource import (
    DataSource,
    DataSourceStreamReader,
    DataSourceStreamWriter,
    InputPartition,
    WriterCommitMessage,
)
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows, SupportsTriggerAvailableNow

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))


class CountReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    def __init__(self, options):
        self.total = int(options["total"])
        self.max_rows = int(options["maxRows"])

    def initialOffset(self):
        return {"offset": 0}

    def getDefaultReadLimit(self):
        return ReadMaxRows(self.max_rows)

    def prepareForTriggerAvailableNow(self):
        pass  # the total is fixed: it is the target

    def latestOffset(self, start, limit):
        if isinstance(limit, ReadAllAvailable):
            return {"offset": self.total}
        return {"offset": min(start["offset"] + limit.max_rows, self.total)}

    def partitions(self, start, end):
        a, b = start["offset"], end["offset"]
        return [InputPartition((a, (a + b) // 2)), InputPartition(((a + b) // 2, b))]

    def read(self, partition):
        a, b = partition.value
        step = 100_000
        for lo in range(a, b, step):
            hi = min(lo + step, b)
            ids = pa.array(range(lo, hi), pa.int64())
            yield pa.RecordBatch.from_arrays([ids, ids], names=["id", "x"])


class Count(WriterCommitMessage):
    def __init__(self, n):
        self.n = n


class CountWriter(DataSourceStreamWriter):
    def __init__(self, path):
        self.path = path

    def write(self, iterator):
        n = 0
        for _ in iterator:
            n += 1
        return Count(n)

    def commit(self, messages, batchId):
        with open(self.path, "a") as f:
            f.write(f"{sum(m.n for m in messages if m is not None)}\n")


class S7Count(DataSource):
    @classmethod
    def name(cls):
        return "s7count"

    def schema(self):
        return "id BIGINT, x BIGINT"

    def streamReader(self, schema):
        return CountReader(self.options)

    def streamWriter(self, schema, overwrite):
        return CountWriter(self.options["path"])


def run(spark, total, max_rows, tmp):
    ck, sink = tempfile.mkdtemp(dir=tmp), tempfile.mktemp(dir=tmp)
    t0 = time.perf_counter()
    q = (spark.readStream.format("s7count").option("total", total).option("maxRows", max_rows).load()
         .writeStream.format("s7count").option("path", sink).option("checkpointLocation", ck)
         .trigger(availableNow=True).start())
    q.awaitTermination()
    dt = time.perf_counter() - t0
    written = sum(int(x) for x in open(sink))
    if written != total:
        raise SystemExit(f"sink got {written} rows, expected {total}")
    return dt, len(q.recentProgress)


def latency(hw, samples):
    """Rows made available one at a time; availability -> foreachBatch, default trigger."""
    made = []

    class Live(DataSourceStreamReader):
        def initialOffset(self):
            return {"offset": 0}

        def latestOffset(self, start, limit):
            return {"offset": len(made)}

        def partitions(self, start, end):
            return [InputPartition((start["offset"], end["offset"]))]

        def read(self, partition):
            a, b = partition.value
            for i in range(a, b):
                yield (i,)

    class LiveSource(DataSource):
        @classmethod
        def name(cls):
            return "s7live"

        def schema(self):
            return "i BIGINT"

        def streamReader(self, schema):
            return Live()

    hw.dataSource.register(LiveSource)
    seen = {}

    def sink(df, batch_id):
        now = time.perf_counter()
        for (i,) in df.collect():
            seen[i] = now

    q = hw.readStream.format("s7live").load().writeStream.foreachBatch(sink).start()
    for _ in range(samples):
        made.append(time.perf_counter())
        time.sleep(0.02)
    q.processAllAvailable()
    q.stop()
    lat = sorted((seen[i] - made[i]) * 1000 for i in range(samples) if i in seen)
    return statistics.median(lat), lat[int(len(lat) * 0.99) - 1], len(lat)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small-batches", type=int, default=20)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--batch-rows", type=int, default=200_000)
    ap.add_argument("--latency-samples", type=int, default=200)
    ap.add_argument("--no-pyspark", action="store_true")
    args = ap.parse_args()
    import headwater
    import s7_stream  # the classes by module name (not __main__): worker processes import them


    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        hw_thread = headwater.session(**{"headwater.executor.mode": "thread", "headwater.executor.workers": "2"})
        hw_proc = headwater.session(**{"headwater.executor.mode": "process", "headwater.executor.workers": "2"})
        for s in (hw_thread, hw_proc):
            s.dataSource.register(s7_stream.S7Count)
        run(hw_thread, 300, 100, tmp)  # warm-up
        dt, n = run(hw_thread, 100 * args.small_batches, 100, tmp)
        out["hw_ms_per_batch"] = dt / n * 1000
        run(hw_proc, args.batch_rows * 2, args.batch_rows, tmp)  # warm-up: the worker pool starts
        dt, n = run(hw_proc, args.rows, args.batch_rows, tmp)
        out["hw_rows_per_s"] = args.rows / dt
        p50, p99, got = latency(hw_thread, args.latency_samples)
        out.update(hw_latency_p50_ms=p50, hw_latency_p99_ms=p99, latency_samples=got)
        out["hw_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if not args.no_pyspark:
            os.environ["PYTHONPATH"] = BENCH_DIR + os.pathsep + os.environ.get("PYTHONPATH", "")
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            from pyspark.sql import SparkSession

            spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
                     .config("spark.sql.shuffle.partitions", "2").getOrCreate())
            spark.sparkContext.setLogLevel("OFF")
            spark.dataSource.register(s7_stream.S7Count)
            run(spark, 300, 100, tmp)
            dt, n = run(spark, 100 * args.small_batches, 100, tmp)
            out["pyspark_ms_per_batch"] = dt / n * 1000
            dt, n = run(spark, args.rows, args.batch_rows, tmp)
            out["pyspark_rows_per_s"] = args.rows / dt
            spark.stop()
            out["per_batch_ratio"] = out["pyspark_ms_per_batch"] / out["hw_ms_per_batch"]
            out["throughput_ratio"] = out["hw_rows_per_s"] / out["pyspark_rows_per_s"]
    print(json.dumps(out, indent=1))
    print(f"per micro-batch (100 rows): headwater {out['hw_ms_per_batch']:.2f} ms"
          + (f", PySpark {out['pyspark_ms_per_batch']:.1f} ms, {out['per_batch_ratio']:.0f}x" if "per_batch_ratio" in out else ""))
    print(f"throughput ({args.rows} rows, {args.batch_rows}-row batches): headwater {out['hw_rows_per_s']:,.0f} rows/s"
          + (f", PySpark {out['pyspark_rows_per_s']:,.0f} rows/s, {out['throughput_ratio']:.1f}x" if "throughput_ratio" in out else ""))
    print(f"latency row-available -> sink (default trigger): p50 {out['hw_latency_p50_ms']:.2f} ms, "
          f"p99 {out['hw_latency_p99_ms']:.2f} ms; host peak RSS {out['hw_peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
