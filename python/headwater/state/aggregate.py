"""Streaming aggregation: ``groupBy(keys | window(...)).agg(count/sum/avg/min/max)`` over micro-batches.

Per batch, in DuckDB: the batch is aggregated to partial buffers per group (count; sum; sum and
count for avg; min; max), groups behind the watermark are dropped (Spark drops them after the
partial aggregate, as ``numRowsDroppedByWatermark`` counts), the buffers are merged into the state
table, groups whose window ended at or before the watermark are evicted, and the output is what the
mode says: ``complete`` the whole table (no eviction), ``update`` the groups this batch changed,
``append`` the groups evicted (final once the watermark passed them). No per-row work in Python.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Union

from headwater import config
from headwater.errors import AnalysisException
from headwater.state.store import StateStore
from headwater.state.watermark import parse_delay_ms

__all__ = ["Agg", "Window", "SessionWindow", "StreamingAggregate", "MODES"]

MODES = ("append", "update", "complete")
_FUNCS = ("count", "sum", "avg", "min", "max")
_ids = itertools.count()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Agg:
    """One aggregate: ``func`` of ``column`` (None: ``count(*)``) named ``alias`` (Spark's default
    name when not given, e.g. ``count``, ``sum(v)``)."""

    func: str
    column: Optional[str] = None
    alias: Optional[str] = None

    def name(self) -> str:
        if self.alias:
            return self.alias
        if self.func == "count" and self.column is None:
            return "count"
        return f"{self.func}({self.column})"


@dataclass(frozen=True)
class Window:
    """``window(column, duration, slide, startTime)`` named ``alias`` (Spark: ``window``)."""

    column: str
    duration: str
    slide: Optional[str] = None
    start: Optional[str] = None
    alias: str = "window"

    def micros(self) -> tuple:
        """(duration, slide, start) in microseconds, checked as Spark checks them (the one home of
        these rules: ``functions.window`` uses it too)."""
        dur = parse_delay_ms(self.duration) * 1000
        slide = parse_delay_ms(self.slide) * 1000 if self.slide is not None else dur
        start = parse_delay_ms(self.start) * 1000 if self.start is not None else 0
        if dur <= 0:
            raise AnalysisException(f"The window duration ({self.duration}) must be greater than 0.",
                                    "DATATYPE_MISMATCH.VALUE_OUT_OF_RANGE")
        if slide <= 0:
            raise AnalysisException(f"The slide duration ({self.slide}) must be greater than 0.",
                                    "DATATYPE_MISMATCH.VALUE_OUT_OF_RANGE")
        if slide > dur:
            raise AnalysisException(f"The slide duration ({self.slide}) must be less than or equal to the "
                                    f"windowDuration ({self.duration}).",
                                    "DATATYPE_MISMATCH.PARAMETER_CONSTRAINT_VIOLATION")
        if not -slide < start < slide:
            raise AnalysisException(f"The absolute value of start time ({self.start}) must be less than the "
                                    f"slideDuration ({self.slide or self.duration}).",
                                    "DATATYPE_MISMATCH.PARAMETER_CONSTRAINT_VIOLATION")
        return dur, slide, start


@dataclass(frozen=True)
class SessionWindow:
    """``session_window(column, gap)`` named ``alias`` (Spark: ``session_window``): an event opens
    [t, t + gap); sessions of a key that touch (start <= the previous end) merge."""

    column: str
    gap: str
    alias: str = "session_window"

    def gap_us(self) -> int:
        gap = parse_delay_ms(self.gap) * 1000
        if gap <= 0:
            raise AnalysisException(f"The session window gap ({self.gap}) must be greater than 0.",
                                    "DATATYPE_MISMATCH.VALUE_OUT_OF_RANGE")
        return gap


Group = Union[str, Window, SessionWindow]


class StreamingAggregate:
    """The state operator of one streaming aggregation.

    ``groups`` are column names or one :class:`Window`, in the order of ``groupBy``; ``event_time``
    is the watermarked column (``withWatermark``), if any; ``checkpoint`` the query's checkpoint
    directory (state goes to ``<checkpoint>/state/<operator_id>/0``)."""

    def __init__(self, groups: Sequence[Group], aggs: Sequence[Agg], mode: str, *, event_time: Optional[str] = None,
                 checkpoint: Optional[str] = None, operator_id: int = 0, conf: Any = None,
                 derived: Optional[Dict[str, str]] = None) -> None:
        import duckdb  # optional dependency: the state engine

        if mode not in MODES:
            raise AnalysisException(f"Unknown output mode {mode}.", "STREAMING_OUTPUT_MODE.INVALID")
        for a in aggs:
            if a.func not in _FUNCS:
                raise AnalysisException(f"Streaming aggregation supports {', '.join(_FUNCS)}, not {a.func}.",
                                        "UNSUPPORTED_FEATURE")
        self.groups = list(groups)
        self.aggs = list(aggs)
        self.mode = mode
        self.event_time = event_time
        self.windows = [g for g in self.groups if isinstance(g, Window)]
        if len(self.windows) > 1:
            raise AnalysisException("Multiple time/session window expressions would result in a cartesian "
                                    "product of rows, therefore they are currently not supported.",
                                    "MULTIPLE_TIME_TRAVEL_SPEC")
        self.keys = [g.alias if isinstance(g, (Window, SessionWindow)) else g for g in self.groups]
        self.evicts = event_time is not None and mode != "complete" and self._time_key() is not None
        if mode == "append" and not (event_time is not None and self._time_key() is not None):
            raise AnalysisException(
                "Invalid streaming output mode: append. This output mode is not supported for streaming "
                "aggregations without watermark on streaming DataFrames/DataSets.",
                "STREAMING_OUTPUT_MODE.UNSUPPORTED_OPERATION")
        self.con = duckdb.connect(config={"threads": config.get(conf, "headwater.streaming.stateThreads")})
        # key columns computed from the input (name -> DuckDB SQL over its columns), e.g. "(value % 100)":
        # a view over the batch, so the query's stateless part needs no DuckDB pass of its own
        self.derived = dict(derived or {})
        self._view = False
        self.path = os.path.join(checkpoint, "state", str(operator_id), "0") if checkpoint else None
        self.conf = conf
        self.store: Optional[StateStore] = None
        self.loaded: Optional[int] = None
        self.updated = self.removed = self.dropped = 0
        self.updates_ms = self.removals_ms = 0  # the last batch's times (progress report)

    # -- the group that carries event time: the window over the watermarked column, or that column
    def _time_key(self) -> Optional[str]:
        for w in self.windows + [g for g in self.groups if isinstance(g, SessionWindow)]:
            if w.column == self.event_time:
                return f"{_q(w.alias)}.end"
        return _q(self.event_time) if self.event_time in self.keys else None

    def _buffers(self, types: Dict[str, str]) -> List[tuple]:
        """(buffer name, partial expression over rows, merge function) per buffer."""
        out = []
        for i, a in enumerate(self.aggs):
            c = _q(a.column) if a.column else None
            if c and a.column not in types:
                raise AnalysisException(f"A column or function parameter with name `{a.column}` cannot be resolved.",
                                        "UNRESOLVED_COLUMN.WITH_SUGGESTION")
            if a.func == "count":
                out.append((f"__b{i}", f"count({c or '*'})", "sum", "BIGINT"))
            elif a.func == "sum":
                t = types[a.column]
                cast = "DOUBLE" if any(x in t for x in ("FLOAT", "DOUBLE", "DECIMAL")) else "BIGINT"
                out.append((f"__b{i}", f"CAST(sum({c}) AS {cast})", "sum", cast))
            elif a.func == "avg":
                out.append((f"__b{i}", f"sum(CAST({c} AS DOUBLE))", "sum", "DOUBLE"))
                out.append((f"__c{i}", f"count({c})", "sum", "BIGINT"))
            else:
                out.append((f"__b{i}", f"{a.func}({c})", a.func, types[a.column]))
        return out

    def _bind(self, batch: Any) -> None:
        """The batch as ``__in`` (with the derived key columns)."""
        if not self.derived:
            self.con.register("__in", batch)
            return
        self.con.register("__raw", batch)
        if not self._view:
            cols = ", ".join(f"{sql} AS {_q(name)}" for name, sql in self.derived.items())
            self.con.execute(f"CREATE OR REPLACE TEMP VIEW __in AS SELECT *, {cols} FROM __raw")
            self._view = True

    def _unbind(self) -> None:
        self.con.unregister("__raw" if self.derived else "__in")

    def _merged(self) -> str:
        """The buffers of several partial rows of one group, merged (a SELECT list)."""
        return ", ".join((f"CAST(sum({n}) AS {t}) AS {n}" if m == "sum" else f"{m}({n}) AS {n}")
                         for n, _, m, t in self.bufs)

    def _finals(self) -> List[str]:
        out = []
        for i, a in enumerate(self.aggs):
            if a.func == "avg":
                out.append(f"__b{i} / NULLIF(__c{i}, 0) AS {_q(a.name())}")
            else:
                out.append(f"__b{i} AS {_q(a.name())}")
        return out

    def _group_exprs(self) -> List[str]:
        """The groups over ``__in`` (windows expanded by a join with their offsets ``__k``)."""
        out = []
        for g in self.groups:
            if isinstance(g, Window):
                dur, _, _ = g.micros()
                c = _q(g.column)
                out.append(f"struct_pack(start := {c} - to_microseconds(__off), \"end\" := {c} - to_microseconds(__off) "
                           f"+ to_microseconds({dur}::BIGINT)) AS {_q(g.alias)}")
            else:
                out.append(_q(g))
        return out

    def _source(self) -> str:
        """``__in`` with one row per (row, window it falls in): ``__off`` is ts - window start."""
        if not self.windows:
            return "__in"
        w = self.windows[0]
        dur, slide, start = w.micros()
        n = -(-dur // slide)
        c = _q(w.column)
        if n == 1:  # tumbling: one window per row, no join
            return (f"(SELECT __in.*, (((epoch_us({c}) - {start}) % {slide}) + {slide}) % {slide} AS __off "
                    f"FROM __in WHERE {c} IS NOT NULL) AS __x")
        return (f"(SELECT __in.*, (((epoch_us({c}) - {start}) % {slide}) + {slide}) % {slide} + __k * {slide} AS __off "
                f"FROM __in, range({n}) AS __r(__k) WHERE {c} IS NOT NULL) AS __x "
                f"WHERE __off < {dur}")

    def _ensure(self, batch: Any) -> None:
        if self.store is not None:
            return
        self._bind(batch.slice(0, 0))
        types = {r[0]: r[1] for r in self.con.execute("DESCRIBE __in").fetchall()}
        for k in self.groups:
            name = k.column if isinstance(k, (Window, SessionWindow)) else k
            if name not in types:
                raise AnalysisException(f"A column or function parameter with name `{name}` cannot be resolved.",
                                        "UNRESOLVED_COLUMN.WITH_SUGGESTION")
        self.bufs = self._buffers(types)
        bufs = [f"{e} AS {n}" for n, e, _, _ in self.bufs]
        if self.windows:
            # group on the window's start as an integer (cheap), build the struct per group after:
            # start = the group's earliest time minus its offset into the window
            w = self.windows[0]
            dur = w.micros()[0]
            c = _q(w.column)
            inner = [("epoch_us(" + c + ") - __off AS __ws") if isinstance(g, Window) else _q(g) for g in self.groups]
            outer = [(f"struct_pack(start := __t - to_microseconds(epoch_us(__t) - __ws), \"end\" := __t - "
                      f"to_microseconds(epoch_us(__t) - __ws) + to_microseconds({dur}::BIGINT)) AS {_q(g.alias)}")
                     if isinstance(g, Window) else _q(g) for g in self.groups]
            self.partial = (f"SELECT {', '.join(outer + [n for n, _, _, _ in self.bufs])} FROM ("
                            f"SELECT {', '.join(inner + bufs)}, min({c}) AS __t FROM {self._source()} "
                            f"GROUP BY {', '.join(str(i + 1) for i in range(len(inner)))})")
        else:
            self.partial = (f"SELECT {', '.join(self._group_exprs() + bufs)} "
                            f"FROM {self._source()}" + (f" GROUP BY ALL" if self.groups else ""))
        self.con.execute(f"CREATE TABLE state AS {self.partial} LIMIT 0")
        self._unbind()
        self.store = StateStore(self.con, self.path, self.keys, self.conf)

    def load(self, version: Optional[int], schema_batch: Any) -> None:
        """Restore the state committed as ``version`` (a restart); ``schema_batch``: an (empty) batch
        of the input's schema."""
        self._ensure(schema_batch)
        self.store.load(version)
        self.loaded = version

    def process(self, batch: Any, watermark_ms: int = 0) -> Any:
        """Fold one micro-batch (a pyarrow Table) into the state; the rows to emit (a pyarrow Table)."""
        self._ensure(batch)
        started = time.monotonic()
        con = self.con
        self._bind(batch)
        try:  # (DuckDB returns the row count of CREATE TABLE AS, INSERT and DELETE: no count queries)
            parts = con.execute(f"CREATE OR REPLACE TEMP TABLE __part AS {self.partial}").fetchone()[0]
        finally:
            self._unbind()
        tk = self._time_key()
        wm_us = int(watermark_ms) * 1000
        self.dropped = 0
        if self.event_time is not None and tk is not None:
            self.dropped = con.execute(f"DELETE FROM __part WHERE epoch_us({tk}) <= {wm_us}").fetchone()[0]
            parts -= self.dropped
        keys = ", ".join(_q(k) for k in self.keys)
        merged = self._merged()
        sel = f"{keys}, {merged}" if keys else merged
        grp = f" GROUP BY {keys}" if keys else ""
        # groups not in this batch stay as they are; the ones in it are merged and replaced
        m = self.store.key_match("__part", "state")
        self.updated = con.execute(f"CREATE OR REPLACE TEMP TABLE __changed AS SELECT {sel} FROM "
                                   f"(SELECT * FROM state WHERE EXISTS (SELECT 1 FROM __part WHERE {m}) "
                                   f"UNION ALL SELECT * FROM __part){grp}").fetchone()[0]
        if not self.keys and parts == 0:  # a global aggregate has one row, even before any input
            con.execute("DELETE FROM __changed")
            self.updated = 0
        m2 = self.store.key_match("__changed", "state")
        con.execute(f"DELETE FROM state WHERE EXISTS (SELECT 1 FROM __changed WHERE {m2})")
        con.execute("INSERT INTO state SELECT * FROM __changed")
        evicting = time.monotonic()
        self.removed = 0
        if self.evicts:
            self.removed = con.execute(f"CREATE OR REPLACE TEMP TABLE __removed AS SELECT * FROM state "
                                       f"WHERE epoch_us({tk}) <= {wm_us}").fetchone()[0]
            if self.removed:
                con.execute(f"DELETE FROM state WHERE epoch_us({tk}) <= {wm_us}")
        else:
            con.execute("CREATE OR REPLACE TEMP TABLE __removed AS SELECT * FROM state LIMIT 0")
        self.updates_ms = int((evicting - started) * 1000)
        self.removals_ms = int((time.monotonic() - evicting) * 1000)
        out_from = {"complete": "state", "update": "__changed", "append": "__removed"}[self.mode]
        if self.mode == "complete" and not self.keys and con.execute("SELECT count(*) FROM state").fetchone()[0] == 0:
            # Spark's global aggregate over no rows yet: one row (count 0, others null)
            return con.execute("SELECT " + ", ".join(
                (f"0::BIGINT AS {_q(a.name())}" if a.func == "count" else f"NULL AS {_q(a.name())}")
                for a in self.aggs)).to_arrow_table()
        cols = ", ".join([_q(k) for k in self.keys] + self._finals())
        return con.execute(f"SELECT {cols} FROM {out_from}").to_arrow_table()

    def commit(self, batch_id: int) -> None:
        """Write the state of ``batch_id`` (part of the batch's commit)."""
        self.store.commit(batch_id, "__changed", "__removed")

    def metrics(self) -> Dict[str, Any]:
        """This operator's entry of ``stateOperators`` in the progress report."""
        if self.store is None:
            return {}
        return self.store.metrics("stateStoreSave", self.updated, self.removed, self.dropped,
                                  self.updates_ms, self.removals_ms)

    def close(self) -> None:
        self.con.close()
