"""The console progress bar, in a real terminal: the `headwater` command and a Python API script
(tests/python/progress_api.py) run inside tmux, the screen read with `tmux capture-pane` while a
slow read or write runs and after it ended."""

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EXE = os.path.join(os.path.dirname(sys.executable), "headwater")



@pytest.fixture(autouse=True)
def _tmux_installed():
    # `make setup` installs tmux: its absence is a broken environment, not a reason to skip
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (make setup installs it; apt-get install tmux)")


def tmux(socket, *args):
    """tmux on a server of its own (-L): sessions of parallel runs never share (or end) one."""
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=30)


def screens(args, until, seconds=60, exe=EXE):
    """Runs the command in a fresh tmux window (120x20); returns every distinct screen seen until
    `until` appears on one (or the time is up)."""
    name = "hw" + uuid.uuid4().hex[:8]
    done = f"EXITED-{name}"
    cmd = f"cd {HERE} && PYTHONPATH={HERE} {exe} {' '.join(args)}; echo {done} $?"
    assert tmux(name, "new-session", "-d", "-s", name, "-x", "120", "-y", "20", cmd + "; sleep 30").returncode == 0
    seen = []
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            screen = tmux(name, "capture-pane", "-p", "-t", name).stdout
            if not seen or seen[-1] != screen:
                seen.append(screen)
            if until in screen:
                break
            time.sleep(0.1)
    finally:
        tmux(name, "kill-server")
    return seen


SLOW = ["read", "cli_count", "-i", "cli_sources", "-o", "rows=4000", "-o", "partitions=4", "-o", "sleep_ms=1200",
        "--mode", "thread", "--workers", "2", "--count"]


def test_bar_shows_partitions_rows_and_rate_then_goes():
    seen = screens(SLOW, "EXITED-")
    bars = [s for s in seen if "partitions" in s and "headwater" in s]
    assert bars, "no progress bar was drawn:\n" + "\n---\n".join(seen)
    assert any("/4 partitions" in s and "rows/s" in s for s in bars)
    assert any("2/4 partitions" in s for s in bars)  # two partitions ended while two ran
    last = seen[-1]
    assert "4000" in last and "EXITED-" in last and last.split("EXITED-")[1].split()[1] == "0"
    assert "partitions" not in last  # the bar is cleared when the read ends, as Spark's


def test_no_progress_draws_nothing():
    seen = screens([*SLOW, "--no-progress"], "EXITED-")
    assert not any("partitions" in s for s in seen)
    assert "4000" in seen[-1]


def test_not_a_terminal_draws_nothing():
    r = subprocess.run([EXE, *SLOW], capture_output=True, text=True, cwd=HERE, timeout=120,
                       env=dict(os.environ, PYTHONPATH=HERE))
    assert r.returncode == 0 and r.stdout.strip() == "4000" and r.stderr == ""


def api(action, mode):
    return screens(["progress_api.py", action, mode], "EXITED-", exe=sys.executable)


def exited_ok(screen):
    return "EXITED-" in screen and screen.split("EXITED-")[1].split()[1] == "0"


def test_python_api_read_shows_the_bar_then_clears_it():
    seen = api("read", "thread")
    bars = [s for s in seen if "partitions" in s and "headwater" in s]
    assert bars, "no progress bar was drawn:\n" + "\n---\n".join(seen)
    assert any("2/4 partitions" in s and "2,000 rows" in s for s in bars)  # two partitions read while two ran
    last = seen[-1]
    assert "counted 4000" in last and exited_ok(last) and "partitions" not in last


@pytest.mark.parametrize("mode", ["thread", "process"])
def test_python_api_write_shows_the_writes_bar_then_clears_it(mode):
    seen = api("write", mode)
    bars = [s for s in seen if "headwater write" in s and "partitions" in s]
    assert bars, "no write progress bar was drawn:\n" + "\n---\n".join(seen)
    assert any("0/4 partitions" in s for s in bars) and any("2/4 partitions" in s and "2,000 rows" in s for s in bars)
    last = seen[-1]
    assert "written 4000" in last and exited_ok(last) and "partitions" not in last
