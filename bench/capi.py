"""The C API side by side with the Python API (never a test: it prints ratios).

1. Per-batch overhead: the same per-partition C scans of many one-row RecordBatches drained by a C
   program through libheadwater, and by Python through pyarrow (``RecordBatchReader.from_stream``).
2. 1 vs 2 native threads reading partitions through the C API: partitions that wait (the GIL is
   released, as in network reads) and partitions that compute in Python: in thread mode (the GIL
   serializes them) and in process mode (each partition on a worker process).

Needs the package installed (``make build``), pkg-config and a C compiler.
    .venv/bin/python bench/capi.py [--batches 20000] [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import pyarrow as pa

HERE = os.path.dirname(os.path.abspath(__file__))


def build(where: str) -> str:
    """capi_bench.c compiled against the installed package (pkg-config), into the directory where."""
    from headwater import capi

    env = dict(os.environ, PKG_CONFIG_PATH=capi.pkg_config_path())
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "headwater"], env=env, check=True,
                           capture_output=True, text=True).stdout.split()
    out = os.path.join(where, "capi_bench")
    subprocess.run(["cc", "-O2", "-o", out, os.path.join(HERE, "capi_bench.c"), *flags, "-pthread"], check=True)
    return out


def c_run(exe: str, threads: int, options: dict) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HEADWATER_PYTHONPATH"] = HERE
    args = [exe, str(threads), "capi_sources:Batches", *[f"{k}={v}" for k, v in options.items()]]
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout.split()
    return float(out[0])


def py_run(options: dict) -> float:
    """The Python API over the same per-partition scans (in this process)."""
    from headwater import capi

    sys.path.insert(0, HERE)
    rt = capi.Runtime()
    q = capi.Query(capi.Source(rt, "capi_sources:Batches", {k: str(v) for k, v in options.items()}, None))
    q.plan_scan()
    start = time.perf_counter()
    for i in range(len(q.partitions)):
        reader = pa.RecordBatchReader.from_stream(q.partition(i))
        for _ in reader:
            pass
    took = time.perf_counter() - start
    rt.close()
    sys.path.pop(0)
    return took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=20000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hw-capi-bench-") as where:  # removed at the end
        measure(args, build(where))


def measure(args: argparse.Namespace, exe: str) -> None:
    opts = {"partitions": 1, "batches": args.batches}
    c = statistics.median(c_run(exe, 1, opts) for _ in range(args.reps))
    p = statistics.median(py_run(opts) for _ in range(args.reps))
    print(f"per-batch, {args.batches} one-row batches, inline, 1 partition:")
    print(f"  C API    {c * 1e6 / args.batches:8.2f} us/batch   (timed from the first execute, as the Python side)")
    print(f"  Python   {p * 1e6 / args.batches:8.2f} us/batch")
    print(f"  ratio C/Python {c / p:.2f}")
    computing = {"partitions": 2, "batches": 2000, "spin": 20000}
    for name, o in (("waiting (sleep 2 ms a batch), thread mode", {"partitions": 2, "batches": 500, "wait_ms": 2,
                                                                  "hw_mode": "thread"}),
                    ("computing (Python loop a batch), thread mode", dict(computing, hw_mode="thread")),
                    ("computing (Python loop a batch), process mode", dict(computing, hw_mode="process"))):
        ones, twos = [], []
        for _ in range(args.reps):  # alternated: load from other processes falls on both alike
            ones.append(c_run(exe, 1, o))
            twos.append(c_run(exe, 2, o))
        one, two = statistics.median(ones), statistics.median(twos)
        print(f"2 partitions, {name}: 1 thread {one:.3f} s, 2 threads {two:.3f} s, speed-up {one / two:.2f}x "
              f"(best of {args.reps}: {min(ones) / min(twos):.2f}x)")


if __name__ == "__main__":
    main()
