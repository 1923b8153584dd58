"""Python data sources for the differential tests (real PySpark vs headwater) and the Spark probe.

Every source is written against pyspark's classes only, so the same class registers on both
engines. Behaviour is chosen through options (``case``, ``what``), and every case carries the
outcome real PySpark 4.1.1 gives (verified by ``tests/python/spark_probe.py``; see
``docs/spark-read-semantics.md``).

``CASES`` is the table the tests iterate over. A case names the format, options, an optional user
schema and ``load()`` arguments, and the expected outcome: either a list of normalised rows (see
:func:`norm_rows`) or an :class:`Err`.

Workers unpickle these classes; callers must make this module picklable by value
(``pyspark.cloudpickle.register_pickle_by_value(dsources)``) or importable in the workers.
"""

from __future__ import annotations

import array
import datetime as dt
import math
from decimal import Decimal

from pyspark.sql import Row
from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
from pyspark.sql.types import (
    ArrayType,
    IntegerType,
    MapType,
    StringType,
    StructField,
    StructType,
)

UTC = dt.timezone.utc
PLUS2 = dt.timezone(dt.timedelta(hours=2))


def local_naive(aware: dt.datetime) -> dt.datetime:
    """What Spark's collect() returns for a TIMESTAMP instant: naive local time of the process."""
    return aware.astimezone().replace(tzinfo=None)


# --------------------------------------------------------------------------------------------
# expected outcomes


def is_error_class(cls):
    """True for Spark error classes (``DATA_SOURCE_NOT_FOUND``, ``INVALID_SCHEMA.NON_STRUCT_TYPE``),
    False for exception type names (``ArrowInvalid``, ``java.lang.IllegalStateException``)."""
    return isinstance(cls, str) and cls.replace(".", "").replace("_", "").isupper()


class Err:
    """An expected failure.

    kind:  "analysis" (AnalysisException incl. ParseException), "python" (PythonException from
           inside a task), or another exception type name (``Py4JJavaError``,
           ``UnsupportedOperationException``) where PySpark raises something else.
    cls:   Spark's error class: ``getCondition()`` for captured exceptions; for PythonException,
           whose getCondition() is None in Spark, the ``[CLASS]`` prefix of the worker's final
           exception line, or when it has none the worker exception's type name
           (e.g. ``AssertionError``, ``ArrowInvalid``, ``PySparkValueError``); for a raw
           Py4JJavaError the root cause's condition or Java class name.
           As a headwater expectation: "ANY" (any class) or a tuple of acceptable classes.
    phase: "load" (raised by load()) or "collect".
    msg:   a substring of the message, or a tuple of substrings.
    """

    ANY = "ANY"

    def __init__(self, kind, cls, phase="collect", msg=None):
        self.kind = kind
        self.cls = cls
        self.phase = phase
        self.msg = msg

    def for_headwater(self):
        """What headwater must raise when the case has no explicit ``hw`` expectation: the same
        kind, phase and class. When Spark's failure has no error class (a bare Python exception
        from pyarrow, an assert, ...), any class is accepted and the message is not compared;
        headwater reports such conversion failures with its own class."""
        if is_error_class(self.cls):
            return self
        return Err(self.kind, Err.ANY, self.phase, None)

    def messages(self):
        if self.msg is None:
            return ()
        return self.msg if isinstance(self.msg, tuple) else (self.msg,)

    def __repr__(self):
        return f"Err({self.kind!r}, {self.cls!r}, {self.phase!r}, {self.msg!r})"


class NaN:
    """Marker for a float NaN in normalised rows (NaN != NaN)."""

    def __eq__(self, other):
        return isinstance(other, NaN)

    def __hash__(self):
        return 0

    def __repr__(self):
        return "NAN"


NAN = NaN()


def norm(v):
    """Normalise one collected value so results of both engines compare with ==.

    - Row (struct) -> dict by field name (asDict without recursion, then normalise values), so a
      pyspark Row and a headwater Row compare equal;
    - bytearray -> bytes (PySpark classic returns bytearray for BINARY; the type is checked
      separately by :func:`type_names`);
    - float NaN -> NAN marker (NaN != NaN);
    - lists/dicts recursively.
    """
    if hasattr(v, "asDict") and isinstance(v, tuple):
        return {k: norm(x) for k, x in v.asDict(recursive=False).items()}
    if isinstance(v, (list, tuple)):
        return [norm(x) for x in v]
    if isinstance(v, dict):
        return {norm(k): norm(x) for k, x in v.items()}
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if isinstance(v, float) and math.isnan(v):
        return NAN
    return v


def norm_rows(rows):
    return [tuple(norm(v) for v in r) for r in rows]


def type_names(rows):
    """Python type names of the collected values (recursively), to compare value types too."""

    def t(v):
        if isinstance(v, tuple) and hasattr(v, "asDict"):
            return ["Row"] + [t(x) for x in v]
        if isinstance(v, list):
            return ["list"] + [t(x) for x in v]
        if isinstance(v, dict):  # Spark does not keep map order: compare pairs sorted by key
            return ["dict"] + [[t(k), t(x)] for k, x in sorted(v.items(), key=lambda kv: repr(kv[0]))]
        if isinstance(v, dt.datetime):
            return "datetime" + ("+tz" if v.tzinfo else "")
        return type(v).__name__

    return [[t(v) for v in r] for r in rows]


# --------------------------------------------------------------------------------------------
# the value source: schema + items yielded by read(), chosen by option "case"


class Obj:
    """An object with __dict__ (accepted for STRUCT values)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


class Unprintable:
    def __str__(self):
        return "custom-str"


VALUES = {}  # case name -> (schema, items factory, read mode)


def _rb(**cols):
    import pyarrow as pa

    return pa.RecordBatch.from_pydict(cols)


class ValuesSource(DataSource):
    """Format ``hw_values``: option ``case`` names an entry of VALUES; option ``partitions``
    splits the items round-robin over that many partitions."""

    @classmethod
    def name(cls):
        return "hw_values"

    def schema(self):
        return VALUES[self.options["case"]][0]

    def reader(self, schema):
        return ValuesReader(self.options["case"], int(self.options.get("partitions", "1")))


class ValuesReader(DataSourceReader):
    def __init__(self, case, nparts):
        self.case = case
        self.nparts = nparts

    def partitions(self):
        return [InputPartition(i) for i in range(self.nparts)]

    def read(self, partition):
        _, factory, mode = VALUES[self.case]
        items = list(factory())[partition.value :: self.nparts]
        if mode == "list":
            return items
        if mode == "iter":
            return iter(items)
        if mode == "none":
            return None
        if mode == "tuple":
            return tuple(items)
        if mode == "raise":
            return _raising(items)
        return _gen(items)


def _gen(items):
    yield from items


def _raising(items):
    yield from items
    raise ValueError("boom from read")


# --------------------------------------------------------------------------------------------
# planning behaviour: format hw_plan, option "what"


class PlanSource(DataSource):
    @classmethod
    def name(cls):
        return "hw_plan"

    def __init__(self, options):
        super().__init__(options)
        if options.get("what") == "init_raises":
            raise ValueError("boom from __init__")

    def schema(self):
        what = self.options.get("what")
        if what == "schema_raises" or what == "schema_must_not_be_called":
            raise RuntimeError("boom from schema")
        if what == "schema_nonstruct":
            return "int"
        if what == "schema_nonstruct_type":
            return IntegerType()
        if what == "schema_bad_ddl":
            return "a INTT"
        if what == "schema_int":
            return 42
        if what == "schema_struct_type":
            return StructType([StructField("p", StringType()), StructField("v", StringType())])
        return "p STRING, v STRING"

    def reader(self, schema):
        what = self.options.get("what")
        if what == "reader_raises":
            raise ValueError("boom from reader")
        if what == "reader_bad":
            return object()
        if what == "reader_schema":
            return SchemaEchoReader(schema)
        if what == "partitions_default":
            return DefaultPartitionsReader()
        return PlanReader(what)


class PlanReader(DataSourceReader):
    def __init__(self, what):
        self.what = what

    def partitions(self):
        w = self.what
        if w == "partitions_raises":
            raise ValueError("boom from partitions")
        if w == "partitions_tuple":
            return (InputPartition(0), InputPartition(1))
        if w == "partitions_generator":
            return (InputPartition(i) for i in range(2))
        if w == "partitions_ints":
            return [1, 2]
        if w == "partitions_mixed":
            return [InputPartition(1), 2]
        if w == "partitions_empty":
            return []
        if w == "partitions_not_implemented":
            raise NotImplementedError
        if w == "partitions_many":
            return [InputPartition(i) for i in range(20)]
        if w == "partitions_many_sparse":
            return [InputPartition(i) for i in range(10)]
        if w == "partitions_subclass":
            return [RangePartition(0, 2), RangePartition(2, 5)]
        return [InputPartition("only")]

    def read(self, partition):
        w = self.what
        if w == "partitions_many":
            for j in range(3):
                yield (str(partition.value), str(j))
        elif w == "partitions_many_sparse":
            if partition.value % 3 == 0:
                yield (str(partition.value), "x")
        elif w == "partitions_subclass":
            for j in range(partition.start, partition.end):
                yield (type(partition).__name__, str(j))
        else:
            v = partition.value if isinstance(partition, InputPartition) else partition
            yield (type(partition).__name__, repr(v))


class RangePartition(InputPartition):
    def __init__(self, start, end):
        self.start = start
        self.end = end


class DefaultPartitionsReader(DataSourceReader):
    def read(self, partition):
        yield (type(partition).__name__, repr(partition))


class SchemaEchoReader(DataSourceReader):
    """Yields the schema the reader got, one row per field (name, simpleString)."""

    def __init__(self, schema):
        self.schema = schema

    def read(self, partition):
        yield ("type", type(self.schema).__name__)
        for f in self.schema.fields:
            yield (f.name, f.dataType.simpleString())


class NoSchemaSource(DataSource):
    """No schema(): needs a user schema."""

    @classmethod
    def name(cls):
        return "hw_noschema"

    def reader(self, schema):
        return NoSchemaReader(schema)


class NoSchemaReader(DataSourceReader):
    def __init__(self, schema):
        self.n = len(schema.fields)

    def read(self, partition):
        yield tuple(str(i) for i in range(self.n))


class OptionsSource(DataSource):
    """Yields the options it was given as (key, repr(value)) rows, sorted by key, plus probes."""

    @classmethod
    def name(cls):
        return "hw_options"

    def schema(self):
        return "key STRING, value STRING"

    def reader(self, schema):
        rows = sorted((k, repr(v)) for k, v in self.options.items())
        rows.append(("#lookup MyKey", repr(self.options.get("MyKey"))))
        rows.append(("#contains MYKEY", repr("MYKEY" in self.options)))
        return ListReader(rows)


class ListReader(DataSourceReader):
    def __init__(self, rows):
        self.rows = rows

    def read(self, partition):
        yield from self.rows


class HwMixedCase(DataSource):
    @classmethod
    def name(cls):
        return "HwMixedCase"

    def schema(self):
        return "x INT"

    def reader(self, schema):
        return ListReader([(1,)])


class HwDefaultName(DataSource):
    """name() not overridden: the class name."""

    def schema(self):
        return "x INT"

    def reader(self, schema):
        return ListReader([(7,)])


class DupFirst(DataSource):
    @classmethod
    def name(cls):
        return "hw_dup"

    def schema(self):
        return "x INT"

    def reader(self, schema):
        return ListReader([(1,)])


class DupSecond(DataSource):
    """Registered after DupFirst under the same name: replaces it."""

    @classmethod
    def name(cls):
        return "HW_DUP"

    def schema(self):
        return "x INT"

    def reader(self, schema):
        return ListReader([(2,)])


# registered in this order on both engines
SOURCES = [
    ValuesSource,
    PlanSource,
    NoSchemaSource,
    OptionsSource,
    HwMixedCase,
    HwDefaultName,
    DupFirst,
    DupSecond,
]


# --------------------------------------------------------------------------------------------
# the case table


class Case:
    def __init__(
        self,
        name,
        expect,
        *,
        fmt="hw_values",
        options=None,
        schema=None,
        load=(),
        columns=None,
        types=None,
        note="",
        hw=None,
    ):
        self.name = name
        self.expect = expect
        self.fmt = fmt
        self.options = options or {}
        self.user_schema = schema
        self.load_args = load
        self.columns = columns
        self.types = types  # expected type_names() of the collected rows (Spark)
        self.note = note
        # hw: what headwater should give when it deliberately differs from Spark (else None:
        # the same as Spark). See the comment at each use.
        self.hw = hw

    def __repr__(self):
        return f"Case({self.name})"


CASES = []


def V(name, ddl, items, expect, *, mode="gen", partitions=None, **kw):
    """A hw_values case: ``items`` is a zero-argument callable returning the items read() yields
    (built in the worker: pyarrow batches, Rows, ...)."""
    VALUES[name] = (ddl, items, mode)
    opts = {"case": name}
    if partitions:
        opts["partitions"] = str(partitions)
    CASES.append(Case(name, expect, options=opts, **kw))


def P(name, expect, **kw):
    """A hw_plan case: option what=name."""
    opts = {"what": name}
    opts.update(kw.pop("options", {}))
    CASES.append(Case("plan_" + name, expect, fmt="hw_plan", options=opts, **kw))


AE, PE = "analysis", "python"


# ---- BOOLEAN
V("bool_ok", "b BOOLEAN", lambda: [(True,), (False,), (None,)], [(True,), (False,), (None,)])
V("bool_from_int", "b BOOLEAN", lambda: [(1,)], Err(PE, "ArrowInvalid", msg="tried to convert to boolean"))
V("bool_from_str", "b BOOLEAN", lambda: [("true",)], Err(PE, "ArrowInvalid", msg="tried to convert to boolean"))

# ---- integers
V("tinyint_ok", "v TINYINT", lambda: [(127,), (-128,), (None,)], [(127,), (-128,), (None,)])
V("tinyint_overflow", "v TINYINT", lambda: [(128,)], Err(PE, "ArrowInvalid", msg="too large"))
V("tinyint_underflow", "v TINYINT", lambda: [(-129,)], Err(PE, "ArrowInvalid", msg="too large"))
V("smallint_ok", "v SMALLINT", lambda: [(32767,), (-32768,)], [(32767,), (-32768,)])
V("smallint_overflow", "v SMALLINT", lambda: [(32768,)], Err(PE, "ArrowInvalid", msg="too large"))
V("int_ok", "v INT", lambda: [(2**31 - 1,), (-(2**31),), (None,)], [(2**31 - 1,), (-(2**31),), (None,)])
V("int_overflow", "v INT", lambda: [(2**31,)], Err(PE, "ArrowInvalid", msg="too large"))
# floats and Decimals into integer columns are truncated toward zero by pyarrow (no error)
V("int_from_float", "v INT", lambda: [(1.0,), (2.7,), (-1.5,), (-2.7,)], [(1,), (2,), (-1,), (-2,)],
  types=[["int"]] * 4)
V("int_from_float_out_of_range", "v INT", lambda: [(1e10,)], Err(PE, "ArrowInvalid", msg="Could not convert 10000000000.0 with type float: tried to convert to int32"))
V("int_from_float_nan", "v INT", lambda: [(float("nan"),)], Err(PE, "ArrowInvalid", msg="tried to convert to int32"))
V("int_from_decimal", "v INT", lambda: [(Decimal("1"),), (Decimal("2.5"),), (Decimal("-1.9"),)], [(1,), (2,), (-1,)])
V("int_from_bool", "v INT", lambda: [(True,)], Err(PE, "ArrowTypeError", msg="Expected integer, got bool"))
V("int_from_str", "v INT", lambda: [("1",)], Err(PE, "ArrowInvalid", msg="Could not convert '1' with type str: tried to convert to int32"))
V("bigint_ok", "v BIGINT", lambda: [(2**63 - 1,), (-(2**63),)], [(2**63 - 1,), (-(2**63),)])
V("bigint_overflow", "v BIGINT", lambda: [(2**63,)], Err(PE, "OverflowError", msg="Python int too large to convert to C long"))
V("bigint_underflow", "v BIGINT", lambda: [(-(2**63) - 1,)], Err(PE, "OverflowError", msg="Python int too large to convert to C long"))

# ---- floating point
V(
    "float_ok",
    "v FLOAT",
    lambda: [(1.5,), (1,), (1.1,), (True,), (float("nan"),), (float("inf"),), (1e40,), (None,)],
    [(1.5,), (1.0,), (1.100000023841858,), (1.0,), (NAN,), (math.inf,), (math.inf,), (None,)],
)
V("float_from_str", "v FLOAT", lambda: [("1.5",)], Err(PE, "ArrowInvalid", msg="Could not convert '1.5' with type str: tried to convert to float32"))
V("float_from_inexact_int", "v FLOAT", lambda: [(2**24 + 1,)], Err(PE, "ArrowInvalid", msg="outside of the range exactly representable by a IEEE 754 single precision value"))
V(
    "double_ok",
    "v DOUBLE",
    lambda: [(1.25,), (3,), (2**53,), (True,), (float("nan"),), (float("-inf"),), (None,)],
    [(1.25,), (3.0,), (9007199254740992.0,), (1.0,), (NAN,), (-math.inf,), (None,)],
    types=[["float"]] * 6 + [["NoneType"]],
)
V("double_from_inexact_int", "v DOUBLE", lambda: [(2**53 + 1,)], Err(PE, "ArrowInvalid", msg="Integer value 9007199254740993 is outside of the range exactly representable by a IEEE 754 double precision value"))
V("double_from_decimal", "v DOUBLE", lambda: [(Decimal("1.5"),)], Err(PE, "ArrowInvalid", msg="tried to convert to double"))
V("double_from_str", "v DOUBLE", lambda: [("1.5",)], Err(PE, "ArrowInvalid", msg="tried to convert to double"))

# ---- DECIMAL: quantized to the scale with ROUND_HALF_EVEN, precision checked
V(
    "decimal_round_half_even",
    "d DECIMAL(5,2)",
    lambda: [(Decimal("1.005"),), (Decimal("1.015"),), (Decimal("1.025"),), (Decimal("-1.005"),), (Decimal("2"),), (Decimal("123.456"),), (None,)],
    [(Decimal("1.00"),), (Decimal("1.02"),), (Decimal("1.02"),), (Decimal("-1.00"),), (Decimal("2.00"),), (Decimal("123.46"),), (None,)],
    types=[["Decimal"]] * 6 + [["NoneType"]],
)
V("decimal_nan_is_null", "d DECIMAL(5,2)", lambda: [(Decimal("NaN"),), (Decimal("sNaN"),)], [(None,), (None,)])
V("decimal_overflow", "d DECIMAL(5,2)", lambda: [(Decimal("1234.5"),)], Err(PE, "InvalidOperation"))
V("decimal_round_overflow", "d DECIMAL(5,2)", lambda: [(Decimal("999.995"),)], Err(PE, "InvalidOperation"))
V("decimal_infinity", "d DECIMAL(5,2)", lambda: [(Decimal("Infinity"),)], Err(PE, "InvalidOperation"))
V("decimal_from_int", "d DECIMAL(5,2)", lambda: [(1,)], Err(PE, "AssertionError"))
V("decimal_from_float", "d DECIMAL(5,2)", lambda: [(1.5,)], Err(PE, "AssertionError"))
V("decimal_from_str", "d DECIMAL(5,2)", lambda: [("1.5",)], Err(PE, "AssertionError"))
V(
    "decimal_38",
    "d DECIMAL(38,0), e DECIMAL(10,0)",
    lambda: [(Decimal("9" * 38), Decimal("12345"))],
    [(Decimal("9" * 38), Decimal("12345"))],
)

# ---- STRING: str(value), bools lower-cased
V(
    "string_coercion",
    "s STRING",
    lambda: [
        ("x",), ("",), ("héllo ☃",), (True,), (False,), (1,), (1.5,), (float("nan"),),
        (Decimal("1.50"),), (dt.date(2024, 1, 2),), (dt.datetime(2024, 1, 2, 3, 4, 5),),
        ([1, "a"],), ((1, 2),), ({"k": 1},), (b"ab",), (Unprintable(),), (None,),
    ],
    [
        ("x",), ("",), ("héllo ☃",), ("true",), ("false",), ("1",), ("1.5",), ("nan",),
        ("1.50",), ("2024-01-02",), ("2024-01-02 03:04:05",),
        ("[1, 'a']",), ("(1, 2)",), ("{'k': 1}",), ("b'ab'",), ("custom-str",), (None,),
    ],
)
V(
    "string_in_nested",
    "a ARRAY<STRING>, m MAP<STRING, STRING>, s STRUCT<x: STRING>",
    lambda: [([True, 1, None], {"k": 2.5}, (False,))],
    [(["true", "1", None], {"k": "2.5"}, {"x": "false"})],
)
# CHAR/VARCHAR are kept in the schema and the worker cannot convert them to Arrow: every read fails
# DELIBERATE DIFFERENCE (both): headwater reads CHAR(n)/VARCHAR(n) columns as strings.
V("varchar", "v VARCHAR(3)", lambda: [("ab",)],
  Err(PE, "UNSUPPORTED_DATA_TYPE_FOR_ARROW_CONVERSION", msg="VarcharType(3) is not supported in conversion to Arrow."),
  hw=[("ab",)])
V("char", "c CHAR(3)", lambda: [("ab",)],
  Err(PE, "UNSUPPORTED_DATA_TYPE_FOR_ARROW_CONVERSION", msg="CharType(3) is not supported in conversion to Arrow."),
  hw=[("ab",)])

# ---- BINARY
V(
    "binary_ok",
    "b BINARY",
    lambda: [(b"ab",), (bytearray(b"\x00\xff"),), (b"",), (None,)],
    [(b"ab",), (b"\x00\xff",), (b"",), (None,)],
    types=[["bytes"], ["bytes"], ["bytes"], ["NoneType"]],
)
V("binary_from_str", "b BINARY", lambda: [("ab",)], Err(PE, "AssertionError"))
V("binary_from_memoryview", "b BINARY", lambda: [(memoryview(b"ab"),)], Err(PE, "AssertionError"))

# ---- DATE
V(
    "date_ok",
    "d DATE",
    lambda: [(dt.date(2024, 1, 2),), (dt.date(1, 1, 1),), (dt.date(9999, 12, 31),), (None,)],
    [(dt.date(2024, 1, 2),), (dt.date(1, 1, 1),), (dt.date(9999, 12, 31),), (None,)],
)
V(
    "date_from_datetime",
    "d DATE",
    lambda: [(dt.datetime(2024, 1, 2, 23, 59, 59),)],
    [(dt.date(2024, 1, 2),)],
)
V("date_from_aware_datetime", "d DATE", lambda: [(dt.datetime(2024, 1, 15, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=5))),)],
  [(dt.date(2024, 1, 15),)], note="the wall-clock date; tzinfo ignored (UTC date would be 01-14)")
V("date_from_str", "d DATE", lambda: [("2024-01-02",)], Err(PE, "ArrowTypeError", msg="object of type <class 'str'> cannot be converted to int"))
# ints (and floats, truncated) are days since 1970-01-01
V("date_from_int", "d DATE", lambda: [(1,), (-1,), (1.5,)], [(dt.date(1970, 1, 2),), (dt.date(1969, 12, 31),), (dt.date(1970, 1, 2),)])
V("date_from_int_out_of_range", "d DATE", lambda: [(2**31,)], Err(PE, "ArrowInvalid", msg="Integer too large for date32"))

# ---- TIMESTAMP: naive = process-local time of the Python worker; aware converted to UTC;
#      collect() gives naive datetimes in the driver process's local time zone.
V(
    "timestamp_naive_roundtrip",
    "t TIMESTAMP",
    lambda: [(dt.datetime(2024, 1, 2, 3, 4, 5, 123456),), (None,)],
    [(dt.datetime(2024, 1, 2, 3, 4, 5, 123456),), (None,)],
    types=[["datetime"], ["NoneType"]],
)
V(
    "timestamp_aware",
    "t TIMESTAMP",
    lambda: [(dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=PLUS2),), (dt.datetime(2024, 6, 1, 12, 0, tzinfo=UTC),)],
    [
        (local_naive(dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)),),
        (local_naive(dt.datetime(2024, 6, 1, 12, 0, tzinfo=UTC)),),
    ],
)
V("timestamp_from_date", "t TIMESTAMP", lambda: [(dt.date(2024, 1, 2),)], Err(PE, "AssertionError"))
V("timestamp_from_str", "t TIMESTAMP", lambda: [("2024-01-02 00:00:00",)], Err(PE, "AssertionError"))
V("timestamp_from_int", "t TIMESTAMP", lambda: [(0,)], Err(PE, "AssertionError"))
V(
    "timestamp_ntz_ok",
    "t TIMESTAMP_NTZ",
    lambda: [(dt.datetime(2024, 1, 2, 3, 4, 5, 6),), (None,)],
    [(dt.datetime(2024, 1, 2, 3, 4, 5, 6),), (None,)],
    types=[["datetime"], ["NoneType"]],
)
V("timestamp_ntz_from_aware", "t TIMESTAMP_NTZ", lambda: [(dt.datetime(2024, 1, 2, tzinfo=UTC),)], Err(PE, "AssertionError"))
V("timestamp_ntz_from_date", "t TIMESTAMP_NTZ", lambda: [(dt.date(2024, 1, 2),)], Err(PE, "AssertionError"))

# ---- VOID
V("void_ok", "a INT, v VOID", lambda: [(1, None)], [(1, None)])
V("void_not_none", "v VOID", lambda: [(1,)], Err(PE, "PySparkValueError", msg="input for NullType() must be None, but got 1"))

# ---- ARRAY
V(
    "array_ok",
    "a ARRAY<INT>",
    lambda: [([1, 2, None],), ([],), (None,), (array.array("i", [3, 4]),)],
    [([1, 2, None],), ([],), (None,), ([3, 4],)],
    types=[[["list", "int", "int", "NoneType"]], [["list"]], ["NoneType"], [["list", "int", "int"]]],
)
V(
    "array_int_tuple",
    "a ARRAY<INT>",
    lambda: [((1, 2),)],
    [([1, 2],)],
    note="ARRAY<INT> needs no Python-side converter, so pyarrow gets the tuple and accepts it",
)
V("array_string_tuple", "a ARRAY<STRING>", lambda: [(("x", "y"),)], Err(PE, "AssertionError"),
  note="ARRAY<STRING> has a converter that asserts list/array.array")
V("array_nested", "a ARRAY<ARRAY<STRING>>", lambda: [([["a"], None, []],)], [([["a"], None, []],)])
V("array_from_str", "a ARRAY<INT>", lambda: [("ab",)], Err(PE, "ArrowInvalid", msg="Could not convert 'a' with type str: tried to convert to int32"),
  note="a str is iterated as a sequence of characters")
V("array_int_from_floats", "a ARRAY<INT>", lambda: [([1.9, -1.9],)], [([1, -1],)])
V("array_bad_element", "a ARRAY<INT>", lambda: [([1, "x"],)], Err(PE, "ArrowInvalid"))

# ---- MAP
V(
    "map_ok",
    "m MAP<STRING, INT>",
    lambda: [({"a": 1, "b": None},), ({},), (None,)],
    [({"a": 1, "b": None},), ({},), (None,)],
)
V("map_int_keys", "m MAP<INT, STRING>", lambda: [({1: "x", 2: True},)], [({1: "x", 2: "true"},)])
V("map_none_key", "m MAP<STRING, INT>", lambda: [({None: 1},)], Err(PE, "PySparkValueError", msg="must not be None"))
V("map_none_key_int", "m MAP<INT, INT>", lambda: [({None: 1},)], Err(PE, "PySparkValueError", msg="must not be None"))
V("map_from_pairs", "m MAP<STRING, INT>", lambda: [([("a", 1)],)], Err(PE, "AssertionError"))
V(
    "map_nested",
    "m MAP<STRING, ARRAY<STRUCT<x: INT>>>",
    lambda: [({"k": [(1,), {"x": 2}, None]},)],
    [({"k": [{"x": 1}, {"x": 2}, None]},)],
)

# ---- STRUCT
ST = "s STRUCT<a: INT, b: STRING>"
V(
    "struct_forms",
    ST,
    lambda: [
        ((1, "t"),),
        ({"a": 2, "b": "d"},),
        ({"b": "only-b"},),
        ({"a": 4, "b": "x", "extra": 1},),
        (Row(a=5, b="r"),),
        (Obj(a=6, b="o"),),
        (Obj(a=7),),
        (None,),
    ],
    [
        ({"a": 1, "b": "t"},),
        ({"a": 2, "b": "d"},),
        ({"a": None, "b": "only-b"},),
        ({"a": 4, "b": "x"},),
        ({"a": 5, "b": "r"},),
        ({"a": 6, "b": "o"},),
        ({"a": 7, "b": None},),
        (None,),
    ],
    types=[[["Row", "int", "str"]]] * 2 + [[["Row", "NoneType", "str"]]] + [[["Row", "int", "str"]]] * 3
    + [[["Row", "int", "NoneType"]]] + [["NoneType"]],
)
V(
    "struct_row_by_position",
    "s STRUCT<a: STRING, b: STRING>",
    lambda: [(Row(b="B", a="A"),)],
    [({"a": "B", "b": "A"},)],
    note="a Row inside a struct is a tuple: matched by position, names ignored",
)
V(
    "struct_row_other_names",
    "s STRUCT<a: STRING, b: STRING>",
    lambda: [(Row(x="1", y="2"),)],
    [({"a": "1", "b": "2"},)],
)
V("struct_from_list", ST, lambda: [([1, "x"],)], Err(PE, "AssertionError"))
V("struct_from_scalar", ST, lambda: [(5,)], Err(PE, "AssertionError"))
V("struct_wrong_length", ST, lambda: [((1,),)], Err(PE, "AXIS_LENGTH_MISMATCH", msg="Length mismatch: Expected axis has 2 elements, new values have 1 elements."))
V("struct_row_wrong_length", ST, lambda: [(Row(a=1),)], Err(PE, "AXIS_LENGTH_MISMATCH", msg="Length mismatch: Expected axis has 2 elements, new values have 1 elements."))
V("struct_bad_field", ST, lambda: [(("x", "y"),)], Err(PE, "ArrowInvalid"))
V(
    "struct_nested_all",
    "s STRUCT<i: INT, arr: ARRAY<STRUCT<d: DATE, m: MAP<STRING, BINARY>>>, n: STRUCT<z: DECIMAL(4,1)>>",
    lambda: [((1, [(dt.date(2024, 1, 2), {"k": b"v", "n": None}), None], {"z": Decimal("1.25")}),), (None,)],
    [({"i": 1, "arr": [{"d": dt.date(2024, 1, 2), "m": {"k": b"v", "n": None}}, None], "n": {"z": Decimal("1.2")}},), (None,)],
)

# ---- NOT NULL
# Top-level columns are converted as if nullable: the worker sends the null, and the JVM fails
# reading it (a raw py4j error for INT) or lets it through (STRING).
V(
    "not_null_top_level_none",
    "a INT NOT NULL, b STRING",
    lambda: [(None, "x")],
    Err("Py4JJavaError", "java.lang.IllegalStateException", msg="Value at index is null"),
    # DELIBERATE DIFFERENCE: Spark fails with an internal JVM error (no error class, not a
    # PySpark exception); headwater should raise a PythonException for the null.
    hw=Err(PE, "ANY"),
)
V(
    "not_null_top_level_none_string",
    "a STRING NOT NULL",
    lambda: [(None,)],
    Err("Py4JJavaError", "java.lang.NullPointerException", msg="because \"input\" is null"),
    hw=Err(PE, "ANY"),  # DELIBERATE DIFFERENCE, as above
)
V(
    "not_null_in_struct",
    "s STRUCT<a: INT NOT NULL>",
    lambda: [((None,),)],
    Err(PE, "PySparkValueError", msg="must not be None"),
)
V(
    "not_null_array_element",
    StructType([StructField("a", ArrayType(IntegerType(), containsNull=False))]),
    lambda: [([1, None],)],
    Err(PE, "PySparkValueError", msg="must not be None"),
)
V(
    "not_null_map_value",
    StructType([StructField("m", MapType(StringType(), IntegerType(), valueContainsNull=False))]),
    lambda: [({"a": None},)],
    Err(PE, "PySparkValueError", msg="must not be None"),
)

# ---- all types with nulls, several partitions
ALL_DDL = (
    "b BOOLEAN, i8 TINYINT, i16 SMALLINT, i32 INT, i64 BIGINT, f FLOAT, d DOUBLE, "
    "dec DECIMAL(12,3), s STRING, bin BINARY, dt DATE, ts TIMESTAMP, ntz TIMESTAMP_NTZ, v VOID, "
    "arr ARRAY<INT>, m MAP<STRING, DOUBLE>, st STRUCT<x: INT, y: ARRAY<MAP<STRING, STRUCT<a: INT>>>>"
)


def _all_rows():
    rows = []
    for i in range(6):
        rows.append(
            (
                i % 2 == 0, i, i * 100, i * 10000, i * 10**12, i + 0.5, i / 4, Decimal(i) / 8,
                f"s{i}", bytes([i]), dt.date(2020, 1, 1 + i), dt.datetime(2020, 1, 1, i, 0, 0),
                dt.datetime(2020, 1, 1, 0, i, 0), None, list(range(i)), {f"k{i}": i * 1.5},
                (i, [{"m": (i,)}]),
            )
        )
    rows.append(tuple([None] * 17))
    return rows


def _all_expected():
    out = []
    for r in _all_rows():
        if r[0] is None:
            out.append(r)
            continue
        i = r[1]
        out.append(
            r[:7] + (Decimal(i) / 8,) + r[8:14] + (list(range(i)), {f"k{i}": i * 1.5},
                                                   {"x": i, "y": [{"m": {"a": i}}]})
        )
    # DECIMAL(12,3): i/8 has at most 3 decimal places -> exact after quantize
    return [tuple(Decimal(str(v)).quantize(Decimal("0.001")) if k == 7 and v is not None else v
                  for k, v in enumerate(r)) for r in out]


V("all_types_one_partition", ALL_DDL, _all_rows, _all_expected())
V("all_types_three_partitions", ALL_DDL, _all_rows, [r for k in range(3) for r in _all_expected()[k::3]],
  partitions=3)  # items dealt round-robin; collect() keeps partition order
V("empty_partitions", "a INT", lambda: [(1,), (2,)], [(1,), (2,)], partitions=5)
V("no_rows", "a INT, b STRING", lambda: [], [], columns=["a", "b"])

# ---- row shapes
RS = "a INT, b STRING"
V("row_tuple", RS, lambda: [(1, "x")], [(1, "x")], columns=["a", "b"])
V("row_list", RS, lambda: [[1, "x"]], [(1, "x")])
V("row_named_row", RS, lambda: [Row(a=1, b="x")], [(1, "x")])
V("row_named_row_reordered", RS, lambda: [Row(b="x", a=1)], [(1, "x")],
  note="top-level named Rows are matched by field name")
V("row_named_row_other_names", RS, lambda: [Row(a=1, c="x")],
  Err(PE, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH", msg="Expected: ['a', 'b'] columns, Found: ['a', 'c'] columns"))
V("row_named_row_too_few", RS, lambda: [Row(a=1)],
  Err(PE, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH", msg="Expected: 2 columns, Found: 1 columns"))
V("row_positional_row", RS, lambda: [Row(1, "x")], [(1, "x")])
V("row_dict", RS, lambda: [{"a": 1, "b": "x"}],
  Err(PE, "DATA_SOURCE_INVALID_RETURN_TYPE",
      msg="Unsupported return type ('dict') from Python data source 'hw_values'. Expected types: tuple, list, `pyspark.sql.types.Row`, `pyarrow.RecordBatch`."))
V("row_dict_wrong_len", RS, lambda: [{"a": 1}],
  Err(PE, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH", msg="Expected: 2 columns, Found: 1 columns"),
  note="the width check (len()) runs before the type check")
V("row_scalar_int", "a INT", lambda: [1],
  Err(PE, "DATA_SOURCE_INVALID_RETURN_TYPE", msg="Unsupported return type ('int')"))
V("row_scalar_str_len1", "a STRING", lambda: ["x"],
  Err(PE, "DATA_SOURCE_INVALID_RETURN_TYPE", msg="Unsupported return type ('str')"))
V("row_scalar_str_len3", "a STRING", lambda: ["xyz"],
  Err(PE, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH", msg="Expected: 1 columns, Found: 3 columns"))
V("row_none", "a INT", lambda: [None],
  Err(PE, "DATA_SOURCE_INVALID_RETURN_TYPE", msg="Unsupported return type ('NoneType')"))
V("row_too_narrow", RS, lambda: [(1,)],
  Err(PE, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH",
      msg="Return schema mismatch in the result from 'read' method. Expected: 2 columns, Found: 1 columns. Make sure the returned values match the required output schema."))
V("row_too_wide", RS, lambda: [(1, "x", 3)],
  Err(PE, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH", msg="Expected: 2 columns, Found: 3 columns"))
V("row_bad_after_good", RS, lambda: [(1, "x"), (2, "y"), (3,)],
  Err(PE, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH", msg="Expected: 2 columns, Found: 1 columns"))
V("row_mixed_shapes", RS, lambda: [(1, "t"), [2, "l"], Row(b="r", a=3), Row(4, "p")],
  [(1, "t"), (2, "l"), (3, "r"), (4, "p")])

# ---- pyarrow.RecordBatch
V("arrow_ok", RS, lambda: [_arrow_ab([1, 2], ["x", None]), _arrow_ab([3], ["z"])],
  [(1, "x"), (2, None), (3, "z")], note="int32 + string, exactly the declared Arrow types")
V("arrow_empty_batch", RS, lambda: [_arrow_ab([], [])], [])
# RecordBatches (PySpark 4.3, SPARK-55583): the first batch's column count and names are checked,
# then its Arrow schema must equal the declared one (pyarrow Schema.equals: order, types, large
# types, nullability). 4.1 read the columns by position and crashed in the JVM on other types.
_SCHEMA_MISMATCH = Err(PE, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH", msg="Return schema mismatch in the result from 'read' method")
V("arrow_reordered_columns", RS, lambda: [_arrow_ba(["x"], [1])], _SCHEMA_MISMATCH)
V("arrow_reordered_same_types", "a STRING, b STRING", lambda: [_rb(b=["B"], a=["A"])], _SCHEMA_MISMATCH)
V("arrow_missing_column", RS, lambda: [_rb_a_only([1])],
  Err(PE, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH", msg="Expected: 2 columns, Found: 1 columns"))
V("arrow_extra_column", RS, lambda: [_arrow_abc()],
  Err(PE, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH", msg="Expected: 2 columns, Found: 3 columns"))
V("arrow_wrong_names", RS, lambda: [_arrow_named(["a", "c"])],
  Err(PE, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH", msg="Expected: ['a', 'b'] columns, Found: ['a', 'c'] columns"))
V("arrow_int64_for_int", RS, lambda: [_arrow_ab_i64()], _SCHEMA_MISMATCH)
V("arrow_int32_for_bigint", "a BIGINT, b STRING", lambda: [_arrow_ab([1], ["x"])], _SCHEMA_MISMATCH)
V("arrow_large_string", RS, lambda: [_arrow_ab_large()], _SCHEMA_MISMATCH)
V("arrow_not_null_column", RS, lambda: [_arrow_ab_not_null()], _SCHEMA_MISMATCH)
V("arrow_not_null_declared", "a INT NOT NULL, b STRING", lambda: [_arrow_ab([1], ["x"])], _SCHEMA_MISMATCH)
V("arrow_then_tuple", RS, lambda: [_arrow_ab([1], ["x"]), (2, "y")],
  Err(PE, "UDF_RETURN_TYPE", msg="Return type of the user-defined function should be iterator of pyarrow.RecordBatch, but is iterator of tuple."))
# A RecordBatch after a row goes through the row path: len(batch) is its row count, so it is a
# width mismatch unless num_rows == number of columns, then an unsupported row type.
V("tuple_then_arrow", RS, lambda: [(2, "y"), _arrow_ab([1], ["x"])],
  Err(PE, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH", msg="Expected: 2 columns, Found: 1 columns"),
  # headwater may report this quirk as either class
  hw=Err(PE, ("DATA_SOURCE_RETURN_SCHEMA_MISMATCH", "DATA_SOURCE_INVALID_RETURN_TYPE")))
V("tuple_then_arrow_2rows", RS, lambda: [(2, "y"), _arrow_ab([1, 3], ["x", "z"])],
  Err(PE, "DATA_SOURCE_INVALID_RETURN_TYPE", msg="Unsupported return type ('RecordBatch') from Python data source 'hw_values'"))
V("arrow_second_batch_bad", RS, lambda: [_arrow_ab([1], ["x"]), _rb_a_only([2])],
  Err(PE, "ArrowInvalid", msg="Tried to write record batch with different schema"))
V("arrow_multiple_batches_partitions", RS,
  lambda: [_arrow_ab([i, i + 1], [str(i), None]) for i in range(0, 12, 2)],
  [(0, "0"), (1, None), (6, "6"), (7, None), (2, "2"), (3, None), (8, "8"), (9, None), (4, "4"), (5, None), (10, "10"), (11, None)],
  partitions=3)


def _arrow_ab(a, b):
    import pyarrow as pa

    return pa.RecordBatch.from_arrays([pa.array(a, pa.int32()), pa.array(b, pa.string())], names=["a", "b"])


def _arrow_ba(b, a):
    import pyarrow as pa

    return pa.RecordBatch.from_arrays([pa.array(b, pa.string()), pa.array(a, pa.int32())], names=["b", "a"])


def _rb_a_only(a):
    import pyarrow as pa

    return pa.RecordBatch.from_arrays([pa.array(a, pa.int32())], names=["a"])


def _arrow_abc():
    import pyarrow as pa

    return pa.RecordBatch.from_arrays(
        [pa.array([1], pa.int32()), pa.array(["x"]), pa.array([1.0])], names=["a", "b", "c"]
    )


def _arrow_named(names):
    import pyarrow as pa

    return pa.RecordBatch.from_arrays([pa.array([1], pa.int32()), pa.array(["x"])], names=names)


def _arrow_ab_i64():
    import pyarrow as pa

    return pa.RecordBatch.from_arrays([pa.array([1], pa.int64()), pa.array(["x"])], names=["a", "b"])


def _arrow_ab_not_null():
    import pyarrow as pa

    schema = pa.schema([pa.field("a", pa.int32(), nullable=False), pa.field("b", pa.string())])
    return pa.RecordBatch.from_arrays([pa.array([1], pa.int32()), pa.array(["x"])], schema=schema)


def _arrow_ab_large():
    import pyarrow as pa

    return pa.RecordBatch.from_arrays(
        [pa.array([1], pa.int32()), pa.array(["x"], pa.large_string())], names=["a", "b"]
    )


# ---- what read() returns
V("read_returns_list", RS, lambda: [(1, "x")], Err(PE, "DATA_SOURCE_INVALID_RETURN_TYPE",
  msg="Unsupported return type ('list') from Python data source 'hw_values'. Expected types: iterator."), mode="list")
V("read_returns_tuple", RS, lambda: [(1, "x")], Err(PE, "DATA_SOURCE_INVALID_RETURN_TYPE",
  msg="Unsupported return type ('tuple')"), mode="tuple")
V("read_returns_none", RS, lambda: [(1, "x")], Err(PE, "DATA_SOURCE_INVALID_RETURN_TYPE",
  msg="Unsupported return type ('NoneType')"), mode="none")
V("read_returns_iter", RS, lambda: [(1, "x")], [(1, "x")], mode="iter")
V("read_raises", RS, lambda: [(1, "x")], Err(PE, "ValueError", msg="boom from read"), mode="raise",
  # headwater: a PythonException whose message has the original exception and its traceback
  hw=Err(PE, "ANY", "collect", "ValueError: boom from read"))

# ---- user schema
V("user_schema_reorders", RS, lambda: [(1, "x")],
  Err(PE, "ArrowInvalid", msg="Could not convert 'x' with type str: tried to convert to int32"),
  schema="b STRING, a INT", note="tuples are positional against the user schema")
V("user_schema_narrows", RS, lambda: [(1, "x")],
  Err(PE, "DATA_SOURCE_RETURN_SCHEMA_MISMATCH", msg="Expected: 1 columns, Found: 2 columns"), schema="a INT")
V("user_schema_widens_type", RS, lambda: [(1, "x")], [(1, "x")], schema="a BIGINT, b STRING")
V("user_schema_named_row", RS, lambda: [Row(b="x", a=1)], [("x", 1)], schema="b STRING, a INT")


# ---- planning
P("default", [("InputPartition", "'only'")])
CREATE = "Failed to create Python data source instance"
INIT = "Failed to initialize Python data source reader"
GEN = "Failed to generate Python data source read partitions"
P("init_raises", Err(AE, "PYTHON_DATA_SOURCE_ERROR", "load", (CREATE, "ValueError: boom from __init__")))
P("schema_raises", Err(AE, "PYTHON_DATA_SOURCE_ERROR", "load", (CREATE, "RuntimeError: boom from schema")))
P("schema_nonstruct", Err(AE, "INVALID_SCHEMA.NON_STRUCT_TYPE", "load",
  'The input schema int is not a valid schema string. The input expression should be evaluated to struct type, but got "INT".'))
P("schema_nonstruct_type", Err(AE, "INVALID_SCHEMA.NON_STRUCT_TYPE", "load",
  'The input schema "integer" is not a valid schema string. The input expression should be evaluated to struct type, but got "INT".'))
P("schema_bad_ddl", Err(AE, "PARSE_SYNTAX_ERROR", "load"))
P("schema_int", Err("Py4JJavaError", "java.lang.NegativeArraySizeException", "load"),
  # DELIBERATE DIFFERENCE: Spark breaks its worker protocol (raw py4j error); headwater should
  # raise an AnalysisException.
  hw=Err(AE, "ANY", "load"))
P("schema_struct_type", [("InputPartition", "'only'")])
P("schema_must_not_be_called", [("InputPartition", "'only'")], schema="p STRING, v STRING")
P("reader_raises", Err(AE, "PYTHON_DATA_SOURCE_ERROR", "collect", (INIT, "ValueError: boom from reader")))
P("reader_bad", Err(AE, "PYTHON_DATA_SOURCE_ERROR", "collect",
  (INIT, "[DATA_SOURCE_TYPE_MISMATCH] Expected an instance of DataSourceReader, but got 'object'.")))
P("reader_schema", [("type", "StructType"), ("p", "string"), ("v", "string")])
P("partitions_raises", Err(AE, "PYTHON_DATA_SOURCE_ERROR", "collect", (GEN, "ValueError: boom from partitions")))
P("partitions_tuple", Err(AE, "PYTHON_DATA_SOURCE_ERROR", "collect",
  (GEN, "[DATA_SOURCE_TYPE_MISMATCH] Expected 'partitions' to return a list, but got 'tuple'.")))
P("partitions_generator", Err(AE, "PYTHON_DATA_SOURCE_ERROR", "collect",
  (GEN, "[DATA_SOURCE_TYPE_MISMATCH] Expected 'partitions' to return a list, but got 'generator'.")))
P("partitions_ints", Err(AE, "PYTHON_DATA_SOURCE_ERROR", "collect",
  (GEN, "[DATA_SOURCE_TYPE_MISMATCH] Expected elements in 'partitions' to be of type 'InputPartition', but got 'int', 'int'.")))
P("partitions_mixed", Err(AE, "PYTHON_DATA_SOURCE_ERROR", "collect",
  (GEN, "[DATA_SOURCE_TYPE_MISMATCH] Expected elements in 'partitions' to be of type 'InputPartition', but got 'InputPartition', 'int'.")))
# PySpark 4.3 reads these as one partition InputPartition(None) (4.1 passed None)
P("partitions_empty", [("InputPartition", "None")])
P("partitions_not_implemented", [("InputPartition", "None")])
P("partitions_default", [("InputPartition", "InputPartition(value=None)")])
P("partitions_many", [(str(i), str(j)) for i in range(20) for j in range(3)])
P("partitions_many_sparse", [(str(i), "x") for i in range(0, 10, 3)])
P("partitions_subclass", [("RangePartition", str(j)) for j in range(5)])

CASES.append(Case("noschema_without_user_schema",
                  Err(AE, "PYTHON_DATA_SOURCE_ERROR", "load", (CREATE, "[NOT_IMPLEMENTED] schema is not implemented.")),
                  fmt="hw_noschema"))
CASES.append(Case("noschema_with_user_schema", [("0", "1")], fmt="hw_noschema", schema="x STRING, y STRING"))
CASES.append(Case("noschema_user_schema_structtype", [("0",)], fmt="hw_noschema",
                  schema=StructType([StructField("x", StringType())])))

# ---- names
CASES.append(Case("name_exact", [(1,)], fmt="HwMixedCase"))
CASES.append(Case("name_lower", [(1,)], fmt="hwmixedcase"))
CASES.append(Case("name_upper", [(1,)], fmt="HWMIXEDCASE"))
CASES.append(Case("name_default_is_class_name", [(7,)], fmt="hwdefaultname"))
CASES.append(Case("name_registered_twice_last_wins", [(2,)], fmt="hw_dup"))
CASES.append(Case(
    "name_not_registered",
    Err("Py4JJavaError", "DATA_SOURCE_NOT_FOUND", "load", "[DATA_SOURCE_NOT_FOUND] Failed to find the data source: hw_nope."),
    fmt="hw_nope",
    # DELIBERATE DIFFERENCE: PySpark does not convert SparkClassNotFoundException, so Python sees a
    # raw Py4JJavaError; headwater raises AnalysisException with the same error class.
    hw=Err(AE, "DATA_SOURCE_NOT_FOUND", "load", "Failed to find the data source: hw_nope."),
))

# ---- options
CASES.append(Case(
    "options_stringified",
    [("f", "'1.5'"), ("flag", "'true'"), ("mykey", "'V'"), ("n", "'1'"), ("off", "'false'"),
     ("upper", "'Keep Case'"), ("#lookup MyKey", "'V'"), ("#contains MYKEY", "True")],
    fmt="hw_options",
    options={"MyKey": "V", "flag": True, "off": False, "n": 1, "f": 1.5, "UPPER": "Keep Case"},
))
CASES.append(Case(
    "options_none_value",
    # PySpark 4.3 ignores option(k, None) (4.1 failed in the JVM with a NullPointerException)
    [("#lookup MyKey", "None"), ("#contains MYKEY", "False")],
    fmt="hw_options",
    options={"k": None},
))
CASES.append(Case(
    "options_path_and_option",
    Err(AE, "_LEGACY_ERROR_TEMP_1306", "load", "There is a 'path' or 'paths' option set and load() is called with path parameters."),
    fmt="hw_options",
    options={"path": "/from/option"},
    load=("/from/load",),
))
CASES.append(Case("options_path", [("path", "'/tmp/some/path'"), ("#lookup MyKey", "None"), ("#contains MYKEY", "False")],
                  fmt="hw_options", load=("/tmp/some/path",)))
CASES.append(Case("options_paths", [("paths", "'[\"/p/one\",\"/p/two\"]'"), ("#lookup MyKey", "None"), ("#contains MYKEY", "False")],
                  fmt="hw_options", load=(["/p/one", "/p/two"],)))

BY_NAME = {c.name: c for c in CASES}


# --------------------------------------------------------------------------------------------
# running a case on either engine (both have the same reader API)


class Outcome:
    def __init__(self, rows=None, columns=None, schema=None, nullable=None, error=None, phase=None):
        self.rows = rows
        self.columns = columns
        self.schema = schema  # simpleString()
        self.nullable = nullable  # top-level fields' nullability
        self.error = error
        self.phase = phase

    def __repr__(self):
        if self.error is not None:
            return f"Outcome(error={type(self.error).__name__}, phase={self.phase})"
        return f"Outcome(rows={self.rows!r})"


def run_case(session, case):
    """Load and collect one case; errors are captured with the phase (load/collect)."""
    phase = "load"
    try:
        r = session.read.format(case.fmt)
        if case.user_schema is not None:
            r = r.schema(case.user_schema)
        for k, v in case.options.items():
            r = r.option(k, v)
        df = r.load(*case.load_args)
        phase = "collect"
        rows = df.collect()
        return Outcome(rows=rows, columns=list(df.columns), schema=df.schema.simpleString(),
                       nullable=[f.nullable for f in df.schema.fields])
    except Exception as e:  # noqa: BLE001 - the error is the result
        return Outcome(error=e, phase=phase)


def worker_exception_line(message):
    """The final exception line of a Python traceback inside a Spark PythonException message:
    the first unindented line after the last ``  File ...`` frame."""
    lines = message.splitlines()
    last_frame = max((i for i, l in enumerate(lines) if l.startswith("  File ")), default=-1)
    for l in lines[last_frame + 1 :]:
        if l and not l.startswith(" "):
            return l
    return ""


def spark_error_info(exc):
    """(kind, cls, message) of an exception raised by PySpark.

    kind: "analysis" | "python" | the exception type name. For PythonException (getCondition()
    is None) cls is the [CLASS] of the worker's exception line, else that exception's type name
    without its module (``pyarrow.lib.ArrowInvalid`` -> ``ArrowInvalid``)."""
    import re

    from pyspark.errors.exceptions.captured import AnalysisException, PythonException

    msg = str(exc)
    from py4j.protocol import Py4JJavaError

    if isinstance(exc, Py4JJavaError):
        # the first error class along the cause chain, else the root cause's Java class
        j, root = exc.java_exception, None
        while j is not None:
            try:
                cond = j.getCondition()
            except Exception:  # noqa: BLE001 - not a SparkThrowable
                cond = None
            if cond:
                return "Py4JJavaError", cond, msg
            root, j = j, j.getCause()
        return "Py4JJavaError", root.getClass().getName(), msg
    if isinstance(exc, AnalysisException):
        return "analysis", exc.getCondition(), msg
    if isinstance(exc, PythonException):
        line = worker_exception_line(msg)
        m = re.match(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$", line)
        if not m:
            return "python", None, msg
        etype, emsg = m.group(1), m.group(2) or ""
        m2 = re.match(r"^\[([A-Z][A-Z0-9_.]*)\]", emsg)
        return "python", (m2.group(1) if m2 else etype.rsplit(".", 1)[-1]), msg
    cond = getattr(exc, "getCondition", lambda: None)()
    return type(exc).__name__, cond, msg
assert len(BY_NAME) == len(CASES), "duplicate case names"
