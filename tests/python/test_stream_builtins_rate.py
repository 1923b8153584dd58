"""The built-in rate and rate-micro-batch stream sources: rows built in C, offsets and rows per
batch id as PySpark 4.3's (differential: the same queries run on real PySpark in one child JVM).
The file stream source's differential rides on the same JVM (the last test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow as pa
import pytest

from headwater import _core
from headwater.errors import AnalysisException
from headwater.formats import builtin_format
from headwater.formats.rate import value_at_second

HERE = os.path.dirname(os.path.abspath(__file__))


def rows_of(batch) -> list:
    rb = pa.record_batch(batch)
    assert rb.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")  # Spark TIMESTAMP
    assert rb.schema.field("value").type == pa.int64()
    return list(zip(rb.column("value").to_pylist(),
                    rb.column("timestamp").cast(pa.int64()).to_pylist()))


def test_rate_batch_fills_a_partition_in_c():
    # partition 1 of 3 over [10, 20): values 11, 14, 17; ms = 5000 + round((v - 10) * 0.5)
    assert rows_of(_core.rate_batch(1, 3, 10, 20, 5000, 0.5)) == [
        (11, 5001_000), (14, 5002_000), (17, 5004_000)]  # 3.5 rounds up, as Java's Math.round
    assert rows_of(_core.rate_batch(0, 1, 0, 4, 7, 0.0)) == [(0, 7000), (1, 7000), (2, 7000), (3, 7000)]


def test_rate_batch_edges():
    assert rows_of(_core.rate_batch(2, 3, 0, 2, 0, 1.0)) == []  # the partition gets no value
    assert rows_of(_core.rate_batch(0, 2, 5, 5, 0, 1.0)) == []
    big = pa.record_batch(_core.rate_batch(0, 1, 0, 100_000, 0, 0.001))
    assert big.num_rows == 100_000 and big.column("value")[99_999].as_py() == 99_999
    with pytest.raises(Exception, match="partition 3 of 3"):
        _core.rate_batch(3, 3, 0, 10, 0, 1.0)


def test_value_at_second_ramps_like_spark():
    # rowsPerSecond 10, rampUpTime 4s: speed 0 2 4 6 8 10 10 -> first values 0 2 6 12 20 30 40
    assert [value_at_second(s, 10, 4) for s in range(7)] == [0, 2, 6, 12, 20, 30, 40]
    assert [value_at_second(s, 5, 0) for s in range(4)] == [0, 5, 10, 15]


def test_options_are_checked():
    rmb = builtin_format("rate-micro-batch")
    with pytest.raises(AnalysisException, match="rowsPerBatch"):
        rmb({}).streamReader(None)
    with pytest.raises(AnalysisException, match="'rowsPerBatch'.*positive"):
        rmb({"rowsPerBatch": "0"}).streamReader(None)
    with pytest.raises(AnalysisException, match="'numPartitions'.*integer"):
        builtin_format("rate")({"numPartitions": "two"}).streamReader(None)
    with pytest.raises(AnalysisException, match="'rampUpTime'"):
        builtin_format("rate")({"rampUpTime": "soon"}).streamReader(None)


@pytest.fixture(scope="module")
def spark_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("spark_rate")
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    proc = subprocess.run([sys.executable, os.path.join(HERE, "spark_stream_probe.py"), str(out)],
                          capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def offset_line(files: dict, n: int) -> str:
    return files[f"offsets/{n}"].split("\n")[2]


def headwater_batch(reader, start, end) -> list:
    rows = []
    for part in reader.partitions(start, end):
        for batch in reader.read(part):
            rows += [[v, ts, part.value] for v, ts in rows_of(batch)]
    return sorted(rows)


@pytest.mark.jvm
def test_rate_micro_batch_matches_pyspark(spark_runs):
    run = spark_runs["rmb"]
    assert run["schema"] == "struct<timestamp:timestamp,value:bigint>"
    opts = {"rowsPerBatch": "7", "numPartitions": "3", "startTimestamp": "1000", "advanceMillisPerBatch": "100"}
    reader = builtin_format("rate-micro-batch")(opts).streamReader(None)
    start = reader.initialOffset()
    assert start == {"offset": 0, "timestamp": 1000}
    for n in range(4):
        end = reader.latestOffset(start, None)
        # the offsets/N line Spark wrote is the JSON of our offset (key order included)
        assert json.dumps(end, separators=(",", ":")) == offset_line(run["files"], n)
        assert headwater_batch(reader, start, end) == run["rows"][str(n)]
        start = end
    assert run["rows"]["1"][0] == [7, 1_100_000, 0]  # every row of batch 1 at its start timestamp


@pytest.mark.jvm
def test_rate_replays_pyspark_checkpoint(spark_runs, tmp_path):
    """headwater's rate reader, attached to Spark's own source log (its creation time), plans the
    batches of Spark's offsets/N into the same rows, partition by partition."""
    run = spark_runs["ramp"]
    files = run["files"]
    assert files["sources/0/0"].startswith("v1\n")
    src = tmp_path / "sources" / "0"
    src.mkdir(parents=True)
    (src / "0").write_text(files["sources/0/0"])
    reader = builtin_format("rate")({"rowsPerSecond": "10", "numPartitions": "3",
                                     "rampUpTime": "2s"}).streamReader(None)
    reader._hw_attach_checkpoint(str(src))
    assert reader.creation_ms == int(files["sources/0/0"].split("\n")[1])
    assert reader.initialOffset() == 0
    start = None
    batches = sorted(int(b) for b in run["rows"])
    for n in batches:
        end = json.loads(offset_line(files, n))
        assert isinstance(end, int)
        assert headwater_batch(reader, start, end) == run["rows"][str(n)], n
        start = end
    assert any(run["rows"][str(n)] for n in batches)  # the run produced rows to compare


def test_rate_creation_time_is_kept_in_the_checkpoint(tmp_path):
    r1 = builtin_format("rate")({"rowsPerSecond": "4", "numPartitions": "2"}).streamReader(None)
    r1._hw_attach_checkpoint(str(tmp_path))
    text = (tmp_path / "0").read_text()
    assert text == f"v1\n{r1.creation_ms}"
    r2 = builtin_format("rate")({"rowsPerSecond": "4", "numPartitions": "2"}).streamReader(None)
    r2._hw_attach_checkpoint(str(tmp_path))
    assert r2.creation_ms == r1.creation_ms
    # batch (1s, 3s] -> values 4..11, 250 ms apart from creation + 1 s
    rows = headwater_batch(r2, 1, 3)
    assert [r[0] for r in rows] == list(range(4, 12))
    assert rows[0][1] == (r1.creation_ms + 1000) * 1000 and rows[1][1] == (r1.creation_ms + 1250) * 1000
    assert [r[2] for r in rows] == [0, 1] * 4
    assert list(tmp_path.iterdir()) == [tmp_path / "0"]  # no temp file left behind


@pytest.mark.jvm
def test_file_stream_source_matches_pyspark(spark_runs, tmp_path):
    import headwater
    from headwater.errors import IllegalArgumentException

    run = spark_runs["files"]
    kind, condition, message = run["no_schema"]
    assert (kind, condition) == ("IllegalArgumentException", "_LEGACY_ERROR_TEMP_2048")
    with pytest.raises(IllegalArgumentException) as e:
        builtin_format("parquet")({"path": run["src"]})._hw_stream_schema()
    # the same text; headwater prefixes every error class, _LEGACY ones too (the house's rendering)
    assert str(e.value) == f"[_LEGACY_ERROR_TEMP_2048] {message}"
    spark = headwater.session()
    got = {}

    def each(df, batch_id):
        got[str(batch_id)] = sorted(r[0] for r in df.collect())

    cp = tmp_path / "cp"
    q = (spark.readStream.format("parquet").schema("id BIGINT").option("maxFilesPerTrigger", "2").load(run["src"])
         .writeStream.foreachBatch(each).option("checkpointLocation", str(cp)).start())
    q.processAllAvailable()
    q.stop()
    assert got == run["rows"] == {"0": [1, 2, 3], "1": [4, 5]}
    assert (cp / "sources" / "0" / "0").read_text() == run["log0"]  # Spark's FileStreamSource log, byte for byte


def test_num_partitions_defaults_to_the_sessions_workers():
    import headwater

    spark = headwater.session()
    spark.conf.set("headwater.executor.workers", 3)
    try:
        src = builtin_format("rate-micro-batch")({"rowsPerBatch": "9"})
        src._hw_configure(spark.conf)
        reader = src.streamReader(None)
        parts = reader.partitions(reader.initialOffset(), reader.latestOffset(reader.initialOffset(), None))
        assert [p.value for p in parts] == [0, 1, 2]
    finally:
        spark.conf.unset("headwater.executor.workers")


@pytest.mark.jvm
def test_rate_micro_batch_offsets_files_as_spark_writes_them(spark_runs, tmp_path):
    """headwater's own offsets/N of a built-in source hold the line Spark's JVM source writes
    (compact JSON), and its progress reports the same text."""
    import headwater

    s = headwater.session(**{"headwater.executor.mode": "thread"})
    ck = str(tmp_path / "ck")
    opts = {"rowsPerBatch": "7", "numPartitions": "3", "startTimestamp": "1000", "advanceMillisPerBatch": "100"}
    for n in range(4):  # one batch a run: the same checkpoint resumed four times
        q = s.readStream.format("rate-micro-batch").options(**opts).load().writeStream.format("noop") \
            .option("checkpointLocation", ck).trigger(once=True).start()
        q.awaitTermination()
        assert q.lastProgress["batchId"] == n
        assert q.lastProgress["sources"][0]["endOffset"] == offset_line(spark_runs["rmb"]["files"], n)
    for n in range(4):
        with open(os.path.join(ck, "offsets", str(n))) as f:
            assert f.read().split("\n")[2] == offset_line(spark_runs["rmb"]["files"], n)
