"""Structured Streaming core (issue 14): the three reader kinds, the sinks, the checkpoint layout,
restarts, and errors, with real values."""

from __future__ import annotations

import json
import os
import threading

import pytest

import headwater
from headwater.datasource import (
    DataSource,
    DataSourceStreamReader,
    DataSourceStreamWriter,
    InputPartition,
    ReadAllAvailable,
    ReadMaxRows,
    SimpleDataSourceStreamReader,
    SupportsTriggerAvailableNow,
    WriterCommitMessage,
)
from headwater.errors import AnalysisException
from headwater.streaming import StreamingQueryException, StreamingQueryListener

TOTAL = {"n": 25}
SEEN: dict = {}


class CounterReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Offsets {"offset": i}; rows (i, i*10) up to TOTAL['n'], at most 10 per batch."""

    def __init__(self, options):
        self.fail = options.get("fail")
        self.target = None

    def initialOffset(self):
        return {"offset": 0}

    def getDefaultReadLimit(self):
        return ReadMaxRows(10)

    def prepareForTriggerAvailableNow(self):
        self.target = TOTAL["n"]

    def latestOffset(self, start, limit):
        top = self.target if self.target is not None else TOTAL["n"]
        if isinstance(limit, ReadAllAvailable):
            return {"offset": top}
        return {"offset": min(start["offset"] + limit.max_rows, top)}

    def partitions(self, start, end):
        a, b = start["offset"], end["offset"]
        mid = (a + b) // 2
        return [InputPartition((a, mid)), InputPartition((mid, b))]

    def read(self, partition):
        a, b = partition.value
        for i in range(a, b):
            if self.fail == "read" and i == 12:
                raise ValueError("boom at 12")
            yield (i, i * 10)

    def commit(self, end):
        SEEN.setdefault("commits", []).append(end["offset"])

    def stop(self):
        SEEN["stopped"] = SEEN.get("stopped", 0) + 1


class OldCounterReader(DataSourceStreamReader):
    """The 4.0/4.1 signature: latestOffset() (as pyspark-data-sources' fake stream)."""

    def __init__(self):
        self.pos = 0

    def initialOffset(self):
        return {"offset": 0}

    def latestOffset(self):
        self.pos = min(self.pos + 4, 8)
        return {"offset": self.pos}

    def partitions(self, start, end):
        return [InputPartition((start["offset"], end["offset"]))]

    def read(self, partition):
        for i in range(*partition.value):
            yield (i, -i)


class SimpleCounter(SimpleDataSourceStreamReader):
    def __init__(self, options):
        self.bad = options.get("bad")

    def initialOffset(self):
        return {"pos": 0}

    def read(self, start):
        p = start["pos"]
        if self.bad:
            return iter([(1, 1)]), {"pos": p}
        if p >= 9:
            return iter([]), start
        return iter([(i, i + 100) for i in range(p, p + 3)]), {"pos": p + 3}

    def readBetweenOffsets(self, start, end):
        return iter([(i, i + 100) for i in range(start["pos"], end["pos"])])


class Counter(DataSource):
    @classmethod
    def name(cls):
        return "counter"

    def schema(self):
        return "id INT, v INT"

    def streamReader(self, schema):
        if self.options.get("kind") == "old":
            return OldCounterReader()
        if self.options.get("kind") == "simple":
            return super().streamReader(schema)  # the base class's NOT_IMPLEMENTED: the simple reader is used
        return CounterReader(self.options)

    def simpleStreamReader(self, schema):
        return SimpleCounter(self.options)

    def streamWriter(self, schema, overwrite):
        return CollectWriter(self.options)


class Msg(WriterCommitMessage):
    def __init__(self, rows):
        self.rows = rows


class CollectWriter(DataSourceStreamWriter):
    def __init__(self, options):
        self.fail = options.get("fail")

    def write(self, iterator):
        rows = [tuple(r) for r in iterator]
        if self.fail == "write":
            raise RuntimeError("sink write failed")
        return Msg(rows)

    def commit(self, messages, batchId):
        SEEN.setdefault("sink", {})[batchId] = sorted(r for m in messages for r in m.rows)

    def abort(self, messages, batchId):
        SEEN.setdefault("aborted", []).append(batchId)


class NoStream(DataSource):
    @classmethod
    def name(cls):
        return "nostream"

    def schema(self):
        return "a INT"


@pytest.fixture
def spark():
    SEEN.clear()
    TOTAL["n"] = 25
    s = headwater.session(**{"headwater.executor.mode": "thread"})
    s.dataSource.register(Counter)
    s.dataSource.register(NoStream)
    yield s
    for q in s.streams.active:
        q.stop()


def batches_of(spark, df, **trigger):
    got = {}
    q = df.writeStream.foreachBatch(lambda b, i: got.__setitem__(i, sorted(tuple(r) for r in b.collect()))) \
        .trigger(**(trigger or {"availableNow": True})).start()
    q.awaitTermination()
    return got, q


def test_read_stream_is_streaming_and_batch_actions_refused(spark):
    df = spark.readStream.format("counter").load()
    assert df.isStreaming is True
    assert spark.createDataFrame([(1,)], "a INT").isStreaming is False
    with pytest.raises(AnalysisException) as e:
        df.collect()
    assert e.value.getErrorClass() == "_LEGACY_ERROR_TEMP_3102"
    with pytest.raises(AnalysisException) as e:
        spark.createDataFrame([(1,)], "a INT").writeStream
    assert e.value.getErrorClass() == "WRITE_STREAM_NOT_ALLOWED"
    assert df.columns == ["id", "v"]


def test_available_now_with_read_max_rows(spark):
    got, q = batches_of(spark, spark.readStream.format("counter").load())
    assert got == {0: [(i, i * 10) for i in range(10)], 1: [(i, i * 10) for i in range(10, 20)],
                   2: [(i, i * 10) for i in range(20, 25)]}
    assert [p["numInputRows"] for p in q.recentProgress] == [10, 10, 5]
    p = q.lastProgress
    assert p["batchId"] == 2 and p["sources"][0]["startOffset"] == '{"offset": 20}'
    assert p["sources"][0]["endOffset"] == '{"offset": 25}'
    assert q.recentProgress[0]["sources"][0]["startOffset"] == "null"
    assert SEEN["stopped"] == 1 and not q.isActive


def test_stateless_transforms_and_union(spark):
    a = spark.readStream.format("counter").load()
    df = a.filter("id % 2 = 0").withColumn("w", a.v + 1).select("id", "w").withColumnRenamed("w", "x")
    got, _ = batches_of(spark, df)
    assert got[0] == [(i, i * 10 + 1) for i in range(0, 10, 2)]
    u = spark.readStream.format("counter").load().union(spark.readStream.format("counter").option("kind", "old").load())
    got, q = batches_of(spark, u, once=True)
    # once: a single batch; the new reader admits 10, the old reader its latest offset (4)
    assert got == {0: sorted([(i, i * 10) for i in range(10)] + [(i, -i) for i in range(4)])}


def test_old_latest_offset_signature(spark):
    q = spark.readStream.format("counter").option("kind", "old").load().writeStream.format("memory") \
        .queryName("oldsig").start()
    q.processAllAvailable()
    q.stop()
    assert sorted(tuple(r) for r in spark.sql("SELECT * FROM oldsig").collect()) == [(i, -i) for i in range(8)]


def test_simple_reader_and_checkpoint_restart(spark, tmp_path):
    ck = str(tmp_path / "ck")
    df = spark.readStream.format("counter").option("kind", "simple").load()
    got, q = batches_of(spark, df)
    assert got == {0: [(i, i + 100) for i in range(3)]}  # no AvailableNow mixin: one batch
    q = df.writeStream.format("counter").option("checkpointLocation", ck).start()
    q.processAllAvailable()
    q.stop()
    assert SEEN["sink"] == {0: [(0, 100), (1, 101), (2, 102)], 1: [(3, 103), (4, 104), (5, 105)],
                            2: [(6, 106), (7, 107), (8, 108)]}
    assert sorted(os.listdir(os.path.join(ck, "offsets"))) == ["0", "1", "2"]
    lines = open(os.path.join(ck, "offsets", "2")).read().splitlines()
    assert lines[0] == "v1" and json.loads(lines[1])["batchWatermarkMs"] == 0 and lines[2] == '{"pos": 9}'
    assert open(os.path.join(ck, "commits", "1")).read() == 'v1\n{"nextBatchWatermarkMs":0}'
    qid = json.load(open(os.path.join(ck, "metadata")))["id"]
    assert q.id == qid
    # a crash between offsets/2 and commits/2: the batch re-runs with the same id and offsets
    os.unlink(os.path.join(ck, "commits", "2"))
    SEEN.clear()
    q2 = df.writeStream.format("counter").option("checkpointLocation", ck).start()
    q2.processAllAvailable()
    q2.stop()
    assert q2.id == qid and q2.runId != q.runId
    assert SEEN["sink"] == {2: [(6, 106), (7, 107), (8, 108)]}  # readBetweenOffsets replay


def test_simple_reader_offset_did_not_advance(spark):
    q = spark.readStream.format("counter").option("kind", "simple").option("bad", "1").load() \
        .writeStream.format("noop").start()
    with pytest.raises(StreamingQueryException) as e:
        q.awaitTermination()
    assert e.value.getErrorClass() == "STREAM_FAILED"
    assert e.value.__cause__.getErrorClass() == "SIMPLE_STREAM_READER_OFFSET_DID_NOT_ADVANCE"
    assert not q.isActive and q.exception() is e.value


def test_source_error_ends_query_and_stops_reader(spark):
    q = spark.readStream.format("counter").option("fail", "read").load().writeStream.format("noop") \
        .trigger(availableNow=True).start()
    with pytest.raises(StreamingQueryException) as e:
        q.awaitTermination()
    assert "boom at 12" in str(e.value)
    assert SEEN["stopped"] == 1


def test_sink_error_aborts(spark, tmp_path):
    q = spark.readStream.format("counter").load().writeStream.format("counter").option("fail", "write") \
        .option("checkpointLocation", str(tmp_path / "c")).trigger(availableNow=True).start()
    with pytest.raises(StreamingQueryException) as e:
        q.awaitTermination()
    assert e.value.getErrorClass() == "STREAM_FAILED"
    assert e.value.__cause__.getErrorClass() == "PYTHON_STREAMING_DATA_SOURCE_RUNTIME_ERROR"
    assert "sink write failed" in str(e.value)
    assert SEEN["aborted"] == [0]
    assert not os.path.exists(str(tmp_path / "c" / "commits" / "0"))


def test_source_commit_lags_one_batch(spark, tmp_path):
    q = spark.readStream.format("counter").load().writeStream.format("noop") \
        .option("checkpointLocation", str(tmp_path / "c")).trigger(availableNow=True).start()
    q.awaitTermination()
    assert SEEN["commits"] == [10, 20]  # batch 2's end is committed by the next run's first batch


def test_two_runs_on_one_checkpoint_refused(spark, tmp_path):
    ck = str(tmp_path / "c")
    TOTAL["n"] = 10
    q = spark.readStream.format("counter").load().writeStream.format("noop").option("checkpointLocation", ck).start()
    try:
        with pytest.raises(AnalysisException) as e:
            spark.readStream.format("counter").load().writeStream.format("noop") \
                .option("checkpointLocation", ck).start()
        assert e.value.getErrorClass() == "CONCURRENT_QUERY"
    finally:
        q.stop()


def test_memory_console_foreach_and_listener(spark, capsys):
    events = []

    class L(StreamingQueryListener):
        def onQueryStarted(self, e):
            events.append("started")

        def onQueryProgress(self, e):
            events.append(("progress", e.progress["batchId"]))

        def onQueryTerminated(self, e):
            events.append("terminated")

    spark.streams.addListener(L())
    TOTAL["n"] = 12
    q = spark.readStream.format("counter").load().writeStream.format("console").trigger(availableNow=True).start()
    q.awaitTermination()
    out = capsys.readouterr().out
    assert "-------------------------------------------\nBatch: 0\n-------------------------------------------\n" in out
    assert "Batch: 1" in out
    assert events == ["started", ("progress", 0), ("progress", 1), "terminated"]
    rows = []

    class W:
        def open(self, pid, epoch):
            return True

        def process(self, row):
            rows.append(tuple(row))

        def close(self, err):
            rows.append("closed")

    spark.readStream.format("counter").load().writeStream.foreach(W()).trigger(availableNow=True).start() \
        .awaitTermination()
    assert rows.count("closed") == 2 and sorted(r for r in rows if r != "closed") == [(i, i * 10) for i in range(12)]


def test_source_without_stream_reader_refused(spark):
    q = spark.readStream.format("nostream").load().writeStream.format("noop").start()
    with pytest.raises(StreamingQueryException) as e:
        q.awaitTermination()
    assert "streamReader" in str(e.value) or "simpleStreamReader" in str(e.value)


def test_process_mode_partitions_on_workers(tmp_path):
    SEEN.clear()
    TOTAL["n"] = 25
    s = headwater.session(**{"headwater.executor.mode": "process", "headwater.executor.workers": "2"})
    s.dataSource.register(Counter)
    got, q = batches_of(s, s.readStream.format("counter").load())
    assert got[2] == [(i, i * 10) for i in range(20, 25)]
    assert q._sources[0].plan.last_run == {"partitions": 2, "mode": "process", "why": q._sources[0].plan.last_run["why"]}


def test_pyspark_data_sources_fake_stream_unchanged(spark):
    """pyspark-data-sources' ``fake`` stream (the 4.0/4.1 ``latestOffset()`` signature), as shipped."""
    from pyspark_datasources.fake import FakeDataSource

    spark.dataSource.register(FakeDataSource)
    q = spark.readStream.format("fake").option("numRows", 5).load().writeStream.format("memory") \
        .queryName("fake_rows").trigger(availableNow=True).start()
    q.awaitTermination()
    rows = spark.sql("SELECT * FROM fake_rows").collect()
    assert len(rows) == 5 and rows[0].__fields__ == ["name", "date", "zipcode", "state"]
    assert all(isinstance(v, str) and v for r in rows for v in r)
    assert q.lastProgress["sources"][0]["endOffset"] == '{"offset": 5}'


def test_arrow_stream_writer_and_foreach_batch_write(spark, tmp_path):
    from headwater.datasource import DataSourceStreamArrowWriter

    class ArrowSum(DataSourceStreamArrowWriter):
        def write(self, iterator):
            batches = list(iterator)
            assert all(type(b).__name__ == "RecordBatch" for b in batches)
            return Msg([sum(b.column(1).to_pylist()) for b in batches])

        def commit(self, messages, batchId):
            SEEN.setdefault("sums", {})[batchId] = sum(s for m in messages for s in m.rows)

    class ArrowSink(DataSource):
        @classmethod
        def name(cls):
            return "arrowsink"

        def streamWriter(self, schema, overwrite):
            return ArrowSum()

    spark.dataSource.register(ArrowSink)
    TOTAL["n"] = 15
    spark.readStream.format("counter").load().writeStream.format("arrowsink").trigger(availableNow=True).start() \
        .awaitTermination()
    assert SEEN["sums"] == {0: sum(i * 10 for i in range(10)), 1: sum(i * 10 for i in range(10, 15))}

    out = str(tmp_path / "pq")
    spark.readStream.format("counter").load().writeStream \
        .foreachBatch(lambda df, i: df.withColumn("batch", df.id * 0 + i).write.mode("append").parquet(out)) \
        .trigger(availableNow=True).start().awaitTermination()
    back = sorted(tuple(r) for r in spark.read.parquet(out).collect())
    assert back == sorted((i, i * 10, 0 if i < 10 else 1) for i in range(15))


def test_idle_events_throttled_as_spark(spark):
    """Spark's ProgressReporter: the first idle check of a run posts onQueryIdle at once, then at
    most one per spark.sql.streaming.noDataProgressEventInterval, counted from the last idle event
    or the last batch run."""
    events = []

    class L(StreamingQueryListener):
        def onQueryProgress(self, e):
            events.append("progress")

        def onQueryIdle(self, e):
            events.append("idle")

    spark.streams.addListener(L())
    spark.conf.set("spark.sql.streaming.noDataProgressEventInterval", "1h")  # Spark's time syntax, as 3600000 (ms)
    TOTAL["n"] = 0
    q = spark.readStream.format("counter").load().writeStream.format("noop").start()
    q.processAllAvailable()
    q.processAllAvailable()  # many empty polls in between: still one idle event
    TOTAL["n"] = 5
    q.processAllAvailable()
    q.processAllAvailable()  # idle again after a batch: throttled from the batch's run
    q.stop()
    assert events == ["idle", "progress"]
    events.clear()
    spark.conf.set("spark.sql.streaming.noDataProgressEventInterval", "0")
    TOTAL["n"] = 0
    q = spark.readStream.format("counter").load().writeStream.format("noop").start()
    q.processAllAvailable()
    q.processAllAvailable()
    q.stop()
    assert events.count("idle") >= 2 and "progress" not in events


def test_session_stop_stops_active_queries(tmp_path):
    s = headwater.session(**{"headwater.executor.mode": "thread"})
    s.dataSource.register(Counter)
    TOTAL["n"] = 5
    q = s.readStream.format("counter").load().writeStream.format("noop") \
        .option("checkpointLocation", str(tmp_path / "c")).start()
    q.processAllAvailable()
    s.stop()
    assert not q.isActive and s.streams.active == [] and q.exception() is None
    # the checkpoint's lock went with the query: a new run resumes it
    s2 = headwater.session(**{"headwater.executor.mode": "thread"})
    s2.dataSource.register(Counter)
    q2 = s2.readStream.format("counter").load().writeStream.format("noop") \
        .option("checkpointLocation", str(tmp_path / "c")).trigger(availableNow=True).start()
    q2.awaitTermination()
    assert q2.id == q.id and q2.recentProgress == []


def test_a_failed_background_commit_fails_the_query(spark, tmp_path):
    """commits/N is written by a thread while the next batch is planned; its failure (here: another
    run wrote commits/1 first) still ends the query, with the checkpoint's error as the cause."""
    ck = tmp_path / "c"
    (ck / "commits").mkdir(parents=True)
    (ck / "commits" / "1").write_text("v1\n{}")
    TOTAL["n"] = 25
    q = spark.readStream.format("counter").load().writeStream.format("noop") \
        .option("checkpointLocation", str(ck)).trigger(availableNow=True).start()
    with pytest.raises(StreamingQueryException) as e:
        q.awaitTermination()
    assert e.value.__cause__.getErrorClass() == "CONCURRENT_QUERY"
    assert "commits/1 exists already" in str(e.value)
    assert sorted(os.listdir(ck / "commits")) == ["0", "1"] and (ck / "commits" / "1").read_text() == "v1\n{}"
