"""Issue 12, finding 11: schema text and schema objects headwater cannot use are refused up front,
as a ParseException with the position, never truncated, never a UnicodeEncodeError, never a
schema that pyarrow or our own renderers refuse later.

The nesting limit has one home (HW_MAX_NESTING in src/schema/field.h) and counts as Arrow does:
the top-level struct is level 0, each ARRAY and STRUCT one level, a MAP two (the map and its
entries struct); every node must sit below level 64. That is pyarrow's own import limit, which
test_pyarrow_limit_is_ours checks."""

from __future__ import annotations

import gc
import json

import pyarrow as pa
import pytest

import headwater
from headwater import types as T
from headwater.datasource import DataSource, DataSourceReader, InputPartition
from headwater.errors import AnalysisException, ParseException
from headwater.schema import parse_schema, to_struct_type

MODES = ["inline", "thread", "process"]

#: The most levels of each container a top-level column can nest (HW_MAX_NESTING = 64).
LIMITS = {"array": 62, "struct": 62, "map": 31}
OPEN = {"array": "array<", "struct": "struct<a:", "map": "map<int,"}


def ddl(kind: str, n: int) -> str:
    return "a " + OPEN[kind] * n + "int" + ">" * n


def pa_type(kind: str, n: int) -> pa.DataType:
    t = pa.int32()
    for _ in range(n):
        t = pa.list_(t) if kind == "array" else pa.map_(pa.int32(), t) if kind == "map" else pa.struct([("a", t)])
    return t


def struct_type(kind: str, n: int, mod=T):
    t = mod.IntegerType()
    for _ in range(n):
        t = (mod.ArrayType(t) if kind == "array" else mod.MapType(mod.IntegerType(), t) if kind == "map"
             else mod.StructType([mod.StructField("a", t)]))
    return mod.StructType([mod.StructField("a", t)])


class _Holder:
    def __init__(self, schema):
        self.schema = schema

    def __arrow_c_schema__(self):
        return self.schema.__arrow_c_schema__()


# ---------------------------------------------------------------------------------------------
# NUL, lone surrogates, invalid text


@pytest.mark.parametrize("text, where", [
    ("\x00a INT", "1:1"),
    ("a\x00 INT", "1:2"),
    ("a INT\x00", "1:6"),
    ("a INT\x00, b STRING, this is not DDL <<<", "1:6"),
    ("a INT, b STRING\x00", "1:16"),
    ("a INT,\n b\x00 STRING", "2:3"),
    ("`a\x00b` INT", "1:3"),
    ("a INT COMMENT 'x\x00y'", "1:17"),
    ("a STRUCT<b: INT\x00>", "1:16"),
    ("é INT\x00", "1:6"),  # columns count characters
])
def test_nul_anywhere_is_a_parse_error(text, where):
    with pytest.raises(ParseException) as e:
        parse_schema(text)
    assert e.value.getErrorClass() == "PARSE_SYNTAX_ERROR"
    assert e.value.message == f"{where}: the DDL contains a NUL character (U+0000)"


@pytest.mark.parametrize("text, where", [
    ("a\udc80 INT", "1:2"),
    ("\ud800 INT", "1:1"),
    ("`a\udfff` INT", "1:3"),
    ("a INT, b\udc80 STRING", "1:9"),
    ("a INT COMMENT 'x\ud800y'", "1:17"),
    ("a INT COMMENT \"\udc80\"", "1:16"),
    ("a STRUCT<`b\udc80`: INT>", "1:12"),
    ("-- a comment \udc80\na INT", "1:14"),
])
def test_lone_surrogates_are_parse_errors(text, where):
    with pytest.raises(ParseException) as e:
        parse_schema(text)
    assert e.value.getErrorClass() == "PARSE_SYNTAX_ERROR"
    assert e.value.message == f"{where}: the DDL contains a lone surrogate (U+D800..U+DFFF), which is not text"


def test_escaped_surrogates_in_comments():
    # a \\u escape is checked by the string decoder: a pair is one character, a lone half an error
    assert json.loads(parse_schema("a INT COMMENT '\\ud83d\\ude00'").to_json())["fields"][0]["metadata"] == {
        "comment": "\U0001F600"}
    with pytest.raises(ParseException, match="1:16: invalid \\\\u escape"):
        parse_schema("a INT COMMENT '\\ud800'")


def test_valid_unicode_still_parses():
    s = parse_schema("`ñame` STRING COMMENT '日本 \U0001F600', b INT")
    assert json.loads(s.to_json())["fields"][0]["name"] == "ñame"


@pytest.mark.parametrize("text", ["a INT\x00", "a\udc80 INT"])
def test_every_ddl_entry_point(text):
    # the reader's .schema(), createDataFrame and a source's schema() go through the same parser
    spark = headwater.SparkSession.builder.getOrCreate()
    with pytest.raises(ParseException):
        spark.read.format("python").schema(text).option("python_module", "secret_sources").option("python_class", "Failing").load()
    with pytest.raises(ParseException):
        spark.createDataFrame([(1,)], text)
    with pytest.raises(ParseException):
        T._parse_datatype_string(text) if hasattr(T, "_parse_datatype_string") else parse_schema(text)


def test_struct_type_names_with_surrogates_or_nul():
    for name in ("a\udc80", "a\x00b"):
        with pytest.raises(AnalysisException, match="the StructType given as a schema cannot be used"):
            parse_schema(T.StructType([T.StructField(name, T.IntegerType())]))


# ---------------------------------------------------------------------------------------------
# nesting: one limit, everywhere


@pytest.mark.parametrize("kind", sorted(LIMITS))
def test_pyarrow_limit_is_ours(kind):
    """pyarrow imports an ArrowSchema whose nodes sit below level 64 and refuses deeper ones; our
    limit is the same, so whatever we accept pyarrow takes."""
    n = LIMITS[kind]
    pa.schema(_Holder(pa.schema([("a", pa_type(kind, n))])))
    with pytest.raises(pa.ArrowInvalid):
        pa.schema(_Holder(pa.schema([("a", pa_type(kind, n + 1))])))


@pytest.mark.parametrize("kind", sorted(LIMITS))
@pytest.mark.parametrize("delta", [-1, 0, 1, 2])
def test_ddl_nesting(kind, delta):
    n = LIMITS[kind] + delta
    text = ddl(kind, n)
    if delta <= 0:
        s = parse_schema(text)
        # everything accepted is usable: renderers, pyarrow, the round trips
        assert parse_schema(s.to_ddl()).to_json() == s.to_json()
        assert parse_schema(T.StructType.fromJson(json.loads(s.to_json()))).to_json() == s.to_json()
        arrow = pa.schema(s)
        assert parse_schema(arrow).to_json() == s.to_json()
        assert pa.table({"a": pa.array([None], type=arrow.field("a").type)}).num_rows == 1
    else:
        with pytest.raises(ParseException) as e:
            parse_schema(text)
        assert e.value.getErrorClass() == "FAILED_TO_PARSE_TOO_COMPLEX"
        assert e.value.message.startswith("1:") and "type nesting deeper than 64 levels" in e.value.message


@pytest.mark.parametrize("kind", sorted(LIMITS))
@pytest.mark.parametrize("delta", [-1, 0, 1])
@pytest.mark.parametrize("flavor", ["headwater", "pyarrow"])
def test_schema_objects_nesting(kind, delta, flavor):
    n = LIMITS[kind] + delta
    obj = struct_type(kind, n) if flavor == "headwater" else pa.schema([("a", pa_type(kind, n))])
    if delta <= 0:
        s = parse_schema(obj)
        pa.schema(s)
        s.to_ddl()
        to_struct_type(s)
    else:
        with pytest.raises(AnalysisException, match="type nesting deeper than 64 levels"):
            parse_schema(obj)


@pytest.mark.parametrize("kind", sorted(LIMITS))
def test_pyspark_struct_type_nesting(kind):
    pytest.importorskip("pyspark")
    from pyspark.sql import types as ST

    parse_schema(struct_type(kind, LIMITS[kind], ST))
    with pytest.raises(ParseException, match="the StructType given as a schema cannot be used"):
        parse_schema(struct_type(kind, LIMITS[kind] + 1, ST))


def test_json_schema_text_nesting():
    ok = struct_type("map", 31).json()
    headwater._core.schema_from_json(ok)
    with pytest.raises(ParseException, match="type nesting deeper than 64 levels"):
        headwater._core.schema_from_json(struct_type("map", 32).json())


def test_far_deeper_input_stops_at_the_limit():
    with pytest.raises(ParseException, match="1:381: type nesting deeper"):
        parse_schema("a " + "array<" * 100000)
    with pytest.raises(ParseException, match="1:131: type nesting deeper"):
        parse_schema("a " + "map<" * 100000)


# ---------------------------------------------------------------------------------------------
# a source whose schema() is too deep fails at load(), in every mode


@pytest.fixture
def spark():
    s = headwater.SparkSession.builder.create()
    yield s
    gc.collect()
    s.stop()


def _source(schema, name="deep"):
    class R(DataSourceReader):
        def partitions(self):
            return [InputPartition(0)]

        def read(self, p):
            yield (None,)

    class S(DataSource):
        @classmethod
        def name(cls):
            return name

        def schema(self):
            return schema

        def reader(self, s):
            return R()

    return S


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", sorted(LIMITS))
@pytest.mark.parametrize("form", ["ddl", "StructType", "pyarrow"])
def test_source_schema_nesting(spark, mode, kind, form):
    spark.conf.set("headwater.executor.mode", mode)
    spark.conf.set("headwater.executor.workers", "1")
    make = {"ddl": ddl, "StructType": struct_type, "pyarrow": lambda k, n: pa.schema([("a", pa_type(k, n))])}[form]
    n = LIMITS[kind]
    spark.dataSource.register(_source(make(kind, n), "deep_ok"))
    df = spark.read.format("deep_ok").load()
    assert df.count() == 1 and df.collect()[0][0] is None and df.toArrow().num_rows == 1
    spark.dataSource.register(_source(make(kind, n + 1)))
    with pytest.raises(AnalysisException, match="type nesting deeper than 64 levels"):
        spark.read.format("deep").load()  # at load, before any action


@pytest.mark.parametrize("mode", MODES)
def test_source_schema_with_nul_or_surrogate(spark, mode):
    spark.conf.set("headwater.executor.mode", mode)
    for i, text in enumerate(("a INT\x00, b STRING", "a\udc80 INT")):
        spark.dataSource.register(_source(text, f"bad{i}"))
        with pytest.raises(ParseException, match="1:[0-9]+: the DDL contains"):
            spark.read.format(f"bad{i}").load()
