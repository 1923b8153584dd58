"""What ``load()`` returns: a DataFrame over one read. Each action re-runs the source, as in Spark;
the data comes out of the C scan as Arrow."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import pyarrow as pa

from headwater import _core
from headwater.config import get
from headwater.errors import AnalysisException
from headwater.exec.local import LocalPlan, split_evenly
from headwater.extras import require
from headwater.exec.scan import drain
from headwater.query.expressions import Column, _to_column, quote_ident
from headwater.query.logical import (
    Aggregate,
    Distinct,
    Filter,
    Join,
    Limit,
    Node,
    Project,
    Sort,
    SourceScan,
    SubqueryAlias,
    Union,
    resolve,
)
from headwater.query.scanleaf import ScanUse
from headwater.schema import parse_schema, to_struct_type
from headwater.sql import functions as F
from headwater.sql.writer import DataFrameWriter
from headwater.types import Row

if TYPE_CHECKING:
    from headwater.sql.session import SparkSession

__all__ = ["DataFrame", "GroupedData"]


class DataFrame:
    """A distributed collection of rows with named columns, as in PySpark: a read of a Python data
    source, in-memory data, or a query over them. Transformations build a plan; each action runs
    it (re-reading the sources, as Spark does). A plain source read runs on the C scan alone; any
    other query is run by DuckDB over the sources' Arrow streams."""

    def __init__(self, spark: "SparkSession", plan: Any) -> None:
        self.sparkSession = spark
        self._node: "Node" = plan if isinstance(plan, Node) else SourceScan(plan)

    # ---- what the plan is

    @property
    def _plan(self) -> Any:
        """The source plan of a DataFrame that reads one source as it is (else None)."""
        return self._node.plan if isinstance(self._node, SourceScan) else None

    def _direct(self) -> bool:
        """True when the C scan alone computes this DataFrame (a plain source read, not cached)."""
        return self._plan is not None and self._node.cached is None and not self._node.cache_requested

    def _engine(self) -> Any:
        return self.sparkSession._query_engine()

    def _with(self, node: Any) -> "DataFrame":
        return DataFrame(self.sparkSession, node)

    @property
    def _core_schema(self) -> Any:
        if self._plan is not None:
            return self._plan.core_schema
        if self._node.cached is not None:
            return parse_schema(self._node.cached.schema)
        return parse_schema(self._engine().schema(self._node))

    # ---- schema

    @property
    def schema(self) -> Any:
        """The schema, as a StructType of the flavor the source was written against."""
        if self._plan is not None:
            return self._plan.schema

        return to_struct_type(self._core_schema)

    @property
    def columns(self) -> List[str]:
        return [a.name for a in self._node.output]

    @property
    def dtypes(self) -> List[Tuple[str, str]]:
        return [(f.name, f.dataType.simpleString()) for f in self.schema.fields]

    def printSchema(self) -> None:
        print(self._tree_string(), end="")

    def _tree_string(self) -> str:
        lines = ["root"]

        def walk(dtype: Any, depth: int) -> None:
            for f in getattr(dtype, "fields", []):
                lines.append(
                    f"{' |   ' * depth} |-- {f.name}: {f.dataType.typeName()} (nullable = {str(f.nullable).lower()})"
                )
                walk(f.dataType, depth + 1)

        walk(self.schema, 0)
        return "\n".join(lines) + "\n"

    # ---- columns

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, str):
            return self._col(item)
        if isinstance(item, Column):
            return self.filter(item)
        if isinstance(item, int):
            return self._col(self.columns[item])
        if isinstance(item, (list, tuple)):
            return self.select(*item)
        raise TypeError(f"unexpected item type: {type(item).__name__}")

    def __getattr__(self, name: str) -> Any:
        node = self.__dict__.get("_node")
        if not name.startswith("_") and node is not None and any(a.name == name for a in node.output):
            return self._col(name)
        raise AttributeError(f"'DataFrame' object has no attribute '{name}'")

    def _col(self, name: str) -> Any:
        """``df["c"]``: the column bound to this DataFrame's attribute (it keeps meaning this
        DataFrame's column after joins)."""

        if name == "*":
            return Column("star")
        attr, _, path = resolve(Column("ref", name=name), [self._node])
        ref = Column("ref", name=attr.name, attr=attr)
        for p in path:
            ref = ref.getField(p)
        return ref

    # ---- transformations

    def _exprs(self, cols: Sequence[Any]) -> List[Any]:
        if len(cols) == 1 and isinstance(cols[0], (list, tuple)):
            cols = cols[0]
        return [_to_column(c) for c in cols]

    def _project(self, exprs: List[Any]) -> "DataFrame":
        names: List[Optional[str]] = []
        for e in exprs:
            if e._kind == "sql":  # a SQL text: DuckDB names it as Spark would ("(a + 1)", an alias)
                names.append(self._bind_name(e._name))
            else:
                names.append(None)
        if any(e._kind == "sql" for e in exprs):
            exprs = [_sql_item(e) for e in exprs]
        return self._with(Project(self._node, exprs, names if any(n is not None for n in names) else None))

    def _bind_name(self, text: str) -> str:
        engine = self._engine()
        comp = engine.probe(self._node)
        body = comp.compile(self._node)
        cols = ", ".join(f"q.{_qi(a.sql)} AS {_qi(a.name)}" for a in self._node.output)
        names = engine.bind_names(f"SELECT {text} FROM (SELECT {cols} FROM ({body}) AS q)", comp)
        if len(names) != 1:
            raise AnalysisException(f"The expression '{text}' must give one column, got {len(names)}.", "HW_INVALID_EXPR")
        # DuckDB quotes identifiers that are keywords in the names it gives ('upper("name")'); Spark does not
        return re.sub(r'"((?:[^"]|"")*)"', lambda m: m.group(1).replace('""', '"'), names[0])

    def select(self, *cols: Any) -> "DataFrame":
        exprs = self._exprs(cols)
        if any(e._has_agg() for e in exprs):  # select(sum(x)): a global aggregate

            return self._with(Aggregate(self._node, [], exprs))
        return self._project(exprs)

    def selectExpr(self, *expr: Any) -> "DataFrame":
        if len(expr) == 1 and isinstance(expr[0], list):
            expr = tuple(expr[0])
        return self._project([F.expr(e) for e in expr])

    def filter(self, condition: Any) -> "DataFrame":
        cond = F.expr(condition) if isinstance(condition, str) else condition
        if not isinstance(cond, Column):
            raise TypeError(f"filter() needs a Column or a SQL string, got {type(condition).__name__}")
        return self._with(Filter(self._node, cond))

    where = filter

    def withColumn(self, colName: str, col: Any) -> "DataFrame":
        if not isinstance(col, Column):
            raise TypeError(f"withColumn() needs a Column, got {type(col).__name__}")
        exprs: List[Any] = []
        replaced = False
        for a in self._node.output:
            if a.name.lower() == colName.lower():
                exprs.append(col.alias(colName))
                replaced = True
            else:
                exprs.append(Column("ref", name=a.name, attr=a))
        if not replaced:
            exprs.append(col.alias(colName))
        return self._project(exprs)

    def withColumns(self, *colsMap: Dict[str, Any]) -> "DataFrame":
        df = self
        for name, c in (colsMap[0] if colsMap else {}).items():
            df = df.withColumn(name, c)
        return df

    def withColumnRenamed(self, existing: str, new: str) -> "DataFrame":
        if not any(a.name.lower() == existing.lower() for a in self._node.output):
            return self  # Spark: a no-op when the column is absent
        exprs = [Column("ref", name=a.name, attr=a).alias(new) if a.name.lower() == existing.lower()
                 else Column("ref", name=a.name, attr=a) for a in self._node.output]
        return self._project(exprs)

    def drop(self, *cols: Any) -> "DataFrame":
        drop_ids = set()
        for c in cols:
            if isinstance(c, str):
                drop_ids.update(a.id for a in self._node.output if a.name.lower() == c.lower())
            elif isinstance(c, Column) and c._kind == "ref":
                drop_ids.add(resolve(c, [self._node])[0].id)
            else:
                raise TypeError("drop() takes column names or column references")
        return self._project([Column("ref", name=a.name, attr=a) for a in self._node.output if a.id not in drop_ids])

    def limit(self, num: int) -> "DataFrame":
        if isinstance(num, bool) or not isinstance(num, int) or num < 0:

            raise AnalysisException(f"The limit must be a non-negative integer, got {num!r}.", "INVALID_LIMIT_LIKE_EXPRESSION.IS_NEGATIVE")
        return self._with(Limit(self._node, num))

    def orderBy(self, *cols: Any, ascending: Any = None) -> "DataFrame":
        exprs = self._exprs(cols)
        if ascending is not None:
            flags = ascending if isinstance(ascending, (list, tuple)) else [ascending] * len(exprs)
            exprs = [e.asc() if bool(f) else e.desc() for e, f in zip(exprs, flags)]
        return self._with(Sort(self._node, exprs))

    sort = orderBy

    def groupBy(self, *cols: Any) -> "GroupedData":
        return GroupedData(self, self._exprs(cols) if cols else [])

    groupby = groupBy

    def agg(self, *exprs: Any) -> "DataFrame":
        return GroupedData(self, []).agg(*exprs)

    def join(self, other: "DataFrame", on: Any = None, how: Optional[str] = None) -> "DataFrame":
        how = how or "inner"
        if getattr(other, "isStreaming", False) is True:  # static.join(stream): a streaming DataFrame's own
            return other._static_join(self, on, how)     # business (headwater.streaming sits above sql/)
        if on is None:
            return self._with(Join(self._node, other._node, "cross" if how == "inner" else how, None, None))
        if isinstance(on, str):
            return self._with(Join(self._node, other._node, how, [on], None))
        if isinstance(on, (list, tuple)) and all(isinstance(o, str) for o in on):
            return self._with(Join(self._node, other._node, how, list(on), None))
        if isinstance(on, (list, tuple)):
            cond = on[0]
            for c in on[1:]:
                cond = cond & c
            on = cond
        if not isinstance(on, Column):
            raise TypeError("join() 'on' must be a column name, a list of names, or a Column condition")
        return self._with(Join(self._node, other._node, how, None, on))

    def crossJoin(self, other: "DataFrame") -> "DataFrame":
        return self._with(Join(self._node, other._node, "cross", None, None))

    def union(self, other: "DataFrame") -> "DataFrame":
        return self._with(Union(self._node, other._node, by_name=False))

    unionAll = union

    def unionByName(self, other: "DataFrame", allowMissingColumns: bool = False) -> "DataFrame":
        return self._with(Union(self._node, other._node, by_name=True, allow_missing=allowMissingColumns))

    def distinct(self) -> "DataFrame":
        return self._with(Distinct(self._node, None))

    def dropDuplicates(self, subset: Optional[List[str]] = None) -> "DataFrame":
        return self._with(Distinct(self._node, list(subset) if subset else None))

    drop_duplicates = dropDuplicates

    def alias(self, alias: str) -> "DataFrame":
        return self._with(SubqueryAlias(self._node, alias))

    def createOrReplaceTempView(self, name: str) -> None:
        self.sparkSession._views[name.lower()] = (name, self._node)

    def createTempView(self, name: str) -> None:
        if name.lower() in self.sparkSession._views:

            raise AnalysisException(
                f"Cannot create the temporary view `{name}` because it already exists.",
                "TEMP_TABLE_OR_VIEW_ALREADY_EXISTS",
            )
        self.createOrReplaceTempView(name)

    def cache(self) -> "DataFrame":
        """Keeps the result (as Arrow) after the first action that computes it; later actions reuse it."""
        self._node.cache_requested = True
        return self

    def persist(self, storageLevel: Any = None) -> "DataFrame":
        return self.cache()

    def unpersist(self, blocking: bool = False) -> "DataFrame":
        self._node.cache_requested = False
        self._node.cached = None
        return self

    @property
    def is_cached(self) -> bool:
        return self._node.cache_requested

    # ---- running

    def repartition(self, numPartitions: int, *cols: Any) -> "DataFrame":
        """The same rows in ``numPartitions`` partitions of contiguous, evenly sized row ranges
        (each action reads this DataFrame once and slices it without copying). Spark distributes
        rows round-robin; only the partition sizes match it."""
        if isinstance(numPartitions, bool) or not isinstance(numPartitions, int) or numPartitions < 1:
            raise AnalysisException(
                f"repartition needs a positive number of partitions, got {numPartitions!r}.", "HW_INVALID_ARGUMENT"
            )

        parent = self
        plan = LocalPlan(self._core_schema, lambda: split_evenly(parent.toArrow(), numPartitions),
                         self.sparkSession.conf, schema=self.schema)
        return DataFrame(self.sparkSession, plan)

    @property
    def isStreaming(self) -> bool:
        """False: a batch DataFrame (streaming ones are :mod:`headwater.streaming`'s)."""
        return False

    @property
    def writeStream(self) -> Any:
        raise AnalysisException("`writeStream` can be called only on streaming Dataset/DataFrame.",
                                "WRITE_STREAM_NOT_ALLOWED")

    @property
    def write(self) -> DataFrameWriter:
        """A :class:`~headwater.sql.writer.DataFrameWriter` for this DataFrame."""
        return DataFrameWriter(self)

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The rows as an Arrow stream (pyarrow, polars, DuckDB, ...): batches come as partitions
        complete, with bounded memory, unless ``headwater.stream.ordered`` is true."""
        self.sparkSession._runs.begin()  # the run report: the scans from here on are this action's
        if not self._direct():
            return self._engine().reader(self._node).__arrow_c_stream__(requested_schema)
        ordered = get(self.sparkSession.conf, "headwater.stream.ordered")
        scan, _, _ = self._plan.new_scan(self.sparkSession, ordered=ordered)
        return scan.__arrow_c_stream__(requested_schema)

    def toArrow(self) -> pa.Table:
        try:
            return self._toArrow_run()
        finally:
            self.sparkSession._runs.end()  # the progress bar is gone before the caller prints

    def _toArrow_run(self) -> pa.Table:
        self.sparkSession._runs.begin()  # the run report: the scans from here on are this action's
        if not self._direct():
            if self._node.cached is not None:
                return self._node.cached
            table = self._engine().table(self._node)
            if self._node.cache_requested:
                self._node.cached = table
            return table
        scan, _, _ = self._plan.new_scan(self.sparkSession, ordered=True)
        return drain(scan, lambda reader: reader.read_all())  # batches gathered by pyarrow, not by us

    def toPandas(self) -> Any:
        require("pandas", "pandas", "DataFrame.toPandas()")
        # PySpark 4.3 gives pandas' own dtypes for no rows too (4.1 made empty string columns 'object')
        return self.toArrow().to_pandas()

    def toPolars(self) -> Any:
        pl = require("polars", "polars", "DataFrame.toPolars()")
        return pl.from_arrow(self.toArrow())

    def count(self) -> int:
        try:
            return self._count_run()
        finally:
            self.sparkSession._runs.end()  # the progress bar is gone before the caller prints

    def _count_run(self) -> int:
        self.sparkSession._runs.begin()  # the run report: the scans from here on are this action's
        if not self._direct():
            if self._node.cached is not None:
                return self._node.cached.num_rows
            return self._engine().count(self._node)
        scan, _, _ = self._plan.new_scan(self.sparkSession, ordered=False)
        return drain(scan, lambda reader: _core.count_rows(reader))  # rows counted in C

    def isEmpty(self) -> bool:
        return len(self.take(1)) == 0

    def collect(self) -> List[Row]:
        """All rows, as PySpark returns them (converted from Arrow in C)."""
        return _core.rows_from_arrow(self.toArrow(), Row)

    def take(self, num: int) -> List[Row]:
        try:
            return self._take_run(num)
        finally:
            self.sparkSession._runs.end()  # the progress bar is gone before the caller prints

    def _take_run(self, num: int) -> List[Row]:
        self.sparkSession._runs.begin()  # the run report: the scans from here on are this action's
        if self._direct():  # the C scan stops after num rows (remaining partitions are cancelled)
            scan, _, _ = self._plan.new_scan(self.sparkSession, ordered=True, limit=max(0, int(num)))
            return _core.rows_from_arrow(drain(scan, lambda reader: reader.read_all()), Row)
        return self.limit(num).collect()

    def head(self, n: Optional[int] = None) -> Any:
        rows = self.take(1 if n is None else n)
        if n is None:
            return rows[0] if rows else None
        return rows

    def first(self) -> Optional[Row]:
        return self.head()

    def show(self, n: int = 20, truncate: Any = True, vertical: bool = False) -> None:
        print(self._show_string(n, truncate), end="")

    def _cells(self, n: int, truncate: Any) -> Tuple[List[str], List[List[str]], bool]:
        """The column names, the first n rows as show() prints their values, and whether there
        are more rows (one more row is read to tell, as Spark does)."""
        rows = self.take(n + 1)
        width = 20 if truncate is True else int(truncate) if truncate else 0

        def cell(v: Any) -> str:
            s = "NULL" if v is None else _show_value(v)
            if width and len(s) > width:
                s = s[: width - 3] + "..." if width > 3 else s[:width]
            return s

        return self.columns, [[cell(v) for v in r] for r in rows[:n]], len(rows) > n

    def _show_string(self, n: int, truncate: Any) -> str:
        names, body, more = self._cells(n, truncate)
        widths = [max([3, len(c)] + [len(r[i]) for r in body]) for i, c in enumerate(names)]
        sep = "+" + "+".join("-" * w for w in widths) + "+\n"
        fmt = lambda cells: "|" + "|".join(c.rjust(w) for c, w in zip(cells, widths)) + "|\n"  # noqa: E731
        out = sep + fmt(names) + sep + "".join(fmt(r) for r in body) + sep
        if more:
            out += f"only showing top {n} row{'s' if n != 1 else ''}\n"
        return out

    def _repr_html_(self) -> Optional[str]:
        """The HTML table Jupyter shows when ``spark.sql.repl.eagerEval.enabled`` is true (PySpark's
        markup: ``maxNumRows`` rows, values cut at ``truncate`` characters); None otherwise."""
        conf = self.sparkSession.conf
        if not get(conf, "spark.sql.repl.eagerEval.enabled"):
            return None
        self._support_repr_html = True  # a notebook: __repr__ stays short, as in PySpark
        n = max(get(conf, "spark.sql.repl.eagerEval.maxNumRows"), 0)
        names, body, more = self._cells(n, get(conf, "spark.sql.repl.eagerEval.truncate"))
        out = "<table border='1'>\n<tr><th>" + "</th><th>".join(_html(c) for c in names) + "</th></tr>\n"
        out += "".join("<tr><td>" + "</td><td>".join(_html(c) for c in r) + "</td></tr>\n" for r in body)
        out += "</table>\n"
        if more:
            out += f"only showing top {n} row{'s' if n != 1 else ''}\n"
        return out

    def explain(self, extended: bool = False) -> None:
        print(self._explain_string())

    def _explain_string(self) -> str:
        if not self._direct():
            return self._engine().explain_text(self._node)
        return "== Physical Plan ==\n" + ScanUse(self.sparkSession, self._plan).describe(in_query=False) + "\n"

    def __repr__(self) -> str:
        conf = self.sparkSession.conf
        if not getattr(self, "_support_repr_html", False) and get(conf, "spark.sql.repl.eagerEval.enabled"):
            return self._show_string(max(get(conf, "spark.sql.repl.eagerEval.maxNumRows"), 0),
                                     get(conf, "spark.sql.repl.eagerEval.truncate"))
        return "DataFrame[" + ", ".join(f"{n}: {t}" for n, t in self.dtypes) + "]"


class GroupedData:
    """``df.groupBy(...)``: aggregate with ``agg`` or the shortcuts ``count``, ``sum``, ``avg``,
    ``mean``, ``min``, ``max``."""

    def __init__(self, df: DataFrame, keys: List[Any]) -> None:
        self._df = df
        self._keys = keys

    def agg(self, *exprs: Any) -> DataFrame:
        if len(exprs) == 1 and isinstance(exprs[0], dict):
            names = {"avg": F.avg, "mean": F.avg, "sum": F.sum, "min": F.min, "max": F.max, "count": F.count}
            aggs = [names[fn.lower()](c) for c, fn in exprs[0].items()]
        else:
            aggs = list(exprs)
        return self._df._with(Aggregate(self._df._node, self._keys, aggs))

    def count(self) -> DataFrame:
        return self.agg(F.count("*").alias("count"))

    def _numeric(self, cols: Sequence[str]) -> List[str]:
        if cols:
            return list(cols)
        numeric = ("tinyint", "smallint", "int", "bigint", "float", "double")
        return [n for n, t in self._df.dtypes if t in numeric or t.startswith("decimal")]

    def sum(self, *cols: str) -> DataFrame:
        return self.agg(*[F.sum(c) for c in self._numeric(cols)])

    def avg(self, *cols: str) -> DataFrame:
        return self.agg(*[F.avg(c) for c in self._numeric(cols)])

    mean = avg

    def min(self, *cols: str) -> DataFrame:
        return self.agg(*[F.min(c) for c in self._numeric(cols)])

    def max(self, *cols: str) -> DataFrame:
        return self.agg(*[F.max(c) for c in self._numeric(cols)])


def _qi(name: str) -> str:

    return quote_ident(name)


def _sql_item(e: Any) -> Any:
    """A select item given as SQL text is placed as written (its alias included)."""

    if e._kind != "sql":
        return e
    text = e._name
    return Column("sql", name=text, render=lambda: _strip_alias(text))


def _strip_alias(text: str) -> str:
    """``a + 1 AS b`` -> ``a + 1`` (the output name is set by the plan)."""

    m = re.match(r"^(.*?)\s+(?:as\s+)?(`[^`]+`|\"[^\"]+\"|[A-Za-z_][A-Za-z0-9_]*)\s*$", text, flags=re.I | re.S)
    if m and re.search(r"\sas\s", text, flags=re.I):
        return m.group(1)
    return text


def _html(text: str) -> str:
    """Escaped as Spark's htmlString escapes a cell: &, <, > and double quotes."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _show_value(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (bytes, bytearray)):
        return "[" + " ".join(f"{b:02X}" for b in v) + "]"
    if isinstance(v, list):
        return "[" + ", ".join("NULL" if x is None else _show_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_show_value(k)} -> {'NULL' if x is None else _show_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, Row):
        return "{" + ", ".join("NULL" if x is None else _show_value(x) for x in v) + "}"
    return str(v)
