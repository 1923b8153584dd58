"""Probe real PySpark's Python data source read semantics (the facts in docs/spark-read-semantics.md).

Not a pytest module (no test_ functions). Run:

    .venv/bin/python tests/python/spark_probe.py            # all cases + extras + time-zone runs
    .venv/bin/python tests/python/spark_probe.py --cases     # only the case table of dsources.py
    .venv/bin/python tests/python/spark_probe.py --tz        # only the time-zone runs

For every case in ``dsources.CASES`` it prints what real Spark did and whether that matches the
expectation stored with the case. Time-zone behaviour is probed in child processes (one JVM at a
time) with different ``TZ`` environment values and ``spark.sql.session.timeZone`` settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
warnings.filterwarnings("ignore", category=FutureWarning)


def make_spark(session_tz=None):
    """One local[2] session. Python workers import dsources by reference: tests/python goes on
    the PYTHONPATH the JVM (and so its Python workers) inherit; much faster than pickling the
    module by value for every query."""
    from pyspark.sql import SparkSession

    pp = os.environ.get("PYTHONPATH", "")
    if HERE not in pp.split(os.pathsep):
        os.environ["PYTHONPATH"] = HERE + (os.pathsep + pp if pp else "")

    b = (
        SparkSession.builder.master("local[2]")
        .appName("headwater-spark-probe")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1")  # short-lived JVM: C1 only
        .config("spark.ui.showConsoleProgress", "false")
    )
    if session_tz:
        b = b.config("spark.sql.session.timeZone", session_tz)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("OFF")
    return spark


def register_all(spark):
    import dsources

    for cls in dsources.SOURCES:
        spark.dataSource.register(cls)


def describe(case, out):
    import dsources

    if out.error is None:
        return {
            "rows": dsources.norm_rows(out.rows),
            "columns": out.columns,
            "schema": out.schema,
            "types": dsources.type_names(out.rows),
        }
    kind, cls, msg = dsources.spark_error_info(out.error)
    info = {"error": type(out.error).__module__ + "." + type(out.error).__name__, "kind": kind, "cls": cls,
            "phase": out.phase}
    if kind == "python":
        info["line"] = dsources.worker_exception_line(msg)[:400]
    else:
        info["message"] = msg.split("\n\nJVM stacktrace:")[0][:600]
        try:
            info["params"] = out.error.getMessageParameters()
        except Exception:  # noqa: BLE001
            pass
    return info


def matches(case, out):
    import dsources

    exp = case.expect
    if exp is None:
        return "?"
    if isinstance(exp, dsources.Err):
        if out.error is None:
            return "NO (succeeded)"
        kind, cls, msg = dsources.spark_error_info(out.error)
        ok = kind == exp.kind and cls == exp.cls and out.phase == exp.phase
        ok = ok and all(m in msg for m in exp.messages())
        return "yes" if ok else "NO"
    if out.error is not None:
        return "NO (failed)"
    ok = dsources.norm_rows(out.rows) == exp
    if case.columns is not None:
        ok = ok and out.columns == case.columns
    if case.types is not None:
        ok = ok and dsources.type_names(out.rows) == case.types
    return "yes" if ok else "NO"


def probe_cases(spark):
    import dsources

    import time

    bad = 0
    times = []
    for case in dsources.CASES:
        t0 = time.time()
        out = dsources.run_case(spark, case)
        times.append((time.time() - t0, case.name))
        m = matches(case, out)
        bad += m.startswith("NO")
        print(f"### {case.name}  [matches expectation: {m}]")
        print("   ", json.dumps(describe(case, out), default=repr, ensure_ascii=False))
    print(f"\n{len(dsources.CASES)} cases, {bad} not matching their expectation, "
          f"{sum(t for t, _ in times):.1f}s; slowest:",
          ", ".join(f"{n} {t:.2f}s" for t, n in sorted(times, reverse=True)[:8]))
    return bad


def probe_extras(spark):
    """Things outside the case table."""
    import dsources
    from pyspark.sql.datasource import DataSource, DataSourceReader

    print("\n## extras")

    # exception classes and their MRO as seen from Python
    out = dsources.run_case(spark, dsources.BY_NAME["row_too_narrow"])
    e = out.error
    print("PythonException type:", type(e).__module__, type(e).__name__,
          "getCondition():", e.getCondition(), "getMessageParameters():", e.getMessageParameters())
    print("   message starts:", repr(str(e)[:120]))
    out = dsources.run_case(spark, dsources.BY_NAME["read_raises"])
    print("read() raising: message:\n", str(out.error).split("\n\nJVM stacktrace:")[0])
    out = dsources.run_case(spark, dsources.BY_NAME["plan_schema_nonstruct"])
    print("AnalysisException type:", type(out.error).__module__, type(out.error).__name__,
          "sqlState:", out.error.getSqlState())

    # df.schema with a DDL string schema, and nullability
    df = spark.read.format("hw_values").option("case", "not_null_top_level_none").load()
    print("schema of 'a INT NOT NULL, b STRING':", df.schema)
    for what, f in (("count()", df.count), ("filter('a IS NULL').count()", df.filter("a IS NULL").count),
                    ("select('b').collect()", df.select("b").collect)):
        try:
            print(f"   not-null violation, {what}:", f())
        except Exception as ex:  # noqa: BLE001
            print(f"   not-null violation, {what}:", type(ex).__name__, str(ex).split("\n")[1][:200])

    # load() and df.schema do not run reader(): a raising reader() only fails the first action
    df = spark.read.format("hw_plan").option("what", "reader_raises").load()
    print("reader() raising: load() ok, df.schema =", df.schema.simpleString(), "df.columns =", df.columns)

    # toArrow() types
    t = spark.read.format("hw_values").option("case", "all_types_one_partition").load().toArrow()
    print("toArrow() schema of all types:", ", ".join(f"{f.name}: {f.type}" for f in t.schema))

    # binary results type with the binaryAsBytes conf (if present)
    conf = "spark.sql.execution.pyspark.binaryAsBytes"
    print(conf, "default:", spark.conf.get(conf, None))
    for val in ("true", "false"):
        spark.conf.set(conf, val)
        rows = spark.read.format("hw_values").option("case", "struct_nested_all").load().collect()
        top = spark.read.format("hw_values").option("case", "binary_ok").load().collect()
        print(f"   {conf}={val} -> BINARY collect type: {type(top[0][0]).__name__}, in map in struct:",
              type(rows[0][0]["arr"][0]["m"]["k"]).__name__)
    spark.conf.unset(conf)

    # full planning error messages
    for name in ("plan_reader_bad", "plan_partitions_tuple", "plan_partitions_ints", "plan_init_raises",
                 "noschema_without_user_schema", "plan_schema_bad_ddl"):
        out = dsources.run_case(spark, dsources.BY_NAME[name])
        print(f"\n--- {name}: {type(out.error).__name__} {out.error.getCondition()}\n"
              + str(out.error).split("\n\nJVM stacktrace:")[0])

    # how many times are __init__/schema() called?
    class Counting(DataSource):
        @classmethod
        def name(cls):
            return "hw_counting"

        def schema(self):
            import os as _os

            return "pid INT"

        def reader(self, schema):
            return CountingReader()

    class CountingReader(DataSourceReader):
        def read(self, partition):
            import os as _os

            yield (_os.getpid(),)

    spark.dataSource.register(Counting)

    class OptionsType(DataSource):
        @classmethod
        def name(cls):
            return "hw_options_type"

        def schema(self):
            return "t STRING"

        def reader(self, schema):
            t = type(self.options)
            return dsources.ListReader([(f"{t.__module__}.{t.__qualname__}",)])

    spark.dataSource.register(OptionsType)
    print("type of DataSource.options:", spark.read.format("hw_options_type").load().collect()[0][0])
    print("driver pid", os.getpid(), "read() ran in pid",
          spark.read.format("hw_counting").load().collect()[0][0])

    # registering over a built-in name
    class FakeJson(DataSource):
        @classmethod
        def name(cls):
            return "json"

        def schema(self):
            return "x INT"

        def reader(self, schema):
            return dsources.ListReader([(1,)])

    try:
        spark.dataSource.register(FakeJson)
        print("register name 'json': accepted")
        try:
            r = spark.read.format("json").load().collect()
            print("   format('json').load() ->", r)
        except Exception as ex:  # noqa: BLE001
            print("   format('json').load() ->", type(ex).__name__, getattr(ex, "getCondition", lambda: None)(),
                  str(ex).split("\n")[0][:300])
    except Exception as ex:  # noqa: BLE001
        print("register name 'json':", type(ex).__name__, getattr(ex, "getCondition", lambda: None)(),
              str(ex).split("\n")[0][:300])

    # registering a non-DataSource
    try:
        spark.dataSource.register(int)
        print("register(int): accepted")
    except Exception as ex:  # noqa: BLE001
        print("register(int):", type(ex).__name__, str(ex).split("\n")[0][:200])

    # templates
    import pyspark

    path = os.path.join(os.path.dirname(pyspark.__file__), "errors", "error-conditions.json")
    conds = json.load(open(path))
    print("\n## templates from pyspark/errors/error-conditions.json")
    for k in ("DATA_SOURCE_RETURN_SCHEMA_MISMATCH", "DATA_SOURCE_INVALID_RETURN_TYPE",
              "DATA_SOURCE_TYPE_MISMATCH", "NOT_IMPLEMENTED", "AXIS_LENGTH_MISMATCH",
              "DATA_SOURCE_EXTRANEOUS_FILTERS", "DATA_SOURCE_PUSHDOWN_DISABLED"):
        print(f"{k}: {' '.join(conds[k]['message'])}")
    # JVM-side templates via the error helper
    jvm = spark.sparkContext._jvm
    helper = getattr(jvm, "org.apache.spark.SparkThrowableHelper")
    for k, params in (
        ("PYTHON_DATA_SOURCE_ERROR", {"action": "<action>", "type": "<type>", "msg": "<msg>"}),
        ("DATA_SOURCE_NOT_FOUND", {"provider": "<provider>"}),
        ("DATA_SOURCE_ALREADY_EXISTS", {"provider": "<provider>"}),
        ("DATA_SOURCE_NOT_EXIST", {"provider": "<provider>"}),
        ("INVALID_SCHEMA.NON_STRUCT_TYPE", {"inputSchema": "<inputSchema>", "dataType": "<dataType>"}),
    ):
        try:
            m = jvm.java.util.HashMap()
            for a, b in params.items():
                m.put(a, b)
            print(f"{k} (JVM): {helper.getMessage(k, m)}")
        except Exception as ex:  # noqa: BLE001
            print(f"{k} (JVM): not found ({type(ex).__name__})")


TZ_CHILD_CODE = r"""
import datetime as dt, json, os, sys, time, warnings
warnings.filterwarnings("ignore")
sys.path.insert(0, HERE)
from spark_probe import make_spark
from pyspark.sql.datasource import DataSource, DataSourceReader

class TzSource(DataSource):
    @classmethod
    def name(cls):
        return "hw_tz"
    def schema(self):
        return "label STRING, ts TIMESTAMP, ntz TIMESTAMP_NTZ, d DATE, worker_tz STRING"
    def reader(self, schema):
        return TzReader()

class TzReader(DataSourceReader):
    def read(self, partition):
        import datetime as dt, time, os
        wtz = "%s TZ=%s" % (time.tzname, os.environ.get("TZ"))
        n = dt.datetime(2024, 7, 1, 12, 0, 0)
        yield ("naive 2024-07-01 12:00", n, n, n, wtz)
        a = dt.datetime(2024, 7, 1, 12, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        yield ("aware 2024-07-01 12:00+02:00", a, None, a, wtz)
        u = dt.datetime(2024, 1, 15, 23, 30, 0, tzinfo=dt.timezone.utc)
        yield ("aware 2024-01-15 23:30Z", u, None, u, wtz)

session_tz = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "-" else None
spark = make_spark(session_tz)
spark.dataSource.register(TzSource)
df = spark.read.format("hw_tz").load()
rows = df.collect()
out = {
    "process_TZ": os.environ.get("TZ"), "driver_tzname": list(time.tzname),
    "session_tz": spark.conf.get("spark.sql.session.timeZone"),
    "rows": [[r.label, repr(r.ts), repr(r.ntz), repr(r.d), r.worker_tz] for r in rows],
    "epoch_seconds": [r[0] for r in df.selectExpr("unix_timestamp(ts)").collect()],
    "ts_as_string_in_session_tz": [r[0] for r in df.selectExpr("cast(ts as string)").collect()],
    "toArrow_ts": [str(x) for x in df.toArrow().column("ts").to_pylist()],
    "toArrow_type": str(df.toArrow().schema.field("ts").type),
}
print("JSON" + json.dumps(out))
spark.stop()
"""


def probe_tz():
    print("\n## time zones (child processes, one JVM at a time)")
    code = TZ_CHILD_CODE.replace("HERE", repr(HERE))
    for proc_tz, session_tz in (
        ("UTC", None),
        ("America/New_York", None),
        ("America/New_York", "UTC"),
        ("America/New_York", "Asia/Tokyo"),
        ("UTC", "America/New_York"),
    ):
        env = dict(os.environ, TZ=proc_tz)
        r = subprocess.run([sys.executable, "-c", code, session_tz or "-"], env=env,
                           capture_output=True, text=True, timeout=300)
        line = next((l for l in r.stdout.splitlines() if l.startswith("JSON")), None)
        print(f"\n### process TZ={proc_tz}, spark.sql.session.timeZone={session_tz or '(default)'}")
        if line is None:
            print("   FAILED:", r.stderr[-2000:])
            continue
        print(json.dumps(json.loads(line[4:]), indent=1))


def main(argv):
    what = set(a.lstrip("-") for a in argv) or {"cases", "extras", "tz"}
    if "all" in what:
        what = {"cases", "extras", "tz"}
    if what & {"cases", "extras"}:
        spark = make_spark()
        import pyspark

        print("pyspark", pyspark.__version__, "python", sys.version.split()[0], "TZ", os.environ.get("TZ"))
        register_all(spark)
        if "cases" in what:
            probe_cases(spark)
        if "extras" in what:
            probe_extras(spark)
        spark.stop()
    if "tz" in what:
        probe_tz()


if __name__ == "__main__":
    main(sys.argv[1:])
