"""The planner pass of an action: everything that talks to a source or runs SQL happens here,
before the compiler (:mod:`headwater.query.compiler`) emits the SQL, which then runs nothing.

Walking the plan as the compiler will, the planner

- computes the results of ``cache()``'d nodes (once: later actions reuse them);
- offers each source the predicates Spark would push (``reader.pushFilters``, in Spark's
  planning order: the reader is made and asked now), and keeps what it accepted;
- learns the argument types of ``sum``/``avg`` by binding a probe query over empty stand-ins of
  the sources, for Spark's result types where DuckDB's differ, and of casts to integer types (Spark
  truncates a fraction where DuckDB rounds).

The outcome is a :class:`Decisions`, which the compiler reads.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List

from headwater.query.compiler import Compiler, Decisions, filter_chain, plain, pushdown_key
from headwater.query.expressions import CAST_TARGETS, Column, cast_rule, quote_ident
from headwater.query.logical import (Aggregate, Filter, Node, Project, Sort, SourceScan, SqlQuery, names_in_sql,
                                     resolve)
from headwater.query.pushdown import to_spark_filter
from headwater.query.scanleaf import ScanUse

__all__ = ["Planner"]


class Planner:
    """The planner pass for one action (or, with ``placeholders``, for learning names and types:
    nothing is computed, nothing is offered to a source)."""

    def __init__(self, engine: Any, pushdown: bool = True, ordered: bool = True, placeholders: bool = False) -> None:
        self.engine = engine
        self.placeholders = placeholders
        self.pushdown = pushdown and not placeholders
        self.ordered = ordered
        self.decisions = Decisions()

    def compiler(self) -> Compiler:
        """A compiler that emits the SQL of what was planned."""
        return Compiler(self.engine.session, self.decisions, pushdown=self.pushdown, ordered=self.ordered,
                        placeholders=self.placeholders)

    def plan(self, node: Node) -> "Planner":
        self._visit(node)
        return self

    def plan_sql(self, text: str, views: Dict[str, Node]) -> "Planner":
        """Plans the temp views a SQL text may read (those it names)."""
        words = names_in_sql(text)
        for name, view in views.items():
            if words is None or name.lower() in words:
                self._visit(view)
        return self

    def _visit(self, node: Node) -> None:
        if node.cached is None and node.cache_requested and not self.placeholders:
            node.cached = self.engine.materialize(node)
        if node.cached is not None:
            return
        if isinstance(node, Filter):
            parts, below, project = filter_chain(node, self.pushdown)
            if self.pushdown and isinstance(below, SourceScan) and plain(below):
                self._offer(below, parts)
            self._visit(below if project is None else project.children[0])
            self._spark_casts(node, parts)  # the chain's predicates: the same columns as node's child
            return
        for child in node.children:
            self._visit(child)
        if isinstance(node, SqlQuery):
            self.plan_sql(node.text, node.views)
        if isinstance(node, Aggregate):
            casts = self._spark_agg_types(node)
            if casts:
                self.decisions.agg_casts[id(node)] = casts
        if isinstance(node, Project):
            self._spark_casts(node, node.exprs)
        elif isinstance(node, Aggregate):
            self._spark_casts(node, node.keys + node.aggs)
        elif isinstance(node, Sort):
            self._spark_casts(node, node.orders)

    def _offer(self, scan: SourceScan, parts: List[Column]) -> None:
        offered = [(p, f) for p in parts for f in [to_spark_filter(p, scan)] if f is not None]
        if not offered:
            return
        # Spark's order: the reader is made and asked now; what it accepts leaves the SQL
        use = ScanUse(self.engine.session, scan.plan, ordered=self.ordered)
        use.offered = offered
        use.push_filters()
        self.decisions.pushed[pushdown_key(scan, parts)] = use

    def _spark_casts(self, node: Node, exprs: List[Column]) -> None:
        """Casts in ``exprs`` (over node's child) that DuckDB's CAST computes otherwise than Spark,
        by the argument's type (see ``expressions.cast_rule``): to an integer type from a double,
        float or decimal (Spark truncates, DuckDB rounds) or from a string (Spark takes a sign and
        digits only); to a string from a double or a timestamp (Spark writes Java's text). The
        arguments' types are learned by binding them over empty stand-ins of the sources: those
        without an aggregate in one SELECT, those with one in another (the two cannot share a
        SELECT without a GROUP BY)."""
        casts = [c for e in exprs for c in e._walk() if c._kind == "cast" and c._value[0] in CAST_TARGETS]
        if not casts:
            return
        child = node.children[0]
        probe = Planner(self.engine, placeholders=True).plan(child).compiler()
        body = probe.compile(child, None)

        def sql_of(ref: Column) -> str:
            a, _, path = resolve(ref, [child])
            return f"q.{quote_ident(a.sql)}" + "".join(f".{quote_ident(p)}" for p in path)

        sql_of.spark_casts = self.decisions.spark_casts
        for aggregated in (False, True):
            group = [c for c in casts if c._args[0]._has_agg() == aggregated]
            if not group:
                continue
            args = ", ".join(c._args[0]._sql(sql_of) for c in group)
            for c, t in zip(group, self.engine.bind_types(f"SELECT {args} FROM ({body}) AS q", probe)):
                rule = cast_rule(t, c._value[0])
                if rule is not None:
                    self.decisions.spark_casts[id(c)] = rule

    def _spark_agg_types(self, node: Aggregate) -> Dict[int, str]:
        """Spark's result types where DuckDB's differ: sum of integers is bigint (DuckDB: 128-bit),
        sum of decimal(p,s) is decimal(p+10,s) and avg of it decimal(p+4,s+4) (DuckDB: 38 digits and
        double). The argument types are learned by binding over empty stand-ins of the sources."""
        aggs = [c for e in node.aggs for c in e._walk() if c._kind == "agg" and c._name in ("sum", "avg") and c._args]
        if not aggs:
            return {}
        child = node.children[0]
        probe = Planner(self.engine, placeholders=True).plan(child).compiler()
        body = probe.compile(child, None)

        def sql_of(ref: Column) -> str:
            a, _, path = resolve(ref, [child])
            return f"q.{quote_ident(a.sql)}" + "".join(f".{quote_ident(p)}" for p in path)

        args = ", ".join(a._args[0]._sql(sql_of) for a in aggs)
        types = self.engine.bind_types(f"SELECT {args} FROM ({body}) AS q", probe)
        casts: Dict[int, str] = {}
        for a, t in zip(aggs, types):
            m = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", t)
            if a._name == "sum" and t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"):
                casts[id(a)] = "BIGINT"
            elif m:
                p, s = int(m.group(1)), int(m.group(2))
                casts[id(a)] = (f"DECIMAL({min(38, p + 10)},{s})" if a._name == "sum"
                                else f"DECIMAL({min(38, p + 4)},{min(38, s + 4)})")
        return casts
