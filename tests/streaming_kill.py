"""Exactly-once across SIGKILL: a streaming query runs in a child process (its own process group,
so its workers die with it, as on a crash), is killed with SIGKILL at a random moment, restarted on
the same checkpoint, and so on; after every kill the sinks must hold each row of every committed
batch exactly once, and at the end every row of the stream up to the target.

Pipelines, killed in turn (``file`` and ``sqlite`` by default; the stateful two with ``--stateful``):
  * ``file``:   a Python stream source (sleeps in read: kills land while reading) -> the parquet
                file sink (``_spark_metadata``); checked with headwater's batch reader.
  * ``sqlite``: rate-micro-batch (rows built in C) -> a transactional Python DataSourceStreamWriter
                that commits each batch into SQLite with its batch id (sleeps in write, and after
                its SQLite commit: kills land while writing and between the sink's commit and
                ``commits/N``).
  * ``agg``:    rate-micro-batch -> withWatermark -> groupBy(window(timestamp, 2 s), value % 3).count()
                in update mode, state checkpointed -> a transactional SQLite sink of JSON rows; the
                latest count of every group must be the count of its rows in the committed batches.
  * ``dedup``:  rate-micro-batch -> dropDuplicates on value - value % 9 (keys span batches) -> the same
                sink; every key of the committed batches exactly once.

    .venv/bin/python tests/streaming_kill.py [KILLS] [SEED] [--stateful]   # the long run (default 100 kills)

tests/python/test_stream_builtins_kill.py and test_streaming_stateful.py run short versions in the suite.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, Iterator, List

from headwater.datasource import (
    DataSource,
    DataSourceStreamReader,
    DataSourceStreamWriter,
    InputPartition,
    WriterCommitMessage,
)

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = 6          # rows per micro-batch
TARGET = int(os.environ.get("HW_KILL_TARGET", "40"))  # batches a pipeline must commit in all
SLEEP = float(os.environ.get("HW_KILL_SLEEP", "0.02"))  # seconds each sleep point waits


class CountingSource(DataSource):
    """{"n": k}: rows k..k+ROWS-1 per batch, two partitions; deterministic, so a re-run batch
    reads the same rows."""

    @classmethod
    def name(cls) -> str:
        return "kill_counting"

    def schema(self) -> str:
        return "value BIGINT"

    def streamReader(self, schema: Any) -> "CountingReader":
        return CountingReader()


class CountingReader(DataSourceStreamReader):
    def initialOffset(self) -> dict:
        return {"n": 0}

    def latestOffset(self, start: dict, limit: Any) -> dict:
        return {"n": start["n"] + ROWS}

    def partitions(self, start: dict, end: dict) -> List[InputPartition]:
        mid = (start["n"] + end["n"]) // 2
        return [InputPartition((start["n"], mid)), InputPartition((mid, end["n"]))]

    def read(self, partition: InputPartition) -> Iterator[tuple]:
        time.sleep(SLEEP * random.random())
        lo, hi = partition.value
        for v in range(lo, hi):
            yield (v,)


class SqliteSink(DataSource):
    """A transactional sink: write() hands its rows to the driver, commit() inserts them and the
    batch id in one SQLite transaction, skipping a batch id already there (a re-run batch)."""

    @classmethod
    def name(cls) -> str:
        return "kill_sqlite"

    def streamWriter(self, schema: Any, overwrite: bool) -> "SqliteWriter":
        return SqliteWriter(self.options["db"])


class Rows(WriterCommitMessage):
    def __init__(self, values: List[int]) -> None:
        self.values = values


class SqliteWriter(DataSourceStreamWriter):
    def __init__(self, db: str) -> None:
        self.db = db

    def write(self, iterator: Iterator[Any]) -> Rows:
        values = [int(r.value) for r in iterator]
        time.sleep(SLEEP * random.random())
        return Rows(values)

    def commit(self, messages: List[Any], batchId: int) -> None:
        con = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        try:
            con.execute("BEGIN IMMEDIATE")
            if con.execute("SELECT 1 FROM batches WHERE id = ?", (batchId,)).fetchone():
                con.execute("ROLLBACK")
            else:
                con.executemany("INSERT INTO rows VALUES (?, ?)",
                                [(v, batchId) for m in messages if m for v in m.values])
                con.execute("INSERT INTO batches VALUES (?)", (batchId,))
                con.execute("COMMIT")
        finally:
            con.close()
        time.sleep(SLEEP * 2 * random.random())  # between the sink's commit and commits/N


class SqliteRowsSink(DataSource):
    """As SqliteSink, for any rows: each row as JSON, with its batch id (``db`` option)."""

    @classmethod
    def name(cls) -> str:
        return "kill_sqlite_rows"

    def streamWriter(self, schema: Any, overwrite: bool) -> "SqliteRowsWriter":
        return SqliteRowsWriter(self.options["db"])


class SqliteRowsWriter(SqliteWriter):
    def write(self, iterator: Iterator[Any]) -> Rows:
        import json

        values = [json.dumps(r.asDict(recursive=True), default=str, sort_keys=True) for r in iterator]
        time.sleep(SLEEP * random.random())
        return Rows(values)


def _stateful_query(spark: Any, pipeline: str, base: str, cp: str) -> Any:
    from headwater import functions as F

    df = spark.readStream.format("rate-micro-batch").option("rowsPerBatch", str(ROWS)).option("numPartitions", "2") \
        .option("advanceMillisPerBatch", "1000").load()
    if pipeline == "agg":
        q = df.withWatermark("timestamp", "1 second").groupBy(F.window("timestamp", "2 seconds"),
                                                                (F.col("value") % 3).alias("k")).count()
        mode = "update"
    else:
        q, mode = df.withColumn("key", F.col("value") - F.col("value") % 9).dropDuplicates(["key"]), "append"
    return (q.writeStream.outputMode(mode).format("kill_sqlite_rows").option("db", os.path.join(base, f"{pipeline}.db"))
            .option("checkpointLocation", cp).start())


def child(pipeline: str, base: str) -> None:
    """One run of a pipeline: resume from the checkpoint, stop once TARGET batches are committed."""
    import headwater

    spark = headwater.session()
    spark.dataSource.register(CountingSource)
    spark.dataSource.register(SqliteSink)
    spark.dataSource.register(SqliteRowsSink)
    cp = os.path.join(base, f"cp_{pipeline}")
    if pipeline in ("agg", "dedup"):
        q = _stateful_query(spark, pipeline, base, cp)
    elif pipeline == "file":
        df = spark.readStream.format("kill_counting").load()
        q = df.writeStream.format("parquet").option("checkpointLocation", cp).start(os.path.join(base, "out"))
    else:
        df = spark.readStream.format("rate-micro-batch").option("rowsPerBatch", str(ROWS)) \
            .option("numPartitions", "2").load()
        q = (df.select("value").writeStream.format("kill_sqlite").option("db", os.path.join(base, "sink.db"))
             .option("checkpointLocation", cp).start())
    open(os.path.join(base, f"started_{pipeline}_{os.getpid()}"), "w").close()  # the parent times its kill from here
    commits = os.path.join(cp, "commits")
    while q.isActive:
        if os.path.isdir(commits) and any(n == str(TARGET - 1) for n in os.listdir(commits)):
            break
        time.sleep(0.01)
    q.stop()
    if q.exception() is not None:
        raise q.exception()


def committed_batches(base: str, pipeline: str) -> int:
    commits = os.path.join(base, f"cp_{pipeline}", "commits")
    if not os.path.isdir(commits):
        return 0
    ids = sorted(int(n) for n in os.listdir(commits) if n.isdigit())
    assert ids == list(range(len(ids))), f"commits/ not consecutive: {ids}"
    return len(ids)


def _sink_rows(base: str, pipeline: str) -> Dict[int, List[Dict[str, Any]]]:
    import json

    con = sqlite3.connect(os.path.join(base, f"{pipeline}.db"))
    try:
        out: Dict[int, List[Dict[str, Any]]] = {b: [] for (b,) in con.execute("SELECT id FROM batches")}
        for value, b in con.execute("SELECT value, batch FROM rows"):
            out[b].append(json.loads(value))
    finally:
        con.close()
    return out


def check_stateful(base: str, pipeline: str) -> int:
    """The stateful sinks: the committed batches' answer, exactly (no row counted twice or lost)."""
    by_batch = _sink_rows(base, pipeline)
    n = committed_batches(base, pipeline)
    assert sorted(by_batch) == list(range(len(by_batch))) and len(by_batch) in (n, n + 1), (sorted(by_batch), n)
    rows = len(by_batch) * ROWS  # values 0 .. rows-1 went through the query
    if pipeline == "agg":  # the latest count of each group is its count in those rows
        latest: Dict[Any, int] = {}
        for b in sorted(by_batch):
            for r in by_batch[b]:
                latest[(r["window"]["start"], r["k"])] = r["count"]
        want: Dict[Any, int] = {}
        for v in range(rows):
            want[(v // ROWS) // 2, v % 3] = want.get(((v // ROWS) // 2, v % 3), 0) + 1
        assert sorted(latest.values()) == sorted(want.values()) and len(latest) == len(want), (latest, want)
    else:  # each key once (with one of its values: which one is first in a batch is the partitions' order)
        got = [(r["key"], r["value"]) for b in by_batch.values() for r in b]
        assert sorted(k for k, _ in got) == sorted({v - v % 9 for v in range(rows)}), got
        assert all(k == v - v % 9 for k, v in got), got
    return rows


def check(spark: Any, base: str, pipelines: Any = ("file", "sqlite")) -> Dict[str, int]:  # noqa: C901
    """Every row of every committed batch once; nothing of an uncommitted batch beyond the one
    batch a sink may hold before commits/N (Spark's guarantee: the sink's commit precedes it)."""
    got: Dict[str, int] = {p: check_stateful(base, p) for p in pipelines if p in ("agg", "dedup")}
    if "file" not in pipelines:
        return got
    out = os.path.join(base, "out")
    if os.path.isdir(os.path.join(out, "_spark_metadata")):
        values = sorted(r[0] for r in spark.read.parquet(out).select("value").collect())
    else:
        values = []
    n = committed_batches(base, "file")
    assert values == list(range(len(values))), "file sink: a row missing or repeated"
    assert len(values) in (n * ROWS, (n + 1) * ROWS), (len(values), n)
    got["file"] = len(values)
    con = sqlite3.connect(os.path.join(base, "sink.db"))
    try:
        values = [v for (v,) in con.execute("SELECT value FROM rows ORDER BY value")]
        batches = [b for (b,) in con.execute("SELECT id FROM batches ORDER BY id")]
    finally:
        con.close()
    n = committed_batches(base, "sqlite")
    assert values == list(range(len(values))), "sqlite sink: a row missing or repeated"
    assert batches == list(range(len(batches))) and len(values) == len(batches) * ROWS
    assert len(batches) in (n, n + 1), (len(batches), n)
    got["sqlite"] = len(values)
    return got


def run(kills: int, seed: int, base: str, log: Any = print, pipelines: Any = ("file", "sqlite")) -> Dict[str, Any]:
    import headwater

    rng = random.Random(seed)
    for db in ("sink", "agg", "dedup"):
        con = sqlite3.connect(os.path.join(base, f"{db}.db"))
        con.executescript("CREATE TABLE IF NOT EXISTS rows (value, batch INTEGER);"
                          "CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY);")
        con.close()
    # enough batches that every kill lands mid-stream (a run commits about 7 batches before its kill)
    target = max(40, kills * 6)
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""),
               HW_KILL_TARGET=str(target))
    spark = headwater.session()

    def start(pipeline: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", f"import streaming_kill as k; k.child({pipeline!r}, {base!r})"],
                                env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    killed = 0
    finished_early = 0
    for i in range(kills):
        pipeline = pipelines[i % len(pipelines)]
        proc = start(pipeline)
        marker = os.path.join(base, f"started_{pipeline}_{proc.pid}")
        deadline = time.time() + 60
        while not os.path.exists(marker) and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        # a kill at a random moment of the running query (or, rarely, of its start)
        delay = rng.uniform(0.0, 2.5) if rng.random() < 0.9 else 0.0  # the first batch starts the workers
        if not os.path.exists(marker):
            delay = 0.0
        try:
            proc.wait(timeout=delay if delay > 0 else 0.001)
            finished_early += 1  # the pipeline reached its target before the kill
            if proc.returncode != 0:
                raise AssertionError(f"child failed: {proc.stderr.read().decode()[-2000:]}")
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            killed += 1
        proc.stderr.close()
        state = check(spark, base, pipelines)
        log(f"kill {i + 1}/{kills} {pipeline} {delay:.2f}s after start: rows "
            + " ".join(f"{p}={state[p]}" for p in pipelines))
    for pipeline in pipelines:  # run each to its target, unkilled
        proc = start(pipeline)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-3000:]
    state = check(spark, base, pipelines)
    assert all(state[p] >= target * ROWS for p in pipelines), state
    return {"kills": killed, "finished_before_kill": finished_early, **state}


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    kills = int(args[0]) if args else 100
    seed = int(args[1]) if len(args) > 1 else 1
    which = ("agg", "dedup") if "--stateful" in sys.argv else ("file", "sqlite")
    with tempfile.TemporaryDirectory() as d:
        t0 = time.time()
        result = run(kills, seed, d, pipelines=which)
        print(f"OK: {result} in {time.time() - t0:.0f}s")
