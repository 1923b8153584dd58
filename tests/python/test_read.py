"""Batch reads through headwater's session: Spark's planning order, options, checks and errors, in
both in-process executor modes."""

import datetime as dt
import json
import threading
import warnings

import pyarrow as pa
import pytest

import headwater
from headwater import AnalysisException, PythonException
from headwater.datasource import CaseInsensitiveDict, DataSource, DataSourceReader, InputPartition
from headwater.types import IntegerType, Row, StringType, StructType

MODES = ["inline", "thread"]


@pytest.fixture
def spark():
    s = headwater.SparkSession.builder.create()
    yield s
    s.stop()


def use(spark, mode):
    spark.conf.set("headwater.executor.mode", mode)
    return spark


class Calls:
    """What the engine asked a source, in order."""

    log = []


class Recording(DataSource):
    @classmethod
    def name(cls):
        return "recording"

    def __init__(self, options):
        Calls.log.append(("init", dict(options)))
        super().__init__(options)

    def schema(self):
        Calls.log.append(("schema",))
        return "id INT, name STRING"

    def reader(self, schema):
        Calls.log.append(("reader", schema.simpleString(), type(schema).__name__))
        return RecordingReader(int(self.options.get("partitions", "2")))


class RecordingReader(DataSourceReader):
    def __init__(self, n):
        self.n = n

    def partitions(self):
        Calls.log.append(("partitions",))
        return [InputPartition(i) for i in range(self.n)]

    def read(self, partition):
        for i in range(3):
            yield (partition.value * 10 + i, f"p{partition.value}")


@pytest.mark.parametrize("mode", MODES)
def test_planning_order_and_rows(spark, mode):
    Calls.log = []
    use(spark, mode).dataSource.register(Recording)
    df = spark.read.format("RECORDING").option("Partitions", 3).load()
    assert Calls.log == [("init", {"partitions": "3"}), ("schema",)]
    rows = df.collect()
    assert Calls.log[2:] == [("reader", "struct<id:int,name:string>", "StructType"), ("partitions",)]
    assert rows == [Row(id=p * 10 + i, name=f"p{p}") for p in range(3) for i in range(3)]
    assert rows[0].name == "p0" and rows[0]["id"] == 0
    # each action re-runs the source
    assert df.count() == 9
    assert Calls.log.count(("partitions",)) == 2


def test_options_are_case_insensitive_strings_with_path_and_paths(spark):
    seen = {}

    class Opts(DataSource):
        def __init__(self, options):
            seen.update(options)
            seen["type"] = type(options)
            seen["lookup"] = options.get("MixedCase")

        def schema(self):
            return "a INT"

    spark.dataSource.register(Opts)
    spark.read.format("opts").option("MixedCase", True).options(n=1, f=1.5, none=None).load("/data/x")
    assert seen["type"] is CaseInsensitiveDict
    assert seen["lookup"] == "true"
    assert seen["n"] == "1" and seen["f"] == "1.5" and "none" not in seen  # PySpark 4.3 drops None options
    assert seen["path"] == "/data/x"
    seen.clear()
    spark.read.format("opts").load(["/a", "/b"])
    assert json.loads(seen["paths"]) == ["/a", "/b"]


def test_user_schema_replaces_schema_which_is_not_called(spark):
    Calls.log = []
    spark.dataSource.register(Recording)
    df = spark.read.format("recording").schema("name STRING, id INT").load()
    assert ("schema",) not in Calls.log
    assert df.columns == ["name", "id"]
    assert df.schema == StructType().add("name", StringType()).add("id", IntegerType())


def test_registering_again_replaces_with_a_warning(spark):
    class First(DataSource):
        @classmethod
        def name(cls):
            return "dup"

        def schema(self):
            return "a INT"

    class Second(First):
        def schema(self):
            return "b STRING"

    spark.dataSource.register(First)
    with pytest.warns(UserWarning, match="replaces"):
        spark.dataSource.register(Second)
    assert spark.read.format("Dup").load().columns == ["b"]


def test_unknown_format_is_data_source_not_found(spark):
    with pytest.raises(AnalysisException) as info:
        spark.read.format("no_such_source").load()
    assert info.value.getErrorClass() == "DATA_SOURCE_NOT_FOUND"  # what Spark 4.1 raises
    assert "Failed to find the data source: no_such_source." in str(info.value)


def test_missing_schema_is_not_implemented(spark):
    class NoSchema(DataSource):
        pass

    spark.dataSource.register(NoSchema)
    with pytest.raises(AnalysisException) as info:
        spark.read.format("NoSchema").load()
    assert info.value.getErrorClass() == "PYTHON_DATA_SOURCE_ERROR"
    assert "Failed to create Python data source instance:" in str(info.value)
    assert "[NOT_IMPLEMENTED] schema is not implemented." in str(info.value)


def test_non_struct_schema(spark):
    class Scalar(DataSource):
        def schema(self):
            return "int"

    spark.dataSource.register(Scalar)
    with pytest.raises(AnalysisException) as info:
        spark.read.format("Scalar").load()
    assert info.value.getErrorClass() == "INVALID_SCHEMA.NON_STRUCT_TYPE"


def source_with(reader_cls, schema="a INT"):
    class Src(DataSource):
        @classmethod
        def name(cls):
            return "src"

        def schema(self):
            return schema

        def reader(self, s):
            return reader_cls()

    return Src


def test_reader_of_the_wrong_type(spark):
    class NotAReader:
        pass

    spark.dataSource.register(source_with(NotAReader))
    with pytest.raises(AnalysisException) as info:
        spark.read.format("src").load().collect()
    assert info.value.getErrorClass() == "PYTHON_DATA_SOURCE_ERROR"  # Spark wraps the check
    assert "[DATA_SOURCE_TYPE_MISMATCH] Expected an instance of DataSourceReader, but got 'NotAReader'." in str(
        info.value
    )


@pytest.mark.parametrize(
    "partitions,expected",
    [((1, 2), "'partitions' to return a list"), ([1], "elements in 'partitions' to be of type 'InputPartition'")],
)
def test_partitions_of_the_wrong_type(spark, partitions, expected):
    class BadParts(DataSourceReader):
        def partitions(self):
            return partitions

        def read(self, p):
            yield (1,)

    spark.dataSource.register(source_with(BadParts))
    with pytest.raises(AnalysisException) as info:
        spark.read.format("src").load().collect()
    assert info.value.getErrorClass() == "PYTHON_DATA_SOURCE_ERROR"
    assert "Failed to generate Python data source read partitions: [DATA_SOURCE_TYPE_MISMATCH]" in str(info.value)
    assert expected in str(info.value)


@pytest.mark.parametrize("mode", MODES)
def test_empty_partition_list_and_default_mean_one_partition_none(spark, mode):
    got = []

    class Empty(DataSourceReader):
        def partitions(self):
            return []

        def read(self, p):
            got.append(p)
            yield (1,)

    class Default(DataSourceReader):
        def read(self, p):
            got.append(p)
            yield (2,)

    for reader in (Empty, Default):
        use(spark, mode).dataSource.register(source_with(reader))
        assert spark.read.format("src").load().collect() == [Row(a=1 if reader is Empty else 2)]
    # PySpark 4.3: one partition, InputPartition(None) (4.1 passed None)
    assert [type(p).__name__ for p in got] == ["InputPartition", "InputPartition"]
    assert [p.value for p in got] == [None, None]


@pytest.mark.parametrize("mode", MODES)
def test_read_returning_a_list_is_invalid_return_type(spark, mode):
    class ListReader(DataSourceReader):
        def read(self, p):
            return [(1,)]

    use(spark, mode).dataSource.register(source_with(ListReader))
    with pytest.raises(PythonException) as info:
        spark.read.format("src").load().collect()
    assert info.value.getErrorClass() == "DATA_SOURCE_INVALID_RETURN_TYPE"
    assert "('list')" in str(info.value) and "'src'" in str(info.value)


@pytest.mark.parametrize("mode", MODES)
def test_exception_in_read_carries_the_traceback_and_partition(spark, mode):
    class Boom(DataSourceReader):
        def partitions(self):
            return [InputPartition(i) for i in range(4)]

        def read(self, p):
            yield (1,)
            if p.value == 2:
                raise ValueError("kaboom in partition two")
            yield (2,)

    use(spark, mode).dataSource.register(source_with(Boom))
    with pytest.raises(PythonException) as info:
        spark.read.format("src").load().collect()
    e = info.value
    assert e.partition == 2
    assert "ValueError: kaboom in partition two" in str(e)
    assert "in read" in str(e)  # the user's frame is in the traceback
    assert isinstance(e.__cause__, ValueError)


@pytest.mark.parametrize("mode", MODES)
def test_conversion_error_names_partition_row_and_column(spark, mode):
    class BadValue(DataSourceReader):
        def partitions(self):
            return [InputPartition(0), InputPartition(1)]

        def read(self, p):
            for i in range(5):
                yield (i, "x" if (p.value, i) == (1, 3) else 1.5)

    use(spark, mode).dataSource.register(source_with(BadValue, "a INT, b DOUBLE"))
    with pytest.raises(PythonException) as info:
        spark.read.format("src").load().collect()
    assert (info.value.partition, info.value.row, info.value.column) == (1, 3, 1)
    assert "expected DOUBLE, got str 'x'" in str(info.value)


@pytest.mark.parametrize("mode", MODES)
def test_many_partitions_keep_their_order(spark, mode):
    class Many(DataSourceReader):
        def partitions(self):
            return [InputPartition(i) for i in range(50)]

        def read(self, p):
            n = (p.value * 37) % 11  # uneven sizes, some empty
            for i in range(n):
                yield (p.value * 100 + i,)

    use(spark, mode).dataSource.register(source_with(Many))
    got = [r.a for r in spark.read.format("src").load().collect()]
    assert got == [p * 100 + i for p in range(50) for i in range((p * 37) % 11)]


@pytest.mark.parametrize("mode", MODES)
def test_batches_close_at_max_records_and_never_span_partitions(spark, mode):
    class Two(DataSourceReader):
        def partitions(self):
            return [InputPartition(0), InputPartition(1)]

        def read(self, p):
            for i in range(25):
                yield (i,)

    use(spark, mode).conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", 10)
    spark.dataSource.register(source_with(Two))
    table = spark.read.format("src").load().toArrow()
    assert [len(c) for c in table.column(0).chunks] == [10, 10, 5, 10, 10, 5]


@pytest.mark.parametrize("mode", MODES)
def test_record_batches_pass_through_and_columns_in_another_order_are_refused(spark, mode):
    class Arrow(DataSourceReader):
        def read(self, p):
            yield pa.record_batch({"a": pa.array([1, 2], pa.int32()), "b": ["x", "y"]})
            yield pa.record_batch({"a": pa.array([3], pa.int32()), "b": ["z"]})

    use(spark, mode).dataSource.register(source_with(Arrow, "a INT, b STRING"))
    df = spark.read.format("src").load()
    assert df.collect() == [Row(a=1, b="x"), Row(a=2, b="y"), Row(a=3, b="z")]

    class Reordered(DataSourceReader):  # PySpark 4.3 compares the Arrow schema exactly
        def read(self, p):
            yield pa.record_batch({"b": ["x", "y"], "a": pa.array([1, 2], pa.int32())})

    spark.dataSource.register(source_with(Reordered, "a INT, b STRING"))
    with pytest.raises(PythonException) as info:
        spark.read.format("src").load().collect()
    assert info.value.getErrorClass() == "DATA_SOURCE_RETURN_SCHEMA_MISMATCH"
    assert "column 0 is 'b' STRING in the RecordBatch, but the schema declares 'a' INT" in str(info.value)


@pytest.mark.parametrize(
    "batch,message",
    [
        (pa.record_batch({"a": pa.array([1], pa.int32())}), "Expected: 2 columns, Found: 1 columns"),
        (
            pa.record_batch({"a": pa.array([1], pa.int32()), "c": ["x"]}),
            "Expected: ['a', 'b'] columns, Found: ['a', 'c'] columns",
        ),
        (
            pa.record_batch({"a": pa.array([1], pa.int64()), "b": ["x"]}),
            "column 0 is 'a' BIGINT in the RecordBatch, but the schema declares 'a' INT",
        ),
        (
            pa.record_batch({"a": pa.array([1], pa.int32()), "b": pa.array(["x"], pa.large_string())}),
            "column 1 is 'b' STRING in the RecordBatch, but the schema declares 'b' STRING (Arrow format 'U' where the "
            "schema's is 'u')",
        ),
        (
            pa.RecordBatch.from_arrays([pa.array([1], pa.int32()), pa.array(["x"])], schema=pa.schema(
                [pa.field("a", pa.int32(), nullable=False), pa.field("b", pa.string())])),
            "column 0 is 'a' INT NOT NULL in the RecordBatch, but the schema declares 'a' INT.",
        ),
    ],
)
def test_record_batch_that_does_not_match(spark, batch, message):
    class Arrow(DataSourceReader):
        def read(self, p):
            yield batch

    spark.dataSource.register(source_with(Arrow, "a INT, b STRING"))
    with pytest.raises(PythonException) as info:
        spark.read.format("src").load().collect()
    assert info.value.getErrorClass() == "DATA_SOURCE_RETURN_SCHEMA_MISMATCH"
    assert message in str(info.value)


def test_record_batch_data_is_not_copied(spark):
    big = pa.record_batch({"a": pa.array(range(1000), pa.int64())})

    class Arrow(DataSourceReader):
        def read(self, p):
            yield big

    spark.dataSource.register(source_with(Arrow, "a BIGINT"))
    out = spark.read.format("src").load().toArrow()
    assert out.column(0).chunks[0].buffers()[1].address == big.column(0).buffers()[1].address


def test_thread_mode_runs_partitions_on_several_threads(spark):
    seen = set()
    barrier = threading.Barrier(2, timeout=10)

    class Sleepy(DataSourceReader):
        def partitions(self):
            return [InputPartition(0), InputPartition(1)]

        def read(self, p):
            seen.add(threading.get_ident())
            barrier.wait()  # both partitions must be running at once
            yield (p.value,)

    use(spark, "thread").conf.set("headwater.executor.workers", 2)
    spark.dataSource.register(source_with(Sleepy))
    assert sorted(r.a for r in spark.read.format("src").load().collect()) == [0, 1]
    assert len(seen) == 2


def test_inline_mode_is_lazy(spark):
    produced = []

    class Endless(DataSourceReader):
        def read(self, p):
            i = 0
            while True:
                produced.append(i)
                yield (i,)
                i += 1

    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", 100)
    use(spark, "inline").dataSource.register(source_with(Endless, "a BIGINT"))
    reader = pa.RecordBatchReader.from_stream(spark.read.format("src").load())
    first = reader.read_next_batch()
    assert first.num_rows == 100 and len(produced) == 100  # first rows out before the source ends
    reader.close()


def test_abandoned_thread_scan_stops_its_workers(spark):
    class Endless(DataSourceReader):
        def partitions(self):
            return [InputPartition(i) for i in range(4)]

        def read(self, p):
            i = 0
            while True:
                yield (i,)
                i += 1

    before = threading.active_count()
    use(spark, "thread").dataSource.register(source_with(Endless, "a BIGINT"))
    reader = pa.RecordBatchReader.from_stream(spark.read.format("src").load())
    reader.read_next_batch()
    reader.close()
    del reader
    assert threading.active_count() == before


def test_pandas_polars_duckdb_take_a_dataframe(spark):
    import duckdb
    import polars as pl

    spark.dataSource.register(Recording)
    df = spark.read.format("recording").load()
    assert df.toPandas()["id"].tolist() == [0, 1, 2, 10, 11, 12]
    assert sorted(pl.DataFrame(df)["name"].to_list()) == ["p0"] * 3 + ["p1"] * 3
    assert duckdb.sql("select sum(id) from df").fetchone() == (36,)


def test_show_uses_sparks_layout(spark, capsys):
    spark.dataSource.register(Recording)
    spark.read.format("recording").load().show(2)
    assert capsys.readouterr().out == (
        "+---+----+\n"
        "| id|name|\n"
        "+---+----+\n"
        "|  0|  p0|\n"
        "|  1|  p0|\n"
        "+---+----+\n"
        "only showing top 2 rows\n"
    )


def test_timestamps_collect_as_naive_local_datetimes(spark):
    class Times(DataSourceReader):
        def read(self, p):
            yield (dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc), dt.datetime(2024, 1, 1, 12))

    spark.dataSource.register(source_with(Times, "t TIMESTAMP, n TIMESTAMP_NTZ"))
    (row,) = spark.read.format("src").load().collect()
    assert row.t == dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc).astimezone().replace(tzinfo=None)
    assert row.n == dt.datetime(2024, 1, 1, 12)


def test_collect_gives_pyspark_value_types_for_every_type(spark):
    from decimal import Decimal

    ddl = (
        "b BOOLEAN, i8 TINYINT, i64 BIGINT, f FLOAT, d DOUBLE, dec DECIMAL(10,3), s STRING, bin BINARY, "
        "dt DATE, ntz TIMESTAMP_NTZ, v VOID, arr ARRAY<INT>, m MAP<STRING, ARRAY<INT>>, "
        "st STRUCT<x: INT, y: STRUCT<z: STRING>>"
    )
    row = (
        True, -5, 2**40, 1.5, -2.25, Decimal("-12.345"), "héllo", b"\x00\x01", dt.date(2024, 2, 29),
        dt.datetime(1969, 7, 20, 20, 17, 40, 123456), None, [1, None, 3], {"k": [1, 2], "n": None},
        (7, ("deep",)),
    )

    class All(DataSourceReader):
        def read(self, p):
            yield row
            yield (None,) * 14

    spark.dataSource.register(source_with(All, ddl))
    got = spark.read.format("src").load().collect()
    assert got[0] == row
    assert type(got[0].bin) is bytes  # Spark 4: spark.sql.execution.pyspark.binaryAsBytes
    assert got[0].dec == Decimal("-12.345") and str(got[0].dec) == "-12.345"
    assert got[0].st.y.z == "deep" and got[0].st.x == 7
    assert got[0].m == {"k": [1, 2], "n": None}
    assert got[1] == (None,) * 14
    assert got[0].asDict()["i64"] == 2**40


def test_discovers_pyspark_packages_and_entry_points(tmp_path, monkeypatch):
    pkg = tmp_path / "pyspark_hwprobe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from headwater.datasource import DataSource, DataSourceReader\n"
        "class DefaultSource(DataSource):\n"
        "    @classmethod\n"
        "    def name(cls): return 'probe_pkg'\n"
        "    def schema(self): return 'a INT'\n"
        "    def reader(self, s): return R()\n"
        "class R(DataSourceReader):\n"
        "    def read(self, p): yield (41,)\n"
    )
    (tmp_path / "hw_ep_source.py").write_text(
        "from headwater.datasource import DataSource, DataSourceReader\n"
        "class EP(DataSource):\n"
        "    @classmethod\n"
        "    def name(cls): return 'probe_ep'\n"
        "    def schema(self): return 'b STRING'\n"
        "    def reader(self, s): return R()\n"
        "class R(DataSourceReader):\n"
        "    def read(self, p): yield ('ep',)\n"
    )
    dist = tmp_path / "hw_ep_source-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hw-ep-source\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[headwater.datasources]\nprobe_ep = hw_ep_source:EP\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spark = headwater.SparkSession.builder.create()
    assert spark.read.format("PROBE_PKG").load().collect() == [Row(a=41)]
    assert spark.read.format("probe_ep").load().collect() == [Row(b="ep")]


@pytest.mark.parametrize("mode", MODES)
def test_a_source_built_on_pyspark_classes_gets_pyspark_types(spark, mode):
    ps_ds = pytest.importorskip("pyspark.sql.datasource")
    ps_types = pytest.importorskip("pyspark.sql.types")
    seen = {}

    class SparkSource(ps_ds.DataSource):
        @classmethod
        def name(cls):
            return "sparkish"

        def schema(self):
            return ps_types.StructType(
                [ps_types.StructField("id", ps_types.LongType()), ps_types.StructField("s", ps_types.StringType())]
            )

        def reader(self, schema):
            seen["schema"] = schema
            seen["string_field"] = schema["s"].dataType == ps_types.StringType()
            seen["options"] = type(self.options)
            return SparkReader()

    class SparkReader(ps_ds.DataSourceReader):
        def partitions(self):
            return [ps_ds.InputPartition(i) for i in range(2)]

        def read(self, partition):
            yield ps_types.Row(s=f"p{partition.value}", id=partition.value)

    use(spark, mode).dataSource.register(SparkSource)
    rows = spark.read.format("sparkish").option("x", 1).load().collect()
    assert rows == [Row(id=0, s="p0"), Row(id=1, s="p1")]
    assert isinstance(seen["schema"], ps_types.StructType)
    assert seen["string_field"] is True
    assert seen["options"] is ps_ds.CaseInsensitiveDict


@pytest.mark.parametrize("mode", MODES)
def test_record_batch_with_repeated_column_names_keeps_each_column(spark, mode):
    """Found by fuzzing: each declared column takes its own batch column, never the first one twice."""

    class Repeated(DataSourceReader):
        def read(self, p):
            yield pa.RecordBatch.from_arrays([pa.array([1], pa.int32()), pa.array(["x"])], names=["a", "a"])

    use(spark, mode).dataSource.register(source_with(Repeated, "a INT, a STRING"))
    table = spark.read.format("src").load().toArrow()
    assert [c.to_pylist() for c in table.columns] == [[1], ["x"]]
