"""The throwaway PostgreSQL cluster of the JDBC tests leaves nothing behind: not after an error,
not after SIGTERM, and a cluster whose owner was killed with SIGKILL is reaped by the next start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))

_SCRIPT = """
import sys, time
sys.path.insert(0, {here!r})
from pg_cluster import PgCluster
c = PgCluster().start()
print(c.dir, c.port, flush=True)
mode = {mode!r}
if mode == "raise":
    with c:
        raise RuntimeError("a failing test")
time.sleep(120)
"""


def _postgres_running(directory: str) -> bool:
    """A postgres process serving ``directory`` exists (read from /proc: no subprocess)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if directory in args and "postgres" in args:
            return True
    return False


def _start(mode: str):
    proc = subprocess.Popen([sys.executable, "-c", _SCRIPT.format(here=HERE, mode=mode)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    assert line, proc.stderr.read()
    directory = line[0]
    assert os.path.isdir(directory) and _postgres_running(directory)
    return proc, directory


def _wait_gone(directory: str) -> None:
    for _ in range(100):
        if not os.path.exists(directory) and not _postgres_running(directory):
            return
        time.sleep(0.1)
    pytest.fail(f"{directory} still there or its server still running")


def test_stopped_and_removed_after_an_error():
    proc, directory = _start("raise")
    proc.wait(timeout=60)
    assert proc.returncode != 0 and "a failing test" in proc.stderr.read()
    _wait_gone(directory)


def test_stopped_and_removed_on_sigterm():
    proc, directory = _start("sleep")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    _wait_gone(directory)


def test_a_cluster_left_by_sigkill_is_reaped_by_the_next_start(pg):
    proc, directory = _start("sleep")
    proc.kill()
    proc.wait(timeout=60)
    assert os.path.isdir(directory) and _postgres_running(directory)  # nothing could clean up
    from pg_cluster import reap_stale

    assert directory in reap_stale(pg.bin)
    _wait_gone(directory)
    assert os.path.isdir(pg.dir)  # the live cluster of this run is left alone
