"""Arrays built by the C core, handed to pyarrow through the PyCapsule interface.

Every type, with nulls, empty arrays, nesting three deep and slices; pyarrow's full validation
and every value are checked against what pyarrow itself builds from the same Python values.
"""

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from headwater import _core

UTC = dt.timezone.utc

# (DDL type, values as Python objects, the pyarrow type the column must have)
CASES = [
    ("BOOLEAN", [True, None, False, True, False, False, True, True, None, True], pa.bool_()),
    ("TINYINT", [0, -128, 127, None, 5], pa.int8()),
    ("SMALLINT", [0, -32768, 32767, None], pa.int16()),
    ("INT", [1, None, -(2**31), 2**31 - 1], pa.int32()),
    ("BIGINT", [1, None, -(2**63), 2**63 - 1], pa.int64()),
    ("FLOAT", [1.5, None, -0.25, 3.0], pa.float32()),
    ("DOUBLE", [1.5, None, float("inf"), -1e300], pa.float64()),
    ("STRING", ["a", None, "", "héllo wörld ✓", "x" * 1000], pa.string()),
    ("BINARY", [b"a", None, b"", b"\x00\xff" * 100, bytearray(b"ba")], pa.binary()),
    ("DATE", [dt.date(2024, 2, 29), None, dt.date(1970, 1, 1), dt.date(1, 1, 1), dt.date(9999, 12, 31)], pa.date32()),
    (
        "TIMESTAMP_NTZ",
        [dt.datetime(2024, 1, 2, 3, 4, 5, 678901), None, dt.datetime(1969, 12, 31, 23, 59, 59, 999999)],
        pa.timestamp("us"),
    ),
    (
        "TIMESTAMP",
        [dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC), None, dt.datetime(1900, 1, 1, tzinfo=UTC)],
        pa.timestamp("us", tz="UTC"),
    ),
    (
        "DECIMAL(38,10)",
        [Decimal("1.5"), None, Decimal("-1234567890123456789012345678.0123456789"), Decimal(0)],
        pa.decimal128(38, 10),
    ),
    ("DECIMAL(5,2)", [Decimal("999.99"), Decimal("-0.01"), None], pa.decimal128(5, 2)),
    ("VOID", [None, None, None], pa.null()),
    ("ARRAY<INT>", [[1, 2, None], None, [], [4]], pa.list_(pa.int32())),
    ("MAP<STRING, BIGINT>", [{"a": 1, "b": None}, None, {}], pa.map_(pa.string(), pa.int64())),
    (
        "STRUCT<a: INT, b: STRING>",
        [(1, "x"), None, {"a": 2, "b": None}, (None, "z")],
        pa.struct([("a", pa.int32()), ("b", pa.string())]),
    ),
    (
        # nesting three deep: list<struct<m: map<string, list<int>>>>
        "ARRAY<STRUCT<m: MAP<STRING, ARRAY<INT>>>>",
        [[{"m": {"k": [1, None], "j": []}}, None, ({"z": None},)], None, []],
        pa.list_(pa.struct([("m", pa.map_(pa.string(), pa.list_(pa.int32())))])),
    ),
]


def expected_values(values, typ):
    """What pyarrow makes of the same values (struct tuples become dicts for pyarrow)."""

    def norm(v, t):
        if v is None:
            return None
        if pa.types.is_struct(t):
            if isinstance(v, dict):
                return {f.name: norm(v.get(f.name), f.type) for f in t}
            return {f.name: norm(x, f.type) for f, x in zip(t, v)}
        if pa.types.is_map(t):
            return [(k, norm(x, t.item_type)) for k, x in v.items()]
        if pa.types.is_list(t):
            return [norm(x, t.value_type) for x in v]
        if isinstance(v, bytearray):
            return bytes(v)
        return v

    return pa.array([norm(v, typ) for v in values], type=typ)


@pytest.mark.parametrize("ddl,values,typ", CASES, ids=[c[0] for c in CASES])
def test_every_type_matches_pyarrow(ddl, values, typ):
    batch = pa.record_batch(_core.rows_to_batch(f"c {ddl}", [(v,) for v in values]))
    batch.validate(full=True)
    assert batch.schema.field("c").type == typ
    assert batch.column(0).equals(expected_values(values, typ))
    assert batch.column(0).null_count == sum(v is None for v in values)


@pytest.mark.parametrize("ddl,values,typ", CASES, ids=[c[0] for c in CASES])
def test_empty_array_of_every_type(ddl, values, typ):
    batch = pa.record_batch(_core.rows_to_batch(f"c {ddl}", []))
    batch.validate(full=True)
    assert batch.num_rows == 0
    assert batch.schema.field("c").type == typ


@pytest.mark.parametrize("ddl,values,typ", CASES, ids=[c[0] for c in CASES])
def test_slices_of_every_type(ddl, values, typ):
    core_batch = _core.rows_to_batch(f"c {ddl}", [(v,) for v in values])
    expected = expected_values(values, typ)
    for offset in range(len(values) + 1):
        for length in range(len(values) - offset + 1):
            part = pa.record_batch(core_batch.slice(offset, length))
            part.validate(full=True)
            assert part.column(0).equals(expected.slice(offset, length)), (offset, length)


def test_slice_out_of_range_is_an_error():
    core_batch = _core.rows_to_batch("a INT", [(1,), (2,)])
    with pytest.raises(Exception, match=r"slice \[1, 4\) is outside an array of 2 rows"):
        core_batch.slice(1, 3)


def test_nulls_across_many_bitmap_bytes():
    values = [None if i % 3 == 0 else i for i in range(1001)]
    batch = pa.record_batch(_core.rows_to_batch("a BIGINT NOT NULL, b BIGINT", [(i, v) for i, v in enumerate(values)]))
    batch.validate(full=True)
    assert batch.column(1).to_pylist() == values
    assert batch.schema.field("a").nullable is False
    assert batch.column(0).to_pylist() == list(range(1001))


def test_aware_timestamps_are_stored_as_utc_and_ntz_keeps_wall_clock():
    plus2 = dt.timezone(dt.timedelta(hours=2))
    when = dt.datetime(2024, 6, 1, 12, 0, tzinfo=plus2)
    batch = pa.record_batch(_core.rows_to_batch("t TIMESTAMP, n TIMESTAMP_NTZ", [(when, dt.datetime(2024, 6, 1, 12))]))
    assert batch.column(0)[0].as_py() == dt.datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    assert batch.column(1)[0].as_py() == dt.datetime(2024, 6, 1, 12, 0)


def test_decimals_round_half_to_even_and_nan_is_null():
    batch = pa.record_batch(
        _core.rows_to_batch(
            "d DECIMAL(6,2)", [(Decimal("1.005"),), (Decimal("1.015"),), (Decimal("-1.005"),), (Decimal("NaN"),)]
        )
    )
    assert batch.column(0).to_pylist() == [Decimal("1.00"), Decimal("1.02"), Decimal("-1.00"), None]


def test_strings_take_str_of_any_value_and_lower_case_booleans():
    batch = pa.record_batch(_core.rows_to_batch("s STRING", [(1,), (1.5,), (True,), (dt.date(2024, 1, 1),)]))
    assert batch.column(0).to_pylist() == ["1", "1.5", "true", "2024-01-01"]


def test_rows_may_be_lists_named_rows_and_tuples():
    from headwater.types import Row

    rows = [(1, "a"), [2, "b"], Row(b="c", a=3)]
    batch = pa.record_batch(_core.rows_to_batch("a INT, b STRING", rows))
    assert batch.to_pylist() == [{"a": 1, "b": "a"}, {"a": 2, "b": "b"}, {"a": 3, "b": "c"}]


def test_many_batches_in_a_stream():
    stream = _core.rows_to_stream("a BIGINT, s STRING", ((i, str(i)) for i in range(25_001)), max_rows_per_batch=10_000)
    reader = pa.RecordBatchReader.from_stream(stream)
    batches = list(reader)
    assert [b.num_rows for b in batches] == [10_000, 10_000, 5_001]
    table = pa.Table.from_batches(batches)
    table.validate(full=True)
    assert table.column("a").to_pylist() == list(range(25_001))
    assert table.column("s")[25_000].as_py() == "25000"
