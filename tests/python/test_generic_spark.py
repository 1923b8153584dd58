"""The same three-method sources on real PySpark (local[2]) through headwater.spark, the adapter:
same rows and schema as headwater, same errors. One Spark session for the module; skipped, with
the reason printed, when pyspark or Java is missing."""

import datetime as dt
import gc
import json
import os
import shutil
import sys
import warnings

import pytest

import headwater
import headwater.spark as hws

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "examples")
for p in (HERE, EXAMPLES):
    if p not in sys.path:
        sys.path.insert(0, p)

import generic_sources as gs  # noqa: E402
import http_api_source  # noqa: E402

pytestmark = pytest.mark.jvm  # starts real PySpark (a JVM): not run under `make sanitize`

MOD = "generic_sources"


def _unavailable():
    try:
        import pyspark  # noqa: F401
    except ImportError as e:
        return f"pyspark is not installed ({e})"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "no Java runtime (java on PATH or JAVA_HOME) for PySpark"
    return None


@pytest.fixture(scope="module")
def pyspark():
    reason = _unavailable()
    if reason:
        print(f"\nskipping the PySpark adapter tests: {reason}", file=sys.stderr)
        pytest.skip(reason)
    from pyspark.sql import SparkSession

    saved = {k: os.environ.get(k) for k in ("PYSPARK_PYTHON", "PYTHONPATH")}
    # Spark's Python workers: this interpreter, and the sources importable by name.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYTHONPATH"] = os.pathsep.join([HERE, EXAMPLES] + ([saved["PYTHONPATH"]] if saved["PYTHONPATH"] else []))
    warnings.filterwarnings("ignore", category=FutureWarning)
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("headwater-generic-adapter")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("OFF")
    # The JVM (and so the workers' PYTHONPATH) may come from an earlier module's session in this
    # process: ship the modules the sources live in explicitly too.
    for path in [os.path.join(HERE, "generic_sources.py")] + [
        os.path.join(EXAMPLES, f"{m}.py") for m in ("http_api_source", "files_source", "tuple_source")
    ]:
        spark.sparkContext.addPyFile(path)
    hws.register(spark)  # format("python")
    try:
        yield spark
    finally:
        spark.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def hw():
    s = headwater.SparkSession.builder.create()
    s.conf.set("headwater.executor.workers", "2")
    yield s
    gc.collect()
    s.stop()


def spark_load(spark, cls, module=MOD, **options):
    r = spark.read.format("python").option("python_module", module).option("python_class", cls)
    return r.options(**options).load()


def hw_load(hw, cls, module=MOD, **options):
    return headwater.read_python(f"{module}:{cls}", hw, **options)


def same(spark_df, hw_df):
    """Same schema (names, types, nullability) and the same rows, in order."""
    assert json.loads(spark_df.schema.json()) == json.loads(hw_df.schema.json())
    spark_rows = [tuple(r) for r in spark_df.collect()]
    hw_rows = [tuple(r) for r in hw_df.collect()]
    assert spark_rows == hw_rows
    return spark_rows


def spark_error(make_df):
    """The message of a failure at load() (Spark plans eagerly) or at collect()."""
    with pytest.raises(Exception) as e:
        make_df().collect()
    return str(e.value)


# ---------------------------------------------------------------------------------------------
# same rows and schema


@pytest.mark.parametrize("cls", ["Basic", "Reordered", "Tuples", "RowsOut", "StructSchema", "Unpicklable",
                                 "Nested.Inner", "ListOfBatches"])
def test_same_rows_and_schema(pyspark, hw, cls):
    rows = same(spark_load(pyspark, cls, partitions=3), hw_load(hw, cls, partitions=3))
    assert rows == gs.expected_rows(3)


def test_no_partitions_no_rows(pyspark, hw):
    assert same(spark_load(pyspark, "Empty"), hw_load(hw, "Empty")) == []


def test_cast_true(pyspark, hw):
    same(spark_load(pyspark, "WrongType", cast="true"), hw_load(hw, "WrongType", cast="true"))
    same(spark_load(pyspark, "WrongType", CAST="TRUE", strings="true"), hw_load(hw, "WrongType", cast="true", strings="true"))


def test_as_datasource(pyspark, hw):
    cls = hws.as_datasource(f"{MOD}:Basic", name="gs_basic", spark=pyspark)
    assert cls.name() == "gs_basic"
    from pyspark.sql.datasource import DataSource

    assert issubclass(cls, DataSource)
    same(pyspark.read.format("gs_basic").option("partitions", 2).load(), hw_load(hw, "Basic", partitions=2))
    # without a name: the class name; the class object works too
    assert hws.as_datasource(gs.Tuples).name() == "Tuples"


def test_register_under_another_name(pyspark, hw):
    hws.register(pyspark, name="generic3")
    df = pyspark.read.format("generic3").option("python_module", MOD).option("python_class", "Basic").load()
    same(df, hw_load(hw, "Basic"))


def test_options_and_specs(pyspark):
    [row] = spark_load(pyspark, "Echo", EndPoint="http://x").collect()
    # Spark's JVM lower-cases option names; lookups through the mapping work on both engines
    assert row.keys == "endpoint,python_class,python_module"
    assert row.endpoint == "http://x"
    assert json.loads(row.spec) == {"n": 1, "t": [1, 2], "nested": {"a": [1.5, None, True]}}


# ---------------------------------------------------------------------------------------------
# same errors


def test_import_error(pyspark):
    msg = spark_error(lambda: spark_load(pyspark, "C", module="no_such_pkg_xyz"))
    assert "cannot import python_module 'no_such_pkg_xyz'" in msg and "sys.path tried" in msg


def test_missing_method(pyspark):
    assert "has no method read_partition()" in spark_error(lambda: spark_load(pyspark, "NoRead"))


def test_spec_not_json(pyspark):
    msg = spark_error(lambda: spark_load(pyspark, "NotJsonSpec"))
    assert "partition 2 of generic_sources:NotJsonSpec" in msg and "key 'since'" in msg


def test_read_partition_exception(pyspark):
    msg = spark_error(lambda: spark_load(pyspark, "FailingReadIter", api_key="k-SECRET-789"))
    assert "read_partition() of the generic source generic_sources:FailingReadIter failed for partition 1" in msg
    assert "'token': '***'" in msg and "'api_key': '***'" in msg and "SECRET" not in msg
    assert "boom in read_partition iteration" in msg and "in _explode" in msg


def test_type_mismatch(pyspark):
    msg = spark_error(lambda: spark_load(pyspark, "WrongType"))
    assert "DATA_SOURCE_RETURN_SCHEMA_MISMATCH" in msg and "column 'id' is int32" in msg and "int64" in msg


def test_missing_column(pyspark):
    msg = spark_error(lambda: spark_load(pyspark, "MissingColumn"))
    assert "the RecordBatch has no column 'name'" in msg


# ---------------------------------------------------------------------------------------------
# the examples


def test_http_api_example(pyspark, hw):
    items = http_api_source.make_items(700)
    server, thread, endpoint = http_api_source.serve(items)
    try:
        opts = dict(endpoint=endpoint, page_size=100, pages_per_partition=2)
        rows = same(spark_load(pyspark, "HttpApiSource", module="http_api_source", **opts),
                    hw_load(hw, "HttpApiSource", module="http_api_source", **opts))
        assert len(rows) == 700 and rows[0][:3] == (0, "order-00000", 0.0)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_files_example(pyspark, hw, tmp_path):
    for i in range(3):
        (tmp_path / f"p{i}.csv").write_text(
            "id,city,temp,at\n" + "".join(f"{i * 10 + j},c{j},{j * 1.5},2024-01-0{i + 1}T00:0{j}:00Z\n" for j in range(4))
        )
    rows = same(spark_load(pyspark, "FilesSource", module="files_source", path=str(tmp_path)),
                hw_load(hw, "FilesSource", module="files_source", path=str(tmp_path)))
    assert len(rows) == 12
    jdir = tmp_path / "json"
    jdir.mkdir()
    for i in range(2):
        (jdir / f"f{i}.jsonl").write_text(
            "".join(json.dumps({"id": i * 10 + j, "tags": ["t"] * j}) + "\n" for j in range(3))
        )
    rows = same(spark_load(pyspark, "FilesSource", module="files_source", path=str(jdir)),
                hw_load(hw, "FilesSource", module="files_source", path=str(jdir)))
    assert rows[-1] == (12, ["t", "t"])


def test_tuple_example(pyspark, hw):
    opts = dict(sensors=3, readings=40)
    rows = same(spark_load(pyspark, "SensorReadings", module="tuple_source", **opts),
                hw_load(hw, "SensorReadings", module="tuple_source", **opts))
    assert len(rows) == 120 and isinstance(rows[0][2], dt.datetime)
