"""Writes on worker processes (headwater.executor.mode = process, or auto with several partitions):
Spark's protocol with write tasks pickled to the session's workers, their commit messages pickled
back, commit/abort on the host's writer; failures, dying workers, Ctrl-C, and no leaks.

The writers (tests/python/wsources.py) run in the workers, so what they saw is read from the
part files they write into the save path; commit and abort run here and log to wsources.LOG."""

from __future__ import annotations

import glob
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import warnings

import pytest

import headwater
from headwater.datasource import DataSource, DataSourceReader, InputPartition
from headwater.errors import AnalysisException, PythonException

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import wsources  # noqa: E402
from procs import alive, children  # noqa: E402
from test_write import TYPES_SCHEMA, type_rows  # noqa: E402
from wsources import Msg  # noqa: E402


@pytest.fixture
def spark():
    s = headwater.SparkSession.builder.create()
    s.conf.set("headwater.executor.workers", 4)  # every task of four() starts at once
    s.conf.set("headwater.executor.mode", "process")
    s.dataSource.register(wsources.WSource)
    wsources.LOG.clear()
    yield s
    pids = s._pool.pids if s._pool is not None else []
    s.stop()
    assert not any(alive(p) for p in pids)  # every worker reaped


def calls(name):
    return [e[1:] for e in wsources.LOG if e[0] == name]


def four(spark):
    return spark.createDataFrame([(1,), (2,), (3,), (4,)], "id INT").repartition(4)


def written(path):
    """(pid, rows) of each part file the writers wrote, by the first row's id."""
    out = {}
    for f in glob.glob(os.path.join(path, "part-*")):
        pid = int(os.path.basename(f).split("-")[1])
        with open(f, "rb") as fh:
            rows = pickle.load(fh)
        out[rows[0][1][2][0] if rows else None] = (pid, rows)
    return out


def test_tasks_run_in_workers_and_messages_come_back_in_partition_order(spark, tmp_path):
    four(spark).write.format("wtest").mode("append").save(str(tmp_path))
    assert calls("commit") == [([Msg(1, 1), Msg(1, 2), Msg(1, 3), Msg(1, 4)],)]
    assert calls("abort") == []
    parts = written(str(tmp_path))
    assert sorted(parts) == [1, 2, 3, 4]
    pids = {pid for pid, _ in parts.values()}
    assert os.getpid() not in pids and pids <= set(spark._pool.pids)
    assert calls("write") == []  # write() ran only in the workers


def test_worker_state_is_not_visible_to_the_hosts_writer(spark, tmp_path):
    four(spark).write.format("wtest").mode("append").save(str(tmp_path))
    assert calls("state") == [(None,)]  # as in Spark: the planning-time writer never ran write()


def test_auto_mode_with_several_partitions_uses_workers(spark, tmp_path):
    spark.conf.set("headwater.executor.mode", "auto")
    four(spark).write.format("wtest").mode("append").save(str(tmp_path))
    assert os.getpid() not in {pid for pid, _ in written(str(tmp_path)).values()}
    spark.createDataFrame([(9,)], "id INT").write.format("wtest").mode("append").save()
    assert calls("write")[0][0] == 9  # one partition: auto writes on a thread of this process


def test_failed_write_aborts_with_none_slot_and_worker_traceback(spark):
    with pytest.raises(PythonException, match="boom from write") as ei:
        four(spark).write.format("wtest").mode("append").option("kind", "fail_write").save()
    assert ei.value.partition == 1
    text = str(ei.value)
    assert "in partition 1 (in a worker process)" in text and "wsources.py" in text and "ValueError" in text
    assert calls("abort") == [([Msg(1, 1), None, Msg(1, 3), Msg(1, 4)],)]
    assert calls("commit") == []


def test_error_in_abort_is_reported_alongside(spark):
    with pytest.raises(PythonException, match="boom from write") as ei:
        four(spark).write.format("wtest").mode("append").option("kind", "fail_write_abort").save()
    assert isinstance(ei.value.__context__, RuntimeError)
    assert any("boom from abort" in n for n in ei.value.__notes__)


def test_failed_commit_is_aborted_with_same_messages(spark):
    with pytest.raises(AnalysisException, match="Failed to commit or abort Python data source write") as ei:
        four(spark).write.format("wtest").mode("append").option("kind", "fail_commit").save()
    assert ei.value.getErrorClass() == "PYTHON_DATA_SOURCE_ERROR"
    assert calls("abort") == calls("commit") == [([Msg(1, 1), Msg(1, 2), Msg(1, 3), Msg(1, 4)],)]


def test_write_must_return_commit_message(spark):
    with pytest.raises(PythonException) as ei:
        four(spark).write.format("wtest").mode("append").option("kind", "bad_msg").save()
    assert ei.value.getErrorClass() == "DATA_SOURCE_TYPE_MISMATCH"
    assert "Expected 'WriterCommitMessage' as the return type of the `write` method, but got int." in str(ei.value)
    assert ei.value.partition == 0
    assert calls("abort") == [([None, None, None, None],)]


def test_arrow_writer_in_workers(spark):
    four(spark).write.format("wtest").mode("append").option("kind", "arrow").save()
    assert calls("commit") == [([Msg(1, None)] * 4,)]


def test_a_worker_killed_mid_write_fails_its_partition_and_aborts(spark):
    before = sorted(spark._worker_pool().pids)
    fds, kids = len(os.listdir("/proc/self/fd")), set(children())  # (other tests may hold processes too)
    with pytest.raises(PythonException) as ei:
        four(spark).write.format("wtest").mode("append").option("kind", "kill").save()
    assert ei.value.getErrorClass() == "PYTHON_WORKER_CRASHED"
    assert ei.value.partition == 1
    assert "partition 1: the worker process" in str(ei.value) and "killed by signal 9" in str(ei.value)
    assert calls("abort") == [([Msg(1, 1), None, Msg(1, 3), Msg(1, 4)],)]
    after = spark._pool.pids
    assert len(after) == 4 and len(set(after) - set(before)) == 1  # the dead one was replaced
    assert set(children()) ^ kids == set(after) ^ set(before)  # the only change: the dead worker replaced
    assert len(os.listdir("/proc/self/fd")) == fds  # the dead worker's socket closed, the new one open
    four(spark).write.format("wtest").mode("append").save()  # and the pool still works
    assert calls("commit")[-1] == ([Msg(1, 1), Msg(1, 2), Msg(1, 3), Msg(1, 4)],)


def test_rows_identical_in_thread_and_process_modes(spark, tmp_path):
    got = {}
    for mode in ("thread", "process"):
        spark.conf.set("headwater.executor.mode", mode)
        path = tmp_path / mode
        path.mkdir()
        spark.createDataFrame(type_rows(), TYPES_SCHEMA).repartition(3).write.format("wtest").mode("append").save(
            str(path))
        got[mode] = {k: rows for k, (_, rows) in written(str(path)).items()}
    assert sorted(got["thread"]) == [1, 2, 3]
    assert got["thread"] == got["process"]
    assert got["process"][1][0][1][2][6] is not None  # real values crossed (decimal of row 1)


class _Reader(DataSourceReader):
    def __init__(self, bad):
        self.bad = bad

    def partitions(self):
        return [InputPartition(i) for i in range(3)]

    def read(self, p):
        yield (p.value * 10,)
        if p.value == self.bad:
            raise KeyError("boom from read")
        yield (p.value * 10 + 1,)


class _Src(DataSource):
    @classmethod
    def name(cls):
        return "wprocsrc"

    def schema(self):
        return "id INT"

    def reader(self, schema):
        return _Reader(int(self.options.get("bad", "-1")))


def test_read_then_write_in_the_worker(spark, tmp_path):
    spark.dataSource.register(_Src)
    spark.read.format("wprocsrc").load().write.format("wtest").mode("append").save(str(tmp_path))
    parts = written(str(tmp_path))
    assert sorted(parts) == [0, 10, 20]
    assert os.getpid() not in {pid for pid, _ in parts.values()}
    assert sorted(m.first for m in calls("commit")[0][0]) == [0, 10, 20]


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_read_error_in_a_write_names_the_real_partition(spark, mode):
    spark.conf.set("headwater.executor.mode", mode)
    spark.dataSource.register(_Src)
    with pytest.raises(PythonException, match="boom from read") as ei:
        spark.read.format("wprocsrc").option("bad", 2).load().write.format("wtest").mode("append").save()
    assert ei.value.partition == 2
    assert "in partition 2" in str(ei.value)
    assert len(calls("abort")) == 1 and calls("abort")[0][0][2] is None


class _Unpicklable(wsources.RecordingWriter):
    def __init__(self, *a):
        super().__init__(*a)
        import threading

        self.lock = threading.Lock()


class _UnpicklableSource(wsources.WSource):
    @classmethod
    def name(cls):
        return "wunpick"

    def writer(self, schema, overwrite):
        return _Unpicklable(self.options, schema, overwrite)


def test_unpicklable_writer(spark):
    spark.dataSource.register(_UnpicklableSource)
    with pytest.raises(AnalysisException, match="the writer's attribute 'lock'"):
        four(spark).write.format("wunpick").mode("append").save()
    spark.conf.set("headwater.executor.mode", "auto")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        four(spark).write.format("wunpick").mode("append").save()
    assert any("Writing on threads instead" in str(x.message) for x in w)
    assert sorted(c[0] for c in calls("write")) == [1, 2, 3, 4]  # written here, on threads


INTERRUPTED = textwrap.dedent(
    """
    import signal, sys, headwater
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if our parent ignores SIGINT
    sys.path.insert(0, {tests!r})
    import wsources
    spark = headwater.session()
    spark.conf.set("headwater.executor.mode", "process")
    spark.conf.set("headwater.executor.workers", 2)
    spark.dataSource.register(wsources.WSource)
    df = spark.createDataFrame([(1,), (2,)], "id INT").repartition(2)
    spark._worker_pool()  # started before the Ctrl-C (a loaded machine may take over a second)
    print("writing", flush=True)
    try:
        df.write.format("wtest").mode("append").option("kind", {kind!r}).save()
    except KeyboardInterrupt:
        print("interrupted", [e[1] for e in wsources.LOG if e[0] == "abort"], flush=True)
    df.write.format("wtest").mode("append").save()
    print("after", wsources.LOG[-2], flush=True)
    """
)


@pytest.mark.parametrize("kind,signals", [("endless", 1), ("stubborn", 2), ("stubborn", 1)])
def test_ctrl_c_stops_the_write_aborts_and_the_pool_stays_usable(kind, signals):
    """One Ctrl-C cancels the tasks; a second one, or the grace period running out, kills workers
    whose code ignored the first."""
    import time

    code = INTERRUPTED.format(tests=HERE, kind=kind)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    try:
        for _ in range(signals):
            time.sleep(1.5)
            proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)  # a hang fails here
    finally:
        proc.kill()
        proc.wait()
    lines = out.splitlines()
    assert lines[0] == "interrupted [[None, None]]"
    assert lines[1] == "after ('commit', [Msg(1, 1), Msg(1, 2)])"
    assert proc.returncode == 0


def test_a_write_while_a_read_is_open_shares_the_workers(spark, tmp_path):
    """The workers are claimed per task: a write runs on them while a read of the same session is
    open (it used to be refused with HW_POOL_BUSY, or run on threads under auto)."""
    import pyarrow as pa

    spark.dataSource.register(_Src)
    reading = pa.RecordBatchReader.from_stream(spark.read.format("wprocsrc").load())
    try:
        four(spark).write.format("wtest").mode("append").save(str(tmp_path))
        parts = written(str(tmp_path))
        assert sorted(parts) == [1, 2, 3, 4]
        assert {pid for pid, _ in parts.values()} <= set(spark._pool.pids)  # in the worker processes
        assert sorted(reading.read_all().column(0).to_pylist()) == [0, 1, 10, 11, 20, 21]
    finally:
        reading.close()


def test_no_shared_memory_or_descriptors_left_in_the_host(spark, tmp_path):
    four(spark).write.format("wtest").mode("append").save()  # the pool starts
    fds, kids = len(os.listdir("/proc/self/fd")), children()

    def batch_mappings():  # regions earlier reads mapped stay cached for their workers' reuse
        with open("/proc/self/maps") as f:
            return sum("headwater-batch" in line for line in f)

    mapped = batch_mappings()
    for kind in ("ok", "fail_write", "arrow"):
        try:
            four(spark).write.format("wtest").mode("append").option("kind", kind).save()
        except PythonException:
            pass
    assert batch_mappings() <= mapped  # write tasks send back messages, never shared memory
    assert len(os.listdir("/proc/self/fd")) == fds
    assert children() == kids and set(spark._pool.pids) <= set(kids)
