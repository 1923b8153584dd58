"""One operator's state: a DuckDB table, checkpointed as versions (one per committed batch).

Version N is written when batch N commits: ``N.delta.parquet`` holds the rows that changed in the
batch (``__del`` marks a removed key), and every ``minDeltasForSnapshot`` versions the whole table
is written as ``N.snapshot.parquet``. Loading version N reads the newest snapshot at or before N and
replays the deltas after it, so a restart resumes exactly at the last committed batch. Files are
written to a temporary name, flushed to disk and renamed (then the folder is flushed), so a kill or a
power loss leaves either the whole file or none, and a version is on disk before ``commits/N`` names it.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any, List, Optional, Sequence, Tuple

from headwater import config
from headwater.durable import fsync_dir, fsync_file
from headwater.errors import AnalysisException

__all__ = ["StateStore"]

_FILE = re.compile(r"^(\d+)\.(delta|snapshot)\.parquet$")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class StateStore:
    """The table ``state`` (key columns, then value columns) in ``con``, versioned under ``path``
    (None: not checkpointed)."""

    def __init__(self, con: Any, path: Optional[str], keys: Sequence[str], conf: Any = None) -> None:
        self.con = con
        self.path = path
        self.keys = list(keys)
        self.retain = config.get(conf, "spark.sql.streaming.minBatchesToRetain")
        self.snapshot_every = max(1, config.get(conf, "spark.sql.streaming.stateStore.minDeltasForSnapshot"))
        self._width: Optional[int] = None  # bytes per state row (memory_bytes)
        self.commit_ms = 0  # the last commit's time (commitTimeMs)
        if path:
            os.makedirs(path, exist_ok=True)

    # -- the key match, null keys equal (as Spark's grouping) --------------------------------------
    def key_match(self, left: str, right: str) -> str:
        if not self.keys:
            return "TRUE"
        return " AND ".join(f"{left}.{_q(k)} IS NOT DISTINCT FROM {right}.{_q(k)}" for k in self.keys)

    def versions(self) -> List[Tuple[int, str]]:
        if not self.path or not os.path.isdir(self.path):
            return []
        out = []
        for f in os.listdir(self.path):
            m = _FILE.match(f)
            if m:
                out.append((int(m.group(1)), m.group(2)))
        return sorted(out)

    def load(self, version: Optional[int]) -> None:
        """Fill ``state`` (already created, empty) with the state as of ``version``."""
        if version is None or version < 0 or not self.path:
            return
        have = self.versions()
        snaps = [v for v, kind in have if kind == "snapshot" and v <= version]
        start = max(snaps) if snaps else None
        deltas = {v for v, kind in have if kind == "delta"}
        first = (start + 1) if start is not None else 0
        missing = [v for v in range(first, version + 1) if v not in deltas]
        if missing:
            raise AnalysisException(
                f"The state of {self.path} cannot be restored to version {version}: files for versions "
                f"{missing} are missing.", "CANNOT_LOAD_STATE_STORE.UNCATEGORIZED")
        if start is not None:
            self.con.execute(f"INSERT INTO state SELECT * FROM read_parquet({_lit(self._file(start, 'snapshot'))})")
        for v in range(first, version + 1):
            if v in deltas:
                self._apply(self._file(v, "delta"))

    def _apply(self, file: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE __delta AS SELECT * FROM read_parquet({_lit(file)})")
        self.con.execute(f"DELETE FROM state WHERE EXISTS (SELECT 1 FROM __delta d WHERE {self.key_match('d', 'state')})")
        self.con.execute("INSERT INTO state SELECT * EXCLUDE (__del) FROM __delta WHERE NOT __del")
        self.con.execute("DROP TABLE __delta")

    def commit(self, version: int, changed: str, removed: str) -> None:
        """Write version ``version``: ``changed`` and ``removed`` name tables (or views) shaped as
        ``state``: the rows upserted and the rows dropped by this batch."""
        if not self.path:
            return
        started = time.monotonic()
        self._copy(f"SELECT *, false AS __del FROM {changed} UNION ALL SELECT *, true AS __del FROM {removed}",
                   self._file(version, "delta"))
        if version % self.snapshot_every == 0 and version > 0:
            self._copy("SELECT * FROM state", self._file(version, "snapshot"))
        self._cleanup(version)
        fsync_dir(self.path)
        self.commit_ms = int((time.monotonic() - started) * 1000)

    def _copy(self, query: str, file: str) -> None:
        tmp = file + ".tmp"
        self.con.execute(f"COPY ({query}) TO {_lit(tmp)} (FORMAT parquet)")
        fsync_file(tmp)
        os.replace(tmp, file)

    def _cleanup(self, version: int) -> None:
        """Keep ``minBatchesToRetain`` versions recoverable: drop files older than the newest
        snapshot at or before the oldest version to keep."""
        oldest = version - self.retain + 1
        have = self.versions()
        snaps = [v for v, kind in have if kind == "snapshot" and v <= oldest]
        if not snaps:
            return
        base = max(snaps)
        for v, kind in have:
            if v < base or (v == base and kind == "delta"):
                os.remove(self._file(v, kind))

    def _file(self, version: int, kind: str) -> str:
        return os.path.join(self.path or "", f"{version}.{kind}.parquet")

    def metrics(self, name: str, updated: int, removed: int, dropped: int, updates_ms: int, removals_ms: int) -> dict:
        """The operator's entry of the progress report's ``stateOperators``, keys as Spark 4.3's (its
        ``customMetrics`` are its state store provider's: none here). One instance: DuckDB holds the
        state in one table, where Spark has one store per shuffle partition."""
        return {
            "operatorName": name, "numRowsTotal": self.rows(), "numRowsUpdated": updated,
            "allUpdatesTimeMs": updates_ms, "numRowsRemoved": removed, "allRemovalsTimeMs": removals_ms,
            "commitTimeMs": self.commit_ms, "memoryUsedBytes": self.memory_bytes(),
            "numRowsDroppedByWatermark": dropped, "numShufflePartitions": 1, "numStateStoreInstances": 1,
            "customMetrics": {},
        }

    def rows(self) -> int:
        return self.con.execute("SELECT count(*) FROM state").fetchone()[0]

    def memory_bytes(self) -> int:
        """The state's size without reading it: rows (DuckDB keeps the count) times the row's width in
        DuckDB's vectors (fixed-width values, 16-byte string headers; long strings' heap not counted).
        It follows the live keys, not the rows seen."""
        if self._width is None:
            types = [r[1] for r in self.con.execute("DESCRIBE state").fetchall()]
            self._width = sum(_width(t) for t in types)
        return self.rows() * self._width


_FIXED = {"BOOLEAN": 1, "TINYINT": 1, "SMALLINT": 2, "INTEGER": 4, "BIGINT": 8, "HUGEINT": 16, "FLOAT": 4,
          "DOUBLE": 8, "DATE": 4, "TIME": 8, "TIMESTAMP": 8, "TIMESTAMP WITH TIME ZONE": 8, "INTERVAL": 16,
          "UUID": 16}


def _width(type_name: str) -> int:
    """Bytes of one value of a DuckDB type in a vector (a struct: its fields'), plus its validity bit."""
    t = type_name.upper()
    if t.startswith("STRUCT("):
        inner = t[len("STRUCT("):-1]
        depth, field, total = 0, "", 0
        for ch in inner + ",":
            if ch == "," and depth == 0:
                total += _width(field.strip().split(" ", 1)[1])
                field = ""
                continue
            depth += ch == "("
            depth -= ch == ")"
            field += ch
        return total
    if t.startswith("DECIMAL"):
        return 16
    return _FIXED.get(t, 16) + 1  # 16: a string / blob / list header
