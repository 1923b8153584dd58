"""The streaming state operators alone (python/headwater/state): Arrow batches in, rows out, state
checkpointed and restored; real values throughout."""

from __future__ import annotations

import datetime as dt
import os

import pyarrow as pa
import pytest

from headwater.errors import AnalysisException
from headwater.state import Agg, StreamingAggregate, StreamingDeduplicate, Watermark, Window, parse_delay_ms

UTC = dt.timezone.utc


def t(sec: float) -> dt.datetime:
    return dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=sec)


def ms(sec: float) -> int:
    return int(t(sec).timestamp() * 1000)


def batch(secs, values) -> pa.Table:
    return pa.table({"timestamp": pa.array([t(s) for s in secs], pa.timestamp("us", tz="UTC")),
                     "value": pa.array(values, pa.int64())})


def _key(v):
    if isinstance(v, dict):
        return tuple(_key(x) for x in v.values())
    return (v is not None, v.timestamp() if isinstance(v, dt.datetime) else v)


def rows(table, *keys):
    """The rows (a Table or a list), sorted by ``keys`` when given."""
    out = table.to_pylist() if isinstance(table, pa.Table) else list(table)
    return sorted(out, key=lambda r: tuple(_key(r[k]) for k in keys)) if keys else out


def win(a, b):
    return {"start": t(a), "end": t(b)}


def test_count_complete_and_update_accumulate():
    b0 = batch([0, 0, 1], [1, 2, 4]).append_column("k", pa.array(["a", "b", "a"]))
    b1 = batch([2], [8]).append_column("k", pa.array(["a"]))
    c = StreamingAggregate(["k"], [Agg("count"), Agg("sum", "value"), Agg("avg", "value"), Agg("min", "value"),
                                   Agg("max", "value")], "complete")
    assert rows(c.process(b0), "k") == [
        {"k": "a", "count": 2, "sum(value)": 5, "avg(value)": 2.5, "min(value)": 1, "max(value)": 4},
        {"k": "b", "count": 1, "sum(value)": 2, "avg(value)": 2.0, "min(value)": 2, "max(value)": 2}]
    out = c.process(b1)
    assert rows(out, "k") == [
        {"k": "a", "count": 3, "sum(value)": 13, "avg(value)": 13 / 3, "min(value)": 1, "max(value)": 8},
        {"k": "b", "count": 1, "sum(value)": 2, "avg(value)": 2.0, "min(value)": 2, "max(value)": 2}]
    assert out.schema.field("count").type == pa.int64() and out.schema.field("sum(value)").type == pa.int64()
    u = StreamingAggregate(["k"], [Agg("count")], "update")
    u.process(b0)
    assert rows(u.process(b1)) == [{"k": "a", "count": 3}]  # b did not change
    assert u.metrics()["numRowsTotal"] == 2 and u.metrics()["numRowsUpdated"] == 1


def test_null_keys_group_together():
    b = pa.table({"k": pa.array([None, None, "x"]), "v": pa.array([1, 2, 3])})
    u = StreamingAggregate(["k"], [Agg("sum", "v")], "update")
    u.process(b)
    assert rows(u.process(b), "k") == [{"k": None, "sum(v)": 6}, {"k": "x", "sum(v)": 6}]


def test_global_count_complete_starts_at_zero():
    g = StreamingAggregate([], [Agg("count")], "complete")
    assert g.process(batch([], [])).to_pylist() == [{"count": 0}]
    assert g.process(batch([0, 1], [1, 2])).to_pylist() == [{"count": 2}]
    assert g.process(batch([], [])).to_pylist() == [{"count": 2}]


def test_tumbling_window_update_evicts_and_drops_late_rows():
    a = StreamingAggregate([Window("timestamp", "2 seconds")], [Agg("count")], "update", event_time="timestamp")
    wm = Watermark("timestamp", "1 second")
    b0 = batch([0, 1, 2.5], [1, 2, 3])
    assert rows(a.process(b0, wm.batch_ms), "window") == rows([{"window": win(0, 2), "count": 2},
                                                               {"window": win(2, 4), "count": 1}], "window")
    wm.observe(b0)
    wm.advance()
    assert wm.batch_ms == ms(1.5)
    # 0.5 falls in [0,2): its end (2) is past the watermark (1.5): not late; 4.5 opens [4,6)
    assert rows(a.process(batch([0.5, 4.5], [4, 5]), wm.batch_ms), "window") == rows([
        {"window": win(0, 2), "count": 3}, {"window": win(4, 6), "count": 1}], "window")
    # watermark 2.0: window [0,2) ends at it: evicted, and a row in it is late (dropped)
    assert rows(a.process(batch([1.0, 3.0], [6, 7]), ms(2.0)), "window") == [{"window": win(2, 4), "count": 2}]
    m = a.metrics()
    assert m["numRowsDroppedByWatermark"] == 1 and m["numRowsRemoved"] == 1 and m["numRowsTotal"] == 2


def test_sliding_window_append_emits_once_watermark_passes():
    a = StreamingAggregate([Window("timestamp", "2 seconds", "1 second")], [Agg("count")], "append",
                           event_time="timestamp")
    assert a.process(batch([0, 1.5], [1, 2]), 0).num_rows == 0
    # watermark 2: windows ending at or before 2 are final: [-1,1) has 0 s, [0,2) has both
    assert rows(a.process(batch([], []), ms(2)), "window") == rows([{"window": win(-1, 1), "count": 1},
                                                                    {"window": win(0, 2), "count": 2}], "window")
    assert rows(a.process(batch([], []), ms(10)), "window") == [{"window": win(1, 3), "count": 1}]
    assert a.metrics()["numRowsTotal"] == 0


def test_append_without_watermark_is_refused():
    with pytest.raises(AnalysisException) as e:
        StreamingAggregate(["value"], [Agg("count")], "append")
    assert e.value.getErrorClass() == "STREAMING_OUTPUT_MODE.UNSUPPORTED_OPERATION"


def test_unknown_column_names_it():
    a = StreamingAggregate(["nope"], [Agg("count")], "update")
    with pytest.raises(AnalysisException, match="nope"):
        a.process(batch([0], [1]))


def test_dedup_keeps_first_row_per_key_forever():
    d = StreamingDeduplicate(["k"])
    b0 = pa.table({"k": [1, 2, 1, 3], "v": ["a", "b", "c", "d"]})
    assert d.process(b0).to_pylist() == [{"k": 1, "v": "a"}, {"k": 2, "v": "b"}, {"k": 3, "v": "d"}]
    assert d.process(pa.table({"k": [3, 4, 4], "v": ["e", "f", "g"]})).to_pylist() == [{"k": 4, "v": "f"}]
    assert d.metrics()["numRowsTotal"] == 4


def test_dedup_with_watermark_drops_late_rows_and_evicts():
    d = StreamingDeduplicate(["value", "timestamp"], event_time="timestamp")
    assert d.process(batch([0, 1, 1], [1, 2, 2]), 0).num_rows == 2
    out = d.process(batch([0.5, 3, 3], [9, 3, 3]), ms(1))  # 0.5 is late; state of 0 and 1 evicted
    assert out.column("value").to_pylist() == [3]
    m = d.metrics()
    assert m["numRowsDroppedByWatermark"] == 1 and m["numRowsRemoved"] == 2 and m["numRowsTotal"] == 1


def test_dedup_within_watermark_forgets_after_delay():
    d = StreamingDeduplicate(["value"], event_time="timestamp", delay_ms=1000, within_watermark=True)
    assert d.process(batch([0, 0.5], [7, 7]), 0).column("timestamp").to_pylist() == [t(0)]
    assert d.process(batch([1.5], [7]), ms(0.5)).num_rows == 0  # remembered until 0 + 1 s
    # as Spark, a batch evicts after it deduplicates: at watermark 1 s the key still drops this row, then goes
    assert d.process(batch([2], [7]), ms(1.0)).num_rows == 0
    assert d.metrics()["numRowsRemoved"] == 1
    out = d.process(batch([2.5], [7]), ms(1.0))
    assert out.to_pylist() == [{"timestamp": t(2.5), "value": 7}] and out.schema == batch([], []).schema


def test_state_restores_from_checkpoint_exactly(tmp_path):
    ck = str(tmp_path)
    conf = {"spark.sql.streaming.stateStore.minDeltasForSnapshot": "2", "spark.sql.streaming.minBatchesToRetain": "2"}
    a = StreamingAggregate(["k"], [Agg("count"), Agg("sum", "value")], "complete", checkpoint=ck, conf=conf)
    for i in range(6):
        b = batch([i] * 3, [i, i + 1, i + 2]).append_column("k", pa.array([i % 2, 0, 1]))
        a.process(b)
        a.commit(i)
    want = rows(a.process(batch([], []).append_column("k", pa.array([], pa.int64()))), "k")
    files = sorted(os.listdir(os.path.join(ck, "state", "0", "0")))
    # snapshots every 2 versions; only what versions 4 and 5 need is kept
    assert files == ["4.snapshot.parquet", "5.delta.parquet"]
    empty = batch([], []).append_column("k", pa.array([], pa.int64()))
    r = StreamingAggregate(["k"], [Agg("count"), Agg("sum", "value")], "complete", checkpoint=ck, conf=conf)
    r.load(5, empty)
    assert rows(r.process(empty), "k") == want == [{"k": 0, "count": 9, "sum(value)": 27},
                                                   {"k": 1, "count": 9, "sum(value)": 36}]
    # an uncommitted batch (6) never happened: a restart from 5 gives the same totals again
    r2 = StreamingAggregate(["k"], [Agg("count"), Agg("sum", "value")], "complete", checkpoint=ck, conf=conf)
    r2.load(5, empty)
    assert rows(r2.process(empty), "k") == want


def test_missing_state_file_is_named(tmp_path):
    a = StreamingDeduplicate(["value"], checkpoint=str(tmp_path))
    a.process(batch([0], [1]))
    a.commit(0)
    a.process(batch([0], [2]))
    a.commit(1)
    os.remove(os.path.join(str(tmp_path), "state", "0", "0", "0.delta.parquet"))
    with pytest.raises(AnalysisException) as e:
        StreamingDeduplicate(["value"], checkpoint=str(tmp_path)).load(1, batch([], []))
    assert e.value.getErrorClass() == "CANNOT_LOAD_STATE_STORE.UNCATEGORIZED" and "[0]" in str(e.value)


def test_parse_delay():
    assert parse_delay_ms("10 minutes") == 600_000
    assert parse_delay_ms("1 second") == 1000
    assert parse_delay_ms("interval 1 hour 30 minutes") == 5_400_000
    with pytest.raises(AnalysisException):
        parse_delay_ms("10 parsecs")
