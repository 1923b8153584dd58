"""Property test of the row converter (issue 12): random schemas and random Python values,
including hostile objects whose dunder methods raise, lie or mutate their container, in every
executor mode and through createDataFrame. Each row either becomes exactly the value the oracle
says PySpark 4.3 stores, or the read fails with a headwater error naming partition, row and column
(the first row and column the oracle says fails). Never a crash, never another value.

The oracle (``expect``) is PySpark's own conversion (``LocalDataToArrowConversion`` in
pyspark/sql/conversion.py, then pyarrow's rules) written out from docs/spark-read-semantics.md;
the narrowing facts it relies on were probed on PySpark 4.3.0
(tests/python/spark_probe_narrowing.py). Values are built twice from a picklable "spec" (once for
the oracle, once where read() runs), because hostile values change their containers.
"""

from __future__ import annotations

import array
import datetime as dt
import decimal
import functools
import math
import sys
from decimal import Decimal

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import headwater  # noqa: E402
from headwater.datasource import DataSource, DataSourceReader, InputPartition  # noqa: E402
from headwater.errors import HeadwaterException  # noqa: E402

try:  # process mode: the worker unpickles build() and the hostile classes by value
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
except Exception:  # noqa: BLE001
    pass

pytestmark = pytest.mark.filterwarnings("ignore:The data source")

UTC = dt.timezone.utc
ERROR_CLASSES = {"CANNOT_CONVERT_VALUE", "AXIS_LENGTH_MISMATCH", "HW_CONTAINER_MUTATED"}


# ------------------------------------------------------------ types


class T:
    """A Spark type: kind plus parameters; ddl() renders it."""

    def __init__(self, kind, *args):
        self.kind, self.args = kind, args

    def ddl(self):
        k, a = self.kind, self.args
        if k == "DECIMAL":
            return f"DECIMAL({a[0]},{a[1]})"
        if k == "ARRAY":
            return f"ARRAY<{a[0].ddl()}>"
        if k == "MAP":
            return f"MAP<{a[0].ddl()},{a[1].ddl()}>"
        if k == "STRUCT":
            return "STRUCT<" + ", ".join(f"{n}: {t.ddl()}" for n, t in a[0]) + ">"
        return k

    def __repr__(self):
        return self.ddl()


LEAVES = ["TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "STRING", "BINARY", "BOOLEAN", "DATE",
          "TIMESTAMP", "TIMESTAMP_NTZ"]
KEYS = ["INT", "BIGINT", "STRING", "DATE"]


def weighted(*pairs):
    """A strategy picking among strategies by weight (one_of draws its branches unevenly)."""
    table = [strategy for weight, strategy in pairs for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda i: table[i])


@functools.cache
def leaf_types():
    decimals = st.integers(1, 38).flatmap(lambda p: st.integers(0, p).map(lambda s: T("DECIMAL", p, s)))
    return weighted((6, st.sampled_from(LEAVES).map(T)), (1, decimals))


@functools.cache
def types(depth=2):
    if depth == 0:
        return leaf_types()
    inner = types(depth - 1)
    return weighted(
        (5, leaf_types()),
        (1, inner.map(lambda t: T("ARRAY", t))),
        (1, st.tuples(st.sampled_from(KEYS).map(T), inner).map(lambda kv: T("MAP", *kv))),
        (1, st.lists(inner, min_size=1, max_size=3).map(
            lambda ts: T("STRUCT", [(f"f{i}", t) for i, t in enumerate(ts)]))),
    )


# ------------------------------------------------------------ hostile objects (built fresh each time)


class StrRaises:
    def __str__(self):
        raise ValueError("hostile __str__")


class ReprRaises:
    def __repr__(self):
        raise ValueError("hostile __repr__")

    def __str__(self):
        return "fine"


class IndexRaises:
    def __index__(self):
        raise ValueError("hostile __index__")


class ClearsParent:
    """str() empties the container this object sits in, then returns 'x'."""

    def __init__(self, parent):
        self.parent = parent

    def __str__(self):
        self.parent.clear()
        return "x"


class LyingDecimal(Decimal):
    def as_tuple(self):
        return ()


class StrSub(str):
    def __str__(self):
        return "from __str__"


class Attrs:
    """A struct value given as an object: its __dict__."""


def build(spec, parent=None):
    """The Python value a spec describes (fresh objects every call)."""
    tag = spec[0]
    if tag == "v":
        return spec[1]
    if tag == "str_raises":
        return StrRaises()
    if tag == "repr_raises":
        return ReprRaises()
    if tag == "index_raises":
        return IndexRaises()
    if tag == "clears_parent":
        return ClearsParent(parent if parent is not None else [])
    if tag == "lying_decimal":
        return LyingDecimal(spec[1])
    if tag == "str_sub":
        return StrSub(spec[1])
    if tag == "list":
        out = []
        out.extend(build(s, out) for s in spec[1])
        return out
    if tag == "tuple":
        return tuple(build(s) for s in spec[1])
    if tag == "array":
        return array.array(spec[1], spec[2])
    if tag == "dict":
        out = {}
        for ks, vs in spec[1]:
            out[build(ks, out)] = build(vs, out)
        return out
    if tag == "obj":
        o = Attrs()
        for name, s in spec[1]:
            setattr(o, name, build(s))
        return o
    raise AssertionError(spec)


# ------------------------------------------------------------ values


INT_EDGES = [0, 1, -1, 127, 128, -128, -129, 32767, 32768, -32769, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1,
             2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**24, 2**24 + 1, 2**53, 2**53 + 1, 2**64]
FLOAT_EDGES = [0.0, -0.0, 1.5, -1.5, 127.9, 128.0, -128.9, 2147483647.9, 2147483648.0, 9.2e18, 9.25e18,
               float(2**63), float(-(2**63)), -9.25e18, 3.4028235e38, 3.5e38, 1e-46, float("nan"), float("inf"),
               float("-inf"), 1e10]
TZS = [None, UTC, dt.timezone(dt.timedelta(hours=1)), dt.timezone(dt.timedelta(hours=-1)),
       dt.timezone(dt.timedelta(hours=14))]
DT_EDGES = [dt.datetime(1, 1, 1), dt.datetime(1, 1, 2, 3), dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
            dt.datetime(1, 1, 1, tzinfo=TZS[2]), dt.datetime(1, 1, 1, tzinfo=UTC),
            dt.datetime(9999, 12, 31, 23, 59, tzinfo=TZS[3]), dt.datetime(9999, 12, 31, 23, 59, tzinfo=UTC)]


@functools.cache
def decimals():
    tuples = st.builds(
        lambda sign, digits, exp: Decimal((sign, tuple(digits), exp)),
        st.integers(0, 1), st.lists(st.integers(0, 9), min_size=1, max_size=45),
        st.one_of(st.integers(-50, 10), st.sampled_from([-4294967297, -4294967296, 4294967296, 10**9])),
    )
    specials = st.sampled_from([Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity"),
                                Decimal("-0"), Decimal("5." + "0" * 38), Decimal("99999999.995")])
    return st.one_of(tuples, specials, st.decimals(allow_nan=False, allow_infinity=False, places=3))


@functools.cache
def scalars():
    """Any plain value (right or wrong for the column)."""
    return st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.sampled_from(INT_EDGES), st.floats(),
        st.sampled_from(FLOAT_EDGES), decimals(), st.text(max_size=8), st.just("\ud800"), st.binary(max_size=8),
        st.dates(), st.datetimes(timezones=st.sampled_from(TZS)), st.sampled_from(DT_EDGES),
        st.integers(-719162, 2932896),  # days Python's date can show
    ).map(lambda v: ("v", v))


@functools.cache
def hostile():
    return st.one_of(
        st.sampled_from([("str_raises",), ("repr_raises",), ("index_raises",), ("clears_parent",)]),
        st.sampled_from(["1.5", "-2.25", "1E+40", "NaN"]).map(lambda s: ("lying_decimal", s)),
        st.text(max_size=4).map(lambda s: ("str_sub", s)),
    )


def right_values(t, clean=False):
    """Values that mostly fit the type (a few do not, by design of the edges); with clean, only
    values that fit (so that most examples convert and their values get compared)."""
    k = t.kind
    if k in ("TINYINT", "SMALLINT", "INT", "BIGINT"):
        b = INT_RANGE[k]
        fit = st.integers(-(2**b), 2**b - 1)
        fit_float = st.floats(-(2.0**b) + 2**(b - 20), 2.0**b - 2**(b - 20))
        if clean:
            v = st.one_of(fit, fit_float, fit.map(Decimal))
        else:
            # the width's own boundaries, as ints, floats and Decimals (2^63 as a float is where a C
            # cast wraps; x.9 truncates inside the range)
            top = 2**b
            edges = st.sampled_from([top - 1, top, -top, -top - 1, float(top), float(-top), top - 0.5 if b < 53
                                     else 9.2e18, -top - 0.5 if b < 53 else -9.25e18, 9.25e18, float("nan"),
                                     float("inf"), Decimal(top), Decimal(top - 1) + Decimal("0.9"),
                                     Decimal(-top) - Decimal("0.9"), Decimal("NaN")])
            v = weighted((3, fit), (1, fit_float), (4, edges), (1, fit.map(Decimal)), (1, st.integers(-(2**64), 2**64)),
                         (1, st.sampled_from(INT_EDGES)), (1, st.sampled_from(FLOAT_EDGES)), (1, decimals()))
    elif k in ("FLOAT", "DOUBLE"):
        if clean:
            v = st.one_of(st.floats(), st.integers(-(2**24), 2**24), st.booleans())
        else:
            v = st.one_of(st.floats(), st.sampled_from(FLOAT_EDGES), st.sampled_from(INT_EDGES), st.booleans())
    elif k == "DECIMAL":
        p, sc = t.args
        fit = st.decimals(min_value=-(10 ** (p - sc)) + 1, max_value=10 ** (p - sc) - 1, places=min(sc + 2, p),
                          allow_nan=False, allow_infinity=False).map(lambda d: ("v", d))
        lying = st.sampled_from(["1.5", "-2.25", "123.456"]).map(lambda s: ("lying_decimal", s))
        if clean:
            return st.one_of(fit, st.just(("v", Decimal("NaN"))))
        return st.one_of(fit, fit, decimals().map(lambda d: ("v", d)), lying)
    elif k == "STRING":
        v = st.one_of(st.text(max_size=20), st.booleans(), st.floats(), st.integers())
    elif k == "BINARY":
        v = st.one_of(st.binary(max_size=20), st.binary(max_size=5).map(bytearray))
    elif k == "BOOLEAN":
        v = st.booleans()
    elif k == "DATE":
        if clean:
            v = st.one_of(st.dates(), st.datetimes(), st.integers(-719162, 2932896))
        else:
            v = st.one_of(st.dates(), st.datetimes(), st.integers(-719162, 2932896),
                          st.sampled_from([2**31, -(2**31) - 1, 1e10, -1.5, float("nan")]))
    elif k in ("TIMESTAMP", "TIMESTAMP_NTZ"):
        if clean:
            tzs = [None] if k == "TIMESTAMP_NTZ" else TZS
            v = st.datetimes(min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9998, 12, 31),
                             timezones=st.sampled_from(tzs))
        else:
            v = st.one_of(st.datetimes(timezones=st.sampled_from(TZS)), st.sampled_from(DT_EDGES))
    elif k == "ARRAY":
        et = t.args[0]
        elems = st.lists(values(et, clean), max_size=4)
        plain = [st.sampled_from(["d", "q"]).flatmap(
            lambda c: st.lists(st.integers(-100, 100) if c == "q" else st.floats(-1e3, 1e3), max_size=3).map(
                lambda xs, c=c: ("array", c, xs)))] if et.kind in ("INT", "BIGINT", "DOUBLE") else []
        if clean:
            tuples = [elems.map(lambda xs: ("tuple", xs))] if plain_elements(et) else []
            return st.one_of(elems.map(lambda xs: ("list", xs)), *tuples, *plain)
        return st.one_of(elems.map(lambda xs: ("list", xs)), elems.map(lambda xs: ("tuple", xs)), *plain)
    elif k == "MAP":
        keys = right_values(t.args[0], True) if clean else values(t.args[0])
        pairs = st.lists(st.tuples(keys, values(t.args[1], clean)), max_size=3)
        return pairs.map(lambda ps: ("dict", ps))
    elif k == "STRUCT":
        fields = t.args[0]
        per_field = st.tuples(*[values(ft, clean) for _, ft in fields])
        shapes = [
            per_field.map(lambda vs: ("tuple", list(vs))),
            per_field.map(lambda vs: ("dict", [(("v", n), s) for (n, _), s in zip(fields, vs)])),
            per_field.map(lambda vs: ("obj", [(n, s) for (n, _), s in zip(fields, vs)])),
        ]
        if not clean:  # often the wrong width
            shapes.append(st.lists(values(fields[0][1]), max_size=4).map(lambda vs: ("tuple", vs)))
        return st.one_of(*shapes)
    else:
        raise AssertionError(k)
    return v.map(lambda x: ("v", x))


_VALUES: dict = {}


def values(t, clean=False):
    """Strategies are built once per type (building them per example is what costs time)."""
    key = (t.ddl(), clean)
    if key not in _VALUES:
        right = right_values(t, clean)
        if clean:
            _VALUES[key] = weighted((8, right), (1, st.just(("v", None))))
        else:
            _VALUES[key] = weighted((12, right), (2, scalars()), (2, hostile()), (1, st.just(("v", None))))
    return _VALUES[key]


# ------------------------------------------------------------ the oracle: what PySpark 4.3 stores


class Fails(Exception):
    """The oracle's "PySpark raises here"."""


def plain_elements(t):
    if t.kind in ("BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "DATE"):
        return True
    return t.kind == "ARRAY" and plain_elements(t.args[0])


INT_RANGE = {"TINYINT": 7, "SMALLINT": 15, "INT": 31, "BIGINT": 63}


def expect(t, v):
    """The value pyarrow's to_pylist() gives for what PySpark stores, or Fails."""
    if v is None:
        return None
    k = t.kind
    if k in INT_RANGE:
        if type(v) is bool:
            raise Fails
        if isinstance(v, int):
            x = v
        elif isinstance(v, float):
            if math.isnan(v) or math.isinf(v):
                raise Fails
            x = int(v)  # truncated toward zero
        elif isinstance(v, Decimal):
            if not v.is_finite():
                raise Fails
            x = int(v)
        else:
            raise Fails
        bits = INT_RANGE[k]
        if not -(2**bits) <= x < 2**bits:
            raise Fails
        return x
    if k in ("FLOAT", "DOUBLE"):
        if type(v) is bool:
            x = float(v)
        elif isinstance(v, float):
            x = v
        elif isinstance(v, int):
            if abs(v) > (2**24 if k == "FLOAT" else 2**53):
                raise Fails
            x = float(v)
        else:
            raise Fails
        if k == "FLOAT":
            with np.errstate(over="ignore"):
                x = float(np.float32(x))
        return x
    if k == "DECIMAL":
        if not isinstance(v, Decimal):
            raise Fails
        if v.is_nan():
            return None
        p, s = t.args
        try:
            return Decimal.quantize(v, Decimal(f"1E-{s}"), context=decimal.Context(prec=p, rounding=decimal.ROUND_HALF_EVEN))
        except decimal.InvalidOperation:
            raise Fails from None
    if k == "STRING":
        if v is True or v is False:
            return "true" if v else "false"
        try:
            s = v if type(v) is str else str(v)
            s.encode("utf-8")
        except Exception:  # noqa: BLE001
            raise Fails from None
        return s
    if k == "BINARY":
        if isinstance(v, (bytes, bytearray)):
            return bytes(v)
        raise Fails
    if k == "BOOLEAN":
        if type(v) is bool:
            return v
        raise Fails
    if k == "DATE":
        if isinstance(v, dt.datetime):
            return v.date()
        if isinstance(v, dt.date):
            return v
        if type(v) is bool:
            raise Fails
        if isinstance(v, float):
            if math.isnan(v) or math.isinf(v):
                raise Fails
            v = int(v)
        if isinstance(v, int):
            if not -(2**31) <= v < 2**31:
                raise Fails
            return dt.date(1970, 1, 1) + dt.timedelta(days=v)
        raise Fails
    if k == "TIMESTAMP":
        if not isinstance(v, dt.datetime):
            raise Fails
        try:
            return v.astimezone(UTC)
        except (ValueError, OverflowError):
            raise Fails from None
    if k == "TIMESTAMP_NTZ":
        if not isinstance(v, dt.datetime) or v.tzinfo is not None:
            raise Fails
        return v
    if k == "ARRAY":
        et = t.args[0]
        if not (isinstance(v, (list, array.array)) or (isinstance(v, tuple) and plain_elements(et))):
            raise Fails
        return [expect(et, e) for e in v]  # Python's iteration, as PySpark
    if k == "MAP":
        if not isinstance(v, dict):
            raise Fails
        out = []
        try:
            for key, val in v.items():
                if key is None:
                    raise Fails
                out.append((expect(t.args[0], key), expect(t.args[1], val)))
        except RuntimeError:  # dictionary changed size during iteration
            raise Fails from None
        return out
    if k == "STRUCT":
        fields = t.args[0]
        if isinstance(v, tuple):
            if len(v) != len(fields):
                raise Fails
            return {n: expect(ft, v[i]) for i, (n, ft) in enumerate(fields)}
        if isinstance(v, dict):
            return {n: expect(ft, v.get(n)) for n, ft in fields}
        if isinstance(v, list) or not hasattr(v, "__dict__"):
            raise Fails
        d = v.__dict__
        return {n: expect(ft, d.get(n)) for n, ft in fields}
    raise AssertionError(k)


def expect_rows(schema, row_specs):
    """(rows, None) or (None, (row, column)) of the first failure."""
    rows = []
    for r, spec in enumerate(row_specs):
        out = {}
        for c, ((name, t), vs) in enumerate(zip(schema, spec)):
            try:
                out[name] = expect(t, build(vs))
            except Fails:
                return None, (r, c)
        rows.append(out)
    return rows, None


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return isinstance(a, Decimal) and isinstance(b, Decimal) and a == b
    return type(a) is type(b) and a == b or (isinstance(a, dt.datetime) and isinstance(b, dt.datetime) and a == b)


# ------------------------------------------------------------ running headwater


@pytest.fixture(scope="module")
def spark():
    s = headwater.SparkSession.builder.create()
    yield s
    s.stop()


def run_headwater(spark, way, ddl, row_specs):
    if way == "createDataFrame":
        rows = [tuple(build(s) for s in spec) for spec in row_specs]
        return spark.createDataFrame(rows, ddl).toArrow().to_pylist()

    class R(DataSourceReader):
        def partitions(self):
            return [InputPartition(0)]

        def read(self, p):
            for spec in row_specs:
                yield tuple(build(s) for s in spec)

    class S(DataSource):
        @classmethod
        def name(cls):
            return "hw_property"

        def schema(self):
            return ddl

        def reader(self, schema):
            return R()

    spark.conf.set("headwater.executor.mode", way)
    spark.dataSource.register(S)
    return spark.read.format("hw_property").load().toArrow().to_pylist()


def edge_values(t):
    """Values at the type's limits (where narrowing bugs live)."""
    k = t.kind
    if k in INT_RANGE:
        top = 2 ** INT_RANGE[k]
        v = st.sampled_from([top - 1, top, -top, -top - 1, float(top), float(-top), float(top - 1) if top < 2**53
                             else 9.2e18, -top - 0.9 if top < 2**53 else -9.25e18, 9.25e18, float("nan"),
                             float("inf"), Decimal(top), Decimal(top - 1) + Decimal("0.9"),
                             Decimal(-top) - Decimal("0.9"), Decimal("NaN"), True])
    elif k in ("FLOAT", "DOUBLE"):
        v = st.sampled_from(FLOAT_EDGES + INT_EDGES)
    elif k == "DECIMAL":
        v = decimals()
    elif k == "DATE":
        v = st.sampled_from([2**31, -(2**31) - 1, 1e10, -1.5, float("nan"), 2.5, True, "2024-01-01"])
    elif k in ("TIMESTAMP", "TIMESTAMP_NTZ"):
        v = st.sampled_from(DT_EDGES)
    else:
        return right_values(t)
    return v.map(lambda x: ("v", x))


def dirty_values(t):
    key = (t.ddl(), "dirty")
    if key not in _VALUES:
        _VALUES[key] = weighted((4, edge_values(t)), (2, right_values(t)), (1, scalars()), (2, hostile()),
                                (1, st.just(("v", None))))
    return _VALUES[key]


@st.composite
def schemas_and_rows(draw):
    """A schema and 1-4 rows: either all values clean (they fit; compared value by value), or
    clean rows with a few cells replaced by anything (edges, wrong types, hostile objects), so that
    the first failing cell is mostly the one replaced."""
    schema = draw(st.lists(types(), min_size=1, max_size=3).map(lambda ts: [(f"c{i}", t) for i, t in enumerate(ts)]))
    rows = draw(st.lists(st.tuples(*[values(t, True) for _, t in schema]), min_size=1, max_size=4))
    rows = [list(r) for r in rows]
    for _ in range(draw(st.integers(0, 2))):
        r = draw(st.integers(0, len(rows) - 1))
        c = draw(st.integers(0, len(schema) - 1))
        rows[r][c] = draw(dirty_values(schema[c][1]))
    return schema, [tuple(r) for r in rows]


@pytest.mark.parametrize("way", ["inline", "thread", "process", "createDataFrame"])
def test_converter_matches_the_oracle(spark, way):
    # no shrinking: each example is a query, and the failing example is reported as drawn
    @settings(max_examples=200, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    @given(schemas_and_rows())
    @example(([("c0", T("BIGINT"))], [(("v", 9.25e18),)]))
    @example(([("c0", T("BIGINT"))], [(("v", float(2**63)),)]))
    @example(([("c0", T("BIGINT"))], [(("v", -9.25e18),)]))
    @example(([("c0", T("DECIMAL", 10, 2)), ("c1", T("DECIMAL", 38, 18))],
              [(("v", Decimal("5." + "0" * 38)), ("v", Decimal("1E-4294967297")))]))
    @example(([("c0", T("DECIMAL", 10, 2))], [(("lying_decimal", "1.5"),)]))
    @example(([("c0", T("ARRAY", T("STRING")))], [(("list", [("clears_parent",), ("v", "a")]),)]))
    @example(([("c0", T("MAP", T("STRING"), T("STRING")))], [(("dict", [(("v", "k"), ("clears_parent",)),
                                                                         (("v", "j"), ("v", "x"))]),)]))
    @example(([("c0", T("STRUCT", [("f0", T("STRING")), ("f1", T("STRING"))]))],
              [(("dict", [(("v", "f0"), ("clears_parent",)), (("v", "f1"), ("v", "y"))]),)]))
    @example(([("c0", T("INT"))], [(("v", "x" + "é" * 40),)]))
    def check(case):
        schema, row_specs = case
        ddl = ", ".join(f"{n} {t.ddl()}" for n, t in schema)
        want, failure = expect_rows(schema, row_specs)
        try:
            got = run_headwater(spark, way, ddl, row_specs)
        except HeadwaterException as e:
            assert failure is not None, f"{ddl}: headwater raised {e!s:.500} but PySpark stores {want!r:.500}"
            assert e.getErrorClass() in ERROR_CLASSES, str(e)
            assert (e.partition, e.row, e.column) == (0, *failure), f"{ddl}: {e!s:.500} vs oracle {failure}"
            return
        assert failure is None, f"{ddl}: headwater stored {got!r:.500}, PySpark fails at {failure}"
        assert same(got, want), f"{ddl}:\n headwater {got!r:.800}\n oracle    {want!r:.800}"

    check()
