"""Real PySpark 4.3 (local[2]) on file stream sink directories, for test_stream_builtins_sink.py.
Not a pytest module. ``spark_sink_probe.py HW_DIR SPARK_DIR``: reads HW_DIR (a directory headwater's
file sink wrote) with spark.read.parquet, and writes SPARK_DIR with Spark's own parquet file sink
(rate-micro-batch, 12 batches of 5 rows: past Spark's log compaction at batch 9). Prints JSON."""

from __future__ import annotations

import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")


def main(hw_dir: str, spark_dir: str) -> None:
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1").getOrCreate())
    spark.sparkContext.setLogLevel("OFF")
    seen = sorted(r[0] for r in spark.read.parquet(hw_dir).select("id").collect())
    df = spark.readStream.format("rate-micro-batch").option("rowsPerBatch", "5").option("numPartitions", "2").load()
    q = df.writeStream.format("parquet").option("checkpointLocation", spark_dir + "_cp").start(spark_dir)
    deadline = time.time() + 90
    while (q.lastProgress is None or q.lastProgress["batchId"] < 11) and time.time() < deadline:
        time.sleep(0.1)
    q.stop()
    written = sorted(r[0] for r in spark.read.parquet(spark_dir).select("value").collect())
    print(json.dumps({"hw_dir_values": seen, "spark_dir_values": written}))
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
