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


@pytest.mark.parametrize(
    "ddl,value,message",
    [
        ("a ARRAY<STRING>", ("x", "y"), "ARRAY takes a list"),  # a tuple only for plain elements
        ("a BINARY", "text", "BINARY takes bytes or bytearray"),
        ("a BINARY", memoryview(b"x"), "BINARY takes bytes or bytearray"),
        ("a STRUCT<x: INT>", [1], "STRUCT takes a tuple, Row, dict or object"),
        ("a DECIMAL(5,2)", 7, "expected DECIMAL(5,2), got int 7"),
        ("a INT NOT NULL", None, "the field is NOT NULL"),
        ("a ARRAY<STRUCT<x: INT NOT NULL>>", [(None,)], "column 'a[0].x': expected INT, got NoneType None"),
        ("a VOID", 1, "expected VOID, got int 1"),
    ],
)
def test_values_pyspark_refuses(ddl, value, message):
    with pytest.raises(PythonException) as info:
        convert(ddl, [(value,)])
    assert message in str(info.value)


def test_aware_datetime_in_timestamp_ntz():
    import datetime as dt

    when = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    with pytest.raises(PythonException, match="TIMESTAMP_NTZ takes naive datetimes"):
        convert("t TIMESTAMP_NTZ", [(when,)])


def test_struct_tuple_of_the_wrong_length_is_axis_length_mismatch():
    with pytest.raises(PythonException) as info:
        convert("s STRUCT<x: INT, y: INT>", [((1,),)])
    assert info.value.getErrorClass() == "AXIS_LENGTH_MISMATCH"
    assert "Expected axis has 2 elements, new values have 1 elements" in str(info.value)


def test_struct_from_an_object_reads_its_attributes():
    class Point:
        def __init__(self):
            self.x, self.y = 3, 4

    import pyarrow as pa

    batch = pa.record_batch(convert("p STRUCT<x: INT, y: INT>", [(Point(),)]))
    assert batch.column(0).to_pylist() == [{"x": 3, "y": 4}]


def test_naive_timestamps_are_local_time_of_the_process():
    """PySpark reads a naive datetime in a TIMESTAMP column as local time (datetime.astimezone)."""
    import subprocess
    import sys

    code = (
        "import datetime as dt, pyarrow as pa\n"
        "from headwater import _core\n"
        "b = pa.record_batch(_core.rows_to_batch('t TIMESTAMP', [(dt.datetime(2024, 1, 1, 12),), (dt.datetime(2024, 7, 1, 12),)]))\n"
        "print([v.isoformat() for v in b.column(0).to_pylist()])\n"
        "print([r.t.isoformat() for r in _core.rows_from_arrow(pa.table(b), __import__('headwater.types').types.Row)])\n"
    )
    env = {"TZ": "America/New_York", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [
        "['2024-01-01T17:00:00+00:00', '2024-07-01T16:00:00+00:00']",
        "['2024-01-01T12:00:00', '2024-07-01T12:00:00']",
    ]


def test_numbers_as_pyspark_takes_them():
    """Through pyarrow, PySpark truncates floats and Decimals into integer columns, takes bools and
    exactly representable ints as floats, and ints as days for DATE."""
    import datetime as dt
    from decimal import Decimal

    import pyarrow as pa

    rows = [(2.7, Decimal("-1.9"), True, 2**24, 1, (1, 2)), (-1.5, Decimal("2.5"), 3, -5, 1.5, None)]
    batch = pa.record_batch(convert("i INT, j BIGINT, f FLOAT, d DOUBLE, day DATE, arr ARRAY<INT>", rows))
    assert batch.to_pylist() == [
        {"i": 2, "j": -1, "f": 1.0, "d": float(2**24), "day": dt.date(1970, 1, 2), "arr": [1, 2]},
        {"i": -1, "j": 2, "f": 3.0, "d": -5.0, "day": dt.date(1970, 1, 2), "arr": None},
    ]
    with pytest.raises(PythonException, match="exactly"):
        convert("f FLOAT", [(2**24 + 1,)])
    with pytest.raises(PythonException, match="expected INT, got bool True"):
        convert("i INT", [(True,)])
