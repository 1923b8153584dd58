"""spark.createDataFrame from dicts: values matched to field names in the C converter, with
PySpark 4.1.1's rules (checked against it: local[1], the same calls)."""

import pytest

import headwater
from headwater.errors import PythonException


@pytest.fixture
def spark():
    return headwater.session()


def test_schema_given_missing_keys_are_null_extra_keys_ignored(spark):
    df = spark.createDataFrame([{"a": 1, "b": "x", "extra": 5}, {"b": "y"}], "a INT, b STRING")
    assert [tuple(r) for r in df.collect()] == [(1, "x"), (None, "y")]


def test_inferred_names_are_every_dicts_keys_sorted(spark):
    df = spark.createDataFrame([{"b": "x", "a": 1}, {"a": 2, "c": 3.0}])
    assert df.dtypes == [("a", "bigint"), ("b", "string"), ("c", "double")]
    assert [tuple(r) for r in df.collect()] == [(1, "x", None), (2, None, 3.0)]


def test_dicts_and_tuples_mixed(spark):
    assert [tuple(r) for r in spark.createDataFrame([{"a": 1}, (2,)], "a INT").collect()] == [(1,), (2,)]


def test_column_names_rename_the_dicts_columns(spark):
    df = spark.createDataFrame([{"a": 1, "b": 2}], ["x", "y"])
    assert df.columns == ["x", "y"] and [tuple(r) for r in df.collect()] == [(1, 2)]


def test_bad_value_names_row_and_column(spark):
    with pytest.raises(PythonException) as ei:
        spark.createDataFrame([{"a": 1}, {"a": "notint"}], "a INT")
    assert ei.value.row == 1 and "column 'a'" in str(ei.value) and "notint" in str(ei.value)


def test_a_read_may_still_not_yield_dicts(spark):
    from headwater.datasource import DataSource, DataSourceReader

    class R(DataSourceReader):
        def read(self, p):
            yield {"a": 1}

    class S(DataSource):
        @classmethod
        def name(cls):
            return "dictyield"

        def schema(self):
            return "a INT"

        def reader(self, schema):
            return R()

    spark.dataSource.register(S)
    with pytest.raises(PythonException) as ei:
        spark.read.format("dictyield").load().collect()
    assert ei.value.getErrorClass() == "DATA_SOURCE_INVALID_RETURN_TYPE"
