"""The logical plan of a DataFrame query, and its translation to one DuckDB SQL statement.

A DataFrame is a tree of :class:`Node`\\ s. Leaves are Python data source scans (``SourceScan``),
Arrow tables (``ArrowLeaf``: cached results) and SQL text over temp views (``SqlQuery``). Each node
knows its output columns as :class:`Attr`\\ s: Spark's attribute model (an id per column that
survives filters, joins and projections), so ``df1["id"]`` still means df1's ``id`` after a join.

:class:`Compiler` turns a tree into SQL for one action, top-down, deciding on the way what to push
into each Python source: the columns the query needs (the C converter converts only those), the
predicates Spark would offer to ``pushFilters`` (those the source accepts leave the SQL; the rest stay
for DuckDB) and a ``limit`` directly above a scan (the scan stops once it has that many rows).
DuckDB does everything else: headwater evaluates no expression itself.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Set, Tuple

from headwater.column import Column, quote_ident
from headwater.errors import AnalysisException

if TYPE_CHECKING:
    from headwater.scanleaf import ScanUse

__all__ = ["Attr", "Node", "SourceScan", "ArrowLeaf", "Project", "Filter", "Aggregate", "Join", "Sort", "Limit",
           "Distinct", "Union", "SubqueryAlias", "SqlQuery", "Compiler"]

_ids = itertools.count(1)


def new_id() -> int:
    return next(_ids)


@dataclass(frozen=True)
class Attr:
    """An output column: Spark's name, the name it has in the node's SQL, its identity."""

    name: str
    sql: str
    id: int
    qualifier: Optional[str] = None


class Node:
    """A logical plan node; ``output`` is its columns."""

    children: Tuple["Node", ...] = ()
    output: List[Attr]

    def __init__(self) -> None:
        self.node_id = new_id()
        self.cached: Any = None       # a pyarrow Table once cache()'d and computed
        self.cache_requested = False


def _unique_sql_names(attrs: Sequence[Attr]) -> List[Attr]:
    """The same attributes, with SQL names made unique (DuckDB compares names ignoring case)."""
    seen: Set[str] = set()
    out = []
    for a in attrs:
        sql = a.sql
        if sql.lower() in seen:
            n = 1
            while f"{sql}#{n}".lower() in seen:
                n += 1
            sql = f"{sql}#{n}"
        seen.add(sql.lower())
        out.append(replace(a, sql=sql))
    return out


# ---------------------------------------------------------------- leaves


class SourceScan(Node):
    """A Python data source read (a ReadPlan, or a LocalPlan for in-memory data)."""

    def __init__(self, plan: Any) -> None:
        super().__init__()
        self.plan = plan
        self.output = [Attr(n, n, new_id()) for n in plan.core_schema.names]
        self.output = _unique_sql_names(self.output)


class ArrowLeaf(Node):
    """A pyarrow Table (a cached result)."""

    def __init__(self, table: Any, output: List[Attr]) -> None:
        super().__init__()
        self.table = table
        self.output = output


class SqlQuery(Node):
    """``spark.sql(text)`` over the temp views registered when it was called."""

    def __init__(self, text: str, views: Dict[str, Node], names: List[str]) -> None:
        super().__init__()
        self.text = text
        self.views = views
        self.output = _unique_sql_names([Attr(n, n, new_id()) for n in names])


# ---------------------------------------------------------------- operators


class Project(Node):
    def __init__(self, child: Node, exprs: List[Column], names: Optional[List[str]] = None) -> None:
        super().__init__()
        self.children = (child,)
        expanded: List[Column] = []
        for e in exprs:
            if e._kind == "star":
                expanded.extend(Column("ref", name=a.name, attr=a) for a in child.output)
            else:
                expanded.append(e)
        self.exprs = expanded
        out = []
        for i, e in enumerate(expanded):
            if names is not None and names[i] is not None:
                out.append(Attr(names[i], names[i], new_id()))
            elif e._kind == "ref":
                a = resolve(e, [child])[0]
                out.append(a)
            else:
                n = e._spark_name()
                out.append(Attr(n, n, new_id()))
        self.output = _unique_sql_names(out)


class Filter(Node):
    def __init__(self, child: Node, condition: Column) -> None:
        super().__init__()
        self.children = (child,)
        self.condition = condition
        self.output = child.output


class Aggregate(Node):
    def __init__(self, child: Node, keys: List[Column], aggs: List[Column]) -> None:
        super().__init__()
        self.children = (child,)
        self.keys = keys
        self.aggs = aggs
        out = []
        for k in keys:
            out.append(resolve(k, [child])[0] if k._kind == "ref" else Attr(k._spark_name(), k._spark_name(), new_id()))
        for a in aggs:
            out.append(Attr(a._spark_name(), a._spark_name(), new_id()))
        self.output = _unique_sql_names(out)


_JOIN_TYPES = {
    "inner": "INNER", "cross": "CROSS", "outer": "FULL", "full": "FULL", "fullouter": "FULL", "full_outer": "FULL",
    "left": "LEFT", "leftouter": "LEFT", "left_outer": "LEFT", "right": "RIGHT", "rightouter": "RIGHT",
    "right_outer": "RIGHT", "semi": "SEMI", "leftsemi": "SEMI", "left_semi": "SEMI", "anti": "ANTI",
    "leftanti": "ANTI", "left_anti": "ANTI",
}


class Join(Node):
    """``on`` is a list of column names (Spark's USING join: each key once, first) or a condition."""

    def __init__(self, left: Node, right: Node, how: str, keys: Optional[List[str]], condition: Optional[Column]) -> None:
        super().__init__()
        kind = _JOIN_TYPES.get(how.lower().replace(" ", ""))
        if kind is None:
            raise AnalysisException(
                f"Unsupported join type '{how}'. Supported join types include: 'inner', 'outer', 'full', "
                "'fullouter', 'full_outer', 'leftouter', 'left', 'left_outer', 'rightouter', 'right', "
                "'right_outer', 'leftsemi', 'left_semi', 'semi', 'leftanti', 'left_anti', 'anti', 'cross'.",
                "UNSUPPORTED_JOIN_TYPE",
            )
        if {a.id for a in left.output} & {a.id for a in right.output}:
            right = NewIds(right)  # a self-join: the right side's columns are other columns (as Spark does)
        self.children = (left, right)
        self.kind = kind
        self.keys = keys
        self.condition = condition
        out: List[Attr] = []
        if keys is not None:
            lkeys = [resolve(Column("ref", name=k), [left])[0] for k in keys]
            rkeys = [resolve(Column("ref", name=k), [right])[0] for k in keys]
            self.key_attrs = list(zip(lkeys, rkeys))
            if kind == "RIGHT":
                out.extend(rkeys)
            elif kind == "FULL":
                out.extend(Attr(l.name, l.name, new_id()) for l in lkeys)
            else:
                out.extend(lkeys)
            lids = {a.id for a in lkeys}
            rids = {a.id for a in rkeys}
            out.extend(a for a in left.output if a.id not in lids)
            if kind not in ("SEMI", "ANTI"):
                out.extend(a for a in right.output if a.id not in rids)
        else:
            out.extend(left.output)
            if kind not in ("SEMI", "ANTI"):
                out.extend(right.output)
        self.output = _unique_sql_names(out)


class NewIds(Node):
    """The same columns under new identities (the right side of a self-join)."""

    def __init__(self, child: Node) -> None:
        super().__init__()
        self.children = (child,)
        self.output = [replace(a, id=new_id()) for a in child.output]


class Sort(Node):
    def __init__(self, child: Node, orders: List[Column]) -> None:
        super().__init__()
        self.children = (child,)
        self.orders = orders
        self.output = child.output


class Limit(Node):
    def __init__(self, child: Node, n: int) -> None:
        super().__init__()
        self.children = (child,)
        self.n = n
        self.output = child.output


class Distinct(Node):
    """``distinct()`` (subset None) or ``dropDuplicates(subset)``."""

    def __init__(self, child: Node, subset: Optional[List[str]]) -> None:
        super().__init__()
        self.children = (child,)
        self.subset = [resolve(Column("ref", name=s), [child])[0] for s in subset] if subset else None
        self.output = child.output


class Union(Node):
    def __init__(self, left: Node, right: Node, by_name: bool, allow_missing: bool = False) -> None:
        super().__init__()
        self.children = (left, right)
        self.by_name = by_name
        lnames = [a.name.lower() for a in left.output]
        rnames = [a.name.lower() for a in right.output]
        if not by_name and len(lnames) != len(rnames):
            raise AnalysisException(
                f"UNION can only be performed on inputs with the same number of columns, but the first input has "
                f"{len(lnames)} columns and the second input has {len(rnames)} columns.",
                "NUM_COLUMNS_MISMATCH",
            )
        if by_name:
            missing = [a.name for a in right.output if a.name.lower() not in lnames] + \
                      [a.name for a in left.output if a.name.lower() not in rnames]
            if missing and not allow_missing:
                # Spark's words (an error without a class in Spark 4.1)
                lacking = [a.name for a in left.output if a.name.lower() not in rnames]
                raise AnalysisException(
                    f'Cannot resolve column name "{(lacking or missing)[0]}" among '
                    f"({', '.join(a.name for a in right.output)}).",
                )
            extra = [a for a in right.output if a.name.lower() not in lnames]
            self.output = left.output + [Attr(a.name, a.name, new_id()) for a in extra]
        else:
            self.output = left.output
        self.output = _unique_sql_names(self.output)


class SubqueryAlias(Node):
    """``df.alias(name)``: the columns can be named ``name.column``."""

    def __init__(self, child: Node, alias: str) -> None:
        super().__init__()
        self.children = (child,)
        self.alias = alias
        self.output = [replace(a, qualifier=alias) for a in child.output]


# ---------------------------------------------------------------- resolution


def _split_name(name: str) -> List[str]:
    """``a.b`` -> [a, b]; backticks quote a part (```a.b``` is one name)."""
    parts, cur, quoted, i = [], "", False, 0
    while i < len(name):
        ch = name[i]
        if ch == "`":
            if quoted and i + 1 < len(name) and name[i + 1] == "`":
                cur += "`"
                i += 2
                continue
            quoted = not quoted
        elif ch == "." and not quoted:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    parts.append(cur)
    return parts


def resolve(ref: Column, inputs: Sequence[Node]) -> Tuple[Attr, int, List[str]]:
    """The attribute a column reference means among the inputs' outputs: (attr, input index, struct
    field path below it). Spark's errors for unknown and ambiguous names."""
    candidates = [(a, i) for i, node in enumerate(inputs) for a in node.output]
    if ref._attr is not None:
        hits = [(a, i) for a, i in candidates if a.id == ref._attr.id]
        if len(hits) == 1:
            return hits[0][0], hits[0][1], []
        if len(hits) > 1 and all(a.qualifier == hits[0][0].qualifier for a, _ in hits):
            pass  # a self-join without aliases: resolve by name below, which reports the ambiguity
        name_parts = [ref._attr.name]
    else:
        name_parts = _split_name(ref._name)
    matches: List[Tuple[Attr, int, List[str]]] = []
    if len(name_parts) > 1:
        q, rest = name_parts[0].lower(), name_parts[1:]
        for a, i in candidates:
            if a.qualifier is not None and a.qualifier.lower() == q and a.name.lower() == rest[0].lower():
                matches.append((a, i, rest[1:]))
    if not matches:
        first = name_parts[0].lower()
        for a, i in candidates:
            if a.name.lower() == first:
                matches.append((a, i, name_parts[1:]))
    distinct = {(m[0].id, m[1]): m for m in matches}
    if len(distinct) == 1:
        return next(iter(distinct.values()))
    shown = ".".join(f"`{p}`" for p in name_parts)
    if not distinct:
        names = sorted({f"`{a.name}`" for a, _ in candidates})
        raise AnalysisException(
            f"A column, variable, or function parameter with name {shown} cannot be resolved. Did you mean one "
            f"of the following? [{', '.join(names)}].",
            "UNRESOLVED_COLUMN.WITH_SUGGESTION",
        )
    raise AnalysisException(
        f"Reference {shown} is ambiguous, could be: [{', '.join(f'`{m[0].name}`' for m in distinct.values())}].",
        "AMBIGUOUS_REFERENCE",
    )


_WORD = re.compile(r"`((?:[^`]|``)+)`|\"((?:[^\"]|\"\")+)\"|([A-Za-z_][A-Za-z0-9_]*)")


def names_in_sql(text: str) -> Optional[Set[str]]:
    """Lower-cased words of a SQL text (a superset of the columns it reads), or None when it may read
    every column (``*``)."""
    stripped = re.sub(r"'(?:[^']|'')*'", "''", text)  # string literals name no column
    if "*" in re.sub(r"count\s*\(\s*\*\s*\)", "", stripped, flags=re.I):
        return None  # a star (or a product: we do not parse) may read every column
    out = set()
    for m in _WORD.finditer(stripped):
        word = m.group(1) or m.group(2) or m.group(3)
        out.add(word.replace("``", "`").replace('""', '"').lower())
    return out


# ---------------------------------------------------------------- compilation


def _conjuncts(c: Column) -> List[Column]:
    if c._kind == "op" and c._op == "AND":
        return _conjuncts(c._args[0]) + _conjuncts(c._args[1])
    return [c]


@dataclass
class Compiled:
    sql: str
    scans: List["ScanUse"] = field(default_factory=list)


class Compiler:
    """Translates a plan for one action. ``leaves`` collects what must be registered with DuckDB
    (name -> object with ``__arrow_c_stream__``), ``scans`` the pushdown decided per source scan."""

    def __init__(self, engine: Any, pushdown: bool = True, ordered: bool = True, placeholders: bool = False) -> None:
        self.engine = engine
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
        if node.cached is None and node.cache_requested and not self.placeholders:
            node.cached = self.engine.materialize(node)
        if node.cached is not None:
            return self._arrow(node.cached, node.output)
        if needed is not None and not needed and node.output:
            needed = {node.output[0].id}  # no column is read (count): DuckDB still needs one
        method = getattr(self, "_" + type(node).__name__)
        return method(node, needed, limit)

    def _select_list(self, alias: str, attrs: Sequence[Attr]) -> str:
        return ", ".join(f"{alias}.{quote_ident(a.sql)}" for a in attrs) if attrs else "1 AS \"_\""

    def _resolver(self, inputs: Sequence[Node], aliases: Sequence[str]) -> Any:
        def sql_of(ref: Column) -> str:
            a, i, path = resolve(ref, inputs)
            return f"{aliases[i]}.{quote_ident(a.sql)}" + "".join(f".{quote_ident(p)}" for p in path)

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
        from headwater.scanleaf import ScanUse

        if self.placeholders:
            import pyarrow as pa

            return self._arrow(pa.schema(node.plan.core_schema).empty_table(), node.output)
        if use is None:
            use = ScanUse(self.engine.session, node.plan, ordered=self.ordered)
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
        child = node.children[0]
        parts = _conjuncts(node.condition)
        while isinstance(child, Filter) and child.cached is None and not child.cache_requested:
            parts = _conjuncts(child.condition) + parts  # consecutive filters are one predicate
            child = child.children[0]
        if self.pushdown and isinstance(child, Project) and child.cached is None and not child.cache_requested \
                and all(e._kind == "ref" for e in child.exprs) and isinstance(child.children[0], SourceScan):
            # select(columns).filter(...): filter first, then select (the same rows), so it can be pushed
            swapped = Project(Filter(child.children[0], node.condition), child.exprs)
            swapped.output = child.output
            return self.compile(swapped, needed, limit)
        q = self._q()
        remaining = parts
        if self.pushdown and not self.placeholders and isinstance(child, SourceScan) and child.cached is None \
                and not child.cache_requested:
            from headwater.pushdown import to_spark_filter
            from headwater.scanleaf import ScanUse

            offered = [(p, f) for p in parts for f in [to_spark_filter(p, child)] if f is not None]
            if offered:
                # Spark's order: the reader is made and asked now; what it accepts leaves the SQL
                use = ScanUse(self.engine.session, child.plan, ordered=self.ordered)
                use.offered = offered
                rejected = use.push_filters()
                accepted = {id(p) for p, f in offered if not any(f is r for r in rejected)}
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
        sql_of.agg_casts = self._spark_agg_types(node, child, q, sql_of)
        keys = [k._sql(sql_of) for k in node.keys]
        cols = [f"{k} AS {quote_ident(a.sql)}" for k, a in zip(keys, node.output)]
        cols += [f"{e._sql(sql_of)} AS {quote_ident(a.sql)}" for e, a in zip(node.aggs, node.output[len(keys):])]
        group = f" GROUP BY {', '.join(keys)}" if keys else ""
        select = ", ".join(cols) or '1 AS "_"'
        return f"SELECT {select} FROM ({child_sql}) AS {q}{group}"

    def _spark_agg_types(self, node: Aggregate, child: Node, q: str, sql_of: Any) -> Dict[int, str]:
        """Spark's result types where DuckDB's differ: sum of integers is bigint (DuckDB: 128-bit),
        sum of decimal(p,s) is decimal(p+10,s) and avg of it decimal(p+4,s+4) (DuckDB: 38 digits and
        double). The argument types are learned by binding over empty stand-ins of the sources."""
        aggs = [c for e in node.aggs for c in e._walk() if c._kind == "agg" and c._name in ("sum", "avg") and c._args]
        if not aggs:
            return {}
        probe = Compiler(self.engine, placeholders=True)
        body = probe.compile(child, None)
        args = ", ".join(a._args[0]._sql(self._resolver([child], [q])) for a in aggs)
        types = self.engine.bind_types(f"SELECT {args} FROM ({body}) AS {q}", probe)
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
