"""A DataFrame in Jupyter: _repr_html_ (and __repr__) under spark.sql.repl.eagerEval.*, as PySpark's."""

import pytest

import headwater

ROWS = [(1, "a<b>&'\"", None), (2, "x" * 30, 1.5), (3, "c", 2.0)]
SCHEMA = "id INT, s STRING, d DOUBLE"


@pytest.fixture()
def spark():
    s = headwater.SparkSession({"spark.sql.repl.eagerEval.enabled": "true"})
    yield s
    s.stop()


def test_off_by_default():
    s = headwater.SparkSession()
    df = s.createDataFrame(ROWS, SCHEMA)
    assert df._repr_html_() is None
    assert repr(df) == "DataFrame[id: int, s: string, d: double]"


def test_html_table_as_pyspark(spark):
    df = spark.createDataFrame(ROWS, SCHEMA)
    # PySpark 4.3.0's output for the same rows (see test_matches_live_pyspark)
    assert df._repr_html_() == (
        "<table border='1'>\n<tr><th>id</th><th>s</th><th>d</th></tr>\n"
        "<tr><td>1</td><td>a&lt;b&gt;&amp;'&quot;</td><td>NULL</td></tr>\n"
        "<tr><td>2</td><td>xxxxxxxxxxxxxxxxx...</td><td>1.5</td></tr>\n"
        "<tr><td>3</td><td>c</td><td>2.0</td></tr>\n</table>\n")
    spark.conf.set("spark.sql.repl.eagerEval.maxNumRows", "1")
    spark.conf.set("spark.sql.repl.eagerEval.truncate", "5")
    assert df._repr_html_() == (
        "<table border='1'>\n<tr><th>id</th><th>s</th><th>d</th></tr>\n"
        "<tr><td>1</td><td>a&lt;...</td><td>NULL</td></tr>\n</table>\nonly showing top 1 row\n")
    assert repr(df) == "DataFrame[id: int, s: string, d: double]"  # a notebook asked for HTML once


def test_repr_is_show_in_a_plain_repl(spark):
    spark.conf.set("spark.sql.repl.eagerEval.maxNumRows", "1")
    spark.conf.set("spark.sql.repl.eagerEval.truncate", "5")
    df = spark.createDataFrame(ROWS, SCHEMA)
    assert repr(df) == ("+---+-----+----+\n| id|    s|   d|\n+---+-----+----+\n|  1|a<...|NULL|\n"
                        "+---+-----+----+\nonly showing top 1 row\n")


@pytest.mark.jvm
def test_matches_live_pyspark(spark):
    pyspark_sql = pytest.importorskip("pyspark.sql")
    ps = (pyspark_sql.SparkSession.builder.master("local[1]")
          .config("spark.sql.repl.eagerEval.enabled", "true").config("spark.ui.showConsoleProgress", "false")
          .getOrCreate())
    try:
        for max_rows, trunc in (("20", "20"), ("2", "4"), ("0", "0")):
            for sess in (ps, spark):
                sess.conf.set("spark.sql.repl.eagerEval.maxNumRows", max_rows)
                sess.conf.set("spark.sql.repl.eagerEval.truncate", trunc)
            theirs = ps.createDataFrame(ROWS, SCHEMA)._repr_html_()
            ours = spark.createDataFrame(ROWS, SCHEMA)._repr_html_()
            assert ours == theirs, (max_rows, trunc)
    finally:
        ps.stop()
