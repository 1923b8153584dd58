"""The password of a JDBC connection never shows: not in error messages, reprs, explain() output,
log lines or formatted tracebacks — with the real password-protected role of the test cluster."""

from __future__ import annotations

import logging
import traceback
from urllib.parse import quote

import pytest

import headwater
from headwater.errors import HeadwaterException
from headwater.jdbc import JDBCArrowDataSource, JDBCDataSource, parse_url

ENGINES = ["connectorx", "adbc", "dbapi"]


@pytest.fixture(scope="module")
def spark():
    s = headwater.SparkSession.builder.create()
    s.conf.set("headwater.executor.mode", "thread")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def secret(pg):
    from pg_cluster import SECRET_PASSWORD

    pg.psql("CREATE TABLE IF NOT EXISTS guarded (id INTEGER, v TEXT)", database=pg.database)
    pg.psql("TRUNCATE guarded; INSERT INTO guarded VALUES (1, 'a'), (2, 'b')", database=pg.database)
    return SECRET_PASSWORD


def _forms(pw):
    return {pw, quote(pw, safe=""), quote(pw)}


def _assert_hidden(text, pw):
    for form in _forms(pw):
        assert form not in text, f"password shown in: {text[:2000]}"


def _everything(exc):
    """All text headwater shows for an exception: str, repr, the formatted traceback with its
    causes, and the messages of every chained exception."""
    parts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    seen = exc
    while seen is not None:
        parts.append(str(seen))
        seen = seen.__cause__
    return "\n".join(parts)


def test_the_right_password_reads(spark, pg, secret):
    df = (spark.read.format("jdbc").option("url", pg.jdbc_url()).option("dbtable", "guarded")
          .option("user", pg.secret_user).option("password", secret).load())
    assert sorted(tuple(r) for r in df.collect()) == [(1, "a"), (2, "b")]
    _assert_hidden(repr(df) + df._explain_string() + repr(df._plan.source.options and "x"), secret)
    # the password may also come in the URL
    url = f"{pg.jdbc_url()}?user={pg.secret_user}&password={quote(secret, safe='')}"
    df = spark.read.format("jdbc").option("url", url).option("dbtable", "guarded").load()
    assert df.count() == 2
    text = df._explain_string()
    assert "password=***" in text
    _assert_hidden(text, secret)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_right_password_with_every_backend(spark, pg, secret, engine):
    # the password has URL-reserved characters: each backend's connection string escapes them
    df = (spark.read.format("jdbc").option("url", pg.jdbc_url()).option("dbtable", "guarded")
          .option("user", pg.secret_user).option("password", secret).option("engine", engine)
          .option("partitionColumn", "id").option("lowerBound", 1).option("upperBound", 3)
          .option("numPartitions", 2).load())
    assert sorted(tuple(r) for r in df.collect()) == [(1, "a"), (2, "b")]
    assert f"engine={engine}" in df._explain_string()


@pytest.mark.parametrize("where", ["option", "url"])
def test_wrong_password_at_load(spark, pg, secret, where):
    wrong = "Wr0ng-" + secret
    r = spark.read.format("jdbc").option("dbtable", "guarded").option("user", pg.secret_user)
    if where == "option":
        r = r.option("url", pg.jdbc_url()).option("password", wrong)
    else:
        r = r.option("url", f"{pg.jdbc_url()}?password={quote(wrong, safe='')}")
    with pytest.raises(HeadwaterException) as e:
        r.load()
    text = _everything(e.value)
    assert 'password authentication failed for user "hw_secret"' in text
    assert "HW_JDBC_QUERY_FAILED" in text
    _assert_hidden(text, wrong)
    _assert_hidden(text, secret)


@pytest.mark.parametrize("engine", ENGINES)
def test_wrong_password_in_each_backend_and_logs(pg, secret, engine, caplog):
    """Each backend's own connection failure, through the generic three-method interface (whose
    read_partition takes the credentials from the options it is given)."""
    good = dict(url=pg.jdbc_url(), dbtable="guarded", user=pg.secret_user, password=secret, engine=engine)
    src = JDBCArrowDataSource()
    spec = src.plan_partitions(good)[0]
    wrong = "Wr0ng-" + secret
    with caplog.at_level(logging.DEBUG, logger="headwater.jdbc"):
        with pytest.raises(HeadwaterException) as e:
            list(src.read_partition(spec, {**good, "password": wrong}))
    text = _everything(e.value)
    assert f"({engine})" in text and "hw_secret" in text
    assert "password authentication failed" in text or "authentication" in text.lower()
    _assert_hidden(text, wrong)
    _assert_hidden(text, secret)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "engine " + engine in logged
    _assert_hidden(logged, wrong)
    _assert_hidden(logged, secret)


def test_generic_format_errors_redact_the_url_password(spark, pg, secret):
    wrong = "Wr0ng-" + secret
    url = f"{pg.jdbc_url()}?user={pg.secret_user}&password={quote(wrong, safe='')}"
    with pytest.raises(HeadwaterException) as e:
        (spark.read.format("python").option("python_module", "headwater.jdbc")
         .option("python_class", "JDBCArrowDataSource").option("url", url).option("dbtable", "guarded").load())
    text = _everything(e.value)
    assert "infer_schema() of the generic source" in text and "password=***" in text
    _assert_hidden(text, wrong)


def test_reprs_hide_the_password(pg, secret):
    u = parse_url(pg.jdbc_url(), pg.secret_user, secret)
    src = JDBCDataSource({"url": pg.jdbc_url(), "dbtable": "guarded", "user": pg.secret_user, "password": secret})
    src.schema()
    reader = src.reader(None)
    texts = [repr(u), str(u), u.redacted(), repr(reader.relation.url), repr(reader.partitions()),
             str(reader.explain_details(reader.partitions()))]
    for t in texts:
        _assert_hidden(t, secret)
    assert "password=***" in repr(u)


def test_write_failures_hide_the_password(spark, pg, secret):
    wrong = "Wr0ng-" + secret
    df = spark.createDataFrame([(1, "a")], "id INT, v STRING")
    for engine in ("adbc", "dbapi"):
        with pytest.raises(HeadwaterException) as e:
            (df.write.format("jdbc").mode("append").option("url", pg.jdbc_url()).option("dbtable", "guarded")
             .option("user", pg.secret_user).option("password", wrong).option("engine", engine).save())
        text = _everything(e.value)
        assert "hw_secret" in text and "HW_JDBC_WRITE_FAILED" in text
        _assert_hidden(text, wrong)
    # and with the right password the write goes through, as the password-protected role
    (df.write.format("jdbc").mode("append").option("url", pg.jdbc_url()).option("dbtable", "guarded")
     .option("user", pg.secret_user).option("password", secret).save())
    assert pg.psql("SELECT count(*) FROM guarded").strip() == "3"
