"""File stream sources (parquet, csv, json, arrow): new files become new micro-batches (oldest
first, maxFilesPerTrigger a batch), the files seen are kept in the checkpoint's sources/0 log in
Spark's FileStreamSource format, offsets are {"logOffset": N}, a restart reads only new files;
a stream without a schema is Spark's error."""

from __future__ import annotations

import json
import os
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import headwater
from headwater.errors import IllegalArgumentException
from headwater.formats import builtin_format


def put(dirpath, name: str, ids, fmt: str = "parquet") -> None:
    path = os.path.join(dirpath, name)
    table = pa.table({"id": pa.array(ids, pa.int64())})
    if fmt == "parquet":
        pq.write_table(table, path + ".tmp")
    elif fmt == "arrow":
        with pa.ipc.new_file(path + ".tmp", table.schema) as w:
            w.write_table(table)
    else:
        with open(path + ".tmp", "w") as f:
            f.write("".join(f"{i}\n" if fmt == "csv" else json.dumps({"id": i}) + "\n" for i in ids))
    os.rename(path + ".tmp", path)  # appears whole, as files dropped into a watched directory should
    t = time.time() + len(os.listdir(dirpath))  # strictly increasing mtimes: the order files arrived
    os.utime(path, (t, t))


def run(spark, fmt, src, cp, **opts):
    batches = {}

    def each(df, batch_id):
        batches[batch_id] = sorted(r[0] for r in df.collect())

    reader = spark.readStream.format(fmt).schema("id BIGINT")
    for k, v in opts.items():
        reader = reader.option(k, v)
    q = reader.load(str(src)).writeStream.foreachBatch(each).option("checkpointLocation", str(cp)).start()
    q.processAllAvailable()
    q.stop()
    return batches


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json", "arrow"])
def test_new_files_become_batches_and_restart_reads_only_new(fmt, tmp_path):
    spark = headwater.session()
    src, cp = tmp_path / "in", tmp_path / "cp"
    src.mkdir()
    put(src, "a", [1, 2], fmt)
    put(src, "b", [3], fmt)
    put(src, "c", [4, 5], fmt)
    assert run(spark, fmt, src, cp, maxFilesPerTrigger="2") == {0: [1, 2, 3], 1: [4, 5]}
    log = (cp / "sources" / "0" / "0").read_text().split("\n")
    assert log[0] == "v1" and len(log) == 3
    entry = json.loads(log[1])
    assert entry == {"path": f"file://{src}/a", "timestamp": entry["timestamp"], "batchId": 0}
    assert (cp / "offsets" / "1").read_text().split("\n")[2] == '{"logOffset":1}'  # as Spark's JVM writes it
    put(src, "d", [6], fmt)
    assert run(spark, fmt, src, cp) == {2: [6]}  # a new run on the checkpoint: only the new file


def test_schema_is_required_and_options_checked(tmp_path):
    for fmt in ("csv", "json", "parquet"):
        with pytest.raises(IllegalArgumentException, match="Schema must be specified when creating a streaming"):
            builtin_format(fmt)({"path": str(tmp_path)})._hw_stream_schema()
    spark = headwater.SparkSession.builder.getOrCreate()
    for fmt in ("csv", "json", "parquet", "arrow"):  # through readStream: the engine asks the format
        with pytest.raises(IllegalArgumentException) as e:
            spark.readStream.format(fmt).load(str(tmp_path))
        assert e.value.getErrorClass() == "_LEGACY_ERROR_TEMP_2048"
    assert spark.readStream.format("parquet").schema("id BIGINT").load(str(tmp_path)).isStreaming
    with pytest.raises(IllegalArgumentException, match="maxFilesPerTrigger"):
        builtin_format("csv")({"path": str(tmp_path), "maxFilesPerTrigger": "0"}).streamReader("id BIGINT")
