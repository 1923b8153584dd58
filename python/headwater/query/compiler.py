"""The translation of a logical plan (:mod:`headwater.query.logical`) into one DuckDB SQL statement.

:class:`Compiler` turns a tree into SQL for one action, top-down, deciding on the way what each
Python source scan delivers: the columns the query needs (the C converter converts only those), a
``limit`` directly above a scan (the scan stops once it has that many rows), and, from what the
planner (:mod:`headwater.query.planner`) learned, the predicates the source accepted from
``pushFilters`` (they leave the SQL; the rest stay for DuckDB) and Spark's aggregate result types.
It emits SQL only: no source is called and no query runs while compiling. DuckDB does everything
else: headwater evaluates no expression itself.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import pyarrow as pa

from headwater.errors import AnalysisException
from headwater.query.expressions import Column, quote_ident
from headwater.query.logical import (
    Aggregate,
    ArrowLeaf,
    Attr,
    Distinct,
    Filter,
    Join,
    Limit,
    NewIds,
    Node,
    Project,
    Sort,
    SourceScan,
    SqlQuery,
    SubqueryAlias,
    Union,
    names_in_sql,
    resolve,
)
from headwater.query.scanleaf import ScanUse

__all__ = ["Compiler", "Decisions", "conjuncts", "filter_chain", "pushdown_key"]


PushKey = Tuple[int, Tuple[int, ...]]


@dataclass
class Decisions:
    """What the planner decided for one action: the scans filters were pushed into (by
    :func:`pushdown_key`), Spark's result types of aggregates (by node, then by aggregate) and the
    casts that need Spark's rule."""

    pushed: Dict[PushKey, ScanUse] = field(default_factory=dict)
    agg_casts: Dict[int, Dict[int, str]] = field(default_factory=dict)
    #: casts DuckDB's CAST computes otherwise than Spark, by id: the rule (``expressions.cast_rule``)
    spark_casts: Dict[int, str] = field(default_factory=dict)


def _is_window(c: Column, name: str = "window") -> bool:
    """``functions.window(...)`` (maybe aliased): its SQL expands rows, so it cannot sit in a GROUP BY."""
    c = c._args[0] if c._kind == "alias" else c
    return c._kind == "func" and c._name == name and isinstance(c._value, tuple)


def conjuncts(c: Column) -> List[Column]:
    """The predicates of an ``AND`` chain."""
    if c._kind == "op" and c._op == "AND":
        return conjuncts(c._args[0]) + conjuncts(c._args[1])
    return [c]


def plain(node: Node) -> bool:
    return node.cached is None and not node.cache_requested


def filter_chain(node: Filter, pushdown: bool) -> Tuple[List[Column], Node, Optional[Project]]:
    """The predicates of the chain of filters that starts at ``node`` (consecutive filters are one
    predicate) and the node below the chain. With pushdown, a projection of plain columns between
    the chain and a source scan is returned too: the filter moves below it (the same rows), so
    it can be pushed into the source."""
    child = node.children[0]
    parts = conjuncts(node.condition)
    while isinstance(child, Filter) and plain(child):
        parts = conjuncts(child.condition) + parts
        child = child.children[0]
    if pushdown and isinstance(child, Project) and plain(child) \
            and all(e._kind == "ref" for e in child.exprs) and isinstance(child.children[0], SourceScan):
        return parts, child.children[0], child
    return parts, child, None


def pushdown_key(scan: SourceScan, parts: List[Column]) -> PushKey:
    return id(scan), tuple(id(p) for p in parts)


class Compiler:
    """Translates a plan for one action into SQL, with what the planner decided (``decisions``):
    it calls no source and runs no SQL. ``leaves`` collects what must be registered with DuckDB
    (name -> object with ``__arrow_c_stream__``), ``scans`` the scans the SQL reads.

    Make one with :class:`headwater.query.planner.Planner` (``Planner(...).plan(node).compiler()``)."""

    def __init__(self, session: Any, decisions: Optional[Decisions] = None, pushdown: bool = True,
                 ordered: bool = True, placeholders: bool = False) -> None:
        self.session = session
        self.decisions = decisions if decisions is not None else Decisions()
        self.placeholders = placeholders  # empty tables stand in for sources (names and types only)
        self.pushdown = pushdown and not placeholders
        self.ordered = ordered
        self.leaves: Dict[str, Any] = {}
        self.scans: List["ScanUse"] = []
        self._alias = itertools.count(1)

    def _q(self) -> str:
        return f"q{next(self._alias)}"

    # needed: ids of the attributes of `node` the parent reads (None: all of them)
    def compile(self, node: Node, needed: Optional[Set[int]] = None, limit: Optional[int] = None) -> str:
        if node.cached is not None:  # computed by the planner (cache())
            return self._arrow(node.cached, node.output)
        if needed is not None and not needed and node.output:
            needed = {node.output[0].id}  # no column is read (count): DuckDB still needs one
        method = getattr(self, "_" + type(node).__name__)
        return method(node, needed, limit)

    def _resolver(self, inputs: Sequence[Node], aliases: Sequence[str]) -> Any:
        def sql_of(ref: Column) -> str:
            a, i, path = resolve(ref, inputs)
            return f"{aliases[i]}.{quote_ident(a.sql)}" + "".join(f".{quote_ident(p)}" for p in path)

        sql_of.spark_casts = self.decisions.spark_casts  # (planner)
        return sql_of

    def _needed_by(self, exprs: Sequence[Column], inputs: Sequence[Node]) -> Optional[Set[int]]:
        """Attribute ids the expressions read from the inputs (None: possibly all)."""
        ids: Set[int] = set()
        for e in exprs:
            if e._has_star():
                return None
            for ref in e._refs():
                ids.add(resolve(ref, inputs)[0].id)
            for text in e._sql_texts():
                words = names_in_sql(text)
                if words is None:
                    return None
                ids.update(a.id for node in inputs for a in node.output if a.name.lower() in words)
        return ids

    @staticmethod
    def _union(a: Optional[Set[int]], b: Optional[Set[int]]) -> Optional[Set[int]]:
        return None if a is None or b is None else a | b

    # ---- leaves

    def _arrow(self, table: Any, output: List[Attr]) -> str:
        name = f"hw_arrow_{len(self.leaves) + 1}"
        self.leaves[name] = table
        cols = ", ".join(f"{quote_ident(f)} AS {quote_ident(a.sql)}" for f, a in zip(table.column_names, output))
        return f"SELECT {cols} FROM {name}"

    def _SourceScan(self, node: SourceScan, needed: Optional[Set[int]], limit: Optional[int],
                    use: Optional["ScanUse"] = None) -> str:
        if self.placeholders:
            return self._arrow(pa.schema(node.plan.core_schema).empty_table(), node.output)
        if use is None:
            use = ScanUse(self.session, node.plan, ordered=self.ordered)
        if needed is not None and self.pushdown:
            keep = [i for i, a in enumerate(node.output) if a.id in needed]
            use.columns = keep if keep else [0]  # DuckDB counts rows by a column
        if limit is not None and self.pushdown:
            use.limit = limit
        name = f"hw_scan_{len(self.leaves) + 1}"
        self.leaves[name] = use
        self.scans.append(use)
        attrs = [node.output[i] for i in use.column_indices()]
        cols = ", ".join(f"{quote_ident(n)} AS {quote_ident(a.sql)}" for n, a in zip(use.column_names(), attrs))
        return f"SELECT {cols} FROM {name}"

    def _ArrowLeaf(self, node: ArrowLeaf, needed: Optional[Set[int]], limit: Optional[int]) -> str:
        return self._arrow(node.table, node.output)

    def _SqlQuery(self, node: SqlQuery, needed: Optional[Set[int]], limit: Optional[int]) -> str:
        q = self._q()
        cols = ", ".join(quote_ident(a.sql) for a in node.output)
        return f"SELECT * FROM ({self.sql_with_views(node.text, node.views)}) AS {q}({cols})"

    def sql_with_views(self, text: str, views: Dict[str, Node]) -> str:
        """The SQL text with the temp views it may read as CTEs (each compiled with the columns the
        text can name, so a view over a Python source still prunes)."""
        words = names_in_sql(text)
        ctes = []
        for name, view in views.items():
            if words is not None and name.lower() not in words:
                continue
            view_needed = None if words is None else {a.id for a in view.output if a.name.lower() in words}
            if view_needed is not None and not view_needed:
                view_needed = {view.output[0].id}
            body = self.compile(view, view_needed)
            vq = self._q()
            cols = ", ".join(f"{vq}.{quote_ident(a.sql)} AS {quote_ident(a.name)}" for a in view.output
                             if view_needed is None or a.id in view_needed)
            ctes.append(f"{quote_ident(name)} AS (SELECT {cols} FROM ({body}) AS {vq})")
        if not ctes:
            return text
        m = re.match(r"\s*with\s+(recursive\s+)?", text, flags=re.I)
        if m:  # the text has its own WITH: one list
            return f"WITH {m.group(1) or ''}{', '.join(ctes)}, {text[m.end():]}"
        return f"WITH {', '.join(ctes)} {text}"

    # ---- operators

    def _Project(self, node: Project, needed: Optional[Set[int]], limit: Optional[int]) -> str:
        child = node.children[0]
        pairs = list(zip(node.exprs, node.output))
        if needed is not None:
            pairs = [(e, a) for e, a in pairs if a.id in needed] or pairs[:1]
        child_needed = self._needed_by([e for e, _ in pairs], [child])
        q = self._q()
        # a limit passes a projection unless it may aggregate (an aggregate, or SQL text that may hold one)
        row_wise = not any(e._has_agg() or e._sql_texts() for e, _ in pairs)
        child_sql = self.compile(child, child_needed, limit if row_wise else None)
        sql_of = self._resolver([child], [q])
        cols = ", ".join(f"{e._sql(sql_of)} AS {quote_ident(a.sql)}" for e, a in pairs)
        return f"SELECT {cols} FROM ({child_sql}) AS {q}"

    def _Filter(self, node: Filter, needed: Optional[Set[int]], limit: Optional[int]) -> str:
        parts, child, project = filter_chain(node, self.pushdown)
        if project is not None:
            # select(columns).filter(...): filter first, then select (the same rows), so it can be pushed;
            # the filter is every predicate of the chain (select(...).filter(a).filter(b): a AND b)
            condition = parts[0]
            for p in parts[1:]:
                condition = condition & p
            swapped = Project(Filter(child, condition), project.exprs)
            swapped.output = project.output
            return self.compile(swapped, needed, limit)
        q = self._q()
        remaining = parts
        use = self.decisions.pushed.get(pushdown_key(child, parts)) if isinstance(child, SourceScan) else None
        if use is not None and self.pushdown and not self.placeholders and plain(child):
            # what the source accepted (the planner asked it) leaves the SQL
            accepted = {id(p) for p, f in use.offered if not any(f is r for r in use.rejected)}
            remaining = [p for p in parts if id(p) not in accepted]
            scan_needed = self._union(needed, self._needed_by(remaining, [child]))
            child_sql = self._SourceScan(child, scan_needed, None if remaining else limit, use=use)
            if not remaining:
                return child_sql
            sql_of = self._resolver([child], [q])
            return f"SELECT * FROM ({child_sql}) AS {q} WHERE {' AND '.join(p._sql(sql_of) for p in remaining)}"
        child_sql = self.compile(child, self._union(needed, self._needed_by(parts, [child])))
        sql_of = self._resolver([child], [q])
        return f"SELECT * FROM ({child_sql}) AS {q} WHERE {' AND '.join(p._sql(sql_of) for p in remaining)}"

    def _Aggregate(self, node: Aggregate, needed: Optional[Set[int]], limit: Optional[int]) -> str:
        child = node.children[0]
        child_sql = self.compile(child, self._needed_by(node.keys + node.aggs, [child]))
        q = self._q()
        sql_of = self._resolver([child], [q])
        sql_of.agg_casts = self.decisions.agg_casts.get(id(node), {})  # Spark's result types (planner)
        keys = [k._sql(sql_of) for k in node.keys]
        if any(_is_window(k, "session_window") for k in node.keys):
            raise AnalysisException("Grouping a batch DataFrame by session_window() is not supported by headwater "
                                    "yet (streaming aggregations support it).", "UNSUPPORTED_FEATURE")
        windows = [i for i, k in enumerate(node.keys) if _is_window(k)]
        if windows:  # window() is an unnest (a row per window): made a column below the GROUP BY
            extra = ", ".join(f"{keys[i]} AS __hw_window{i}" for i in windows)
            child_sql = f"SELECT {q}.*, {extra} FROM ({child_sql}) AS {q}"
            keys = [f"{q}.__hw_window{i}" if i in windows else k for i, k in enumerate(keys)]
        cols = [f"{k} AS {quote_ident(a.sql)}" for k, a in zip(keys, node.output)]
        cols += [f"{e._sql(sql_of)} AS {quote_ident(a.sql)}" for e, a in zip(node.aggs, node.output[len(keys):])]
        group = f" GROUP BY {', '.join(keys)}" if keys else ""
        select = ", ".join(cols) or '1 AS "_"'
        return f"SELECT {select} FROM ({child_sql}) AS {q}{group}"

    def _Join(self, node: Join, needed: Optional[Set[int]], limit: Optional[int]) -> str:
        left, right = node.children
        ql, qr = self._q(), self._q()
        if node.keys is not None:
            cond_exprs: List[Column] = []
            key_ids = {a.id for pair in node.key_attrs for a in pair}
        else:
            cond_exprs = [node.condition] if node.condition is not None else []
            key_ids = set()
        cond_needed = self._needed_by(cond_exprs, [left, right])
        want = self._union(self._union(needed, cond_needed), key_ids)
        lneed = None if want is None else {a.id for a in left.output if a.id in want}
        rneed = None if want is None else {a.id for a in right.output if a.id in want}
        lsql, rsql = self.compile(left, lneed), self.compile(right, rneed)
        sql_of = self._resolver([left, right], [ql, qr])
        if node.keys is not None:
            on = " AND ".join(f"{ql}.{quote_ident(l.sql)} = {qr}.{quote_ident(r.sql)}" for l, r in node.key_attrs)
        elif node.condition is not None:
            on = node.condition._sql(sql_of)
        else:
            on = None
        # each output column comes from one side (their ids differ: a self-join's right side has new
        # ids), except a FULL join's keys, which are new columns: either side's value
        from_side = {a.id: f"{ql}.{quote_ident(a.sql)}" for a in left.output}
        from_side.update((a.id, f"{qr}.{quote_ident(a.sql)}") for a in right.output)
        full_keys = {l.name: (l, r) for l, r in node.key_attrs} if node.keys is not None else {}
        cols = []
        for a in [a for a in node.output if needed is None or a.id in needed] or node.output[:1]:
            if a.id in from_side:
                expr = from_side[a.id]
            else:
                l, r = full_keys[a.name]
                expr = f"coalesce({ql}.{quote_ident(l.sql)}, {qr}.{quote_ident(r.sql)})"
            cols.append(f"{expr} AS {quote_ident(a.sql)}")
        kind = node.kind
        if kind == "CROSS" or (kind == "INNER" and on is None):
            join = f"({lsql}) AS {ql} CROSS JOIN ({rsql}) AS {qr}"
            if on is not None:
                join += f" WHERE {on}"
        else:
            join = f"({lsql}) AS {ql} {kind} JOIN ({rsql}) AS {qr} ON {on if on is not None else 'TRUE'}"
        return f"SELECT {', '.join(cols)} FROM {join}"

    def _Sort(self, node: Sort, needed: Optional[Set[int]], limit: Optional[int]) -> str:
        child = node.children[0]
        child_sql = self.compile(child, self._union(needed, self._needed_by(node.orders, [child])))
        q = self._q()
        sql_of = self._resolver([child], [q])
        orders = ", ".join((o if o._kind == "sort" else o.asc())._sql(sql_of) for o in node.orders)
        return f"SELECT * FROM ({child_sql}) AS {q} ORDER BY {orders}"

    def _Limit(self, node: Limit, needed: Optional[Set[int]], limit: Optional[int]) -> str:
        n = node.n if limit is None else min(node.n, limit)
        child_sql = self.compile(node.children[0], needed, n)
        return f"SELECT * FROM ({child_sql}) AS {self._q()} LIMIT {n}"

    def _Distinct(self, node: Distinct, needed: Optional[Set[int]], limit: Optional[int]) -> str:
        child_sql = self.compile(node.children[0], None)
        q = self._q()
        if node.subset is None:
            return f"SELECT DISTINCT * FROM ({child_sql}) AS {q}"
        on = ", ".join(f"{q}.{quote_ident(a.sql)}" for a in node.subset)
        return f"SELECT DISTINCT ON ({on}) * FROM ({child_sql}) AS {q}"

    def _Union(self, node: Union, needed: Optional[Set[int]], limit: Optional[int]) -> str:
        left, right = node.children
        lsql, rsql = self.compile(left, None), self.compile(right, None)
        ql, qr = self._q(), self._q()
        lcols = ", ".join(f"{ql}.{quote_ident(a.sql)} AS {quote_ident(o.sql)}" for a, o in zip(left.output, node.output))
        if node.by_name:
            by_name = {a.name.lower(): a for a in right.output}
            rcols = ", ".join(
                (f"{qr}.{quote_ident(by_name[o.name.lower()].sql)}" if o.name.lower() in by_name else "NULL")
                + f" AS {quote_ident(o.sql)}" for o in node.output)
            lcols = ", ".join(
                (f"{ql}.{quote_ident(a.sql)}" if i < len(left.output) else "NULL") + f" AS {quote_ident(o.sql)}"
                for i, (a, o) in enumerate(itertools.zip_longest(left.output, node.output)))
        else:
            rcols = ", ".join(f"{qr}.{quote_ident(a.sql)}" for a in right.output)
        return f"SELECT {lcols} FROM ({lsql}) AS {ql} UNION ALL SELECT {rcols} FROM ({rsql}) AS {qr}"

    def _SubqueryAlias(self, node: SubqueryAlias, needed: Optional[Set[int]], limit: Optional[int]) -> str:
        return self.compile(node.children[0], needed, limit)

    def _NewIds(self, node: NewIds, needed: Optional[Set[int]], limit: Optional[int]) -> str:
        child = node.children[0]
        pairs = [(c, a) for c, a in zip(child.output, node.output) if needed is None or a.id in needed] or \
            list(zip(child.output, node.output))[:1]
        child_sql = self.compile(child, {c.id for c, _ in pairs}, limit)
        q = self._q()
        cols = ", ".join(f"{q}.{quote_ident(c.sql)} AS {quote_ident(a.sql)}" for c, a in pairs)
        return f"SELECT {cols} FROM ({child_sql}) AS {q}"
