"""The run report of writes (spark.lastRunReport() after save(), `headwater read ... --to --stats`):
per partition the write's counters, kept in C by the feed the writer's write() pulls from, and the
read that fed it; from worker processes they come back in the task's RESULT message."""

import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

import headwater
from headwater.errors import PythonException

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cli_sources  # noqa: E402
import report_sinks  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    s = headwater.SparkSession({"spark.sql.execution.arrow.maxRecordsPerBatch": "1000",
                                "headwater.executor.workers": "2"})
    s.dataSource.register(cli_sources.CountSource)
    s.dataSource.register(report_sinks.ReportSink)
    yield s
    s.stop()


def write(spark, mode, arrow=False, writer_sleep_ms=0, **read_options):
    spark.conf.set("headwater.executor.mode", mode)
    df = spark.read.format("cli_count").options(**read_options).load()
    df.write.format("report_sink").option("arrow", str(arrow).lower()).option("sleep_ms", writer_sleep_ms) \
        .mode("append").save()
    return spark.lastRunReport()


@pytest.mark.parametrize("arrow", [False, True], ids=["rows", "arrow"])
@pytest.mark.parametrize("mode", ["inline", "thread", "process"])
def test_each_partition_written_is_counted(spark, mode, arrow):
    report = write(spark, mode, arrow, writer_sleep_ms=100, rows="10000", partitions="4")
    ran = "process" if mode == "process" else "thread"  # writes in inline mode run on the writer's threads
    writes, reads = report.writes, report.reads
    assert [p.partition for p in writes] == [0, 1, 2, 3]
    assert [p.rows for p in writes] == [2500] * 4 and report.rows_written == 10000
    assert [p.batches for p in writes] == [3] * 4  # 1000 + 1000 + 500 rows, as read
    assert {p.source for p in writes} == {"report_sink"} and {p.mode for p in writes} == {ran}
    # the read that fed each task, in the same report, under the source's name
    assert [(p.source, p.partition, p.rows) for p in reads] == [("cli_count", i, 2500) for i in range(4)]
    assert {p.mode for p in reads} == {ran}
    # the writer was fed the batches the read made: the same Arrow bytes
    assert [p.bytes for p in writes] == [p.bytes for p in reads] and all(p.bytes > 2500 * 16 for p in writes)
    for p in writes:
        assert p.in_source >= 0.1  # write() slept 100 ms: the writer's own code
        assert p.in_source + p.converting + p.waiting <= p.wall + 1e-6
        assert p.waiting > 0  # the read ran while write() pulled its batches
        if arrow:
            assert p.converting == 0  # Arrow writers get the batches themselves
        else:
            assert p.converting > 0  # 2500 rows made from Arrow
    pids = {p.pid for p in writes}
    assert pids == {p.pid for p in reads}
    if mode == "process":
        assert os.getpid() not in pids and pids <= set(spark._worker_pool().pids)
    else:
        assert pids == {os.getpid()}


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_waiting_on_a_slow_input_is_not_the_writers_time(spark, mode):
    report = write(spark, mode, rows="20", partitions="2", sleep_ms="300")  # read() sleeps 300 ms first
    for p in report.writes:
        assert p.waiting >= 0.3 and p.wall >= 0.3
        assert p.in_source < 0.3
    for p in report.reads:
        assert p.in_source >= 0.3  # and the read says where that time went


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_a_failed_partition_is_not_in_the_report(spark, mode):
    spark.conf.set("headwater.executor.mode", mode)
    spark.conf.set("headwater.executor.workers", "1")  # one task after the other: partition 0 ends first
    try:
        df = spark.read.format("cli_count").option("rows", "20").option("partitions", "2").load()
        with pytest.raises(PythonException, match="the sink refuses this partition"):
            df.write.format("report_sink").option("fail_partition", "1").mode("append").save()
    finally:
        spark.conf.set("headwater.executor.workers", "2")
    report = spark.lastRunReport()
    assert [(p.partition, p.rows) for p in report.writes] == [(0, 10)]
    assert spark._runs.current()[0].progress[:2] == (1, 2)  # the bar's counts: one of two done


def test_a_query_written_reports_its_read_then_the_write(spark):
    spark.conf.set("headwater.executor.mode", "thread")
    df = spark.read.format("cli_count").option("rows", "100").option("partitions", "2").load().filter("id < 30")
    df.write.format("report_sink").mode("append").save()  # computed by DuckDB first, then written
    report = spark.lastRunReport()
    assert [(p.source, p.rows) for p in report.reads] == [("cli_count", 50), ("cli_count", 50)]
    assert report.rows_written == 30 and {p.source for p in report.writes} == {"report_sink"}


def test_the_next_action_replaces_a_writes_report(spark):
    write(spark, "thread", rows="10", partitions="2")
    spark.conf.set("headwater.executor.mode", "inline")
    spark.read.format("cli_count").option("rows", "7").option("partitions", "1").load().count()
    report = spark.lastRunReport()
    assert report.writes == [] and [p.rows for p in report.partitions] == [7]


def test_format_has_a_total_per_action(spark):
    text = write(spark, "thread", rows="300", partitions="3").format()
    lines = text.splitlines()
    assert lines[0].split()[:6] == ["action", "source", "part", "rows", "batches", "bytes"]
    assert [ln.split()[:4] for ln in lines[1:4]] == [["read", "cli_count", str(i), "100"] for i in range(3)]
    assert lines[4].split()[:4] == ["read", "total", "3", "300"]
    assert [ln.split()[:4] for ln in lines[5:8]] == [["write", "report_sink", str(i), "100"] for i in range(3)]
    assert lines[8].split()[:4] == ["write", "total", "3", "300"]


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_cli_to_path_stats_shows_the_read_and_the_write(tmp_path, mode):
    out = tmp_path / "out.parquet"
    exe = os.path.join(os.path.dirname(sys.executable), "headwater")
    r = subprocess.run([exe, "read", "cli_count", "-i", "cli_sources", "-o", "rows=300", "-o", "partitions=3",
                        "--mode", mode, "--to", str(out), "--stats"], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=HERE), timeout=120, cwd=HERE)
    assert r.returncode == 0, r.stderr
    assert sum(pq.read_table(str(p)).num_rows for p in out.rglob("*.parquet")) == 300
    lines = [ln.split() for ln in r.stderr.splitlines()]
    head = next(i for i, ln in enumerate(lines) if ln[:2] == ["action", "source"])
    table = lines[head + 1:]
    assert [ln[:4] for ln in table if ln[0] == "read"] == [["read", "cli_count", "0", "100"],
                                                           ["read", "cli_count", "1", "100"],
                                                           ["read", "cli_count", "2", "100"],
                                                           ["read", "total", "3", "300"]]
    writes = [ln for ln in table if ln[0] == "write"]
    assert [ln[2:4] for ln in writes] == [["0", "100"], ["1", "100"], ["2", "100"], ["3", "300"]]
    assert writes[-1][1] == "total" and writes[-1][-1] != mode  # the total has no pid or mode
    assert all(ln[-1] == mode for ln in writes[:-1])


def test_the_feed_gives_the_rows_of_each_batch_a_slice_at_a_time():
    """The feed converts 256 rows at a time: batches longer than a slice, sliced batches (an offset
    into their parent's buffers), nulls and nested values come out as whole-batch conversion gives them."""
    import pyarrow as pa

    from headwater import _core
    from headwater.types import Row

    n = 1000
    whole = pa.RecordBatch.from_pydict({
        "i": pa.array([None if k % 7 == 0 else k for k in range(n)], pa.int64()),
        "s": pa.array([f"v{k}" if k % 5 else None for k in range(n)], pa.string()),
        "st": pa.array([{"x": k, "y": [k, None]} for k in range(n)],
                       pa.struct([("x", pa.int32()), ("y", pa.list_(pa.int64()))])),
    })
    batches = [whole, whole.slice(300, 517), whole.slice(999, 1), whole.slice(0, 0)]
    feed = _core.WriteFeed(iter(batches), Row)
    got = list(feed)
    expected = [r for b in batches for r in _core.rows_from_arrow(b, Row)]
    assert len(got) == n + 517 + 1 and got == expected
    assert got[n + 5] == expected[n + 5] and got[n].i == 300 and got[-1].st.x == 999
    rows, batches = feed.stats()[:2]
    assert (rows, batches) == (len(got), 4)
