"""Spot-check the property test's oracle against real PySpark 4.3: draw examples with the property
test's own strategies (derandomized), run each through a PySpark Python data source (``local[1]``,
``TZ=UTC``), and compare what Spark stores (``toArrow()``) with what the oracle says.

Not a pytest module. Run: ``.venv/bin/python tests/python/spark_probe_property.py [N]`` (default 60).
Prints one line per example that disagrees, then a summary.
"""

from __future__ import annotations

import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ["TZ"] = "UTC"
warnings.filterwarnings("ignore")

CASES: list = []


def make_source():
    from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition

    class R(DataSourceReader):
        def __init__(self, case):
            self.case = case

        def partitions(self):
            return [InputPartition(0)]

        def read(self, p):
            import spark_probe_property as probe
            import test_converter_property as m

            for spec in probe.load()[self.case][1]:
                yield tuple(m.build(s) for s in spec)

    class PropertySource(DataSource):
        @classmethod
        def name(cls):
            return "hw_prop"

        def schema(self):
            import spark_probe_property as probe

            return probe.load()[int(self.options["case"])][0]

        def reader(self, schema):
            return R(int(self.options["case"]))

    return PropertySource


def load():
    """The drawn cases, as (ddl, row specs), pickled by the driver for the Python workers."""
    import pickle

    with open(os.environ["HW_PROP_CASES"], "rb") as f:
        return pickle.load(f)


def main():
    import pickle
    import tempfile

    from hypothesis import HealthCheck, Phase, given, settings

    import test_converter_property as m

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    drawn = []

    @settings(max_examples=n, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(m.schemas_and_rows())
    def collect(case):
        drawn.append(case)

    collect()
    cases = [(", ".join(f"{c} {t.ddl()}" for c, t in schema), rows) for schema, rows in drawn]
    path = os.path.join(tempfile.mkdtemp(), "cases.pickle")
    with open(path, "wb") as f:
        pickle.dump(cases, f)
    os.environ["HW_PROP_CASES"] = path
    os.environ["PYTHONPATH"] = HERE + os.pathsep + os.environ.get("PYTHONPATH", "")

    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[1]")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("OFF")
    spark.dataSource.register(make_source())
    agree = disagree = 0
    for i, ((schema, rows), (ddl, _)) in enumerate(zip(drawn, cases)):
        want, failure = m.expect_rows(schema, rows)
        try:
            got = spark.read.format("hw_prop").option("case", str(i)).load().toArrow().to_pylist()
            spark_failed = None
        except Exception as e:  # noqa: BLE001
            lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
            spark_failed = type(e).__name__ + ": " + (lines[-1].strip() if lines else "")
        if failure is not None:
            ok = spark_failed is not None
        else:
            ok = spark_failed is None and m.same(got, want)
        if ok:
            agree += 1
        else:
            disagree += 1
            print(f"DISAGREE {ddl}: rows {rows!r:.300}\n  oracle {want if failure is None else failure!r:.300}\n"
                  f"  spark  {spark_failed or got!r:.300}", flush=True)
    print(f"{agree} examples agree, {disagree} disagree")
    spark.stop()


if __name__ == "__main__":
    main()
