"""The generic sources that ship in examples/: a paginated HTTP API (served from a local
http.server started and stopped here), a directory of CSV / JSON-lines files, and a source that
yields tuples. Read through headwater in every executor mode."""

import datetime as dt
import gc
import json
import os
import sys

import pyarrow as pa
import pytest

import headwater
from headwater import AnalysisException, PythonException

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples")
if EXAMPLES not in sys.path:
    sys.path.insert(0, EXAMPLES)

import http_api_source  # noqa: E402
import tuple_source  # noqa: E402

MODES = ["inline", "thread", "process"]


@pytest.fixture
def spark():
    s = headwater.SparkSession.builder.create()
    s.conf.set("headwater.executor.workers", "2")
    yield s
    gc.collect()  # see test_generic.py: free failed scans while the worker pool exists
    s.stop()


def use(spark, mode):
    spark.conf.set("headwater.executor.mode", mode)
    return spark


# ---------------------------------------------------------------------------------------------
# HTTP API


@pytest.fixture
def api():
    """A paginated API on 127.0.0.1 (a free port), from a thread; stopped at the end."""
    items = http_api_source.make_items(1234)
    server, thread, endpoint = http_api_source.serve(items, api_key="k-SECRET-1")
    try:
        yield endpoint, items
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        assert not thread.is_alive()


def expected_http_rows(items):
    return [
        (
            it["id"],
            it["name"],
            it["amount"],
            dt.datetime.fromisoformat(it["created_at"].replace("Z", "+00:00")),
        )
        for it in items
    ]


@pytest.mark.parametrize("mode", MODES)
def test_http_api(spark, api, mode):
    endpoint, items = api
    df = headwater.read_python(
        "http_api_source:HttpApiSource", use(spark, mode), endpoint=endpoint, api_key="k-SECRET-1",
        page_size=100, pages_per_partition=3,
    )
    assert df.schema.simpleString() == "struct<id:bigint,name:string,amount:double,created_at:timestamp>"
    table = df.toArrow()
    assert table.schema == http_api_source.SCHEMA
    got = [tuple(r.values()) for r in table.to_pylist()]
    assert got == expected_http_rows(items)
    assert df._plan.make_partitions(None)[0].value == json.dumps({"pages": [0, 1, 2]}, separators=(",", ":"))
    assert len(df._plan.make_partitions(None)) == 5  # 13 pages, 3 per partition


def test_http_api_via_format_python(spark, api):
    endpoint, items = api
    df = (
        use(spark, "thread").read.format("python")
        .option("python_module", "http_api_source").option("python_class", "HttpApiSource")
        .option("Endpoint", endpoint).option("API_KEY", "k-SECRET-1").option("page_size", 500)
        .load()
    )
    assert df.count() == len(items)


@pytest.mark.parametrize("mode", ["inline", "process"])
def test_http_api_errors_hide_the_key(spark, api, mode):
    endpoint, _ = api
    with pytest.raises(AnalysisException) as e:  # the first page, in plan_partitions
        headwater.read_python("http_api_source:HttpApiSource", use(spark, mode), endpoint=endpoint,
                              api_key="k-WRONG-2").collect()
    msg = str(e.value)
    assert "plan_partitions() of the generic source http_api_source:HttpApiSource failed" in msg
    assert "HTTP Error 401" in msg and "'api_key': '***'" in msg and "k-WRONG-2" not in msg


# ---------------------------------------------------------------------------------------------
# files


@pytest.fixture
def csv_dir(tmp_path):
    for i in range(3):
        rows = "".join(
            f"{i * 10 + j},city-{j},{20 + j * 0.5},2024-01-0{i + 1}T0{j}:00:00Z\n" for j in range(4)
        )
        (tmp_path / f"part-{i}.csv").write_text("id,city,temp,at\n" + rows)
    (tmp_path / "notes.txt").write_text("not data")
    return tmp_path


def expected_file_rows():
    utc = dt.timezone.utc
    return [
        (i * 10 + j, f"city-{j}", 20 + j * 0.5, dt.datetime(2024, 1, i + 1, j, tzinfo=utc))
        for i in range(3)
        for j in range(4)
    ]


@pytest.mark.parametrize("mode", MODES)
def test_csv_directory_one_partition_per_file(spark, csv_dir, mode):
    df = use(spark, mode).read.format("python").option("python_module", "files_source") \
        .option("python_class", "FilesSource").load(str(csv_dir))
    assert df.schema.simpleString() == "struct<id:bigint,city:string,temp:double,at:timestamp>"
    parts = df._plan.make_partitions(None)
    assert [json.loads(p.value)["file"] for p in parts] == [str(csv_dir / f"part-{i}.csv") for i in range(3)]
    table = df.toArrow()
    assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert [tuple(r.values()) for r in table.to_pylist()] == expected_file_rows()


@pytest.mark.parametrize("mode", ["inline", "process"])
def test_json_lines_directory(spark, tmp_path, mode):
    for i in range(2):
        lines = [json.dumps({"id": i * 10 + j, "name": f"n{j}", "tags": ["a"] * j, "ok": j % 2 == 0})
                 for j in range(3)]
        (tmp_path / f"f{i}.jsonl").write_text("\n".join(lines) + "\n")
    df = headwater.read_python("files_source:FilesSource", use(spark, mode), path=str(tmp_path))
    assert df.schema.simpleString() == "struct<id:bigint,name:string,tags:array<string>,ok:boolean>"
    assert [tuple(r) for r in df.collect()] == [
        (i * 10 + j, f"n{j}", ["a"] * j, j % 2 == 0) for i in range(2) for j in range(3)
    ]


def test_bad_file_names_the_file(spark, csv_dir):
    (csv_dir / "part-9.csv").write_text("id,city,temp,at\nnot-a-number,x,1.0,2024-01-01T00:00:00Z\n")
    df = headwater.read_python("files_source:FilesSource", use(spark, "inline"), path=str(csv_dir))
    with pytest.raises(PythonException) as e:
        df.collect()
    assert "part-9.csv" in str(e.value) and "read_partition()" in str(e.value)


def test_files_needs_a_directory(spark, tmp_path):
    with pytest.raises(AnalysisException, match="no files matching"):
        headwater.read_python("files_source:FilesSource", spark, path=str(tmp_path))


# ---------------------------------------------------------------------------------------------
# tuples


def expected_sensor_rows(sensors, readings):
    src = tuple_source.SensorReadings()
    out = []
    for spec in src.plan_partitions({"sensors": str(sensors)}):
        out += list(src.read_partition(spec, {"readings": str(readings)}))
    return out


@pytest.mark.parametrize("mode", MODES)
def test_tuple_source_through_the_converter(spark, mode):
    df = headwater.read_python("tuple_source:SensorReadings", use(spark, mode), sensors=3, readings=50)
    assert df.schema.simpleString() == (
        "struct<sensor:string,seq:bigint,ts:timestamp,value:double,ok:boolean,tags:array<string>>"
    )
    table = df.toArrow()
    assert table.num_rows == 150
    got = [tuple(r.values()) for r in table.to_pylist()]
    assert got == expected_sensor_rows(3, 50)
