"""The console progress bar of an action, as Spark's: on stderr, when it is a terminal and
``spark.ui.showConsoleProgress`` is true, for actions that run longer than
``headwater.progress.delayMs``.

A timer thread reads the C scans' counters (``Scan.progress``: partitions done of all, rows,
bytes; a write's: its tasks done of all, rows and bytes handed to the writers) every ``spark.ui.consoleProgress.update.interval`` ms and draws with tqdm; nothing runs per
batch, and the bar is gone when the action's scans have ended.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable, List

from tqdm import tqdm

from headwater.config import get

__all__ = ["enabled", "ProgressWatcher"]


def enabled(conf: Any) -> bool:
    """Whether actions show the bar: the setting, and stderr a terminal."""
    if not get(conf, "spark.ui.showConsoleProgress"):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class ProgressWatcher(threading.Thread):
    """Watches the scans of one action (``scans()`` gives them; ``ended(scan)`` says if one is over)."""

    def __init__(self, conf: Any, scans: Callable[[], List[Any]], ended: Callable[[Any], bool]) -> None:
        super().__init__(name="headwater-progress", daemon=True)
        self.interval = max(20, get(conf, "spark.ui.consoleProgress.update.interval")) / 1000.0
        self.delay = max(0, get(conf, "headwater.progress.delayMs")) / 1000.0
        self.scans = scans
        self.ended = ended
        self.stopped = threading.Event()  # the action returned: clear the bar now

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=2)

    def run(self) -> None:
        start = time.monotonic()
        bar = None
        try:
            while True:
                if self.stopped.wait(self.interval):
                    return
                scans = self.scans()
                writes = [s for s in scans if getattr(s, "action", "read") == "write"]
                if writes:  # a write's bar counts its tasks (the reads that fed it are done or inside them)
                    scans = writes
                counts = [s.progress for s in scans]
                over = all(self.ended(s) for s in scans)
                done, total = sum(c[0] for c in counts), sum(c[1] for c in counts)
                rows, nbytes = sum(c[2] for c in counts), sum(c[3] for c in counts)
                elapsed = time.monotonic() - start
                if bar is None and not over and elapsed >= self.delay:
                    bar = tqdm(total=total, unit="part", file=sys.stderr, leave=False, dynamic_ncols=True,
                               bar_format="{desc} {bar} {n_fmt}/{total_fmt} partitions [{elapsed}]{postfix}")
                    bar.set_description_str("headwater write" if writes else "headwater")
                if bar is not None:
                    bar.total = total
                    bar.n = done
                    rate = rows / elapsed if elapsed > 0 else 0.0
                    bar.set_postfix_str(f"{rows:,} rows, {_size(nbytes)}, {rate:,.0f} rows/s", refresh=False)
                    bar.refresh()
                if over:
                    return
        finally:
            if bar is not None:
                bar.close()
