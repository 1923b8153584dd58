"""The same stream sources and sink on PySpark 4.3 (local[2]) and on headwater: rows per batch
id, the sink's commits, the offsets/commits files, progress fields, and each engine resuming the
other's checkpoint. One JVM for the module; every query is AvailableNow (short)."""

from __future__ import annotations

import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

pytest.importorskip("pyspark")  # the pinned test dependency; its absence is a broken environment

import headwater  # noqa: E402
from stream_sources import DiffNoMixin, DiffNoStream, DiffSimple, DiffStream  # noqa: E402

pytestmark = pytest.mark.jvm  # starts real PySpark (a JVM): not run under `make sanitize`


@pytest.fixture(scope="module")
def spark():
    from spark_probe import make_spark

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    s = make_spark()
    for cls in (DiffStream, DiffSimple, DiffNoMixin, DiffNoStream):
        s.dataSource.register(cls)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def hw():
    s = headwater.session()
    for cls in (DiffStream, DiffSimple, DiffNoMixin, DiffNoStream):
        s.dataSource.register(cls)
    return s


def run(session, ck, sink_path, source="diffstream", **options):
    q = (session.readStream.format(source).options(**options).load()
         .writeStream.format("diffstream").option("checkpointLocation", ck).option("path", sink_path)
         .trigger(availableNow=True).start())
    q.awaitTermination()
    progress = [(p["batchId"], p["numInputRows"], p["sources"][0]["startOffset"], p["sources"][0]["endOffset"],
                 p["sources"][0]["numInputRows"], p["sources"][0]["latestOffset"], p["sink"]["numOutputRows"],
                 sorted(p), sorted(p["durationMs"])) for p in q.recentProgress]
    return q.id, progress


def sink_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def logs(ck):
    out = {}
    for kind in ("offsets", "commits"):
        for n in sorted(os.listdir(os.path.join(ck, kind)), key=lambda x: (len(x), x)):
            if n.isdigit():
                lines = open(os.path.join(ck, kind, n)).read().splitlines()
                if kind == "offsets":
                    meta = json.loads(lines[1])
                    lines = [lines[0], sorted(meta), meta["batchWatermarkMs"]] + lines[2:]
                out[f"{kind}/{n}"] = lines
    return out


@pytest.mark.parametrize("kind", ["full", "simple"])
def test_same_batches_offsets_and_progress(spark, hw, tmp_path, kind):
    results = {}
    for name, session in (("spark", spark), ("hw", hw)):
        ck, sink = str(tmp_path / f"{name}-ck"), str(tmp_path / f"{name}-sink.jsonl")
        qid, progress = run(session, ck, sink, "diffstream" if kind == "full" else "diffsimple",
                            total=25 if kind == "full" else 9)
        assert json.load(open(os.path.join(ck, "metadata"))) == {"id": qid}
        results[name] = (sink_lines(sink), logs(ck), progress)
    assert results["hw"][0] == results["spark"][0]
    assert results["hw"][1] == results["spark"][1]
    assert results["hw"][2] == results["spark"][2]
    if kind == "full":
        assert [b["batch"] for b in results["hw"][0]] == [0, 1, 2]
        assert results["hw"][0][2]["rows"] == [[i, i * i] for i in range(20, 25)]


@pytest.mark.parametrize("first,second", [("hw", "spark"), ("spark", "hw")])
def test_resume_the_other_engines_checkpoint(spark, hw, tmp_path, first, second):
    sessions = {"spark": spark, "hw": hw}
    ck, sink = str(tmp_path / "ck"), str(tmp_path / "sink.jsonl")
    id1, _ = run(sessions[first], ck, sink, total=15)
    id2, progress = run(sessions[second], ck, sink, total=32)
    assert id1 == id2
    got = sink_lines(sink)
    assert [b["batch"] for b in got] == [0, 1, 2, 3]  # 0-10, 10-15 | 15-25, 25-32
    assert [r for b in got for r in b["rows"]] == [[i, i * i] for i in range(32)]
    # the second run starts where the first ended (batch 1 ended at 15)
    assert progress[0][:4] == (2, 10, '{"offset": 15}', '{"offset": 25}')


def failure_of(session, source, **options):
    """The StreamingQueryException an AvailableNow query into noop ends with."""
    q = session.readStream.format(source).options(**options).load().writeStream.format("noop") \
        .trigger(availableNow=True).start()
    with pytest.raises(Exception) as e:
        q.awaitTermination()
    return q, e.value


@pytest.mark.parametrize("name", ["spark", "hw"])
def test_source_without_stream_reader_fails_the_query_as_spark(spark, hw, name):
    q, e = failure_of({"spark": spark, "hw": hw}[name], "diffnostream")
    assert type(e).__name__ == "StreamingQueryException" and e.getCondition() == "STREAM_FAILED"
    params = e.getMessageParameters()
    assert sorted(params) == ["id", "message", "runId"] and params["id"] == q.id
    assert params["message"].startswith(
        "[PYTHON_DATA_SOURCE_ERROR] Failed to plan Python data source initialize source: Traceback")
    assert "[NOT_IMPLEMENTED] streamReader is not implemented." in params["message"]
    assert "[NOT_IMPLEMENTED] simpleStreamReader is not implemented." in params["message"]
    assert str(e).startswith(f"[STREAM_FAILED] Query [id = {q.id}, runId = {q.runId}] terminated with "
                             "exception: [PYTHON_DATA_SOURCE_ERROR] Failed to plan Python data source")


@pytest.mark.parametrize("name", ["spark", "hw"])
def test_latest_offset_failure_is_stream_failed_with_the_cause(spark, hw, name):
    q, e = failure_of({"spark": spark, "hw": hw}[name], "diffnomixin", fail="latestOffset")
    assert type(e).__name__ == "StreamingQueryException" and e.getCondition() == "STREAM_FAILED"
    message = e.getMessageParameters()["message"]
    assert message.startswith("[PYTHON_STREAMING_DATA_SOURCE_RUNTIME_ERROR] Failed when Python streaming data "
                              "source perform latestOffset: Traceback (most recent call last):")
    assert "ValueError: latest boom" in message
    assert str(e).startswith(f"[STREAM_FAILED] Query [id = {q.id}, runId = {q.runId}] terminated with exception: "
                             "[PYTHON_STREAMING_DATA_SOURCE_RUNTIME_ERROR]")
    assert q.exception() is not None and not q.isActive


def test_available_now_on_a_full_reader_without_the_mixin(spark, hw, tmp_path):
    """One batch of everything, asked with ReadAllAvailable (not the reader's default limit)."""
    results = {}
    for name, session in (("spark", spark), ("hw", hw)):
        log = str(tmp_path / f"{name}-limits")
        got = {}
        session.readStream.format("diffnomixin").option("limitsLog", log).load().writeStream \
            .foreachBatch(lambda df, i: got.__setitem__(i, sorted(tuple(r) for r in df.collect()))) \
            .trigger(availableNow=True).start().awaitTermination()
        results[name] = (got, open(log).read().split())
    assert results["hw"] == results["spark"]
    assert results["hw"] == ({0: [(i, i * i) for i in range(10)]}, ["ReadAllAvailable"])
