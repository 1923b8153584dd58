"""The stateful tail of a streaming DataFrame: ``groupBy(cols).count() / .agg(...)`` and
``dropDuplicates(subset)``, run by the state operators of ``headwater.state`` once per micro-batch.

The stateless part of the query still runs per batch as a batch DataFrame (stream-core); its Arrow
result goes through the operator, whose state is committed (``<checkpoint>/state/0/0``) before the
batch's ``commits/N``; on a restart the operator loads the last committed version.
Not wired yet: withWatermark / window() (the operators support them; the DataFrame face does not).
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

from headwater.errors import AnalysisException
from headwater.state import Agg, StreamingAggregate, StreamingDeduplicate

__all__ = ["StreamingGroupedData", "aggs_of", "make_operator"]

_AGGS = ("count", "sum", "avg", "min", "max")


def _name(c: Any) -> str:
    if isinstance(c, str):
        return c
    if getattr(c, "_kind", None) == "ref":
        return c._name
    raise AnalysisException(f"Streaming groupBy supports column names only here, not {c!r}.", "UNSUPPORTED_FEATURE")


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


class StreamingGroupedData:
    """``streamingDf.groupBy(...)``: ``count()`` / ``agg(...)`` / ``sum`` ... give the stateful DataFrame."""

    def __init__(self, df: Any, keys: List[str]) -> None:
        self._df, self._keys = df, keys

    def agg(self, *exprs: Any) -> Any:
        return self._df._stateful(("aggregate", self._keys, aggs_of(exprs)))

    def count(self) -> Any:
        return self._df._stateful(("aggregate", self._keys, [Agg("count")]))

    def _simple(self, fn: str, cols: Tuple[str, ...]) -> Any:
        return self._df._stateful(("aggregate", self._keys, [Agg(fn, c) for c in cols]))

    def sum(self, *cols: str) -> Any:
        return self._simple("sum", cols)

    def avg(self, *cols: str) -> Any:
        return self._simple("avg", cols)

    mean = avg

    def min(self, *cols: str) -> Any:
        return self._simple("min", cols)

    def max(self, *cols: str) -> Any:
        return self._simple("max", cols)


def make_operator(spec: Tuple, mode: str, checkpoint: Optional[str], conf: Any) -> Any:
    """The state operator of ``spec``; refuses what Spark refuses at start()."""
    if spec[0] == "aggregate":
        return StreamingAggregate(spec[1], spec[2], mode, checkpoint=checkpoint, conf=conf)
    if mode == "complete":
        raise AnalysisException(
            "Invalid streaming output mode: complete. This output mode is not supported for no streaming "
            "aggregations on streaming DataFrames/DataSets.", "STREAMING_OUTPUT_MODE.UNSUPPORTED_OPERATION")
    return StreamingDeduplicate(spec[1], checkpoint=checkpoint, conf=conf)
