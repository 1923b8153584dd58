"""One JDBC read: its schema, its partitions' SQL, and reading a partition.

Planning (once per query, in the session's process) connects once to learn the schema: Spark's
``SELECT * FROM <table> WHERE 1=0``, typed from the database's own metadata (PostgreSQL type OIDs
through psycopg; SQLite declared types through the standard library's sqlite3), else from the
backend's Arrow schema. ``customSchema`` then replaces the types of the columns it names.

Each partition is one ``SELECT <quoted columns> FROM <dbtable or (query) alias> [WHERE (pushed
filters) AND (partition clause)]``, as Spark's JDBCRDD builds it.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pyarrow as pa

from headwater.arrowtypes import spark_arrow_type
from headwater.config import batch_rows
from headwater.errors import AnalysisException, PythonException
from headwater.jdbc.backends import Backend, JdbcDriverError, ReadSettings, backend_named, choose_backend
from headwater.jdbc.dialect import Dialect, PostgresDialect, SqliteDialect, dialect_for
from headwater.jdbc.options import JdbcOptions
from headwater.jdbc.partitioning import column_kind, column_partition, parse_bound
from headwater.jdbc.url import JdbcUrl
from headwater.schema import parse_schema

__all__ = ["JdbcRelation", "PartitionSpec"]

log = logging.getLogger("headwater.jdbc")


class PartitionSpec:
    """One partition: its index, its SQL and the backend that reads it (no secrets: it may be shown)."""

    def __init__(self, index: int, sql: str, engine: str, where: Optional[str]) -> None:
        self.index, self.sql, self.engine, self.where = index, sql, engine, where

    def to_dict(self) -> Dict[str, Any]:
        return {"index": self.index, "sql": self.sql, "engine": self.engine, "where": self.where}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "PartitionSpec":
        return cls(d["index"], d["sql"], d["engine"], d.get("where"))


def _planning_error(opts: JdbcOptions, e: JdbcDriverError) -> AnalysisException:
    return AnalysisException(f"Reading the schema of {opts.what} failed: {e}", "HW_JDBC_QUERY_FAILED")


class JdbcRelation:
    """The planned read. Picklable (it travels to worker processes); the password is kept only in
    ``url`` (a :class:`JdbcUrl`, whose repr hides it)."""

    def __init__(self, options: Any, default_fetch: Optional[int] = None, *, with_schema: bool = True) -> None:
        opts = self.opts = JdbcOptions(options)
        self.url: JdbcUrl = opts.url
        self.dialect: Dialect = dialect_for(self.url.kind)
        self.backend: Backend = choose_backend(self.url, opts.engine)
        self.settings = ReadSettings(opts.fetchsize or default_fetch or batch_rows(None), opts.session_init,
                                     opts.query_timeout)
        self.pushed: List[str] = []  # SQL of the filters pushed down
        self.schema: Optional[pa.Schema] = None
        self.native: Optional[pa.Schema] = None  # what the dbapi backend's values are, when not the schema
        self.raw: Optional[pa.Schema] = None  # the database's own column types (naive timestamps naive)
        if with_schema:
            self.resolve_schema()

    # ---- schema

    def _schema_sql(self) -> str:
        return f"SELECT * FROM {self.opts.table_or_query} WHERE 1=0"

    def _describe(self) -> Tuple[pa.Schema, List[str]]:
        """The columns (names, Arrow types of their Spark types) and, per column, the SQL that
        selects it."""
        # naive timestamps stay naive here (the raw schema); resolve_schema decides what Spark sees
        url, prefer_ntz = self.url, True
        dbapi = backend_named("dbapi")
        if url.kind == "sqlite" and not (url.is_memory and self.backend.name != "dbapi"):
            return self._describe_sqlite(dbapi)
        if url.kind == "postgresql" and dbapi.available("postgresql"):
            description, conn = dbapi.describe(url, self._schema_sql(), self.settings)
            conn.close()
            d = PostgresDialect()
            fields = [pa.field(c.name, d.arrow_type(c.type_code, c.precision, c.scale, prefer_ntz)) for c in description]
            return pa.schema(fields), [self.dialect.quote_identifier(f.name) for f in fields]
        native = self.backend.arrow_schema(url, self._schema_sql(), self.settings)
        fields = [pa.field(f.name, spark_arrow_type(f.type, prefer_ntz)) for f in native]
        return pa.schema(fields), [self.dialect.quote_identifier(f.name) for f in fields]

    def _describe_sqlite(self, dbapi: Backend) -> Tuple[pa.Schema, List[str]]:
        # A temporary view over the query gives each column's declared type (PRAGMA table_info);
        # a column without one (an expression) is typed by its first non-null value.
        conn = dbapi.connect(self.url)  # type: ignore[attr-defined]
        if self.opts.query_timeout > 0:  # as Spark, the schema query has the timeout too
            deadline = time.monotonic() + self.opts.query_timeout
            conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10000)
        d = SqliteDialect()
        try:
            view = f"hw_describe_{uuid.uuid4().hex}"
            try:
                if self.opts.session_init:
                    conn.execute(self.opts.session_init)
                conn.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM {self.opts.table_or_query}")
                info = conn.execute(f"PRAGMA table_info({view})").fetchall()
            except Exception as e:
                raise JdbcDriverError(self.url.scrub(f"querying {self.url.redacted()} with sqlite3 failed: "
                                                     f"{type(e).__name__}: {e}")) from None
            fields, select = [], []
            for _, name, decl, *_ in info:
                t = d.arrow_type(decl or "", True)
                q = d.quote_identifier(name)
                if t is None:
                    row = conn.execute(f"SELECT typeof({q}) FROM {view} WHERE {q} IS NOT NULL LIMIT 1").fetchone()
                    t = {"integer": pa.int64(), "real": pa.float64(), "blob": pa.binary()}.get(row[0] if row else "",
                                                                                             pa.string())
                fields.append(pa.field(name, t))
                # decimals are read as SQLite's text of the value, so no digit goes through a double
                select.append(f"CAST({q} AS TEXT) AS {q}" if pa.types.is_decimal(t) else q)
            return pa.schema(fields), select
        finally:
            conn.close()

    def resolve_schema(self) -> None:
        try:
            raw, self.select = self._describe()
        except JdbcDriverError as e:
            raise _planning_error(self.opts, e) from None
        described = raw
        if len(set(n.lower() for n in described.names)) != len(described.names):
            raise AnalysisException(f"The {self.opts.what} has duplicate column names: {described.names}",
                                    "COLUMN_ALREADY_EXISTS")
        if not self.opts.prefer_ntz:
            # Spark's default: TIMESTAMP WITHOUT TIME ZONE reads as TimestampType (the wall clock
            # taken as UTC: headwater has no session time zone)
            described = pa.schema([f.with_type(_instant(f.type)) for f in described])
        schema = described
        if self.opts.custom_schema:
            schema = _apply_custom_schema(described, self.opts.custom_schema)
        self.schema = schema
        self.native = self._native_schema(raw, schema)
        self.raw = raw

    def _native_schema(self, described: pa.Schema, schema: pa.Schema) -> Optional[pa.Schema]:
        """The types the dbapi backend's Python values convert to, when they are not the schema's
        (then each fetched chunk is converted and cast); None when rows can go straight to the C
        converter. ``described`` is the raw schema: a driver's naive datetimes convert as naive
        (TIMESTAMP_NTZ) and are then cast to UTC instants, as the Arrow backends' are."""
        if self.backend.name != "dbapi":
            return None
        if self.url.kind == "sqlite":
            def storage(t: pa.DataType) -> pa.DataType:
                if pa.types.is_boolean(t):
                    return pa.int64()
                if pa.types.is_decimal(t) or pa.types.is_date(t) or pa.types.is_timestamp(t):
                    return pa.string()
                return t

            native = pa.schema([pa.field(f.name, storage(f.type)) for f in described])
        else:
            native = described
        return None if native.equals(schema) else native

    # ---- filters and partitions

    def push_filters(self, filters: List[Any]) -> List[Any]:
        """Push what translates to SQL (when ``pushDownPredicate`` is true); return the rest."""
        if not self.opts.push_down_predicate:
            return list(filters)
        assert self.schema is not None
        columns = {n.lower(): n for n in self.schema.names}
        rest = []
        for f in filters:
            sql = self.dialect.compile_filter(f, columns)
            if sql is None:
                rest.append(f)
            else:
                self.pushed.append(sql)
        return rest

    def where_clauses(self) -> List[Optional[str]]:
        """One WHERE clause per partition (None: no partition condition)."""
        opts = self.opts
        if opts.predicates is not None:
            return list(opts.predicates) or [None]
        if opts.partition_column is None or opts.num_partitions is None:
            return [None]
        assert self.schema is not None
        wanted = opts.partition_column
        found = [f for f in self.schema if f.name.lower() == _unquote(wanted).lower()]
        if not found:
            raise AnalysisException(
                f"User-defined partition column {wanted} not found in the JDBC relation: "
                f"{', '.join(f'{f.name} {f.type}' for f in self.schema)}.",
                "HW_JDBC_INVALID_OPTION",
            )
        field = found[0]
        kind = column_kind(field.type)
        if kind is None:
            raise AnalysisException(
                f"Partition column type should be numeric, date, or timestamp, but {field.type} found.",
                "HW_JDBC_INVALID_OPTION",
            )
        lower = parse_bound(opts.lower_bound or "", kind, "lowerBound")
        upper = parse_bound(opts.upper_bound or "", kind, "upperBound")
        return column_partition(self.dialect.quote_identifier(field.name), kind, lower, upper,
                                opts.num_partitions, self.dialect)

    def partition_sql(self, where: Optional[str]) -> str:
        conds = " AND ".join(self.pushed)
        if where is not None and conds:
            clause = f" WHERE ({conds}) AND ({where})"
        elif where is not None:
            clause = f" WHERE {where}"
        elif conds:
            clause = f" WHERE {conds}"
        else:
            clause = ""
        return f"SELECT {', '.join(self.select)} FROM {self.opts.table_or_query}{clause}"

    def plan(self) -> List[PartitionSpec]:
        return [PartitionSpec(i, self.partition_sql(w), self.backend.name, w)
                for i, w in enumerate(self.where_clauses())]

    # ---- reading

    def read(self, spec: PartitionSpec) -> Iterator[Any]:
        """The rows of one partition: RecordBatches (ConnectorX, ADBC) or tuples (DB-API)."""
        assert self.schema is not None
        backend = backend_named(spec.engine)
        log.debug("jdbc partition %d: engine %s reads %s: %s", spec.index, backend.name, self.url.redacted(), spec.sql)
        try:
            yield from backend.read(self.url, spec.sql, self.schema, self.native, self.settings, self.raw)
        except JdbcDriverError as e:
            raise PythonException(f"JDBC partition {spec.index} ({backend.name}): {e}", "HW_JDBC_QUERY_FAILED",
                                  partition=spec.index) from None

    def explain_lines(self, specs: List[PartitionSpec]) -> List[str]:
        lines = [f"  jdbc: {self.url.redacted()} {self.opts.what}",
                 f"  pushed filters: [{', '.join(self.pushed)}]"]
        for s in specs:
            lines.append(f"  partition {s.index}: engine={s.engine} where={s.where or '(none)'}")
        return lines


def _instant(t: pa.DataType) -> pa.DataType:
    """A naive timestamp type (also inside arrays) as Spark's TimestampType."""
    if pa.types.is_timestamp(t) and t.tz is None:
        return pa.timestamp("us", tz="UTC")
    if pa.types.is_list(t):
        return pa.list_(_instant(t.value_type))
    return t


def _unquote(name: str) -> str:
    n = name.strip()
    if len(n) >= 2 and n[0] == n[-1] and n[0] in "\"`":
        return n[1:-1].replace(n[0] * 2, n[0])
    if len(n) >= 2 and n[0] == "[" and n[-1] == "]":
        return n[1:-1]
    return n


def _apply_custom_schema(described: pa.Schema, custom: str) -> pa.Schema:
    """Spark's getCustomSchema: each column the DDL names (case-insensitively) takes its type;
    others keep theirs; names the table lacks are ignored."""
    try:
        user = pa.schema(parse_schema(custom))
    except Exception as e:
        raise AnalysisException(f"Option 'customSchema' is not a valid DDL schema: {e}", "HW_JDBC_INVALID_OPTION") from None
    lowered = [n.lower() for n in user.names]
    dup = {n for n in lowered if lowered.count(n) > 1}
    if dup:
        raise AnalysisException(f"Found duplicate column(s) in the customSchema option value: `{sorted(dup)[0]}`.",
                                "COLUMN_ALREADY_EXISTS")
    by_name = {f.name.lower(): f for f in user}
    return pa.schema([pa.field(f.name, by_name[f.name.lower()].type) if f.name.lower() in by_name else f
                      for f in described])
