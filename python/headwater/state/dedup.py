"""Streaming deduplication: ``dropDuplicates(cols)`` and ``dropDuplicatesWithinWatermark(cols)``.

The state is the set of keys seen (DuckDB table); a batch emits, per key not in the state, its first
row in the batch, and adds the key. With a watermark, rows at or behind it are dropped first (late);
keys whose event time is at or behind it leave the state when the event-time column is one of the
keys (Spark: otherwise the state is kept forever). ``within_watermark``: a key is remembered until
its first event time plus the watermark's delay has passed the watermark.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, Optional, Sequence

from headwater import config
from headwater.errors import AnalysisException
from headwater.state.store import StateStore

__all__ = ["StreamingDeduplicate"]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class StreamingDeduplicate:
    """The state operator of one streaming deduplication over ``keys`` (None: all columns)."""

    def __init__(self, keys: Optional[Sequence[str]], *, event_time: Optional[str] = None, delay_ms: int = 0,
                 within_watermark: bool = False, checkpoint: Optional[str] = None, operator_id: int = 0,
                 conf: Any = None) -> None:
        import duckdb  # optional dependency: the state engine

        if within_watermark and event_time is None:
            raise AnalysisException("dropDuplicatesWithinWatermark is not supported on a streaming DataFrame "
                                    "without a watermark.", "UNSUPPORTED_FEATURE")
        self.given = list(keys) if keys is not None else None
        self.event_time = event_time
        self.delay_ms = int(delay_ms)
        self.within = within_watermark
        self.con = duckdb.connect(config={"threads": config.get(conf, "headwater.streaming.stateThreads")})
        self.path = os.path.join(checkpoint, "state", str(operator_id), "0") if checkpoint else None
        self.conf = conf
        self.store: Optional[StateStore] = None
        self.updated = self.removed = self.dropped = 0
        self.updates_ms = self.removals_ms = 0  # the last batch's times (progress report)

    @property
    def evicts(self) -> bool:
        """State leaves by event time (within the watermark, or the event time is a key)."""
        return self.within or (self.event_time is not None and (self.given is None or self.event_time in self.given))

    def _ensure(self, batch: Any) -> None:
        if self.store is not None:
            return
        names = list(batch.schema.names)
        self.keys = self.given if self.given is not None else names
        for k in self.keys + ([self.event_time] if self.event_time else []):
            if k not in names:
                raise AnalysisException(f"Cannot resolve column name \"{k}\" among ({', '.join(names)}).",
                                        "UNRESOLVED_COLUMN_AMONG_FIELD_NAMES")
        self.con.register("__in", batch.slice(0, 0))
        extra = f", epoch_ms({_q(self.event_time)}) + {self.delay_ms} AS __exp" if self.within else ""
        self.con.execute(f"CREATE TABLE state AS SELECT {', '.join(_q(k) for k in self.keys)}{extra} FROM __in LIMIT 0")
        self.con.unregister("__in")
        self.store = StateStore(self.con, self.path, self.keys, self.conf)

    def load(self, version: Optional[int], schema_batch: Any) -> None:
        self._ensure(schema_batch)
        self.store.load(version)

    def process(self, batch: Any, watermark_ms: int = 0) -> Any:
        import numpy  # optional dependency (with pyarrow): the rows' positions, so "first" is the batch's order
        import pyarrow as pa

        self._ensure(batch)
        con = self.con
        started = time.monotonic()
        keys = ", ".join(_q(k) for k in self.keys)
        pos = batch.append_column("__pos", pa.array(numpy.arange(batch.num_rows, dtype=numpy.int64)))
        con.register("__in", pos)
        try:
            late = f"epoch_ms({_q(self.event_time)}) <= {int(watermark_ms)}" if self.event_time else "FALSE"
            con.execute(f"CREATE OR REPLACE TEMP TABLE __rows AS SELECT * FROM __in WHERE NOT coalesce({late}, FALSE)")
        finally:
            con.unregister("__in")
        self.dropped = batch.num_rows - con.execute("SELECT count(*) FROM __rows").fetchone()[0]
        m = self.store.key_match("__rows", "state")
        con.execute(f"CREATE OR REPLACE TEMP TABLE __new AS SELECT * FROM __rows WHERE NOT EXISTS "
                    f"(SELECT 1 FROM state WHERE {m}) QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY __pos) = 1 "
                    f"ORDER BY __pos")
        extra = f", epoch_ms({_q(self.event_time)}) + {self.delay_ms} AS __exp" if self.within else ""
        con.execute(f"CREATE OR REPLACE TEMP TABLE __changed AS SELECT {keys}{extra} FROM __new")
        con.execute("INSERT INTO state SELECT * FROM __changed")
        evict = None
        if self.within:
            evict = f"__exp <= {int(watermark_ms)}"
        elif self.event_time is not None and self.event_time in self.keys:
            evict = f"epoch_ms({_q(self.event_time)}) <= {int(watermark_ms)}"
        evicting = time.monotonic()
        if evict:
            con.execute(f"CREATE OR REPLACE TEMP TABLE __removed AS SELECT * FROM state WHERE {evict}")
            con.execute(f"DELETE FROM state WHERE {evict}")
        else:
            con.execute("CREATE OR REPLACE TEMP TABLE __removed AS SELECT * FROM state LIMIT 0")
        self.updates_ms = int((evicting - started) * 1000)
        self.removals_ms = int((time.monotonic() - evicting) * 1000)
        self.updated = con.execute("SELECT count(*) FROM __changed").fetchone()[0]
        self.removed = con.execute("SELECT count(*) FROM __removed").fetchone()[0]
        # the input's own schema (DuckDB would name the time zone its own way)
        return con.execute("SELECT * EXCLUDE (__pos) FROM __new ORDER BY __pos").to_arrow_table().cast(batch.schema)

    def commit(self, batch_id: int) -> None:
        self.store.commit(batch_id, "__changed", "__removed")

    def metrics(self) -> Dict[str, Any]:
        """This operator's entry of ``stateOperators`` in the progress report."""
        if self.store is None:
            return {}
        return self.store.metrics("dedupeWithinWatermark" if self.within else "dedupe", self.updated, self.removed, self.dropped,
                                  self.updates_ms, self.removals_ms)

    def close(self) -> None:
        self.con.close()
