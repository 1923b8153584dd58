"""Shared fixtures. ``pg``: a throwaway PostgreSQL cluster for the JDBC tests (started on first
use, stopped and removed at the end of the session even when tests fail)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "jvm: starts real PySpark (a JVM, in process or in a probe subprocess); `make sanitize` "
        "deselects these, since the preloaded sanitizer runtime would be inherited by java and its tools")


@pytest.fixture(scope="session")
def pg():
    from pg_cluster import PgCluster

    cluster = PgCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """An empty database of each kind (a SQLite file, or a fresh PostgreSQL database)."""
    from jdbc_dbs import PgDb, SqliteDb

    if request.param == "sqlite":
        yield SqliteDb(str(tmp_path / "test.db"))
        return
    database = PgDb(request.getfixturevalue("pg"))
    try:
        yield database
    finally:
        database.drop()
