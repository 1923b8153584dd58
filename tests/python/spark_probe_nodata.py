"""Probe PySpark 4.3.0 (local[2]): does a stream run a no-data batch when the watermark alone moves?
A Python stream source gives one batch of 3 rows (0 s, 5 s, 10 s); withWatermark 1 s, 1 s windows,
append, under the availableNow, once and default triggers. Prints JSON: rows per batch id and the
watermark of each batch (found: default trigger runs batch 1 without rows at watermark 9 s and emits
windows [0,1) and [5,6); availableNow and once run batch 0 only).

Run: ``python tests/python/spark_probe_nodata.py``.
"""
import os, sys, json, time, datetime as dt, tempfile
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
from pyspark.sql import SparkSession, functions as F
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
class Src(DataSource):
    @classmethod
    def name(cls): return "nd"
    def schema(self): return "ts timestamp, v long"
    def streamReader(self, schema): return R()
class R(DataSourceStreamReader):
    def initialOffset(self): return {"n": 0}
    def latestOffset(self): return {"n": 3}
    def partitions(self, s, e): return [InputPartition((s["n"], e["n"]))]
    def read(self, p):
        import datetime as dt
        for i in range(*p.value):
            yield (dt.datetime(1970,1,1,tzinfo=dt.timezone.utc) + dt.timedelta(seconds=i*5), i)
    def commit(self, end): pass
spark = (SparkSession.builder.master("local[2]").config("spark.sql.shuffle.partitions", "2")
         .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
spark.dataSource.register(Src)
out = {}
for trig in ("availableNow", "once", "default"):
    got = {}
    df = spark.readStream.format("nd").load().withWatermark("ts", "1 second").groupBy(F.window("ts", "1 second")).count()
    w = df.writeStream.outputMode("append").option("checkpointLocation", tempfile.mkdtemp()).foreachBatch(lambda b, i: got.__setitem__(i, [str(r) for r in b.collect()]))
    if trig == "availableNow": w = w.trigger(availableNow=True)
    elif trig == "once": w = w.trigger(once=True)
    q = w.start()
    if trig == "default":
        time.sleep(8); q.stop()
    else:
        q.awaitTermination()
    out[trig] = {"out": got, "wm": [(p["batchId"], p["numInputRows"], p["eventTime"].get("watermark")) for p in q.recentProgress]}
spark.stop()
print(json.dumps(out, indent=1))
