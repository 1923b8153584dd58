"""S6: batch writes to Python data source writers, on every engine.

    .venv/bin/python bench/s6_write.py [--rows 10000000] [--partitions 8] [--reps 3] [--workers 2]
                                       [--peers hw-thread,hw-process,pyspark,lakesail]

Rows ``(id long, x double, s string, ts timestamp)`` = ``(i, i * 0.5, f"name-{i:011d}",
2024-01-01 + i seconds)`` (``s`` is 16 characters), in ``--partitions`` contiguous ranges, are
written with ``df.write.format(...).mode("append").save()`` to two sinks, one class each, written
against ``pyspark.sql.datasource`` so the same classes register on every engine:

- ``s6rows``: a ``DataSourceWriter`` whose ``write`` counts the Rows it is handed
  (``for _ in iterator: n += 1``) — what a Row writer costs the engine;
- ``s6arrow``: a ``DataSourceArrowWriter`` whose ``write`` sums column ``x`` of each RecordBatch
  (``pyarrow.compute.sum``) — what handing RecordBatches over costs.

Both return their count/sum in a ``WriterCommitMessage``; ``commit`` totals them into a file, and a
run whose total is not every row (and the exact sum of ``x``) fails the peer.

The input is each engine's cheapest way to hold those rows, so the time is the write path's:
headwater reads them from a Python data source (``s6in``) yielding RecordBatches built once per
process before timing (vectorized, in the warm-up run; in process mode in each worker, which
reads and writes its partitions itself: no data crosses to the host); PySpark and Lakesail
generate them natively (``spark.range(...).selectExpr(...)``, in the JVM / in Rust).

Peers, each in a fresh process, one after another: ``hw-thread`` and ``hw-process``
(``headwater.executor.mode``; ``--workers`` threads or worker processes, default 2: one per core
here), ``pyspark`` (PySpark 4.1.1, ``local[2]``), ``lakesail`` (pysail's Spark Connect server
in-process; from ``bench/.venv-sail``). One untimed warm-up run per sink, then ``--reps`` timed
runs, median reported as rows/s, with each peer's speed over PySpark's and Lakesail's. Logs go to
``bench/results/logs/``, numbers to ``bench/results/s6-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List

from pyspark.sql.datasource import (
    DataSource,
    DataSourceArrowWriter,
    DataSourceReader,
    DataSourceWriter,
    InputPartition,
    WriterCommitMessage,
)

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
DEFAULT_SAIL_PYTHON = os.path.join(BENCH_DIR, ".venv-sail", "bin", "python")

PEERS = ["hw-thread", "hw-process", "pyspark", "lakesail"]
LABELS = {
    "hw-thread": "headwater thread",
    "hw-process": "headwater process",
    "pyspark": "PySpark local[2]",
    "lakesail": "Lakesail",
}
SINKS = {"rows": "s6rows", "arrow": "s6arrow"}
SINK_TITLES = {"rows": "DataSourceWriter counting Rows", "arrow": "DataSourceArrowWriter summing x"}
SCHEMA = "id BIGINT, x DOUBLE, s STRING, ts TIMESTAMP"
BASE_EPOCH_S = 1704067200  # 2024-01-01 00:00:00 UTC
BATCH_ROWS = 10000  # Spark's spark.sql.execution.arrow.maxRecordsPerBatch

now = time.perf_counter


class Unavailable(Exception):
    """The peer cannot run here; the message says why."""


# ---------------------------------------------------------------------------------------------
# sinks (imported by name by every engine's workers: keep the top level import-safe)


class Count(WriterCommitMessage):
    def __init__(self, rows: int, total: float) -> None:
        self.rows, self.total = rows, total


def _commit(path: str, messages: List[Any]) -> None:
    """Totals the partitions' messages into ``path`` (the harness checks them)."""
    with open(path, "w") as f:
        json.dump({"rows": sum(m.rows for m in messages), "sum": sum(m.total for m in messages),
                   "partitions": len(messages)}, f)


class RowCounter(DataSourceWriter):
    def __init__(self, out: str) -> None:
        self.out = out

    def write(self, iterator: Iterator[Any]) -> Count:
        n = 0
        for _ in iterator:
            n += 1
        return Count(n, 0.0)

    def commit(self, messages: List[Any]) -> None:
        _commit(self.out, messages)


class ArrowSummer(DataSourceArrowWriter):
    def __init__(self, out: str) -> None:
        self.out = out

    def write(self, iterator: Iterator[Any]) -> Count:
        import pyarrow.compute as pc

        rows, total = 0, 0.0
        for batch in iterator:
            rows += batch.num_rows
            total += pc.sum(batch.column(1)).as_py() or 0.0
        return Count(rows, total)

    def commit(self, messages: List[Any]) -> None:
        _commit(self.out, messages)


class RowSink(DataSource):
    @classmethod
    def name(cls) -> str:
        return "s6rows"

    def writer(self, schema: Any, overwrite: bool) -> RowCounter:
        return RowCounter(self.options["out"])


class ArrowSink(DataSource):
    @classmethod
    def name(cls) -> str:
        return "s6arrow"

    def writer(self, schema: Any, overwrite: bool) -> ArrowSummer:
        return ArrowSummer(self.options["out"])


# ---------------------------------------------------------------------------------------------
# headwater's input: ready-made RecordBatches, built once per process

_batches: Dict[Any, List[Any]] = {}
_lock = threading.Lock()


def _make_batches(start: int, end: int) -> List[Any]:
    import numpy as np
    import pyarrow as pa

    out = []
    prefix = np.frombuffer(b"name-", dtype=np.uint8)
    for lo in range(start, end, BATCH_ROWS):
        hi = min(end, lo + BATCH_ROWS)
        n = hi - lo
        ids = np.arange(lo, hi, dtype=np.int64)
        chars = np.empty((n, 16), dtype=np.uint8)
        chars[:, :5] = prefix
        rest = ids.copy()
        for k in range(15, 4, -1):
            chars[:, k] = (rest % 10).astype(np.uint8) + ord("0")
            rest //= 10
        offsets = np.arange(0, 16 * (n + 1), 16, dtype=np.int32)
        s = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))
        ts = pa.array((ids + BASE_EPOCH_S) * 1_000_000, pa.timestamp("us", tz="UTC"))
        out.append(pa.record_batch([pa.array(ids), pa.array(ids * 0.5), s, ts], names=["id", "x", "s", "ts"]))
    return out


def prepared(rows: int, partitions: int) -> List[List[Any]]:
    """Every partition's batches (all of them: a worker may be handed any partition)."""
    key = (rows, partitions)
    with _lock:
        if key not in _batches:
            _batches[key] = [_make_batches(i * rows // partitions, (i + 1) * rows // partitions)
                             for i in range(partitions)]
            log = os.environ.get("HW_S6_BUILD_LOG")
            if log:
                with open(log, "a") as f:
                    f.write(f"{os.getpid()} {rows} {partitions}\n")
        return _batches[key]


class InputReader(DataSourceReader):
    def __init__(self, rows: int, partitions: int) -> None:
        self.rows, self.partitions_n = rows, partitions

    def partitions(self) -> List[InputPartition]:
        return [InputPartition(i) for i in range(self.partitions_n)]

    def read(self, partition: InputPartition) -> Iterator[Any]:
        return iter(prepared(self.rows, self.partitions_n)[partition.value])


class InputSource(DataSource):
    @classmethod
    def name(cls) -> str:
        return "s6in"

    def schema(self) -> str:
        return SCHEMA

    def reader(self, schema: Any) -> InputReader:
        return InputReader(int(self.options["rows"]), int(self.options["partitions"]))


# ---------------------------------------------------------------------------------------------
# peers


def _builds() -> int:
    log = os.environ.get("HW_S6_BUILD_LOG")
    if not log or not os.path.exists(log):
        return 0
    with open(log) as f:
        return sum(1 for _ in f)


def _measure(make_df: Any, cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    """Per sink: one untimed warm-up run, then ``reps`` timed runs, each checked against the
    commit's totals."""
    rows = cfg["rows"]
    expected_sum = 0.5 * rows * (rows - 1) / 2
    work = tempfile.mkdtemp(prefix="hwbench-s6-")
    for sink, fmt in SINKS.items():
        path = os.path.join(work, f"{sink}.json")

        def one() -> float:
            if os.path.exists(path):
                os.remove(path)
            t = now()
            make_df().write.format(fmt).mode("append").option("out", path).save()
            dt = now() - t
            with open(path) as f:
                got = json.load(f)
            if got["rows"] != rows:
                raise RuntimeError(f"{sink}: the writers saw {got['rows']} rows, not {rows}")
            if sink == "arrow" and abs(got["sum"] - expected_sum) > 1e-9 * max(1.0, expected_sum):
                raise RuntimeError(f"{sink}: sum of x {got['sum']} != {expected_sum}")
            return dt

        t = now()
        one()
        out[f"{sink}_warmup_s"] = now() - t
        b0 = _builds()
        out[f"{sink}_times_s"] = [one() for _ in range(cfg["reps"])]
        out[f"{sink}_builds_timed"] = _builds() - b0


def _peer_headwater(mode: str, cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    t = now()
    try:
        import headwater
    except Exception as e:  # noqa: BLE001
        raise Unavailable(f"import headwater failed: {type(e).__name__}: {e}") from e
    out["import_s"] = now() - t
    t = now()
    spark = headwater.SparkSession.builder.create()
    spark.conf.set("headwater.executor.mode", mode)
    spark.conf.set("headwater.executor.workers", cfg["workers"])
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    for cls in (InputSource, RowSink, ArrowSink):
        spark.dataSource.register(cls)
    if mode == "process":
        spark._worker_pool()  # started apart from the runs, as PySpark's JVM is
    out["session_s"] = now() - t
    try:
        _measure(lambda: spark.read.format("s6in").option("rows", cfg["rows"])
                 .option("partitions", cfg["partitions"]).load(), cfg, out)
    finally:
        spark.stop()


def peer_hw_thread(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    _peer_headwater("thread", cfg, out)


def peer_hw_process(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    _peer_headwater("process", cfg, out)


def _native_df(spark: Any, cfg: Dict[str, Any]) -> Any:
    return spark.range(0, cfg["rows"], 1, cfg["partitions"]).selectExpr(
        "id", "CAST(id AS DOUBLE) * 0.5D AS x", "format_string('name-%011d', id) AS s",
        f"timestamp_seconds(id + {BASE_EPOCH_S}) AS ts")


def peer_pyspark(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    t = now()
    try:
        from pyspark.sql import SparkSession
    except Exception as e:  # noqa: BLE001
        raise Unavailable(f"import pyspark failed: {type(e).__name__}: {e}") from e
    out["import_s"] = now() - t
    t = now()
    spark = (SparkSession.builder.master(cfg["spark_master"]).appName("headwater-bench-s6")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.driver.memory", cfg["spark_driver_memory"]).getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    out["session_s"] = now() - t
    try:
        for cls in (RowSink, ArrowSink):
            spark.dataSource.register(cls)
        _measure(lambda: _native_df(spark, cfg), cfg, out)
    finally:
        spark.stop()


def peer_lakesail(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    t = now()
    try:
        from pysail.spark import SparkConnectServer
        from pyspark.sql import SparkSession
    except Exception as e:  # noqa: BLE001
        raise Unavailable(f"import pysail/pyspark failed in {sys.executable}: {type(e).__name__}: {e}") from e
    out["import_s"] = now() - t
    from importlib.metadata import version

    out["pysail_version"] = version("pysail")
    t = now()
    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    host, port = server.listening_address
    spark = SparkSession.builder.remote(f"sc://{host}:{port}").getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    out["session_s"] = now() - t
    try:
        for cls in (RowSink, ArrowSink):
            spark.dataSource.register(cls)
        _measure_each_sink_apart(lambda: _native_df(spark, cfg), cfg, out)
    finally:
        try:
            spark.stop()
        finally:
            server.stop()


def _measure_each_sink_apart(make_df: Any, cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    """As _measure, but a sink that fails is recorded (with its error) and the other still runs."""
    for sink in SINKS:
        part: Dict[str, Any] = {}
        try:
            _measure_one(make_df, cfg, part, sink)
            out.update(part)
        except Exception as e:  # noqa: BLE001
            out[f"{sink}_error"] = f"{type(e).__name__}: {str(e)[:600]}"


def _measure_one(make_df: Any, cfg: Dict[str, Any], out: Dict[str, Any], sink: str) -> None:
    saved = dict(SINKS)
    try:
        SINKS.clear()
        SINKS[sink] = saved[sink]
        _measure(make_df, cfg, out)
    finally:
        SINKS.clear()
        SINKS.update(saved)


PEER_FUNCS = {"hw-thread": peer_hw_thread, "hw-process": peer_hw_process, "pyspark": peer_pyspark,
              "lakesail": peer_lakesail}


def peer_main(peer: str, cfg_path: str, out_path: str) -> None:
    with open(cfg_path) as f:
        cfg = json.load(f)
    out: Dict[str, Any] = {"peer": peer, "python": sys.executable}
    try:
        PEER_FUNCS[peer](cfg, out)
        out["status"] = "ok"
    except Unavailable as e:
        out.update(status="unavailable", reason=str(e))
    except Exception as e:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        out.update(status="unavailable", reason=f"failed: {type(e).__name__}: {str(e)[:500]}")
    with open(out_path, "w") as f:
        json.dump(out, f)


# ---------------------------------------------------------------------------------------------
# orchestration


def run_peer(peer: str, cfg: Dict[str, Any], args: argparse.Namespace, log_path: str) -> Dict[str, Any]:
    from peer_process import run_peer_process

    python = args.sail_python if peer == "lakesail" else sys.executable
    return run_peer_process(__file__, peer, cfg, python, args.timeout, log_path, "hwbench-s6-", "HW_S6_BUILD_LOG", "builds.log")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--peer":
        # the classes must live in an importable module, not __main__: workers import them by name
        # (and the prepared input is cached per process in that module)
        sys.path.insert(0, BENCH_DIR)
        import s6_write

        s6_write.peer_main(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2, help="headwater's threads / worker processes (default 2)")
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--spark-master", default="local[2]")
    ap.add_argument("--spark-driver-memory", default="4g")
    ap.add_argument("--sail-python", default=DEFAULT_SAIL_PYTHON)
    ap.add_argument("--timeout", type=float, default=0, help="seconds per peer process (default grows with --rows)")
    ap.add_argument("--out", default=None, help="JSON results file (default bench/results/s6-<time>.json)")
    args = ap.parse_args()
    if not args.timeout:
        args.timeout = 300 + 120 * args.rows / 1e6 * args.reps
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = [p for p in peers if p not in PEER_FUNCS]
    if unknown:
        ap.error(f"unknown peers {unknown}; choose from {PEERS}")
    cfg = {"rows": args.rows, "partitions": args.partitions, "reps": args.reps, "workers": args.workers,
           "spark_master": args.spark_master, "spark_driver_memory": args.spark_driver_memory}
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    os.makedirs(os.path.join(RESULTS_DIR, "logs"), exist_ok=True)
    log_path = os.path.join(RESULTS_DIR, "logs", f"s6-{stamp}.log")
    print(f"S6  writes: {args.rows:,} rows (id long, x double, s string, ts timestamp) in {args.partitions} "
          f"partitions -> Python data source writers; {args.reps} timed runs each, median")
    print(f"    machine: {os.cpu_count()} CPUs; logs: {os.path.relpath(log_path, ROOT)}\n")
    results: Dict[str, Dict[str, Any]] = {}
    for peer in peers:
        print(f"  running {peer} ...", flush=True)
        res = run_peer(peer, cfg, args, log_path)
        if res.get("status") != "ok":
            print(f"    unavailable: {str(res.get('reason')).splitlines()[0]}")
        for sink in SINKS:
            if f"{sink}_times_s" in res:
                res[f"{sink}_median_s"] = statistics.median(res[f"{sink}_times_s"])
                res[f"{sink}_rows_per_s"] = args.rows / res[f"{sink}_median_s"]
        results[peer] = res
    for sink in SINKS:
        print(f"\n  {SINK_TITLES[sink]} ({SINKS[sink]})")
        ok = {k: v for k, v in results.items() if f"{sink}_median_s" in v}
        refs = [k for k in ("pyspark", "lakesail") if k in ok]
        print(f"  {'peer':<22} {'rows/s':>12} {'median s':>9} {'min..max s':>15} {'start-up s':>10}"
              + "".join(f" {'x ' + r:>11}" for r in refs))
        for peer in peers:
            r = results[peer]
            if peer not in ok:
                why = r.get(f"{sink}_error") or r.get("reason") or "no result"
                print(f"  {LABELS[peer]:<22} unavailable: {str(why).splitlines()[0][:300]}")
                continue
            t = r[f"{sink}_times_s"]
            start = (r.get("import_s") or 0) + (r.get("session_s") or 0)
            line = (f"  {LABELS[peer]:<22} {r[f'{sink}_rows_per_s']:>12,.0f} {r[f'{sink}_median_s']:>9.3f} "
                    f"{min(t):>7.3f}..{max(t):<7.3f} {start:>10.2f}")
            line += "".join(f" {ok[ref][f'{sink}_median_s'] / r[f'{sink}_median_s']:>10.1f}x" for ref in refs)
            if r.get(f"{sink}_builds_timed"):
                line += "  WARNING: input built inside a timed run"
            print(line)
    target = results.get("hw-process", {}).get("rows_median_s"), results.get("pyspark", {}).get("rows_median_s")
    if all(target):
        ratio = target[1] / target[0]
        print(f"\n  target: Row writer, headwater (process) >= 5x PySpark: {ratio:.1f}x "
              f"{'MET' if ratio >= 5 else 'NOT MET'}")
    out_path = args.out or os.path.join(RESULTS_DIR, f"s6-{stamp}.json")
    with open(out_path, "w") as f:
        json.dump({"scenario": "s6", "config": cfg, "results": results}, f, indent=2)
    print("  ratios: PySpark's (then Lakesail's) median time / the peer's; > 1 means the peer is faster")
    print(f"  results: {os.path.relpath(out_path, ROOT)}")


if __name__ == "__main__":
    main()
