"""``spark.read``: Spark's DataFrameReader for Python data sources."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union

from headwater.errors import AnalysisException
from headwater.exec.plan import ReadPlan, paths_option
from headwater.generic import plan_for
from headwater.sql.dataframe import DataFrame
from headwater.sql.writer import _to_str

if TYPE_CHECKING:
    from headwater.sql.session import SparkSession

__all__ = ["DataFrameReader"]


class DataFrameReader:
    """Builds a read: ``format``, ``option``/``options``, ``schema``, then ``load``."""

    def __init__(self, spark: "SparkSession") -> None:
        self._spark = spark
        self._format: Optional[str] = None
        self._options: Dict[str, Optional[str]] = {}
        self._schema: Any = None

    def format(self, source: str) -> "DataFrameReader":
        self._format = source
        return self

    def option(self, key: str, value: Any) -> "DataFrameReader":
        if value is not None:  # PySpark 4.3 ignores an option set to None (4.1 failed in the JVM)
            self._options[key] = _to_str(value)
        return self

    def options(self, **options: Any) -> "DataFrameReader":
        for k, v in options.items():
            self.option(k, v)
        return self

    def schema(self, schema: Any) -> "DataFrameReader":
        """A user schema (DDL string or StructType) that replaces the source's ``schema()``."""
        self._schema = schema
        return self

    def jdbc(self, url: str, table: str, column: Optional[str] = None, lowerBound: Any = None,
             upperBound: Any = None, numPartitions: Optional[int] = None, predicates: Optional[List[str]] = None,
             properties: Optional[Dict[str, Any]] = None) -> "DataFrame":
        """PySpark's ``spark.read.jdbc``: a table, partitioned by ``column`` between the bounds or by
        ``predicates`` (one partition per WHERE clause); ``properties`` are more options
        (``user``, ``password``, ...). See :mod:`headwater.jdbc`."""
        for k, v in (properties or {}).items():
            self.option(k, v)
        self.format("jdbc").option("url", url).option("dbtable", table)
        if column is not None:
            if lowerBound is None or upperBound is None or numPartitions is None:
                raise TypeError("jdbc(): column needs lowerBound, upperBound and numPartitions")
            self.options(partitionColumn=column, lowerBound=lowerBound, upperBound=upperBound,
                         numPartitions=numPartitions)
        elif predicates is not None:
            self.option("predicates", json.dumps(list(predicates)))
        return self.load()

    def load(self, path: Union[str, List[str], None] = None, format: Optional[str] = None, schema: Any = None,
             **options: Any) -> DataFrame:
        if format is not None:
            self.format(format)
        if schema is not None:
            self.schema(schema)
        self.options(**options)
        if path is not None and any(k.lower() in ("path", "paths") for k in self._options):
            raise AnalysisException(  # Spark's check and words
                "There is a 'path' or 'paths' option set and load() is called with path parameters. Either "
                "remove the path option if it's the same as the path parameter, or add it to the load() "
                "parameter if you do want to read multiple paths. To ignore this check, set "
                "'spark.sql.legacy.pathOptionBehavior.enabled' to 'true'.",
                "_LEGACY_ERROR_TEMP_1306",
            )
        if isinstance(path, str):
            self._options["path"] = path
        elif path is not None:
            self._options["paths"] = paths_option(list(path))
        if self._format is None:
            raise AnalysisException("No data source format given: call format(name) first.", "HW_NO_FORMAT")
        # The generic format: format("python") and names registered with register_python.
        plan = plan_for(self._spark, self._format, dict(self._options), self._schema)
        if plan is None:
            cls = self._spark._registry.lookup(self._format)
            plan = ReadPlan(cls, dict(self._options), self._schema, self._spark.conf)
        return DataFrame(self._spark, plan)


def _shortcut(fmt: str) -> Any:
    def read(self: DataFrameReader, path: Union[str, List[str]], schema: Any = None, **options: Any) -> "DataFrame":
        return self.load(path, format=fmt, schema=schema, **{k: v for k, v in options.items() if v is not None})

    read.__name__ = fmt
    read.__doc__ = f"``format('{fmt}').load(path)``, as Spark's ``DataFrameReader.{fmt}``; options by keyword."
    return read


for _fmt in ("parquet", "csv", "json"):
    setattr(DataFrameReader, _fmt, _shortcut(_fmt))
