"""headwater's main job: a PySpark-API data source read on the C engine — its rows, the rate in
each execution mode, and the same Arrow data queried by DuckDB and read by Polars without a copy."""

import os
import tempfile
import time

import duckdb
import polars as pl
import pyarrow as pa

import headwater
from headwater import functions as F
from headwater.datasource import DataSource, DataSourceStreamReader, InputPartition
from trades_source import TradesSource  # examples/trades_source.py, next to this file


def rate(spark, mode: str, rows: int, partitions: int) -> float:
    spark.conf.set("headwater.executor.mode", mode)
    df = spark.read.format("trades").option("rows", rows).option("partitions", partitions).load()
    df.count()  # warm up (starts the worker processes once)
    started = time.perf_counter()
    n = df.count()
    return n / (time.perf_counter() - started)


def main() -> None:
    print(f"headwater {headwater.__version__}: Python data sources on a C engine ({os.cpu_count()} cores)\n")
    spark = headwater.SparkSession.builder.getOrCreate()
    spark.dataSource.register(TradesSource)

    df = spark.read.format("trades").option("rows", 10).load()
    print("schema:", df.schema.simpleString())
    df.show()

    n, parts = 2_000_000, 8
    print(f"reading {n:,} generated rows in {parts} partitions (each row built by the source's generator):")
    inline = rate(spark, "inline", n, parts)
    for mode in ("inline", "thread", "process"):
        r = inline if mode == "inline" else rate(spark, mode, n, parts)
        print(f"  {mode:8s} {r:>12,.0f} rows/s   {r / inline:4.2f}x inline")

    spark.conf.set("headwater.executor.mode", "auto")
    trades = spark.read.format("trades").option("rows", 200_000).option("partitions", 4).load()
    print("\nDuckDB over the DataFrame's Arrow stream (no copy):")
    print(duckdb.sql(
        "select symbol, count(*) as trades, round(avg(price), 2) as avg_price from trades group by symbol order by symbol"
    ))
    print("Polars over the same DataFrame:")
    print(pl.DataFrame(trades).select(pl.col("quantity").sum().alias("total_quantity")))
    table: pa.Table = trades.toArrow()
    print(f"pyarrow: {table.num_rows:,} rows, {table.nbytes / 1e6:.1f} MB in {len(table.to_batches())} batches")

    print("\nThe DataFrame API on DuckDB (only the columns the query reads are converted):")
    big = trades.filter(F.col("quantity") > 450).groupBy("symbol").agg(
        F.count("*").alias("big_trades"), F.avg("price").alias("avg_price"))
    big.orderBy("symbol").show()
    trades.createOrReplaceTempView("trades_view")
    spark.sql("SELECT symbol, max(price) AS top FROM trades_view GROUP BY symbol ORDER BY top DESC LIMIT 2").show()
    with tempfile.TemporaryDirectory() as tmp:
        big.write.mode("overwrite").parquet(os.path.join(tmp, "big"))
        back = spark.read.parquet(os.path.join(tmp, "big"))
        print(f"written to Parquet and read back: {back.count()} rows, columns {back.columns}")
        stream_demo(spark, os.path.join(tmp, "checkpoint"))
    spark.stop()


class TickReader(DataSourceStreamReader):
    """A stream source: offset = rows emitted so far, 5 new rows per micro-batch."""

    def initialOffset(self):
        return {"offset": 0}

    def latestOffset(self, start, limit):
        return {"offset": min(start["offset"] + 5, 15)}

    def partitions(self, start, end):
        return [InputPartition((start["offset"], end["offset"]))]

    def read(self, partition):
        for i in range(*partition.value):
            yield (i, f"tick {i}")


class Ticks(DataSource):
    @classmethod
    def name(cls):
        return "ticks"

    def schema(self):
        return "id INT, label STRING"

    def streamReader(self, schema):
        return TickReader()


def stream_demo(spark, checkpoint: str) -> None:
    print("\nStructured Streaming: spark.readStream -> filter -> console sink, checkpointed (Spark's layout):")
    spark.dataSource.register(Ticks)
    q = (spark.readStream.format("ticks").load().filter("id % 2 = 0").writeStream.format("console")
         .option("checkpointLocation", checkpoint).start())
    q.processAllAvailable()  # the default trigger: the next micro-batch as soon as the last ends
    q.stop()
    print(f"{len(q.recentProgress)} micro-batches; offsets log: {sorted(os.listdir(os.path.join(checkpoint, 'offsets')))}")


if __name__ == "__main__":
    main()
