"""The ``jdbc`` format as a PySpark-API data source, and the same read as a three-method source.

``spark.read.format("jdbc")`` and ``df.write.format("jdbc")`` resolve to :class:`JDBCDataSource`
(the session's registry keeps the name ``jdbc`` for it; users cannot register it, as in Spark).
:class:`JDBCArrowDataSource` is the generic ``python`` format's interface
(``infer_schema``/``plan_partitions``/``read_partition``) over the same machinery.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Dict, Iterable, Iterator, List, Optional

import pyarrow as pa

from headwater import _core
from headwater.config import batch_rows
from headwater.datasource import DataSource, DataSourceArrowWriter, DataSourceReader, InputPartition
from headwater.errors import AnalysisException, HeadwaterException
from headwater.jdbc.relation import JdbcRelation, PartitionSpec
from headwater.jdbc.writing import JDBCWriter
from headwater.schema import parse_schema, to_struct_type

__all__ = ["JDBCDataSource", "JDBCReader", "JDBCPartition", "JDBCArrowDataSource"]


class JDBCPartition(InputPartition):
    """One partition of a JDBC read; ``value`` is its :class:`PartitionSpec` as a dict."""

    def __repr__(self) -> str:
        return f"JDBCPartition({self.value!r})"


class JDBCReader(DataSourceReader):
    """Reads a planned :class:`JdbcRelation`; pickles (for worker processes) without connections."""

    def __init__(self, relation: JdbcRelation) -> None:
        self.relation = relation

    def pushFilters(self, filters: List[Any]) -> Iterable[Any]:
        """Spark 4.1's filter pushdown: the filters that translate to SQL for this database are
        added to every partition's WHERE clause (when ``pushDownPredicate`` is true, the
        default); the others are returned, to be evaluated after the read."""
        return self.relation.push_filters(list(filters))

    def partitions(self) -> List[JDBCPartition]:
        return [JDBCPartition(s.to_dict()) for s in self.relation.plan()]

    def read(self, partition: InputPartition) -> Iterator[Any]:
        return self.relation.read(PartitionSpec.from_dict(partition.value))

    def explain_details(self, partitions: List[Any]) -> List[str]:
        """Lines for ``explain()``: the URL (password hidden), pushed filters, and the backend and
        WHERE clause of each partition."""
        return self.relation.explain_lines([PartitionSpec.from_dict(p.value) for p in partitions if p is not None])


@contextlib.contextmanager
def _builtin_errors() -> Iterator[None]:
    """Marks headwater's errors as coming from a built-in format, so the planner raises them as
    they are (Spark reports its built-in JDBC source's errors directly, not as a Python data source
    failure)."""
    try:
        yield
    except HeadwaterException as e:
        e._hw_builtin = True  # type: ignore[attr-defined]
        raise


class JDBCDataSource(DataSource):
    """Spark's ``jdbc`` format: the options of Spark's JDBC data source plus ``engine``
    (``connectorx``, ``adbc`` or ``dbapi``). See :mod:`headwater.jdbc`."""

    @classmethod
    def name(cls) -> str:
        return "jdbc"

    def __init__(self, options: Dict[str, Any]) -> None:
        super().__init__(options)
        self._relation: Optional[JdbcRelation] = None
        self._fetch = batch_rows(None)

    def _hw_configure(self, conf: Any) -> None:
        """The session's settings, handed over by the read plan: the default ``fetchsize`` is
        ``spark.sql.execution.arrow.maxRecordsPerBatch``."""
        self._fetch = batch_rows(conf)

    def _default_fetch(self) -> int:
        return self._fetch

    def schema(self) -> Any:
        with _builtin_errors():
            self._relation = JdbcRelation(dict(self.options), self._default_fetch())
        self._schema_called = True
        return to_struct_type(self._relation.schema)

    def reader(self, schema: Any) -> JDBCReader:
        with _builtin_errors():
            if not getattr(self, "_schema_called", False):
                # the user gave a schema: Spark accepts it only when it is the table's own
                self._relation = JdbcRelation(dict(self.options), self._default_fetch())
                self._check_user_schema(schema)
            assert self._relation is not None
        # a fresh relation per action, so pushed filters of one query do not leak into the next
        rel = JdbcRelation.__new__(JdbcRelation)
        rel.__dict__.update(self._relation.__dict__)
        rel.pushed = []
        return JDBCReader(rel)

    def _check_user_schema(self, schema: Any) -> None:
        assert self._relation is not None and self._relation.schema is not None
        user = pa.schema(parse_schema(schema))
        actual = self._relation.schema
        same = user.names == actual.names and all(u.type == a.type for u, a in zip(user, actual))
        if not same:
            raise AnalysisException(
                "The user-specified schema doesn't match the actual schema:\n"
                f"user-specified: {parse_schema(user).to_ddl()}, actual: {parse_schema(actual).to_ddl()}. "
                "If you're using\nDataFrameReader.schema API or creating a table, please do not specify the "
                "schema.\nOr if you're scanning an existed table, please drop it and re-create it.",
                "_LEGACY_ERROR_TEMP_1133",
            )

    def writer(self, schema: Any, overwrite: bool) -> "DataSourceArrowWriter":
        with _builtin_errors():
            return JDBCWriter(dict(self.options), schema, overwrite)


def _schema_json(schema: Optional[pa.Schema]) -> Optional[str]:
    return None if schema is None else parse_schema(schema).to_json()


def _schema_from_json(text: Optional[str]) -> Optional[pa.Schema]:
    return None if text is None else pa.schema(_core.schema_from_json(text))


class JDBCArrowDataSource:
    """The JDBC read as a generic three-method source (``format("python")`` with
    ``python_module=headwater.jdbc``, ``python_class=JDBCArrowDataSource``).

    Each spec carries the partition's SQL and engine (never the password: specs may be shown in
    errors); ``read_partition`` reconnects with the options' credentials."""

    def infer_schema(self, options: Dict[str, str]) -> pa.Schema:
        return JdbcRelation(dict(options)).schema  # type: ignore[return-value]

    def plan_partitions(self, options: Dict[str, str]) -> List[Dict[str, Any]]:
        relation = JdbcRelation(dict(options))
        schemas = {"schema": _schema_json(relation.schema), "native": _schema_json(relation.native),
                   "raw": _schema_json(relation.raw)}
        return [{**s.to_dict(), **schemas} for s in relation.plan()]

    def read_partition(self, spec: Dict[str, Any], options: Dict[str, str]) -> Iterator[Any]:
        # the planned types travel in the spec: no second trip to the database for the schema
        relation = JdbcRelation(dict(options), with_schema=False)
        relation.schema = _schema_from_json(spec["schema"])
        relation.native = _schema_from_json(spec["native"])
        relation.raw = _schema_from_json(spec["raw"])
        return relation.read(PartitionSpec.from_dict(spec))

    def explain_details(self, partitions: List[Any]) -> List[str]:
        specs = [PartitionSpec.from_dict(json.loads(p.value)) for p in partitions if p is not None]
        return [f"  partition {s.index}: engine={s.engine} where={s.where or '(none)'}" for s in specs]
