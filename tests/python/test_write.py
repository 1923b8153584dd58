"""Batch writes (df.write) with Spark's protocol, createDataFrame and repartition.

The expectations come from real PySpark 4.1.1 (local[2]); test_rows_match_pyspark re-checks what a
writer receives against PySpark itself (skipped, with the reason, without pyspark or Java)."""

from __future__ import annotations

import datetime
import decimal
import glob
import os
import pickle
import shutil
import sys

import pyarrow as pa
import pytest

import headwater
from headwater.errors import AnalysisException, PythonException

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import wsources  # noqa: E402
from wsources import Msg  # noqa: E402


@pytest.fixture
def spark():
    s = headwater.session()
    s.conf.set("headwater.executor.workers", 4)
    s.conf.set("headwater.executor.mode", "thread")  # the writers log in this process (test_write_process.py: workers)
    s.dataSource.register(wsources.WSource)
    wsources.LOG.clear()
    yield s
    s.conf.unset("headwater.executor.workers")
    s.conf.unset("headwater.executor.mode")


def calls(name):
    return [e[1:] for e in wsources.LOG if e[0] == name]


def four(spark):
    return spark.createDataFrame([(1,), (2,), (3,), (4,)], "id INT").repartition(4)


# ---- protocol


def test_commit_gets_messages_in_partition_order(spark):
    four(spark).write.format("wtest").mode("append").option("Kind", "ok").option("n", 1).save("/some/where")
    (schema, overwrite, options, opt_type), = calls("writer")
    assert schema == "struct<id:int>" and overwrite is False
    assert options == {"kind": "ok", "n": "1", "path": "/some/where"} and opt_type == "CaseInsensitiveDict"
    assert calls("commit") == [([Msg(1, 1), Msg(1, 2), Msg(1, 3), Msg(1, 4)],)]
    assert calls("abort") == []


def test_overwrite_mode_and_case(spark):
    four(spark).write.format("WTEST").mode("Overwrite").save()
    assert calls("writer")[0][1] is True
    assert "path" not in calls("writer")[0][2]


def test_failed_write_aborts_with_none_slot(spark):
    with pytest.raises(PythonException, match="boom from write") as ei:
        four(spark).write.format("wtest").mode("append").option("kind", "fail_write").save()
    assert ei.value.partition == 1
    assert calls("abort") == [([Msg(1, 1), None, Msg(1, 3), Msg(1, 4)],)]
    assert calls("commit") == []


def test_error_in_abort_is_reported_alongside(spark):
    with pytest.raises(PythonException, match="boom from write") as ei:
        four(spark).write.format("wtest").mode("append").option("kind", "fail_write_abort").save()
    assert isinstance(ei.value.__context__, RuntimeError)
    assert any("boom from abort" in n for n in ei.value.__notes__)
    assert len(calls("abort")) == 1


def test_failed_commit_is_aborted_with_same_messages(spark):
    with pytest.raises(AnalysisException, match="Failed to commit or abort Python data source write") as ei:
        four(spark).write.format("wtest").mode("append").option("kind", "fail_commit").save()
    assert ei.value.getErrorClass() == "PYTHON_DATA_SOURCE_ERROR"
    assert isinstance(ei.value.__cause__, ValueError)
    assert calls("abort") == calls("commit")


def test_failed_commit_and_abort(spark):
    with pytest.raises(AnalysisException, match="boom from commit") as ei:
        four(spark).write.format("wtest").mode("append").option("kind", "fail_commit_abort").save()
    assert any("boom from abort" in n for n in ei.value.__notes__)


def test_write_must_return_commit_message(spark):
    with pytest.raises(PythonException) as ei:
        four(spark).write.format("wtest").mode("append").option("kind", "bad_msg").save()
    assert ei.value.getErrorClass() == "DATA_SOURCE_TYPE_MISMATCH"
    assert "Expected 'WriterCommitMessage' as the return type of the `write` method, but got int." in str(ei.value)
    assert calls("abort") == [([None, None, None, None],)]


def test_writer_type_checked(spark):
    with pytest.raises(AnalysisException) as ei:
        four(spark).write.format("wtest").mode("append").option("kind", "bad_writer").save()
    assert ei.value.getErrorClass() == "PYTHON_DATA_SOURCE_ERROR"
    assert str(ei.value).endswith(
        "Failed to initialize Python data source writer: [DATA_SOURCE_TYPE_MISMATCH] Expected an instance of "
        "DataSourceWriter, but got 'object'."
    )


def test_writer_raising(spark):
    with pytest.raises(AnalysisException, match="(?s)Failed to initialize Python data source writer: .*boom from writer"):
        four(spark).write.format("wtest").mode("append").option("kind", "raise_writer").save()


@pytest.mark.parametrize("mode,shown", [(None, "ErrorIfExists"), ("error", "ErrorIfExists"),
                                        ("errorifexists", "ErrorIfExists"), ("default", "ErrorIfExists"),
                                        ("ignore", "Ignore")])
def test_unsupported_save_modes(spark, mode, shown):
    w = four(spark).write.format("wtest")
    if mode:
        w = w.mode(mode)
    with pytest.raises(AnalysisException) as ei:
        w.save()
    assert ei.value.getErrorClass() == "UNSUPPORTED_DATA_SOURCE_SAVE_MODE"
    assert ei.value.message == (f'The data source "wtest" cannot be written in the "{shown}" mode. Please use '
                                'either the "Append" or "Overwrite" mode instead.')
    assert wsources.LOG == []


def test_invalid_save_mode_at_mode(spark):
    with pytest.raises(AnalysisException) as ei:
        four(spark).write.mode("bogus")
    assert ei.value.getErrorClass() == "INVALID_SAVE_MODE"


def test_arrow_writer_gets_record_batches(spark):
    four(spark).write.format("wtest").mode("append").option("kind", "arrow").save()
    writes = calls("write")
    assert len(writes) == 4 and all(w == (["pyarrow.lib.RecordBatch"], 1) for w in writes)
    assert calls("commit") == [([Msg(1, None)] * 4,)]


def test_write_from_a_read_one_task_per_source_partition(spark):
    from headwater.datasource import DataSource, DataSourceReader, InputPartition

    class R(DataSourceReader):
        def partitions(self):
            return [InputPartition(i) for i in range(3)]

        def read(self, p):
            for i in range(p.value * 10, p.value * 10 + 3):
                yield (i, str(i))

    class Src(DataSource):
        @classmethod
        def name(cls):
            return "wsrc3"

        def schema(self):
            return "id INT, s STRING"

        def reader(self, schema):
            return R()

    spark.dataSource.register(Src)
    spark.read.format("wsrc3").load().write.format("wtest").mode("append").save()
    firsts = sorted(w[0] for w in calls("write"))
    assert firsts == [0, 10, 20]
    assert sorted(m.first for m in calls("commit")[0][0]) == [0, 10, 20]


def test_read_error_during_write_aborts(spark):
    from headwater.datasource import DataSource, DataSourceReader

    class R(DataSourceReader):
        def read(self, p):
            yield (1,)
            raise KeyError("boom from read")

    class Src(DataSource):
        @classmethod
        def name(cls):
            return "wsrcbad"

        def schema(self):
            return "id INT"

        def reader(self, schema):
            return R()

    spark.dataSource.register(Src)
    with pytest.raises(PythonException, match="boom from read"):
        spark.read.format("wsrcbad").load().write.format("wtest").mode("append").save()
    assert calls("abort") == [([None],)]


# ---- createDataFrame and repartition


def test_create_from_each_kind(spark):
    import pandas as pd

    expected = [(1, "x"), (2, None)]
    tuples = spark.createDataFrame([(1, "x"), (2, None)], "a BIGINT, b STRING")
    rows = spark.createDataFrame([headwater.types.Row(a=1, b="x"), headwater.types.Row(a=2, b=None)])
    dicts = spark.createDataFrame([{"b": "x", "a": 1}, {"a": 2}], "a BIGINT, b STRING")
    pdf = spark.createDataFrame(pd.DataFrame({"a": [1, 2], "b": ["x", None]}))
    table = spark.createDataFrame(pa.table({"a": [1, 2], "b": ["x", None]}))
    batch = spark.createDataFrame(pa.RecordBatch.from_pydict({"a": [1, 2], "b": ["x", None]}))
    for df in (tuples, rows, dicts, pdf, table, batch):
        assert df.columns == ["a", "b"]
        assert [tuple(r) for r in df.collect()] == expected
        assert df.dtypes == [("a", "bigint"), ("b", "string")]
    names = spark.createDataFrame([(1, "x")], ["k", "v"])
    assert names.columns == ["k", "v"] and names.dtypes == [("k", "bigint"), ("v", "string")]
    assert spark.createDataFrame([(1, "x")]).columns == ["_1", "_2"]


def test_create_from_polars(spark):
    pl = pytest.importorskip("polars")
    df = spark.createDataFrame(pl.DataFrame({"a": [1, 2], "s": ["x", None], "l": [[1], []]}))
    assert df.dtypes == [("a", "bigint"), ("s", "string"), ("l", "array<bigint>")]
    assert [tuple(r) for r in df.collect()] == [(1, "x", [1]), (2, None, [])]


def test_create_splits_over_parallelism(spark):
    df = spark.createDataFrame([(i,) for i in range(10)], "id INT")
    assert len(df._plan.make_partitions(None)) == 4
    assert len(spark.createDataFrame([(1,)], "id INT")._plan.make_partitions(None)) == 1


def test_repartition_sets_write_tasks(spark):
    df = spark.createDataFrame([(i,) for i in range(10)], "id INT")
    for n in (1, 3, 7):
        wsources.LOG.clear()
        df.repartition(n).write.format("wtest").mode("append").save()
        sizes = [m.n for m in calls("commit")[0][0]]
        assert len(sizes) == n and sum(sizes) == 10 and max(sizes) - min(sizes) <= 1
    assert [r.id for r in df.repartition(3).collect()] == list(range(10))
    with pytest.raises(AnalysisException):
        df.repartition(0)


# ---- Rows a plain writer receives, against PySpark

TYPES_SCHEMA = ("id INT, b BOOLEAN, l BIGINT, d DOUBLE, s STRING, bin BINARY, dec DECIMAL(10,3), dt DATE, "
                "ts TIMESTAMP, ntz TIMESTAMP_NTZ, arr ARRAY<INT>, m MAP<STRING, INT>, "
                "st STRUCT<x: INT, y: STRUCT<z: STRING>>, arr_st ARRAY<STRUCT<q: DOUBLE>>")


def type_rows():
    return [
        (1, True, 2**40, 1.5, "héllo", b"\x00\x01", decimal.Decimal("3.142"), datetime.date(2024, 2, 29),
         datetime.datetime(2024, 1, 2, 3, 4, 5, 678901), datetime.datetime(2001, 2, 3, 4, 5, 6),
         [1, None, 3], {"k": 1, "n": None}, (7, ("z",)), [(0.5,), None]),
        (2, None, None, None, None, None, None, None, None, None, None, None, None, None),
        (3, False, -1, float("inf"), "", b"", decimal.Decimal("-0.001"), datetime.date(1970, 1, 1),
         datetime.datetime(1970, 1, 1), datetime.datetime(9999, 12, 31, 23, 59, 59), [], {}, (None, None), []),
    ]


def headwater_written(spark):
    df = spark.createDataFrame(type_rows(), TYPES_SCHEMA)
    df.write.format("wtest").mode("append").save()
    rows = [r for w in calls("write") for r in w[2]]
    return sorted(rows, key=lambda r: r[2][0]), {n for w in calls("write") for n in w[1]}


def test_rows_of_several_types(spark):
    rows, row_types = headwater_written(spark)
    assert row_types == {"Row"}
    first = rows[0]
    assert first[1][:2] == ("id", "b") and first[2][0] == 1
    assert first[2][6] == decimal.Decimal("3.142") and first[2][8] == datetime.datetime(2024, 1, 2, 3, 4, 5, 678901)
    assert first[2][12] == ("Row", ("x", "y"), (7, ("Row", ("z",), ("z",))))
    assert rows[1][2][1:] == (None,) * 13


@pytest.fixture(scope="module")
def pyspark_session():
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import SparkSession
    except ImportError as e:
        print(f"skipping: pyspark is not installed ({e})")
        pytest.skip(f"pyspark is not installed ({e})")
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        print("skipping: no Java for PySpark")
        pytest.skip("no Java for PySpark")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    pp = os.environ.get("PYTHONPATH", "")
    if HERE not in pp.split(os.pathsep):
        os.environ["PYTHONPATH"] = HERE + (os.pathsep + pp if pp else "")
    s = (SparkSession.builder.master("local[2]").appName("headwater-write-test")
         .config("spark.ui.enabled", "false").config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    yield s
    s.stop()


@pytest.mark.jvm
def test_rows_match_pyspark(spark, pyspark_session, tmp_path):
    pyspark_session.dataSource.register(wsources.WSource)
    sdf = pyspark_session.createDataFrame(type_rows(), TYPES_SCHEMA)
    sdf.write.format("wtest").mode("append").save(str(tmp_path))
    theirs = []
    for f in glob.glob(str(tmp_path / "part-*")):
        with open(f, "rb") as fh:
            theirs.extend(pickle.load(fh))
    theirs = sorted(theirs, key=lambda r: r[1][2][0])
    ours, row_types = headwater_written(spark)
    assert {t for t, _ in theirs} == row_types == {"Row"}
    assert [r for _, r in theirs] == ours
