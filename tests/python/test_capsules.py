"""The Arrow PyCapsule interface both ways: pyarrow, polars and DuckDB read headwater's data, and
headwater takes theirs."""

import datetime as dt

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from headwater import _core

ROWS = [(i, f"name-{i}", i * 0.5, dt.datetime(2024, 1, 1) + dt.timedelta(seconds=i)) for i in range(100)]
DDL = "id BIGINT, name STRING, score DOUBLE, at TIMESTAMP_NTZ"


def batch():
    return _core.rows_to_batch(DDL, ROWS)


def test_pyarrow_record_batch_and_schema():
    b = pa.record_batch(batch())
    assert b.num_rows == 100
    assert b.to_pylist()[3] == {"id": 3, "name": "name-3", "score": 1.5, "at": dt.datetime(2024, 1, 1, 0, 0, 3)}
    assert pa.schema(batch()) == b.schema


def test_one_batch_exported_many_times_shares_buffers():
    core = batch()
    a = pa.record_batch(core)
    b = pa.record_batch(core)
    # same memory, not a copy
    assert a.column(0).buffers()[1].address == b.column(0).buffers()[1].address
    del core
    assert a.equals(b)  # views outlive the producer object


def test_record_batch_reader_from_stream():
    reader = pa.RecordBatchReader.from_stream(_core.rows_to_stream(DDL, ROWS, max_rows_per_batch=30))
    table = reader.read_all()
    assert table.num_rows == 100
    assert [len(c) for c in table.column(0).chunks] == [30, 30, 30, 10]


def test_an_in_memory_stream_can_be_exported_again():
    stream = _core.rows_to_stream(DDL, ROWS)
    first = pa.RecordBatchReader.from_stream(stream).read_all()
    second = pa.RecordBatchReader.from_stream(stream).read_all()
    assert first.equals(second) and first.num_rows == 100
    assert not stream.consumed


def test_an_imported_stream_is_consumed_once():
    stream = _core.import_stream(pa.table({"a": [1, 2]}))
    pa.RecordBatchReader.from_stream(stream).read_all()
    assert stream.consumed
    with pytest.raises(ValueError, match="already consumed"):
        pa.RecordBatchReader.from_stream(stream)


def test_duckdb_queries_a_headwater_stream():
    rel = _core.rows_to_stream(DDL, ROWS, max_rows_per_batch=7)
    con = duckdb.connect()
    got = con.sql("select count(*), sum(id), max(name) from rel where score >= 10").fetchall()
    assert got == [(80, sum(range(20, 100)), "name-99")]


def test_duckdb_queries_a_headwater_batch():
    rel = batch()
    assert duckdb.sql("select name from rel where id = 42").fetchall() == [("name-42",)]


def test_polars_reads_a_headwater_stream_and_batch():
    df = pl.DataFrame(_core.rows_to_stream(DDL, ROWS))
    assert df.shape == (100, 4)
    assert df["name"][99] == "name-99"
    assert df.schema["at"] == pl.Datetime("us")
    assert pl.DataFrame(batch())["id"].sum() == sum(range(100))


def test_import_a_pyarrow_stream_and_export_it_again():
    table = pa.table({"a": [1, 2, None], "b": ["x", None, "z"]})
    ours = _core.import_stream(table)
    assert pa.RecordBatchReader.from_stream(ours).read_all().equals(table)


def test_import_a_sliced_pyarrow_batch_and_export_it_again():
    source = pa.record_batch({"a": pa.array([1, None, 3, 4, 5], pa.int64()), "s": ["p", "q", None, "s", "t"]})
    sliced = source.slice(1, 3)
    ours = _core.import_batch(sliced)
    assert ours.num_rows == 3
    back = pa.record_batch(ours)
    back.validate(full=True)
    assert back.equals(sliced)
    # our own slice of their slice: offsets compose
    inner = pa.record_batch(ours.slice(1, 2))
    inner.validate(full=True)
    assert inner.to_pylist() == [{"a": 3, "s": None}, {"a": 4, "s": "s"}]


def test_schema_capsule_of_a_core_schema():
    core = _core.schema_from_ddl(DDL)
    assert pa.schema(core).names == ["id", "name", "score", "at"]
    assert core.names == ["id", "name", "score", "at"]
    assert repr(core) == "Schema(struct<id:bigint,name:string,score:double,at:timestamp_ntz>)"
