"""Reading real SQLite and PostgreSQL databases through every backend: types, partitioning,
options, filter pushdown, errors."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pyarrow as pa
import pytest

import headwater
from headwater.datasource import EqualTo, GreaterThan, In, IsNull, LessThan, StringStartsWith
from headwater.errors import AnalysisException, HeadwaterException
from headwater.jdbc import JDBCDataSource, read_jdbc

ENGINES = ["connectorx", "adbc", "dbapi"]
UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def spark():
    s = headwater.SparkSession.builder.create()
    s.conf.set("headwater.executor.mode", "thread")
    yield s
    s.stop()


def _read(spark, db, engine, **options):
    r = spark.read.format("jdbc").option("url", db.url).options(**db.options)
    if engine:
        r = r.option("engine", engine)
    return r.options(**options).load()


def _local(t: dt.datetime) -> dt.datetime:
    """How collect() shows an instant: naive local time (as PySpark)."""
    return t.astimezone().replace(tzinfo=None)


# ---- types


def _typed_table(db):
    if db.kind == "postgresql":
        db.run("CREATE TABLE typed (i INT, b BIGINT, n NUMERIC(12,3), s TEXT, f BOOLEAN, d DATE, ts TIMESTAMP, "
               "tz TIMESTAMPTZ, bin BYTEA, arr INT[], r DOUBLE PRECISION)")
        db.insert("typed", [
            (1, 9_000_000_000, Decimal("1234.500"), "héllo ✓", True, dt.date(2024, 2, 29),
             dt.datetime(2024, 1, 2, 3, 4, 5, 123456), dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
             b"\x00\xff", [1, None, 3], 2.5),
            (None,) * 11,
        ])
        arr_type, arr_value = "array<int>", [1, None, 3]
    else:
        db.run("CREATE TABLE typed (i INTEGER, b BIGINT, n DECIMAL(12,3), s TEXT, f BOOLEAN, d DATE, ts TIMESTAMP, "
               "tz DATETIME, bin BLOB, arr TEXT, r REAL)")
        db.insert("typed", [
            (1, 9_000_000_000, "1234.500", "héllo ✓", 1, "2024-02-29", "2024-01-02 03:04:05.123456",
             "2024-01-02 01:04:05", b"\x00\xff", "[1,null,3]", 2.5),
            (None,) * 11,
        ])
        arr_type, arr_value = "string", "[1,null,3]"
    return arr_type, arr_value


@pytest.mark.parametrize("engine", ENGINES)
def test_types(spark, db, engine):
    arr_type, arr_value = _typed_table(db)
    df = _read(spark, db, engine, dbtable="typed")
    int_type = "int" if db.kind == "postgresql" else "bigint"
    assert df.schema.simpleString() == (
        f"struct<i:{int_type},b:bigint,n:decimal(12,3),s:string,f:boolean,d:date,ts:timestamp,tz:timestamp,"
        f"bin:binary,arr:{arr_type},r:double>")
    rows = sorted(df.collect(), key=lambda r: (r.i is None, r.i))
    assert tuple(rows[0]) == (
        1, 9_000_000_000, Decimal("1234.500"), "héllo ✓", True, dt.date(2024, 2, 29),
        _local(dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),  # a naive value is a UTC wall clock
        _local(dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC)), b"\x00\xff", arr_value, 2.5)
    assert tuple(rows[1]) == (None,) * 11


@pytest.mark.parametrize("engine", ENGINES)
def test_prefer_timestamp_ntz_and_custom_schema(spark, db, engine):
    _typed_table(db)
    df = _read(spark, db, engine, dbtable="typed", preferTimestampNTZ="true",
               customSchema="I LONG, n STRING, r DECIMAL(10, 2), unknown INT")
    assert [(f.name, f.dataType.simpleString()) for f in df.schema.fields][:7] == [
        ("i", "bigint"), ("b", "bigint"), ("n", "string"), ("s", "string"), ("f", "boolean"), ("d", "date"),
        ("ts", "timestamp_ntz")]
    assert df.schema["r"].dataType.simpleString() == "decimal(10,2)"
    row = [r for r in df.collect() if r.i == 1][0]
    # the text of the value at the column's declared scale, whatever the driver delivers
    assert (row.i, row.n, row.r, row.ts) == (1, "1234.500", Decimal("2.50"), dt.datetime(2024, 1, 2, 3, 4, 5, 123456))


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_table(spark, db, engine):
    db.run("CREATE TABLE empty (id INTEGER, name TEXT, amount DECIMAL(8,2))")
    df = _read(spark, db, engine, dbtable="empty")
    assert df.columns == ["id", "name", "amount"]
    assert df.count() == 0 and df.collect() == []
    assert df.toArrow().schema.field("amount").type == pa.decimal128(8, 2)


@pytest.mark.parametrize("engine", ENGINES)
def test_unicode_identifiers_and_a_table_name_needing_quotes(spark, db, engine):
    db.run('CREATE TABLE "Ünïcode Täble ""x""" ("naïve col" TEXT, "ключ" INTEGER, "select" INTEGER)')
    db.insert('"Ünïcode Täble ""x"""', [("日本語 ✓", 1, 10), ("emoji 🎉", 2, 20)])
    # dbtable is SQL text, as in Spark: the caller quotes what needs quoting
    df = _read(spark, db, engine, dbtable='"Ünïcode Täble ""x"""', partitionColumn="ключ", lowerBound=1,
               upperBound=3, numPartitions=2)
    assert df.columns == ["naïve col", "ключ", "select"]
    assert sorted(tuple(r) for r in df.collect()) == [("emoji 🎉", 2, 20), ("日本語 ✓", 1, 10)]


# ---- partitioning


def _numbers(db, with_dates=False):
    db.run("CREATE TABLE nums (id INTEGER, d DATE, ts TIMESTAMP, label TEXT)")
    rows = [(i, None, None, f"n{i}") for i in range(1, 21)] + [(None, None, None, "null"), (-50, None, None, "low"),
                                                               (500, None, None, "high")]
    if with_dates:
        base = dt.datetime(2024, 1, 1)
        rows = [(i, (base + dt.timedelta(days=i or 0)).date() if i is not None else None,
                 base + dt.timedelta(hours=i) if i is not None else None, lab) for i, _, _, lab in rows]
        if db.kind == "sqlite":
            rows = [(i, d and d.isoformat(), t and t.isoformat(sep=" "), lab) for i, d, t, lab in rows]
    db.insert("nums", rows)
    return rows


@pytest.mark.parametrize("engine", ENGINES)
def test_partitioned_read_returns_every_row_once(spark, db, engine):
    rows = _numbers(db)
    df = _read(spark, db, engine, dbtable="nums", partitionColumn="id", lowerBound=5, upperBound=15, numPartitions=4)
    got = sorted(((r.id is None, r.id), r.label) for r in df.collect())
    assert got == sorted(((i is None, i), lab) for i, _, _, lab in rows)
    # Spark's split (checked against PySpark 4.1.1): bounds 8, 10, 12; NULL and below go first,
    # above go last
    reader = JDBCDataSource(dict(url=db.url, dbtable="nums", partitionColumn="id", lowerBound="5", upperBound="15",
                                 numPartitions="4", engine=engine, **db.options))
    reader = reader.reader(reader.schema())
    parts = reader.partitions()
    assert [p.value["where"] for p in parts] == [
        '"id" < 8 or "id" is null', '"id" >= 8 AND "id" < 10', '"id" >= 10 AND "id" < 12', '"id" >= 12']
    labels = [sorted(_labels(reader.read(p))) for p in parts]
    assert labels[0] == sorted(["low", "null"] + [f"n{i}" for i in range(1, 8)])
    assert labels[1] == ["n8", "n9"] and labels[2] == ["n10", "n11"]
    assert labels[3] == sorted(["high"] + [f"n{i}" for i in range(12, 21)])
    assert sum(len(x) for x in labels) == len(rows)


def _labels(items):
    out = []
    for item in items:
        if isinstance(item, pa.RecordBatch):
            out.extend(item.column(item.schema.get_field_index("label")).to_pylist())
        else:
            out.append(item[3])
    return out


@pytest.mark.parametrize("engine", ENGINES)
def test_date_and_timestamp_partition_columns(spark, db, engine):
    rows = _numbers(db, with_dates=True)
    for col, lo, hi in (("d", "2024-01-05", "2024-01-15"), ("ts", "2024-01-01 05:00:00", "2024-01-01 15:00:00")):
        df = _read(spark, db, engine, dbtable="nums", partitionColumn=col, lowerBound=lo, upperBound=hi, numPartitions=3)
        assert sorted(r.label for r in df.collect()) == sorted(lab for *_, lab in rows)


def test_partitions_in_worker_processes(db):
    rows = _numbers(db)
    s = headwater.SparkSession.builder.create()
    try:
        s.conf.set("headwater.executor.mode", "process")
        s.conf.set("headwater.executor.workers", "2")
        df = s.read.jdbc(db.url, "nums", column="id", lowerBound=0, upperBound=30, numPartitions=3,
                         properties=dict(db.options))
        assert sorted(r.label for r in df.collect()) == sorted(lab for *_, lab in rows)
        assert df.count() == len(rows)
    finally:
        s.stop()


@pytest.mark.parametrize("engine", ENGINES)
def test_predicates_and_query(spark, db, engine):
    _numbers(db)
    df = spark.read.jdbc(db.url, "nums", predicates=["id < 3", "id >= 19", "id IS NULL"],
                         properties={"engine": engine, **db.options})
    assert sorted(r.label for r in df.collect()) == ["high", "low", "n1", "n19", "n2", "n20", "null"]
    df = read_jdbc(db.url, query="SELECT label, id * 2 AS twice FROM nums WHERE id BETWEEN 2 AND 4", engine=engine,
                   spark=spark, **db.options)
    assert sorted(tuple(r) for r in df.collect()) == [("n2", 4), ("n3", 6), ("n4", 8)]


# ---- fetchsize: rows stream


def _failing_query(db):
    db.run("CREATE TABLE big (id INTEGER)")
    db.insert("big", [(i,) for i in range(1, 2001)])
    if db.kind == "postgresql":
        return "SELECT id, 1 / (1500 - id) AS r FROM big"  # division by zero at id 1500
    db.run("CREATE TABLE boom (id INTEGER, v INTEGER)")
    db.insert("boom", [(i, -9223372036854775808 if i == 1500 else i) for i in range(1, 2001)])
    return "SELECT id, abs(v) AS r FROM boom"  # integer overflow at id 1500


@pytest.mark.parametrize("engine", ENGINES)
def test_fetchsize_streams_rows(db, engine):
    """The first batch arrives before the database reaches a failing row further on: the partition
    is never held whole."""
    sql = _failing_query(db)
    src = JDBCDataSource(dict(url=db.url, query=sql, fetchsize="100", engine=engine, **db.options))
    reader = src.reader(src.schema())
    it = reader.read(reader.partitions()[0])
    first = next(it)
    if isinstance(first, pa.RecordBatch):
        assert 0 < first.num_rows <= 1024 and first.column(0)[0].as_py() == 1
    else:
        assert first[0] == 1
    with pytest.raises(HeadwaterException) as e:
        for _ in it:
            pass
    assert e.value.getErrorClass() == "HW_JDBC_QUERY_FAILED" and f"({engine})" in str(e.value)


# ---- filter pushdown


def _people(db):
    db.run("CREATE TABLE people (id INTEGER, name TEXT, score INTEGER)")
    db.insert("people", [(1, "alice", 10), (2, "Bob", None), (3, "x' OR '1'='1", 30), (4, "al_ice", 40),
                         (5, "50% off", 50)])


def _reader(db, engine, **options):
    src = JDBCDataSource(dict(url=db.url, dbtable="people", engine=engine, **db.options, **options))
    return src.reader(src.schema())


def _rows(reader):
    out = []
    for p in reader.partitions():
        for item in reader.read(p):
            if isinstance(item, pa.RecordBatch):
                out.extend(tuple(r.values()) for r in item.to_pylist())
            else:
                out.append(tuple(item))
    return sorted(out, key=lambda r: r[0])


@pytest.mark.parametrize("engine", ENGINES)
def test_push_filters(db, engine):
    _people(db)
    reader = _reader(db, engine)
    nested = EqualTo(("name", "first"), "x")
    filters = [GreaterThan(("score",), 15), StringStartsWith(("NAME",), "al"), nested, LessThan(("id",), float("nan"))]
    rest = list(reader.pushFilters(filters))
    assert rest == [nested, filters[3]] and rest[0] is nested  # the unpushed ones, by identity
    assert [r[0] for r in _rows(reader)] == [4]
    assert "score" in reader.partitions()[0].value["sql"]
    # pushDownPredicate=false: nothing pushed, every row read
    off = _reader(db, engine, pushDownPredicate="false")
    assert list(off.pushFilters(filters[:2])) == filters[:2] and len(_rows(off)) == 5


@pytest.mark.parametrize("engine", ENGINES)
def test_malicious_filter_values_are_literals(db, engine):
    _people(db)
    for f, ids in [(EqualTo(("name",), "x' OR '1'='1"), [3]), (EqualTo(("name",), "' OR 1=1 --"), []),
                   (EqualTo(("name",), "alice'; DROP TABLE people; --"), []), (StringStartsWith(("name",), "50%"), [5]),
                   (StringStartsWith(("name",), "al_"), [4]), (In(("name",), ("Bob", "x' OR '1'='1")), [2, 3]),
                   (IsNull(("score",)), [2])]:
        reader = _reader(db, engine)
        assert list(reader.pushFilters([f])) == []
        assert [r[0] for r in _rows(reader)] == ids, f
    assert len(db.rows("SELECT * FROM people")) == 5


# ---- session options


@pytest.mark.parametrize("engine", ENGINES)
def test_session_init_statement(spark, db, engine):
    if db.kind == "postgresql":
        db.run("CREATE SCHEMA other", "CREATE TABLE other.hidden (x INTEGER)", "INSERT INTO other.hidden VALUES (42)")
        init, table = "SET search_path TO other", "hidden"
    else:
        init, table = "CREATE TEMP VIEW hidden AS SELECT 42 AS x", "hidden"
    if engine == "connectorx" and db.kind == "sqlite":
        with pytest.raises(HeadwaterException, match="connectorx cannot run sessionInitStatement"):
            _read(spark, db, engine, dbtable=table, sessionInitStatement=init).collect()
        return
    df = _read(spark, db, engine, dbtable=table, sessionInitStatement=init)
    assert [tuple(r) for r in df.collect()] == [(42,)]


@pytest.mark.parametrize("engine", ENGINES)
def test_query_timeout(spark, db, engine):
    if db.kind == "postgresql":
        sql, words = "SELECT pg_sleep(20) IS NULL AS s", "statement timeout"
    else:
        # a long count (about 10^8 steps) that only an interrupt stops early
        db.run("CREATE TABLE one (id INTEGER)", "INSERT INTO one VALUES (1)")
        sql, words = ("SELECT id FROM one WHERE (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                      "WHERE x < 100000000) SELECT count(*) FROM c) > 0"), "interrupted"
    if db.kind == "sqlite" and engine != "dbapi":
        with pytest.raises(HeadwaterException, match="queryTimeout"):
            _read(spark, db, engine, query=sql, queryTimeout=1).collect()
        return
    with pytest.raises(HeadwaterException) as e:
        _read(spark, db, engine, query=sql, queryTimeout=1).collect()
    assert words in str(e.value)


# ---- the other entry points


def test_generic_python_format_and_read_python(spark, db):
    _numbers(db)
    opts = dict(url=db.url, dbtable="nums", partitionColumn="id", lowerBound="1", upperBound="20",
                numPartitions="3", **db.options)
    df = (spark.read.format("python").option("python_module", "headwater.jdbc")
          .option("python_class", "JDBCArrowDataSource").options(**opts).load())
    assert df.count() == 23 and df.columns == ["id", "d", "ts", "label"]
    df2 = headwater.read_python("headwater.jdbc:JDBCArrowDataSource", spark, engine="dbapi", **opts)
    assert sorted(r.label for r in df2.collect()) == sorted(r.label for r in df.collect())
    assert "partition 2: engine=dbapi" in df2._explain_string()


def test_user_schema_only_when_it_is_the_tables_own(spark, db):
    db.run("CREATE TABLE pair (id BIGINT, label TEXT)")
    db.insert("pair", [(1, "a")])
    r = spark.read.format("jdbc").option("url", db.url).option("dbtable", "pair").options(**db.options)
    assert [tuple(x) for x in r.schema("id BIGINT, label STRING").load().collect()] == [(1, "a")]
    with pytest.raises(AnalysisException) as e:
        r.schema("id INT, label STRING").load().collect()
    assert str(e.value).startswith("[_LEGACY_ERROR_TEMP_1133] The user-specified schema doesn't match the actual "
                                   "schema:\nuser-specified: id INT, label STRING, actual: id BIGINT, label STRING.")


def test_option_errors_are_raised_directly_as_spark_does(spark):
    with pytest.raises(AnalysisException) as e:
        spark.read.format("jdbc").option("url", "jdbc:sqlite:/tmp/x.db").load()
    assert str(e.value) == "[HW_JDBC_MISSING_OPTION] Option 'dbtable' or 'query' is required."


def test_jdbc_name_cannot_be_registered(spark):
    class Fake(headwater.datasource.DataSource):
        @classmethod
        def name(cls):
            return "jdbc"

    with pytest.raises(AnalysisException, match="already exists"):
        spark.dataSource.register(Fake)


def test_explain_and_debug_log_name_the_backend(spark, db, caplog):
    _numbers(db)
    df = _read(spark, db, "dbapi", dbtable="nums", partitionColumn="id", lowerBound=1, upperBound=20, numPartitions=2)
    text = df._explain_string()
    assert "partition 0: engine=dbapi where=\"id\" < 11 or \"id\" is null" in text
    assert "partition 1: engine=dbapi where=\"id\" >= 11" in text
    with caplog.at_level("DEBUG", logger="headwater.jdbc"):
        df.collect()
    msgs = [r.getMessage() for r in caplog.records if r.name == "headwater.jdbc"]
    assert any(m.startswith("jdbc partition 0: engine dbapi reads") for m in msgs)
    assert any(m.startswith("jdbc partition 1: engine dbapi reads") for m in msgs)


# ---- errors


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_table(spark, db, engine):
    with pytest.raises(AnalysisException) as e:
        _read(spark, db, engine, dbtable="no_such_table").collect()
    msg = str(e.value)
    assert "HW_JDBC_QUERY_FAILED" in msg and "table no_such_table" in msg
    assert ("no such table: no_such_table" in msg) if db.kind == "sqlite" else ('relation "no_such_table" does not exist' in msg)


def test_bad_url_through_the_reader(spark):
    with pytest.raises(AnalysisException) as e:
        spark.read.format("jdbc").option("url", "jdbc:postgresql://h:0/db?password=hunter2").option("dbtable", "t").load()
    assert "HW_JDBC_INVALID_URL" in str(e.value) and "hunter2" not in str(e.value)
    with pytest.raises(AnalysisException, match="Option 'dbtable' or 'query' is required"):
        spark.read.format("jdbc").option("url", "jdbc:sqlite:/tmp/x.db").load()


def test_predicates_option_json(spark, db):
    _numbers(db)
    df = _read(spark, db, None, dbtable="nums", predicates=json.dumps(["id = 1", "id = 2"]))
    assert sorted(r.id for r in df.collect()) == [1, 2]
