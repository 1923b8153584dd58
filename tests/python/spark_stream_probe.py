"""Run Spark's rate and rate-micro-batch stream sources on real PySpark 4.3 (local[2]) and print, as
JSON, the rows of each micro-batch (value, timestamp in µs, partition id) and the checkpoint's
files. Not a pytest module: test_stream_builtins_rate.py runs it in a child process (one JVM).

    .venv/bin/python tests/python/spark_stream_probe.py OUT_DIR
"""

from __future__ import annotations

import glob
import json
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")


def main(out_dir: str) -> None:
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import expr, spark_partition_id

    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "2").config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1").getOrCreate())
    spark.sparkContext.setLogLevel("OFF")
    result = {}

    def run(key: str, fmt: str, opts: dict, batches: int) -> None:
        cp = os.path.join(out_dir, key)
        rows = {}

        def each(df, batch_id):
            got = df.select("value", expr("unix_micros(timestamp)"), spark_partition_id()).collect()
            rows[batch_id] = sorted([list(r) for r in got])

        df = spark.readStream.format(fmt).options(**opts).load()
        q = (df.writeStream.foreachBatch(each).option("checkpointLocation", cp)
             .trigger(processingTime="200 milliseconds").start())
        deadline = time.time() + 60
        while len(rows) < batches and time.time() < deadline:
            time.sleep(0.1)
        q.stop()
        files = {}
        for f in glob.glob(cp + "/**", recursive=True):
            if os.path.isfile(f) and not f.endswith(".crc"):
                with open(f, encoding="latin1") as fh:
                    files[os.path.relpath(f, cp)] = fh.read()
        result[key] = {"rows": rows, "files": files, "schema": df.schema.simpleString()}

    run("rmb", "rate-micro-batch", {"rowsPerBatch": "7", "numPartitions": "3", "startTimestamp": "1000",
                                    "advanceMillisPerBatch": "100"}, 4)
    run("ramp", "rate", {"rowsPerSecond": "10", "numPartitions": "3", "rampUpTime": "2s"}, 4)

    # a parquet file stream: three files with fixed mtimes, two files a trigger
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = os.path.join(out_dir, "files_in")
    os.makedirs(src)
    for i, (name, ids) in enumerate([("a", [1, 2]), ("b", [3]), ("c", [4, 5])]):
        pq.write_table(pa.table({"id": pa.array(ids, pa.int64())}), os.path.join(src, name))
        os.utime(os.path.join(src, name), (1e9 + i, 1e9 + i))
    try:
        spark.readStream.format("parquet").load(src)
        no_schema = None
    except Exception as e:  # noqa: BLE001 - the error is what is probed
        no_schema = [type(e).__name__, e.getCondition(), str(e)]
    cp = os.path.join(out_dir, "files_cp")
    got = {}

    def each_file(df, batch_id):
        got[batch_id] = sorted(r[0] for r in df.collect())

    q = (spark.readStream.format("parquet").schema("id BIGINT").option("maxFilesPerTrigger", "2").load(src)
         .writeStream.foreachBatch(each_file).option("checkpointLocation", cp).start())
    q.processAllAvailable()
    q.stop()
    with open(os.path.join(cp, "sources", "0", "0"), encoding="utf-8") as f:
        log0 = f.read()
    result["files"] = {"src": src, "rows": got, "log0": log0, "no_schema": no_schema}
    json.dump(result, sys.stdout)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
