"""Databases as data sources: Spark's ``jdbc`` format without a JVM.

::

    df = spark.read.format("jdbc").option("url", "jdbc:postgresql://host:5432/db") \\
        .option("dbtable", "orders").option("user", "me").option("password", pw).load()
    df = spark.read.jdbc(url, "orders", column="id", lowerBound=1, upperBound=1000, numPartitions=4)
    df = headwater.jdbc.read_jdbc(url, table="orders", user="me", password=pw)
    df.write.format("jdbc").mode("append").option("url", url).option("dbtable", "orders").save()
    headwater.jdbc.write_jdbc(df, url, "orders", mode="overwrite", truncate=True)

Backends, in the order tried when ``engine`` is not set: ConnectorX, ADBC
(``adbc-driver-postgresql``, ``adbc-driver-sqlite``), DB-API (``psycopg``, the standard library's
``sqlite3``). URLs: ``jdbc:postgresql://``, ``jdbc:sqlite:``, ``jdbc:mysql://`` and
``jdbc:sqlserver://`` (the last two through ConnectorX).
"""

from __future__ import annotations

import json
from typing import Any, List, Optional

from headwater.config import default_session
from headwater.jdbc.dialect import Dialect, dialect_for
from headwater.jdbc.partitioning import column_partition
from headwater.jdbc.relation import JdbcRelation
from headwater.jdbc.source import JDBCArrowDataSource, JDBCDataSource
from headwater.jdbc.url import JdbcUrl, parse_url
from headwater.jdbc.writing import JDBCWriter

__all__ = ["JDBCArrowDataSource", "JDBCDataSource", "JDBCWriter", "JdbcRelation", "JdbcUrl", "Dialect",
           "column_partition", "dialect_for", "parse_url", "read_jdbc", "write_jdbc"]


def read_jdbc(url: str, table: Optional[str] = None, query: Optional[str] = None, *,
              predicates: Optional[List[str]] = None, spark: Any = None,
              **options: Any) -> Any:
    """Read a table or a query: the same as ``spark.read.format("jdbc")`` with these options.

    Parameters
    ----------
    url : str
        A JDBC URL, e.g. ``jdbc:postgresql://host:5432/db`` or ``jdbc:sqlite:/path/file.db``.
    table : str, optional
        Spark's ``dbtable`` (used as written: quote names that need it).
    query : str, optional
        Spark's ``query``; exactly one of ``table`` and ``query``.
    predicates : list of str, optional
        One partition per WHERE clause.
    spark : SparkSession, optional
        The session (the active one by default).
    **options
        Spark's JDBC options (``user``, ``password``, ``partitionColumn``, ``lowerBound``,
        ``upperBound``, ``numPartitions``, ``fetchsize``, ``customSchema``, ``pushDownPredicate``,
        ``sessionInitStatement``, ``queryTimeout``, ``preferTimestampNTZ``) and ``engine``.
    """
    reader = (spark if spark is not None else default_session()).read.format("jdbc").option("url", url)
    if table is not None:
        reader = reader.option("dbtable", table)
    if query is not None:
        reader = reader.option("query", query)
    if predicates is not None:
        reader = reader.option("predicates", json.dumps(list(predicates)))
    return reader.options(**options).load()


def write_jdbc(df: Any, url: str, table: str, mode: str = "append", **options: Any) -> None:
    """Write ``df`` to ``table``: the same as ``df.write.format("jdbc").mode(mode)`` with these
    options (``user``, ``password``, ``truncate``, ``batchsize``, ``createTableOptions``,
    ``sessionInitStatement``, ``engine``). ``mode`` is ``append`` or ``overwrite``."""
    df.write.format("jdbc").mode(mode).option("url", url).option("dbtable", table).options(**options).save()
