"""The generic "python" format: three-method sources (infer_schema / plan_partitions /
read_partition) read by headwater in every executor mode, with their checks and errors.
Sources live in generic_sources.py, imported by name as workers would."""

import gc
import json
import pickle
import sys

import pyarrow as pa
import pytest

import generic_sources as gs
import headwater
from headwater import AnalysisException, PythonException
from headwater.generic import GenericPartition, GenericPlan
from headwater.spark import Options, make_options, redact

MODES = ["inline", "thread", "process"]
MOD = "generic_sources"


@pytest.fixture
def spark():
    s = headwater.SparkSession.builder.create()
    yield s
    # A failed scan stays alive in a reference cycle (exception -> traceback -> frame -> scan).
    # Collect it while its session's worker pool still exists: a process-mode scan freed after
    # stop() crashes in cancel_workers -> hw_link_send (reported to the lead; src/exec).
    gc.collect()
    s.stop()


def use(spark, mode):
    spark.conf.set("headwater.executor.mode", mode)
    spark.conf.set("headwater.executor.workers", "2")
    return spark


def load(spark, cls, schema=None, **options):
    r = spark.read.format("python").option("python_module", MOD).option("python_class", cls)
    if schema is not None:
        r = r.schema(schema)
    return r.options(**options).load()


def tuples(df):
    return [tuple(r) for r in df.collect()]


# ---------------------------------------------------------------------------------------------
# the format


@pytest.mark.parametrize("mode", MODES)
def test_rows_and_schema_in_every_mode(spark, mode):
    df = load(use(spark, mode), "Basic", partitions=4, rows=5)
    assert df.schema.simpleString() == "struct<id:bigint,name:string,score:double>"
    assert tuples(df) == gs.expected_rows(4, 5)
    assert df.count() == 20
    assert df.toArrow().schema == gs.SCHEMA
    assert df._plan.last_run["mode"] == mode


def test_format_and_own_options_are_case_insensitive(spark):
    df = (
        spark.read.format("PyThOn")
        .option("PYTHON_MODULE", MOD)
        .option("Python_Class", "Basic")
        .option("partitions", 2)
        .load()
    )
    assert tuples(df) == gs.expected_rows(2)


def test_python_class_may_name_module_too(spark):
    df = spark.read.format("python").option("python_class", f"{MOD}:Basic").load()
    assert tuples(df) == gs.expected_rows(3)


def test_nested_class(spark):
    assert tuples(load(spark, "Nested.Inner")) == gs.expected_rows(3)


def test_missing_python_options(spark):
    with pytest.raises(AnalysisException) as e:
        spark.read.format("python").option("python_module", MOD).load()
    assert e.value.getErrorClass() == "HW_MISSING_OPTION"
    assert "'python_class'" in str(e.value)
    with pytest.raises(AnalysisException, match="'python_module' and 'python_class'"):
        spark.read.format("python").load()


def test_explain_names_the_source(spark):
    df = load(use(spark, "inline"), "Basic")
    text = df._explain_string()
    assert f"PythonDataSourceScan {MOD}:Basic [id, name, score]" in text
    assert "partitions: 3" in text


@pytest.mark.parametrize("mode", MODES)
def test_tuples_and_rows_go_through_the_converter(spark, mode):
    use(spark, mode)
    assert tuples(load(spark, "Tuples")) == gs.expected_rows(3)
    assert tuples(load(spark, "RowsOut")) == gs.expected_rows(3)
    assert load(spark, "Tuples").toArrow().schema == gs.SCHEMA


def test_schema_forms(spark):
    assert load(spark, "StructSchema").schema.simpleString() == "struct<id:bigint,name:string,score:double>"
    assert load(spark, "Tuples").schema.simpleString() == "struct<id:bigint,name:string,score:double>"
    with pytest.raises(AnalysisException) as e:
        load(spark, "BadSchemaType")
    assert e.value.getErrorClass() == "DATA_SOURCE_INVALID_RETURN_TYPE"
    assert "infer_schema()" in str(e.value) and "int" in str(e.value)


def test_user_schema_replaces_infer_schema(spark):
    # NoInfer has no infer_schema at all: with a user schema it is not needed
    df = load(spark, "NoInfer", schema="id BIGINT")
    assert df.columns == ["id"] and tuples(df) == []
    df = load(spark, "Tuples", schema="id BIGINT, name STRING, score DOUBLE")
    assert tuples(df) == gs.expected_rows(3)


@pytest.mark.parametrize("mode", MODES)
def test_no_partitions_no_rows(spark, mode):
    df = load(use(spark, mode), "Empty")
    assert tuples(df) == [] and df.count() == 0


@pytest.mark.parametrize("mode", ["inline", "thread"])
def test_read_partition_may_return_an_iterable(spark, mode):
    assert tuples(load(use(spark, mode), "ListOfBatches")) == gs.expected_rows(3)


def test_read_partition_must_return_an_iterable(spark):
    with pytest.raises(PythonException) as e:
        load(use(spark, "inline"), "ReturnsNone").collect()
    assert "read_partition()" in str(e.value) and "NoneType" in str(e.value)


# ---------------------------------------------------------------------------------------------
# options: the source keeps their case, headwater's own are case-insensitive


@pytest.mark.parametrize("mode", ["inline", "process"])
def test_options_keep_their_case_for_the_source(spark, mode):
    df = load(use(spark, mode), "Echo", EndPoint="http://x", Other="1")
    [row] = df.collect()
    assert row.keys == "EndPoint,Other,python_class,python_module"
    assert row.endpoint == "http://x"  # options["endpoint"] finds "EndPoint"
    if mode == "inline":
        assert gs.SEEN["options_type"] == "Options"
        assert gs.SEEN["read_keys"] == ["EndPoint", "Other", "python_class", "python_module"]
    assert gs.SEEN["plan_keys"] == ["EndPoint", "Other", "python_class", "python_module"]


def test_spec_arrives_as_json(spark):
    [row] = load(use(spark, "inline"), "Echo", endpoint="e").collect()
    # tuples become lists: every mode (and Spark) sees json.loads(json.dumps(spec))
    assert json.loads(row.spec) == {"n": 1, "t": [1, 2], "nested": {"a": [1.5, None, True]}}


def test_options_mapping():
    o = make_options([("EndPoint", "a"), ("x", "1"), ("ENDPOINT", "b")])
    assert dict(o) == {"x": "1", "ENDPOINT": "b"}  # the last spelling wins, as in Spark
    assert o["endpoint"] == "b" and o.get("Endpoint") == "b" and "endpoint" in o
    assert o.get("missing", 5) == 5 and "missing" not in o
    with pytest.raises(KeyError):
        o["missing"]
    assert isinstance(pickle.loads(pickle.dumps(o)), Options)
    assert json.loads(json.dumps(o)) == {"x": "1", "ENDPOINT": "b"}


def test_redact():
    value = {"user": "u", "Password": "p", "nested": {"API_KEY": "k", "list": [{"sessionToken": "t"}]}, "n": 1}
    assert redact(value) == {
        "user": "u", "Password": "***", "nested": {"API_KEY": "***", "list": [{"sessionToken": "***"}]}, "n": 1
    }


# ---------------------------------------------------------------------------------------------
# short forms


def test_read_python_short_form(spark):
    df = headwater.read_python(f"{MOD}:Basic", spark, partitions=2, rows=4)
    assert tuples(df) == tuples(load(spark, "Basic", partitions=2, rows=4)) == gs.expected_rows(2, 4)
    assert df.schema == load(spark, "Basic").schema
    assert tuples(headwater.read_python(gs.Basic, spark)) == gs.expected_rows(3)


def test_read_python_uses_the_active_session():
    s = headwater.SparkSession.builder.getOrCreate()
    try:
        s.conf.set("headwater.executor.mode", "inline")
        assert tuples(headwater.read_python(f"{MOD}:Tuples")) == gs.expected_rows(3)
    finally:
        s.stop()


def test_read_python_bad_target(spark):
    with pytest.raises(AnalysisException, match="pkg.module:Class"):
        headwater.read_python("generic_sources.Basic", spark)
    with pytest.raises(TypeError, match="python_module"):
        headwater.read_python(f"{MOD}:Basic", spark, python_module="x")

    def local():
        class Local(gs.Basic):
            pass

        return Local

    with pytest.raises(AnalysisException, match="inside a function"):
        headwater.read_python(local(), spark)


def test_register_python(spark):
    spark.dataSource.register_python("orders", f"{MOD}:Basic")
    assert tuples(spark.read.format("ORDERS").option("partitions", 2).load()) == gs.expected_rows(2)
    df = spark.read.format("orders").load()
    assert df._plan.name == "orders" and "PythonDataSourceScan orders" in df._explain_string()
    spark.dataSource.register_python("tuples", gs.Tuples)  # the class itself
    assert tuples(spark.read.format("tuples").load()) == gs.expected_rows(3)


def test_register_python_checks_now(spark):
    with pytest.raises(AnalysisException) as e:
        spark.dataSource.register_python("nope", "no_such_module_xyz:C")
    assert "no_such_module_xyz" in str(e.value) and "sys.path tried" in str(e.value)
    with pytest.raises(AnalysisException, match=r"no method read_partition\(\)"):
        spark.dataSource.register_python("noread", f"{MOD}:NoRead")
    with pytest.raises(AnalysisException, match="generic format itself"):
        spark.dataSource.register_python("Python", f"{MOD}:Basic")


def test_format_python_is_reserved_for_the_generic_format(spark):
    # a regular data source named "python" does not shadow the generic format
    from headwater.datasource import DataSource

    class Shadow(DataSource):
        @classmethod
        def name(cls):
            return "python"

    spark.dataSource.register(Shadow)
    assert tuples(load(spark, "Basic")) == gs.expected_rows(3)


# ---------------------------------------------------------------------------------------------
# the class never travels: only names, options and JSON specs


@pytest.mark.parametrize("mode", MODES)
def test_unpicklable_class(spark, mode):
    with pytest.raises(Exception):
        pickle.dumps(gs.Unpicklable())
    assert tuples(load(use(spark, mode), "Unpicklable")) == gs.expected_rows(3)


def test_read_function_pickles_without_the_instance(spark):
    plan = load(spark, "Unpicklable", Secret_Token="s")._plan
    assert isinstance(plan, GenericPlan)
    reader = plan.make_reader()
    parts = plan.make_partitions(reader)
    assert all(isinstance(p, GenericPartition) for p in parts)
    assert [json.loads(p.value) for p in parts] == [{"p": 0}, {"p": 1}, {"p": 2}]
    # the planner's instance is never used to read; a copy makes its own
    list(reader.read(parts[0]))
    assert reader.read._instance is not None
    data = pickle.dumps(reader)
    assert b"Unpicklable" in data and b"lambda" not in data
    copy = pickle.loads(data)
    assert copy.read._instance is None
    assert isinstance(copy.read.options, Options) and copy.read.options["secret_token"] == "s"
    batches = [b for p in pickle.loads(pickle.dumps(parts)) for b in copy.read(p)]
    assert [tuple(r.values()) for b in batches for r in b.to_pylist()] == gs.expected_rows(3)
    assert isinstance(copy.read._instance, gs.Unpicklable)


# ---------------------------------------------------------------------------------------------
# errors: import, missing methods, exceptions in the three methods


def test_import_error_names_module_and_sys_path(spark):
    with pytest.raises(AnalysisException) as e:
        spark.read.format("python").option("python_module", "no_such_pkg_xyz.sub").option("python_class", "C").load()
    msg = str(e.value)
    assert e.value.getErrorClass() == "HW_PYTHON_SOURCE_IMPORT_ERROR"
    assert "'no_such_pkg_xyz.sub'" in msg and "no module named 'no_such_pkg_xyz'" in msg
    assert "sys.path tried: [" in msg and repr(sys.path[-1]) in msg


def test_import_error_inside_the_module_carries_its_traceback(spark):
    with pytest.raises(AnalysisException) as e:
        spark.read.format("python").option("python_module", "generic_broken").option("python_class", "C").load()
    msg = str(e.value)
    assert "generic_broken" in msg and "sys.path tried" in msg
    assert "generic_broken.py" in msg and "RuntimeError: this module is broken on purpose" in msg


def test_missing_class(spark):
    with pytest.raises(AnalysisException) as e:
        load(spark, "NoSuchClass")
    assert "has no class 'NoSuchClass'" in str(e.value) and "generic_sources.py" in str(e.value)


@pytest.mark.parametrize("cls, method", [("NoRead", "read_partition"), ("NoPlan", "plan_partitions"),
                                         ("NoInfer", "infer_schema")])
def test_missing_method_is_named(spark, cls, method):
    with pytest.raises(AnalysisException) as e:
        load(spark, cls)
    assert e.value.getErrorClass() == "HW_PYTHON_SOURCE_METHOD_MISSING"
    assert f"has no method {method}()" in str(e.value) and f"{MOD}:{cls}" in str(e.value)


def test_constructor_failure(spark):
    with pytest.raises(AnalysisException) as e:
        load(spark, "FailingInit")
    assert "FailingInit()" in str(e.value) and "RuntimeError: cannot start" in str(e.value)
    assert "in __init__" in str(e.value)


@pytest.mark.parametrize("cls, method", [("FailingInfer", "infer_schema"), ("FailingPlan", "plan_partitions")])
def test_planning_exceptions_carry_traceback_method_and_redacted_options(spark, cls, method):
    with pytest.raises(AnalysisException) as e:
        df = load(spark, cls, user="alice", db_password="pw-SECRET", AccessToken="at-SECRET")
        df.collect()
    msg = str(e.value)
    assert e.value.getErrorClass() == "PYTHON_DATA_SOURCE_ERROR"
    assert f"{method}() of the generic source {MOD}:{cls} failed: ValueError: boom in {method}" in msg
    assert "Source traceback:" in msg and f"in {method}" in msg and "in _explode" in msg
    assert "generic_sources.py" in msg and "generic.py" not in msg.split("Source traceback:")[1]
    assert "'user': 'alice'" in msg and "'db_password': '***'" in msg and "'AccessToken': '***'" in msg
    assert "SECRET" not in msg
    assert isinstance(e.value.source_exception, ValueError)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cls, what", [("FailingReadCall", "read_partition call"),
                                       ("FailingReadIter", "read_partition iteration")])
def test_read_partition_exceptions_carry_traceback_method_and_spec(spark, mode, cls, what):
    df = load(use(spark, mode), cls, api_key="k-SECRET-789", region="eu")
    with pytest.raises(PythonException) as e:
        df.collect()
    msg = str(e.value)
    assert e.value.partition == 1
    assert f"read_partition() of the generic source {MOD}:{cls} failed for partition 1: ValueError: boom in {what}" in msg
    assert "partition spec: {'p': 1, 'token': '***', 'auth': '***'}" in msg  # 'auth' names a credential: all of it
    assert "'api_key': '***'" in msg and "'region': 'eu'" in msg
    assert "Source traceback:" in msg and "in read_partition" in msg and "in _explode" in msg
    assert "SECRET" not in msg


@pytest.mark.parametrize("mode", MODES)
def test_exceptions_on_the_converter_path(spark, mode):
    with pytest.raises(PythonException) as e:
        load(use(spark, mode), "FailingTuples").collect()
    msg = str(e.value)
    assert "read_partition() of the generic source" in msg and "for partition 1" in msg
    assert "'password_hint': '***'" in msg and "SECRET" not in msg and "boom in tuples" in msg


def test_read_failure_reaches_the_arrow_stream_too(spark):
    df = load(use(spark, "inline"), "FailingReadIter")
    with pytest.raises((pa.ArrowException, OSError)) as e:
        pa.RecordBatchReader.from_stream(df).read_all()
    assert "partition 1" in str(e.value) and "read_partition()" in str(e.value) and "SECRET" not in str(e.value)


@pytest.mark.parametrize("bad, key, what", [
    ("datetime", "since", "holds a datetime.datetime"),
    ("nested", "range", "(spec['range']['hi']) holds a set"),
    ("intkey", "map", "has a key of type int"),
    ("nan", "x", "holds nan"),
])
def test_spec_not_json_names_partition_and_key(spark, bad, key, what):
    with pytest.raises(AnalysisException) as e:
        load(spark, "NotJsonSpec", bad=bad).collect()
    msg = str(e.value)
    assert e.value.getErrorClass() == "HW_PARTITION_SPEC_NOT_JSON"
    assert "partition 2 " in msg and f"key {key!r}" in msg and what in msg


def test_spec_must_be_a_dict(spark):
    with pytest.raises(AnalysisException, match="partition 2 is a int"):
        load(spark, "NotJsonSpec", bad="notdict").collect()
    with pytest.raises(AnalysisException, match="must return a list of dicts, got dict"):
        load(spark, "NotAList").collect()


# ---------------------------------------------------------------------------------------------
# RecordBatches against the schema


@pytest.mark.parametrize("mode", ["inline", "thread"])
def test_reordered_columns_without_copy(spark, mode):
    gs.YIELDED.clear()
    df = load(use(spark, mode), "Reordered")
    reader = pa.RecordBatchReader.from_stream(df)
    out = list(reader)
    assert reader.schema == gs.SCHEMA
    # a stream gives batches as partitions complete: compare the rows as a set
    assert sorted(tuple(r.values()) for b in out for r in b.to_pylist()) == sorted(gs.expected_rows(3))
    by_first_id = {b.column(0)[0].as_py(): b for b in out}
    assert len(gs.YIELDED) == 3
    for src in gs.YIELDED:
        got = by_first_id[src.column("id")[0].as_py()]
        for name in gs.SCHEMA.names:
            want_bufs = [b.address for b in src.column(name).buffers() if b is not None]
            got_bufs = [b.address for b in got.column(name).buffers() if b is not None]
            assert got_bufs == want_bufs, name  # the same memory: reordered, not copied


@pytest.mark.parametrize("mode", MODES)
def test_missing_column_is_an_error(spark, mode):
    with pytest.raises(PythonException) as e:
        load(use(spark, mode), "MissingColumn").collect()
    msg = str(e.value)
    assert e.value.getErrorClass() == "DATA_SOURCE_RETURN_SCHEMA_MISMATCH"
    assert e.value.partition in (0, 1, 2) and f"partition {e.value.partition}: " in msg  # workers race
    assert "'name'" in msg and "'nom'" in msg


@pytest.mark.parametrize("mode", MODES)
def test_type_mismatch_names_column_types_and_partition(spark, mode):
    with pytest.raises(PythonException) as e:
        load(use(spark, mode), "WrongType").collect()
    msg = str(e.value)
    assert e.value.getErrorClass() == "DATA_SOURCE_RETURN_SCHEMA_MISMATCH"
    assert f"partition {e.value.partition}: " in msg
    assert "column 'id' is INT in the RecordBatch, but the schema declares BIGINT" in msg


@pytest.mark.parametrize("mode", MODES)
def test_cast_true_casts_safely(spark, mode):
    use(spark, mode)
    assert tuples(load(spark, "WrongType", cast="true")) == gs.expected_rows(3)
    assert tuples(load(spark, "WrongType", CAST="TRUE", strings="true")) == gs.expected_rows(3)
    assert load(spark, "WrongType", cast="true").toArrow().schema == gs.SCHEMA
    # the tuple path is the converter's, cast or not
    assert tuples(load(spark, "Tuples", cast="true")) == gs.expected_rows(3)


@pytest.mark.parametrize("mode", ["inline", "process"])
def test_cast_true_refuses_unsafe_casts(spark, mode):
    with pytest.raises(PythonException) as e:
        load(use(spark, mode), "WrongType", cast="true", bad="true").collect()
    msg = str(e.value)
    # the class is in the message (the DataFrame wraps what the read function raised)
    assert f"[CAST_INVALID_INPUT] partition {e.value.partition}: cannot cast column 'id' from string to int64 safely" in msg
    with pytest.raises(PythonException) as e:
        load(spark, "Narrowing", cast="true").collect()
    assert "cannot cast column 'id' from int64 to int32 safely" in str(e.value)


def test_cast_true_still_needs_every_column(spark):
    with pytest.raises(PythonException) as e:
        load(use(spark, "inline"), "MissingColumn", cast="true").collect()
    assert "partition 0: the RecordBatch has no column 'name'" in str(e.value)
