"""Probe what real PySpark stores (or raises) for numeric/temporal narrowings of values a Python data
source yields (the facts in docs/spark-read-semantics.md, "Narrowing and range checks").

Not a pytest module. Run: ``.venv/bin/python tests/python/spark_probe_narrowing.py`` (one JVM,
``local[1]``, about a minute). Prints one line per case: DDL, value, Spark's result.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import warnings
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
warnings.filterwarnings("ignore")

UTC = dt.timezone.utc
CASES = [
    ("a TINYINT", 127.9), ("a TINYINT", 128.0), ("a TINYINT", -128.9), ("a TINYINT", -129.0),
    ("a TINYINT", Decimal("127.9")), ("a TINYINT", Decimal("128")),
    ("a SMALLINT", 32767.5), ("a SMALLINT", 32768.0), ("a SMALLINT", -32768.5),
    ("a INT", 2147483647.9), ("a INT", 2147483648.0), ("a INT", -2147483648.9), ("a INT", -2147483649.0),
    ("a INT", float("nan")), ("a INT", float("inf")), ("a INT", Decimal("NaN")), ("a INT", Decimal("Infinity")),
    ("a INT", Decimal("2147483648")), ("a INT", 2**31),
    ("a BIGINT", 9.25e18), ("a BIGINT", float(2**63)), ("a BIGINT", float(-2**63)), ("a BIGINT", -9.25e18),
    ("a BIGINT", 9.2e18), ("a BIGINT", 2**63), ("a BIGINT", -2**63), ("a BIGINT", -2**63 - 1),
    ("a BIGINT", Decimal("9223372036854775807.9")), ("a BIGINT", Decimal("9223372036854775808")),
    ("a BIGINT", Decimal("1E+30")), ("a BIGINT", float("inf")), ("a BIGINT", float("nan")),
    ("a FLOAT", 3.4028235e38), ("a FLOAT", 3.4028236e38), ("a FLOAT", 3.5e38), ("a FLOAT", -1e39),
    ("a FLOAT", 1e-46), ("a FLOAT", 2**24), ("a FLOAT", 2**24 + 1), ("a FLOAT", -(2**24) - 1), ("a FLOAT", 2**64),
    ("a DOUBLE", 2**53), ("a DOUBLE", 2**53 + 1), ("a DOUBLE", -(2**53)), ("a DOUBLE", 2**64),
    ("d DECIMAL(10,2)", Decimal("5." + "0" * 38)), ("d DECIMAL(38,18)", Decimal("5." + "0" * 38)),
    ("d DECIMAL(10,2)", Decimal("1E-4294967296")), ("d DECIMAL(38,18)", Decimal("1E-4294967297")),
    ("d DECIMAL(10,2)", Decimal("0E+4294967296")), ("d DECIMAL(10,2)", Decimal("1E+4294967296")),
    ("d DECIMAL(38,0)", Decimal("9" * 38)), ("d DECIMAL(38,0)", Decimal("1" + "0" * 38)),
    ("d DECIMAL(38,0)", Decimal("9" * 38 + ".5")), ("d DECIMAL(38,2)", Decimal("1" * 39 + "E-3")),
    ("d DECIMAL(10,2)", Decimal("-0")), ("d DECIMAL(10,2)", Decimal("-0.001")),
    ("d DECIMAL(10,2)", Decimal("99999999.995")), ("d DECIMAL(10,2)", Decimal("99999999.994999999999999999999999999999999")),
    ("d DECIMAL(10,2)", Decimal("sNaN")), ("d DECIMAL(10,2)", Decimal("-Infinity")),
    ("d DECIMAL(5,5)", Decimal("0.999995")), ("d DECIMAL(5,5)", Decimal("0.999994")),
    ("d DECIMAL(1,0)", Decimal("9.5")), ("d DECIMAL(1,0)", Decimal("8.5")),
    ("d DATE", 2**31 - 1), ("d DATE", -(2**31)), ("d DATE", 2**31), ("d DATE", 1e10), ("d DATE", -1.5),
    ("d DATE", float("nan")),
    ("t TIMESTAMP", dt.datetime(1, 1, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))),
    ("t TIMESTAMP", dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-1)))),
    ("t TIMESTAMP", dt.datetime(1, 1, 1, 0, 0, tzinfo=UTC)),
    ("t TIMESTAMP", dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ("t TIMESTAMP", dt.datetime(1, 1, 1, 0, 0)), ("t TIMESTAMP_NTZ", dt.datetime(1, 1, 1, 0, 0)),
    ("s STRING", "x" + "é" * 40),
]


def make_source():
    from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition

    class R(DataSourceReader):
        def __init__(self, case):
            self.case = case

        def partitions(self):
            return [InputPartition(0)]

        def read(self, p):
            import spark_probe_narrowing as m

            yield (m.CASES[self.case][1],)

    class NarrowSource(DataSource):
        @classmethod
        def name(cls):
            return "hw_narrow"

        def schema(self):
            return CASES[int(self.options["case"])][0]

        def reader(self, schema):
            return R(int(self.options["case"]))

    return NarrowSource


def main():
    from pyspark.sql import SparkSession

    os.environ["PYTHONPATH"] = HERE + os.pathsep + os.environ.get("PYTHONPATH", "")
    os.environ.setdefault("TZ", "UTC")
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
    for i, (ddl, value) in enumerate(CASES):
        try:
            got = spark.read.format("hw_narrow").option("case", str(i)).load().collect()[0][0]
            res = "-> " + repr(got)
        except Exception as e:  # noqa: BLE001
            lines = [l for l in str(e).strip().splitlines() if l.strip()]
            res = "!! " + type(e).__name__ + ": " + (lines[-1].strip() if lines else "")
        print(f"{ddl:20} {value!r:.70} {res[:240]}", flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
