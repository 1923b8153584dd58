"""Real databases for the JDBC tests: a SQLite file per test, or a database per test in the
session's throwaway PostgreSQL cluster (the ``pg`` fixture of conftest.py)."""

from __future__ import annotations

import itertools
import sqlite3
from typing import Any, Dict, List, Sequence

_counter = itertools.count()


class Db:
    """One empty database: ``url``, ``options`` (credentials), ``run(sql)``, ``rows(sql)``."""

    kind = ""

    def __init__(self) -> None:
        self.url = ""
        self.options: Dict[str, str] = {}

    def run(self, *statements: str) -> None:
        raise NotImplementedError

    def insert(self, table: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def rows(self, sql: str) -> List[tuple]:
        raise NotImplementedError


class SqliteDb(Db):
    kind = "sqlite"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.url = f"jdbc:sqlite:{path}"

    def _conn(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def run(self, *statements: str) -> None:
        with self._conn() as c:
            for s in statements:
                c.execute(s)
        c.close()

    def insert(self, table: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        with self._conn() as c:
            c.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
        c.close()

    def rows(self, sql: str) -> List[tuple]:
        c = self._conn()
        try:
            return c.execute(sql).fetchall()
        finally:
            c.close()


class PgDb(Db):
    kind = "postgresql"

    def __init__(self, cluster: Any) -> None:
        super().__init__()
        self.cluster = cluster
        self.name = f"t{next(_counter)}"
        cluster.psql(f"CREATE DATABASE {self.name} OWNER {cluster.user}", database="postgres")
        self.url = cluster.jdbc_url(self.name)
        self.options = {"user": cluster.user}

    def _conn(self) -> Any:
        import psycopg

        return psycopg.connect(host=self.cluster.host, port=self.cluster.port, user=self.cluster.user,
                               dbname=self.name)

    def run(self, *statements: str) -> None:
        with self._conn() as c:
            for s in statements:
                c.execute(s)

    def insert(self, table: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        with self._conn() as c:
            c.cursor().executemany(f"INSERT INTO {table} VALUES ({', '.join(['%s'] * len(rows[0]))})", rows)

    def rows(self, sql: str) -> List[tuple]:
        with self._conn() as c:
            return c.execute(sql).fetchall()

    def drop(self) -> None:
        self.cluster.psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)", database="postgres")
