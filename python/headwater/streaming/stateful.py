"""The stateful part of a streaming query: ``withWatermark``, ``groupBy(cols | window(...) | session_window(...)).agg(...)``,
``dropDuplicates`` / ``dropDuplicatesWithinWatermark``, the checks Spark makes at ``start()``, and
:class:`StatefulRun`, which the micro-batch loop calls once per batch.

A streaming DataFrame's tree (streaming/readwriter.py) may hold one ``("stateful", child, spec)``
node: the stateless part below it runs per batch as a batch DataFrame (DuckDB); its Arrow goes
through the state operator of ``headwater.state``, whose state is committed
(``<checkpoint>/state/0/0``) before the batch's ``commits/N``; the calls above it (a ``select``, a
``sort`` in complete mode) run on the operator's output. The watermark is Spark's: batch N runs with
the one computed after batch N-1, written as ``batchWatermarkMs`` in ``offsets/N`` and
``nextBatchWatermarkMs`` in ``commits/N``, restored from them on a restart.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from headwater import config
from headwater.errors import AnalysisException
from headwater.query.expressions import quote_ident
from headwater.state import (Agg, SessionWindow, StreamingAggregate, StreamingDeduplicate, StreamingSessionAggregate,
                             Watermark, Window, parse_delay_ms)

__all__ = ["STATIC_LEFT_JOIN", "StreamingGroupedData", "StatefulRun", "aggs_of", "check_supported", "join_kind", "make_operator",
           "tree_nodes", "watermark_of"]

_AGGS = ("count", "sum", "avg", "min", "max")
_LEGACY = "_LEGACY_ERROR_TEMP_3102"


def _name(c: Any) -> str:
    if isinstance(c, str):
        return c
    if getattr(c, "_kind", None) == "ref":
        return c._name
    raise AnalysisException(f"Streaming aggregation supports columns here, not {c!r}.", "UNSUPPORTED_FEATURE")


def aggs_of(exprs: Tuple[Any, ...]) -> List[Agg]:
    """Agg specs from PySpark-style arguments: Columns ``count("*")``, ``sum("v").alias(...)`` or a dict."""
    out = []
    if len(exprs) == 1 and isinstance(exprs[0], dict):
        for col, fn in exprs[0].items():
            fn = {"mean": "avg"}.get(fn, fn)
            out.append(Agg("count") if (fn == "count" and col == "*") else Agg(fn, col, f"{fn}({col})"))
        return out
    for e in exprs:
        alias = None
        if getattr(e, "_kind", None) == "alias":
            alias, e = e._name, e._args[0]
        if getattr(e, "_kind", None) != "agg" or e._name not in _AGGS:
            raise AnalysisException(f"Streaming aggregation supports {', '.join(_AGGS)} here, not {e!r}.",
                                    "UNSUPPORTED_FEATURE")
        if e._name == "count" and not e._args:
            out.append(Agg("count", None, alias or "count"))
        else:
            out.append(Agg(e._name, _name(e._args[0]), alias))
    return out


def _window_of(c: Any) -> Any:
    """``functions.window(...)`` / ``session_window(...)`` (maybe aliased) as the operator's
    :class:`Window` / :class:`SessionWindow`, else None."""
    alias = None
    if getattr(c, "_kind", None) == "alias":
        alias, c = c._name, c._args[0]
    value = getattr(c, "_value", None)
    if getattr(c, "_kind", None) != "func" or not isinstance(value, tuple) or c._name not in ("window",
                                                                                                  "session_window"):
        return None
    if value[0] == "session_window":
        return SessionWindow(_name(c._args[0]), value[1], alias or "session_window")
    _, duration, slide, start = value[:4]
    return Window(_name(c._args[0]), duration, slide, start, alias or "window")


class StreamingGroupedData:
    """``streamingDf.groupBy(...)``: ``count()`` / ``agg(...)`` / ``sum`` ... give the stateful DataFrame.

    Keys are names, Columns, or ``window(...)``; an expression key (``col("value") % 100``) is
    computed by the stateless part first, as a column of Spark's name for it (``(value % 100)``)."""

    def __init__(self, df: Any, cols: List[Any]) -> None:
        groups: List[Any] = []
        derived: Dict[str, str] = {}
        for c in cols:
            w = _window_of(c)
            if w is not None:
                groups.append(w)
            elif isinstance(c, str) or getattr(c, "_kind", None) == "ref":
                groups.append(_name(c))
            else:  # computed by the operator's DuckDB pass over the batch (one pass, not two)
                name = c._name if c._kind == "alias" else c._spark_name()
                df.withColumn(name, c)  # Spark's analysis errors, at the call
                derived[name] = c._sql(lambda ref: quote_ident(ref._name))
                groups.append(name)
        self._df, self._keys, self._derived = df, groups, derived

    def _agg(self, aggs: List[Agg]) -> Any:
        return self._df._stateful(("aggregate", self._keys, aggs, self._derived))

    def agg(self, *exprs: Any) -> Any:
        return self._agg(aggs_of(exprs))

    def count(self) -> Any:
        return self._agg([Agg("count")])

    def _simple(self, fn: str, cols: Tuple[str, ...]) -> Any:
        return self._agg([Agg(fn, c) for c in cols])

    def sum(self, *cols: str) -> Any:
        return self._simple("sum", cols)

    def avg(self, *cols: str) -> Any:
        return self._simple("avg", cols)

    mean = avg

    def min(self, *cols: str) -> Any:
        return self._simple("min", cols)

    def max(self, *cols: str) -> Any:
        return self._simple("max", cols)


# ---- the tree: ("watermark", child, column, delay), ("stateful", child, spec), ("op", child, name, args,
#      kwargs), ("union", left, right), ("streamjoin", left, right, how), or a leaf


def tree_nodes(node: Any) -> List[Any]:
    """Every tuple node of the tree, parents before children."""
    if not isinstance(node, tuple):
        return []
    out = [node]
    if node[0] in ("union", "streamjoin"):
        return out + tree_nodes(node[1]) + tree_nodes(node[2])
    return out + tree_nodes(node[1])


def watermark_of(node: Any) -> Optional[Tuple[str, str]]:
    """(column, delay) of the ``withWatermark`` below ``node``, if any (several: Spark's default
    policy ``min`` is not modelled; the nearest one counts)."""
    for n in tree_nodes(node):
        if n[0] == "watermark":
            return n[2], n[3]
    return None


def make_operator(spec: Tuple, mode: str, checkpoint: Optional[str], conf: Any,
                  watermark: Optional[Tuple[str, str]] = None) -> Any:
    """The state operator of ``spec``; refuses what Spark refuses at start()."""
    event_time = watermark[0] if watermark else None
    if spec[0] == "aggregate":
        cls = StreamingSessionAggregate if any(isinstance(g, SessionWindow) for g in spec[1]) else StreamingAggregate
        return cls(spec[1], spec[2], mode, event_time=event_time, checkpoint=checkpoint, conf=conf, derived=spec[3])
    if mode == "complete":
        raise AnalysisException(
            "Invalid streaming output mode: complete. This output mode is not supported for no streaming "
            "aggregations on streaming DataFrames/DataSets.", "STREAMING_OUTPUT_MODE.UNSUPPORTED_OPERATION")
    return StreamingDeduplicate(spec[1], event_time=event_time, delay_ms=parse_delay_ms(watermark[1]) if watermark
                                else 0, within_watermark=spec[2], checkpoint=checkpoint, conf=conf)


def check_supported(node: Any, mode: str) -> None:
    """What Spark 4.3's UnsupportedOperationChecker refuses at ``start()``, with its error classes and
    messages (docs/spark-stateful-semantics.md records them)."""
    nodes = tree_nodes(node)
    stateful = [n for n in nodes if n[0] == "stateful"]
    aggregated = any(n[2][0] == "aggregate" for n in stateful)
    for n in nodes:
        if n[0] == "streamjoin":
            how = n[3]
            if how == "FULL":
                raise AnalysisException(
                    "Stream-stream FullOuter join between two streaming DataFrame/Datasets is not supported "
                    "without a watermark in the join keys, or a watermark on the nullable side and an appropriate "
                    "range condition;", _LEGACY)
            raise AnalysisException(f"A stream-stream {how.title()} join is not supported by headwater (Spark runs "
                                    "it with join state); join a stream with a batch DataFrame instead.",
                                    "HW_STREAM_STREAM_JOIN")
        if n[0] == "op" and n[2] in ("sort", "orderBy"):
            if not (mode == "complete" and _below(n, "stateful", lambda s: s[2][0] == "aggregate")):
                raise AnalysisException(
                    "Sorting is not supported on streaming DataFrames/Datasets, unless it is on aggregated "
                    "DataFrame/Dataset in Complete output mode;", _LEGACY)
        if n[0] == "op" and n[2] == STATIC_LEFT_JOIN:
            kind = str(n[3][2] or "inner").lower().replace("_", "").replace(" ", "")
            spark_kind = {"left": "LeftOuter", "leftouter": "LeftOuter", "outer": "FullOuter", "full": "FullOuter",
                          "fullouter": "FullOuter", "semi": "LeftSemi", "leftsemi": "LeftSemi", "anti": "LeftAnti",
                          "leftanti": "LeftAnti"}.get(kind)
            if spark_kind is not None:  # the static side would need rows no later batch can take back
                raise AnalysisException(
                    f"{spark_kind} join with a streaming DataFrame/Dataset on the right and a static "
                    "DataFrame/Dataset on the left is not supported;", _LEGACY)
        if n[0] == "op" and n[2] == "join":
            how = join_kind(n[3][2] if len(n[3]) > 2 else n[4].get("how"))
            if how == "RIGHT":
                raise AnalysisException("RightOuter join with a streaming DataFrame/Dataset on the left and a static "
                                        "DataFrame/DataSet on the right not supported;", _LEGACY)
            if how == "FULL":
                raise AnalysisException("FullOuter joins with streaming DataFrames/Datasets on the left and a static "
                                        "DataFrame/Dataset on the right is not supported;", _LEGACY)
    if mode == "complete" and not aggregated:
        raise AnalysisException(
            "Invalid streaming output mode: complete. This output mode is not supported for no streaming "
            "aggregations on streaming DataFrames/DataSets.", "STREAMING_OUTPUT_MODE.UNSUPPORTED_OPERATION")
    if mode == "append" and aggregated:
        for n in stateful:
            wm = watermark_of(n[1])
            keys = [g.column if isinstance(g, (Window, SessionWindow)) else g for g in n[2][1]]
            if wm is None or wm[0] not in keys:
                raise AnalysisException(
                    "Invalid streaming output mode: append. This output mode is not supported for streaming "
                    "aggregations without watermark on streaming DataFrames/DataSets.",
                    "STREAMING_OUTPUT_MODE.UNSUPPORTED_OPERATION")


def _below(node: Any, kind: str, test: Callable[[Any], bool]) -> bool:
    return any(n[0] == kind and test(n) for n in tree_nodes(node)[1:])


#: The recorded call for ``static.join(stream, on, how)`` (its args: the static DataFrame, on, how).
STATIC_LEFT_JOIN = "static_join"


def join_kind(how: Any) -> str:
    h = str(how or "inner").lower().replace("_", "").replace(" ", "")
    return {"outer": "FULL", "full": "FULL", "fullouter": "FULL", "right": "RIGHT", "rightouter": "RIGHT",
            "left": "LEFT", "leftouter": "LEFT"}.get(h, "INNER")


class StatefulRun:
    """What the micro-batch loop (streaming/query.py) calls for a query with a watermark or a state
    operator: ``restore`` at start, ``build`` per batch, ``batch_ms`` / ``next_ms`` for the logs,
    ``advance`` after ``commits/N``, ``event_time`` / ``state_operators`` for the progress report."""

    def __init__(self, df: Any, mode: str, checkpoint: Optional[str], conf: Any) -> None:
        check_supported(df._node, mode)
        self.df = df
        stateful = [n for n in tree_nodes(df._node) if n[0] == "stateful"]
        self.node = stateful[0] if stateful else None
        wm = watermark_of(self.node[1] if self.node else df._node)
        self.watermark = Watermark(*wm) if wm else None
        self.op = make_operator(self.node[2], mode, checkpoint, conf, wm) if self.node else None
        self.checkpointed = checkpoint is not None
        self.loaded = False
        self.mode = mode
        self.no_data_batches = config.get(conf, "spark.sql.streaming.noDataMicroBatches.enabled")
        self.last_run_ms = 0  # the watermark the last batch ran with

    def wants_no_data_batch(self) -> bool:
        """Spark's no-data batch: with no new rows, a batch still runs when a state operator evicts by
        event time and the watermark moved past the one its last batch ran with (so windows close)."""
        return (self.op is not None and self.watermark is not None and self.op.evicts and self.no_data_batches
                and self.mode != "complete" and self.watermark.batch_ms > self.last_run_ms)

    @property
    def batch_ms(self) -> int:
        return self.watermark.batch_ms if self.watermark else 0

    @property
    def next_ms(self) -> int:
        return self.watermark.next_ms if self.watermark else 0

    def restore(self, ck: Any) -> None:
        """A restart: the watermark of the batch to run next, from the checkpoint's logs (Spark: the
        last offsets' batchWatermarkMs, moved to the last commit's nextBatchWatermarkMs if committed)."""
        last = ck.last_offsets() if ck is not None else None
        if last is None or self.watermark is None:
            return
        last_id = last[0]
        ms = int(ck.metadata("offsets", last_id).get("batchWatermarkMs", 0))
        self.last_run_ms = ms
        if ck.committed(last_id):
            ms = max(ms, int(ck.metadata("commits", last_id).get("nextBatchWatermarkMs", 0)))
        self.watermark.restore(ms)

    def build(self, tables: List[Any], batch_id: int) -> Tuple[Any, Any]:
        """One micro-batch: (the batch DataFrame for the sink, its Arrow)."""
        spark = self.df._spark
        self.last_run_ms = self.batch_ms
        if self.node is None:  # a watermark without state: the stateless query, and the event-time stats
            table = self.df._apply(list(tables)).toArrow()
            self._observe(table)
            return spark.createDataFrame(table), table

        emitted: List[Any] = []

        def through_operator(rows: Any) -> Any:
            if not self.loaded:  # a restart resumes from the last committed batch's state
                self.op.load(batch_id - 1 if self.checkpointed else None, rows.slice(0, 0))
                self.loaded = True
            self._observe(rows)
            emitted.append(self.op.process(rows, self.batch_ms))
            self.op.commit(batch_id)  # before the loop writes commits/N
            return spark.createDataFrame(emitted[0])

        result = self.df._apply(list(tables), stateful=through_operator)
        if self.node is self.df._node:  # nothing after the operator: its Arrow is the batch
            return result, emitted[0]
        table = result.toArrow()
        return spark.createDataFrame(table), table  # the plan ran once; the sink reads this Arrow

    def _observe(self, table: Any) -> None:
        if self.watermark is not None and self.watermark.column in table.schema.names:
            self.watermark.observe(table)

    def advance(self) -> None:
        if self.watermark is not None:
            self.watermark.advance()

    def event_time(self) -> Dict[str, str]:
        return self.watermark.event_time() if self.watermark else {}

    def state_operators(self) -> List[Dict[str, Any]]:
        return [self.op.metrics()] if self.op is not None else []

    def close(self) -> None:
        if self.op is not None:
            self.op.close()
