"""Writing a DataFrame to a database table, in one transaction.

The writer opens one connection when the write is planned and starts a transaction; it creates,
drops or truncates the table there (``overwrite`` drops and re-creates it, or with
``truncate=true`` empties it and keeps its definition, as in Spark; ``append`` creates it when
missing). Every partition then writes through that connection (partitions take turns: a lock),
and ``commit`` commits; ``abort`` — a partition failed — rolls everything back, so a failed write
leaves the table as it was. PostgreSQL and SQLite both have transactional DDL.

Rows go in by ADBC bulk ingest (PostgreSQL: binary COPY; a partition's batches stream into one
ingest) when ``adbc-driver-*`` is installed, else by ``executemany`` of ``batchsize`` rows (the
Python values come from pyarrow's ``to_pylist``: a DB-API driver takes Python objects, so this path
has per-row objects by nature).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pyarrow as pa

from headwater.datasource import DataSourceArrowWriter, WriterCommitMessage
from headwater.errors import AnalysisException, PythonException
from headwater.jdbc.backends import BACKENDS, JdbcDriverError, backend_named
from headwater.jdbc.dialect import dialect_for
from headwater.jdbc.options import JdbcOptions
from headwater.schema import parse_schema

__all__ = ["JDBCWriter", "split_table_name"]

log = logging.getLogger("headwater.jdbc")


class _Done(WriterCommitMessage):
    def __init__(self, rows: int) -> None:
        self.rows = rows


def split_table_name(text: str, fold_lower: bool) -> Tuple[Optional[str], str]:
    """``schema.table`` (each part plain or double-quoted) as ``(schema, table)`` unquoted; plain
    parts are folded to lower case where the database does that (PostgreSQL)."""
    parts: List[str] = []
    i, n = 0, len(text)
    while i <= n:
        if i < n and text[i] == '"':
            j, buf = i + 1, []
            while True:
                k = text.find('"', j)
                if k < 0:
                    raise ValueError("unclosed quote")
                buf.append(text[j:k])
                if k + 1 < n and text[k + 1] == '"':
                    buf.append('"')
                    j = k + 2
                    continue
                break
            parts.append("".join(buf))
            i = k + 1
        else:
            k = text.find(".", i)
            k = n if k < 0 else k
            word = text[i:k].strip()
            if not word or not all(c.isalnum() or c in "_$" for c in word):
                raise ValueError(f"'{word}' is not a plain identifier")
            parts.append(word.lower() if fold_lower else word)
            i = k
        if i < n and text[i] != ".":
            raise ValueError("unexpected text after a quoted name")
        i += 1
    if not 1 <= len(parts) <= 2:
        raise ValueError("expected table or schema.table")
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


class JDBCWriter(DataSourceArrowWriter):
    """A DataSourceArrowWriter over one connection and one transaction (see the module docstring)."""

    def __init__(self, options: Dict[str, Any], schema: Any, overwrite: bool) -> None:
        self.opts = opts = JdbcOptions(options, write=True)
        self.url = opts.url
        self.dialect = dialect_for(self.url.kind)
        self.arrow_schema = pa.schema(parse_schema(schema))
        self.table = opts.dbtable or ""
        self.engine = self._engine(opts.engine)
        self.lock = threading.Lock()
        self.rows = 0
        try:
            self.conn = self._connect()
        except JdbcDriverError as e:
            raise AnalysisException(f"Writing to table {self.table} failed: {e}", "HW_JDBC_WRITE_FAILED") from None
        try:
            self._prepare(overwrite)
        except BaseException as e:
            self._rollback()
            if isinstance(e, AnalysisException):
                raise
            raise AnalysisException(f"Writing to table {self.table} failed: preparing the table with {self.engine} "
                                    f"failed: {self.url.scrub(f'{type(e).__name__}: {e}')}",
                                    "HW_JDBC_WRITE_FAILED") from None

    # ---- connection and transaction

    def _engine(self, engine: Optional[str]) -> str:
        kind = self.url.kind
        if engine:
            b = backend_named(engine)
            if b.name == "connectorx":
                raise AnalysisException("engine=connectorx reads only; writes use adbc or dbapi.", "HW_JDBC_INVALID_OPTION")
            if not b.available(kind):
                raise AnalysisException(f"engine={b.name} cannot write to {kind}: "
                                        + (f"pip install {b.install[kind]}" if kind in b.serves else "no driver"),
                                        "HW_JDBC_NO_BACKEND")
            return b.name
        for name in ("adbc", "dbapi"):
            if BACKENDS[name].available(kind):
                return name
        raise AnalysisException(f"No installed backend can write to {self.url.redacted()}: writes use adbc "
                                "(adbc-driver-postgresql, adbc-driver-sqlite) or dbapi (psycopg[binary], sqlite3).",
                                "HW_JDBC_NO_BACKEND")

    def _connect(self) -> Any:
        b = BACKENDS[self.engine]
        conn = b.connect(self.url)  # type: ignore[attr-defined]
        if self.engine == "dbapi" and self.url.kind == "sqlite":
            conn.isolation_level = None  # our own BEGIN: sqlite3 would not begin before DDL
            conn.execute("BEGIN")
        if self.opts.session_init:
            self._exec(self.opts.session_init, conn)
        return conn

    def _exec(self, sql: str, conn: Any = None) -> None:
        cur = (conn or self.conn).cursor()
        try:
            cur.execute(sql)
        finally:
            cur.close()

    def _table_exists(self) -> bool:
        # Spark runs SELECT 1 FROM t WHERE 1=0 and takes a failure as "missing"; a failed
        # statement would spoil the transaction, so ask the catalog instead (it reads the name
        # with the same quoting rules as the statements that follow).
        cur = self.conn.cursor()
        try:
            if self.url.kind == "postgresql":
                cur.execute(f"SELECT to_regclass({self.dialect.literal(self.table)}) IS NOT NULL")
                return bool(cur.fetchone()[0])
            try:
                schema, name = split_table_name(self.table, fold_lower=False)
            except ValueError as e:
                raise AnalysisException(f"Option 'dbtable' must name a table ([schema.]table) for writing: {e}",
                                        "HW_JDBC_INVALID_OPTION") from None
            master = f"{self.dialect.quote_identifier(schema)}.sqlite_master" if schema else "sqlite_master"
            cur.execute(f"SELECT count(*) FROM {master} WHERE type IN ('table', 'view') AND "
                        f"lower(name) = lower({self.dialect.literal(name)})")
            return cur.fetchone()[0] > 0
        finally:
            cur.close()

    def _create(self) -> None:
        q = self.dialect.quote_identifier
        try:
            cols = ", ".join(f"{q(f.name)} {self.dialect.sql_type(f.type)}" for f in self.arrow_schema)
        except TypeError as e:
            raise AnalysisException(f"Cannot create table {self.table}: {e}", "HW_JDBC_WRITE_FAILED") from None
        self._exec(f"CREATE TABLE {self.table} ({cols}) {self.opts.create_table_options}".rstrip())

    def _prepare(self, overwrite: bool) -> None:
        exists = self._table_exists()
        if exists and overwrite:
            if self.opts.truncate:
                self._exec(f"TRUNCATE TABLE {self.table}" if self.url.kind == "postgresql"
                           else f"DELETE FROM {self.table}")
            else:
                self._exec(f"DROP TABLE {self.table}")
                self._create()
        elif not exists:
            self._create()
        self.table_schema = self._table_arrow_schema()

    def _table_arrow_schema(self) -> Dict[str, pa.DataType]:
        """The table's column types as the writer's driver sees them (lower-cased names)."""
        cur = self.conn.cursor()
        try:
            cur.execute(f"SELECT * FROM {self.table} WHERE 1=0")
            if self.engine == "adbc" and self.url.kind == "postgresql":
                # (ADBC's SQLite driver types an empty result as integers: SQLite needs no alignment)
                return {f.name.lower(): f.type for f in cur.fetch_arrow_table().schema}
            if self.engine == "adbc":
                return {f.name.lower(): None for f in cur.fetch_arrow_table().schema}
            return {d[0].lower(): None for d in cur.description}
        finally:
            cur.close()

    def _rollback(self) -> None:
        conn, self.conn = getattr(self, "conn", None), None
        if conn is None:
            return
        try:
            if self.engine == "dbapi" and self.url.kind == "sqlite":
                conn.execute("ROLLBACK")
            else:
                conn.rollback()
        except Exception as e:  # the original failure matters more
            log.debug("jdbc write: rollback failed: %s", self.url.scrub(str(e)))
        finally:
            conn.close()

    # ---- the protocol

    def _columns(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch with the table's column names and, for ADBC, its column types (numbers widen,
        timestamps take the column's zone), so binary COPY gets what the table holds."""
        missing = [n for n in batch.schema.names if n.lower() not in self.table_schema]
        if missing:
            raise AnalysisException(f"Column {missing[0]} not found in the table {self.table} "
                                    f"(its columns: {list(self.table_schema)}).", "HW_JDBC_WRITE_FAILED")
        if self.url.kind == "sqlite":
            return _sqlite_storage(batch)
        if self.engine != "adbc":
            return batch
        arrays, changed = [], False
        for col, field in zip(batch.columns, batch.schema):
            want = self.table_schema[field.name.lower()]
            if want is not None and want != field.type and _widenable(field.type, want):
                col, changed = col.cast(want), True
            arrays.append(col)
        return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names) if changed else batch

    def write(self, iterator: Iterator[pa.RecordBatch]) -> WriterCommitMessage:
        with self.lock:
            if self.conn is None:
                raise PythonException("the JDBC write was aborted", "HW_JDBC_WRITE_FAILED")
            rows = 0
            try:
                if self.engine == "adbc":
                    rows = self._ingest(iterator)
                else:
                    rows = self._executemany(iterator)
            except (AnalysisException, PythonException):
                raise
            except Exception as e:
                raise PythonException(f"Writing to table {self.table} with {self.engine} failed: "
                                      f"{self.url.scrub(f'{type(e).__name__}: {e}')}", "HW_JDBC_WRITE_FAILED") from None
            self.rows += rows
            return _Done(rows)

    def _ingest(self, iterator: Iterator[pa.RecordBatch]) -> int:
        first = next(iterator, None)
        if first is None:
            return 0
        first = self._columns(first)
        counted = [0]

        def batches() -> Iterator[pa.RecordBatch]:
            b: Optional[pa.RecordBatch] = first
            while b is not None:
                counted[0] += b.num_rows
                yield b
                nxt = next(iterator, None)
                b = None if nxt is None else self._columns(nxt)

        reader = pa.RecordBatchReader.from_batches(first.schema, batches())
        try:
            schema_name, table = split_table_name(self.table, fold_lower=self.url.kind == "postgresql")
        except ValueError as e:
            raise AnalysisException(f"Option 'dbtable' must name a table ([schema.]table) for writing: {e}",
                                    "HW_JDBC_INVALID_OPTION") from None
        cur = self.conn.cursor()
        try:
            kwargs = {"db_schema_name": schema_name} if schema_name else {}
            cur.adbc_ingest(table, reader, mode="append", **kwargs)
        finally:
            cur.close()
        return counted[0]

    @staticmethod
    def _python_columns(batch: pa.RecordBatch) -> List[List[Any]]:
        return [col.to_pylist() for col in batch.columns]

    def _executemany(self, iterator: Iterator[pa.RecordBatch]) -> int:
        q = self.dialect.quote_identifier
        rows = 0
        cur = self.conn.cursor()
        try:
            for batch in iterator:
                batch = self._columns(batch)
                mark = "?" if self.url.kind == "sqlite" else "%s"
                sql = (f"INSERT INTO {self.table} ({', '.join(q(n) for n in batch.schema.names)}) "
                       f"VALUES ({', '.join([mark] * batch.num_columns)})")
                step = self.opts.batchsize
                for start in range(0, batch.num_rows, step):
                    part = batch.slice(start, step)
                    cur.executemany(sql, list(zip(*self._python_columns(part))))
                rows += batch.num_rows
        finally:
            cur.close()
        return rows

    def commit(self, messages: List[Optional[WriterCommitMessage]]) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            raise PythonException("the JDBC write was aborted", "HW_JDBC_WRITE_FAILED")
        try:
            if self.engine == "dbapi" and self.url.kind == "sqlite":
                conn.execute("COMMIT")
            else:
                conn.commit()
            log.debug("jdbc write: committed %d rows to %s (%s)", self.rows, self.table, self.engine)
        except Exception as e:
            try:
                conn.rollback()
            except Exception:
                pass
            raise PythonException(f"Committing the write to table {self.table} failed: "
                                  f"{self.url.scrub(f'{type(e).__name__}: {e}')}", "HW_JDBC_WRITE_FAILED") from None
        finally:
            conn.close()

    def abort(self, messages: List[Optional[WriterCommitMessage]]) -> None:
        log.debug("jdbc write: rolling back the write to %s", self.table)
        self._rollback()

    def __repr__(self) -> str:
        return f"JDBCWriter({self.url.redacted()}, table={self.table!r}, engine={self.engine})"


def _sqlite_storage(batch: pa.RecordBatch) -> pa.RecordBatch:
    """SQLite keeps dates, timestamps (as UTC wall clock) and decimals as ISO/decimal text, the
    form the reader parses back (pyarrow casts, once per batch)."""
    arrays, changed = [], False
    for col in batch.columns:
        t = col.type
        if pa.types.is_timestamp(t):
            col = (col.cast(pa.timestamp(t.unit)) if t.tz else col).cast(pa.string())
        elif pa.types.is_date(t) or pa.types.is_decimal(t):
            col = col.cast(pa.string())
        else:
            arrays.append(col)
            continue
        arrays.append(col)
        changed = True
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names) if changed else batch


def _widenable(src: pa.DataType, dst: pa.DataType) -> bool:
    if (pa.types.is_integer(src) or pa.types.is_floating(src)) and (pa.types.is_integer(dst) or pa.types.is_floating(dst)):
        return True
    if pa.types.is_timestamp(src) and pa.types.is_timestamp(dst):
        return True
    if (pa.types.is_string(src) and pa.types.is_large_string(dst)) or (pa.types.is_binary(src) and pa.types.is_large_binary(dst)):
        return True
    return False
