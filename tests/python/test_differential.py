"""Differential tests: the same Python data sources on real PySpark and on headwater.

Every case of ``dsources.CASES`` (data sources written against ``pyspark.sql.datasource``) is read
on real PySpark (one ``local[2]`` session for the module) and on headwater in each executor mode,
and the outcomes must agree: the collected rows (normalised, see ``dsources.norm``), the value
types, the column names, the schema, or the error (kind, error class, phase, key message).

``test_spark`` also checks Spark against the outcome written down with each case, i.e. the facts in
``docs/spark-read-semantics.md`` (probe script: ``tests/python/spark_probe.py``). Cases where
headwater deliberately differs from Spark carry an explicit ``hw=`` expectation in dsources.py,
commented with DELIBERATE DIFFERENCE.

Switch: ``HW_DIFF_SPARK_ONLY=1`` runs only the Spark halves and skips every headwater comparison
(for when headwater is not built, or to re-verify the documented Spark facts). Default: off.

The module is skipped (with the reason) when pyspark/pyarrow are not installed or ``java`` is not
on PATH. Spark runs one query per case (~0.4 s each: Spark plans every read in fresh Python
processes), computed once per case and reused by both headwater modes: ~75 s for the module on an
idle 2-core machine, up to ~2.5 min when the machine is busy. ``-k`` selects cases; only the
selected cases run on Spark.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings

import pytest

pytest.importorskip("pyarrow", reason="pyarrow is not installed")
pytest.importorskip("pyspark", minversion="4.0", reason="pyspark>=4 is not installed: no real Spark to compare with")
if shutil.which("java") is None:
    print("test_differential: skipped, java is not on PATH (real PySpark needs a JVM)", file=sys.stderr)
    pytest.skip("java is not on PATH: real PySpark needs a JVM", allow_module_level=True)

import dsources  # noqa: E402  (tests/python is on sys.path: pytest's rootdir-relative import)
from dsources import CASES, Err, is_error_class, norm_rows, type_names  # noqa: E402

pytestmark = pytest.mark.jvm  # starts real PySpark (a JVM): not run under `make sanitize`

SPARK_ONLY = os.environ.get("HW_DIFF_SPARK_ONLY", "") not in ("", "0")
MODES = ("inline", "thread")
HERE = os.path.dirname(os.path.abspath(__file__))

# getErrorClass() on PySpark exceptions is deprecated in favour of getCondition(); both engines
# are asked through getCondition()/getErrorClass() as available.
warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")


# ------------------------------------------------------------------------------------------------
# sessions


@pytest.fixture(scope="module")
def spark():
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers need this venv (pyarrow)
    fresh = SparkContext._active_spark_context is None
    saved = os.environ.get("PYTHONPATH")
    if fresh:
        # Python workers import dsources by reference: put tests/python on the PYTHONPATH the JVM
        # (and its workers) inherit. Much faster than pickling the module by value every query.
        os.environ["PYTHONPATH"] = HERE + (os.pathsep + saved if saved else "")
    else:
        from pyspark import cloudpickle

        cloudpickle.register_pickle_by_value(dsources)
    try:
        session = (
            SparkSession.builder.master("local[2]")
            .appName("headwater-differential")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1")  # short-lived JVM: C1 only
            .getOrCreate()
        )
    finally:
        if fresh:  # the JVM has its copy of the environment now
            if saved is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved
    session.sparkContext.setLogLevel("OFF")
    for cls in dsources.SOURCES:
        session.dataSource.register(cls)
    yield session
    if fresh:
        session.stop()


@pytest.fixture(scope="module")
def hw():
    if SPARK_ONLY:
        pytest.skip("HW_DIFF_SPARK_ONLY is set: headwater comparisons skipped")
    import headwater

    session = headwater.SparkSession.builder.getOrCreate()
    for cls in dsources.SOURCES:
        session.dataSource.register(cls)
    return session


# ------------------------------------------------------------------------------------------------
# outcomes


class Seen:
    """An engine's outcome reduced to plain data (computed while the engine is alive)."""

    def __init__(self, out, error_info):
        self.phase = out.phase
        self.error = out.error
        if out.error is None:
            self.rows = norm_rows(out.rows)
            self.types = type_names(out.rows)
            self.columns = out.columns
            self.schema = out.schema
            self.nullable = out.nullable
            self.kind = self.cls = self.msg = None
        else:
            self.kind, self.cls, self.msg = error_info(out.error)

    def describe(self):
        if self.error is None:
            return f"rows {self.rows!r}"
        first = self.msg.strip().splitlines()
        return f"{self.kind} [{self.cls}] at {self.phase}: {first[-1] if first else ''!s}"[:600]


_SPARK = {}


def spark_seen(spark, case):
    if case.name not in _SPARK:
        _SPARK[case.name] = Seen(dsources.run_case(spark, case), dsources.spark_error_info)
    return _SPARK[case.name]


def hw_error_info(exc):
    """(kind, cls, message) of an exception raised by headwater."""
    from headwater import errors

    if isinstance(exc, errors.AnalysisException):
        kind = "analysis"
    elif isinstance(exc, errors.PythonException):
        kind = "python"
    else:
        kind = type(exc).__name__
    get = getattr(exc, "getErrorClass", None) or getattr(exc, "getCondition", None)
    return kind, (get() if get else None), str(exc)


def check_error(seen, exp, who):
    assert seen.error is not None, f"{who}: expected {exp}, but it succeeded with {seen.rows!r}"
    problems = []
    if seen.kind != exp.kind:
        problems.append(f"kind {seen.kind!r} != {exp.kind!r}")
    if exp.cls != Err.ANY:
        ok = seen.cls in exp.cls if isinstance(exp.cls, tuple) else seen.cls == exp.cls
        if not ok:
            problems.append(f"error class {seen.cls!r} != {exp.cls!r}")
    if seen.phase != exp.phase:
        problems.append(f"raised at {seen.phase}, expected at {exp.phase}")
    for m in exp.messages():
        if m not in seen.msg:
            problems.append(f"message lacks {m!r}")
    assert not problems, f"{who}: " + "; ".join(problems) + f"\n--- message:\n{seen.msg[:3000]}"


def check_rows(seen, case, who):
    assert seen.error is None, f"{who}: expected rows {case.expect!r}, got {seen.describe()}"
    assert seen.rows == case.expect, f"{who}: rows differ\n got:      {seen.rows!r:.1500}\n expected: {case.expect!r:.1500}"
    if case.columns is not None:
        assert seen.columns == case.columns
    if case.types is not None:
        assert seen.types == case.types, f"{who}: value types differ: {seen.types!r:.1500}"


# ------------------------------------------------------------------------------------------------
# Spark against the documented facts


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_spark(spark, case):
    seen = spark_seen(spark, case)
    if isinstance(case.expect, Err):
        check_error(seen, case.expect, "spark")
    else:
        check_rows(seen, case, "spark")


# ------------------------------------------------------------------------------------------------
# headwater against Spark


def expected_for_headwater(case, sp):
    """What headwater must produce: the case's explicit ``hw`` (deliberate differences) or what
    Spark produced, as an Err for failures (see Err.for_headwater) or Spark's Seen for rows."""
    if isinstance(case.hw, Err):
        return case.hw
    if sp.error is None:
        return sp
    msg = case.expect.msg if isinstance(case.expect, Err) else None
    return Err(sp.kind, sp.cls, sp.phase, msg).for_headwater()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_headwater(spark, hw, case, mode):
    sp = spark_seen(spark, case)
    hw.conf.set("headwater.executor.mode", mode)
    got = Seen(dsources.run_case(hw, case), hw_error_info)
    if isinstance(case.hw, list):  # a deliberate difference where headwater reads what Spark cannot
        assert got.error is None, f"headwater[{mode}]: expected rows {case.hw!r}, got {got.describe()}"
        assert got.rows == dsources.norm_rows(case.hw), f"headwater[{mode}]: rows differ: {got.rows!r}"
        return
    exp = expected_for_headwater(case, sp)
    if isinstance(exp, Err):
        check_error(got, exp, f"headwater[{mode}]")
        return
    assert got.error is None, f"headwater[{mode}]: Spark gave {sp.describe()}, headwater {got.describe()}"
    # normalised rows (Row -> dict, bytearray -> bytes, NaN marker; dicts compare unordered since
    # Spark does not keep map order), plus the raw value types, names and schema
    assert got.rows == sp.rows, f"headwater[{mode}]: rows differ\n spark: {sp.rows!r:.1500}\n hw:    {got.rows!r:.1500}"
    assert got.types == sp.types, f"headwater[{mode}]: value types differ\n spark: {sp.types!r:.1500}\n hw:    {got.types!r:.1500}"
    assert got.columns == sp.columns
    assert got.schema == sp.schema
    assert got.nullable == sp.nullable


# ------------------------------------------------------------------------------------------------
# things outside the case table


def test_case_table_is_consistent():
    """Every case whose Spark outcome is not an AnalysisException/PythonException (raw py4j errors,
    JVM crashes) must say what headwater does instead."""
    for case in CASES:
        if isinstance(case.expect, Err) and case.expect.kind not in ("analysis", "python"):
            assert case.hw is not None, f"{case.name}: Spark raises {case.expect.kind}; set hw="
        if isinstance(case.hw, Err):
            assert case.hw.kind in ("analysis", "python"), case.name
        if isinstance(case.expect, Err) and not is_error_class(case.expect.cls):
            assert case.expect.kind != "analysis", case.name


def _arrow_type_key(t):
    """An Arrow type as a string, with list item / map entry field names left out: Spark names the
    list child 'element', pyarrow's default is 'item'; the name carries no data."""
    import pyarrow as pa

    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"list<{_arrow_type_key(t.value_type)}>"
    if pa.types.is_map(t):
        return f"map<{_arrow_type_key(t.key_type)}, {_arrow_type_key(t.item_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ", ".join(f"{f.name}: {_arrow_type_key(f.type)}" for f in t) + ">"
    return str(t)


ARROW_CASES = ["all_types_one_partition", "all_types_three_partitions", "no_rows", "arrow_ok", "map_nested"]


@pytest.mark.parametrize("name", ARROW_CASES)
def test_to_arrow(spark, hw, name):
    case = dsources.BY_NAME[name]
    sp = spark.read.format(case.fmt).options(**case.options).load().toArrow()
    for mode in MODES:
        hw.conf.set("headwater.executor.mode", mode)
        got = hw.read.format(case.fmt).options(**case.options).load().toArrow()
        assert got.schema.names == sp.schema.names
        assert [_arrow_type_key(f.type) for f in got.schema] == [_arrow_type_key(f.type) for f in sp.schema]
        assert got.to_pylist() == sp.to_pylist(), mode


@pytest.mark.parametrize("name", ["row_mixed_shapes", "double_ok", "plan_partitions_many", "no_rows"])
def test_count_and_pandas(spark, hw, name):
    case = dsources.BY_NAME[name]
    sdf = spark.read.format(case.fmt).options(**case.options).load()
    n, spd = sdf.count(), sdf.toPandas()
    for mode in MODES:
        hw.conf.set("headwater.executor.mode", mode)
        hdf = hw.read.format(case.fmt).options(**case.options).load()
        assert hdf.count() == n
        hpd = hdf.toPandas()
        assert list(hpd.columns) == list(spd.columns)
        assert [str(t) for t in hpd.dtypes] == [str(t) for t in spd.dtypes]
        assert hpd.equals(spd), mode


def test_register_over_builtin_name(spark):
    """Spark refuses a Python data source named like a built-in one (json, csv, parquet, ...).
    headwater has no built-in sources, but should refuse those names too, so that code that runs
    on headwater also runs on Spark."""
    from pyspark.errors.exceptions.captured import AnalysisException

    class FakeJson(dsources.HwDefaultName):
        @classmethod
        def name(cls):
            return "json"

    with pytest.raises(AnalysisException) as info:
        spark.dataSource.register(FakeJson)
    assert info.value.getCondition() == "DATA_SOURCE_ALREADY_EXISTS"
    assert "Data source 'json' already exists." in str(info.value)
    if SPARK_ONLY:
        return
    import headwater

    hws = headwater.SparkSession.builder.getOrCreate()
    with pytest.raises(headwater.errors.AnalysisException) as hinfo:
        hws.dataSource.register(FakeJson)
    assert hinfo.value.getErrorClass() == "DATA_SOURCE_ALREADY_EXISTS"
