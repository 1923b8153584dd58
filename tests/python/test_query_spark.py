"""The same queries over the same Python data source on real PySpark 4.1.1 (local[2], filter pushdown
on) and on headwater (DuckDB): same column names, same types, same rows."""

from __future__ import annotations

import math
import os
import sys
import warnings

import pytest

import headwater
from headwater import functions as HF

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import qsources  # noqa: E402

pytestmark = pytest.mark.jvm  # starts real PySpark (a JVM): not run under `make sanitize`

# query name -> (functions module, source DataFrame, other DataFrame) -> DataFrame
QUERIES = {
    "filter_pushed": lambda F, df, o: df.filter((F.col("id") > 250) & F.col("name").startswith("n1")),
    "filter_not_pushed": lambda F, df, o: df.filter((F.col("score") < 20) | (F.col("grp") == 2)).select("id", "grp"),
    "filter_sql_text": lambda F, df, o: df.filter("id % 7 = 3 AND score IS NOT NULL"),
    "select_exprs": lambda F, df, o: df.select("id", (F.col("id") + 1), (F.col("score") * 2), F.upper("name"),
                                               F.col("id").cast("string"), F.col("grp").isin(1, 2)),
    "select_expr_strings": lambda F, df, o: df.selectExpr("id + 1", "name AS who", "upper(name)"),
    "with_column": lambda F, df, o: df.withColumn("half", F.col("id") / 2).withColumnRenamed("name", "nm").drop("day"),
    "group_agg": lambda F, df, o: df.groupBy("grp").agg(F.count("*"), F.count("name"), F.sum("id"), F.avg("score"),
                                                        F.min("name"), F.max("day")),
    "group_count": lambda F, df, o: df.groupBy("grp", "name").count(),
    "global_agg": lambda F, df, o: df.agg(F.sum("amount"), F.countDistinct("name")),
    "order_limit": lambda F, df, o: df.orderBy(F.col("score").desc(), "id").limit(7),
    "order_nulls_first": lambda F, df, o: df.select("grp", "id").orderBy("grp", "id").limit(15),
    "distinct": lambda F, df, o: df.select("grp", "name").distinct(),
    "when_coalesce_concat": lambda F, df, o: df.select(
        F.when(F.col("grp") == 0, "zero").when(F.col("grp") == 1, "one").otherwise("other").alias("w"),
        F.coalesce(F.col("name"), F.lit("?")).alias("c"), F.concat(F.col("name"), F.lit("-")).alias("cc")),
    "dates": lambda F, df, o: df.select("day", F.year("day"), F.month("day"), F.dayofmonth("day")),
    "like_null": lambda F, df, o: df.filter(F.col("name").like("n_") & F.col("score").isNull()),
    "join_inner": lambda F, df, o: df.join(o, "grp").select("id", "grp", "label"),
    "join_left": lambda F, df, o: df.join(o, "grp", "left").select("id", "label"),
    "join_full": lambda F, df, o: df.filter("id < 20").join(o, "grp", "full"),
    "join_semi_anti": lambda F, df, o: df.join(o, "grp", "left_semi").union(df.join(o, "grp", "left_anti")),
    "join_condition": lambda F, df, o: df.join(o, df["grp"] == o["grp"]).select(df["id"], o["label"]),
    "union_by_name": lambda F, df, o: df.select("id", "name").unionByName(df.select("name", "id")),
    "drop_duplicates": lambda F, df, o: df.dropDuplicates(["grp"]).select("grp"),
    "limit_only": lambda F, df, o: df.filter(F.col("id") >= 100).select("id").limit(1000),
}


def _value(v):
    if isinstance(v, float):
        return round(v, 9) if not math.isnan(v) else "nan"
    if hasattr(v, "asDict"):
        return tuple(_value(x) for x in v)
    return v


def _rows(df):
    return sorted((tuple(_value(v) for v in r) for r in df.collect()), key=repr)


@pytest.fixture(scope="module")
def both():
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    pp = os.environ.get("PYTHONPATH", "")
    if HERE not in pp.split(os.pathsep):
        os.environ["PYTHONPATH"] = HERE + (os.pathsep + pp if pp else "")
    warnings.filterwarnings("ignore", category=FutureWarning)
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as SF

    spark = (SparkSession.builder.master("local[2]").appName("headwater-query-diff")
             .config("spark.sql.python.filterPushdown.enabled", "true")
             .config("spark.ui.enabled", "false").getOrCreate())
    spark.dataSource.register(qsources.SparkPeople)
    hw = headwater.session()
    hw.dataSource.register(qsources.SparkPeople)
    labels = [(0, "zero"), (1, "one"), (5, "five")]
    # A fresh DataFrame per query: PySpark 4.1.1 keeps the filters a reader accepted in one query in
    # the DataFrame and applies them to the next query on the same DataFrame (headwater asks a new
    # reader per action, as each action re-plans).
    yield {
        "spark": lambda: (SF, spark.read.format("speople").load(), spark.createDataFrame(labels, "grp INT, label STRING")),
        "headwater": lambda: (HF, hw.read.format("speople").load(), hw.createDataFrame(labels, "grp INT, label STRING")),
    }
    spark.stop()


@pytest.mark.parametrize("name", list(QUERIES))
def test_same_result_as_pyspark(both, name):
    build = QUERIES[name]
    theirs = build(*both["spark"]())
    ours = build(*both["headwater"]())
    assert ours.columns == theirs.columns
    assert ours.dtypes == theirs.dtypes
    assert _rows(ours) == _rows(theirs)
    if "order" in name:  # ordered results: the same order
        assert [tuple(_value(v) for v in r) for r in ours.collect()] == \
               [tuple(_value(v) for v in r) for r in theirs.collect()]
    assert ours.count() == theirs.count()


def test_spark_sql_over_a_view(both):
    SF, sdf, _ = both["spark"]()
    HF_, hdf, _ = both["headwater"]()
    sdf.createOrReplaceTempView("people_v")
    hdf.createOrReplaceTempView("people_v")
    text = ("SELECT grp, count(*) AS n, sum(id) AS s, max(name) AS m FROM people_v WHERE id BETWEEN 10 AND 300 "
            "GROUP BY grp ORDER BY grp")
    theirs = sdf.sparkSession.sql(text)
    ours = hdf.sparkSession.sql(text)
    assert ours.columns == theirs.columns and ours.dtypes == theirs.dtypes
    assert [tuple(r) for r in ours.collect()] == [tuple(r) for r in theirs.collect()]


def test_show_layout_matches(both):
    _, sdf, _ = both["spark"]()
    _, hdf, _ = both["headwater"]()
    spark_text = sdf.select("id", "name", "score", "day", "amount").orderBy("id")._jdf.showString(5, 20, False)
    ours_text = hdf.select("id", "name", "score", "day", "amount").orderBy("id")._show_string(5, True)
    assert ours_text == spark_text + "\n"  # show() prints Spark's string with a newline
