"""df.write.format("jdbc") on real SQLite and PostgreSQL with ADBC bulk ingest and DB-API
executemany: modes, truncate, types both ways, and failed writes leaving the table as it was."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

import headwater
from headwater.datasource import DataSource, DataSourceReader, InputPartition
from headwater.errors import AnalysisException, HeadwaterException
from headwater.jdbc import write_jdbc

WRITERS = ["adbc", "dbapi"]
SCHEMA = "id INT, name STRING, amount DECIMAL(10,2), day DATE, at TIMESTAMP, ok BOOLEAN, raw BINARY, score DOUBLE"
ROWS = [
    (1, "ünï ✓", Decimal("12.50"), dt.date(2024, 2, 29), dt.datetime(2024, 1, 2, 3, 4, 5, 678000), True, b"\x00\x01", 0.5),
    (2, "it's", Decimal("-3.25"), dt.date(1999, 12, 31), dt.datetime(1999, 12, 31, 23, 59, 59), False, b"", -1.0),
    (None, None, None, None, None, None, None, None),
]


@pytest.fixture(scope="module")
def spark():
    s = headwater.SparkSession.builder.create()
    s.conf.set("headwater.executor.mode", "thread")
    s.conf.set("headwater.executor.workers", "2")
    yield s
    s.stop()


def _writer(df, db, engine, mode, table="target", **options):
    return (df.write.format("jdbc").mode(mode).option("url", db.url).option("dbtable", table)
            .option("engine", engine).options(**db.options).options(**options))


def _read(spark, db, table="target"):
    df = spark.read.format("jdbc").option("url", db.url).option("dbtable", table).options(**db.options).load()
    return sorted((tuple(r) for r in df.collect()), key=lambda r: (r[0] is None, r[0] or 0))


@pytest.mark.parametrize("engine", WRITERS)
def test_append_creates_the_table_and_types_round_trip(spark, db, engine):
    df = spark.createDataFrame(ROWS, SCHEMA)
    _writer(df, db, engine, "append").save()
    assert _read(spark, db) == sorted(ROWS, key=lambda r: (r[0] is None, r[0] or 0))
    _writer(df, db, engine, "append").save()
    assert len(db.rows("SELECT * FROM target")) == 6


@pytest.mark.parametrize("engine", WRITERS)
def test_overwrite_and_truncate(spark, db, engine):
    # a table of our own making: a narrower column type and a default
    db.run("CREATE TABLE target (id INTEGER, name VARCHAR(20) DEFAULT 'none')")
    db.insert("target", [(100, "old"), (101, "older")])
    small = spark.createDataFrame([(1, "a"), (2, "b")], "id INT, name STRING")
    _writer(small, db, engine, "overwrite", truncate="true").save()
    assert db.rows("SELECT id, name FROM target ORDER BY id") == [(1, "a"), (2, "b")]
    if db.kind == "postgresql":  # truncate kept the definition
        assert db.rows("SELECT data_type, character_maximum_length FROM information_schema.columns "
                       "WHERE table_name = 'target' AND column_name = 'name'") == [("character varying", 20)]
    else:
        assert "VARCHAR(20)" in db.rows("SELECT sql FROM sqlite_master WHERE name = 'target'")[0][0]
    _writer(small.repartition(2), db, engine, "overwrite").save()  # drops and re-creates it
    assert db.rows("SELECT id, name FROM target ORDER BY id") == [(1, "a"), (2, "b")]
    if db.kind == "postgresql":
        assert db.rows("SELECT data_type FROM information_schema.columns WHERE table_name = 'target' "
                       "AND column_name = 'name'") == [("text",)]
    else:
        assert "VARCHAR(20)" not in db.rows("SELECT sql FROM sqlite_master WHERE name = 'target'")[0][0]


@pytest.mark.parametrize("engine", WRITERS)
def test_append_widens_into_an_existing_table_and_write_jdbc(spark, db, engine):
    db.run('CREATE TABLE "Wide Table" (id BIGINT, score DOUBLE PRECISION)')
    df = spark.createDataFrame([(1, 2.5), (2, None)], "id INT, score FLOAT")
    write_jdbc(df, db.url, '"Wide Table"', mode="append", engine=engine, **db.options)
    assert sorted(db.rows('SELECT id, score FROM "Wide Table"'), key=lambda r: r[0]) == [(1, 2.5), (2, None)]


class _FailsHalfway(DataSource):
    """Two partitions of 2,500 rows; partition 1 raises after 2,000 of them (in its third batch
    of 1,000, so earlier batches have reached the database)."""

    @classmethod
    def name(cls):
        return "fails_halfway"

    def schema(self):
        return "id INT, name STRING"

    def reader(self, schema):
        return _FailsReader()


class _FailsReader(DataSourceReader):
    def partitions(self):
        return [InputPartition(0), InputPartition(1)]

    def read(self, partition):
        for i in range(2500):
            if partition.value == 1 and i == 2000:
                raise RuntimeError("the source broke half-way")
            yield (partition.value * 10000 + i, f"row {i}")


@pytest.mark.parametrize("engine", WRITERS)
@pytest.mark.parametrize("mode", ["append", "overwrite"])
def test_a_write_failing_half_way_leaves_the_table_unchanged(spark, db, engine, mode):
    db.run("CREATE TABLE target (id INTEGER, name TEXT)")
    db.insert("target", [(-1, "kept"), (-2, "kept too")])
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "1000")
    spark.dataSource.register(_FailsHalfway)
    try:
        df = spark.read.format("fails_halfway").load()
        with pytest.raises(HeadwaterException, match="the source broke half-way"):
            _writer(df, db, engine, mode).save()
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    assert sorted(db.rows("SELECT id, name FROM target")) == [(-2, "kept too"), (-1, "kept")]


@pytest.mark.parametrize("engine", WRITERS)
def test_a_constraint_violation_half_way_rolls_back(spark, db, engine):
    db.run("CREATE TABLE target (id INTEGER NOT NULL, name TEXT)")
    db.insert("target", [(7, "kept")])
    rows = [(i, "x") for i in range(3000)] + [(None, "breaks NOT NULL")]
    df = spark.createDataFrame(rows, "id INT, name STRING")
    with pytest.raises(HeadwaterException) as e:
        _writer(df, db, engine, "overwrite", truncate="true").save()
    assert "HW_JDBC_WRITE_FAILED" in str(e.value) and "target" in str(e.value)
    assert db.rows("SELECT id, name FROM target") == [(7, "kept")]


def test_write_errors(spark, db):
    df = spark.createDataFrame([(1, "a")], "id INT, name STRING")
    with pytest.raises(AnalysisException, match="UNSUPPORTED_DATA_SOURCE_SAVE_MODE"):
        _writer(df, db, "dbapi", "ignore").save()
    with pytest.raises(AnalysisException, match="engine=connectorx reads only"):
        _writer(df, db, "connectorx", "append").save()
    with pytest.raises(AnalysisException, match="not applicable while writing"):
        df.write.format("jdbc").mode("append").option("url", db.url).option("query", "select 1").save()
    db.run("CREATE TABLE target (id INTEGER)")
    with pytest.raises(HeadwaterException, match="Column name not found in the table target"):
        _writer(df, db, "adbc", "append").save()
    assert db.rows("SELECT count(*) FROM target") == [(0,)]


@pytest.mark.parametrize("engine", WRITERS)
def test_arrays_to_postgresql(spark, pg, engine):
    from jdbc_dbs import PgDb

    db = PgDb(pg)
    try:
        df = spark.createDataFrame([(1, [1, None, 3], ["a", "b"]), (2, None, [])], "id INT, xs ARRAY<INT>, ss ARRAY<STRING>")
        _writer(df, db, engine, "append").save()
        assert db.rows("SELECT id, xs, ss FROM target ORDER BY id") == [(1, [1, None, 3], ["a", "b"]), (2, None, [])]
        assert [tuple(r) for r in spark.read.jdbc(db.url, "target", properties=db.options).collect()] == [
            (1, [1, None, 3], ["a", "b"]), (2, None, [])]
    finally:
        db.drop()
