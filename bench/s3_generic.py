"""S3: a generic (three-method) source yielding ready-made RecordBatches, on every engine.

    .venv/bin/python bench/s3_generic.py [--gb 2] [--partitions 8] [--batch-rows 65536] [--reps 3]
                                         [--peers hw-inline,hw-thread,hw-process,pyspark,lakesail]

One class, ``S3Source`` below, read five ways:

- ``hw-inline``, ``hw-thread``, ``hw-process``: ``headwater.read_python("s3_generic:S3Source")``
  with ``headwater.executor.mode`` set, consumed by ``pa.RecordBatchReader.from_stream(df)`` read
  to the end (batches dropped, rows counted);
- ``pyspark``: PySpark 4 ``local[2]``, the same class through headwater's adapter
  (``headwater.spark.register(spark)``, ``format("python")``), written to the ``noop`` sink;
- ``lakesail``: Lakesail's Spark Connect server (pysail, in-process) with the same adapter — the
  PySpark Data Source API path, which is how Lakesail runs Python sources — written to ``noop``.

The batches: each partition has ``--distinct`` RecordBatches (default 8), built once per process
before timing (in the warm-up run), and yields them in turn, ``--gb / --partitions / batch size``
batches in all; 8 distinct batches of 2.9 MB per partition (about 185 MB per process) are more
than the CPU caches hold, so a copy of a batch is a copy from memory. Columns ``(id int64, x float64,
y float64, s string[16])``: 44 bytes a row. GB/s counts the Arrow buffer bytes the source yields
(10^9 bytes a GB). Every peer runs in a fresh process, one after another; one untimed warm-up run,
then ``--reps`` timed runs, median reported. Logs go to ``bench/results/logs/``, the numbers to
``bench/results/s3-<time>.json``.

What the numbers mean: headwater inline and thread hand the source's own buffers to the consumer
(zero copies: the C check reorders by pointer), so they measure the per-batch overhead, not a
memory bandwidth; process mode copies each batch once into shared memory (RecordBatches built
by user code live in the worker's heap). PySpark serializes every batch to the JVM (Arrow IPC over
a socket) and its noop sink walks the rows. Lakesail imports the batches through the C Data
Interface in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any, Dict, List

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
DEFAULT_SAIL_PYTHON = os.path.join(BENCH_DIR, ".venv-sail", "bin", "python")

PEERS = ["hw-inline", "hw-thread", "hw-process", "pyspark", "lakesail"]
LABELS = {
    "hw-inline": "headwater inline",
    "hw-thread": "headwater thread",
    "hw-process": "headwater process",
    "pyspark": "PySpark local[2] -> noop (adapter)",
    "lakesail": "Lakesail -> noop (adapter)",
}
SAIL_PEERS = {"lakesail"}

now = time.perf_counter


# ---------------------------------------------------------------------------------------------
# the source (imported by name by every engine's workers: keep the top level import-safe)

ROW_BYTES = 8 + 8 + 8 + 16 + 4  # id, x, y, 16 characters of s and their int32 offset

_batches: Dict[Any, Any] = {}
_lock = threading.Lock()


def _ready_batch(partition: int, rows: int, k: int = 0) -> Any:
    """The partition's ``k``-th distinct RecordBatch, built once per process."""
    key = (partition, rows, k)
    batch = _batches.get(key)
    if batch is None:
        with _lock:
            batch = _batches.get(key)
            if batch is None:
                import numpy as np
                import pyarrow as pa

                base = (partition * 1000 + k) * rows
                ids = np.arange(base, base + rows, dtype=np.int64)
                s = pa.array([f"name-{i:011d}" for i in range(base, base + rows)], pa.string())
                batch = pa.RecordBatch.from_arrays(
                    [pa.array(ids), pa.array(ids * 0.5), pa.array(ids * 0.25), s], schema=schema()
                )
                _batches[key] = batch
    return batch


def schema() -> Any:
    import pyarrow as pa

    return pa.schema([("id", pa.int64()), ("x", pa.float64()), ("y", pa.float64()), ("s", pa.string())])


def plan(options: Dict[str, str]) -> Dict[str, Any]:
    """How many batches of how many rows each partition yields, for about ``gb`` GB in all."""
    gb = float(options.get("gb", 2))
    parts = int(options.get("partitions", 8))
    rows = int(options.get("batch_rows", 65536))
    per_batch = rows * ROW_BYTES
    batches = max(1, round(gb * 1e9 / parts / per_batch))
    distinct = max(1, min(batches, int(options.get("distinct", 8))))
    return {"partitions": parts, "rows": rows, "batches": batches, "distinct": distinct}


class S3Source:
    """Ready-made RecordBatches: partition ``p`` yields its batch ``batches`` times."""

    def infer_schema(self, options: Dict[str, str]) -> Any:
        return schema()

    def plan_partitions(self, options: Dict[str, str]) -> List[Dict[str, Any]]:
        p = plan(options)
        return [{"p": i, "rows": p["rows"], "batches": p["batches"], "distinct": p["distinct"]}
                for i in range(p["partitions"])]

    def read_partition(self, spec: Dict[str, Any], options: Dict[str, str]) -> Any:
        ring = [_ready_batch(spec["p"], spec["rows"], k) for k in range(spec["distinct"])]
        for i in range(spec["batches"]):
            yield ring[i % len(ring)]
        _note_read(spec["p"], spec["batches"] * spec["rows"])


def _note_read(partition: int, rows: int) -> None:
    """A partition read to its end: its rows go to $HW_S3_READ_LOG, so the harness can check that
    a peer whose sink shows nothing (noop) pulled every row."""
    log = os.environ.get("HW_S3_READ_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{partition} {rows}\n")


def _read_count() -> int:
    log = os.environ.get("HW_S3_READ_LOG")
    if not log or not os.path.exists(log):
        return 0
    with open(log) as f:
        return sum(int(line.split()[1]) for line in f if line.strip())


# ---------------------------------------------------------------------------------------------
# peers (each in its own process)


class Unavailable(Exception):
    pass


def _options(cfg: Dict[str, Any]) -> Dict[str, str]:
    return {"gb": str(cfg["gb"]), "partitions": str(cfg["partitions"]), "batch_rows": str(cfg["batch_rows"]),
            "distinct": str(cfg["distinct"])}


def _expected(cfg: Dict[str, Any]) -> Dict[str, int]:
    p = plan(_options(cfg))
    rows = p["partitions"] * p["batches"] * p["rows"]
    nbytes = p["partitions"] * p["batches"] * _ready_batch(0, p["rows"]).get_total_buffer_size()
    return {"rows": rows, "bytes": nbytes, "batches_per_partition": p["batches"]}


def _measure(run: Any, cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    exp = _expected(cfg)
    out.update(expected_rows=exp["rows"], bytes=exp["bytes"], batches_per_partition=exp["batches_per_partition"])

    def one() -> float:
        before = _read_count()
        t = now()
        seen = run()
        dt = now() - t
        pulled = _read_count() - before
        if pulled != exp["rows"]:
            raise RuntimeError(f"the source yielded {pulled} rows to their end, expected {exp['rows']}")
        if seen is not None and seen != exp["rows"]:
            raise RuntimeError(f"the consumer saw {seen} rows, expected {exp['rows']}")
        return dt

    out["warmup_s"] = one()
    out["times_s"] = [one() for _ in range(cfg["reps"])]


def _peer_headwater(mode: str, cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    t = now()
    import pyarrow as pa

    import headwater

    out["import_s"] = now() - t
    out["headwater_version"] = headwater.__version__
    spark = headwater.SparkSession.builder.getOrCreate()
    spark.conf.set("headwater.executor.mode", mode)
    if cfg.get("workers"):
        spark.conf.set("headwater.executor.workers", str(cfg["workers"]))
    opts = _options(cfg)
    try:
        df = headwater.read_python("s3_generic:S3Source", spark, **opts)
        df._plan.execution_mode(cfg["partitions"])
    except Exception as e:  # noqa: BLE001 -- e.g. a mode this build does not have
        raise Unavailable(f"{type(e).__name__}: {e}") from e
    out["consumer"] = "pa.RecordBatchReader.from_stream(df), batches read and dropped"

    def run() -> int:
        reader = pa.RecordBatchReader.from_stream(headwater.read_python("s3_generic:S3Source", spark, **opts))
        n = 0
        for batch in reader:
            n += batch.num_rows
        return n

    try:
        _measure(run, cfg, out)
        out["mode_used"] = df._plan.last_run if hasattr(df._plan, "last_run") else None
        last = headwater.read_python("s3_generic:S3Source", spark, **opts)
        last.count()
        out["mode_used"] = last._plan.last_run
    finally:
        spark.stop()


def _noop_run(spark: Any, cfg: Dict[str, Any]) -> Any:
    opts = _options(cfg)

    def run() -> None:
        r = spark.read.format("python").option("python_module", "s3_generic").option("python_class", "S3Source")
        r.options(**opts).load().write.format("noop").mode("overwrite").save()
        return None

    return run


def _adapter() -> Any:
    """headwater.spark, or the same file loaded on its own where headwater is not installed
    (Lakesail's venv): the adapter needs nothing of headwater's."""
    try:
        import headwater.spark as hws

        return hws
    except ImportError:
        import importlib.util

        name = "headwater_spark_adapter"
        spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "python", "headwater", "generic", "spark.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module


def peer_pyspark(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    t = now()
    try:
        from pyspark.sql import SparkSession
    except Exception as e:  # noqa: BLE001
        raise Unavailable(f"import pyspark failed: {e}") from e
    out["import_s"] = now() - t
    t = now()
    spark = (
        SparkSession.builder.master(cfg.get("spark_master", "local[2]"))
        .appName("headwater-bench-s3")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", cfg.get("spark_driver_memory", "4g"))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    out["session_s"] = now() - t
    try:
        _adapter().register(spark)
        out["consumer"] = 'df.write.format("noop").mode("overwrite").save()'
        _measure(_noop_run(spark, cfg), cfg, out)
    finally:
        spark.stop()


def peer_lakesail(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    t = now()
    try:
        from pysail.spark import SparkConnectServer
        from pyspark.sql import SparkSession
    except Exception as e:  # noqa: BLE001
        raise Unavailable(f"import pysail/pyspark failed in {sys.executable}: {e}") from e
    out["import_s"] = now() - t
    try:
        from importlib.metadata import version

        out["pysail_version"] = version("pysail")
    except Exception:  # noqa: BLE001
        pass
    t = now()
    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    host, port = server.listening_address
    spark = SparkSession.builder.remote(f"sc://{host}:{port}").getOrCreate()
    out["session_s"] = now() - t
    try:
        adapter = _adapter()
        out["adapter"] = adapter.__name__
        adapter.register(spark)
        out["consumer"] = 'df.write.format("noop").mode("overwrite").save()'
        _measure(_noop_run(spark, cfg), cfg, out)
    finally:
        try:
            spark.stop()
        finally:
            server.stop()


PEER_FUNCS = {
    "hw-inline": lambda c, o: _peer_headwater("inline", c, o),
    "hw-thread": lambda c, o: _peer_headwater("thread", c, o),
    "hw-process": lambda c, o: _peer_headwater("process", c, o),
    "pyspark": peer_pyspark,
    "lakesail": peer_lakesail,
}


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

    python = args.sail_python if peer in SAIL_PEERS else sys.executable
    return run_peer_process(__file__, peer, cfg, python, args.timeout, log_path, "hwbench-s3-", "HW_S3_READ_LOG", "reads.log")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--peer":
        peer_main(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gb", type=float, default=2.0, help="total size of the batches, 10^9 bytes (default 2)")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--batch-rows", type=int, default=65536)
    ap.add_argument("--distinct", type=int, default=8,
                    help="distinct batches per partition, yielded in turn (default 8: about 185 MB per process, "
                         "more than the CPU caches hold)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workers", type=int, default=0, help="headwater's threads / worker processes (0: one per CPU)")
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--spark-master", default="local[2]")
    ap.add_argument("--spark-driver-memory", default="4g")
    ap.add_argument("--sail-python", default=DEFAULT_SAIL_PYTHON)
    ap.add_argument("--timeout", type=float, default=0, help="seconds per peer process (default grows with --gb)")
    ap.add_argument("--out", default=None, help="JSON results file (default bench/results/s3-<time>.json)")
    args = ap.parse_args()
    if not args.timeout:
        args.timeout = 300 + 300 * args.gb
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = [p for p in peers if p not in PEER_FUNCS]
    if unknown:
        ap.error(f"unknown peers {unknown}; choose from {PEERS}")
    cfg = {"gb": args.gb, "partitions": args.partitions, "batch_rows": args.batch_rows, "distinct": args.distinct,
           "reps": args.reps,
           "workers": args.workers, "spark_master": args.spark_master,
           "spark_driver_memory": args.spark_driver_memory}
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    os.makedirs(os.path.join(RESULTS_DIR, "logs"), exist_ok=True)
    log_path = os.path.join(RESULTS_DIR, "logs", f"s3-{stamp}.log")
    p = plan(_options(cfg))
    print(f"S3  generic source, ready-made RecordBatches: {args.gb:g} GB in {p['partitions']} partitions "
          f"x {p['batches']} batches of {p['rows']} rows (44 B/row; {p['distinct']} distinct batches per "
          f"partition, in turn), {args.reps} timed runs each, median")
    print(f"    machine: {os.cpu_count()} CPUs; logs: {os.path.relpath(log_path, ROOT)}\n")
    results: Dict[str, Dict[str, Any]] = {}
    for peer in peers:
        print(f"  running {peer} ...", end="", flush=True)
        res = run_peer(peer, cfg, args, log_path)
        if res.get("status") == "ok":
            res["median_s"] = statistics.median(res["times_s"])
            res["gb_per_s"] = res["bytes"] / 1e9 / res["median_s"]
            print(f" {res['gb_per_s']:.2f} GB/s")
        else:
            print(f" unavailable: {str(res.get('reason')).splitlines()[0]}")
        results[peer] = res
    ok = {k: v for k, v in results.items() if v.get("status") == "ok"}
    base = next((k for k in ("pyspark", "lakesail") if k in ok), None)
    print()
    header = f"  {'peer':<38} {'GB/s':>9} {'median s':>9} {'min..max s':>15} {'start-up s':>10}"
    if base:
        header += f" {'x ' + base:>12}"
    if "lakesail" in ok and base != "lakesail":
        header += f" {'x lakesail':>12}"
    print(header)
    for peer in peers:
        r = results[peer]
        label = LABELS[peer]
        if r.get("status") != "ok":
            print(f"  {label:<38} unavailable: {str(r.get('reason')).splitlines()[0]}")
            continue
        t = r["times_s"]
        start = (r.get("import_s") or 0) + (r.get("session_s") or 0)
        line = (f"  {label:<38} {r['gb_per_s']:>9.2f} {r['median_s']:>9.3f} "
                f"{min(t):>7.3f}..{max(t):<7.3f} {start:>10.2f}")
        for ref in ([base] if base else []) + (["lakesail"] if "lakesail" in ok and base != "lakesail" else []):
            line += f" {ok[ref]['median_s'] / r['median_s']:>11.1f}x"
        print(line)
    out_path = args.out or os.path.join(RESULTS_DIR, f"s3-{stamp}.json")
    with open(out_path, "w") as f:
        json.dump({"scenario": "s3", "config": cfg, "plan": p, "results": results}, f, indent=2)
    print(f"\n  ratios: a peer's speed over the reference's (PySpark's, then Lakesail's median time / the peer's)")
    print(f"  results: {os.path.relpath(out_path, ROOT)}")


if __name__ == "__main__":
    main()
