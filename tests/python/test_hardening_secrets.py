"""Issue 12, finding 10: secrets never show. One redaction rule (:mod:`headwater.redact`) decides
what a credential is, for option names, spec keys, URL shapes and drivers' messages; every error
path, repr, log line and ``explain()`` uses it.

The secret values are built at run time (``_secret``) so that no source line a traceback quotes
holds one: a test that finds one has found a leak."""

from __future__ import annotations

import gc
import logging
import traceback
from urllib.parse import quote

import pytest

import headwater
from headwater.errors import HeadwaterException
from headwater.generic import GenericPartition
from headwater.jdbc import parse_url
from headwater.redact import REDACTED, is_secret_name, redact, redact_text, redact_url, scrub
from headwater.spark import Options

MODES = ["inline", "thread", "process"]
MOD = "secret_sources"

#: The names users give credentials (every one is masked, in any case).
CREDENTIAL_NAMES = [
    "password", "Password", "PASSWORD", "passwd", "pwd", "PWD", "pass", "db_pass", "passphrase", "secret",
    "client_secret", "clientSecret", "token", "access_token", "AccessToken", "refresh-token", "key", "apikey",
    "apiKey", "api_key", "API-KEY", "x-api-key", "access_key", "accessKey", "AWS_SECRET_ACCESS_KEY",
    "secret_key", "private_key", "privateKey", "auth", "Auth", "authorization", "Authorization",
    "proxy-authorization", "credential", "credentials", "Credentials", "cookie", "Set-Cookie", "session",
    "session_id", "sessionToken", "private", "signature", "sig", "bearer", "bearer_token", "oauth_token",
    "sas_token", "jwt", "hmac_key", "connection_string", "sslpassword", "keystorePassword",
]
#: Names that hold no credential (shown in clear).
PLAIN_NAMES = [
    "user", "username", "url", "host", "endpoint", "dbtable", "query", "partitionColumn", "numPartitions",
    "fetchsize", "path", "header", "inferSchema", "mode", "region", "author", "python_module", "where",
    "keyspace", "database", "schema", "format",
]


def _secret(tag: str) -> str:
    return "".join(["S3", "CR3T", "-", tag])


def _everything(exc: BaseException) -> str:
    """All text shown for an exception: str, repr, the formatted traceback with its causes and
    contexts, and every chained message (a context suppressed with ``raise ... from None`` is not
    shown: it is the source's own exception object, kept for debugging)."""
    parts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    seen = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        parts += [str(e), repr(e)]
        todo += [e.__cause__, None if e.__suppress_context__ else e.__context__]
    return "\n".join(parts)


def _hidden(text: str, secret: str) -> None:
    for form in {secret, quote(secret, safe=""), quote(secret)}:
        assert form not in text, f"secret {secret!r} shown in: {text[:3000]}"


# ---------------------------------------------------------------------------------------------
# the rule


@pytest.mark.parametrize("name", CREDENTIAL_NAMES)
def test_credential_names_are_secret(name):
    assert is_secret_name(name)
    assert redact({name: "v", "nested": [{name: "w"}]}) == {name: REDACTED, "nested": [{name: REDACTED}]}
    assert repr(Options({name: _secret(name), "user": "alice"})).count(REDACTED) == 1


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_plain_names_are_shown(name):
    assert not is_secret_name(name)
    assert redact({name: "shown"}) == {name: "shown"}


def test_spark_default_redaction_names_are_covered():
    # spark.redaction.regex's default in Spark 4.3.0 is (?i)secret|password|token|access[.]?key|credential:
    # every name it matches is a secret here too (headwater masks a superset)
    for name in ["secret", "MySecret", "password", "db_password", "token", "accessKey", "access.key", "access_key",
                 "ACCESSKEY", "s3.access.key", "credential", "gcpCredentials", "fs.s3a.secret.key"]:
        assert is_secret_name(name), name


# Each URL shape holds the password P (with '/', '@', ':', spaces or percent-encoding).
P = "pa/s@s:w rd"
URL_SHAPES = [
    "jdbc:postgresql://alice:{p}@db.example.com:5432/orders",
    "jdbc:postgresql://alice:{p}@127.0.0.1:99999/db",
    "jdbc:postgresql://db.example.com/orders?user=alice&password={p}",
    "jdbc:postgresql://db.example.com/orders?user=alice&password={p}&ssl=true",
    "jdbc:postgresql://db.example.com/orders?sslpassword={p}",
    "jdbc:mysql://alice:{p}@db.example.com:3306/orders",
    "jdbc:mysql://db.example.com/orders?user=alice&password={p}",
    "jdbc:mysql://db.example.com/orders?user=alice&pwd={p}",
    "jdbc:mysql://address=(host=db.example.com)(user=alice)(password={p})/orders",
    "jdbc:sqlserver://db.example.com:1433;databaseName=orders;user=alice;password={p};encrypt=true",
    "jdbc:sqlserver://db.example.com:1433;databaseName=orders;user=alice;Password={{{p};x}};encrypt=true",
    "jdbc:sqlserver://db.example.com;user=alice;PWD={p}",
    "jdbc:oracle:thin:alice/{p}@//db.example.com:1521/orders",
    "jdbc:oracle:thin:alice/{p}@db.example.com:1521:orcl",
    "jdbc:sqlite:file:orders.db?mode=ro&password={p}",
    "postgresql://alice:{p}@db.example.com/orders",
    "mysql://alice:{p}@db.example.com/orders",
    "mssql://alice:{p}@db.example.com/orders",
    "https://alice:{p}@api.example.com/v1",
    "redis://:{p}@cache.example.com:6379/0",
]


@pytest.mark.parametrize("shape", URL_SHAPES)
@pytest.mark.parametrize("encoded", [False, True], ids=["plain", "percent-encoded"])
def test_url_shapes(shape, encoded):
    pw = quote(P, safe="") if encoded else P
    url = shape.format(p=pw)
    shown = redact_url(url)
    assert REDACTED in shown
    _hidden(shown, P)
    for piece in ("s@s", "w rd", "pa/s", "pa%2Fs"):
        assert piece not in shown, shown
    assert any(h in shown for h in ("example.com", "orders.db", "127.0.0.1"))  # the rest stays useful
    # inside a message, and a whole URL percent-encoded in another one
    _hidden(redact_text(f"connecting to '{url}' failed: timeout"), P)
    _hidden(redact_url("https://proxy/?target=" + quote(url, safe="")), quote(P, safe=""))


@pytest.mark.parametrize("text", [
    "Authorization: Bearer {p}", "header Basic {p}", "token {p}",
])
def test_auth_schemes_in_text(text):
    p = _secret("x" * 12)
    _hidden(redact_text(text.format(p=p)), p)


def test_scrub_known_secrets_any_encoding():
    p = _secret("a/b c")
    msg = f"driver said: login {p} / {quote(p, safe='')} / {quote(p)} refused"
    out = scrub(msg, [p])
    _hidden(out, p)
    assert "driver said" in out and "refused" in out


# ---------------------------------------------------------------------------------------------
# the generic format: every error path


@pytest.fixture
def spark():
    s = headwater.SparkSession.builder.create()
    yield s
    gc.collect()
    s.stop()


def _load(spark, mode, options):
    spark.conf.set("headwater.executor.mode", mode)
    spark.conf.set("headwater.executor.workers", "1")
    return (spark.read.format("python").option("python_module", MOD).option("python_class", "Failing")
            .options(**options))


def _fail(spark, mode, where, options):
    with pytest.raises(Exception) as e:
        _load(spark, mode, {"where": where, **options}).load().collect()
    return e.value


@pytest.mark.parametrize("where", ["infer", "plan", "read", "iterate", "convert"])
@pytest.mark.parametrize("name", CREDENTIAL_NAMES)
def test_generic_every_name_every_error_path(spark, name, where):
    value = _secret(name)
    err = _fail(spark, "inline", where, {name: value, "user": "alice"})
    text = _everything(err)
    _hidden(text, value)
    if where != "convert":  # the options line is there, with the name and the mask
        assert f"'{name}': '{REDACTED}'" in text and "'user': 'alice'" in text


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where", ["infer", "plan", "read", "iterate", "convert"])
def test_generic_error_paths_in_every_mode(spark, mode, where):
    secrets = {n: _secret(n) for n in ("passwd", "pwd", "Authorization", "credentials", "auth", "api_key")}
    url = f"jdbc:postgresql://alice:{_secret('url/pw')}@h/db?password={_secret('param pw')}"
    err = _fail(spark, mode, where, {**secrets, "url": url, "spec_secret": _secret("spec")})
    text = _everything(err)
    for v in [*secrets.values(), _secret("url/pw"), _secret("param pw"), _secret("spec")]:
        _hidden(text, v)
    if where != "convert":
        assert "jdbc:postgresql://alice:***@h/db" in text


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("where", ["infer", "plan", "read", "iterate"])
def test_generic_source_echoing_its_options(spark, mode, where):
    # the source itself puts its options (secrets included) in its exception message
    value = _secret("echoed value")
    err = _fail(spark, mode, where, {"token": value, "echo": "1"})
    _hidden(_everything(err), value)


def test_generic_repr_and_explain(spark):
    value = _secret("explain")
    df = _load(spark, "inline", {"password": value, "api_key": value, "spec_secret": value}).load()
    assert df.count() == 1
    plan = df._plan
    reader = plan.make_reader()
    parts = plan.make_partitions(reader)
    texts = [repr(df), df._explain_string(), repr(parts), repr(getattr(reader, "options", ""))]
    for t in texts:
        _hidden(t, value)
    assert "api_key" in repr(parts) and REDACTED in repr(parts)
    assert repr(GenericPartition(0, '{"token": "x", "n": 1}')) == 'GenericPartition(0, {"token":"***","n":1})'


def test_read_python_shortcut(spark):
    value = _secret("shortcut")
    with pytest.raises(HeadwaterException) as e:
        headwater.read_python(f"{MOD}:Failing", where="read", passwd=value, Authorization="Bearer " + value).collect()
    _hidden(_everything(e.value), value)


# ---------------------------------------------------------------------------------------------
# other formats with options


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_file_formats(spark, fmt, tmp_path):
    value = _secret(fmt)
    with pytest.raises(Exception) as e:
        spark.read.format(fmt).option("password", value).option("token", value).load(str(tmp_path / "missing")).collect()
    _hidden(_everything(e.value), value)


def test_python_data_source_options(spark):
    from headwater.datasource import DataSource, DataSourceReader, InputPartition

    class R(DataSourceReader):
        def partitions(self):
            return [InputPartition(0)]

        def read(self, p):
            raise RuntimeError("read failed")

    class S(DataSource):
        @classmethod
        def name(cls):
            return "secret_ds"

        def schema(self):
            return "a INT"

        def reader(self, s):
            return R()

    spark.dataSource.register(S)
    value = _secret("datasource")
    with pytest.raises(Exception) as e:
        spark.read.format("secret_ds").option("pwd", value).load().collect()
    _hidden(_everything(e.value), value)


# ---------------------------------------------------------------------------------------------
# JDBC: invalid URLs, URL shapes, options, logs


BAD_URLS = [
    "jdbc:postgresql://alice:{p}@127.0.0.1:99999/db",            # bad port after a password with '/'
    "jdbc:postgresql://127.0.0.1:99999/db?user=alice&password={p}",
    "jdbc:postgresql://alice:{p}@[::1/db",                        # unclosed '['
    "jdbc:postgresql://alice:{p}@h:5432/db?a=1&b&password={p}",   # unparsable parameters
    "jdbc:sqlserver://h:99999;user=alice;password={p}",
    "jdbc:sqlserver://h:1433;user=alice;password={p};broken",
    "jdbc:mysql:alice:{p}@h/db",                                  # not //host
    "jdbc::alice:{p}@h",                                          # no database type
    "postgresql://alice:{p}@h/db",                                # not jdbc:
]


@pytest.mark.parametrize("shape", BAD_URLS)
@pytest.mark.parametrize("pw", ["pa/ss word", "p@ss:w/rd", "plain"])
def test_jdbc_invalid_url_never_echoes_the_password(spark, shape, pw):
    value = _secret(pw)
    url = shape.format(p=value)
    with pytest.raises(HeadwaterException) as e:
        parse_url(url)
    assert e.value.getErrorClass() in ("HW_JDBC_INVALID_URL",)
    _hidden(_everything(e.value), value)
    with pytest.raises(HeadwaterException) as e:
        spark.read.format("jdbc").option("url", url).option("dbtable", "t").load()
    _hidden(_everything(e.value), value)


# MySQL and SQL Server URLs are left out here: ConnectorX retries a refused connection for 30 s.
# Their shapes are covered by test_url_shapes and test_jdbc_invalid_url_never_echoes_the_password.
JDBC_SHAPES = [
    "jdbc:postgresql://alice:{p}@127.0.0.1:1/db",
    "jdbc:postgresql://127.0.0.1:1/db?user=alice&password={p}",
    "jdbc:postgresql://127.0.0.1:1/db?user=alice&password={q}",
    "jdbc:oracle:thin:alice/{p}@//127.0.0.1:1/svc",
    "jdbc:sqlite:/nonexistent-dir/x.db?password={p}",
]


@pytest.mark.parametrize("shape", JDBC_SHAPES)
@pytest.mark.parametrize("pw", ["pa/ss word", "p@ss:w/rd"])
def test_jdbc_url_shapes_at_load(spark, shape, pw, caplog):
    value = _secret(pw)
    url = shape.format(p=value, q=quote(value, safe=""))
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(Exception) as e:
            spark.read.format("jdbc").option("url", url).option("dbtable", "t").load().collect()
    _hidden(_everything(e.value), value)
    _hidden("\n".join(r.getMessage() for r in caplog.records), value)


@pytest.mark.parametrize("name", CREDENTIAL_NAMES)
def test_jdbc_options_of_every_name(spark, name):
    value = _secret(name)
    with pytest.raises(Exception) as e:
        (spark.read.format("jdbc").option("url", "jdbc:postgresql://127.0.0.1:1/db").option("dbtable", "t")
         .option("user", "alice").option(name, value).load())
    _hidden(_everything(e.value), value)


def test_jdbc_repr_and_explain_with_sqlite(spark, tmp_path):
    import sqlite3

    db = tmp_path / "t.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (a INTEGER)")
    con.execute("INSERT INTO t VALUES (1)")
    con.commit()
    con.close()
    value = _secret("sqlite pw/x")
    url = f"jdbc:sqlite:file:{db}?mode=ro&password={quote(value, safe='')}"
    df = spark.read.format("jdbc").option("url", url).option("dbtable", "t").load()
    assert df.count() == 1
    for t in (repr(df), df._explain_string(), repr(parse_url(url)), str(parse_url(url)), parse_url(url).redacted()):
        _hidden(t, value)
    assert "password=***" in df._explain_string()
