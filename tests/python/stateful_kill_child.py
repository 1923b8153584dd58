"""Child of test_streaming_stateful's SIGKILL test: a checkpointed groupBy count (complete) or
dropDuplicates (append) over the counter source, each batch's rows appended to OUT as JSON lines."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import headwater  # noqa: E402
from headwater import functions as F  # noqa: E402
from test_streaming_core import TOTAL, Counter  # noqa: E402

kind, ck, out, n, once = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
TOTAL["n"] = n
spark = headwater.session(**{"headwater.executor.mode": "thread"})
spark.dataSource.register(Counter)
df = spark.readStream.format("counter").load().withColumn("k", F.col("id") % 7)
q = (df.groupBy("k").count() if kind == "agg" else df.select("k").dropDuplicates(["k"]))


def sink(b, i):
    with open(out, "a") as f:
        f.write(json.dumps({"batch": i, "rows": sorted(tuple(r) for r in b.collect())}) + "\n")


w = q.writeStream.outputMode("complete" if kind == "agg" else "append").option("checkpointLocation", ck) \
    .foreachBatch(sink)
w = w.trigger(availableNow=True) if once else w
w.start().awaitTermination()
