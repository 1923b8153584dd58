"""headwater's benchmark harness: peers measured side by side in one run.

    .venv/bin/python bench/run.py [--rows N] [--partitions 1,8] [--scenarios s0,s1a,s1b,s2,tx]
                                  [--peers floor,hw-inline,...] [--reps 3] [--s2-gb 4] [--quick]

Each peer runs in a fresh interpreter (``bench/peers.py``), one after another, never two at a
time. The table shows start-up apart from the runs, the median of the timed runs, rows/s and
ratios; the targets of the project's issue are checked at the end. Everything lands in
``bench/results/bench-<time>.json`` (and ``bench/results/latest.json``). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
DEFAULT_SAIL_PYTHON = os.path.join(BENCH_DIR, ".venv-sail", "bin", "python")

S1_PEERS = ["floor", "hw-inline", "hw-thread", "hw-process", "from_pylist", "pyspark", "lakesail", "lakesail-nots"]
S2_PEERS = ["floor", "hw-inline", "hw-thread", "hw-process", "pyspark", "lakesail"]
TX_PEERS = ["tx-inline", "tx-process"]
S0_PEERS = ["s0-headwater", "s0-pyspark", "s0-lakesail", "s0-lakesail-nots"]
ALL_PEERS = S1_PEERS + TX_PEERS + S0_PEERS
SAIL_PEERS = {"lakesail", "lakesail-nots", "s0-lakesail", "s0-lakesail-nots"}
HW_PEERS = {"hw-inline", "hw-thread", "hw-process"}
S2_ROW_BYTES = 36  # sources.S2_ROW_BYTES: id 8, x 8, s 16 characters + a 4-byte offset

SCENARIO_TITLES = {
    "s0": "S0  time to first row: a new process, a 10-row source, collect()",
    "s1a": "S1a converter-bound: read() yields tuples that already exist",
    "s1b": "S1b realistic: read() builds each tuple (arithmetic, f-string, base + timedelta)",
    "s2": "S2  Arrow source: read() yields ready-made pyarrow RecordBatches (id, x, s)",
    "tx": "TX  process mode's per-batch transport overhead (1 partition, 1 worker vs inline)",
}

PEER_LABELS = {
    "floor": "floor (no conversion)",
    "hw-inline": "headwater inline",
    "hw-thread": "headwater thread",
    "hw-process": "headwater process",
    "tx-inline": "headwater inline",
    "tx-process": "headwater process, 1 worker",
    "from_pylist": "pa.RecordBatch.from_pylist",
    "pyspark": "PySpark local[2] -> noop",
    "lakesail": "Lakesail -> noop",
    "lakesail-nots": "Lakesail, no ts col -> noop",
    "s0-headwater": "headwater",
    "s0-pyspark": "PySpark local[2]",
    "s0-lakesail": "Lakesail",
    "s0-lakesail-nots": "Lakesail, no ts col",
}


# ---------------------------------------------------------------------------------------------
# machine


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _cmd(args: List[str], timeout: float = 60) -> str:
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        return (p.stdout + p.stderr).strip()
    except Exception as e:  # noqa: BLE001
        return f"unavailable: {e}"


def _dist_version(name: str) -> Optional[str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def machine_info(sail_python: str) -> Dict[str, Any]:
    cpu = _read("/proc/cpuinfo")
    model = next(
        (line.split(":", 1)[1].strip() for line in cpu.splitlines() if line.startswith("model name")),
        platform.processor() or "unknown",
    )
    mem_kb = next(
        (int(line.split()[1]) for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")),
        0,
    )
    info: Dict[str, Any] = {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "pyspark": _dist_version("pyspark"),
        "pyarrow": _dist_version("pyarrow"),
        "headwater": _dist_version("headwater"),
        "java": _cmd(["java", "-version"]).splitlines()[0] if shutil.which("java") else None,
    }
    if os.path.exists(sail_python):
        info["sail_venv"] = {
            "python": sail_python,
            "versions": _cmd(
                [
                    sail_python,
                    "-c",
                    "from importlib.metadata import version as v; "
                    "print(' '.join(f'{d}={v(d)}' for d in ('pysail', 'pyspark-client', 'pyarrow')))",
                ]
            ),
        }
    else:
        info["sail_venv"] = None
    return info


# ---------------------------------------------------------------------------------------------
# running peers


def _kill_group(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def run_peer(
    peer: str,
    cfg: Dict[str, Any],
    args: argparse.Namespace,
    log_path: str,
    timeout: Optional[float] = None,
) -> Tuple[Dict[str, Any], float]:
    """Run ``peers.py PEER`` in a fresh interpreter; returns (its result, whole-process wall s)."""
    python = args.sail_python if peer in SAIL_PEERS else sys.executable
    if peer in SAIL_PEERS and not os.path.exists(python):
        return (
            {
                "status": "unavailable",
                "reason": f"no Lakesail venv at {os.path.dirname(os.path.dirname(python))} "
                "(make bench creates it: pysail + pyspark-client, bench/requirements-sail.txt)",
            },
            0.0,
        )
    busy_before = other_load()
    deadline = time.monotonic() + args.wait_quiet
    while busy_before is not None and busy_before > args.busy_load and time.monotonic() < deadline:
        busy_before = other_load()  # give a concurrent job the chance to finish first
    work = tempfile.mkdtemp(prefix="hwbench-")
    cfg_path = os.path.join(work, "config.json")
    out_path = os.path.join(work, "out.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    env = dict(os.environ)
    env["TZ"] = "UTC"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (BENCH_DIR, env.get("PYTHONPATH", "")) if p)
    env["PYSPARK_PYTHON"] = python
    env["PYSPARK_DRIVER_PYTHON"] = python
    env["HW_BENCH_BUILD_LOG"] = os.path.join(work, "builds.log")
    env["HW_BENCH_READ_LOG"] = os.path.join(work, "reads.log")
    env.pop("SPARK_REMOTE", None)
    env.pop("SPARK_CONNECT_MODE_ENABLED", None)
    timeout = timeout or args.timeout
    with open(log_path, "ab") as log:
        log.write(f"\n=== {peer} {json.dumps(cfg)} ({python})\n".encode())
        log.flush()
        t0 = time.perf_counter()
        p = subprocess.Popen(
            [python, os.path.join(BENCH_DIR, "peers.py"), peer, cfg_path, out_path],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        try:
            rc = p.wait(timeout=timeout)
            wall = time.perf_counter() - t0
        except subprocess.TimeoutExpired:
            _kill_group(p)
            shutil.rmtree(work, ignore_errors=True)
            return {"status": "unavailable", "reason": f"timed out after {timeout:.0f} s"}, 0.0
        # whatever the peer left behind (a JVM, Python workers) goes with its process group
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        with open(out_path) as f:
            res = json.load(f)
    except (OSError, ValueError):
        tail = _read(log_path)[-1500:].strip()
        res = {"status": "unavailable", "reason": f"peer process exited {rc} without a result; log tail: {tail}"}
    shutil.rmtree(work, ignore_errors=True)
    res["other_load_before"] = busy_before
    res["other_load_after"] = other_load()
    return res, wall


def _cpu_times() -> Tuple[int, int]:
    f = [int(x) for x in _read("/proc/stat").splitlines()[0].split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)  # idle + iowait
    return sum(f[:8]) - idle, sum(f[:8])


def other_load(seconds: float = 0.5) -> Optional[float]:
    """Cores kept busy by other processes, sampled while none of ours runs (0 = quiet)."""
    try:
        b0, t0 = _cpu_times()
        time.sleep(seconds)
        b1, t1 = _cpu_times()
    except (IndexError, ValueError):
        return None
    return round((b1 - b0) / max(1, t1 - t0) * (os.cpu_count() or 1), 2)


def summarize_s1(res: Dict[str, Any], rows: int) -> None:
    times = res.get("times_s") or []
    if res.get("status") == "ok" and times:
        med = statistics.median(times)
        res["median_s"] = med
        res["min_s"] = min(times)
        res["max_s"] = max(times)
        res["rows_per_s"] = rows / med if med > 0 else None


def run_s1(args: argparse.Namespace, scenario: str, partitions: int, log_path: str) -> List[Dict[str, Any]]:
    out = []
    cfg = {
        "rows": args.rows,
        "partitions": partitions,
        "scenario": scenario,
        "reps": args.reps,
        "batch_rows": args.batch_rows,
        "workers": args.workers,
        "spark_master": args.spark_master,
        "spark_driver_memory": args.spark_driver_memory,
    }
    for peer in args.peers:
        if peer not in S1_PEERS:
            continue
        if peer == "from_pylist" and scenario != "s1a":
            res: Dict[str, Any] = {"status": "n/a", "reason": "measured on S1a's prepared rows only"}
        else:
            print(f"  {scenario} P={partitions} {peer} ...", end="", flush=True, file=sys.stderr)
            res, wall = run_peer(peer, cfg, args, log_path)
            res["process_wall_s"] = wall
            summarize_s1(res, args.rows)
            print(f" {res.get('status')}", file=sys.stderr)
        res.update({"scenario": scenario, "partitions": partitions, "peer": peer, "rows": args.rows})
        out.append(res)
    return out


def s2_plan(args: argparse.Namespace) -> Dict[str, int]:
    """S2's rows (``--s2-gb`` GB of 36-byte rows), batch size (``--s2-batch-mb`` MiB) and
    partitions; each partition's rows are cut into batches of ``batch_rows`` (the last shorter)."""
    rows = max(args.s2_partitions, round(args.s2_gb * 1e9 / S2_ROW_BYTES))
    batch_rows = max(1, min((args.s2_batch_mb << 20) // S2_ROW_BYTES, (2**31 - 1) // 16))
    parts = args.s2_partitions
    sizes = [rows * (i + 1) // parts - rows * i // parts for i in range(parts)]  # sources.split
    batches = sum(-(-n // batch_rows) for n in sizes)
    return {
        "rows": rows,
        "partitions": parts,
        "batch_rows": batch_rows,
        "batches": batches,
        "bytes": rows * S2_ROW_BYTES,  # sum of batch.nbytes (what the peers count)
    }


def summarize_s2(res: Dict[str, Any]) -> None:
    summarize_s1(res, res.get("rows") or 0)
    med = res.get("median_s")
    nbytes = None
    if res.get("bytes_consumed_s"):
        nbytes = statistics.median(res["bytes_consumed_s"])
    elif res.get("bytes_s"):
        nbytes = statistics.median(res["bytes_s"])
    if nbytes is not None:
        res["bytes"] = nbytes
        if med:
            res["gb_per_s"] = nbytes / 1e9 / med
            res["gb_per_s_best"] = nbytes / 1e9 / res["min_s"]


def run_s2(args: argparse.Namespace, log_path: str) -> List[Dict[str, Any]]:
    plan = s2_plan(args)
    out = []
    cfg = {
        "rows": plan["rows"],
        "partitions": plan["partitions"],
        "scenario": "s2",
        "s2_batch_rows": plan["batch_rows"],
        "reps": args.reps,
        "workers": args.workers,
        "spark_master": args.spark_master,
        "spark_driver_memory": args.spark_driver_memory,
    }
    timeout = args.timeout_given or (600 + args.s2_gb * (args.reps + 1) * 60)
    for peer in args.peers:
        if peer not in S2_PEERS:
            continue
        print(f"  s2 P={plan['partitions']} {peer} ...", end="", flush=True, file=sys.stderr)
        res, wall = run_peer(peer, cfg, args, log_path, timeout)
        res["process_wall_s"] = wall
        res["rows"] = plan["rows"]
        summarize_s2(res)
        print(f" {res.get('status')}", file=sys.stderr)
        res.update({"scenario": "s2", "partitions": plan["partitions"], "peer": peer,
                    "rows": plan["rows"], "batch_rows": plan["batch_rows"]})
        out.append(res)
    return out


def run_tx(args: argparse.Namespace, log_path: str) -> List[Dict[str, Any]]:
    out = []
    cfg = {
        "rows": args.tx_rows,
        "partitions": 1,
        "scenario": "s1a",
        "tx_rows": args.tx_rows,
        "tx_batch_rows": 10000,
        "tx_batches": args.tx_batches,
        "reps": args.reps,
    }
    for peer in args.peers:
        if peer not in TX_PEERS:
            continue
        print(f"  tx {peer} ...", end="", flush=True, file=sys.stderr)
        res, wall = run_peer(peer, cfg, args, log_path)
        res["process_wall_s"] = wall
        for case in (res.get("cases") or {}).values():
            if case.get("times_s"):
                case["median_s"] = statistics.median(case["times_s"])
                case["min_s"] = min(case["times_s"])
                case["max_s"] = max(case["times_s"])
                cpu = [h + w for h, w in zip(case.get("host_cpu_s", []), case.get("worker_cpu_s", []))]
                if cpu:
                    case["cpu_median_s"] = statistics.median(cpu)
        print(f" {res.get('status')}", file=sys.stderr)
        res.update({"scenario": "tx", "partitions": 1, "peer": peer, "rows": args.tx_rows})
        out.append(res)
    return out


def run_s0(args: argparse.Namespace, log_path: str) -> List[Dict[str, Any]]:
    out = []
    cfg = {
        "rows": 10,
        "partitions": 1,
        "scenario": "s1b",
        "reps": 1,
        "spark_master": args.spark_master,
        "spark_driver_memory": args.spark_driver_memory,
    }
    for peer in args.peers:
        if peer not in S0_PEERS:
            continue
        print(f"  s0 {peer} ...", end="", flush=True, file=sys.stderr)
        runs = []
        res: Dict[str, Any] = {}
        # one untimed warm-up process (OS page cache: jars, shared libraries), then s0_reps
        for i in range(args.s0_reps + 1):
            r, wall = run_peer(peer, cfg, args, log_path)
            if r.get("status") != "ok":
                res = r
                break
            r["process_wall_s"] = wall
            if i > 0:
                runs.append(r)
        if runs:
            res = dict(runs[-1])
            res["status"] = "ok"
            for key in ("process_wall_s", "read_s", "session_s", "import_s"):
                vals = [r[key] for r in runs if key in r]
                if vals:
                    res[key + "_all"] = vals
                    res[key] = statistics.median(vals)
        print(f" {res.get('status')}", file=sys.stderr)
        res.update({"scenario": "s0", "partitions": 1, "peer": peer, "rows": 10})
        out.append(res)
    return out


# ---------------------------------------------------------------------------------------------
# ratios and targets


def _find(results: List[Dict[str, Any]], scenario: str, partitions: int, peer: str) -> Optional[Dict[str, Any]]:
    for r in results:
        if r["scenario"] == scenario and r["partitions"] == partitions and r["peer"] == peer:
            return r
    return None


def _why(r: Optional[Dict[str, Any]], peer: str) -> str:
    if r is None:
        return f"{peer} not run"
    return f"{peer} {r.get('status')}: {r.get('reason', '')}"


def ratio_entry(
    results, scenario, partitions, num, den, op, target, name, note="", lower_bound=False
) -> Dict[str, Any]:
    a = _find(results, scenario, partitions, num)
    b = _find(results, scenario, partitions, den)
    e: Dict[str, Any] = {
        "name": name,
        "scenario": scenario,
        "partitions": partitions,
        "numerator": num,
        "denominator": den,
        "target": None if op is None else f"{op} {target}",
        "value": None,
        "met": None,
    }
    if note:
        e["note"] = note
    if not (a and a.get("median_s")):
        e["unavailable"] = _why(a, num)
    elif not (b and b.get("median_s")):
        e["unavailable"] = _why(b, den)
    else:
        v = a["median_s"] / b["median_s"]
        e["value"] = v
        e["met"] = _check(v, op, target)
        if lower_bound:
            # the true ratio is at least v: only "met" can be concluded from it
            e["lower_bound"] = True
            if not e["met"]:
                e["met"] = None
                e["verdict"] = "inconclusive (a lower bound under the target)"
            else:
                e["verdict"] = "MET (lower bound)"
    return e


def _check(v: float, op: Optional[str], target: float) -> Optional[bool]:
    if op is None:
        return None
    return {"<=": v <= target, ">=": v >= target, ">": v > target, "<": v < target}[op]


def rate_entry(results, peer, op, target, name, partitions, note="") -> Dict[str, Any]:
    """S2's GB/s of one peer against a target."""
    r = next((x for x in results if x["scenario"] == "s2" and x["peer"] == peer), None)
    e: Dict[str, Any] = {"name": name, "scenario": "s2", "partitions": partitions,
                         "peer": peer, "target": None if op is None else f"{op} {target} GB/s",
                         "value": None, "met": None, "unit": "GB/s"}
    if note:
        e["note"] = note
    if r and r.get("gb_per_s"):
        e["value"] = r["gb_per_s"]
        e["met"] = _check(r["gb_per_s"], op, target)
    else:
        e["unavailable"] = _why(r, peer)
    return e


def tx_entries(results: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Process mode's transport overhead per batch and its share of a 10,000-row batch's
    conversion (method in bench/README.md)."""
    inl = _find(results, "tx", 1, "tx-inline")
    prc = _find(results, "tx", 1, "tx-process")
    base = {"scenario": "tx", "partitions": 1, "value": None, "met": None}
    names = [
        ("tx_conv_us", "TX conversion per 10,000-row batch, inline", None, "us"),
        ("tx_tiny_us", "TX overhead per batch, 1-row batches (wall)", None, "us"),
        ("tx_tiny_cpu_us", "TX overhead per batch, 1-row batches (CPU, info)", None, "us"),
        ("tx_conv_direct_us", "TX overhead per batch, 10,000-row batches (info)", None, "us"),
        ("tx_share", "TX overhead / conversion per 10,000-row batch", "<= 5 %", "%"),
        ("tx_share_direct", "TX same, overhead measured on 10,000-row batches (info)", None, "%"),
    ]
    entries = {k: dict(base, name=n, key=k, target=t, unit=u) for k, n, t, u in names}
    ok = (inl and inl.get("status") == "ok" and prc and prc.get("status") == "ok")
    if not ok:
        why = _why(inl, "tx-inline") if not (inl and inl.get("status") == "ok") else _why(prc, "tx-process")
        for e in entries.values():
            e["unavailable"] = why
        return list(entries.values())
    ic, pc = inl["cases"]["conv"], prc["cases"]["conv"]
    it, pt = inl["cases"]["tiny"], prc["cases"]["tiny"]
    conv = ic["median_s"] / ic["batches"]
    tiny = (pt["median_s"] - it["median_s"]) / it["batches"]
    tiny_cpu = (pt["cpu_median_s"] - it["cpu_median_s"]) / it["batches"]
    direct = (pc["median_s"] - ic["median_s"]) / ic["batches"]
    entries["tx_conv_us"]["value"] = conv * 1e6
    entries["tx_tiny_us"]["value"] = tiny * 1e6
    entries["tx_tiny_cpu_us"]["value"] = tiny_cpu * 1e6
    entries["tx_conv_direct_us"]["value"] = direct * 1e6
    entries["tx_share"]["value"] = 100 * tiny / conv
    entries["tx_share"]["met"] = 100 * tiny / conv <= 5
    entries["tx_share_direct"]["value"] = 100 * direct / conv
    entries["tx_tiny_cpu_us"]["note"] = ("host + worker CPU in process mode minus host CPU inline, per batch: "
                                         "what the transport costs in CPU, overlapped or not")
    entries["tx_conv_direct_us"]["note"] = ("the same difference on the 10,000-row runs; the worker converts "
                                            "while the host consumes, so it can be ~0 or negative")
    return list(entries.values())


def compute_ratios(results: List[Dict[str, Any]], args: argparse.Namespace) -> List[Dict[str, Any]]:
    out = []
    for p in args.partitions:
        if "s1b" in args.scenarios:
            out.append(ratio_entry(results, "s1b", p, "hw-inline", "floor", "<=", 1.3,
                                   "S1b headwater inline / floor"))
            out.append(ratio_entry(results, "s1b", p, "hw-thread", "floor", None, None,
                                   "S1b headwater thread / floor (info)"))
            if p == 8:
                out.append(ratio_entry(results, "s1b", p, "hw-inline", "hw-process", ">=", 1.8,
                                       f"S1b headwater inline / process ({args.workers} workers)"))
            else:
                out.append(ratio_entry(results, "s1b", p, "hw-inline", "hw-process", None, None,
                                       f"S1b headwater inline / process (info)"))
        if "s1a" in args.scenarios:
            out.append(ratio_entry(results, "s1a", p, "pyspark", "hw-inline", ">=", 10,
                                   "S1a PySpark / headwater inline"))
            out.append(ratio_entry(results, "s1a", p, "lakesail", "hw-inline", ">=", 50,
                                   "S1a Lakesail / headwater inline"))
            out.append(ratio_entry(
                results, "s1a", p, "lakesail-nots", "hw-inline", ">=", 50,
                "S1a Lakesail (no ts) / headwater inline",
                note="lower bound: Lakesail reads 3 of the 4 columns (its row path cannot build "
                "Spark timestamps); a met target here is met for the full rows too",
                lower_bound=True,
            ))
            out.append(ratio_entry(results, "s1a", p, "from_pylist", "hw-inline", ">", 1,
                                   "S1a from_pylist / headwater inline"))
            out.append(ratio_entry(results, "s1a", p, "hw-thread", "hw-inline", None, None,
                                   "S1a headwater thread / inline (info)"))
            out.append(ratio_entry(results, "s1a", p, "hw-inline", "hw-process", None, None,
                                   "S1a headwater inline / process (info)"))
            out.append(ratio_entry(results, "s1a", p, "pyspark", "hw-process", None, None,
                                   "S1a PySpark / headwater process (info)"))
    if "s2" in args.scenarios:
        p2 = args.s2_partitions
        out.append(rate_entry(results, "hw-process", ">=", 3, f"S2 headwater process ({args.workers} workers)", p2,
                              note="one memcpy per buffer into shared memory"))
        out.append(rate_entry(results, "hw-thread", ">=", 20, "S2 headwater thread", p2,
                              note="no copy: bounded by the source and per-batch costs"))
        out.append(rate_entry(results, "hw-inline", ">=", 20, "S2 headwater inline", p2,
                              note="no copy: bounded by the source and per-batch costs"))
        out.append(rate_entry(results, "floor", None, None, "S2 floor: the source alone (info)", p2))
        out.append(rate_entry(results, "pyspark", None, None, "S2 PySpark local[2] -> noop (info)", p2))
        out.append(rate_entry(results, "lakesail", None, None, "S2 Lakesail -> noop (info)", p2))
        out.append(ratio_entry(results, "s2", p2, "pyspark", "hw-process", None, None,
                               "S2 PySpark / headwater process (info)"))
        out.append(ratio_entry(results, "s2", p2, "lakesail", "hw-process", None, None,
                               "S2 Lakesail / headwater process (info)"))
    if "tx" in args.scenarios:
        out += tx_entries(results)
    if "s0" in args.scenarios:
        hw = _find(results, "s0", 1, "s0-headwater")
        for key, limit, name in (("read_s", 0.1, "S0 headwater read (register -> collected)"),
                                 ("process_wall_s", 1.0, "S0 headwater whole process")):
            e: Dict[str, Any] = {"name": name, "scenario": "s0", "partitions": 1,
                                 "target": f"< {limit} s", "value": None, "met": None, "unit": "s"}
            if hw and hw.get("status") == "ok" and key in hw:
                e["value"] = hw[key]
                e["met"] = hw[key] < limit
            else:
                e["unavailable"] = _why(hw, "s0-headwater")
            out.append(e)
        for key, name in (("process_wall_s", "S0 PySpark / headwater, whole process (info)"),
                          ("read_s", "S0 PySpark / headwater, read part (info)")):
            ps = _find(results, "s0", 1, "s0-pyspark")
            e = {"name": name, "scenario": "s0", "partitions": 1, "target": None, "value": None, "met": None}
            if ps and hw and ps.get("status") == "ok" and hw.get("status") == "ok":
                e["value"] = ps[key] / hw[key]
            else:
                e["unavailable"] = _why(hw, "s0-headwater") if not (hw and hw.get("status") == "ok") \
                    else _why(ps, "s0-pyspark")
            out.append(e)
    return out


# ---------------------------------------------------------------------------------------------
# printing


def fmt_t(s: Optional[float]) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def fmt_rate(r: Optional[float]) -> str:
    if not r:
        return "-"
    if r >= 1e6:
        return f"{r / 1e6:.2f} M/s"
    return f"{r / 1e3:.0f} k/s"


def _clip(text: str, n: int = 150) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def fmt_mb(mb: Optional[float]) -> str:
    if mb is None:
        return "-"
    return f"{mb / 1024:.2f} GB" if mb >= 1024 else f"{mb:.0f} MB"


def startup(r: Dict[str, Any]) -> Optional[float]:
    """Session start-up; for headwater's process mode with its worker processes' start."""
    if r.get("session_s") is None:
        return None
    return r["session_s"] + (r.get("workers_start_s") or 0.0)


def mem_cols(r: Dict[str, Any]) -> Tuple[str, str]:
    """(host peak, workers' peaks) for a headwater peer; '' for the others."""
    if r["peer"] not in HW_PEERS:
        return "", ""
    host = fmt_mb(r.get("host_hwm_mb"))
    workers = r.get("workers_hwm_mb")
    if not workers:
        return host, "no workers"
    return host, "+".join(f"{w:.0f}" if w is not None else "?" for w in workers) + " MB"


def print_mem_note() -> None:
    print("  peak memory (headwater peers): host = the host process's VmHWM at the end; workers = each "
          "worker's VmHWM (process mode);")
    print("  the sampled peak of the workers' summed VmRSS is workers_rss_sum_peak_mb in the JSON")


def print_s1_table(results: List[Dict[str, Any]], scenario: str, partitions: int, rows: int) -> None:
    block = [r for r in results if r["scenario"] == scenario and r["partitions"] == partitions]
    if not block:
        return
    print()
    print(f"{SCENARIO_TITLES[scenario]}   rows={rows:,}  partitions={partitions}")
    hdr = (f"  {'peer':30} {'start-up':>9} {'warm-up':>9} {'median':>9} {'min..max':>19} {'rows/s':>10} "
           f"{'x floor':>8} {'x hw-inl':>8} {'host peak':>9} {'workers peak':>13}")
    print(hdr)
    print("  " + "-" * (len(hdr) - 2))
    floor = _find(results, scenario, partitions, "floor")
    hw = _find(results, scenario, partitions, "hw-inline")
    for r in block:
        label = PEER_LABELS.get(r["peer"], r["peer"])
        if r.get("status") != "ok":
            print(f"  {label:30} {r.get('status')}: {_clip(r.get('reason', ''))}")
            continue
        med = r.get("median_s")
        xf = f"{med / floor['median_s']:.2f}" if floor and floor.get("median_s") else "-"
        xh = f"{med / hw['median_s']:.2f}" if hw and hw.get("median_s") else "-"
        start = startup(r)
        spread = f"{fmt_t(r.get('min_s'))}..{fmt_t(r.get('max_s'))}"
        host, workers = mem_cols(r)
        print(f"  {label:30} {fmt_t(start):>9} {fmt_t(r.get('warmup_s')):>9} {fmt_t(med):>9} "
              f"{spread:>19} {fmt_rate(r.get('rows_per_s')):>10} {xf:>8} {xh:>8} {host:>9} {workers:>13}")
        if r.get("cache_builds_timed"):
            print(f"  {'':30} WARNING: {r['cache_builds_timed']} prepared-tuple build(s) inside timed runs")


def print_s2_table(results: List[Dict[str, Any]], plan: Dict[str, int]) -> None:
    block = [r for r in results if r["scenario"] == "s2"]
    if not block:
        return
    print()
    print(f"{SCENARIO_TITLES['s2']}")
    print(f"  {plan['rows']:,} rows = {plan['bytes'] / 1e9:.2f} GB of Arrow data (GB = 10^9 bytes), "
          f"{plan['partitions']} partitions, {plan['batches']} batches of up to {plan['batch_rows']:,} rows "
          f"({plan['batch_rows'] * S2_ROW_BYTES / 2**20:.0f} MiB)")
    hdr = (f"  {'peer':30} {'start-up':>9} {'warm-up':>9} {'median':>9} {'min..max':>19} {'GB/s':>8} "
           f"{'x floor':>8} {'host peak':>9} {'workers peak':>13}")
    print(hdr)
    print("  " + "-" * (len(hdr) - 2))
    floor = next((r for r in block if r["peer"] == "floor"), None)
    for r in block:
        label = PEER_LABELS.get(r["peer"], r["peer"])
        if r.get("status") != "ok":
            print(f"  {label:30} {r.get('status')}: {_clip(r.get('reason', ''))}")
            continue
        med = r.get("median_s")
        xf = f"{med / floor['median_s']:.2f}" if floor and floor.get("median_s") else "-"
        spread = f"{fmt_t(r.get('min_s'))}..{fmt_t(r.get('max_s'))}"
        gbs = f"{r['gb_per_s']:.2f}" if r.get("gb_per_s") else "-"
        host, workers = mem_cols(r)
        print(f"  {label:30} {fmt_t(startup(r)):>9} {fmt_t(r.get('warmup_s')):>9} {fmt_t(med):>9} "
              f"{spread:>19} {gbs:>8} {xf:>8} {host:>9} {workers:>13}")
        if r.get("cache_builds_timed"):
            print(f"  {'':30} WARNING: {r['cache_builds_timed']} prepared-batch build(s) inside timed runs")
    print("  source's batches live in every process that reads (host, or each worker / Python worker): "
          f"{plan['bytes'] / 2**20:.0f} MiB each")


def print_tx_table(results: List[Dict[str, Any]]) -> None:
    block = [r for r in results if r["scenario"] == "tx"]
    if not block:
        return
    print()
    print(f"{SCENARIO_TITLES['tx']}")
    hdr = (f"  {'peer':30} {'case':>12} {'batches':>9} {'median':>9} {'min..max':>19} {'wall/batch':>11} "
           f"{'host CPU/b':>11} {'worker CPU/b':>12}")
    print(hdr)
    print("  " + "-" * (len(hdr) - 2))
    for r in block:
        label = PEER_LABELS.get(r["peer"], r["peer"])
        if r.get("status") != "ok":
            print(f"  {label:30} {r.get('status')}: {_clip(r.get('reason', ''))}")
            continue
        for name, c in r["cases"].items():
            what = f"{c['batch_rows']:,} row{'s' if c['batch_rows'] != 1 else ''}/b"
            k = c["batches"]
            hc = statistics.median(c["host_cpu_s"]) / k if c.get("host_cpu_s") else None
            wc = statistics.median(c["worker_cpu_s"]) / k if c.get("worker_cpu_s") else None
            spread = f"{fmt_t(c.get('min_s'))}..{fmt_t(c.get('max_s'))}"
            print(f"  {label:30} {what:>12} {k:>9,} {fmt_t(c['median_s']):>9} {spread:>19} "
                  f"{fmt_t(c['median_s'] / k):>11} {fmt_t(hc):>11} {fmt_t(wc) if wc else '-':>12}")
            if c.get("cache_builds_timed"):
                print(f"  {'':30} WARNING: {c['cache_builds_timed']} prepared-tuple build(s) inside timed runs")


def print_s0_table(results: List[Dict[str, Any]], reps: int) -> None:
    block = [r for r in results if r["scenario"] == "s0"]
    if not block:
        return
    print()
    print(f"{SCENARIO_TITLES['s0']}   median of {reps} new processes (after 1 untimed)")
    hdr = f"  {'peer':30} {'process':>9} {'import':>9} {'session':>9} {'read':>9}   first row"
    print(hdr)
    print("  " + "-" * (len(hdr) - 2))
    for r in block:
        label = PEER_LABELS.get(r["peer"], r["peer"])
        if r.get("status") != "ok":
            print(f"  {label:30} {r.get('status')}: {_clip(r.get('reason', ''))}")
            continue
        print(f"  {label:30} {fmt_t(r.get('process_wall_s')):>9} {fmt_t(r.get('import_s')):>9} "
              f"{fmt_t(r.get('session_s')):>9} {fmt_t(r.get('read_s')):>9}   {_clip(r.get('first_row', ''), 70)}")


def print_ratios(ratios: List[Dict[str, Any]]) -> None:
    print()
    print("Ratios and targets (time / time, medians of one run; headwater = inline mode unless named)")
    for e in ratios:
        where = "" if e["scenario"] in ("s0", "tx") else f" P={e['partitions']}"
        name = f"{e['name']}{where}"
        target = e.get("target") or ""
        if e.get("unavailable"):
            print(f"  {name:52} {target:>10}   unavailable: {_clip(e['unavailable'], 110)}")
            continue
        v = e["value"]
        unit = e.get("unit")
        if unit == "s":
            val = fmt_t(v)
        elif unit == "GB/s":
            val = f"{v:.2f} GB/s"
        elif unit == "us":
            val = f"{v:.1f} us"
        elif unit == "%":
            val = f"{v:.1f} %"
        else:
            val = f"{v:.2f}x"
        verdict = e.get("verdict") or ("" if e["met"] is None else ("MET" if e["met"] else "NOT MET"))
        print(f"  {name:52} {target:>10}   {val:>10}  {verdict}")
        if e.get("note"):
            print(f"  {'':52}              ({_clip(e['note'], 120)})")


def print_machine(m: Dict[str, Any]) -> None:
    print(f"machine: {m['cpu_model']}, {m['cores']} cores ({m['cores_usable']} usable), "
          f"{m['memory_gib']} GiB; {m['platform']}")
    print(f"python {m['python']}, pyspark {m['pyspark']}, pyarrow {m['pyarrow']}, "
          f"headwater {m['headwater']}, {m['java']}")
    sail = m.get("sail_venv")
    print(f"lakesail venv: {sail['versions'] if sail else 'not set up'}")


# ---------------------------------------------------------------------------------------------


def parse_args(argv: List[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=None, help="rows per S1 run (default 10,000,000; --quick 1,000,000)")
    ap.add_argument("--partitions", default="1,8", help="comma-separated partition counts (default 1,8)")
    ap.add_argument("--scenarios", default="s0,s1a,s1b,s2,tx", help="comma-separated: s0,s1a,s1b,s2,tx")
    ap.add_argument("--peers", default=",".join(ALL_PEERS),
                    help="comma-separated peers (default all): " + ",".join(ALL_PEERS))
    ap.add_argument("--workers", type=int, default=2,
                    help="worker processes of the hw-process peer (headwater.executor.workers; default 2)")
    ap.add_argument("--s2-gb", type=float, default=None,
                    help="S2: GB (10^9 bytes) of Arrow data in all (default 4; --quick 1)")
    ap.add_argument("--s2-batch-mb", type=int, default=64, help="S2: MiB per RecordBatch (default 64)")
    ap.add_argument("--s2-partitions", type=int, default=8, help="S2: partitions (default 8)")
    ap.add_argument("--tx-rows", type=int, default=None,
                    help="TX: rows read at 10,000 rows a batch (default --rows, at most 2,000,000)")
    ap.add_argument("--tx-batches", type=int, default=100_000,
                    help="TX: 1-row batches read (default 100,000)")
    ap.add_argument("--reps", type=int, default=None, help="timed runs per peer, median reported (default 3)")
    ap.add_argument("--s0-reps", type=int, default=None, help="new processes per S0 peer (default --reps)")
    ap.add_argument("--quick", action="store_true", help="1,000,000 rows, 2 reps")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per peer process (default scales with --rows)")
    ap.add_argument("--batch-rows", type=int, default=65536, help="rows per from_pylist batch (default 65536)")
    ap.add_argument("--spark-master", default="local[2]")
    ap.add_argument("--spark-driver-memory", default="4g")
    ap.add_argument("--sail-python", default=DEFAULT_SAIL_PYTHON,
                    help="interpreter of the Lakesail venv (default bench/.venv-sail/bin/python)")
    ap.add_argument("--busy-load", type=float, default=0.25,
                    help="warn when other processes keep more cores than this busy just before "
                    "or after a peer (sampled 0.5 s each; default 0.25)")
    ap.add_argument("--wait-quiet", type=float, default=30.0,
                    help="before each peer, wait up to this many seconds for other processes to "
                    "drop under --busy-load (default 30)")
    ap.add_argument("--out", default=None, help="JSON path (default bench/results/bench-<time>.json)")
    a = ap.parse_args(argv)
    a.rows = a.rows or (1_000_000 if a.quick else 10_000_000)
    a.reps = a.reps or (2 if a.quick else 3)
    a.s0_reps = a.s0_reps or a.reps
    a.s2_gb = a.s2_gb or (1.0 if a.quick else 4.0)
    a.tx_rows = a.tx_rows or min(a.rows, 2_000_000)
    a.timeout_given = a.timeout
    a.partitions = [int(x) for x in a.partitions.split(",") if x.strip()]
    a.scenarios = [x.strip().lower() for x in a.scenarios.split(",") if x.strip()]
    bad = [s for s in a.scenarios if s not in SCENARIO_TITLES]
    if bad:
        ap.error(f"unknown scenario(s) {bad}")
    chosen = [x.strip() for x in a.peers.split(",") if x.strip()]
    bad = [p for p in chosen if p not in ALL_PEERS]
    if bad:
        ap.error(f"unknown peer(s) {bad}")
    a.peers = [p for p in ALL_PEERS if p in chosen]  # always in the table's order
    if a.timeout is None:
        a.timeout = 600 + a.rows * (a.reps + 1) * 5e-5
    return a


def main(argv: List[str]) -> int:
    args = parse_args(argv)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    os.makedirs(os.path.join(RESULTS_DIR, "logs"), exist_ok=True)
    log_path = os.path.join(RESULTS_DIR, "logs", f"bench-{stamp}.log")
    out_path = args.out or os.path.join(RESULTS_DIR, f"bench-{stamp}.json")
    machine = machine_info(args.sail_python)
    print_machine(machine)
    print(f"rows={args.rows:,} partitions={args.partitions} reps={args.reps} (median; 1 warm-up run "
          f"excluded) scenarios={args.scenarios} s2={args.s2_gb:g} GB hw-process workers={args.workers}; "
          f"peer output: {os.path.relpath(log_path, ROOT)}",
          flush=True)

    t0 = time.perf_counter()
    results: List[Dict[str, Any]] = []
    if "s0" in args.scenarios:
        results += run_s0(args, log_path)
    for scenario in ("s1a", "s1b"):
        if scenario in args.scenarios:
            for p in args.partitions:
                results += run_s1(args, scenario, p, log_path)
    if "s2" in args.scenarios:
        results += run_s2(args, log_path)
    if "tx" in args.scenarios:
        results += run_tx(args, log_path)
    ratios = compute_ratios(results, args)
    busy = [(r["peer"], r["scenario"], max(r.get("other_load_before") or 0, r.get("other_load_after") or 0))
            for r in results]
    busy = [b for b in busy if b[2] > args.busy_load]

    if "s0" in args.scenarios:
        print_s0_table(results, args.s0_reps)
    for scenario in ("s1a", "s1b"):
        if scenario in args.scenarios:
            for p in args.partitions:
                print_s1_table(results, scenario, p, args.rows)
    if "s2" in args.scenarios:
        print_s2_table(results, s2_plan(args))
    if "tx" in args.scenarios:
        print_tx_table(results)
    if any(r["scenario"] in ("s1a", "s1b", "s2") and r["peer"] in HW_PEERS for r in results):
        print()
        print_mem_note()
    print_ratios(ratios)
    if busy:
        worst = max(b[2] for b in busy)
        print(f"\nWARNING: other processes kept up to {worst:.2f} cores busy around "
              f"{len(busy)} peer run(s) (threshold {args.busy_load}); they may have skewed these "
              "numbers (other_load_before/after in the JSON)")

    doc = {
        "when_utc": stamp,
        "wall_s": time.perf_counter() - t0,
        "machine": machine,
        "config": {k: v for k, v in vars(args).items()},
        "s2_plan": s2_plan(args) if "s2" in args.scenarios else None,
        "results": results,
        "ratios": ratios,
    }
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=1, default=str)
    shutil.copyfile(out_path, os.path.join(RESULTS_DIR, "latest.json"))
    print(f"\nresults: {os.path.relpath(out_path, ROOT)} (and bench/results/latest.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
