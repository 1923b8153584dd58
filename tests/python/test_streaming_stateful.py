"""Stateful streaming end to end through stream-core's engine: a Python stream source (the counter of
test_streaming_core: rows (i, i*10), 10 per batch, 25 rows) -> groupBy/agg or dropDuplicates ->
foreachBatch / memory, with checkpointed state and a restart that replays the uncommitted batch."""

from __future__ import annotations

import os

import pytest

import headwater
from headwater import functions as F
from headwater.errors import AnalysisException

from test_streaming_core import TOTAL, Counter  # the shared test source


@pytest.fixture()
def spark():
    TOTAL["n"] = 25
    s = headwater.session(**{"headwater.executor.mode": "thread"})
    s.dataSource.register(Counter)
    yield s
    for q in s.streams.active:
        q.stop()


def run(df, mode, ck=None):
    got = {}
    w = df.writeStream.outputMode(mode).foreachBatch(
        lambda b, i: got.__setitem__(i, sorted(tuple(r) for r in b.collect())))
    if ck:
        w = w.option("checkpointLocation", ck)
    q = w.trigger(availableNow=True).start()
    q.awaitTermination()
    return got


def test_group_count_complete_and_update(spark):
    df = spark.readStream.format("counter").load().withColumn("k", F.col("id") % 3)
    # batches: ids 0-9, 10-19, 20-24
    assert run(df.groupBy("k").count(), "complete") == {
        0: [(0, 4), (1, 3), (2, 3)], 1: [(0, 7), (1, 7), (2, 6)], 2: [(0, 9), (1, 8), (2, 8)]}
    got = run(df.groupBy("k").agg(F.sum("v").alias("s"), F.max("id")), "update")
    assert got[2] == [(0, 1080, 24), (1, 920, 22), (2, 1000, 23)]


def test_dedup_append(spark):
    df = spark.readStream.format("counter").load().withColumn("k", F.col("id") % 4).select("k", "id")
    assert run(df.dropDuplicates(["k"]), "append") == {0: [(0, 0), (1, 1), (2, 2), (3, 3)], 1: [], 2: []}


def test_complete_without_aggregation_refused_at_start(spark):
    df = spark.readStream.format("counter").load()
    w = df.writeStream.outputMode("complete").format("memory").queryName("x")
    with pytest.raises(AnalysisException) as e:
        w.start()
    assert e.value.getErrorClass() == "STREAMING_OUTPUT_MODE.UNSUPPORTED_OPERATION"


def test_restart_resumes_state_without_double_counting(spark, tmp_path):
    ck = str(tmp_path / "ck")
    df = spark.readStream.format("counter").load().withColumn("k", F.col("id") % 2).groupBy("k").count()
    first = run(df, "complete", ck)
    assert first[2] == [(0, 13), (1, 12)]
    assert sorted(os.listdir(os.path.join(ck, "state", "0", "0"))) == ["0.delta.parquet", "1.delta.parquet",
                                                                      "2.delta.parquet"]
    # a crash after batch 2's state was written but before commits/2: batch 2 re-runs on batch 1's state
    os.unlink(os.path.join(ck, "commits", "2"))
    again = run(df, "complete", ck)
    assert again == {2: [(0, 13), (1, 12)]}
    # more input: the next batch adds to the restored totals
    TOTAL["n"] = 30
    assert run(df, "complete", ck) == {3: [(0, 15), (1, 15)]}


@pytest.mark.parametrize("kind", ["agg", "dedup"])
def test_sigkill_then_restart_counts_each_row_once(tmp_path, kind):
    import json
    import signal
    import subprocess
    import sys
    import time

    child = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stateful_kill_child.py")
    ck, out = str(tmp_path / "ck"), str(tmp_path / "out.jsonl")
    p = subprocess.Popen([sys.executable, child, kind, ck, out, "100000000", "0"])
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and p.poll() is None:  # a few batches commit, then kill mid-stream
            if os.path.isdir(os.path.join(ck, "commits")) and len(os.listdir(os.path.join(ck, "commits"))) >= 5:
                break
            time.sleep(0.05)
        p.send_signal(signal.SIGKILL)
    finally:
        p.wait()
    done = len(os.listdir(os.path.join(ck, "commits")))
    assert done >= 5
    # restart: availableNow up to a fixed total; the totals must be those of exactly these rows
    total = (done + 3) * 10
    subprocess.run([sys.executable, child, kind, ck, out, str(total), "1"], check=True, timeout=300)
    lines = [json.loads(x) for x in open(out).read().splitlines()]
    if kind == "agg":
        last = lines[-1]["rows"]
        assert last == [[k, len([i for i in range(total) if i % 7 == k])] for k in range(7)]
    else:  # each key emitted once over both runs (a replayed batch may emit its rows again, as Spark)
        seen = {}
        for x in lines:
            seen.setdefault(x["batch"], x["rows"])
        keys = sorted(k for rows in seen.values() for (k,) in rows)
        assert keys == list(range(7))


def test_sigkill_harness_stateful_pipelines_exactly_once(tmp_path):
    """tests/streaming_kill.py's stateful pipelines, short: a windowed count with a watermark (update)
    and a deduplication, rate-micro-batch -> a transactional sink, killed by SIGKILL at random
    points; after every kill the sinks hold the committed batches' exact answer."""
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import streaming_kill

    lines = []
    result = streaming_kill.run(8, seed=11, base=str(tmp_path), log=lines.append, pipelines=("agg", "dedup"))
    assert len(lines) == 8 and result["kills"] + result["finished_before_kill"] == 8
    assert result["kills"] >= 3
    assert result["agg"] >= 48 * streaming_kill.ROWS and result["dedup"] >= 48 * streaming_kill.ROWS


def test_watermark_carried_in_checkpoint_and_restored_on_restart(tmp_path):
    """rate-micro-batch (6 rows a batch, 1 s apart) -> withWatermark(1 s) -> 2 s windows, append:
    stopped after a few batches and restarted, the watermark goes on from the checkpoint (offsets/N
    batchWatermarkMs, commits/N nextBatchWatermarkMs) and window [0, 2) comes out once, in batch 4,
    as in one uninterrupted Spark run (spark_probe_stateful's window_append)."""
    import json
    import time

    s = headwater.session(**{"headwater.executor.mode": "inline"})
    ck = str(tmp_path / "ck")
    got = {}

    def run_until(n):
        df = (s.readStream.format("rate-micro-batch").option("rowsPerBatch", 6).option("startTimestamp", 0)
              .option("advanceMillisPerBatch", 1000).load().withWatermark("timestamp", "1 second")
              .groupBy(F.window("timestamp", "2 seconds")).count())
        q = df.writeStream.outputMode("append").option("checkpointLocation", ck).foreachBatch(
            lambda b, i: got.setdefault(i, [(r["window"]["start"].second, r["count"]) for r in b.collect()])).start()
        while len(got) < n:
            assert q.exception() is None
            time.sleep(0.01)
        q.stop()

    run_until(3)
    run_until(7)
    meta = {b: json.loads(open(os.path.join(ck, "offsets", str(b))).read().splitlines()[1])["batchWatermarkMs"]
            for b in range(7)}
    assert meta == {0: 0, 1: 0, 2: 0, 3: 1000, 4: 2000, 5: 3000, 6: 4000}
    nxt = json.loads(open(os.path.join(ck, "commits", "3")).read().splitlines()[1])
    assert nxt == {"nextBatchWatermarkMs": 2000}
    assert [got[b] for b in range(7)] == [[], [], [], [], [(0, 12)], [], [(2, 12)]]


def test_stream_static_join_reads_the_static_side_once_per_batch(tmp_path):
    """As Spark 4.3 (tests/python/spark_probe_static_join.py: 4 reads for 4 batches): the static side of
    a stream-static join is a plan re-run per micro-batch, so a Python source there is read per batch."""
    import time

    from headwater.datasource import DataSource, DataSourceReader

    log = str(tmp_path / "reads")

    class Static(DataSource):
        @classmethod
        def name(cls):
            return "static_counted"

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

    s = headwater.session(**{"headwater.executor.mode": "inline"})
    s.dataSource.register(Static)
    static = s.read.format("static_counted").option("log", log).load()
    stream = s.readStream.format("rate-micro-batch").option("rowsPerBatch", 4).load()
    seen = {}
    q = stream.join(static, "value").writeStream.foreachBatch(
        lambda b, i: seen.setdefault(i, sorted(tuple(r) for r in b.select("value", "name").collect()))).start()
    while len(seen) < 4:
        assert q.exception() is None
        time.sleep(0.01)
    q.stop()
    assert seen[0] == [(0, "zero"), (1, "one")] and seen[1] == seen[2] == seen[3] == []
    assert len(open(log).read().splitlines()) == len(q.recentProgress) >= 4


def _static_left_batches(spark, how):
    """static.join(stream, "value", how) over three rate-micro-batch batches of 4 rows: rows per batch id."""
    static = spark.createDataFrame([(1, "one"), (5, "five"), (42, "never")], "value long, name string")
    stream = spark.readStream.format("rate-micro-batch").option("rowsPerBatch", 4).load()
    joined = static.join(stream, "value", how)
    assert joined.isStreaming and joined.columns == ["value", "name", "timestamp"]
    seen = {}
    q = joined.writeStream.foreachBatch(
        lambda b, i: seen.setdefault(i, sorted((r[0], r[1]) for r in b.collect()))).start()
    return q, seen


def _batches_seen(q, seen, n):
    """Waits (at most a minute) until foreachBatch saw n batches, then stops the query."""
    import time

    deadline = time.monotonic() + 60
    while len(seen) < n and time.monotonic() < deadline:
        assert q.exception() is None
        time.sleep(0.01)
    q.stop()
    return seen


def test_static_left_of_a_stream_join_runs_per_batch(spark):
    """As Spark: an inner join (and a right outer one, the stream on the right) of a static DataFrame with
    a stream runs per micro-batch, the static side's columns first (as static.join(batch) would give)."""
    seen = _batches_seen(*_static_left_batches(spark, "inner"), 2)
    assert seen[0] == [(1, "one")] and seen[1] == [(5, "five")]
    seen = _batches_seen(*_static_left_batches(spark, "right_outer"), 1)
    assert seen[0] == [(0, None), (1, "one"), (2, None), (3, None)]


def test_static_left_outer_join_with_a_stream_refused_at_start_as_spark(spark):
    static = spark.createDataFrame([(0, "zero")], "value long, name string")
    stream = spark.readStream.format("rate-micro-batch").load()
    joined = static.join(stream, "value", "left_outer")  # recorded; Spark refuses it at start()
    with pytest.raises(AnalysisException) as e:
        joined.writeStream.format("noop").start()
    assert e.value.getErrorClass() == "_LEGACY_ERROR_TEMP_3102"
    assert str(e.value).startswith("[_LEGACY_ERROR_TEMP_3102] LeftOuter join with a streaming DataFrame/Dataset "
                                   "on the right and a static DataFrame/Dataset on the left is not supported;")


def _nodata_source():
    """A Python stream source with one batch: rows at 0 s, 5 s and 10 s (as spark_probe_nodata.py)."""
    import datetime as dt

    from headwater.datasource import DataSource, DataSourceStreamReader, InputPartition

    class Src(DataSource):
        @classmethod
        def name(cls):
            return "three_rows"

        def schema(self):
            return "ts timestamp, v long"

        def streamReader(self, schema):
            return Reader()

    class Reader(DataSourceStreamReader):
        def initialOffset(self):
            return {"n": 0}

        def latestOffset(self):
            return {"n": 3}

        def partitions(self, start, end):
            return [InputPartition((start["n"], end["n"]))]

        def read(self, partition):
            for i in range(*partition.value):
                yield (dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=i * 5), i)

    return Src


@pytest.mark.parametrize("trigger", ["default", "availableNow"])
def test_no_data_batch_when_the_watermark_moves(tmp_path, trigger):
    """Spark 4.3 (tests/python/spark_probe_nodata.py): under the default trigger, batch 1 runs without
    rows at watermark 9 s and emits windows [0,1) and [5,6); under availableNow no such batch runs."""
    import time

    s = headwater.session(**{"headwater.executor.mode": "inline"})
    s.dataSource.register(_nodata_source())
    got = {}
    df = s.readStream.format("three_rows").load().withWatermark("ts", "1 second").groupBy(
        F.window("ts", "1 second")).count()
    w = df.writeStream.outputMode("append").option("checkpointLocation", str(tmp_path / "ck")).foreachBatch(
        lambda b, i: got.setdefault(i, sorted((r["window"]["start"].second, r["count"]) for r in b.collect())))
    if trigger == "availableNow":
        w.trigger(availableNow=True).start().awaitTermination()
        assert got == {0: []}
        return
    q = w.start()
    deadline = time.monotonic() + 30
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # no third batch follows
    q.stop()
    assert got == {0: [], 1: [(0, 1), (5, 1)]}
    assert [(p["batchId"], p["numInputRows"], p["eventTime"]["watermark"]) for p in q.recentProgress] == [
        (0, 3, "1970-01-01T00:00:00.000Z"), (1, 0, "1970-01-01T00:00:09.000Z")]
    offsets = [open(tmp_path / "ck" / "offsets" / str(b)).read().splitlines() for b in (0, 1)]
    assert offsets[0][2:] == offsets[1][2:]  # the same source offsets
