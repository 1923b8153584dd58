"""Probe PySpark 4.3.0 (local[2]): how often is the static side of a stream-static join read? A
Python data source appends a line to a file each time its reader's read() runs; a rate-micro-batch
stream joins it for BATCHES batches. Prints JSON {"batches": n, "reads": m}.

Run: ``python tests/python/spark_probe_static_join.py LOG [BATCHES]`` (LOG: the file read() appends to).
"""

from __future__ import annotations

import json
import sys
import time


def main(log: str, batches: int) -> None:
    import os

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Spark's Python workers: this venv
    from pyspark.sql import SparkSession
    from pyspark.sql.datasource import DataSource, DataSourceReader

    class Static(DataSource):
        @classmethod
        def name(cls):
            return "probe_static"

        def schema(self):
            return "value long, name string"

        def reader(self, schema):
            return Reader(self.options["log"])

    class Reader(DataSourceReader):
        def __init__(self, path):
            self.path = path

        def read(self, partition):
            with open(self.path, "a") as f:
                f.write("read\n")
            yield (0, "zero")
            yield (1, "one")

    spark = (SparkSession.builder.master("local[2]").config("spark.sql.shuffle.partitions", "2")
             .config("spark.ui.enabled", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    spark.dataSource.register(Static)
    static = spark.read.format("probe_static").option("log", log).load()
    stream = spark.readStream.format("rate-micro-batch").option("rowsPerBatch", 4).load()
    seen = []
    q = stream.join(static, "value").writeStream.foreachBatch(lambda b, i: seen.append(b.count())).start()
    while len(seen) < batches:
        time.sleep(0.1)
        if q.exception():
            raise q.exception()
    q.stop()
    spark.stop()
    with open(log) as f:
        reads = len(f.read().splitlines())
    print(json.dumps({"batches": len(seen), "reads": reads}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 4)
