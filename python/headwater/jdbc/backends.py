"""The drivers that run a partition's query: ConnectorX, ADBC and DB-API (sqlite3, psycopg).

Each backend opens its own connection per partition (in the process that reads the partition),
runs the optional ``sessionInitStatement``, applies ``queryTimeout``, runs one ``SELECT`` and streams
the result in batches of about ``fetchsize`` rows:

- ConnectorX: ``read_sql(..., return_type="arrow_stream", batch_size=fetchsize)``, a
  RecordBatchReader;
- ADBC: ``cursor.fetch_record_batch()``, a RecordBatchReader (PostgreSQL reads COPY output in
  chunks; SQLite steps ``fetchsize`` rows per batch);
- DB-API: ``fetchmany(fetchsize)`` on a server-side cursor (psycopg) or sqlite3's cursor. The rows
  (tuples the driver builds) go to the C converter through ``itertools.chain.from_iterable(
  iter(fetchmany, []))``: no Python bytecode of ours runs per row. When a column's Python values
  are not the schema's type (SQLite keeps dates as text, booleans as integers), each fetched
  chunk is converted to Arrow in C and cast with pyarrow instead: one Python step per chunk.

Arrow batches whose types differ from the schema (``large_string``, ``timestamp[tz=+00:00]``, ADBC's
numeric-as-text) are cast with pyarrow, one step per batch; batches already of the schema's
types pass straight through.

Errors name the backend, the URL with its password as ``***`` and the driver's message scrubbed
of the password; the driver's exception is not chained (its text may quote the connection
string).
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import re
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import pyarrow as pa

from headwater import _core, arrowtypes
from headwater.errors import AnalysisException
from headwater.extras import install_hint
from headwater.jdbc.url import JdbcUrl
from headwater.schema import parse_schema

__all__ = ["Backend", "BACKENDS", "ENGINE_ORDER", "choose_backend", "backend_named", "JdbcDriverError",
           "conform_batches"]

log = logging.getLogger("headwater.jdbc")


#: Exceptions that are never a driver's failure (ConnectorX's panics are BaseExceptions: caught).
_PASS_THROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit)


class JdbcDriverError(Exception):
    """A driver failed; the message is already scrubbed of the password."""


def _driver_failure(url: JdbcUrl, backend: str, action: str, e: BaseException) -> JdbcDriverError:
    text = url.scrub(f"{type(e).__name__}: {e}".strip())
    return JdbcDriverError(f"{action} {url.redacted()} with {backend} failed: {text}")


# ---------------------------------------------------------------------------------------------
# casting batches to the schema


def make_conformer(src: pa.Schema, dst: pa.Schema,
                   via: Optional[pa.Schema] = None) -> Optional[Callable[[pa.RecordBatch], pa.RecordBatch]]:
    """:func:`headwater.arrowtypes.make_conformer`, after checking the query returned as many
    columns as planned."""
    if len(src) != len(dst):
        raise JdbcDriverError(f"the query returned {len(src)} columns where {len(dst)} were expected")
    return arrowtypes.make_conformer(src, dst, via)


def conform_batches(reader: Any, dst: pa.Schema, via: Optional[pa.Schema] = None) -> Iterator[pa.RecordBatch]:
    """The batches of a RecordBatchReader in the schema ``dst`` (see :func:`make_conformer`)."""
    conform = make_conformer(reader.schema, dst, via)
    return iter(reader) if conform is None else (conform(batch) for batch in reader)


# ---------------------------------------------------------------------------------------------
# backends


class Backend:
    """One way to run a query. ``serves`` lists the URL kinds it can reach."""

    name = ""
    modules: Sequence[str] = ()
    serves: Dict[str, str] = {}  # kind -> the module needed for it
    install: Dict[str, str] = {}  # kind -> what to pip install

    def available(self, kind: str) -> bool:
        module = self.serves.get(kind)
        return module is not None and importlib.util.find_spec(module) is not None

    def read(self, url: JdbcUrl, sql: str, schema: pa.Schema, native: Optional[pa.Schema],
             opts: "ReadSettings", raw: Optional[pa.Schema] = None) -> Iterator[Any]:
        raise NotImplementedError

    def arrow_schema(self, url: JdbcUrl, sql: str, opts: "ReadSettings") -> pa.Schema:
        """The backend's Arrow schema of ``sql`` (run with no rows)."""
        raise NotImplementedError


class ReadSettings:
    """What a backend needs besides the URL and the SQL (picklable, no secrets)."""

    def __init__(self, fetchsize: int, session_init: Optional[str], query_timeout: int) -> None:
        self.fetchsize = fetchsize
        self.session_init = session_init
        self.query_timeout = query_timeout

    def pg_session_sql(self) -> List[str]:
        out = []
        if self.query_timeout > 0:
            out.append(f"SET statement_timeout = {int(self.query_timeout) * 1000}")
        if self.session_init:
            out.append(self.session_init)
        return out


def _pg_session(url: JdbcUrl, opts: ReadSettings) -> List[str]:
    return opts.pg_session_sql() if url.kind == "postgresql" else ([opts.session_init] if opts.session_init else [])


_SET = re.compile(r"(?is)^\s*SET\s+(?:SESSION\s+)?([A-Za-z_][\w.]*)\s*(?:=|\bTO\b)\s*(.+?)\s*;?\s*$")


class ConnectorXBackend(Backend):
    name = "connectorx"
    serves = {k: "connectorx" for k in ("postgresql", "sqlite", "mysql", "sqlserver")}
    install = {k: "connectorx" for k in serves}

    def _check(self, url: JdbcUrl, opts: ReadSettings) -> None:
        if url.is_memory:
            raise JdbcDriverError("connectorx cannot open jdbc:sqlite::memory: (each connection would see a "
                                  "different empty database)")
        if url.kind == "sqlite" and (opts.session_init or opts.query_timeout):
            raise JdbcDriverError("connectorx cannot run sessionInitStatement or queryTimeout on SQLite; "
                                  "use engine=adbc or engine=dbapi")

    def _stream(self, url: JdbcUrl, sql: str, opts: ReadSettings, batch_size: int) -> Any:
        import connectorx as cx

        kwargs: Dict[str, Any] = {"return_type": "arrow_stream", "batch_size": batch_size}
        uri = url.connectorx_uri()
        if url.kind == "postgresql":
            # ConnectorX plans on connections that pre_execution_query does not reach: settings go
            # into libpq's startup options instead, which every connection gets
            settings = {"statement_timeout": str(opts.query_timeout * 1000)} if opts.query_timeout > 0 else {}
            pre = []
            if opts.session_init:
                m = _SET.match(opts.session_init)
                if m:
                    settings[m.group(1)] = m.group(2).strip().strip("'")
                else:
                    pre.append(opts.session_init)
            uri = url.postgres_uri(settings)
            if pre:
                kwargs["pre_execution_query"] = pre
        elif opts.session_init:
            kwargs["pre_execution_query"] = [opts.session_init]
        try:
            return cx.read_sql(uri, sql, **kwargs)
        except _PASS_THROUGH:
            raise
        except BaseException as e:  # ConnectorX's Rust panics arrive as pyo3's PanicException (a BaseException)
            raise _driver_failure(url, self.name, "querying", e) from None

    def arrow_schema(self, url: JdbcUrl, sql: str, opts: ReadSettings) -> pa.Schema:
        self._check(url, opts)
        return self._stream(url, sql, opts, 1).schema

    def read(self, url: JdbcUrl, sql: str, schema: pa.Schema, native: Optional[pa.Schema],
             opts: ReadSettings, raw: Optional[pa.Schema] = None) -> Iterator[Any]:
        self._check(url, opts)
        reader = self._stream(url, sql, opts, opts.fetchsize)
        try:
            yield from conform_batches(reader, schema, raw)
        except (JdbcDriverError, *_PASS_THROUGH):
            raise
        except BaseException as e:  # see _stream
            raise _driver_failure(url, self.name, "reading from", e) from None


class AdbcBackend(Backend):
    name = "adbc"
    serves = {"postgresql": "adbc_driver_postgresql", "sqlite": "adbc_driver_sqlite"}
    install = {"postgresql": "adbc-driver-postgresql", "sqlite": "adbc-driver-sqlite"}

    def connect(self, url: JdbcUrl) -> Any:
        try:
            if url.kind == "postgresql":
                import adbc_driver_postgresql.dbapi as driver

                return driver.connect(url.postgres_uri())
            import adbc_driver_sqlite.dbapi as driver

            path = url.sqlite_path()
            return driver.connect(path if path.startswith("file:") or url.is_memory else "file:" + path)
        except Exception as e:
            raise _driver_failure(url, self.name, "connecting to", e) from None

    def _execute(self, conn: Any, url: JdbcUrl, sql: str, opts: ReadSettings, batch_rows: int,
                 columns: int = 1) -> Any:
        cur = conn.cursor()
        for stmt in _pg_session(url, opts):
            cur.execute(stmt)
        if url.kind == "sqlite":
            cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(max(1, batch_rows))})
        else:
            # the PostgreSQL driver cuts COPY output into batches by size: about fetchsize rows
            # (16 bytes a column: a number with its binary COPY framing)
            hint = max(1, batch_rows) * 16 * max(1, columns)
            cur.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(hint)})
        cur.execute(sql)
        return cur

    def arrow_schema(self, url: JdbcUrl, sql: str, opts: ReadSettings) -> pa.Schema:
        conn = self.connect(url)
        try:
            cur = self._execute(conn, url, sql, opts, 1)
            try:
                return cur.fetch_record_batch().schema
            finally:
                cur.close()
        except JdbcDriverError:
            raise
        except Exception as e:
            raise _driver_failure(url, self.name, "querying", e) from None
        finally:
            conn.close()

    def read(self, url: JdbcUrl, sql: str, schema: pa.Schema, native: Optional[pa.Schema],
             opts: ReadSettings, raw: Optional[pa.Schema] = None) -> Iterator[Any]:
        if url.kind == "sqlite" and opts.query_timeout:
            raise JdbcDriverError("adbc cannot apply queryTimeout on SQLite; use engine=dbapi")
        conn = self.connect(url)
        try:
            try:
                cur = self._execute(conn, url, sql, opts, opts.fetchsize, len(schema))  # kept: the reader needs it
                try:
                    yield from conform_batches(cur.fetch_record_batch(), schema, raw)
                finally:
                    cur.close()
            except JdbcDriverError:
                raise
            except Exception as e:
                raise _driver_failure(url, self.name, "reading from", e) from None
        finally:
            conn.close()


class DbapiBackend(Backend):
    """sqlite3 (standard library) and psycopg."""

    name = "dbapi"
    serves = {"postgresql": "psycopg", "sqlite": "sqlite3"}
    install = {"postgresql": "psycopg[binary]", "sqlite": "(the standard library's sqlite3)"}

    def connect(self, url: JdbcUrl, opts: Optional[ReadSettings] = None) -> Any:
        try:
            if url.kind == "postgresql":
                import psycopg
                from psycopg.types.string import TextLoader

                conn = psycopg.connect(**url.libpq_params())
                # values Spark reads as strings: keep PostgreSQL's text (psycopg would parse them)
                for t in ("json", "jsonb", "interval", "time", "timetz", "money", "xml"):
                    conn.adapters.register_loader(t, TextLoader)
                return conn
            import sqlite3

            path = url.sqlite_path()
            conn = sqlite3.connect(path, uri=path.startswith("file:"), check_same_thread=False)
            return conn
        except Exception as e:
            raise _driver_failure(url, self.name, "connecting to", e) from None

    def _session(self, conn: Any, url: JdbcUrl, opts: ReadSettings) -> None:
        for stmt in _pg_session(url, opts):
            conn.execute(stmt)
        if url.kind == "sqlite" and opts.query_timeout > 0:
            deadline = time.monotonic() + opts.query_timeout
            # a non-zero return interrupts the statement ("interrupted")
            conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10000)

    def describe(self, url: JdbcUrl, sql: str, opts: ReadSettings) -> Any:
        """The driver's cursor description of ``sql`` (run with no rows), for the schema."""
        conn = self.connect(url)
        try:
            self._session(conn, url, opts)
            cur = conn.execute(sql)
            return cur.description, conn
        except JdbcDriverError:
            conn.close()
            raise
        except Exception as e:
            conn.close()
            raise _driver_failure(url, self.name, "querying", e) from None

    def arrow_schema(self, url: JdbcUrl, sql: str, opts: ReadSettings) -> pa.Schema:
        raise JdbcDriverError("the dbapi backend has no Arrow schema of its own")

    def read(self, url: JdbcUrl, sql: str, schema: pa.Schema, native: Optional[pa.Schema],
             opts: ReadSettings, raw: Optional[pa.Schema] = None) -> Iterator[Any]:
        conn = self.connect(url)
        try:
            try:
                self._session(conn, url, opts)
                if url.kind == "postgresql":
                    # a server-side cursor: the server sends fetchsize rows per round trip
                    cur = conn.cursor(name="headwater_jdbc")
                    cur.itersize = opts.fetchsize
                    cur.execute(sql)
                else:
                    cur = conn.execute(sql)
                chunks = iter(lambda: cur.fetchmany(opts.fetchsize), [])
                if native is None:
                    # tuples straight to the C converter: no Python of ours per row
                    yield from itertools.chain.from_iterable(chunks)
                else:
                    yield from self._converted(chunks, native, schema, raw)
            except JdbcDriverError:
                raise
            except Exception as e:
                raise _driver_failure(url, self.name, "reading from", e) from None
        finally:
            conn.close()

    @staticmethod
    def _converted(chunks: Iterator[List[tuple]], native: pa.Schema, schema: pa.Schema,
                   raw: Optional[pa.Schema]) -> Iterator[pa.RecordBatch]:
        core = parse_schema(native)
        conform = make_conformer(native, schema, raw)
        for rows in chunks:  # one C conversion and one pyarrow cast per fetched chunk
            batch = pa.record_batch(_core.rows_to_batch(core, rows))
            yield conform(batch) if conform else batch


ENGINE_ORDER = ("connectorx", "adbc", "dbapi")
BACKENDS: Dict[str, Backend] = {"connectorx": ConnectorXBackend(), "adbc": AdbcBackend(), "dbapi": DbapiBackend()}


def backend_named(name: str) -> Backend:
    key = name.strip().lower()
    if key not in BACKENDS:
        raise AnalysisException(f"Option 'engine' must be one of {', '.join(ENGINE_ORDER)}, got '{name}'.",
                                "HW_JDBC_INVALID_OPTION")
    return BACKENDS[key]


def choose_backend(url: JdbcUrl, engine: Optional[str]) -> Backend:
    """The backend of ``engine``, or the first installed one that serves the URL (ConnectorX,
    ADBC, DB-API). Raises an error that lists the backends tried and what to install."""
    names = [backend_named(engine).name] if engine else list(ENGINE_ORDER)
    tried = []
    for name in names:
        b = BACKENDS[name]
        if b.available(url.kind):
            return b
        if url.kind in b.serves:
            tried.append(f"{name} (not installed: pip install {b.install[url.kind]})")
        else:
            tried.append(f"{name} (has no driver for {url.kind})")
    hints = [f"{n}: pip install {BACKENDS[n].install[url.kind]}" for n in ENGINE_ORDER if url.kind in BACKENDS[n].serves]
    raise AnalysisException(
        f"No installed backend can read {url.redacted()} (database type '{url.kind}'). Tried: "
        + "; ".join(tried) + ". "
        + ("Install one of: " + ", ".join(hints) + f" (all of them: {install_hint('jdbc')})." if hints else
           "headwater's backends serve postgresql, sqlite (connectorx, adbc, dbapi), mysql and sqlserver (connectorx)."),
        "HW_JDBC_NO_BACKEND",
    )
