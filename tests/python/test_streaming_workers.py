"""Streaming in process mode (issue 14): a Python stream sink's ``write`` runs on the worker
processes with the partition's read (commit/abort on the host), the reader is pickled once per
query, and the converter builds only the columns a stream's transformations read."""

from __future__ import annotations

import os

import pytest

import headwater
from headwater.datasource import (
    DataSource,
    DataSourceStreamArrowWriter,
    DataSourceStreamReader,
    DataSourceStreamWriter,
    InputPartition,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
    WriterCommitMessage,
)
from headwater.streaming import StreamingQueryException

HOST = os.getpid()
LOG: dict = {}


class Reader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Rows (i, 2i, 'r<i>') for i < 30, ten per batch, in two partitions."""

    def __init__(self, options):
        self.options = dict(options)

    def __getstate__(self):
        LOG["reader_pickles"] = LOG.get("reader_pickles", 0) + 1  # counted where it is pickled: the host
        return self.__dict__

    def initialOffset(self):
        return {"offset": 0}

    def getDefaultReadLimit(self):
        return ReadMaxRows(10)

    def prepareForTriggerAvailableNow(self):
        pass

    def latestOffset(self, start, limit):
        return {"offset": min(start["offset"] + limit.max_rows, 30)}

    def partitions(self, start, end):
        a, b = start["offset"], end["offset"]
        return [InputPartition((a, (a + b) // 2)), InputPartition(((a + b) // 2, b))]

    def read(self, partition):
        a, b = partition.value
        for i in range(a, b):
            if self.options.get("fail") == "read" and i == 15:
                raise ValueError("read failed at 15")
            # 'bad' is not an INT: converting that column fails, so a read that prunes it succeeds
            yield (i, 2 * i, f"r{i}")


class Done(WriterCommitMessage):
    def __init__(self, rows, pid):
        self.rows, self.pid = rows, pid


class Writer(DataSourceStreamWriter):
    def __init__(self, options):
        self.fail = options.get("fail")

    def write(self, iterator):
        rows = [tuple(r) for r in iterator]
        if self.fail == "write" and any(r[0] == 15 for r in rows):
            raise RuntimeError("write failed at 15")
        return Done(rows, os.getpid())

    def commit(self, messages, batchId):
        LOG.setdefault("commits", {})[batchId] = (sorted(r for m in messages for r in m.rows),
                                                  sorted({m.pid for m in messages}), os.getpid())

    def abort(self, messages, batchId):
        LOG.setdefault("aborts", []).append((batchId, [m is None for m in messages]))


class ArrowWriter(DataSourceStreamArrowWriter):
    def write(self, iterator):
        return Done([tuple(r.values()) for b in iterator for r in b.to_pylist()], os.getpid())

    def commit(self, messages, batchId):
        Writer.commit(self, messages, batchId)


class Source(DataSource):
    @classmethod
    def name(cls):
        return "wsrc"

    def schema(self):
        return self.options.get("schema", "i BIGINT, j BIGINT, s STRING")

    def streamReader(self, schema):
        return Reader(self.options)

    def streamWriter(self, schema, overwrite):
        return ArrowWriter() if self.options.get("arrow") else Writer(self.options)


@pytest.fixture
def spark():
    LOG.clear()
    s = headwater.session(**{"headwater.executor.mode": "process", "headwater.executor.workers": "2"})
    s.dataSource.register(Source)
    yield s
    for q in s.streams.active:
        q.stop()


def start(df, tmp_path, **options):
    w = df.writeStream.format("wsrc").option("checkpointLocation", str(tmp_path / "ck"))
    for k, v in options.items():
        w = w.option(k, v)
    return w.trigger(availableNow=True).start()


@pytest.mark.parametrize("arrow", [False, True])
def test_write_runs_on_workers_commit_on_host(spark, tmp_path, arrow):
    q = start(spark.readStream.format("wsrc").load(), tmp_path, **({"arrow": "1"} if arrow else {}))
    q.awaitTermination()
    commits = LOG["commits"]
    assert sorted(commits) == [0, 1, 2]
    for b in range(3):
        rows, pids, committer = commits[b]
        assert rows == [(i, 2 * i, f"r{i}") for i in range(10 * b, 10 * b + 10)]
        assert HOST not in pids and len(pids) >= 1  # write() ran in worker processes
        assert committer == HOST  # commit() on the host
    assert [p["numInputRows"] for p in q.recentProgress] == [10, 10, 10]
    assert [p["sink"]["numOutputRows"] for p in q.recentProgress] == [10, 10, 10]
    assert sorted(os.listdir(tmp_path / "ck" / "commits")) == ["0", "1", "2"]


def test_reader_pickled_once_per_query(spark, tmp_path):
    start(spark.readStream.format("wsrc").load(), tmp_path).awaitTermination()
    assert len(LOG["commits"]) == 3
    assert LOG["reader_pickles"] == 1
    LOG["reader_pickles"] = 0  # the same through the scan, when the sink is not a Python stream writer
    got = {}
    spark.readStream.format("wsrc").load().writeStream.foreachBatch(
        lambda df, i: got.__setitem__(i, df.count())).trigger(availableNow=True).start().awaitTermination()
    assert got == {0: 10, 1: 10, 2: 10} and LOG["reader_pickles"] == 1


def test_write_failure_on_a_worker_aborts_the_batch(spark, tmp_path):
    q = start(spark.readStream.format("wsrc").load(), tmp_path, fail="write")
    with pytest.raises(StreamingQueryException) as e:
        q.awaitTermination()
    assert e.value.getErrorClass() == "STREAM_FAILED"
    assert e.value.__cause__.getErrorClass() == "PYTHON_STREAMING_DATA_SOURCE_RUNTIME_ERROR"
    assert "write failed at 15" in str(e.value)
    assert sorted(LOG["commits"]) == [0]
    assert LOG["aborts"] == [(1, [False, True])]  # the failed partition's slot is None
    assert sorted(os.listdir(tmp_path / "ck" / "commits")) == ["0"]


def test_read_failure_on_a_worker_is_the_source_error(spark, tmp_path):
    q = start(spark.readStream.format("wsrc").option("fail", "read").load(), tmp_path)
    with pytest.raises(StreamingQueryException) as e:
        q.awaitTermination()
    assert "read failed at 15" in str(e.value)
    assert LOG["aborts"][0][0] == 1 and sorted(LOG["commits"]) == [0]


def test_columns_pruned_into_the_converter(spark):
    # 's' is declared INT but read() yields strings: only a scan that leaves it out succeeds
    df = spark.readStream.format("wsrc").option("schema", "i BIGINT, j BIGINT, s INT").load()
    got = {}
    q = df.filter("i % 2 = 0").select("j").writeStream.foreachBatch(
        lambda b, i: got.__setitem__(i, sorted(r.j for r in b.collect()))).trigger(availableNow=True).start()
    q.awaitTermination()
    assert got == {b: [2 * i for i in range(10 * b, 10 * b + 10) if i % 2 == 0] for b in range(3)}
    q = df.withColumn("k", df["i"] + 1).writeStream.foreachBatch(lambda b, i: b.collect()) \
        .trigger(availableNow=True).start()
    with pytest.raises(StreamingQueryException):  # every column is output: 's' is converted and fails
        q.awaitTermination()


class LockedReader(Reader):
    def __init__(self, options):
        super().__init__(options)
        import threading

        self.lock = threading.Lock()  # does not pickle


class LockedSource(Source):
    @classmethod
    def name(cls):
        return "wlocked"

    def streamReader(self, schema):
        return LockedReader(self.options)


def test_a_reader_that_does_not_pickle(spark, tmp_path):
    spark.dataSource.register(LockedSource)
    q = start(spark.readStream.format("wlocked").load(), tmp_path)  # process mode asked for: an error naming it
    with pytest.raises(StreamingQueryException) as e:
        q.awaitTermination()
    assert "attribute 'lock'" in str(e.value) and e.value.__cause__.getErrorClass() == "PYTHON_DATA_SOURCE_ERROR"
    auto = headwater.session(**{"headwater.executor.mode": "auto", "headwater.executor.workers": "2"})
    auto.dataSource.register(LockedSource)
    auto.dataSource.register(Source)
    LOG.clear()
    with pytest.warns(UserWarning, match="attribute 'lock'"):  # auto: read on threads, written on the host
        q = auto.readStream.format("wlocked").load().writeStream.format("wsrc") \
            .option("checkpointLocation", str(tmp_path / "ck2")).trigger(availableNow=True).start()
        q.awaitTermination()
    assert [LOG["commits"][b][0] for b in range(3)] == [[(i, 2 * i, f"r{i}") for i in range(10 * b, 10 * b + 10)]
                                                        for b in range(3)]
    assert all(LOG["commits"][b][1] == [HOST] for b in range(3))
