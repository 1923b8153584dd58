"""Process bookkeeping for the tests that check nothing is left running: read from /proc, so a
test sees exactly what the kernel sees (zombies count as gone: they hold no resources but a pid)."""

from __future__ import annotations

import os
from typing import List


def children(parent: int = 0, zombies: bool = False) -> List[int]:
    """Child processes of ``parent`` (default: this process), sorted; zombies (exited, not yet
    reaped) only when ``zombies`` is true — a test that checks reaping asks for them."""
    me, out = str(parent or os.getpid()), []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[-1].split()
            except OSError:
                continue
            if fields[1] == me and (zombies or fields[0] != "Z"):
                out.append(int(d))
    return sorted(out)


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
