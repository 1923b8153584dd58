"""Rows that cannot be converted: Spark's error classes and messages that say where and what."""

import pytest

from headwater import _core
from headwater.errors import PythonException


def convert(ddl, rows):
    return _core.rows_to_batch(ddl, rows)


def test_wrong_width_is_schema_mismatch():
    with pytest.raises(Exception) as info:
        convert("a INT, b STRING", [(1, "x"), (2,)])
    assert info.value.getErrorClass() == "DATA_SOURCE_RETURN_SCHEMA_MISMATCH"
    assert "Expected: 2 columns, Found: 1 columns" in str(info.value)
    assert info.value.row == 1


def test_unsupported_row_type_names_the_type():
    with pytest.raises(Exception) as info:
        convert("a INT", [{"a": 1}])
    assert info.value.getErrorClass() == "DATA_SOURCE_INVALID_RETURN_TYPE"
    assert "'dict'" in str(info.value)


def test_width_is_checked_before_the_row_type_as_spark_does():
    with pytest.raises(Exception) as info:
        convert("a INT", [{"a": 1, "b": 2}])
    assert info.value.getErrorClass() == "DATA_SOURCE_RETURN_SCHEMA_MISMATCH"
    assert "Expected: 1 columns, Found: 2 columns" in str(info.value)


def test_value_error_names_partition_row_column_type_and_value():
    rows = [(1, 2.0), (2, 3.0), (3, "abc")]
    with pytest.raises(PythonException) as info:
        convert("id INT, price DOUBLE", rows)
    e = info.value
    assert (e.partition, e.row, e.column) == (0, 2, 1)
    assert "partition 0, row 2, column 'price': expected DOUBLE, got str 'abc'" in str(e)


def test_nested_value_error_names_the_path():
    with pytest.raises(PythonException, match=r"column 's\.items\[1\]': expected INT, got str 'x'"):
        convert("s STRUCT<items: ARRAY<INT>>", [({"items": [1, "x"]},)])


def test_integer_out_of_range():
    with pytest.raises(PythonException, match=r"expected TINYINT, got int 128: out of range"):
        convert("b TINYINT", [(128,)])


def test_long_reprs_are_shortened():
    with pytest.raises(PythonException) as info:
        convert("a INT", [("y" * 500,)])
    assert "..." in str(info.value)
    assert len(str(info.value)) < 300


def test_decimal_too_wide_for_its_precision():
    from decimal import Decimal

    with pytest.raises(PythonException, match="exceeds the precision"):
        convert("d DECIMAL(3,1)", [(Decimal("100.0"),)])


def test_named_row_missing_a_field():
    from headwater.types import Row

    with pytest.raises(Exception) as info:
        convert("a INT, b INT", [Row(a=1, c=2)])
    assert info.value.getErrorClass() == "DATA_SOURCE_RETURN_SCHEMA_MISMATCH"
    assert "Expected: ['a', 'b'] columns, Found: ['a', 'c'] columns" in str(info.value)


def test_iterator_exception_propagates_unchanged():
    def rows():
        yield (1,)
        raise ValueError("source broke")

    with pytest.raises(ValueError, match="source broke"):
        convert("a INT", rows())
