"""Issue 12 (Hardening), findings 5, 7 and 12: concurrent queries on one session share its worker
pool (and its lazy start does not race), held batches share shared-memory mappings, and workers are
recycled after a number of tasks or above an RSS limit."""

import os
import sys
import threading
import time

import pyarrow as pa
import pytest

import headwater
from headwater.datasource import DataSource, DataSourceReader, InputPartition

import wsources
from procs import children as _live_children


_OTHERS: set = set()  # children that other test modules left running (their sessions' pools)


@pytest.fixture(scope="module", autouse=True)
def _others():
    _OTHERS.update(_live_children(zombies=True))


def children():
    """Process ids whose parent is this process, but for those running before this module began."""
    return [p for p in _live_children(zombies=True) if p not in _OTHERS]


def batch_mappings():
    with open("/proc/self/maps") as f:
        return sum("headwater-batch" in line for line in f)


def private_rss(pid):
    with open(f"/proc/{pid}/statm") as f:
        _, resident, shared = map(int, f.read().split()[:3])
    return (resident - shared) * os.sysconf("SC_PAGE_SIZE")


class CountReader(DataSourceReader):
    def __init__(self, parts, rows):
        self.parts, self.rows = parts, rows

    def partitions(self):
        return [InputPartition(i) for i in range(self.parts)]

    def read(self, p):
        for i in range(self.rows):
            yield (p.value * self.rows + i,)


class CountSource(DataSource):
    @classmethod
    def name(cls):
        return "hwcount"

    def schema(self):
        return "i BIGINT"

    def reader(self, schema):
        return CountReader(int(self.options.get("parts", 4)), int(self.options.get("rows", 20000)))


class TinyReader(DataSourceReader):
    """One row per partition: one batch per partition."""

    def __init__(self, parts):
        self.parts = parts

    def partitions(self):
        return [InputPartition(i) for i in range(self.parts)]

    def read(self, p):
        yield (p.value, "x")


class TinySource(DataSource):
    @classmethod
    def name(cls):
        return "hwtiny"

    def schema(self):
        return "i INT, s STRING"

    def reader(self, schema):
        return TinyReader(int(self.options.get("parts", 10)))


class LeakReader(DataSourceReader):
    """Keeps `mb` MB per partition in a module every query's reader shares (sys): a leak that only
    ends with the worker process. Yields the worker's pid."""

    def __init__(self, parts, mb):
        self.parts, self.mb = parts, mb

    def partitions(self):
        return [InputPartition(i) for i in range(self.parts)]

    def read(self, p):
        import os as _os
        import sys as _sys

        _sys.__dict__.setdefault("_hw_test_leak", []).append(bytearray(self.mb << 20))  # touched: zero-filled
        yield (p.value, _os.getpid())


class LeakSource(DataSource):
    @classmethod
    def name(cls):
        return "hwleak"

    def schema(self):
        return "i INT, pid INT"

    def reader(self, schema):
        return LeakReader(int(self.options.get("parts", 4)), int(self.options.get("mb", 20)))


@pytest.fixture
def spark():
    s = headwater.SparkSession.builder.create()
    s.conf.set("headwater.executor.workers", 2)
    s.conf.set("headwater.executor.mode", "process")
    for src in (CountSource, TinySource, LeakSource, wsources.WSource):
        s.dataSource.register(src)
    yield s
    s.stop()
    assert children() == []  # every worker (recycled ones too) stopped and reaped


def run_threads(fn, n):
    out, barrier = {}, threading.Barrier(n)

    def one(k):
        barrier.wait()
        try:
            out[k] = fn(k)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion
            out[k] = e

    ts = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    [t.start() for t in ts]
    [t.join(timeout=300) for t in ts]
    assert not any(t.is_alive() for t in ts), "a query hung"
    return out


# ---------------------------------------------------------------- finding 5: concurrency


@pytest.mark.parametrize("mode", ["inline", "thread", "process"])
@pytest.mark.parametrize("n_threads", [2, 4])
def test_concurrent_queries_on_one_session(spark, mode, n_threads):
    spark.conf.set("headwater.executor.mode", mode)
    spark.read.format("hwcount").load().count()  # the pool (if any) is up

    def query(k):
        df = spark.read.format("hwcount").option("parts", 3 + k).option("rows", 5000).load()
        return df.count() if k % 2 else df.toArrow().num_rows

    out = run_threads(query, n_threads)
    assert out == {k: (3 + k) * 5000 for k in range(n_threads)}
    if mode == "process":
        assert len(spark._pool.pids) == 2 and len(children()) == 2


def test_concurrent_ordered_queries_under_a_limit(spark):
    """Ordered scans with bounded queues (a limit) wait for their lowest partition: each proxy claims
    a worker before its partition, so that partition always has one, whatever else runs."""
    spark.conf.set("headwater.executor.queueDepth", 1)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", 1000)

    def query(k):
        df = spark.read.format("hwcount").option("parts", 8).option("rows", 20000).load()
        return df.count() if k == 2 else df.limit(150000).toArrow().num_rows

    assert run_threads(query, 3) == {0: 150000, 1: 150000, 2: 160000}


def test_concurrent_streams_interleave_on_the_shared_workers(spark):
    """Two open streams consumed alternately: both make progress on the same two workers."""
    spark.conf.set("headwater.executor.queueDepth", 1)
    a = pa.RecordBatchReader.from_stream(spark.read.format("hwcount").option("parts", 6).load())
    b = pa.RecordBatchReader.from_stream(spark.read.format("hwcount").option("parts", 6).load())
    rows = {"a": 0, "b": 0}
    done = set()
    while len(done) < 2:
        for name, r in (("a", a), ("b", b)):
            if name in done:
                continue
            try:
                rows[name] += r.read_next_batch().num_rows
            except StopIteration:
                done.add(name)
    assert rows == {"a": 120000, "b": 120000}
    a.close()
    b.close()


def test_first_queries_race_the_pool_start(spark):
    """Four first queries at once start one pool: no worker processes left behind."""
    out = run_threads(lambda k: spark.read.format("hwcount").load().toArrow().num_rows, 4)
    assert out == {k: 80000 for k in range(4)}
    assert len(children()) == 2 and sorted(children()) == sorted(spark._pool.pids)


@pytest.mark.parametrize("n_threads", [2, 3])
def test_reads_and_writes_run_concurrently(spark, tmp_path, n_threads):
    def query(k):
        if k == 0:
            return spark.read.format("hwcount").option("parts", 6).load().count()
        path = tmp_path / f"w{k}"
        path.mkdir()
        df = spark.createDataFrame([(i,) for i in range(1, 9)], "id INT").repartition(4)
        df.write.format("wtest").mode("append").save(str(path))
        return len(os.listdir(path))

    out = run_threads(query, n_threads)
    assert out[0] == 120000
    assert all(out[k] == 4 for k in range(1, n_threads)), out  # one part file per write task
    assert len(children()) == 2


def test_two_sessions_query_concurrently():
    sessions = [headwater.SparkSession.builder.create() for _ in range(2)]
    try:
        for s in sessions:
            s.conf.set("headwater.executor.mode", "process")
            s.conf.set("headwater.executor.workers", 2)
            s.dataSource.register(CountSource)
        out = run_threads(lambda k: sessions[k % 2].read.format("hwcount").load().count(), 4)
        assert out == {k: 80000 for k in range(4)}
        assert len(children()) == 4  # two pools of two
    finally:
        for s in sessions:
            s.stop()
    assert children() == []


def test_an_abandoned_query_does_not_keep_the_workers(spark):
    """A stream closed half-read hands its workers back: the next queries run."""
    r = pa.RecordBatchReader.from_stream(spark.read.format("hwcount").option("parts", 8).option("rows", 200000).load())
    r.read_next_batch()
    r.close()
    out = run_threads(lambda k: spark.read.format("hwcount").load().count(), 2)
    assert out == {0: 80000, 1: 80000}


def test_a_query_behind_an_unread_stream_fails_instead_of_hanging(spark):
    """An open stream nobody reads holds the workers whose tasks used up their credits; a query run
    in the same thread (it cannot read both) gets HW_POOL_BUSY after a while instead of a hang, and
    the stream still reads afterwards."""
    spark.conf.set("headwater.executor.queueDepth", 1)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", 1000)
    r = pa.RecordBatchReader.from_stream(spark.read.format("hwcount").option("parts", 4).load())
    first = r.read_next_batch()  # the stream runs: its tasks hold both workers once their credits are out
    time.sleep(2)  # (a loaded machine may take a while to start the second one)
    with pytest.raises(headwater.errors.HeadwaterException) as ei:
        spark.read.format("hwcount").option("parts", 2).load().count()
    assert ei.value.getErrorClass() == "HW_POOL_BUSY" and "not being read" in str(ei.value)
    assert first.num_rows + r.read_all().num_rows == 80000
    assert spark.read.format("hwcount").option("parts", 2).load().count() == 40000


# ---------------------------------------------------------------- finding 7: mappings


def test_100k_held_batches_share_a_bounded_number_of_mappings(spark):
    """One batch per partition, all held: they used to take one mapping each (vm.max_map_count,
    65530, ran out after ~32k); now batches are packed into a few regions per worker."""
    before = batch_mappings()
    reader = pa.RecordBatchReader.from_stream(spark.read.format("hwtiny").option("parts", 100_000).load())
    held = list(reader)
    mapped = batch_mappings() - before
    assert len(held) == 100_000 and sum(b.num_rows for b in held) == 100_000
    assert sorted(b.column(0)[0].as_py() for b in held) == list(range(100_000))
    assert mapped < 5000, mapped  # ~1.6k at 8 MB per region; was 100k
    with open("/proc/self/maps") as f:
        assert sum(1 for _ in f) < 20000
    del held, reader
    # the regions come back to the workers: the next query maps nothing new
    after_release = batch_mappings()
    assert spark.read.format("hwtiny").option("parts", 1000).load().count() == 1000
    assert batch_mappings() <= after_release


def test_100k_partitions_to_arrow(spark):
    t = spark.read.format("hwtiny").option("parts", 100_000).load().toArrow()
    assert t.num_rows == 100_000 and sorted(t.column(0).to_pylist()) == list(range(100_000))


def test_released_batches_hand_their_region_back_under_backpressure(spark):
    """A streaming consumer that drops each batch: the workers keep reusing the same few regions."""
    spark.conf.set("headwater.executor.queueDepth", 2)
    before = batch_mappings()
    n = 0
    for b in pa.RecordBatchReader.from_stream(spark.read.format("hwcount").option("parts", 40).load()):
        n += b.num_rows
    assert n == 40 * 20000
    assert batch_mappings() - before <= 8


# ---------------------------------------------------------------- finding 12: recycling


def leak_pids(spark, parts=4, mb=20):
    t = spark.read.format("hwleak").option("parts", parts).option("mb", mb).load().toArrow()
    assert sorted(t.column(0).to_pylist()) == list(range(parts))
    return set(t.column(1).to_pylist())


def test_without_limits_workers_are_reused(spark):
    first = leak_pids(spark)
    assert leak_pids(spark) <= set(spark._pool.pids) and first == set(spark._pool.pids)
    assert spark._pool.recycled == 0


def test_a_worker_is_recycled_after_max_tasks(spark):
    spark.conf.set("headwater.executor.worker.maxTasks", 2)
    seen, counts = set(), []
    for _ in range(4):
        seen |= leak_pids(spark, parts=4, mb=20)
        pids = spark._pool.pids
        counts.append(len(children()))
        assert all(private_rss(p) < 200 << 20 for p in pids)  # never more than 2 tasks' leak
    assert len(seen) > 2  # the pids changed
    assert spark._pool.recycled >= 2
    assert counts == [2, 2, 2, 2]  # replaced, not added


def test_a_worker_is_recycled_above_max_rss(spark):
    spark.conf.set("headwater.executor.worker.maxRssBytes", "150m")
    seen = set()
    for _ in range(5):
        seen |= leak_pids(spark, parts=4, mb=40)
        for p in spark._pool.pids:
            assert private_rss(p) < (150 + 80) << 20  # the limit plus one task's leak, checked after each task
    assert len(seen) > 2
    assert spark._pool.recycled >= 2
    assert len(children()) == 2


def test_write_tasks_recycle_too(spark, tmp_path):
    spark.conf.set("headwater.executor.worker.maxTasks", 1)
    df = spark.createDataFrame([(i,) for i in range(1, 7)], "id INT").repartition(6)
    df.write.format("wtest").mode("append").save(str(tmp_path))
    pids = {int(name.split("-")[1]) for name in os.listdir(tmp_path)}
    assert len(pids) == 6  # each task on a fresh worker
    assert spark._pool.recycled >= 6 and len(children()) == 2


def test_recycling_during_concurrent_queries(spark):
    spark.conf.set("headwater.executor.worker.maxTasks", 3)
    out = run_threads(lambda k: spark.read.format("hwcount").option("parts", 9).option("rows", 3000).load().count(), 3)
    assert out == {k: 27000 for k in range(3)}
    assert spark._pool.recycled >= 4 and len(children()) == 2


@pytest.mark.parametrize("text, expected", [("0", 0), ("1048576", 1 << 20), ("512m", 512 << 20), ("2g", 2 << 30),
                                            ("1.5g", 3 << 29), ("64kb", 64 << 10)])
def test_rss_limit_sizes(text, expected):
    from headwater.config import _byte_size

    assert _byte_size(text) == expected
