"""Differential: the stateful queries of spark_probe_stateful.py on PySpark 4.3.0 (local[2]) and
headwater's state operators fed the same micro-batches; the rows of every batch id must match, and
so must the watermark each batch ran with (batchWatermarkMs) and the error classes headwater uses.

PySpark runs once for the module (the probe script, in a subprocess: its own JVM, gone after)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from headwater.errors import AnalysisException
from headwater.state import Agg, StreamingAggregate, StreamingDeduplicate, Watermark, Window

HERE = os.path.dirname(os.path.abspath(__file__))
BATCHES = 6


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("probe") / "probe.json")
    subprocess.run([sys.executable, os.path.join(HERE, "spark_probe_stateful.py"), out, str(BATCHES)],
                   check=True, timeout=900, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)


def _norm(v):
    """A value of either side as a comparable one: timestamps as epoch ms (Spark's come as UTC text)."""
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    if isinstance(v, dt.datetime):
        return int((v if v.tzinfo else v.replace(tzinfo=dt.timezone.utc)).timestamp() * 1000)
    if isinstance(v, str) and len(v) >= 19 and v[4] == "-" and v[10] == " ":
        return int(dt.datetime.fromisoformat(v).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)
    return v


def _sorted(rows):
    return sorted((_norm(r) for r in rows), key=lambda r: json.dumps(r, sort_keys=True))


def _inputs(spark):
    """The micro-batches rate-micro-batch gave Spark, as Arrow (timestamp, value), by batch id."""
    out = {}
    for b, rows in spark["input"]["output"].items():
        rows = sorted(rows, key=lambda r: r["value"])
        ts = [dt.datetime.fromisoformat(r["timestamp"]).replace(tzinfo=dt.timezone.utc) for r in rows]
        out[int(b)] = pa.table({"timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
                                "value": pa.array([r["value"] for r in rows], pa.int64())})
    return out


def _with_k(t, mod):
    return t.append_column("k", pc.remainder(t.column("value"), mod))


def _run(op, inputs, spark_query, watermark=None, prep=lambda t: t):
    """Feed every batch to ``op``; per batch id, headwater's rows and the watermark it ran with."""
    got, wms = {}, {}
    for b in range(BATCHES):
        t = prep(inputs[b])
        got[b] = op.process(t, watermark.batch_ms if watermark else 0).to_pylist()
        wms[b] = watermark.batch_ms if watermark else 0
        if watermark:
            watermark.observe(t)
            watermark.advance()
        op.commit(b)
    for b in range(BATCHES):
        assert _sorted(got[b]) == _sorted(spark_query["output"][str(b)]), f"batch {b}"
        assert wms[b] == spark_query["offsetsMeta"][str(b)]["batchWatermarkMs"], f"batch {b}"
    return got


def _emits(spark_query):
    """The query emitted rows in some batch (an all-empty comparison would prove nothing)."""
    assert any(spark_query["output"][str(b)] for b in range(BATCHES))


def test_the_inputs_are_rate_micro_batch(spark):
    inputs = _inputs(spark)
    assert [inputs[b].column("value").to_pylist() for b in range(2)] == [list(range(6)), list(range(6, 12))]


def test_count_complete(spark):
    _run(StreamingAggregate(["k"], [Agg("count")], "complete"), _inputs(spark), spark["count_complete"],
         prep=lambda t: _with_k(t, 3))


def test_global_count_complete(spark):
    _run(StreamingAggregate([], [Agg("count")], "complete"), _inputs(spark), spark["global_count_complete"])


def test_aggregates_update(spark):
    aggs = [Agg("count", alias="n"), Agg("sum", "value"), Agg("avg", "value"), Agg("min", "value"), Agg("max", "value")]
    _run(StreamingAggregate(["k"], aggs, "update"), _inputs(spark), spark["agg_update"], prep=lambda t: _with_k(t, 3))


def test_tumbling_window_update_with_watermark(spark):
    op = StreamingAggregate([Window("timestamp", "2 seconds"), "k"], [Agg("count")], "update", event_time="timestamp")
    _emits(spark["window_update"])
    _run(op, _inputs(spark), spark["window_update"], Watermark("timestamp", "1 second"), prep=lambda t: _with_k(t, 2))


def test_tumbling_window_append(spark):
    op = StreamingAggregate([Window("timestamp", "2 seconds")], [Agg("count")], "append", event_time="timestamp")
    _emits(spark["window_append"])
    _run(op, _inputs(spark), spark["window_append"], Watermark("timestamp", "1 second"))


def test_sliding_window_append(spark):
    op = StreamingAggregate([Window("timestamp", "2 seconds", "1 second")], [Agg("count")], "append",
                            event_time="timestamp")
    _emits(spark["sliding_append"])
    _run(op, _inputs(spark), spark["sliding_append"], Watermark("timestamp", "1 second"))


def test_dedup(spark):
    _run(StreamingDeduplicate(["k"]), _inputs(spark), spark["dedup"],
         prep=lambda t: _with_k(t, 5).select(["k", "timestamp", "value"]))


def test_dedup_with_watermark(spark):
    op = StreamingDeduplicate(["k", "timestamp"], event_time="timestamp")
    _emits(spark["dedup_watermark"])
    _run(op, _inputs(spark), spark["dedup_watermark"], Watermark("timestamp", "1 second"),
         prep=lambda t: _with_k(t, 5))


def test_dedup_within_watermark(spark):
    op = StreamingDeduplicate(["k"], event_time="timestamp", delay_ms=1000, within_watermark=True)
    _emits(spark["dedup_within"])
    _run(op, _inputs(spark), spark["dedup_within"], Watermark("timestamp", "1 second"), prep=lambda t: _with_k(t, 5))


def test_append_aggregation_without_watermark_error_class(spark):
    with pytest.raises(AnalysisException) as e:
        StreamingAggregate(["k"], [Agg("count")], "append")
    assert e.value.getErrorClass() == spark["errors"]["append_agg_no_watermark"]["class"]


def test_event_time_progress_matches(spark):
    wm = Watermark("timestamp", "1 second")
    inputs = _inputs(spark)
    op = StreamingAggregate([Window("timestamp", "2 seconds"), "k"], [Agg("count")], "update", event_time="timestamp")
    for b in range(BATCHES):
        t = _with_k(inputs[b], 2)
        op.process(t, wm.batch_ms)
        wm.observe(t)
        assert wm.event_time() == spark["window_update"]["progress"][str(b)]["eventTime"]
        want = spark["window_update"]["progress"][str(b)]["stateOperators"][0]
        assert (op.metrics()["numRowsTotal"], op.metrics()["numRowsUpdated"]) == \
            (want["numRowsTotal"], want["numRowsUpdated"])
        wm.advance()
