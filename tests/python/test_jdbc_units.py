"""headwater.jdbc without a database: URLs and redaction, Spark's partition strides, dialect
quoting and filters, option checks."""

from __future__ import annotations

import datetime as dt
import decimal
import sqlite3

import pytest

from headwater.datasource import (EqualNullSafe, EqualTo, GreaterThan, In, IsNotNull, IsNull, LessThan, Not,
                                  StringContains, StringEndsWith, StringStartsWith)
from headwater.errors import AnalysisException
from headwater.jdbc import column_partition, dialect_for, parse_url
from headwater.jdbc.backends import choose_backend
from headwater.jdbc.options import JdbcOptions
from headwater.jdbc.url import redact_url, scrub
from headwater.jdbc.writing import split_table_name

PW = "p@ss:w/rd?&=;x"


# ---- URLs


def test_postgres_url_parts_and_credentials_from_the_url():
    u = parse_url("jdbc:postgresql://db.example:6543/sales?user=ann&password=hunter2&sslmode=require")
    assert (u.kind, u.host, u.port, u.database, u.user, u.password) == ("postgresql", "db.example", 6543, "sales", "ann", "hunter2")
    assert u.params == {"sslmode": "require"}
    assert u.libpq_params() == {"host": "db.example", "port": "6543", "dbname": "sales", "user": "ann",
                                "password": "hunter2", "sslmode": "require"}


def test_options_win_over_the_url_and_are_escaped_in_uris():
    u = parse_url("jdbc:postgresql://h/db?user=url_user&password=url_pw", "opt user", PW)
    assert (u.user, u.password, u.port) == ("opt user", PW, 5432)
    uri = u.postgres_uri()
    assert uri.startswith("postgresql://opt%20user:p%40ss%3Aw%2Frd%3F%26%3D%3Bx@h:5432/db")
    assert PW not in uri


def test_other_url_forms():
    assert parse_url("jdbc:postgresql:mydb").database == "mydb"
    assert parse_url("jdbc:sqlite::memory:").is_memory
    assert parse_url("jdbc:sqlite:rel/x.db").sqlite_path().endswith("/rel/x.db")
    m = parse_url("jdbc:mysql://bob:pw1@10.0.0.1/shop")
    assert (m.kind, m.host, m.port, m.database, m.user, m.password) == ("mysql", "10.0.0.1", 3306, "shop", "bob", "pw1")
    assert m.connectorx_uri() == "mysql://bob:pw1@10.0.0.1:3306/shop"
    s = parse_url("jdbc:sqlserver://srv:1444;databaseName=crm;user=sa;password=Secr3t;encrypt=true")
    assert (s.host, s.port, s.database, s.user, s.password, s.params) == ("srv", 1444, "crm", "sa", "Secr3t", {"encrypt": "true"})
    assert s.connectorx_uri() == "mssql://sa:Secr3t@srv:1444/crm"


@pytest.mark.parametrize("url, words", [
    ("postgresql://h/db", "starts with 'jdbc:'"),
    ("jdbc:postgresql://h:99999/db", "the port '99999'"),
    ("jdbc:postgresql://h:abc/db", "the port 'abc'"),
    ("jdbc:sqlite:", "no database file"),
    ("jdbc:", "no database type"),
    ("jdbc:sqlserver:h", "expected jdbc:sqlserver://"),
])
def test_bad_urls_say_what_is_wrong(url, words):
    with pytest.raises(AnalysisException) as e:
        parse_url(url)
    assert e.value.getErrorClass() == "HW_JDBC_INVALID_URL" and words in str(e.value)


def test_passwords_never_shown():
    u = parse_url("jdbc:postgresql://h/db?password=hunter2&user=x")
    assert "hunter2" not in repr(u) and "hunter2" not in str(u) and "hunter2" not in u.redacted()
    assert "password=***" in u.redacted()
    assert redact_url("jdbc:mysql://bob:pw1@h/db") == "jdbc:mysql://bob:***@h/db"
    assert redact_url("jdbc:sqlserver://h;user=sa;password=Secr3t;x=1") == "jdbc:sqlserver://h;user=sa;password=***;x=1"
    assert scrub(f"failed for postgresql://u:{PW}@h and p%40ss%3Aw%2Frd%3F%26%3D%3Bx", [PW]).count(PW) == 0
    with pytest.raises(AnalysisException) as e:
        parse_url("jdbc:postgresql://h:70000/db?password=hunter2")
    assert "hunter2" not in str(e.value)


def test_unknown_driver_names_the_backends_tried_and_what_to_install():
    with pytest.raises(AnalysisException) as e:
        choose_backend(parse_url("jdbc:oracle:thin:@//h:1521/x"), None)
    msg = str(e.value)
    assert e.value.getErrorClass() == "HW_JDBC_NO_BACKEND"
    assert "connectorx (has no driver for oracle)" in msg and "adbc (has no driver for oracle)" in msg
    assert "dbapi (has no driver for oracle)" in msg
    with pytest.raises(AnalysisException) as e:
        choose_backend(parse_url("jdbc:mysql://h/db"), "adbc")
    assert "adbc (has no driver for mysql)" in str(e.value) and "connectorx: pip install connectorx" in str(e.value)
    assert choose_backend(parse_url("jdbc:mysql://h/db"), None).name == "connectorx"
    assert choose_backend(parse_url("jdbc:sqlite:/x.db"), "DBAPI").name == "dbapi"


# ---- Spark's partitioning (JDBCRelation.columnPartition)


class _D:
    name = "t"

    @staticmethod
    def literal(v):
        return f"'{v}'"


def test_partition_strides_as_spark():
    assert column_partition("c", "int", 0, 4, 3, _D) == ["c < 1 or c is null", "c >= 1 AND c < 2", "c >= 2"]
    # stride = 100/4 - 0/4 = 25
    assert column_partition("c", "int", 0, 100, 4, _D) == [
        "c < 25 or c is null", "c >= 25 AND c < 50", "c >= 50 AND c < 75", "c >= 75"]
    # negative bounds: stride 3.5 - (-3.5) = 7
    assert column_partition("c", "int", -7, 7, 2, _D) == ["c < 0 or c is null", "c >= 0"]
    # SPARK-34843: stride 3.75 - 1.25 = 2.5 -> 2; the first bound moves up by half the lost
    # strides (4 * 0.5 / 2 = 1 stride lost: +1), so 6 + 2 = 8 (checked against PySpark 4.1.1)
    assert column_partition("c", "int", 5, 15, 4, _D) == [
        "c < 8 or c is null", "c >= 8 AND c < 10", "c >= 10 AND c < 12", "c >= 12"]


def test_partitions_reduced_single_and_errors():
    assert column_partition("c", "int", 1, 3, 10, _D) == ["c < 2 or c is null", "c >= 2"]  # reduced to 2
    assert column_partition("c", "int", 5, 5, 4, _D) == [None]
    assert column_partition("c", "int", 1, 100, 1, _D) == [None]
    with pytest.raises(AnalysisException, match="lower bound of partitioning column is larger"):
        column_partition("c", "int", 10, 1, 2, _D)
    # the full Long range: no overflow, numPartitions kept (Spark's "overflow" test)
    lo, hi = -(1 << 63), (1 << 63) - 1
    parts = column_partition("c", "int", lo, hi, 10, _D)
    assert len(parts) == 10 and parts[0].startswith("c < ")


def test_date_and_timestamp_bounds():
    d = dialect_for("postgresql")
    parts = column_partition('"d"', "date", 0, 10, 2, d)
    assert parts == ['"d" < DATE \'1970-01-06\' or "d" is null', '"d" >= DATE \'1970-01-06\'']
    s = dialect_for("sqlite")
    parts = column_partition('"t"', "timestamp", 0, 7_200_000_000, 2, s)
    assert parts == ['"t" < \'1970-01-01 01:00:00\' or "t" is null', '"t" >= \'1970-01-01 01:00:00\'']


# ---- dialects


def test_identifier_and_literal_quoting():
    pg, lite, my, ms = (dialect_for(k) for k in ("postgresql", "sqlite", "mysql", "sqlserver"))
    assert pg.quote_identifier('we"ird') == '"we""ird"'
    assert my.quote_identifier("a`b") == "`a``b`"
    assert ms.quote_identifier("a]b") == "[a]]b]"
    assert pg.literal("it's \\") == "E'it''s \\\\'"
    assert lite.literal("it's") == "'it''s'"
    assert ms.literal("x'") == "N'x'''"
    assert pg.literal(b"\x01\xff") == "'\\x01ff'::bytea" and lite.literal(b"\x01") == "X'01'"
    assert pg.literal(True) == "TRUE" and lite.literal(True) == "1"
    assert pg.literal(decimal.Decimal("1.50")) == "1.50" and pg.literal(dt.date(2020, 1, 2)) == "DATE '2020-01-02'"
    aware = dt.datetime(2020, 1, 2, 3, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert pg.literal(aware) == "TIMESTAMPTZ '2020-01-02 01:00:00+00'"


def test_filters_compile_and_unpushable_ones_are_returned():
    pg = dialect_for("postgresql")
    cols = {"a": "a", "name": "Name"}
    assert pg.compile_filter(EqualTo(("a",), 1), cols) == '("a" = 1)'
    assert pg.compile_filter(GreaterThan(("NAME",), "x"), cols) == "(\"Name\" > E'x')"
    assert pg.compile_filter(In(("a",), (1, 2, None)), cols) == '("a" IN (1, 2, NULL))'
    assert pg.compile_filter(Not(IsNull(("a",))), cols) == '(NOT (("a" IS NULL)))'
    assert pg.compile_filter(IsNotNull(("a",)), cols) == '("a" IS NOT NULL)'
    assert pg.compile_filter(EqualNullSafe(("a",), None), cols) == '("a" IS NOT DISTINCT FROM NULL)'
    assert pg.compile_filter(StringStartsWith(("name",), "50%_"), cols) == "(\"Name\" LIKE E'50\\\\%\\\\_%' ESCAPE E'\\\\')"
    assert pg.compile_filter(StringContains(("name",), "a'b"), cols) == "(strpos(\"Name\", E'a''b') > 0)"
    for unpushable in (EqualTo(("a", "b"), 1), EqualTo(("zzz",), 1), LessThan(("a",), float("nan")), In(("a",), ()),
                       EqualTo(("a",), object()), EqualTo(("a",), None)):
        assert pg.compile_filter(unpushable, cols) is None


def test_malicious_values_stay_inside_their_literal_on_sqlite():
    conn = sqlite3.connect(":memory:")
    conn.execute("create table t(s text)")
    conn.executemany("insert into t values (?)", [("a",), ("x' OR '1'='1",), ("AbC",)])
    lite = dialect_for("sqlite")
    cols = {"s": "s"}
    for f, expect in [
        (EqualTo(("s",), "x' OR '1'='1"), ["x' OR '1'='1"]),
        (EqualTo(("s",), "' OR 1=1 --"), []),
        (StringStartsWith(("s",), "ab"), []),  # case-sensitive, as Spark (SQLite's LIKE is not)
        (StringEndsWith(("s",), "bC"), ["AbC"]),
        (StringContains(("s",), "'"), ["x' OR '1'='1"]),
    ]:
        sql = lite.compile_filter(f, cols)
        assert [r[0] for r in conn.execute(f"select s from t where {sql} order by s")] == expect, sql


# ---- options


@pytest.mark.parametrize("opts, words", [
    ({}, "Option 'url' is required."),
    ({"url": "jdbc:sqlite:x.db"}, "Option 'dbtable' or 'query' is required."),
    ({"url": "jdbc:sqlite:x.db", "dbtable": "t", "query": "select 1"}, "Both 'dbtable' and 'query' can not be specified"),
    ({"url": "jdbc:sqlite:x.db", "query": " "}, "Option `query` can not be empty."),
    ({"url": "jdbc:sqlite:x.db", "query": "select 1", "partitionColumn": "a", "lowerBound": "1", "upperBound": "2",
      "numPartitions": "2"}, "Options 'query' and 'partitionColumn' can not be specified together"),
    ({"url": "jdbc:sqlite:x.db", "dbtable": "t", "partitionColumn": "a"}, "users need to specify all or none"),
    ({"url": "jdbc:sqlite:x.db", "dbtable": "t", "lowerBound": "1", "upperBound": "2", "numPartitions": "2"},
     "users need to specify all or none"),
    ({"url": "jdbc:sqlite:x.db", "dbtable": "t", "fetchsize": "-1"}, "Invalid value `-1` for parameter `fetchsize`"),
    ({"url": "jdbc:sqlite:x.db", "dbtable": "t", "queryTimeout": "-1"}, "for parameter `queryTimeout`"),
    ({"url": "jdbc:sqlite:x.db", "dbtable": "t", "numPartitions": "x"}, "Option 'numPartitions' must be an integer"),
    ({"url": "jdbc:sqlite:x.db", "dbtable": "t", "predicates": "a > 1"}, "Option 'predicates' must be a JSON array"),
])
def test_option_errors_use_sparks_words(opts, words):
    with pytest.raises(AnalysisException) as e:
        JdbcOptions(opts)
    assert words in str(e.value)


def test_options_are_case_insensitive_and_query_gets_sparks_alias():
    o = JdbcOptions({"URL": "jdbc:sqlite:x.db", "Query": "select 1 as a", "FETCHSIZE": "7", "pushDownPredicate": "false"})
    assert o.table_or_query == "(select 1 as a) SPARK_GEN_SUBQ_0"
    assert (o.fetchsize, o.push_down_predicate) == (7, False)
    with pytest.raises(AnalysisException, match="not applicable while writing"):
        JdbcOptions({"url": "jdbc:sqlite:x.db", "query": "select 1"}, write=True)


def test_table_names_for_ingest():
    assert split_table_name('public."My Table"', fold_lower=True) == ("public", "My Table")
    assert split_table_name("Sales.Orders", fold_lower=True) == ("sales", "orders")
    assert split_table_name('"a""b"', fold_lower=False) == (None, 'a"b')
    with pytest.raises(ValueError):
        split_table_name("(select 1) x", fold_lower=False)
