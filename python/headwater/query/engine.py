"""DuckDB, the embedded engine: one in-memory database per SparkSession; each action compiles the
DataFrame's plan (:mod:`headwater.query.logical`, :mod:`headwater.query.compiler`) to one SQL statement on a fresh cursor, registers the
Python source scans it reads, runs it, and maps failures to headwater's exceptions."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

import pyarrow as pa

from headwater.config import get
from headwater.errors import AnalysisException, HeadwaterException, ParseException
from headwater.exec.scan import raise_failure
from headwater.query.compiler import Compiler
from headwater.query.planner import Planner
from headwater.query.expressions import SPARK_RUNTIME_ERRORS, quote_ident
from headwater.query.logical import Node

__all__ = ["QueryEngine", "QueryExecutionException"]


class QueryExecutionException(HeadwaterException):
    """DuckDB failed while running a query (a failed cast, an overflow, ...)."""


_INTEGRAL_128 = ("HUGEINT", "UHUGEINT")


class Prepared:
    """A compiled action: the cursor it runs on, its SQL and the source scans it registered."""

    def __init__(self, con: Any, sql: str, compiler: Compiler) -> None:
        self.con = con
        self.sql = sql
        self.compiler = compiler

    def relation(self) -> Any:
        return self.con.sql(self.sql)

    def close(self) -> None:
        for name in self.compiler.leaves:
            try:
                self.con.unregister(name)
            except Exception:
                pass
        self.con.close()


class QueryEngine:
    def __init__(self, session: Any) -> None:
        import duckdb

        self.session = session
        self._duckdb = duckdb
        self.db = duckdb.connect(":memory:")

    # ---- compiling

    def prepare(self, node: Node, *, ordered: bool = True, placeholders: bool = False, limit: Optional[int] = None,
                needed: Optional[set] = None) -> Prepared:
        """The SQL of node's result (columns named as Spark names them) on a new cursor with the leaves
        registered. ``placeholders``: empty tables stand in for the sources (to learn names and types
        without reading anything or asking the source)."""
        planner = Planner(self, pushdown=self._pushdown_enabled(), ordered=ordered, placeholders=placeholders)
        comp = self._guard(lambda: planner.plan(node).compiler())
        body = self._guard(lambda: comp.compile(node, needed, limit))
        con = self._cursor(comp)
        outputs = node.output if needed is None else [a for a in node.output if a.id in needed] or node.output[:1]
        # Spark has no 128-bit integers: DuckDB's sum of integers is narrowed to bigint (an overflow
        # is then an error, as with Spark's ANSI mode)
        bound = self._guard(lambda: con.sql(body), con)  # bound, not run
        by_name = {n: str(t) for n, t in zip(bound.columns, bound.types)}
        cols = []
        for a in outputs:
            expr = f"r.{quote_ident(a.sql)}"
            if by_name.get(a.sql) in _INTEGRAL_128:
                expr = f"CAST({expr} AS BIGINT)"
            cols.append(f"{expr} AS {quote_ident(a.name)}")
        return Prepared(con, f"SELECT {', '.join(cols)} FROM ({body}) AS r", comp)

    def probe(self, node: Optional[Node] = None, text: str = "", views: Optional[Dict[str, Node]] = None) -> Compiler:
        """A compiler over empty stand-ins of the sources, to learn names and types by binding
        (nothing is read, no source is asked): for ``node``, or for the temp ``views`` a SQL
        ``text`` reads."""
        planner = Planner(self, placeholders=True)
        if node is not None:
            planner.plan(node)
        if views:
            planner.plan_sql(text, views)
        return planner.compiler()

    def _pushdown_enabled(self) -> bool:
        return get(self.session.conf, "headwater.sql.pushdown")

    def _cursor(self, comp: Compiler) -> Any:
        """A new cursor with Spark's NULL ordering and the compiled query's leaves registered."""
        con = self.db.cursor()
        con.execute("SET default_null_order = 'nulls_first_on_asc_last_on_desc'")
        for name, obj in comp.leaves.items():
            con.register(name, obj)
        return con

    def bind_names(self, sql: str, comp: Compiler) -> List[str]:
        """DuckDB's names of a query's columns (bound only, nothing runs)."""
        con = self._cursor(comp)
        return self._guard(lambda: con.sql(sql).columns, con)

    def bind_types(self, sql: str, comp: Compiler) -> List[str]:
        """DuckDB's types of a query's columns (bound only, nothing runs)."""
        con = self._cursor(comp)
        return [str(t) for t in self._guard(lambda: con.sql(sql).types, con)]

    # ---- running

    def table(self, node: Node, limit: Optional[int] = None) -> pa.Table:
        prep = self.prepare(node, ordered=True, limit=limit)
        return self._run(prep, lambda rel: rel.to_arrow_table())

    def count(self, node: Node) -> int:
        prep = self.prepare(node, ordered=False, needed={node.output[0].id} if node.output else None)
        sql = f"SELECT count(*) FROM ({prep.sql}) AS c"
        return self._run(prep, lambda _: prep.con.sql(sql).fetchone()[0])

    def reader(self, node: Node) -> pa.RecordBatchReader:
        """The result as a stream of batches, as DuckDB produces them (its result holds what the
        query needs, so the cursor is not closed here)."""
        prep = self.prepare(node, ordered=False)
        return self._run(prep, lambda rel: rel.to_arrow_reader(), close=False)

    def schema(self, node: Node) -> pa.Schema:
        prep = self.prepare(node, placeholders=True)
        return self._run(prep, lambda rel: rel.limit(0).to_arrow_table().schema)

    def explain_text(self, node: Node) -> str:
        prep = self.prepare(node, ordered=True)
        rows = self._run(prep, lambda _: prep.con.sql("EXPLAIN " + prep.sql).fetchall())
        duck = "\n".join(r[1] for r in rows)
        scans = "\n".join(use.describe() for use in prep.compiler.scans) or "(no Python source)"
        return f"== Python source scans ==\n{scans}\n== DuckDB plan ==\n{duck}"

    def materialize(self, node: Node) -> pa.Table:
        """A cache()'d node's result, computed once."""
        node.cache_requested = False
        try:
            return self.table(node)
        finally:
            node.cache_requested = True

    def _run(self, prep: Prepared, action: Any, close: bool = True) -> Any:
        """Runs an action on the prepared cursor; closing it drops what DuckDB still holds of the
        sources' streams and batches (shared memory in process mode)."""
        try:
            return self._guard(lambda: action(prep.relation()), prep.con, prep.compiler)
        finally:
            if close:
                prep.close()

    def _guard(self, fn: Any, con: Any = None, comp: Optional[Compiler] = None) -> Any:
        """Runs fn; a failed source scan raises what it would without DuckDB; DuckDB's own errors
        become Spark's exception types."""
        duckdb = self._duckdb
        try:
            return fn()
        except HeadwaterException:
            raise
        except duckdb.Error as e:
            for use in (comp.scans if comp is not None else []):
                scan = use.failure_scan()
                if scan is not None:
                    raise_failure(scan, e)
            raise _translate(e) from None


def _translate(e: Exception) -> HeadwaterException:
    import duckdb

    text = str(e)
    if isinstance(e, duckdb.ParserException):
        return ParseException(text, "PARSE_SYNTAX_ERROR")
    if isinstance(e, duckdb.CatalogException):
        return AnalysisException(text, "TABLE_OR_VIEW_NOT_FOUND" if "does not exist" in text else "HW_CATALOG")
    if isinstance(e, duckdb.BinderException):
        cls = "UNRESOLVED_COLUMN.WITH_SUGGESTION" if "not found" in text or "Referenced column" in text else \
            "DATATYPE_MISMATCH" if "No function matches" in text or "Cannot compare" in text else "HW_BINDER"
        return AnalysisException(text, cls)
    raised = re.match(r"Invalid Input Error: \[([A-Z_]+)\] ", text)  # error() in SQL the compiler wrote for Spark's rule
    if raised and raised.group(1) in SPARK_RUNTIME_ERRORS:
        return QueryExecutionException(text[raised.end():], raised.group(1))
    if isinstance(e, duckdb.ConversionException) and "Type INT128 with value" in text:
        # only the compiler's cast of an integer sum (DuckDB: 128 bits) to Spark's bigint casts from INT128
        return QueryExecutionException(text, "ARITHMETIC_OVERFLOW")
    if isinstance(e, duckdb.ConversionException):  # a number out of the target type's range: Spark's CAST_OVERFLOW
        overflow = "out of range for the destination type" in text or "Failed to cast decimal value" in text
        return QueryExecutionException(text, "CAST_OVERFLOW" if overflow else "CAST_INVALID_INPUT")
    if isinstance(e, duckdb.OutOfRangeException):
        return QueryExecutionException(text, "ARITHMETIC_OVERFLOW")
    return QueryExecutionException(text, "HW_QUERY_FAILED")

