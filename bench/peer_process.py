"""Running one benchmark peer in a fresh interpreter (used by s3_generic.py and s6_write.py).

The peer is ``python SCRIPT --peer PEER CONFIG.json OUT.json`` in its own process group, its output
appended to the log; when it ends or times out the whole group is killed (a JVM, Spark's Python
workers, headwater's workers go with it) and its JSON result is read back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from typing import Any, Dict

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)


def run_peer_process(script: str, peer: str, cfg: Dict[str, Any], python: str, timeout: float, log_path: str,
                     work_prefix: str, log_env: str, log_file: str) -> Dict[str, Any]:
    """The peer's result dict, or ``{"status": "unavailable", "reason": ...}``. ``log_env`` names the
    environment variable through which the peer gets the path of its own side log (``log_file`` in
    the peer's work directory)."""
    if not os.path.exists(python):
        return {"status": "unavailable", "reason": f"no Lakesail venv at {python} (make bench creates bench/.venv-sail)"}
    work = tempfile.mkdtemp(prefix=work_prefix)
    cfg_path, out_path = os.path.join(work, "config.json"), os.path.join(work, "out.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    env = dict(os.environ)
    env["TZ"] = "UTC"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (BENCH_DIR, env.get("PYTHONPATH", "")) if p)
    env["PYSPARK_PYTHON"] = env["PYSPARK_DRIVER_PYTHON"] = python
    env.pop("SPARK_REMOTE", None)
    env[log_env] = os.path.join(work, log_file)
    with open(log_path, "ab") as log:
        log.write(f"\n=== {peer} {json.dumps(cfg)} ({python})\n".encode())
        log.flush()
        p = subprocess.Popen([python, os.path.abspath(script), "--peer", peer, cfg_path, out_path],
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=ROOT,
                             start_new_session=True)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        try:  # whatever the peer left (a JVM, workers) goes with its process group
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    try:
        with open(out_path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"status": "unavailable", "reason": f"the peer process died or timed out (exit {p.returncode}); "
                                                   f"see {log_path}"}
