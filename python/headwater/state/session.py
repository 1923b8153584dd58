"""Streaming aggregation over ``session_window(column, gap)``: sessions per key that grow while
events keep coming within ``gap`` of each other.

Per batch, in DuckDB: the batch's rows become sessions (each row opens [t, t + gap); rows of a key
whose intervals touch — a start at or before the previous end, as Spark merges — are one session,
found with running windows, the "gaps and islands" way), sessions behind the watermark are dropped
as late, then the batch's sessions and the stored sessions of the same keys are merged the same
way. A merged session replaces the stored ones it absorbed; sessions whose end is at or before the
watermark are evicted (``append`` emits them then, once; ``complete`` keeps and emits everything).
``update`` mode is refused, as Spark refuses it.
"""

from __future__ import annotations

import time
from typing import Any, List

from headwater.errors import AnalysisException
from headwater.state.aggregate import SessionWindow, StreamingAggregate, Window, _q
from headwater.state.store import StateStore

__all__ = ["StreamingSessionAggregate"]


class StreamingSessionAggregate(StreamingAggregate):
    """:class:`StreamingAggregate` whose groups hold one :class:`SessionWindow`."""

    def __init__(self, groups: Any, aggs: Any, mode: str, **kw: Any) -> None:
        sessions = [g for g in groups if isinstance(g, SessionWindow)]
        if len(sessions) != 1 or any(isinstance(g, Window) for g in groups):
            raise AnalysisException("Multiple time/session window expressions would result in a cartesian "
                                    "product of rows, therefore they are currently not supported.",
                                    "MULTIPLE_TIME_TRAVEL_SPEC")
        if mode == "update":
            raise AnalysisException(
                "Invalid streaming output mode: update. This output mode is not supported for session window "
                "streaming aggregations on streaming DataFrames/DataSets.",
                "STREAMING_OUTPUT_MODE.UNSUPPORTED_OPERATION")
        super().__init__(groups, aggs, mode, **kw)
        self.session = sessions[0]
        self.others = [g for g in self.keys if g != self.session.alias]

    def _islands(self, source: str, start: str, end: str) -> str:
        """``source`` with ``__sid``: the number of the merged session each interval falls in (per key)."""
        part = f"PARTITION BY {', '.join(_q(k) for k in self.others)} " if self.others else ""
        order = f"ORDER BY {start}, {end}"
        return (f"SELECT *, sum(CASE WHEN __pe IS NULL OR {start} > __pe THEN 1 ELSE 0 END) OVER ({part}{order} "
                f"ROWS UNBOUNDED PRECEDING) AS __sid FROM (SELECT *, max({end}) OVER ({part}{order} ROWS BETWEEN "
                f"UNBOUNDED PRECEDING AND 1 PRECEDING) AS __pe FROM {source})")

    def _select_keys(self, session_expr: str) -> List[str]:
        return [f"{session_expr} AS {_q(k)}" if k == self.session.alias else _q(k) for k in self.keys]

    def _ensure(self, batch: Any) -> None:
        if self.store is not None:
            return
        self._bind(batch.slice(0, 0))
        types = {r[0]: r[1] for r in self.con.execute("DESCRIBE __in").fetchall()}
        for name in [self.session.column] + self.others:
            if name not in types:
                raise AnalysisException(f"A column or function parameter with name `{name}` cannot be resolved.",
                                        "UNRESOLVED_COLUMN.WITH_SUGGESTION")
        self.bufs = self._buffers(types)
        c, gap = _q(self.session.column), self.session.gap_us()
        rows = (f"(SELECT *, {c} AS __s, {c} + to_microseconds({gap}::BIGINT) AS __e FROM __in "
                f"WHERE {c} IS NOT NULL)")
        group = ", ".join([_q(k) for k in self.others] + ["__sid"])
        session = 'struct_pack(start := min(__s), "end" := max(__e))'
        self.partial = (f"SELECT {', '.join(self._select_keys(session))}, "
                        f"{', '.join(f'{e} AS {n}' for n, e, _, _ in self.bufs)} "
                        f"FROM ({self._islands(rows, '__s', '__e')}) GROUP BY {group}")
        self.con.execute(f"CREATE TABLE state AS {self.partial} LIMIT 0")
        self._unbind()
        self.store = StateStore(self.con, self.path, self.keys, self.conf)

    def process(self, batch: Any, watermark_ms: int = 0) -> Any:
        self._ensure(batch)
        started = time.monotonic()
        con = self.con
        self._bind(batch)
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE __part AS {self.partial}")
        finally:
            self._unbind()
        sw = _q(self.session.alias)
        wm_us = int(watermark_ms) * 1000
        self.dropped = 0
        if self.event_time == self.session.column:
            before = con.execute("SELECT count(*) FROM __part").fetchone()[0]
            con.execute(f"DELETE FROM __part WHERE epoch_us({sw}.end) <= {wm_us}")
            self.dropped = before - con.execute("SELECT count(*) FROM __part").fetchone()[0]
        same_key = " AND ".join(f"p.{_q(k)} IS NOT DISTINCT FROM s.{_q(k)}" for k in self.others) or "TRUE"
        con.execute(f"CREATE OR REPLACE TEMP TABLE __cand AS SELECT *, true AS __new FROM __part UNION ALL "
                    f"SELECT *, false AS __new FROM state s WHERE EXISTS (SELECT 1 FROM __part p WHERE {same_key})")
        part = f"PARTITION BY {', '.join([_q(k) for k in self.others] + ['__sid'])}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE __grp AS SELECT *, bool_or(__new) OVER ({part}) AS __touched "
                    f"FROM ({self._islands('__cand', f'{sw}.start', f'{sw}.end')})")
        cols = ", ".join(_q(k) for k in self.keys) + ", " + ", ".join(n for n, _, _, _ in self.bufs)
        # the stored sessions a new one absorbs leave; the merged sessions come in
        con.execute(f"CREATE OR REPLACE TEMP TABLE __old AS SELECT {cols} FROM __grp WHERE __touched AND NOT __new")
        group = ", ".join([_q(k) for k in self.others] + ["__sid"])
        merged = self._select_keys(f"struct_pack(start := min({sw}.start), \"end\" := max({sw}.end))")
        con.execute(f"CREATE OR REPLACE TEMP TABLE __changed AS SELECT {', '.join(merged)}, {self._merged()} "
                    f"FROM __grp WHERE __touched GROUP BY {group}")
        m = self.store.key_match("__old", "state")
        con.execute(f"DELETE FROM state WHERE EXISTS (SELECT 1 FROM __old WHERE {m})")
        con.execute("INSERT INTO state SELECT * FROM __changed")
        # Spark counts as updated every stored session of the keys this batch touched (it rewrites them)
        self.updated = con.execute(f"SELECT count(*) FROM state s WHERE EXISTS (SELECT 1 FROM __part p WHERE "
                                   f"{same_key})").fetchone()[0]
        evicting = time.monotonic()
        if self.evicts:
            con.execute(f"CREATE OR REPLACE TEMP TABLE __evicted AS SELECT * FROM state WHERE epoch_us({sw}.end) <= {wm_us}")
            con.execute(f"DELETE FROM state WHERE epoch_us({sw}.end) <= {wm_us}")
        else:
            con.execute("CREATE OR REPLACE TEMP TABLE __evicted AS SELECT * FROM state LIMIT 0")
        # the state's delta: every row gone (absorbed or evicted) and every merged one
        con.execute("CREATE OR REPLACE TEMP TABLE __removed AS SELECT * FROM __old UNION ALL SELECT * FROM __evicted")
        self.updates_ms = int((evicting - started) * 1000)
        self.removals_ms = int((time.monotonic() - evicting) * 1000)
        self.removed = con.execute("SELECT count(*) FROM __evicted").fetchone()[0]
        out_from = "state" if self.mode == "complete" else "__evicted"
        out = ", ".join([_q(k) for k in self.keys] + self._finals())
        return con.execute(f"SELECT {out} FROM {out_from}").to_arrow_table()

    def metrics(self) -> Any:
        out = super().metrics()
        if out:
            out["operatorName"] = "sessionWindowStateStoreSaveExec"
        return out
