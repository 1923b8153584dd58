"""The process executor: worker processes, shared-memory batches, failures, and that nothing leaks
(processes, file descriptors, shared-memory mappings)."""

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal

import pyarrow as pa
import pytest

import headwater
from headwater import AnalysisException, PythonException
from headwater.datasource import DataSource, DataSourceReader, InputPartition
from headwater.types import Row

SCHEMA = "id BIGINT, name STRING, score DOUBLE, at TIMESTAMP_NTZ, tags ARRAY<STRING>, price DECIMAL(9,2)"


class Mixed(DataSourceReader):
    """Uneven partitions (some empty), every kind of value; partition 3 yields RecordBatches."""

    def __init__(self, n=12):
        self.n = n

    def partitions(self):
        return [InputPartition(i) for i in range(self.n)]

    def read(self, partition):
        p = partition.value
        if p == 3:
            yield pa.record_batch(
                {
                    "id": pa.array([300, 301], pa.int64()),
                    "name": ["b0", None],
                    "score": [0.5, 1.5],
                    "at": pa.array([dt.datetime(2020, 1, 1), None], pa.timestamp("us")),
                    "tags": pa.array([["x"], []], pa.list_(pa.string())),
                    "price": pa.array([Decimal("1.25"), None], pa.decimal128(9, 2)),
                }
            )
            return
        for i in range((p * 7) % 5 * 900):
            yield (
                p * 100_000 + i,
                None if i % 7 == 0 else f"n{p}-{i}",
                i / 3,
                dt.datetime(2024, 1, 1) + dt.timedelta(seconds=i),
                [str(i)] * (i % 3),
                Decimal(i) / 4,
            )


def source(reader_factory, schema=SCHEMA, name="proc"):
    class Src(DataSource):
        @classmethod
        def name(cls):
            return name

        def schema(self):
            return schema

        def reader(self, s):
            return reader_factory()

    return Src


@pytest.fixture
def spark():
    s = headwater.SparkSession.builder.create()
    s.conf.set("headwater.executor.workers", 2)
    yield s
    s.stop()


def run(spark, mode, src=None, action="collect"):
    spark.conf.set("headwater.executor.mode", mode)
    spark.dataSource.register(src or source(Mixed))
    df = spark.read.format("proc").load()
    return getattr(df, action)()


def alive(pid):
    """Running (a reaped process has no /proc entry; a zombie is not running)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def memfd_mappings():
    with open("/proc/self/maps") as f:
        return sum("headwater-batch" in line for line in f)


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_process_mode_gives_the_same_rows_as_inline(spark):
    inline = run(spark, "inline")
    process = run(spark, "process")
    assert len(inline) == sum((p * 7) % 5 * 900 for p in range(12) if p != 3) + 2
    assert process == inline  # partition order kept for collect()
    assert any(r.id == 301 and r.name is None for r in process)


def test_unordered_output_has_every_row(spark):
    spark.conf.set("headwater.executor.mode", "process")
    spark.dataSource.register(source(Mixed))
    df = spark.read.format("proc").load()
    streamed = pa.RecordBatchReader.from_stream(df).read_all()
    assert sorted(streamed.column("id").to_pylist()) == sorted(r.id for r in df.collect())
    assert df.count() == streamed.num_rows


def test_batches_are_shared_memory_not_copies(spark):
    table = run(spark, "process", action="toArrow")
    assert memfd_mappings() > 0  # the columns live in the workers' regions, mapped here
    del table


def test_workers_start_once_and_are_reused_and_sized_by_conf(spark):
    run(spark, "process")
    pids = spark._pool.pids
    assert len(pids) == 2
    run(spark, "process", action="count")
    assert spark._pool.pids == pids
    spark.conf.set("headwater.executor.workers", 3)
    run(spark, "process", action="count")
    assert len(spark._pool.pids) == 3
    assert not any(alive(p) for p in pids)  # the old pool was stopped and reaped


def test_session_stop_stops_and_reaps_workers(spark):
    run(spark, "process", action="count")
    pids = spark._pool.pids
    assert all(alive(p) for p in pids)
    spark.stop()
    assert not any(alive(p) for p in pids)
    assert not any(os.path.exists(f"/proc/{p}") for p in pids)  # reaped: no zombies


CHILD = textwrap.dedent(
    """
    import sys, time, headwater
    sys.path.insert(0, {tests!r})
    from test_process import source, Mixed
    spark = headwater.session()
    spark.conf.set("headwater.executor.mode", "process")
    spark.conf.set("headwater.executor.workers", 2)
    spark.dataSource.register(source(Mixed))
    print(spark.read.format("proc").load().count(), flush=True)
    print(" ".join(map(str, spark._pool.pids)), flush=True)
    if {sleep}:
        time.sleep(60)
    """
)


def child(sleep):
    code = CHILD.format(tests=os.path.dirname(__file__), sleep=sleep)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    count = int(proc.stdout.readline())
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert count > 0 and len(pids) == 2 and all(alive(p) for p in pids)
    return proc, pids


def wait_gone(pids, seconds=3.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return not any(alive(p) for p in pids)


def test_workers_stop_at_interpreter_exit():
    proc, pids = child(sleep=False)
    assert proc.wait(timeout=30) == 0
    assert wait_gone(pids)


def test_workers_stop_when_the_host_is_killed():
    proc, pids = child(sleep=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert wait_gone(pids)  # each worker's watchdog sees its parent gone


class Unpicklable(DataSourceReader):
    def __init__(self):
        import threading

        self.lock = threading.Lock()

    def partitions(self):
        return [InputPartition(0), InputPartition(1)]

    def read(self, partition):
        yield (partition.value,)


def test_unpicklable_reader_names_the_attribute(spark):
    with pytest.raises(AnalysisException, match=r"attribute 'lock'"):
        run(spark, "process", source(Unpicklable, "a INT"))


def test_auto_falls_back_to_threads_with_a_warning(spark):
    with pytest.warns(UserWarning, match="attribute 'lock'.*threads"):
        rows = run(spark, "auto", source(Unpicklable, "a INT"))
    assert rows == [Row(a=0), Row(a=1)]


class Failing(DataSourceReader):
    def __init__(self, how):
        self.how = how

    def partitions(self):
        return [InputPartition(i) for i in range(4)]

    def read(self, partition):
        yield (partition.value,)
        if partition.value == 2:
            if self.how == "raise":
                raise ValueError("broken partition two")
            if self.how == "exit":
                os._exit(3)
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if self.how == "segfault":
                import ctypes

                ctypes.string_at(0)
        yield (partition.value + 10,)


def test_exception_in_read_carries_the_workers_traceback(spark):
    with pytest.raises(PythonException) as info:
        run(spark, "process", source(lambda: Failing("raise"), "a INT"))
    e = info.value
    assert e.partition == 2
    assert "ValueError: broken partition two" in str(e)
    assert "in read" in str(e) and "in a worker process" in str(e)


@pytest.mark.parametrize(
    "how,death",
    [
        ("exit", "exited with code 3"),
        ("kill", "killed by signal 9"),
        # under AddressSanitizer (make sanitize) the sanitizer turns a segfault into an abort
        ("segfault", "killed by signal 6" if "asan" in os.environ.get("LD_PRELOAD", "") else "killed by signal 11"),
    ],
)
def test_a_dying_worker_fails_the_query_and_is_replaced(spark, how, death):
    spark.conf.set("headwater.executor.mode", "process")
    spark.dataSource.register(source(Mixed))
    spark.read.format("proc").load().count()  # start the pool
    fds, maps = open_fds(), memfd_mappings()
    assert maps > 0
    pids = spark._pool.pids
    with pytest.raises(PythonException) as info:
        run(spark, "process", source(lambda: Failing(how), "a INT"))
    assert info.value.getErrorClass() == "PYTHON_WORKER_CRASHED"
    assert "partition 2" in str(info.value) and death in str(info.value)
    new_pids = spark._pool.pids
    assert len(new_pids) == 2 and new_pids != pids  # replaced
    assert sorted(r.a for r in run(spark, "process", source(lambda: Failing("none"), "a INT"))) == sorted(
        [0, 1, 2, 3, 10, 11, 12, 13]
    )
    assert open_fds() == fds  # the dead worker's socket closed, the new one's opened; regions keep no fd
    spark.stop()
    assert memfd_mappings() == 0  # every region unmapped once no batch and no worker holds it
    assert maps >= 0


def test_memory_stays_bounded_with_a_slow_consumer(spark):
    class Big(DataSourceReader):
        def partitions(self):
            return [InputPartition(i) for i in range(4)]

        def read(self, partition):
            for i in range(200_000):
                yield (i, "x" * 20)

    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", 5000)
    spark.conf.set("headwater.executor.mode", "process")
    spark.dataSource.register(source(Big, "a BIGINT, s STRING"))
    reader = pa.RecordBatchReader.from_stream(spark.read.format("proc").load())
    peak = 0
    rows = 0
    for batch in reader:
        rows += batch.num_rows
        del batch
        peak = max(peak, memfd_mappings())
        time.sleep(0.001)
    assert rows == 800_000
    # regions per worker: the credits (2), the one being filled, and one whose release may trail
    # the credit that freed it; never a region per batch (160 batches here)
    assert peak <= 2 * (2 + 2)


def test_abandoned_stream_cancels_workers_and_the_pool_stays_usable(spark):
    class Endless(DataSourceReader):
        def partitions(self):
            return [InputPartition(i) for i in range(2)]

        def read(self, partition):
            i = 0
            while True:
                yield (i,)
                i += 1

    spark.conf.set("headwater.executor.mode", "process")
    spark.dataSource.register(source(Endless, "a BIGINT"))
    reader = pa.RecordBatchReader.from_stream(spark.read.format("proc").load())
    reader.read_next_batch()
    started = time.monotonic()
    reader.close()
    del reader
    assert time.monotonic() - started < 1.0
    assert run(spark, "process", source(Mixed), action="count") > 0


class DiesOnce(DataSourceReader):
    """Partition 1's worker dies the first time it reads it (a marker file remembers)."""

    def __init__(self, marker):
        self.marker = marker

    def partitions(self):
        return [InputPartition(i) for i in range(3)]

    def read(self, partition):
        yield (partition.value,)
        if partition.value == 1 and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(7)
        yield (partition.value + 10,)


def test_task_retries_rerun_a_partition_on_a_fresh_worker(spark, tmp_path):
    marker = str(tmp_path / "died")
    spark.conf.set("headwater.executor.taskRetries", 1)
    rows = run(spark, "process", source(lambda: DiesOnce(marker), "a INT"))
    assert os.path.exists(marker)  # the first attempt died
    assert rows == [Row(a=0), Row(a=10), Row(a=1), Row(a=11), Row(a=2), Row(a=12)]  # no row twice


def test_without_retries_the_dead_worker_fails_the_query(spark, tmp_path):
    marker = str(tmp_path / "died")
    with pytest.raises(PythonException, match="exited with code 7"):
        run(spark, "process", source(lambda: DiesOnce(marker), "a INT"))


INTERRUPTED = textwrap.dedent(
    """
    import signal, sys, time, headwater
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if our parent ignores SIGINT
    sys.path.insert(0, {tests!r})
    from test_process import source, Mixed, DataSourceReader, InputPartition

    class Endless(DataSourceReader):
        def partitions(self):
            return [InputPartition(i) for i in range(2)]

        def read(self, partition):
            while True:
                time.sleep(0.01)
                yield (1,)

    spark = headwater.session()
    spark.conf.set("headwater.executor.mode", "process")
    spark.conf.set("headwater.executor.workers", 2)
    spark.dataSource.register(source(Endless, "a INT", name="endless"))
    print("reading", flush=True)
    try:
        spark.read.format("endless").load().collect()
    except KeyboardInterrupt:
        started = time.monotonic()
    spark.dataSource.register(source(Mixed))
    n = spark.read.format("proc").load().count()
    print("after", n, round(time.monotonic() - started, 2), flush=True)
    """
)


def test_ctrl_c_stops_the_workers_tasks_and_the_pool_stays_usable():
    code = INTERRUPTED.format(tests=os.path.dirname(__file__))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "reading"
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    words = out.split()
    assert words[0] == "after" and int(words[1]) > 0  # the next query ran on the same pool
    assert float(words[2]) < 5.0
