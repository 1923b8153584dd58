"""The logical plan of a DataFrame query.

A DataFrame is a tree of :class:`Node`\\ s. Leaves are Python data source scans (``SourceScan``),
Arrow tables (``ArrowLeaf``: cached results) and SQL text over temp views (``SqlQuery``). Each node
knows its output columns as :class:`Attr`\\ s: Spark's attribute model (an id per column that
survives filters, joins and projections), so ``df1["id"]`` still means df1's ``id`` after a join.

:mod:`headwater.query.compiler` turns a tree into one DuckDB SQL statement per action.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

from headwater.errors import AnalysisException
from headwater.query.expressions import Column

__all__ = ["Attr", "Node", "SourceScan", "ArrowLeaf", "Project", "Filter", "Aggregate", "Join", "Sort", "Limit",
           "Distinct", "Union", "SubqueryAlias", "SqlQuery", "NewIds", "resolve", "names_in_sql"]

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
