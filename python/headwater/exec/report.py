"""The run report: what each partition of an action cost, read from the C scans' counters.

The counters are kept by the partition reader in C (``src/pyexec/partition_reader.c``: per batch,
with rows timed on a sample) and travel back from worker processes in their DONE message; nothing
here runs per batch. A session keeps the scans of its latest action (:class:`RunTracker`);
``spark.lastRunReport()`` turns them into a :class:`RunReport` when asked.
"""

from __future__ import annotations

import threading
from typing import Any, List, NamedTuple, Optional

from headwater.exec.progress import ProgressWatcher, enabled

__all__ = ["PartitionStats", "RunReport", "RunTracker"]


class PartitionStats(NamedTuple):
    """One partition: rows, batches, Arrow bytes of converted rows, wall time, and how that time
    was spent: in the source's own code (``read()``, its iterator), converting to Arrow, and
    blocked on the consumer; the pid of the process that read it. Times in seconds."""

    source: str
    partition: int
    rows: int
    batches: int
    bytes: int
    wall: float
    in_source: float
    converting: float
    waiting: float
    pid: int
    mode: str


class RunReport:
    """The partitions of one action, in the order their scans started (partition order within a
    scan). Partitions that did not end (a failure, a limit reached) are not in it."""

    def __init__(self, partitions: List[PartitionStats]) -> None:
        self.partitions = partitions

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.partitions)

    def to_dicts(self) -> List[dict]:
        return [p._asdict() for p in self.partitions]

    def format(self) -> str:
        """A table, one line per partition and a total (what ``headwater ... --stats`` prints)."""
        head = ("source", "part", "rows", "batches", "bytes", "wall ms", "source ms", "convert ms", "wait ms",
                "pid", "mode")
        body = [(p.source, str(p.partition), str(p.rows), str(p.batches), str(p.bytes), f"{p.wall * 1e3:.1f}",
                 f"{p.in_source * 1e3:.1f}", f"{p.converting * 1e3:.1f}", f"{p.waiting * 1e3:.1f}", str(p.pid), p.mode)
                for p in self.partitions]
        ps = self.partitions
        body.append(("total", str(len(ps)), str(self.rows), str(sum(p.batches for p in ps)),
                     str(sum(p.bytes for p in ps)), f"{sum(p.wall for p in ps) * 1e3:.1f}",
                     f"{sum(p.in_source for p in ps) * 1e3:.1f}", f"{sum(p.converting for p in ps) * 1e3:.1f}",
                     f"{sum(p.waiting for p in ps) * 1e3:.1f}", "", ""))
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
        return "\n".join("  ".join(c.rjust(w) if i in range(1, 10) else c.ljust(w)
                                   for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in [head, *body])

    def __repr__(self) -> str:
        return f"RunReport({len(self.partitions)} partitions, {self.rows} rows)"


class RunTracker:
    """The scans of a session's latest action. A DataFrame action calls :meth:`begin`; every scan
    started after it (the sources of one SQL query, run one after the other by DuckDB) belongs to
    that action. A scan started without a begin (a plan used directly) begins a new action when
    every scan of the current one has ended."""

    def __init__(self, conf: Any = None) -> None:
        self._conf = conf
        self._watcher: Optional[ProgressWatcher] = None  # the progress bar's timer, while an action runs
        self._lock = threading.Lock()
        self._scans: List[tuple] = []  # (scan, source name, mode)
        self._fresh = False  # begin() was called: the next scan starts the action's list
        self._explicit = False  # actions are marked by begin(): scans that ended do not end one

    def begin(self) -> None:
        with self._lock:
            self._fresh = self._explicit = True

    @staticmethod
    def _ended(scan: Any) -> bool:
        done, total, _, _ = scan.progress
        return done >= total or scan.failure() is not None

    def started(self, scan: Any, source: str, mode: str) -> None:
        with self._lock:
            if self._fresh or (not self._explicit and all(self._ended(s) for s, _, _ in self._scans)):
                self._scans = []  # the previous action's scans (and their readers) are let go
                self._fresh = False
            self._scans.append((scan, source, mode))
            if enabled(self._conf) and (self._watcher is None or not self._watcher.is_alive()):
                self._watcher = ProgressWatcher(self._conf, self.current, self._ended)
                self._watcher.start()

    def end(self) -> None:
        """The action returned: its progress bar is cleared before the caller prints anything."""
        with self._lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()

    def current(self) -> List[Any]:
        with self._lock:
            return [s for s, _, _ in self._scans]

    def report(self) -> Optional[RunReport]:
        with self._lock:
            scans = list(self._scans)
        if not scans:
            return None
        parts = [PartitionStats(name, p, rows, batches, nbytes, wall / 1e9, src / 1e9, conv / 1e9, wait / 1e9, pid,
                                mode)
                 for scan, name, mode in scans
                 for p, rows, batches, nbytes, wall, src, conv, wait, pid in scan.report()]
        return RunReport(parts)
