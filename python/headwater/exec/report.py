"""The run report: what each partition of an action cost, read from the C scans' counters.

The counters are kept in C: for reads by the partition reader (``src/pyexec/partition_reader.c``:
per batch, with rows timed on a sample), for writes by the feed a writer's ``write(iterator)``
pulls from (``src/pyexec/write_feed.c``: per batch); from worker processes they travel back in DONE
(a read) and RESULT (a write task: its write and the read that fed it). Nothing here runs per
batch. A session keeps the scans and writes of its latest action (:class:`RunTracker`);
``spark.lastRunReport()`` turns them into a :class:`RunReport` when asked.
"""

from __future__ import annotations

import threading
from typing import Any, List, NamedTuple, Optional

from headwater.exec.progress import ProgressWatcher, enabled

__all__ = ["PartitionStats", "RunReport", "RunTracker", "WriteRun"]


class PartitionStats(NamedTuple):
    """One partition read or written: rows, batches, the batches' Arrow bytes, wall time, and how
    that time was spent; the pid of the process that ran it. Times in seconds.

    A read (``action`` "read"): ``in_source`` in the source's own code (``read()``, its iterator),
    ``converting`` rows to Arrow, ``waiting`` blocked on the consumer. A write ("write"):
    ``in_source`` in the writer's own code (``write()``), ``converting`` Arrow to Rows (plain
    writers), ``waiting`` on the input (reading the partition that feeds the write)."""

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
    action: str = "read"


class RunReport:
    """The partitions of one action, in the order their scans started (partition order within a
    scan). Partitions that did not end (a failure, a limit reached) are not in it."""

    def __init__(self, partitions: List[PartitionStats]) -> None:
        self.partitions = partitions

    @property
    def rows(self) -> int:
        """Rows read (a write's rows are its input's: see :attr:`rows_written`)."""
        return sum(p.rows for p in self.partitions if p.action == "read")

    @property
    def rows_written(self) -> int:
        return sum(p.rows for p in self.partitions if p.action == "write")

    @property
    def reads(self) -> List[PartitionStats]:
        return [p for p in self.partitions if p.action == "read"]

    @property
    def writes(self) -> List[PartitionStats]:
        return [p for p in self.partitions if p.action == "write"]

    def to_dicts(self) -> List[dict]:
        return [p._asdict() for p in self.partitions]

    def format(self) -> str:
        """A table, one line per partition and a total per action (what ``headwater ... --stats``
        prints). A write's "source ms" is the writer's own code, "wait ms" waiting on its input."""
        head = ("action", "source", "part", "rows", "batches", "bytes", "wall ms", "source ms", "convert ms",
                "wait ms", "pid", "mode")
        body = []
        for action in ("read", "write"):
            ps = [p for p in self.partitions if p.action == action]
            if not ps:
                continue
            body += [(action, p.source, str(p.partition), str(p.rows), str(p.batches), str(p.bytes),
                      f"{p.wall * 1e3:.1f}", f"{p.in_source * 1e3:.1f}", f"{p.converting * 1e3:.1f}",
                      f"{p.waiting * 1e3:.1f}", str(p.pid), p.mode) for p in ps]
            body.append((action, "total", str(len(ps)), str(sum(p.rows for p in ps)), str(sum(p.batches for p in ps)),
                         str(sum(p.bytes for p in ps)), f"{sum(p.wall for p in ps) * 1e3:.1f}",
                         f"{sum(p.in_source for p in ps) * 1e3:.1f}", f"{sum(p.converting for p in ps) * 1e3:.1f}",
                         f"{sum(p.waiting for p in ps) * 1e3:.1f}", "", ""))
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
        return "\n".join("  ".join(c.rjust(w) if i in range(2, 11) else c.ljust(w)
                                   for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in [head, *body])

    def __repr__(self) -> str:
        written = f", {self.rows_written} rows written" if self.writes else ""
        return f"RunReport({len(self.partitions)} partitions, {self.rows} rows{written})"


_NS = 1e-9


class WriteRun:
    """One write (``save()``) as the run tracker sees it: like a scan, it has ``progress``
    (partitions done of all, rows and bytes handed to the writers), ``failure()`` and the
    per-partition counters, which write tasks report as they end (:meth:`finished`: the write's
    nine counters and, when the task read a source, the read's). ``live`` (thread mode) gives the
    feeds of tasks still running, for rows while they write."""

    action = "write"  # the progress bar shows a write's tasks

    def __init__(self, total: int, read_source: str, live: Any = None) -> None:
        self.total = total
        self.read_source = read_source  # the name the reads that fed the tasks are reported under
        self.live = live
        self._lock = threading.Lock()
        self._done: dict = {}  # partition -> (write counters, read counters or None)
        self._failure: Optional[BaseException] = None

    def finished(self, index: int, stats: Any) -> None:
        write, read = stats if stats else (None, None)
        with self._lock:
            if write is not None:
                self._done[index] = (write, read)

    def failed(self, error: BaseException) -> None:
        self._failure = error

    def failure(self) -> Optional[BaseException]:
        return self._failure

    @property
    def progress(self) -> tuple:
        with self._lock:
            done = dict(self._done)
        rows = sum(w[1] for w, _ in done.values())
        nbytes = sum(w[3] for w, _ in done.values())
        for index, feed in (self.live() if self.live else []):
            if index not in done:
                r, b = feed.progress
                rows, nbytes = rows + r, nbytes + b
        return len(done), self.total, rows, nbytes

    def partition_stats(self, source: str, mode: str) -> List[PartitionStats]:
        """The read that fed each task (when it read a source), then the writes (to ``source``), by
        partition."""
        with self._lock:
            done = sorted(self._done.items())
        reads = [PartitionStats(self.read_source, p, rows, batches, nbytes, wall * _NS, src * _NS, conv * _NS, wait * _NS, pid,
                                mode, "read")
                 for _, (_, read) in done if read is not None
                 for p, rows, batches, nbytes, wall, src, conv, wait, pid in [read]]
        writes = [PartitionStats(source, p, rows, batches, nbytes, wall * _NS, own * _NS, conv * _NS, wait * _NS, pid,
                                 mode, "write")
                  for _, (w, _) in done for p, rows, batches, nbytes, wall, own, conv, wait, pid in [w]]
        return reads + writes


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
        parts: List[PartitionStats] = []
        for scan, name, mode in scans:
            if isinstance(scan, WriteRun):
                parts += scan.partition_stats(name, mode)
            else:
                parts += [PartitionStats(name, p, rows, batches, nbytes, wall * _NS, src * _NS, conv * _NS, wait * _NS,
                                         pid, mode)
                          for p, rows, batches, nbytes, wall, src, conv, wait, pid in scan.report()]
        return RunReport(parts)
