"""``functions.window`` / ``session_window`` on batch DataFrames: the values PySpark 4.3.0 gives for
the same rows (probed with local[2], session time zone UTC; recorded in
docs/spark-stateful-semantics.md, "Batch window()")."""

from __future__ import annotations

import datetime as dt

import pytest

import headwater
from headwater import functions as F
from headwater.errors import AnalysisException


def t(s):
    return dt.datetime(2024, 1, 1, 0, 0, 0) + dt.timedelta(seconds=s)


@pytest.fixture(scope="module")
def df():
    s = headwater.session(**{"spark.sql.session.timeZone": "UTC"})
    utc = dt.timezone.utc
    return s.createDataFrame([(t(7).replace(tzinfo=utc), 1), (t(12).replace(tzinfo=utc), 2), (None, 3)],
                             "ts timestamp, v int")


def rows(frame):
    return [(r["v"], (r[-1]["start"] - t(0)).total_seconds(), (r[-1]["end"] - t(0)).total_seconds())
            for r in frame.collect()]


def test_tumbling_window_drops_null_times(df):
    out = df.select("v", F.window("ts", "10 seconds"))
    assert out.schema.simpleString() == "struct<v:int,window:struct<start:timestamp,end:timestamp>>"
    assert rows(out) == [(1, 0, 10), (2, 10, 20)]


def test_sliding_window_a_row_per_window_latest_first(df):
    assert rows(df.select("v", F.window("ts", "10 seconds", "5 seconds"))) == [
        (1, 5, 15), (1, 0, 10), (2, 10, 20), (2, 5, 15)]
    assert rows(df.select("v", F.window("ts", "10 seconds", "5 seconds", "2 seconds"))) == [
        (1, 7, 17), (1, 2, 12), (2, 12, 22), (2, 7, 17)]


def test_group_by_sliding_window(df):
    out = df.groupBy(F.window("ts", "10 seconds", "5 seconds")).agg(F.sum("v"))
    assert out.schema.simpleString() == "struct<window:struct<start:timestamp,end:timestamp>,sum(v):bigint>"
    got = sorted(((r[0]["start"] - t(0)).total_seconds(), r[1]) for r in out.collect())
    assert got == [(0, 1), (5, 3), (10, 2)]


def test_names(df):
    assert df.withColumn("w", F.window("ts", "10 seconds")).columns == ["ts", "v", "w"]
    assert df.select(F.window(F.col("ts"), "10 seconds")).columns == ["window"]


def test_session_window_per_row(df):
    assert rows(df.select("v", F.session_window("ts", "1 second"))) == [(1, 7, 8), (2, 12, 13)]


def test_bad_durations_are_named():
    with pytest.raises(AnalysisException) as e:
        F.window("ts", "5 seconds", "10 seconds")
    assert "slide duration (10 seconds)" in str(e.value)
    with pytest.raises(AnalysisException) as e:
        F.window("ts", "ten seconds")
    assert "ten seconds" in str(e.value)
