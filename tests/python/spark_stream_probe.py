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
    json.dump(result, sys.stdout)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
