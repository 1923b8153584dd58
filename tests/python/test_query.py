"""DataFrames and SQL over Python sources, run by DuckDB, with filter, column and limit pushdown.

Values are checked against the rows computed here in plain Python; test_query_spark.py runs the
same queries on real PySpark."""

from __future__ import annotations

import datetime
import decimal
import os
import sys

import duckdb
import polars as pl
import pyarrow as pa
import pytest

import headwater
from headwater import functions as F
from headwater.errors import AnalysisException, ParseException, PythonException

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import qsources  # noqa: E402

ALL = [qsources.people_row(i) for i in range(400)]


@pytest.fixture
def spark():
    s = headwater.session()
    for cls in (qsources.People, qsources.Wide, qsources.Extraneous):
        s._registry.register(cls, warn=False)
    qsources.LOG.clear()
    yield s
    for key in ("headwater.executor.mode", "headwater.sql.pushdown", "spark.sql.python.filterPushdown.enabled",
                "headwater.executor.workers"):
        s.conf.unset(key)
    s._views.clear()


def people(spark, mode="inline", **options):
    spark.conf.set("headwater.executor.mode", mode)
    return spark.read.format("people").options(**options).load()


def logged(kind):
    return [e[1] for e in qsources.LOG if e[0] == kind]


# ---- filter pushdown


def test_offered_filters_are_spark_filters_and_accepted_ones_leave_the_query(spark):
    from headwater.datasource import GreaterThan, LessThan, StringStartsWith

    df = people(spark)
    q = df.filter((F.col("id") > 250) & (F.col("score") < 200) & F.col("name").startswith("n1")).select("id")
    got = sorted(r.id for r in q.collect())
    assert got == [r[0] for r in ALL if r[0] > 250 and r[2] is not None and r[2] < 200 and r[1] and r[1].startswith("n1")]
    offered, = logged("offered")
    assert offered == [GreaterThan(("id",), 250), LessThan(("score",), 200.0), StringStartsWith(("name",), "n1")]
    accepted, = logged("accepted")
    assert accepted == [GreaterThan(("id",), 250), StringStartsWith(("name",), "n1")]
    text = q._explain_string()
    assert "pushed filters: [GreaterThan(attribute=('id',), value=250), StringStartsWith(" in text
    assert "filters returned to DuckDB: [LessThan(attribute=('score',), value=200.0)]" in text


def test_a_filter_after_a_select_of_columns_is_pushed(spark):
    from headwater.datasource import GreaterThan

    df = people(spark)
    q = df.select("name", "id").filter(F.col("id") > 390)
    assert sorted(r.id for r in q.collect()) == [r[0] for r in ALL if r[0] > 390]
    assert logged("offered") == [[GreaterThan(("id",), 390)]]
    assert q.columns == ["name", "id"]


def test_every_filter_after_a_select_of_columns_holds(spark):
    """select(...).filter(a).filter(b): both predicates, pushed together (a AND b)."""
    from headwater.datasource import GreaterThan, LessThan

    df = people(spark)
    q = df.select("name", "id").filter(F.col("id") > 390).filter(F.col("id") < 395)
    assert sorted(r.id for r in q.collect()) == [r[0] for r in ALL if 390 < r[0] < 395]
    assert logged("offered") == [[GreaterThan(("id",), 390), LessThan(("id",), 395)]]


def test_what_the_source_accepts_is_trusted_as_in_spark(spark):
    df = people(spark, apply="false")  # accepts id filters but does not apply them
    assert df.filter(F.col("id") == 3).count() == 400
    assert people(spark).filter(F.col("id") == 3).count() == 1


def test_forms_spark_does_not_push_are_not_offered(spark):
    df = people(spark)
    queries = [
        df.filter((F.col("id") > 5) | (F.col("grp") == 1)),  # OR
        df.filter(F.col("id") > F.col("grp")),  # column to column
        df.filter(F.upper(F.col("name")) == "N1"),  # a function
        df.filter("id > 5"),  # SQL text
    ]
    expected = [
        sum(1 for r in ALL if r[0] > 5 or r[3] == 1),
        sum(1 for r in ALL if r[3] is not None and r[0] > r[3]),
        sum(1 for r in ALL if r[1] == "n1"),
        sum(1 for r in ALL if r[0] > 5),
    ]
    assert [q.count() for q in queries] == expected
    assert logged("offered") == []


def test_filter_forms_and_literal_sides(spark):
    from headwater.datasource import EqualTo, GreaterThanOrEqual, In, IsNotNull, IsNull, LessThan, Not

    df = people(spark, accept="")  # accepts nothing: DuckDB filters, we see what was offered
    q = df.filter((F.lit(10) > F.col("id")) & F.col("grp").isin(1, 2) & F.col("name").isNotNull()
                  & ~(F.col("id") == 4))
    assert q.count() == sum(1 for r in ALL if r[0] < 10 and r[3] in (1, 2) and r[1] is not None and r[0] != 4)
    q2 = df.filter((F.col("id") != 3) & (F.col("grp").eqNullSafe(None)) & (F.col("id") >= 7))
    assert q2.count() == sum(1 for r in ALL if r[0] != 3 and r[3] is None and r[0] >= 7)
    first, second = logged("offered")
    assert first[0] == LessThan(("id",), 10) and first[1] == In(("grp",), (1, 2))
    assert IsNotNull(("name",)) in first and Not(EqualTo(("id",), 4)) in first
    assert second == [Not(EqualTo(("id",), 3)), IsNull(("grp",)), GreaterThanOrEqual(("id",), 7)]


def test_a_literal_of_another_type_is_not_offered(spark):
    df = people(spark)
    assert df.filter(F.col("id") == "7").count() == 1  # DuckDB casts; Spark would cast before pushing
    assert logged("offered") == []


def test_pushdown_off_and_spark_conf_disabled(spark):
    spark.conf.set("headwater.sql.pushdown", "false")
    df = people(spark)
    assert df.filter(F.col("id") < 5).count() == 5
    assert logged("offered") == []
    spark.conf.unset("headwater.sql.pushdown")
    spark.conf.set("spark.sql.python.filterPushdown.enabled", "false")
    with pytest.raises(AnalysisException) as e:
        people(spark).filter(F.col("id") < 5).count()
    assert e.value.error_class == "DATA_SOURCE_PUSHDOWN_DISABLED"
    assert "PeopleReader implements pushFilters()" in str(e.value)


def test_extraneous_filters_are_refused(spark):
    spark.conf.set("headwater.executor.mode", "inline")
    with pytest.raises(AnalysisException) as e:
        spark.read.format("extraneous").load().filter(F.col("id") < 5).count()
    assert e.value.error_class == "DATA_SOURCE_EXTRANEOUS_FILTERS"


# ---- column pruning


@pytest.mark.parametrize("mode", ["inline", "thread", "process"])
def test_only_the_needed_columns_are_converted(spark, mode):
    spark.conf.set("headwater.executor.mode", mode)
    df = spark.read.format("wide").load()  # column `bad` holds strings in an INT column
    assert sorted(r.a for r in df.select("a", "c").filter(F.col("c") >= 0).collect()) == list(range(100))
    assert df.select(F.sum("c")).collect()[0][0] == sum(range(100))
    assert df.filter(F.col("a") < 10).count() == 10
    with pytest.raises(PythonException) as e:  # converting `bad` fails, naming it
        df.select("bad").collect()
    assert "column 'bad'" in str(e.value)
    assert "1 of 3 converted (pruned: a, c)" in df.select("bad")._explain_string()


@pytest.mark.parametrize("mode", ["inline", "process"])
def test_row_width_is_still_checked_when_columns_are_pruned(spark, mode):
    spark.conf.set("headwater.executor.mode", mode)
    df = spark.read.format("wide").option("short", "true").load()
    with pytest.raises(PythonException) as e:
        df.select("a").collect()
    assert e.value.error_class == "DATA_SOURCE_RETURN_SCHEMA_MISMATCH"
    assert "Expected: 3 columns, Found: 2 columns" in str(e.value)


@pytest.mark.parametrize("mode", ["inline", "thread", "process"])
def test_record_batches_are_projected(spark, mode):
    spark.conf.set("headwater.executor.mode", mode)
    df = spark.read.format("wide").option("batches", "true").load()
    q = df.select("c").filter(F.col("c") > 97)
    assert sorted(r.c for r in q.collect()) == [98.0, 99.0]
    assert "1 of 3 converted" in q._explain_string()
    assert pa.table(df.select("bad", "a").limit(3)).column_names == ["bad", "a"]


def test_converter_projection_directly():
    import headwater._core as core

    schema = headwater.parse_schema("a INT, b STRING, c DOUBLE")
    rows = [(1, 123, 2.5), (2, None, 3.5)]  # b is not a string: never converted here
    scan = core.Scan(schema, lambda p: iter(rows), [None], columns=[0, 2])
    t = pa.RecordBatchReader.from_stream(scan).read_all()
    assert t.column_names == ["a", "c"] and t.column("c").to_pylist() == [2.5, 3.5]
    with pytest.raises(Exception, match="ascending"):
        core.Scan(schema, lambda p: iter(rows), [None], columns=[2, 0])


# ---- limit pushdown


def test_limit_stops_the_scan_and_does_not_start_other_partitions(spark):
    df = people(spark, parts=8)
    rows = df.limit(5).collect()
    assert [r.id for r in rows] == [0, 1, 2, 3, 4]
    assert logged("partition") == [0]
    qsources.LOG.clear()
    assert [r.id for r in df.take(3)] == [0, 1, 2]  # a plain read: the C scan alone
    assert logged("partition") == [0]
    qsources.LOG.clear()
    assert df.select("name").limit(0).collect() == []
    assert logged("partition") == []
    assert "limit: 7" in df.select("id").limit(7)._explain_string()
    assert df.selectExpr("count(*) AS n").limit(1).first().n == 800  # an aggregate in SQL text: no pushdown


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_limit_cancels_partitions_on_the_executor(spark, mode, tmp_path):
    spark.conf.set("headwater.executor.workers", 2)
    marker = str(tmp_path / "started")
    df = people(spark, mode, parts=40, per=20000, marker=marker)
    rows = df.limit(10).collect()
    assert len(rows) == 10
    started = open(marker).read().split("\n")
    assert len([s for s in started if s]) <= 6  # 40 partitions; the running ones were stopped


def test_limit_after_a_filter_duckdb_evaluates_is_not_pushed(spark):
    df = people(spark, accept="")
    rows = df.filter(F.col("score") > 150).limit(4).collect()
    assert [r.id for r in rows] == [r[0] for r in ALL if r[2] is not None and r[2] > 150][:4]
    assert logged("partition")[0] == 0 and len(logged("partition")) > 1


# ---- the DataFrame API


def small(spark):
    return spark.createDataFrame(
        [(1, "a", 10.0, datetime.date(2024, 3, 5)), (2, "b", None, datetime.date(2023, 12, 31)),
         (3, None, 30.0, None), (4, "a", 40.0, datetime.date(2024, 3, 6))],
        "id INT, k STRING, v DOUBLE, d DATE")


def test_names_and_types_follow_spark(spark):
    df = small(spark)
    q = df.select(F.col("id") + 1, F.col("id") > 1, F.col("id").cast("string"), F.upper("k"), -F.col("id"),
                  F.year("d"), F.col("id") / 2, F.lit(1), F.col("k").isNull(), F.col("id").isin(1, 2),
                  F.coalesce("k", F.lit("z")), F.concat("k", "k"))
    assert q.columns == ["(id + 1)", "(id > 1)", "id", "upper(k)", "negative(id)", "year(d)", "(id / 2)", "1",
                         "(k IS NULL)", "(id IN (1, 2))", "coalesce(k, z)", "concat(k, k)"]
    assert q.dtypes == [("(id + 1)", "int"), ("(id > 1)", "boolean"), ("id", "string"), ("upper(k)", "string"),
                        ("negative(id)", "int"), ("year(d)", "int"), ("(id / 2)", "double"), ("1", "int"),
                        ("(k IS NULL)", "boolean"), ("(id IN (1, 2))", "boolean"), ("coalesce(k, z)", "string"),
                        ("concat(k, k)", "string")]
    row = q.orderBy("id").first()
    assert tuple(row) == (2, False, "1", "A", -1, 2024, 0.5, 1, False, True, "a", "aa")
    agg = df.agg(F.count("*"), F.count("k"), F.sum("id"), F.avg("v"), F.min("k"), F.max("d"))
    assert agg.dtypes == [("count(1)", "bigint"), ("count(k)", "bigint"), ("sum(id)", "bigint"),
                          ("avg(v)", "double"), ("min(k)", "string"), ("max(d)", "date")]
    assert tuple(agg.first()) == (4, 3, 10, 80.0 / 3, "a", datetime.date(2024, 3, 6))


def test_transformations(spark):
    df = small(spark)
    assert df.withColumn("w", F.col("id") * 2).columns == ["id", "k", "v", "d", "w"]
    assert df.withColumn("id", F.col("id") * 2).select("id").collect()[3].id == 8
    assert df.withColumnRenamed("k", "key").columns == ["id", "key", "v", "d"]
    assert df.drop("v", "d").columns == ["id", "k"]
    assert df.selectExpr("id + 1", "k as kk").columns == ["(id + 1)", "kk"]
    assert [r.id for r in df.where("v > 15").collect()] == [3, 4]
    assert [r.id for r in df.orderBy(F.col("v").desc()).collect()] == [4, 3, 1, 2]  # NULL last descending
    assert [r.id for r in df.orderBy("v").collect()] == [2, 1, 3, 4]  # NULL first ascending
    assert [r.id for r in df.sort("k", "id", ascending=[False, True]).collect()] == [2, 1, 4, 3]
    assert sorted(df.select("k").distinct().collect(), key=lambda r: r.k or "") == [(None,), ("a",), ("b",)]
    assert df.dropDuplicates(["k"]).count() == 3
    assert df.union(df).count() == 8
    assert df.unionByName(df.select("d", "v", "k", "id")).filter("id = 1").count() == 2
    with pytest.raises(AnalysisException) as e:
        df.union(df.select("id"))
    assert e.value.error_class == "NUM_COLUMNS_MISMATCH"
    g = df.groupBy("k").agg(F.sum("v").alias("s"), F.count("*").alias("n")).orderBy("k").collect()
    assert [tuple(r) for r in g] == [(None, 30.0, 1), ("a", 50.0, 2), ("b", None, 1)]
    assert [tuple(r) for r in df.groupBy("k").count().orderBy("k").collect()] == [(None, 1), ("a", 2), ("b", 1)]
    assert df.groupBy("k").agg({"v": "max"}).columns == ["k", "max(v)"]
    when = df.select(F.when(F.col("v") > 20, "big").when(F.col("v") > 5, "mid").otherwise("none").alias("w"))
    assert [r.w for r in when.collect()] == ["mid", "none", "big", "big"]
    assert [r.id for r in df.filter(F.col("k").like("a%")).collect()] == [1, 4]
    dates = spark.createDataFrame([("2024-02-29",), ("05/01/2023",)], "s STRING")
    assert dates.select(F.to_date(F.col("s")).alias("d")).first().d == datetime.date(2024, 2, 29)
    us = dates.filter(F.col("s").contains("/"))
    assert us.select(F.to_date("s", "MM/dd/yyyy").alias("d")).collect()[0].d == datetime.date(2023, 5, 1)
    assert [tuple(r) for r in df.select(F.month("d"), F.day("d")).limit(1).collect()] == [(3, 5)]


def test_joins(spark):
    left = spark.createDataFrame([(1, "x"), (2, "y"), (3, None)], "id INT, l STRING")
    right = spark.createDataFrame([(2, "p"), (3, "q"), (4, "r")], "id INT, r STRING")

    def rows(df):
        return sorted((tuple(r) for r in df.collect()), key=repr)

    assert left.join(right, "id").columns == ["id", "l", "r"]
    assert rows(left.join(right, "id")) == [(2, "y", "p"), (3, None, "q")]
    assert rows(left.join(right, "id", "left")) == sorted([(1, "x", None), (2, "y", "p"), (3, None, "q")], key=repr)
    assert rows(left.join(right, "id", "right")) == sorted([(2, "y", "p"), (3, None, "q"), (4, None, "r")], key=repr)
    assert rows(left.join(right, "id", "full")) == sorted(
        [(1, "x", None), (2, "y", "p"), (3, None, "q"), (4, None, "r")], key=repr)
    assert rows(left.join(right, "id", "semi")) == [(2, "y"), (3, None)]
    assert rows(left.join(right, "id", "anti")) == [(1, "x")]
    cond = left.join(right, left["id"] == right["id"], "inner")
    assert cond.columns == ["id", "l", "id", "r"]
    assert rows(cond.select(left["id"], right["r"])) == [(2, "p"), (3, "q")]
    with pytest.raises(AnalysisException) as e:
        cond.select("id")
    assert e.value.error_class == "AMBIGUOUS_REFERENCE"
    a, b = left.alias("a"), left.alias("b")
    assert rows(a.join(b, F.col("a.id") == F.col("b.id") + 1).select("a.id", "b.l")) == [(2, "x"), (3, "y")]
    with pytest.raises(AnalysisException) as e:
        left.select("nope")
    assert e.value.error_class == "UNRESOLVED_COLUMN.WITH_SUGGESTION"
    assert "Did you mean one of the following? [`id`, `l`]" in str(e.value)


def test_sql_over_temp_views(spark):
    people(spark).createOrReplaceTempView("people")
    small(spark).createOrReplaceTempView("small")
    q = spark.sql("SELECT grp, count(*) AS n FROM people WHERE id < 100 GROUP BY grp ORDER BY grp")
    assert [tuple(r) for r in q.collect()] == [(None, 10), (0, 30), (1, 30), (2, 30)]
    assert "2 of 6 converted" in q._explain_string() or "1 of 6 converted" in q._explain_string()
    assert spark.sql("SELECT s.k, p.name FROM small s JOIN people p ON p.id = s.id ORDER BY s.id").count() == 4
    assert spark.table("small").count() == 4
    with pytest.raises(AnalysisException) as e:
        small(spark).createTempView("small")
    assert e.value.error_class == "TEMP_TABLE_OR_VIEW_ALREADY_EXISTS"
    with pytest.raises(AnalysisException) as e:
        spark.sql("SELECT * FROM missing").collect()
    assert e.value.error_class == "TABLE_OR_VIEW_NOT_FOUND"
    with pytest.raises(ParseException):
        spark.sql("SELEC 1")
    assert spark.sql("WITH t AS (SELECT id FROM small) SELECT max(id) AS m FROM t").first().m == 4


def test_each_action_rereads_and_cache_keeps_the_result(spark):
    df = people(spark, parts=2).filter(F.col("grp") == 1)
    df.count()
    df.count()
    assert logged("partition") == [0, 1, 0, 1]
    qsources.LOG.clear()
    cached = df.cache()
    assert cached.count() == sum(1 for r in ALL[:200] if r[3] == 1)
    assert cached.select("id").filter(F.col("id") < 50).count() == sum(1 for r in ALL[:50] if r[3] == 1)
    assert cached.toArrow().num_rows == cached.count()
    assert logged("partition") == [0, 1]
    cached.unpersist()
    cached.count()
    assert logged("partition") == [0, 1, 0, 1]


def test_arrow_consumers_and_actions(spark):
    q = people(spark, "thread").filter(F.col("id") < 30).select("id", "day", "amount")
    table = pa.table(q)
    assert sorted(table.column("id").to_pylist()) == list(range(30))
    assert table.schema.field("amount").type == pa.decimal128(10, 2)
    assert q.toPolars().shape == (30, 3) and isinstance(q.toPolars(), pl.DataFrame)
    assert duckdb.sql("SELECT sum(id) FROM q").fetchone()[0] == sum(range(30))
    assert q.toPandas()["id"].sum() == sum(range(30))
    assert q.head(2) == q.orderBy("id").take(2) or len(q.head(2)) == 2
    assert q.orderBy("id").first().amount == decimal.Decimal("0.00")
    out = q.orderBy("id")._show_string(2, True)
    assert out.splitlines()[1] == "| id|       day|amount|" and out.endswith("only showing top 2 rows\n")
    assert "root\n |-- id: integer" in q._tree_string()


def test_a_source_error_inside_a_query_names_the_partition(spark):
    df = spark.read.format("wide").load()
    spark.conf.set("headwater.executor.mode", "inline")
    with pytest.raises(PythonException) as e:
        df.filter(F.col("bad") > 1).count()
    assert e.value.partition == 0 and "column 'bad'" in str(e.value)


def test_casting_fractions_to_integers_truncates_as_spark(spark):
    """Spark's cast of a double or decimal to an integer type truncates toward zero (DuckDB's CAST
    rounds): 5/9 -> 0, -2.7 -> -2, 2.5 -> 2; integers, strings and integral sums cast unchanged.
    PySpark 4.3.0 local[1] gave exactly these rows for the same expressions."""
    from decimal import Decimal

    from headwater.functions import col, lit, sum as sum_

    df = spark.createDataFrame([(5.0, 9.0, Decimal("-2.70"), "7", 3), (-7.5, 2.0, Decimal("2.50"), "8", 4)],
                               "a double, b double, d decimal(5,2), s string, i int")
    got = df.select((col("a") / col("b")).cast("bigint").alias("q"), col("d").cast("int").alias("di"),
                    col("a").cast("smallint").alias("as_"), col("s").cast("int").alias("si"),
                    col("i").cast("tinyint").alias("ii")).collect()
    assert [tuple(r) for r in got] == [(0, -2, 5, 7, 3), (-3, 2, -7, 8, 4)]
    filtered = df.filter(col("a").cast("int") == lit(-7)).select("i").collect()
    assert [r.i for r in filtered] == [4]
    agg = df.groupBy((col("a") / 2).cast("int").alias("k")).agg(sum_(col("d").cast("int")).alias("t"))
    assert sorted(tuple(r) for r in agg.collect()) == [(-3, 2), (2, -2)]


def test_casting_strings_to_integers_checks_them_as_spark(spark):
    """Spark 4's (ANSI) cast of a string to an integer type takes an optional sign and digits,
    trimmed of spaces and control characters, and fails with CAST_INVALID_INPUT on anything else
    (DuckDB's CAST takes '5.7' as 6, '1e3' as 1000, '0x10' as 16, '1_000' as 1000). PySpark 4.3.0
    local[1] gave these values and this error class for the same strings."""
    from headwater.functions import col

    good = spark.createDataFrame([(" 5 ",), ("+5",), ("-5",), ("\t5\n",), ("05",), ("5\x00",),
                                  ("-2147483648",), (None,)], "s string")
    got = good.select(col("s").cast("int").alias("i"), col("s").cast("bigint").alias("l")).collect()
    assert [tuple(r) for r in got] == [(5, 5), (5, 5), (-5, -5), (5, 5), (5, 5), (5, 5),
                                       (-2147483648, -2147483648), (None, None)]
    for text in ("5.7", "-0.9", "5.0", "1e3", "0x10", "1_000", "5.", ".5", " ", "", "\u00a05", "2147483648"):
        df = spark.createDataFrame([(text,)], "s string")
        with pytest.raises(headwater.errors.HeadwaterException) as e:
            df.select(col("s").cast("int")).collect()
        assert e.value.getErrorClass() == "CAST_INVALID_INPUT", (text, e.value)
    with pytest.raises(headwater.errors.HeadwaterException,
                       match=r"The value '5\.7' of the type \"STRING\" cannot be cast to \"SMALLINT\" because it is "
                             r"malformed"):
        spark.createDataFrame([("5.7",)], "s string").filter(col("s").cast("smallint") > 1).collect()


def test_division_and_remainder_by_zero_fail_as_spark(spark):
    """Spark 4 (ANSI) fails `/` and `%` by zero (integers and doubles, 0.0 / 0.0 too) with
    DIVIDE_BY_ZERO / REMAINDER_BY_ZERO, where DuckDB gives NULL; a NULL on either side is NULL
    without an error. PySpark 4.3.0 local[1] gave these for the same expressions."""
    from headwater.functions import col, lit

    df = spark.createDataFrame([(1, 0, 1.0, 0.0, None, 7, 2)], "a int, b int, x double, y double, n int, p int, q int")
    for expr, cls in [(col("a") / col("b"), "DIVIDE_BY_ZERO"), (col("x") / col("y"), "DIVIDE_BY_ZERO"),
                      (col("y") / col("y"), "DIVIDE_BY_ZERO"), (-col("x") / col("y"), "DIVIDE_BY_ZERO"),
                      (col("a") / lit(0), "DIVIDE_BY_ZERO"), (col("a") % col("b"), "REMAINDER_BY_ZERO"),
                      (col("x") % col("y"), "REMAINDER_BY_ZERO")]:
        with pytest.raises(headwater.errors.HeadwaterException) as e:
            df.select(expr.alias("r")).collect()
        assert e.value.getErrorClass() == cls
    with pytest.raises(headwater.errors.HeadwaterException, match=r"Division by zero\. Use `try_divide`"):
        df.filter(col("a") / col("b") > 0).collect()
    got = df.select((col("n") / col("b")).alias("nb"), (col("a") / col("n")).alias("an"),
                    (col("n") % col("b")).alias("nm"), (col("p") / col("q")).alias("pq"),
                    (col("p") % col("q")).alias("pm"), (-col("p") % col("q")).alias("mm")).collect()
    assert [tuple(r) for r in got] == [(None, None, None, 3.5, 1, -1)]


def test_casts_out_of_range_are_cast_overflow_as_spark(spark):
    """A number too large for the integer type it is cast to (a double, NaN, a decimal, a wider
    integer) is CAST_OVERFLOW in Spark 4 (PySpark 4.3.0 gave that class for each of these); a string
    that does not fit stays CAST_INVALID_INPUT, as in Spark."""
    from headwater.functions import col

    df = spark.createDataFrame([(3e10, 300, float("nan"), "2147483648")], "x double, i int, n double, s string")
    df = df.withColumn("d", col("x").cast("decimal(13,1)"))
    for c, target in [("x", "int"), ("i", "tinyint"), ("n", "int"), ("d", "int"), ("s", "int")]:
        with pytest.raises(headwater.errors.HeadwaterException) as e:
            df.select(col(c).cast(target)).collect()
        assert e.value.getErrorClass() == ("CAST_INVALID_INPUT" if c == "s" else "CAST_OVERFLOW"), (c, e.value)


def test_an_integer_sum_past_bigint_is_arithmetic_overflow_as_spark(spark):
    """Spark's sum of bigints fails with ARITHMETIC_OVERFLOW past 2^63 - 1 (PySpark 4.3.0); a sum
    of ints is a bigint and does not overflow at 2^31."""
    from headwater.functions import sum as sum_

    with pytest.raises(headwater.errors.HeadwaterException) as e:
        spark.createDataFrame([(2**62,), (2**62,), (2**62,)], "x bigint").agg(sum_("x")).collect()
    assert e.value.getErrorClass() == "ARITHMETIC_OVERFLOW"
    assert spark.createDataFrame([(2**30,), (2**30,)], "x int").agg(sum_("x")).collect()[0][0] == 2**31


def test_casting_doubles_and_timestamps_to_strings_writes_spark_s_text(spark):
    """Spark writes a double as Java's Double.toString (plain for 1e-3 <= |x| < 1e7, else
    d.dddE<n>; NaN, Infinity) and a timestamp as yyyy-MM-dd HH:mm:ss with the fraction's trailing
    zeros dropped, no zone; DuckDB writes 1e+20, nan, inf and '+00'. PySpark 4.3.0 local[1] gave
    exactly these strings for the same values (session time zone UTC)."""
    import datetime

    from headwater.functions import col

    values = [1e20, 0.1, 1e-5, 3.0, 123456789.0, 1e7, 1e-3, -0.0, 1.5e300, 0.30000000000000004,
              float("nan"), float("inf"), None]
    spark_text = ["1.0E20", "0.1", "1.0E-5", "3.0", "1.23456789E8", "1.0E7", "0.001", "-0.0", "1.5E300",
                  "0.30000000000000004", "NaN", "Infinity", None]
    df = spark.createDataFrame([(v,) for v in values], "x double")
    assert [r.s for r in df.select(col("x").cast("string").alias("s")).collect()] == spark_text
    assert [r.s for r in df.select((-col("x")).cast("string").alias("s")).collect()][:3] == ["-1.0E20", "-0.1", "-1.0E-5"]
    utc = datetime.timezone.utc
    ts = spark.createDataFrame([(datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=utc),),
                                (datetime.datetime(2020, 1, 2, 3, 4, 5, 120000, tzinfo=utc),),
                                (datetime.datetime(2020, 1, 2, 3, 4, 0, tzinfo=utc),), (None,)], "t timestamp")
    got = [r.s for r in ts.select(col("t").cast("string").alias("s")).collect()]
    # in the session's (here: the machine's) time zone, as Spark's default session time zone
    local = [datetime.datetime(2020, 1, 2, 3, 4, s, tzinfo=utc).astimezone().strftime("%Y-%m-%d %H:%M:%S") for s in (5, 0)]
    assert got == [local[0], local[0] + ".12", local[1], None]
    # other casts to string are DuckDB's as before (same text as Spark's for these)
    other = spark.createDataFrame([(True, 7, "a")], "b boolean, i int, s string")
    assert tuple(other.select(*[col(c).cast("string") for c in ("b", "i", "s")]).collect()[0]) == ("true", "7", "a")


def test_concat_writes_each_argument_as_spark_s_cast_to_string(spark):
    """concat of a double, an int and a string: the double as Java writes it (PySpark 4.3.0 gave
    '1.0E20 7 a'); the column keeps Spark's name; NULL if any argument is NULL."""
    from headwater.functions import col, concat, lit

    df = spark.createDataFrame([(1e20, 7, "a"), (None, 1, "b")], "x double, i int, s string")
    out = df.select(concat(col("x"), lit(" "), col("i"), lit(" "), col("s")))
    assert out.columns == ["concat(x,  , i,  , s)"]
    assert [r[0] for r in out.collect()] == ["1.0E20 7 a", None]
