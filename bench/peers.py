"""The measured peers. ``run.py`` starts each one in a fresh interpreter:

    python bench/peers.py PEER CONFIG.json OUT.json

A peer does its set-up (imports, session start-up: JVM, Lakesail server, headwater session),
one untimed warm-up run (JIT, Python workers, S1a's prepared tuples), then ``reps`` timed runs,
and writes one JSON object to ``OUT.json``: ``status`` (``ok`` or ``unavailable``), ``reason``
when unavailable, ``import_s``/``session_s`` (start-up, reported apart from the runs),
``warmup_s``, ``times_s`` (the timed runs), ``cache_builds_timed`` (S1a and S2: prepared-tuple or
prepared-batch builds that happened inside timed runs; 0 when the set-up was fair) and
peer-specific details. S2 runs also record ``bytes_s`` (the Arrow bytes the source yielded, per
timed run) and, for headwater, ``bytes_consumed_s`` (``batch.nbytes`` summed by the consumer).
headwater peers record peak memory: ``host_hwm_mb`` (the host's VmHWM at the end) and, in process
mode, each worker's VmHWM (``workers_hwm_mb``) and the peak of the workers' summed VmRSS sampled
every 50 ms (``workers_rss_sum_peak_mb``).

The ``tx-*`` peers measure process mode's per-batch transport overhead (see README): one
partition of S1a's tuples at 10,000 rows a batch and at 1 row a batch, inline or in process mode
with one worker, recording wall time and CPU time (host and worker) per run.

The ``s0-*`` peers are different: each process is one cold user session that registers a
10-row source and collects it; ``run.py`` starts it several times and measures the whole
process from outside.

Every peer reads ``sources.BenchSource`` (format ``"bench"``), the same class everywhere.
"""

from __future__ import annotations

import collections
import glob
import json
import os
import resource
import sys
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

T_START = time.perf_counter()
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
if BENCH_DIR not in sys.path:
    sys.path.insert(0, BENCH_DIR)

now = time.perf_counter


class Unavailable(Exception):
    """The peer cannot run here; the message says why."""


# ---------------------------------------------------------------------------------------------
# helpers


def _build_count() -> int:
    log = os.environ.get("HW_BENCH_BUILD_LOG")
    if not log or not os.path.exists(log):
        return 0
    with open(log) as f:
        return sum(1 for _ in f)


def _read_totals() -> Tuple[int, int]:
    """Rows and (S2) bytes of all partitions read to their end so far (``sources._note_read``)."""
    log = os.environ.get("HW_BENCH_READ_LOG")
    if not log or not os.path.exists(log):
        return 0, 0
    rows = nbytes = 0
    with open(log) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                rows += int(parts[2])
                nbytes += int(parts[3]) if len(parts) > 3 else 0
    return rows, nbytes


def _read_count() -> int:
    """Rows of all partitions read to their end so far (``sources._note_read``)."""
    return _read_totals()[0]


def _options(cfg: Dict[str, Any]) -> Dict[str, Any]:
    opts = {"rows": cfg["rows"], "partitions": cfg["partitions"], "scenario": cfg["scenario"]}
    if cfg.get("no_ts"):
        opts["no_ts"] = "true"
    if cfg["scenario"] == "s2" and cfg.get("s2_batch_rows"):
        opts["batch_rows"] = cfg["s2_batch_rows"]
    return opts


def _load(spark, opts: Dict[str, Any]):
    r = spark.read.format("bench")
    for k, v in opts.items():
        r = r.option(k, v)
    return r.load()


def _measure(
    run: Callable[[], Optional[int]],
    cfg: Dict[str, Any],
    out: Dict[str, Any],
    via_source: bool = True,
) -> None:
    """One untimed warm-up run, then ``cfg["reps"]`` timed runs of ``run``.

    ``run`` returns the number of rows the consumer saw, or None when it cannot count them
    (a noop sink). When ``run`` goes through the source (``via_source``), the source's own log
    must also show every partition read to its end.
    """
    expected = cfg["rows"]
    yielded: List[int] = []  # S2: Arrow bytes the source yielded, per run

    def one() -> float:
        r0, by0 = _read_totals()
        t = now()
        seen = run()
        dt = now() - t
        r1, by1 = _read_totals()
        pulled = r1 - r0
        yielded.append(by1 - by0)
        if via_source and pulled != expected:
            raise RuntimeError(f"the source yielded {pulled} rows to their end, expected {expected}")
        if seen is not None and seen != expected:
            raise RuntimeError(f"the consumer saw {seen} rows, expected {expected}")
        return dt

    b0 = _build_count()
    out["warmup_s"] = one()
    out["cache_builds_warmup"] = _build_count() - b0
    times = []
    b0 = _build_count()
    for _ in range(cfg["reps"]):
        times.append(one())
    out["times_s"] = times
    out["cache_builds_timed"] = _build_count() - b0
    if cfg.get("scenario") == "s2" and via_source:
        out["bytes_s"] = yielded[1:]


def _version(dist: str) -> Optional[str]:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return None


# ---------------------------------------------------------------------------------------------
# S1 peers


def peer_floor(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    """(a) The floor: the source's own generators, consumed with no conversion at all."""
    import sources

    ds = sources.BenchSource(_options(cfg))
    reader = ds.reader(ds.schema())
    parts = reader.partitions()
    out["consumer"] = "collections.deque(reader.read(p), 0) per partition, one thread"

    def run() -> int:
        n = 0
        for p in parts:
            collections.deque(reader.read(p), 0)
            n += p.end - p.start
        return n

    _measure(run, cfg, out)


def _headwater_session(out: Dict[str, Any]):
    t = now()
    try:
        import headwater
    except Exception as e:  # noqa: BLE001
        raise Unavailable(f"import headwater failed: {type(e).__name__}: {e}") from e
    out["import_s"] = now() - t
    out["headwater_version"] = getattr(headwater, "__version__", None)
    if not hasattr(headwater, "SparkSession"):
        raise Unavailable(
            f"headwater {out['headwater_version']} has no SparkSession yet "
            f"(module {headwater.__file__})"
        )
    t = now()
    spark = headwater.SparkSession.builder.getOrCreate()
    out["session_s"] = now() - t
    return headwater, spark


def _status_kb(pid: Any, key: str) -> Optional[int]:
    """A ``/proc/<pid>/status`` field in kB (VmHWM: peak resident set; VmRSS: current), or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _mb(kb: Optional[int]) -> Optional[float]:
    return None if kb is None else round(kb / 1024, 1)


def _worker_pids(spark) -> List[int]:
    pool = getattr(spark, "_pool", None)
    if pool is None:
        return []
    try:
        return [int(p) for p in pool.pids]
    except Exception:  # noqa: BLE001
        return []


def _cpu_ns(pid: Any) -> int:
    """CPU time of all of a process's threads, in ns (``/proc/<pid>/task/*/schedstat``)."""
    total = 0
    for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
        try:
            with open(path) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


class WorkerRssSampler:
    """Samples the VmRSS of the session's worker processes every ``interval`` s on a daemon thread
    (a few /proc reads per wake-up; it only wakes up to look), keeping each worker's peak and the
    peak of their sum. Workers' own VmHWM, read at the end, is the exact per-worker peak; the
    sampled sum says how much the workers held at the same time."""

    def __init__(self, spark, interval: float = 0.05) -> None:
        self.spark = spark
        self.interval = interval
        self.peak_kb: Dict[int, int] = {}
        self.sum_peak_kb = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hw-bench-rss", daemon=True)

    def start(self) -> "WorkerRssSampler":
        self._thread.start()
        return self

    def sample(self) -> None:
        total = 0
        for pid in _worker_pids(self.spark):
            kb = _status_kb(pid, "VmRSS")
            if kb is None:
                continue
            total += kb
            self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), kb)
        self.sum_peak_kb = max(self.sum_peak_kb, total)
        self.samples += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def _memory_report(spark, sampler: Optional[WorkerRssSampler], out: Dict[str, Any]) -> None:
    """Peak memory of the host and the workers, read before the session stops its workers."""
    out["host_hwm_mb"] = _mb(_status_kb("self", "VmHWM"))
    out["host_rss_end_mb"] = _mb(_status_kb("self", "VmRSS"))
    pids = _worker_pids(spark)
    if sampler is not None:
        sampler.stop()
    if pids:
        out["worker_pids"] = pids
        out["workers_hwm_mb"] = [_mb(_status_kb(p, "VmHWM")) for p in pids]
        out["workers_rss_end_mb"] = [_mb(_status_kb(p, "VmRSS")) for p in pids]
    if sampler is not None and sampler.samples:
        out["workers_rss_sum_peak_mb"] = _mb(sampler.sum_peak_kb)
        out["workers_rss_peak_mb"] = {str(k): _mb(v) for k, v in sampler.peak_kb.items()}
        out["workers_rss_samples"] = sampler.samples


def _peer_headwater(mode: str, cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    """(b)/(c)/(c') headwater, executor mode ``mode``, consumed as an Arrow stream."""
    _, spark = _headwater_session(out)
    import pyarrow as pa

    import sources

    out["host_rss_start_mb"] = _mb(_status_kb("self", "VmRSS"))
    t = now()
    spark.conf.set("headwater.executor.mode", mode)
    if mode == "process":
        spark.conf.set("headwater.executor.workers", int(cfg.get("workers") or 2))
        out["workers"] = int(cfg.get("workers") or 2)
    spark.dataSource.register(sources.BenchSource)
    out["register_s"] = now() - t
    if mode == "process":
        # the workers would start with the first query (the warm-up); start them here instead,
        # so their start-up is reported apart, as the JVM's and Lakesail's server's are
        t = now()
        spark._worker_pool()
        out["workers_start_s"] = now() - t
    opts = _options(cfg)
    out["consumer"] = "pa.RecordBatchReader.from_stream(df), batches read and dropped"
    if cfg["scenario"] == "s2":
        out["consumer"] += "; bytes = sum(batch.nbytes)"
    info: Dict[str, Any] = {}
    consumed: List[int] = []
    sampler = WorkerRssSampler(spark).start() if mode == "process" else None

    def run() -> int:
        df = _load(spark, opts)
        reader = pa.RecordBatchReader.from_stream(df)
        n = 0
        nbytes = 0
        batches = 0
        for batch in reader:
            n += batch.num_rows
            nbytes += batch.nbytes
            batches += 1
        consumed.append(nbytes)
        if not info:
            info["arrow_schema"] = str(reader.schema).replace("\n", "; ")
            info["batches"] = batches
            info["mode_used"] = getattr(getattr(df, "_plan", None), "last_run", None)
        return n

    try:
        _measure(run, cfg, out)
    finally:
        _memory_report(spark, sampler, out)
    out.update(info)
    if cfg["scenario"] == "s2":
        out["bytes_consumed_s"] = consumed[1:]
        if out.get("bytes_s") and out["bytes_s"] != out["bytes_consumed_s"]:
            raise RuntimeError(
                f"the consumer saw {out['bytes_consumed_s']} bytes, the source yielded {out['bytes_s']}"
            )
    spark.stop()


def peer_hw_inline(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    _peer_headwater("inline", cfg, out)


def peer_hw_thread(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    _peer_headwater("thread", cfg, out)


def peer_hw_process(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    _peer_headwater("process", cfg, out)


# ---------------------------------------------------------------------------------------------
# TX: process mode's per-batch transport overhead


def _peer_tx(mode: str, cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    """One partition of S1a's prepared tuples, read twice over: ``tx_rows`` rows at 10,000 rows a
    batch (``conv``) and ``tx_batches`` rows at one row a batch (``tiny``), in ``mode`` (inline,
    or process with one worker). Each case: one untimed warm-up, then ``reps`` timed runs of
    wall time, host CPU time (``time.process_time``) and the worker's CPU time
    (``/proc/<pid>/task/*/schedstat``)."""
    _, spark = _headwater_session(out)
    import pyarrow as pa

    import sources

    spark.conf.set("headwater.executor.mode", mode)
    if mode == "process":
        spark.conf.set("headwater.executor.workers", 1)
    spark.dataSource.register(sources.BenchSource)
    out["consumer"] = "pa.RecordBatchReader.from_stream(df), batches read and dropped"
    cases = (
        ("conv", int(cfg["tx_rows"]), int(cfg.get("tx_batch_rows", 10000))),
        ("tiny", int(cfg["tx_batches"]), 1),
    )
    out["cases"] = {}
    for name, rows, batch_rows in cases:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", batch_rows)
        ccfg = dict(cfg, rows=rows, partitions=1, scenario="s1a")
        opts = _options(ccfg)
        case: Dict[str, Any] = {"rows": rows, "batch_rows": batch_rows}
        host_cpu: List[float] = []
        worker_cpu: List[float] = []
        nbatches: List[int] = []

        def run() -> int:
            pids = _worker_pids(spark)
            w0 = sum(_cpu_ns(p) for p in pids)
            c0 = time.process_time()
            df = _load(spark, opts)
            n = k = 0
            for batch in pa.RecordBatchReader.from_stream(df):
                n += batch.num_rows
                k += 1
            host_cpu.append(time.process_time() - c0)
            pids = pids or _worker_pids(spark)  # the pool starts with the first process-mode query
            worker_cpu.append((sum(_cpu_ns(p) for p in pids) - w0) / 1e9 if pids else 0.0)
            nbatches.append(k)
            return n

        _measure(run, ccfg, case)
        case["host_cpu_s"] = host_cpu[1:]
        case["worker_cpu_s"] = worker_cpu[1:]
        case["batches"] = nbatches[-1]
        if len(set(nbatches)) != 1:
            raise RuntimeError(f"{name}: batch counts differ between runs: {nbatches}")
        out["cases"][name] = case
    out["worker_pids"] = _worker_pids(spark)
    spark.stop()


def peer_tx_inline(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    _peer_tx("inline", cfg, out)


def peer_tx_process(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    _peer_tx("process", cfg, out)


def peer_from_pylist(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    """(d) ``pyarrow.RecordBatch.from_pylist`` on S1a's rows, as dicts built before timing."""
    if cfg["scenario"] != "s1a":
        raise Unavailable("from_pylist is measured on S1a's prepared rows only")
    import pyarrow as pa

    import sources

    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("x", pa.float64()),
            ("s", pa.string()),
            ("ts", pa.timestamp("us", tz="UTC")),
        ]
    )
    batch_rows = int(cfg.get("batch_rows", 65536))
    t = now()
    names = ("id", "x", "s", "ts")
    parts = [
        [dict(zip(names, row)) for row in rows]
        for rows in sources.prepared_rows(cfg["rows"], cfg["partitions"])
    ]
    out["prepare_s"] = now() - t
    out["consumer"] = (
        f"pa.RecordBatch.from_pylist(dicts[i:i+{batch_rows}], schema) per partition; "
        "the dicts are built from the prepared tuples before timing"
    )

    def run() -> int:
        n = 0
        for rows in parts:
            for i in range(0, len(rows), batch_rows):
                n += pa.RecordBatch.from_pylist(rows[i : i + batch_rows], schema=schema).num_rows
        return n

    _measure(run, cfg, out, via_source=False)


def _noop_run(spark, cfg: Dict[str, Any]) -> Callable[[], None]:
    opts = _options(cfg)

    def run() -> None:
        _load(spark, opts).write.format("noop").mode("overwrite").save()
        return None

    return run


def _pyspark_session(cfg: Dict[str, Any], out: Dict[str, Any]):
    t = now()
    try:
        from pyspark.sql import SparkSession
    except Exception as e:  # noqa: BLE001
        raise Unavailable(f"import pyspark failed: {type(e).__name__}: {e}") from e
    out["import_s"] = now() - t
    out["pyspark_version"] = _version("pyspark")
    master = cfg.get("spark_master", "local[2]")
    out["master"] = master
    t = now()
    spark = (
        SparkSession.builder.master(master)
        .appName("headwater-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", cfg.get("spark_driver_memory", "4g"))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    out["session_s"] = now() - t
    return spark


def peer_pyspark(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    """(e) Apache Spark (PySpark, local[2]): the same source read into the noop sink."""
    spark = _pyspark_session(cfg, out)
    import sources

    try:
        t = now()
        spark.dataSource.register(sources.BenchSource)
        out["register_s"] = now() - t
        out["consumer"] = 'df.write.format("noop").mode("overwrite").save()'
        _measure(_noop_run(spark, cfg), cfg, out)
    finally:
        spark.stop()


def _sail_session(cfg: Dict[str, Any], out: Dict[str, Any]):
    t = now()
    try:
        from pysail.spark import SparkConnectServer
        from pyspark.sql import SparkSession
    except Exception as e:  # noqa: BLE001
        raise Unavailable(
            f"import pysail/pyspark failed in {sys.executable}: {type(e).__name__}: {e}"
        ) from e
    out["import_s"] = now() - t
    out["pysail_version"] = _version("pysail")
    out["pyspark_client_version"] = _version("pyspark-client") or _version("pyspark")
    t = now()
    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    host, port = server.listening_address
    spark = SparkSession.builder.remote(f"sc://{host}:{port}").getOrCreate()
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    out["session_s"] = now() - t
    out["server"] = "pysail.spark.SparkConnectServer in-process, Spark Connect client"
    return server, spark


def peer_lakesail(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    """(f) Lakesail: in-process Sail Spark Connect server; the same source into noop."""
    server, spark = _sail_session(cfg, out)
    import sources

    try:
        t = now()
        spark.dataSource.register(sources.BenchSource)
        out["register_s"] = now() - t
        out["consumer"] = 'df.write.format("noop").mode("overwrite").save()'
        _measure(_noop_run(spark, cfg), cfg, out)
    finally:
        try:
            spark.stop()
        finally:
            server.stop()


# ---------------------------------------------------------------------------------------------
# S0 peers: one cold session per process; the parent times the whole process.


def peer_lakesail_nots(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    """(f') Lakesail on the same rows without ``ts``: a lower bound of Lakesail's time.

    Sail's row path cannot build Spark's ``timestamp`` column (see README), so this variant
    gives Lakesail strictly less work than every other peer does.
    """
    peer_lakesail(dict(cfg, no_ts=True), out)
    out["note"] = "rows without the ts column (Lakesail cannot build Spark timestamps from rows)"


def _s0_read(spark, cfg: Dict[str, Any], out: Dict[str, Any], arrow_fallback: bool) -> None:
    import sources  # the user's module defining the source: imported before the read starts

    t = now()
    spark.dataSource.register(sources.BenchSource)
    df = spark.read.format("bench").option("rows", 10).option("scenario", "s1b")
    if cfg.get("no_ts"):
        df = df.option("no_ts", "true")
    df = df.load()
    if hasattr(df, "collect"):
        rows = df.collect()
        out["collect"] = "df.collect()"
    elif arrow_fallback:
        import pyarrow as pa

        rows = pa.RecordBatchReader.from_stream(df).read_all().to_pylist()
        out["collect"] = "pa.RecordBatchReader.from_stream(df).read_all()"
    else:
        raise Unavailable("DataFrame has no collect()")
    out["read_s"] = now() - t
    if len(rows) != 10:
        raise RuntimeError(f"collected {len(rows)} rows, expected 10")
    out["first_row"] = repr(tuple(rows[0]) if not isinstance(rows[0], dict) else tuple(rows[0].values()))


def peer_s0_headwater(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    _, spark = _headwater_session(out)
    try:
        out["executor_mode"] = spark.conf.get("headwater.executor.mode")
    except Exception:  # noqa: BLE001
        out["executor_mode"] = "default (conf.get unavailable)"
    _s0_read(spark, cfg, out, arrow_fallback=True)


def peer_s0_pyspark(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    spark = _pyspark_session(cfg, out)
    try:
        _s0_read(spark, cfg, out, arrow_fallback=False)
    finally:
        t = now()
        spark.stop()
        out["stop_s"] = now() - t


def peer_s0_lakesail(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    server, spark = _sail_session(cfg, out)
    try:
        _s0_read(spark, cfg, out, arrow_fallback=False)
    finally:
        t = now()
        try:
            spark.stop()
        finally:
            server.stop()
        out["stop_s"] = now() - t


def peer_s0_lakesail_nots(cfg: Dict[str, Any], out: Dict[str, Any]) -> None:
    peer_s0_lakesail(dict(cfg, no_ts=True), out)
    out["note"] = "rows without the ts column (Lakesail cannot build Spark timestamps from rows)"


PEERS: Dict[str, Callable[[Dict[str, Any], Dict[str, Any]], None]] = {
    "floor": peer_floor,
    "hw-inline": peer_hw_inline,
    "hw-thread": peer_hw_thread,
    "hw-process": peer_hw_process,
    "tx-inline": peer_tx_inline,
    "tx-process": peer_tx_process,
    "from_pylist": peer_from_pylist,
    "pyspark": peer_pyspark,
    "lakesail": peer_lakesail,
    "lakesail-nots": peer_lakesail_nots,
    "s0-headwater": peer_s0_headwater,
    "s0-pyspark": peer_s0_pyspark,
    "s0-lakesail": peer_s0_lakesail,
    "s0-lakesail-nots": peer_s0_lakesail_nots,
}


def main(argv: list) -> int:
    if len(argv) != 4 or argv[1] not in PEERS:
        print(f"usage: {argv[0]} {{{','.join(PEERS)}}} CONFIG.json OUT.json", file=sys.stderr)
        return 2
    name, cfg_path, out_path = argv[1:]
    with open(cfg_path) as f:
        cfg = json.load(f)
    out: Dict[str, Any] = {"peer": name, "python": sys.executable, "pid": os.getpid()}
    try:
        PEERS[name](cfg, out)
        out["status"] = "ok"
    except Unavailable as e:
        out["status"] = "unavailable"
        out["reason"] = str(e)
    except BaseException as e:  # noqa: BLE001 - a broken peer is reported, never fatal
        out["status"] = "unavailable"
        msg = " ".join(str(e).split())
        out["reason"] = f"{type(e).__name__}: {msg[:2000]}"
        out["traceback"] = traceback.format_exc()[-8000:]
    out["in_process_total_s"] = now() - T_START
    out["peak_rss_self_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1, default=str)
    sys.stdout.flush()
    sys.stderr.flush()
    if name.startswith("s0-"):
        return 0  # S0 times the whole process as a user gets it: a normal interpreter exit
    # S1: exit at once, so no lingering non-daemon thread of Spark or Sail holds the process
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
