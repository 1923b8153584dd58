"""Spark's JDBC options, read case-insensitively and checked with Spark's messages."""

from __future__ import annotations

import json
from typing import Any, List, Mapping, Optional

from headwater.errors import AnalysisException
from headwater.jdbc.url import JdbcUrl, parse_url

__all__ = ["JdbcOptions", "SUBQUERY_ALIAS"]

#: The alias Spark gives a ``query`` option: ``(query) SPARK_GEN_SUBQ_0``.
SUBQUERY_ALIAS = "SPARK_GEN_SUBQ_0"

_TRUE = ("true", "1", "yes")


def _invalid(message: str) -> AnalysisException:
    return AnalysisException(message, "HW_JDBC_INVALID_OPTION")


class JdbcOptions:
    """The options of one JDBC read or write.

    Parameters
    ----------
    options : mapping
        Option names in any case; values are strings (or None), as Spark passes them.
    write : bool
        Checks for a write (``query`` is not allowed there).
    """

    def __init__(self, options: Mapping[str, Any], *, write: bool = False) -> None:
        self.raw = {str(k).lower(): (None if v is None else str(v)) for k, v in options.items()}
        get = self.raw.get
        url = get("url")
        if not url:
            raise AnalysisException("Option 'url' is required.", "HW_JDBC_MISSING_OPTION")
        self.url: JdbcUrl = parse_url(url, get("user"), get("password"))
        self.dbtable: Optional[str] = get("dbtable")
        self.query: Optional[str] = get("query")
        if self.dbtable is not None and self.query is not None:
            raise _invalid("Both 'dbtable' and 'query' can not be specified at the same time.")
        if self.dbtable is None and self.query is None:
            raise AnalysisException("Option 'dbtable' or 'query' is required.", "HW_JDBC_MISSING_OPTION")
        if self.query is not None and not self.query.strip():
            raise _invalid("Option `query` can not be empty.")
        if self.dbtable is not None and not self.dbtable.strip():
            raise _invalid("Option 'dbtable' can not be empty.")
        if write and self.query is not None:
            raise _invalid("Option 'query' is not applicable while writing. Please use 'dbtable' instead.")
        self.partition_column = get("partitioncolumn")
        bounds = [get("partitioncolumn"), get("lowerbound"), get("upperbound")]
        self.num_partitions = self._int("numPartitions", None)
        if self.query is not None and self.partition_column is not None:
            raise _invalid(
                "Options 'query' and 'partitionColumn' can not be specified together. Please define the query "
                "using `dbtable` option instead and make sure to qualify the partition columns using the "
                "supplied subquery alias to resolve any ambiguity. Example : spark.read.format(\"jdbc\")"
                ".option(\"url\", jdbcUrl).option(\"dbtable\", \"(select c1, c2 from t1) as subq\")"
                ".option(\"partitionColumn\", \"c1\").option(\"lowerBound\", \"1\").option(\"upperBound\", \"100\")"
                ".option(\"numPartitions\", \"3\").load()"
            )
        if not write and any(b is not None for b in bounds) and (
                any(b is None for b in bounds) or self.num_partitions is None):
            raise _invalid(
                "When reading JDBC data sources, users need to specify all or none for the following options: "
                "'partitionColumn', 'lowerBound', 'upperBound', and 'numPartitions'"
            )
        self.lower_bound, self.upper_bound = get("lowerbound"), get("upperbound")
        self.predicates: Optional[List[str]] = None
        if get("predicates") is not None:
            try:
                preds = json.loads(get("predicates") or "")
            except ValueError:
                preds = None
            if not isinstance(preds, list) or not all(isinstance(p, str) for p in preds):
                raise _invalid("Option 'predicates' must be a JSON array of SQL WHERE clauses (strings).")
            self.predicates = preds
        self.fetchsize = self._int("fetchsize", 0)
        if self.fetchsize < 0:
            raise _invalid(f"Invalid value `{self.fetchsize}` for parameter `fetchsize`. The minimum value is 0. "
                           "When the value is 0, the JDBC driver ignores the value and does the estimates.")
        self.query_timeout = self._int("queryTimeout", 0)
        if self.query_timeout < 0:
            raise _invalid(f"Invalid value `{self.query_timeout}` for parameter `queryTimeout`. The minimum "
                           "value is 0.")
        self.batchsize = self._int("batchsize", 1000)
        if self.batchsize < 1:
            raise _invalid(f"Invalid value `{self.batchsize}` for parameter `batchsize`. The minimum value is 1.")
        self.custom_schema = get("customschema")
        self.push_down_predicate = (get("pushdownpredicate") or "true").strip().lower() in _TRUE
        self.session_init = get("sessioninitstatement")
        self.engine = (get("engine") or "").strip() or None
        self.prefer_ntz = (get("prefertimestampntz") or "false").strip().lower() in _TRUE
        self.truncate = (get("truncate") or "false").strip().lower() in _TRUE
        self.create_table_options = get("createtableoptions") or ""

    def _int(self, name: str, default: Optional[int]) -> Any:
        text = self.raw.get(name.lower())
        if text is None:
            return default
        try:
            return int(text.strip())
        except ValueError:
            raise _invalid(f"Option '{name}' must be an integer, got '{text}'.") from None

    @property
    def table_or_query(self) -> str:
        """What follows ``FROM``: the ``dbtable`` text as given (as Spark: it may be a qualified or
        quoted name, or a parenthesised subquery with an alias), or ``(query) SPARK_GEN_SUBQ_0``."""
        if self.dbtable is not None:
            return self.dbtable
        return f"({self.query}) {SUBQUERY_ALIAS}"

    @property
    def what(self) -> str:
        """The table or query, for messages."""
        return f"table {self.dbtable}" if self.dbtable is not None else f"query {self.query!r}"
