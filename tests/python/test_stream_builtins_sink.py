"""The file stream sinks (parquet, csv, json, arrow): part files logged in ``_spark_metadata/<N>``
in Spark's format, a re-run of a logged batch keeps nothing new, an aborted batch leaves nothing,
and readers of the directory (headwater's batch reader and real PySpark 4.3's) see only committed
files; headwater reads a directory Spark's own file sink wrote (past its log compaction)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow as pa
import pytest

import headwater
from headwater.formats import builtin_format
from headwater.formats._sinklog import committed_files

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = "id BIGINT, name STRING"


def batch(lo: int, hi: int) -> pa.RecordBatch:
    ids = list(range(lo, hi))
    return pa.record_batch({"id": pa.array(ids, pa.int64()), "name": [f"n{i}" for i in ids]})


def run_batch(fmt: str, out: str, batch_id: int, parts: list) -> list:
    """One micro-batch through the Spark-API stream writer contract: a fresh writer, write() per
    partition, commit(messages, batchId) on a writer made fresh for it."""
    source = builtin_format(fmt)({"path": out})
    messages = [source.streamWriter(SCHEMA, False).write(iter(p)) for p in parts]
    builtin_format(fmt)({"path": out}).streamWriter(SCHEMA, False).commit(messages, batch_id)
    return messages


@pytest.fixture
def spark():
    s = headwater.session()
    yield s


def read_ids(spark, fmt: str, out: str) -> list:
    reader = spark.read.format(fmt)
    if fmt in ("csv", "json"):
        reader = reader.schema(SCHEMA)
    return sorted(r[0] for r in reader.load(out).select("id").collect())


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json", "arrow"])
def test_file_sink_logs_batches_and_readers_see_only_committed(fmt, tmp_path, spark):
    out = str(tmp_path / "out")
    run_batch(fmt, out, 0, [[batch(0, 3)], [batch(3, 5)], []])
    run_batch(fmt, out, 1, [[batch(5, 8)]])
    log = os.path.join(out, "_spark_metadata")
    assert sorted(os.listdir(log)) == ["0", "1"]
    lines = open(os.path.join(log, "0")).read().split("\n")
    assert lines[0] == "v1" and len(lines) == 3  # the empty partition wrote no file
    status = json.loads(lines[1])
    assert set(status) == {"path", "size", "isDir", "modificationTime", "blockReplication", "blockSize", "action"}
    assert status["path"].startswith("file:///") and status["action"] == "add" and status["isDir"] is False
    assert status["size"] == os.path.getsize(status["path"][len("file://"):])
    assert read_ids(spark, fmt, out) == list(range(8))

    # a batch written but never logged (the process died before commit): invisible to readers
    writer = builtin_format(fmt)({"path": out}).streamWriter(SCHEMA, False)
    writer.write(iter([batch(100, 110)]))
    assert read_ids(spark, fmt, out) == list(range(8))

    # batch 1 re-run after a crash between the sink's commit and commits/1: nothing new kept
    before = sorted(os.listdir(out))
    run_batch(fmt, out, 1, [[batch(5, 8)]])
    assert sorted(os.listdir(out)) == before
    assert read_ids(spark, fmt, out) == list(range(8))

    # an aborted batch leaves no file
    source = builtin_format(fmt)({"path": out})
    msgs = [source.streamWriter(SCHEMA, False).write(iter([batch(200, 205)]))]
    source.streamWriter(SCHEMA, False).abort(msgs, 2)
    assert sorted(os.listdir(out)) == before
    assert not [n for n in os.listdir(out) if n.endswith(".inprogress")]


def test_log_compaction_and_deletes_are_read(tmp_path):
    out = tmp_path / "o"
    log = out / "_spark_metadata"
    log.mkdir(parents=True)

    def entry(name, action="add"):
        return json.dumps({"path": f"file://{out}/{name}", "size": 1, "isDir": False, "modificationTime": 0,
                           "blockReplication": 1, "blockSize": 1, "action": action})

    (log / "0").write_text("v1\n" + entry("a"))
    (log / "1").write_text("v1\n" + entry("old-only-in-1"))
    (log / "1.compact").write_text("v1\n" + entry("a") + "\n" + entry("b"))
    (log / "2").write_text("v1\n" + entry("c") + "\n" + entry("a", "delete"))
    assert committed_files(str(out)) == [f"{out}/b", f"{out}/c"]
    (log / "3").write_text("v2\n")
    with pytest.raises(Exception, match="not in a known format"):
        committed_files(str(out))


@pytest.fixture(scope="module")
def spark_probe(tmp_path_factory):
    base = tmp_path_factory.mktemp("sink_probe")
    hw_dir = str(base / "hw")
    run_batch("parquet", hw_dir, 0, [[batch(0, 4)], [batch(4, 6)]])
    run_batch("parquet", hw_dir, 1, [[batch(6, 9)]])
    builtin_format("parquet")({"path": hw_dir}).streamWriter(SCHEMA, False).write(iter([batch(50, 60)]))  # unlogged
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    proc = subprocess.run([sys.executable, os.path.join(HERE, "spark_sink_probe.py"), hw_dir, str(base / "spark")],
                          capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return str(base / "spark"), json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.jvm
def test_pyspark_reads_only_what_headwater_committed(spark_probe):
    _, result = spark_probe
    assert result["hw_dir_values"] == list(range(9))


@pytest.mark.jvm
def test_headwater_reads_what_sparks_sink_committed(spark_probe, spark):
    spark_dir, result = spark_probe
    assert os.path.exists(os.path.join(spark_dir, "_spark_metadata", "9.compact"))
    expected = result["spark_dir_values"]
    assert expected == list(range(len(expected))) and len(expected) >= 60
    # an unlogged stray copy of a committed file stays invisible
    part = next(n for n in sorted(os.listdir(spark_dir)) if n.startswith("part-"))
    with open(os.path.join(spark_dir, part), "rb") as f, open(os.path.join(spark_dir, "part-99999-stray.parquet"),
                                                             "wb") as g:
        g.write(f.read())
    got = sorted(r[0] for r in spark.read.parquet(spark_dir).select("value").collect())
    assert got == expected
