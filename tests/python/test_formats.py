"""The built-in file formats (parquet, csv, json, arrow) and noop: round trips of every type each
format holds, Spark's save modes, part files, several input paths, atomic writes (a failing write and
a write killed half-way leave the target unchanged and no temporary directory), and files exchanged
with real PySpark 4.1.1 in both directions (one JVM for the module)."""

from __future__ import annotations

import datetime
import decimal
import glob
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import headwater
from headwater.datasource import DataSource, DataSourceReader, InputPartition
from headwater.errors import AnalysisException, PythonException

HERE = os.path.dirname(os.path.abspath(__file__))

FULL_SCHEMA = (
    "id INT, b BOOLEAN, i8 TINYINT, i16 SMALLINT, l BIGINT, f FLOAT, d DOUBLE, s STRING, bin BINARY, "
    "dec DECIMAL(10,3), dt DATE, ts TIMESTAMP, ntz TIMESTAMP_NTZ, arr ARRAY<INT>, m MAP<STRING, INT>, "
    "st STRUCT<x: INT, y: STRUCT<z: STRING>>, arr_st ARRAY<STRUCT<q: DOUBLE>>, "
    "deep STRUCT<t: TIMESTAMP, b: BINARY, d: DOUBLE, l: ARRAY<TIMESTAMP_NTZ>, m: MAP<STRING, BINARY>>"
)


def full_rows():
    return [
        (1, True, 7, 300, 2**40, 1.25, 1.5, "héllo, \"wörld\"\n✓", b"\x00\x01\xff", decimal.Decimal("3.142"),
         datetime.date(2024, 2, 29), datetime.datetime(2024, 1, 2, 3, 4, 5, 678901),
         datetime.datetime(2001, 2, 3, 4, 5, 6, 120000), [1, None, 3], {"k": 1, "n": None}, (7, ("z",)),
         [(0.5,), None],
         (datetime.datetime(2020, 5, 6, 7, 8, 9, 1), b"\x00", float("nan"), [datetime.datetime(2000, 1, 1, 0, 0, 0, 5000)],
          {"k": b"\x01\x02"})),
        (2,) + (None,) * 17,
        (3, False, -128, -32768, -(2**63), -0.0, float("inf"), "", b"", decimal.Decimal("-0.001"),
         datetime.date(1970, 1, 1), datetime.datetime(1970, 1, 1), datetime.datetime(9999, 12, 31, 23, 59, 59),
         [], {}, (None, None), [], (None, None, None, [], {})),
        (4, True, 127, 32767, 2**63 - 1, 3.5, float("nan"), "plain", b"x", decimal.Decimal("9999999.999"),
         datetime.date(1, 1, 1), datetime.datetime(2262, 4, 11, 23, 47, 16, 854775),
         datetime.datetime(1900, 1, 1), [None], {"a": 2}, (1, None), [(None,)],
         (datetime.datetime(1970, 1, 1), b"", float("-inf"), [None], {"n": None})),
    ]


# CSV holds no nested types and no binary (see test_csv_refuses_nested_types)
FLAT_SCHEMA = ("id INT, b BOOLEAN, i8 TINYINT, i16 SMALLINT, l BIGINT, f FLOAT, d DOUBLE, s STRING, dec DECIMAL(10,3), "
               "dt DATE, ts TIMESTAMP, ntz TIMESTAMP_NTZ")


def flat_rows(newlines=True):
    """The rows of full_rows() without their binary and nested columns. Spark reads CSV line by
    line unless multiLine is set: for it, the string has no newline (``newlines=False``)."""
    keep = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12]
    rows = [tuple(r[i] for i in keep) for r in full_rows()]
    if not newlines:
        rows = [tuple(x.replace("\n", " ") if isinstance(x, str) else x for x in r) for r in rows]
    return rows


def norm(rows):
    """Rows as plain, comparable values (NaN made comparable), in a fixed order."""
    def v(x):
        if isinstance(x, float) and x != x:
            return "NaN"
        if isinstance(x, tuple):
            return tuple(v(y) for y in x)
        if isinstance(x, list):
            return [v(y) for y in x]
        if isinstance(x, dict):
            return sorted((k, v(y)) for k, y in x.items())
        if isinstance(x, bytearray):
            return bytes(x)
        return x

    return sorted((tuple(v(x) for x in r) for r in rows), key=repr)


@pytest.fixture
def spark():
    s = headwater.session()
    s.conf.set("headwater.executor.workers", 2)
    yield s
    s.conf.unset("headwater.executor.workers")


def parts(path):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(path, "part-*")))


def leftovers(parent):
    """Hidden temporary directories of writes next to a target."""
    return sorted(n for n in os.listdir(parent) if ".hw-" in n)


# ---- round trips


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "json"])
def test_round_trip_every_type(spark, tmp_path, fmt):
    df = spark.createDataFrame(full_rows(), FULL_SCHEMA)
    out = str(tmp_path / "t")
    df.write.format(fmt).save(out)
    reader = spark.read.format(fmt)
    if fmt == "json":  # JSON infers no binary, dates, timestamps or maps: Spark's rule too
        reader = reader.schema(FULL_SCHEMA)
    back = reader.load(out)
    assert back.schema.simpleString() == df.schema.simpleString()
    assert norm(back.collect()) == norm(df.collect())


def test_csv_round_trip_flat_types(spark, tmp_path):
    df = spark.createDataFrame(flat_rows(), FLAT_SCHEMA)
    out = str(tmp_path / "t")
    df.write.format("csv").save(out)
    back = spark.read.format("csv").schema(FLAT_SCHEMA).load(out)
    expected = norm(df.collect())
    # as Spark: an empty string is written "" and read back as null (nullValue is the empty string)
    expected = [tuple(None if x == "" else x for x in r) for r in expected]
    assert norm(back.collect()) == expected


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "csv", "json"])
def test_empty_dataframe_keeps_schema(spark, tmp_path, fmt):
    schema = "a INT, s STRING, ts TIMESTAMP"
    out = str(tmp_path / "e")
    spark.createDataFrame([], schema).write.format(fmt).option("header", True).save(out)
    assert len(parts(out)) == 1 and os.path.exists(os.path.join(out, "_SUCCESS"))
    reader = spark.read.format(fmt).option("header", True)
    if fmt in ("csv", "json"):
        reader = reader.schema(schema)
    back = reader.load(out)
    assert back.count() == 0 and back.columns == ["a", "s", "ts"]
    assert back.schema.simpleString() == "struct<a:int,s:string,ts:timestamp>"


def test_text_forms_as_spark_writes_them(spark, tmp_path):
    """The text of CSV and JSON values, as PySpark 4.1.1 writes them (session time zone UTC):
    docs/spark-write-semantics.md. headwater keeps microseconds where Spark drops them."""
    rows = [(datetime.datetime(2024, 1, 2, 3, 4, 5, 678000), datetime.datetime(2001, 2, 3, 4, 5, 6, 120000),
             datetime.date(2024, 2, 29), decimal.Decimal("3.142"), float("nan"), float("inf"), 'a, "b"', "", None),
            (datetime.datetime(2024, 1, 2, 3, 4, 5, 678901), datetime.datetime(1970, 1, 1), datetime.date(1970, 1, 1),
             decimal.Decimal("-0.001"), -float("inf"), 1.5, "x", "y", "z")]
    schema = "ts TIMESTAMP, ntz TIMESTAMP_NTZ, dt DATE, dec DECIMAL(10,3), d DOUBLE, e DOUBLE, s STRING, t STRING, u STRING"
    df = spark.createDataFrame(rows, schema).repartition(1)
    df.write.format("csv").save(str(tmp_path / "c"))
    (f,) = parts(str(tmp_path / "c"))
    assert open(tmp_path / "c" / f, encoding="utf-8").read() == (
        '2024-01-02T03:04:05.678Z,2001-02-03T04:05:06.120,2024-02-29,3.142,NaN,Infinity,"a, \\"b\\"","",\n'
        "2024-01-02T03:04:05.678901Z,1970-01-01T00:00:00.000,1970-01-01,-0.001,-Infinity,1.5,x,y,z\n"
    )
    df.write.format("json").save(str(tmp_path / "j"))
    (f,) = parts(str(tmp_path / "j"))
    first, second = open(tmp_path / "j" / f, encoding="utf-8").read().splitlines()
    assert first == ('{"ts":"2024-01-02T03:04:05.678Z","ntz":"2001-02-03T04:05:06.120","dt":"2024-02-29","dec":3.142,'
                     '"d":"NaN","e":"Infinity","s":"a, \\"b\\"","t":"","u":null}')
    assert second.startswith('{"ts":"2024-01-02T03:04:05.678901Z","ntz":"1970-01-01T00:00:00.000"')


# ---- schemas inferred as Spark infers them


def test_csv_without_header_is_strings_named_c(spark, tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("1,x,2024-01-02\n2,,2024-01-03\n")
    df = spark.read.format("csv").load(str(p))
    assert df.schema.simpleString() == "struct<_c0:string,_c1:string,_c2:string>"
    assert [tuple(r) for r in df.collect()] == [("1", "x", "2024-01-02"), ("2", None, "2024-01-03")]


def test_csv_header_and_infer_schema(spark, tmp_path):
    # the file and the expected schema and rows are what PySpark 4.1.1 gave for the same text
    p = tmp_path / "h.csv"
    p.write_text('a,b,c,d,e,f,g,h\n1,x,2024-01-02,2024-01-02T03:04:05.123Z,1.5,true,"",7\n'
                 "3000000000,,2024-01-03,2024-01-02 03:04:05,2,false,,8\n")
    df = spark.read.format("csv").option("header", "true").option("inferSchema", True).load(str(p))
    assert df.schema.simpleString() == "struct<a:bigint,b:string,c:date,d:timestamp,e:double,f:boolean,g:string,h:int>"
    assert [tuple(r) for r in df.collect()] == [
        (1, "x", datetime.date(2024, 1, 2), datetime.datetime(2024, 1, 2, 3, 4, 5, 123000), 1.5, True, None, 7),
        (3000000000, None, datetime.date(2024, 1, 3), datetime.datetime(2024, 1, 2, 3, 4, 5), 2.0, False, None, 8),
    ]
    strings = spark.read.format("csv").option("header", "true").load(str(p))
    assert strings.columns == list("abcdefgh") and strings.collect()[1].a == "3000000000"


def test_csv_options_sep_null_value_header(spark, tmp_path):
    df = spark.createDataFrame([(1, None, "a;b"), (2, "q", None)], "id INT, s STRING, t STRING")
    out = str(tmp_path / "o")
    df.write.format("csv").option("sep", ";").option("nullValue", "NA").option("header", True).save(out)
    text = "".join(open(os.path.join(out, f), encoding="utf-8").read() for f in parts(out))
    assert text.splitlines()[0] == "id;s;t" and "1;NA;\"a;b\"" in text
    back = spark.read.format("csv").options(delimiter=";", nullValue="NA", header=True, inferSchema=True).load(out)
    assert back.schema.simpleString() == "struct<id:int,s:string,t:string>"
    assert sorted(tuple(r) for r in back.collect()) == [(1, None, "a;b"), (2, "q", None)]


def test_csv_refuses_nested_types(spark, tmp_path):
    for ddl, shown in [("a ARRAY<INT>", "ARRAY<INT>"), ("a MAP<STRING, INT>", "MAP<STRING, INT>"),
                       ("a STRUCT<x: INT>", "STRUCT<x: INT>")]:
        df = spark.createDataFrame([], ddl)
        with pytest.raises(AnalysisException) as e:
            df.write.format("csv").save(str(tmp_path / "n"))
        assert e.value.error_class == "UNSUPPORTED_DATA_TYPE_FOR_DATASOURCE"
        assert str(e.value) == (f"[UNSUPPORTED_DATA_TYPE_FOR_DATASOURCE] The CSV datasource doesn't support the column "
                                f'`a` of the type "{shown}".')
    assert not os.path.exists(tmp_path / "n") and leftovers(str(tmp_path)) == []


def test_json_inferred_fields_sorted_by_name(spark, tmp_path):
    p = tmp_path / "a.json"
    p.write_text('{"z": 1, "a": "2024-01-02", "m": {"y": 1, "b": [1, 2]}, "n": null}\n'
                 '{"z": -5, "a": "x", "m": {"y": 2.5}, "q": true}\n')
    df = spark.read.format("json").load(str(p))
    assert df.schema.simpleString() == "struct<a:string,m:struct<b:array<bigint>,y:double>,n:string,q:boolean,z:bigint>"
    assert [tuple(r) for r in df.collect()] == [
        ("2024-01-02", (([1, 2]), 1.0), None, None, 1), ("x", (None, 2.5), None, True, -5)]


# ---- save modes


def write_ids(spark, ids, path, fmt="parquet", mode=None, n=1):
    w = spark.createDataFrame([(i,) for i in ids], "id BIGINT").repartition(n).write.format(fmt)
    if mode is not None:
        w = w.mode(mode)
    w.save(path)


def read_ids(spark, path, fmt="parquet"):
    reader = spark.read.format(fmt)
    if fmt in ("csv", "json"):
        reader = reader.schema("id BIGINT")
    return sorted(r.id for r in reader.load(path).collect())


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "csv", "json"])
def test_save_modes(spark, tmp_path, fmt):
    out = str(tmp_path / "t")
    write_ids(spark, [1, 2], out, fmt)  # the default mode (errorifexists) writes a new path
    first = parts(out)
    for mode in (None, "error", "errorifexists", "default", "ErrorIfExists"):
        with pytest.raises(AnalysisException) as e:
            write_ids(spark, [9], out, fmt, mode)
        assert e.value.error_class == "PATH_ALREADY_EXISTS"
        assert str(e.value) == (f"[PATH_ALREADY_EXISTS] Path file:{out} already exists. Set mode as \"overwrite\" "
                                "to overwrite the existing path.")
    write_ids(spark, [9], out, fmt, "ignore")
    assert parts(out) == first and read_ids(spark, out, fmt) == [1, 2]
    write_ids(spark, [3, 4, 5], out, fmt, "append", n=2)
    assert len(parts(out)) == 3 and set(first) < set(parts(out))
    assert read_ids(spark, out, fmt) == [1, 2, 3, 4, 5]
    write_ids(spark, [7, 8], out, fmt, "overwrite", n=2)
    assert read_ids(spark, out, fmt) == [7, 8] and len(parts(out)) == 2 and not set(first) & set(parts(out))
    write_ids(spark, [6], str(tmp_path / "new"), fmt, "ignore")  # ignore / append on a new path: written
    write_ids(spark, [5], str(tmp_path / "new2"), fmt, "append")
    assert read_ids(spark, str(tmp_path / "new"), fmt) == [6] and read_ids(spark, str(tmp_path / "new2"), fmt) == [5]
    assert leftovers(str(tmp_path)) == []


def test_user_sources_still_refuse_error_and_ignore(spark, tmp_path):
    sys.path.insert(0, HERE)
    import wsources

    spark.dataSource.register(wsources.WSource)
    for mode, shown in [("ignore", "Ignore"), ("error", "ErrorIfExists")]:
        with pytest.raises(AnalysisException) as e:
            spark.createDataFrame([(1,)], "id INT").write.format("wtest").mode(mode).save()
        assert e.value.error_class == "UNSUPPORTED_DATA_SOURCE_SAVE_MODE" and f'"{shown}" mode' in str(e.value)


def test_a_source_can_opt_into_ignore_and_errorifexists(spark):
    from headwater.datasource import DataSource, DataSourceWriter, WriterCommitMessage

    seen = []

    class W(DataSourceWriter):
        def write(self, iterator):
            seen.extend(r.id for r in iterator)
            return WriterCommitMessage()

    class Keyed(DataSource):
        supportedSaveModes = ("append", "ignore", "errorifexists")

        @classmethod
        def name(cls):
            return "keyed"

        def checkSaveMode(self, mode):
            if self.options["key"] != "taken":
                return True
            if mode == "ignore":
                return False
            raise AnalysisException("key taken", "TABLE_OR_VIEW_ALREADY_EXISTS")

        def writer(self, schema, overwrite):
            return W()

    spark.dataSource.register(Keyed)
    df = spark.createDataFrame([(1,)], "id INT")
    df.write.format("keyed").mode("ignore").option("key", "taken").save()
    assert seen == []
    df.write.format("keyed").option("key", "free").save()  # default mode: errorifexists
    assert seen == [1]
    with pytest.raises(AnalysisException, match="key taken"):
        df.write.format("keyed").option("key", "taken").save()
    with pytest.raises(AnalysisException) as e:
        df.write.format("keyed").mode("overwrite").option("key", "free").save()
    assert e.value.error_class == "UNSUPPORTED_DATA_SOURCE_SAVE_MODE"


def test_noop_consumes_everything(spark):
    from headwater.formats.noop import _NoopWriter

    consumed = []
    original = _NoopWriter.write

    def counting(self, iterator):
        def counted():
            for b in iterator:
                consumed.append(b.num_rows)
                yield b
        return original(self, counted())

    _NoopWriter.write = counting
    spark.conf.set("headwater.executor.mode", "thread")  # the patched writer is seen in this process only
    try:
        df = spark.createDataFrame([(i,) for i in range(1000)], "id INT").repartition(3)
        for mode in ("append", "overwrite"):
            consumed.clear()
            df.write.format("noop").mode(mode).save()
            assert sum(consumed) == 1000
        for mode in (None, "error", "ignore"):  # as PySpark 4.1.1's noop
            w = df.write.format("noop")
            with pytest.raises(AnalysisException) as e:
                (w.mode(mode) if mode else w).save()
            assert e.value.error_class == "UNSUPPORTED_DATA_SOURCE_SAVE_MODE"
    finally:
        _NoopWriter.write = original
        spark.conf.unset("headwater.executor.mode")


def test_builtin_names_cannot_be_registered_but_resolve(spark):
    from headwater.datasource import DataSource

    class Fake(DataSource):
        @classmethod
        def name(cls):
            return "Parquet"

    with pytest.raises(AnalysisException) as e:
        spark.dataSource.register(Fake)
    assert e.value.error_class == "DATA_SOURCE_ALREADY_EXISTS"
    assert spark._registry.lookup("PARQUET").__name__ == "Parquet"


# ---- partitions, paths


@pytest.mark.parametrize("fmt", ["parquet", "arrow", "csv", "json"])
def test_partitions_make_part_files(spark, tmp_path, fmt):
    out = str(tmp_path / "p")
    write_ids(spark, range(100), out, fmt, n=4)
    names = parts(out)
    assert len(names) == 4 and sorted(os.listdir(out)) == ["_SUCCESS"] + names
    job = names[0].split("-", 2)[2]  # part-NNNNN-<uuid>-c000.<ext>: one uuid per write
    assert [n[:10] for n in names] == [f"part-{i:05d}" for i in range(4)] and all(n.endswith(job) for n in names)
    ext = {"parquet": ".snappy.parquet", "arrow": ".arrow", "csv": ".csv", "json": ".json"}[fmt]
    assert all(n.endswith("-c000" + ext) for n in names)
    df = spark.read.format(fmt).schema("id BIGINT").load(out) if fmt in ("csv", "json") else spark.read.format(fmt).load(out)
    df._plan.make_reader()
    assert len(df._plan.make_partitions(df._plan.make_reader())) == 4  # one read partition per file
    assert sorted(r.id for r in df.collect()) == list(range(100))
    for mode in ("thread", "process", "inline"):
        spark.conf.set("headwater.executor.mode", mode)
        try:
            assert df.count() == 100
        finally:
            spark.conf.unset("headwater.executor.mode")


def test_read_several_paths_and_globs(spark, tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    write_ids(spark, [1, 2], a)
    write_ids(spark, [3], b)
    single = glob.glob(os.path.join(b, "part-*"))[0]
    assert sorted(r.id for r in spark.read.format("parquet").load([a, b]).collect()) == [1, 2, 3]
    assert sorted(r.id for r in spark.read.format("parquet").load([a, single]).collect()) == [1, 2, 3]
    assert sorted(r.id for r in spark.read.format("parquet").load(str(tmp_path / "*")).collect()) == [1, 2, 3]
    with pytest.raises(AnalysisException) as e:
        spark.read.format("parquet").load([a, str(tmp_path / "nope")])
    assert str(e.value) == f"[PATH_NOT_FOUND] Path does not exist: file:{tmp_path / 'nope'}."
    os.mkdir(tmp_path / "empty")
    with pytest.raises(AnalysisException) as e:
        spark.read.format("json").load(str(tmp_path / "empty"))
    assert str(e.value) == "[UNABLE_TO_INFER_SCHEMA] Unable to infer schema for JSON. It must be specified manually."
    assert spark.read.format("json").schema("id INT").load(str(tmp_path / "empty")).count() == 0


def test_reads_files_written_by_other_tools(spark, tmp_path):
    """Parquet from pyarrow with types Spark lacks (nanoseconds, large strings, unsigned, zoned)
    is read as the nearest Spark types, as createDataFrame maps them."""
    t = pa.table({"ns": pa.array([1_000_001_000], pa.timestamp("ns", "Europe/Paris")),
                  "ls": pa.array(["x"], pa.large_string()), "u": pa.array([7], pa.uint32())})
    pq.write_table(t, tmp_path / "x.parquet")
    df = spark.read.format("parquet").load(str(tmp_path / "x.parquet"))
    assert df.schema.simpleString() == "struct<ns:timestamp,ls:string,u:bigint>"
    assert df.toArrow().column("ns").to_pylist()[0] == datetime.datetime(1970, 1, 1, 0, 0, 1, 1, tzinfo=datetime.timezone.utc)


# ---- atomic writes


class _FlakyReader(DataSourceReader):
    def partitions(self):
        return [InputPartition(i) for i in range(3)]

    def read(self, p):
        yield (p.value,)
        if p.value == 2:
            raise RuntimeError("partition 2 broke")


class Flaky(DataSource):
    @classmethod
    def name(cls):
        return "flaky"

    def schema(self):
        return "id BIGINT"

    def reader(self, schema):
        return _FlakyReader()


def failing_df(spark):
    """Three partitions; the third raises after its first row."""
    spark.dataSource.register(Flaky)
    return spark.read.format("flaky").load()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_failed_write_leaves_target_unchanged(spark, tmp_path, fmt):
    out = str(tmp_path / "t")
    with pytest.raises(PythonException, match="partition 2 broke"):
        failing_df(spark).write.format(fmt).save(out)
    assert os.listdir(tmp_path) == []  # no target, no temporary directory
    write_ids(spark, [1, 2], out, fmt)
    before = {n: open(os.path.join(out, n), "rb").read() for n in os.listdir(out)}
    for mode in ("overwrite", "append"):
        with pytest.raises(PythonException, match="partition 2 broke"):
            failing_df(spark).write.format(fmt).mode(mode).save(out)
        assert {n: open(os.path.join(out, n), "rb").read() for n in os.listdir(out)} == before
    assert sorted(os.listdir(tmp_path)) == ["t"]


SLOW_WRITER = textwrap.dedent("""
    import sys, time
    import headwater
    from headwater.datasource import DataSource, DataSourceReader, InputPartition

    class R(DataSourceReader):
        def partitions(self):
            return [InputPartition(i) for i in range(2)]
        def read(self, p):
            yield (p.value,)
            if p.value == 1:
                time.sleep(600)  # partition 1 never finishes: the test kills the process

    class Slow(DataSource):
        @classmethod
        def name(cls):
            return "slow"
        def schema(self):
            return "id BIGINT"
        def reader(self, schema):
            return R()

    spark = headwater.session()
    spark.conf.set("headwater.executor.workers", 2)
    spark.dataSource.register(Slow)
    spark.read.format("slow").load().write.format(sys.argv[2]).mode("overwrite").save(sys.argv[1])
""")


@pytest.mark.parametrize("fmt", ["parquet", "json"])
def test_write_killed_half_way(spark, tmp_path, fmt):
    out = str(tmp_path / "t")
    write_ids(spark, [1, 2], out, fmt)
    before = sorted(os.listdir(out))
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, out, fmt])
    try:
        deadline = time.monotonic() + 60
        written = []
        while not written and proc.poll() is None and time.monotonic() < deadline:
            written = glob.glob(os.path.join(str(tmp_path), ".t.hw-tmp-*", "part-*"))
            time.sleep(0.05)
        assert written, "the slow write never produced its first part file"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # the target is untouched; the killed write's directory is hidden and not read
    assert sorted(os.listdir(out)) == before and read_ids(spark, out, fmt) == [1, 2]
    assert len(leftovers(str(tmp_path))) == 1
    assert read_ids(spark, str(tmp_path), fmt) == [1, 2]  # the parent too: hidden directories are skipped
    write_ids(spark, [5], out, fmt, "append")  # a later write works and removes the dead writer's directory
    assert read_ids(spark, out, fmt) == [1, 2, 5] and leftovers(str(tmp_path)) == []


# ---- against real PySpark


@pytest.fixture(scope="module")
def pyspark_session():
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    s = (SparkSession.builder.master("local[2]").appName("headwater-formats-test")
         .config("spark.ui.enabled", "false").config("spark.driver.bindAddress", "127.0.0.1")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    s.sparkContext.setLogLevel("OFF")
    yield s
    s.stop()


@pytest.mark.jvm
def test_pyspark_reads_what_headwater_writes(spark, pyspark_session, tmp_path):
    ps = pyspark_session
    full = spark.createDataFrame(full_rows(), FULL_SCHEMA)
    flat = spark.createDataFrame(flat_rows(newlines=False), FLAT_SCHEMA)
    full.repartition(2).write.format("parquet").save(str(tmp_path / "pq"))
    full.repartition(2).write.format("json").save(str(tmp_path / "js"))
    flat.repartition(2).write.format("csv").option("header", True).save(str(tmp_path / "csv"))
    flat.write.format("csv").option("compression", "gzip").save(str(tmp_path / "gz"))
    theirs = ps.read.format("csv").schema(FLAT_SCHEMA).load(str(tmp_path / "gz"))
    assert norm(theirs.collect()) == norm(spark.read.format("csv").schema(FLAT_SCHEMA).load(str(tmp_path / "gz")).collect())
    theirs = ps.read.format("parquet").load(str(tmp_path / "pq"))
    assert theirs.schema.simpleString() == full.schema.simpleString()
    assert norm(theirs.collect()) == norm(full.collect())
    theirs = ps.read.format("json").schema(FULL_SCHEMA).load(str(tmp_path / "js"))
    assert norm(theirs.collect()) == norm(full.collect())
    theirs = ps.read.format("csv").schema(FLAT_SCHEMA).option("header", True).load(str(tmp_path / "csv"))
    assert norm(theirs.collect()) == norm(spark.read.format("csv").schema(FLAT_SCHEMA).option("header", True)
                                          .load(str(tmp_path / "csv")).collect())
    # schemas inferred from the same files agree
    for fmt, opts in [("json", {}), ("csv", {"header": "true", "inferSchema": "true"}), ("csv", {})]:
        path = str(tmp_path / ("js" if fmt == "json" else "csv"))
        ours = spark.read.format(fmt).options(**opts).load(path)
        theirs = ps.read.format(fmt).options(**opts).load(path)
        assert ours.schema.simpleString() == theirs.schema.simpleString(), (fmt, opts)
        assert norm(ours.collect()) == norm(theirs.collect())


@pytest.mark.jvm
def test_headwater_reads_what_pyspark_writes(spark, pyspark_session, tmp_path):
    ps = pyspark_session
    full = ps.createDataFrame(full_rows(), FULL_SCHEMA).repartition(2)
    flat = ps.createDataFrame(flat_rows(newlines=False), FLAT_SCHEMA).repartition(2)
    full.write.format("parquet").save(str(tmp_path / "pq"))  # TIMESTAMP as INT96, Spark's default
    full.write.format("json").save(str(tmp_path / "js"))
    flat.write.format("csv").save(str(tmp_path / "csv"))
    flat.write.format("csv").option("header", True).save(str(tmp_path / "csvh"))
    ours = spark.read.format("parquet").load(str(tmp_path / "pq"))
    assert ours.schema.simpleString() == full.schema.simpleString()
    assert norm(ours.collect()) == norm(full.collect())
    for path, opts in [("js", {}), ("csv", {}), ("csvh", {"header": "true"}), ("csvh", {"header": "true", "inferSchema": "true"})]:
        fmt = "json" if path == "js" else "csv"
        ours = spark.read.format(fmt).options(**opts).load(str(tmp_path / path))
        theirs = ps.read.format(fmt).options(**opts).load(str(tmp_path / path))
        assert ours.schema.simpleString() == theirs.schema.simpleString(), (path, opts)
        assert norm(ours.collect()) == norm(theirs.collect()), (path, opts)
        schema = FULL_SCHEMA if fmt == "json" else FLAT_SCHEMA
        ours = spark.read.format(fmt).options(**opts).schema(schema).load(str(tmp_path / path))
        theirs = ps.read.format(fmt).options(**opts).schema(schema).load(str(tmp_path / path))
        assert norm(ours.collect()) == norm(theirs.collect()), (path, opts, "schema")


def test_shortcuts(spark, tmp_path):
    df = spark.createDataFrame([(1, "a"), (2, None)], "id INT, s STRING")
    df.write.parquet(str(tmp_path / "p"))
    df.write.csv(str(tmp_path / "c"), header=True, sep="|", nullValue=None)
    df.write.json(str(tmp_path / "j"), mode="overwrite")
    assert sorted(spark.read.parquet(str(tmp_path / "p")).collect()) == [(1, "a"), (2, None)]
    assert sorted(spark.read.csv(str(tmp_path / "c"), header=True, sep="|", inferSchema=True).collect()) == [(1, "a"), (2, None)]
    assert sorted(spark.read.json(str(tmp_path / "j"), schema="id INT, s STRING").collect()) == [(1, "a"), (2, None)]


def test_overwrite_the_path_being_read(spark, tmp_path):
    """The new files are written aside and swapped in at commit, after the read finished: a
    DataFrame read from a path can overwrite that path."""
    out = str(tmp_path / "t")
    write_ids(spark, [1, 2, 3], out, n=2)
    spark.read.format("parquet").load(out).write.format("parquet").mode("overwrite").save(out)
    assert read_ids(spark, out) == [1, 2, 3] and leftovers(str(tmp_path)) == []


def test_writer_pickles_for_worker_processes(spark, tmp_path):
    """A file writer and its commit messages survive pickling (process-mode writes ship them):
    partitions written through copies in other processes commit as one write."""
    import pickle
    from multiprocessing import get_context

    from headwater.datasource import CaseInsensitiveDict
    from headwater.formats.parquet import Parquet
    from headwater.types import StructType

    out = str(tmp_path / "t")
    source = Parquet(CaseInsensitiveDict({"path": out}))
    writer = source.writer(StructType.fromDDL("id BIGINT"), False)
    blob = pickle.dumps(writer)
    with get_context("spawn").Pool(2) as pool:
        messages = pool.starmap(_write_in_child, [(blob, [1, 2]), (blob, [3])])
    writer.commit(messages)
    assert read_ids(spark, out) == [1, 2, 3] and len(parts(out)) == 2


def _write_in_child(blob, ids):
    import pickle

    import pyarrow as pa

    writer = pickle.loads(blob)
    batch = pa.record_batch({"id": pa.array(ids, pa.int64())})
    return pickle.loads(pickle.dumps(writer.write(iter([batch]))))


@pytest.mark.parametrize("fmt, codec, suffix", [("csv", "gzip", ".csv.gz"), ("json", "zstd", ".json.zst"),
                                                ("parquet", "zstd", ".zstd.parquet"), ("parquet", "none", "0.parquet")])
def test_compression(spark, tmp_path, fmt, codec, suffix):
    out = str(tmp_path / "t")
    spark.createDataFrame([(i,) for i in range(50)], "id BIGINT").write.format(fmt).option("compression", codec).save(out)
    assert [n.endswith(suffix) for n in parts(out)] == [True, True]
    assert read_ids(spark, out, fmt) == list(range(50))
    with pytest.raises(Exception) as e:
        spark.createDataFrame([(1,)], "id BIGINT").write.format(fmt).option("compression", "bogus").save(str(tmp_path / "b"))
    assert getattr(e.value, "error_class", None) == "CODEC_NOT_AVAILABLE"
    assert not os.path.exists(tmp_path / "b") and leftovers(str(tmp_path)) == []


def test_json_nested_values_in_spark_text_forms(spark, tmp_path):
    df = spark.createDataFrame(full_rows()[:1], FULL_SCHEMA)
    df.write.format("json").save(str(tmp_path / "j"))
    (f,) = parts(str(tmp_path / "j"))
    line = open(tmp_path / "j" / f, encoding="utf-8").read()
    assert line.endswith(',"deep":{"t":"2020-05-06T07:08:09.000001Z","b":"AA==","d":"NaN",'
                         '"l":["2000-01-01T00:00:00.005"],"m":{"k":"AQI="}}}\n')
    assert '"bin":"AAH/"' in line and '"arr_st":[{"q":0.5},null]' in line


def test_overwrite_replaces_a_file_target(spark, tmp_path):
    out = tmp_path / "t"
    out.write_text("not a directory")
    with pytest.raises(AnalysisException) as e:
        write_ids(spark, [1], str(out), "csv", "append")
    assert e.value.error_class == "PATH_ALREADY_EXISTS" and out.read_text() == "not a directory"
    write_ids(spark, [1, 2], str(out), "csv", "overwrite")
    assert read_ids(spark, str(out), "csv") == [1, 2] and sorted(os.listdir(tmp_path)) == ["t"]


def test_no_path(spark):
    from headwater.errors import IllegalArgumentException

    with pytest.raises(IllegalArgumentException) as e:
        spark.createDataFrame([(1,)], "id INT").write.format("parquet").save()
    assert str(e.value) == "[_LEGACY_ERROR_TEMP_2047] 'path' is not specified."
    with pytest.raises(AnalysisException) as e:
        spark.read.format("parquet").load()
    assert e.value.error_class == "UNABLE_TO_INFER_SCHEMA"
