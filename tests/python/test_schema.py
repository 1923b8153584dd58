"""Schemas through the C core: DDL, pyarrow, Spark JSON, headwater's and pyspark's StructType."""

import json

import pyarrow as pa
import pytest

from headwater import ParseException, parse_schema, to_arrow_schema
from headwater import types as T
from headwater.schema import to_struct_type

ALL_TYPES_DDL = (
    "b BOOLEAN, i8 TINYINT, i16 SMALLINT, i32 INT, i64 BIGINT, f FLOAT, d DOUBLE, "
    "dec DECIMAL(12,3), s STRING, bin BINARY, dt DATE, ts TIMESTAMP, ntz TIMESTAMP_NTZ, v VOID, "
    "arr ARRAY<INT>, m MAP<STRING, DOUBLE>, st STRUCT<x: INT, y: ARRAY<MAP<STRING, STRUCT<a: INT>>>>"
)

ALL_TYPES_ARROW = pa.schema(
    [
        ("b", pa.bool_()),
        ("i8", pa.int8()),
        ("i16", pa.int16()),
        ("i32", pa.int32()),
        ("i64", pa.int64()),
        ("f", pa.float32()),
        ("d", pa.float64()),
        ("dec", pa.decimal128(12, 3)),
        ("s", pa.string()),
        ("bin", pa.binary()),
        ("dt", pa.date32()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("ntz", pa.timestamp("us")),
        ("v", pa.null()),
        ("arr", pa.list_(pa.int32())),
        ("m", pa.map_(pa.string(), pa.float64())),
        (
            "st",
            pa.struct(
                [
                    ("x", pa.int32()),
                    ("y", pa.list_(pa.map_(pa.string(), pa.struct([("a", pa.int32())])))),
                ]
            ),
        ),
    ]
)


def test_ddl_to_pyarrow_every_type():
    got = to_arrow_schema(ALL_TYPES_DDL)
    assert got.equals(ALL_TYPES_ARROW)


def test_pyarrow_to_ddl_round_trip():
    core = parse_schema(ALL_TYPES_ARROW)
    assert core.to_ddl() == ALL_TYPES_DDL
    assert parse_schema(core.to_ddl()) == core


def test_not_null_and_comment_survive_arrow():
    core = parse_schema("a INT NOT NULL COMMENT 'the key', `weird name` STRING")
    schema = pa.schema(core)
    assert schema.field("a").nullable is False
    assert schema.field("a").metadata == {b"comment": b"the key"}
    assert schema.names == ["a", "weird name"]
    assert parse_schema(schema).to_ddl() == "a INT NOT NULL COMMENT 'the key', `weird name` STRING"


def test_large_types_read_as_spark_types():
    core = parse_schema(pa.schema([("s", pa.large_string()), ("b", pa.large_binary())]))
    assert core.simple_string() == "struct<s:string,b:binary>"


def test_unsigned_types_have_no_spark_form():
    core = parse_schema(pa.schema([("u", pa.uint32())]))
    with pytest.raises(Exception, match="uint32"):
        core.to_ddl()


def test_unsupported_arrow_type_names_the_column():
    with pytest.raises(Exception, match=r"'t'.*tdm"):
        parse_schema(pa.schema([("t", pa.date64())]))


def test_headwater_struct_type_round_trip():
    st = T.StructType.fromDDL(ALL_TYPES_DDL)
    assert st["dec"].dataType == T.DecimalType(12, 3)
    assert st["st"].dataType["y"].dataType == T.ArrayType(T.MapType(T.StringType(), T.StructType([T.StructField("a", T.IntegerType())])))
    assert parse_schema(st) == parse_schema(ALL_TYPES_DDL)
    assert st.toDDL() == ALL_TYPES_DDL
    assert to_struct_type(ALL_TYPES_DDL) == st


def test_malformed_ddl_raises_parse_exception_with_position():
    with pytest.raises(ParseException) as info:
        parse_schema("a ARRAY<INT")
    assert info.value.getErrorClass() == "PARSE_SYNTAX_ERROR"
    assert "1:12" in str(info.value)


def test_non_struct_ddl_is_rejected_as_a_table_schema():
    with pytest.raises(Exception) as info:
        T.StructType.fromDDL("ARRAY<INT>")
    assert info.value.getErrorClass() == "INVALID_SCHEMA.NON_STRUCT_TYPE"


def test_a_schema_object_of_another_kind_is_a_type_error():
    with pytest.raises(TypeError, match="int"):
        parse_schema(42)


pyspark_types = pytest.importorskip("pyspark.sql.types", reason="pyspark is not installed")


def spark_schema():
    S = pyspark_types
    return S.StructType(
        [
            S.StructField("id", S.LongType(), False),
            S.StructField("name", S.StringType(), True, {"comment": "héllo"}),
            S.StructField("price", S.DecimalType(10, 2)),
            S.StructField("when", S.TimestampType()),
            S.StructField("ntz", S.TimestampNTZType()),
            S.StructField("tags", S.ArrayType(S.StringType(), containsNull=False)),
            S.StructField("attrs", S.MapType(S.StringType(), S.IntegerType(), valueContainsNull=True)),
            S.StructField("nested", S.StructType([S.StructField("x", S.ByteType()), S.StructField("y", S.ShortType())])),
            S.StructField("c", S.CharType(3)),
            S.StructField("vc", S.VarcharType(5)),
            S.StructField("nothing", S.NullType()),
        ]
    )


def test_pyspark_struct_type_through_its_json_form():
    spark = spark_schema()
    core = parse_schema(spark)
    assert core.simple_string() == spark.simpleString()
    assert core.to_json() == spark.json()
    assert json.loads(core.to_json()) == spark.jsonValue()


def test_back_to_pyspark_and_headwater_struct_types():
    spark = spark_schema()
    back = to_struct_type(spark, flavor="pyspark")
    assert type(back) is type(spark)
    assert back == spark
    ours = to_struct_type(spark)
    assert isinstance(ours, T.StructType)
    assert ours.json() == spark.json()
    assert ours.simpleString() == spark.simpleString()
