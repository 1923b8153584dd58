"""The run report (spark.lastRunReport(), `headwater ... --stats`): per-partition counters kept in C
by the partition reader, and from worker processes through their DONE message."""

import os
import subprocess
import sys

import pytest

import headwater

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cli_sources  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    s = headwater.SparkSession({"spark.sql.execution.arrow.maxRecordsPerBatch": "1000",
                                "headwater.executor.workers": "2"})
    s.dataSource.register(cli_sources.CountSource)
    yield s
    s.stop()


def read(spark, mode, **options):
    spark.conf.set("headwater.executor.mode", mode)
    df = spark.read.format("cli_count").options(**options).load()
    return df


@pytest.mark.parametrize("mode", ["inline", "thread", "process"])
def test_rows_batches_bytes_per_partition(spark, mode):
    assert read(spark, mode, rows="10000", partitions="4").count() == 10000
    report = spark.lastRunReport()
    parts = report.partitions
    assert [p.partition for p in parts] == [0, 1, 2, 3]
    assert [p.rows for p in parts] == [2500, 2500, 2500, 2500]
    assert [p.batches for p in parts] == [3, 3, 3, 3]  # 1000 + 1000 + 500 rows
    assert report.rows == 10000
    # the Arrow buffers of the converted rows: the same whatever ran them
    assert all(p.bytes > 2500 * 16 for p in parts)
    assert {p.source for p in parts} == {"cli_count"} and {p.mode for p in parts} == {mode}
    for p in parts:
        assert 0 <= p.in_source + p.converting <= p.wall + 1e-3
        assert p.in_source > 0 and p.converting > 0
    pids = {p.pid for p in parts}
    if mode == "process":
        assert os.getpid() not in pids and pids <= set(spark._worker_pool().pids)
    else:
        assert pids == {os.getpid()}


def test_same_bytes_in_every_mode(spark):
    seen = []
    for mode in ("inline", "thread", "process"):
        read(spark, mode, rows="3000", partitions="2").count()
        seen.append([p.bytes for p in spark.lastRunReport().partitions])
    assert seen[0] == seen[1] == seen[2]


@pytest.mark.parametrize("mode", ["inline", "thread", "process"])
def test_bytes_of_record_batches_the_source_yields(spark, mode):
    read(spark, mode, rows="1000", partitions="2", arrow="true").count()
    parts = spark.lastRunReport().partitions
    assert [(p.rows, p.batches) for p in parts] == [(500, 1), (500, 1)]
    for p in parts:  # id and twice: 8 bytes a row; name: 32-bit offsets and its characters; no nulls
        ids = range(500 * p.partition, 500 * (p.partition + 1))
        assert p.bytes == 500 * 8 * 2 + 501 * 4 + sum(len(f"n{i}") for i in ids)


def test_bytes_of_record_batches_count_the_columns_read(spark):
    spark.conf.set("headwater.executor.mode", "inline")
    df = spark.read.format("cli_count").options(rows="100", partitions="1", arrow="true").load()
    df.select("id").count()  # the other columns are pruned from the batch without copying
    [p] = spark.lastRunReport().partitions
    assert p.bytes == 100 * 8  # only the id column is handed on


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_time_in_the_source_is_counted(spark, mode):
    read(spark, mode, rows="10", partitions="2", sleep_ms="200").count()
    parts = spark.lastRunReport().partitions
    assert len(parts) == 2
    for p in parts:  # read() sleeps 200 ms before its first row: the source's own time
        assert p.in_source >= 0.2 and p.wall >= 0.2


def test_a_new_action_replaces_the_report(spark):
    read(spark, "inline", rows="5", partitions="1").count()
    read(spark, "inline", rows="7", partitions="3").count()
    assert [p.rows for p in spark.lastRunReport().partitions] == [3, 3, 1]


def test_sql_over_two_sources_is_one_report(spark):
    spark.conf.set("headwater.executor.mode", "inline")
    spark.read.format("cli_count").option("rows", "4").option("partitions", "1").load().createOrReplaceTempView("ra")
    spark.read.format("cli_count").option("rows", "6").option("partitions", "2").load().createOrReplaceTempView("rb")
    n = spark.sql("SELECT count(*) AS n FROM ra JOIN rb USING (id)").collect()[0]["n"]
    assert n == 4
    rows = sorted(p.rows for p in spark.lastRunReport().partitions)
    assert sum(rows) == 10


def test_cli_stats_prints_the_report():
    env = dict(os.environ, PYTHONPATH=HERE)
    exe = os.path.join(os.path.dirname(sys.executable), "headwater")
    r = subprocess.run([exe, "read", "cli_count", "-i", "cli_sources", "-o", "rows=300", "-o", "partitions=3",
                        "--mode", "thread", "--count", "--stats"], capture_output=True, text=True, env=env,
                       timeout=120, cwd=HERE)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "300"
    lines = r.stderr.strip().splitlines()
    assert lines[0].split()[:6] == ["action", "source", "part", "rows", "batches", "bytes"]
    assert [ln.split()[:5] for ln in lines[1:4]] == [["read", "cli_count", str(i), "100", "1"] for i in range(3)]
    assert lines[4].split()[:4] == ["read", "total", "3", "300"]
