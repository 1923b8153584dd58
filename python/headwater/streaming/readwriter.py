"""``spark.readStream`` (:class:`DataStreamReader`), the streaming DataFrame and
``df.writeStream`` (:class:`DataStreamWriter`), with PySpark 4.3's names and errors.

A streaming DataFrame is a tree of the stateless transformations asked of it over its sources;
per micro-batch the tree is replayed on an ordinary batch DataFrame over that batch's Arrow, so
the query layer (DuckDB) runs it as any batch query.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional, Tuple

import pyarrow as pa

from headwater.config import get
from headwater.errors import AnalysisException, HeadwaterException
from headwater.query.compiler import Compiler, Decisions
from headwater.schema import to_arrow_schema
from headwater.sql.dataframe import DataFrame
from headwater.streaming.query import StreamingQuery
from headwater.streaming.sink import make_sink
from headwater.streaming.source import StreamPlan, StreamSource
from headwater.state import parse_delay_ms
from headwater.streaming.stateful import (STATIC_LEFT_JOIN, StatefulRun, StreamingGroupedData, join_kind,
                                          make_operator, tree_nodes, watermark_of)

__all__ = ["DataStreamReader", "DataStreamWriter", "StreamingDataFrame"]

_STATELESS = ("select", "selectExpr", "filter", "where", "withColumn", "withColumns", "withColumnRenamed",
              "drop", "alias")
_BATCH_ONLY = ("collect", "count", "show", "toArrow", "toPandas", "toPolars", "take", "head", "first", "isEmpty",
               "__arrow_c_stream__", "cache", "persist", "write", "limit", "groupBy", "agg",
               "distinct", "crossJoin", "repartition")
_AT_START = ("sort", "orderBy")  # recorded; refused or run when the query starts (streaming/stateful.py)


def _call(df: Any, name: str, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
    """Replay one recorded call on a micro-batch's DataFrame."""
    if name == STATIC_LEFT_JOIN:  # static.join(stream, on, how): the static side stays on the left
        static, on, how = args
        return static.join(df, on, how)
    return getattr(df, name)(*args, **kwargs)


def _not_batch(op: str) -> AnalysisException:
    return AnalysisException("Queries with streaming sources must be executed with writeStream.start(), or from a "
                             "streaming table or flow definition within a Spark Declarative Pipeline.;",
                             "_LEGACY_ERROR_TEMP_3102")


class _Leaf:
    def __init__(self, fmt: str, options: Dict[str, Any], schema: Any, cls: type, plan: StreamPlan) -> None:
        self.fmt, self.options, self.user_schema, self.cls, self.plan = fmt, options, schema, cls, plan


class StreamingDataFrame:
    """A DataFrame over stream sources (``isStreaming`` is True)."""

    def __init__(self, spark: Any, node: Any) -> None:
        self._spark, self._node = spark, node

    isStreaming = True

    # ---- the tree

    def _leaves(self, node: Any = None) -> List[_Leaf]:
        node = self._node if node is None else node
        if isinstance(node, _Leaf):
            return [node]
        if node[0] in ("union", "streamjoin"):
            return self._leaves(node[1]) + self._leaves(node[2])
        return self._leaves(node[1])

    def _apply(self, tables: List[pa.Table], node: Any = None, stateful: Optional[Callable[[Any], Any]] = None) -> Any:
        """The batch DataFrame of one micro-batch: the tree over the sources' tables (in leaf order);
        ``stateful`` runs the state operator on its input's Arrow (None: the output's schema only,
        from the operator over the empty input)."""
        node = self._node if node is None else node
        if isinstance(node, _Leaf):
            return self._spark.createDataFrame(tables.pop(0))
        if node[0] == "union":
            left = self._apply(tables, node[1], stateful)
            return left.union(self._apply(tables, node[2], stateful))
        if node[0] == "watermark":  # event time is the loop's business; the rows pass
            return self._apply(tables, node[1], stateful)
        if node[0] == "streamjoin":  # refused at start(); its schema is the two sides' join
            left = self._apply(tables, node[1], stateful)
            return left.join(self._apply(tables, node[2], stateful), *node[4][0], **node[4][1])
        if node[0] == "stateful":
            below = node[1]
            while isinstance(below, tuple) and below[0] == "watermark":
                below = below[1]
            # the operator's input as Arrow: a source's batch itself when nothing runs before it
            rows = tables.pop(0) if isinstance(below, _Leaf) else self._apply(tables, node[1], stateful).toArrow()
            if stateful is not None:
                return stateful(rows)
            mode = "complete" if node[2][0] == "aggregate" else "append"  # any mode the operator takes
            op = make_operator(node[2], mode, None, None, watermark_of(node[1]))
            try:
                return self._spark.createDataFrame(op.process(rows))
            finally:
                op.close()
        _, parent, name, args, kwargs = node
        return _call(self._apply(tables, parent, stateful), name, args, kwargs)

    def _pruned_columns(self) -> Optional[List[int]]:
        """The source's columns the transformations read (schema positions, for the converter), when
        the tree is plain transformations over one source; None to convert them all. The batch
        compiler decides, as it does for ``spark.read`` (``headwater.sql.pushdown``): the tree is
        replayed over a DataFrame of the source's plan and compiled, which starts no scan."""
        ops, node = 0, self._node
        while isinstance(node, tuple) and node[0] == "op":
            node, ops = node[1], ops + 1
        if not ops or not isinstance(node, _Leaf) or not get(self._spark.conf, "headwater.sql.pushdown"):
            return None
        replayed = self._replay(self._node, DataFrame(self._spark, node.plan))
        compiler = Compiler(self._spark, Decisions(), pushdown=True)
        compiler.compile(replayed._node, None)
        uses = [u for u in compiler.scans if u.plan is node.plan]
        if len(uses) != 1 or uses[0].columns is None or len(uses[0].columns) == len(node.plan.core_schema.names):
            return None
        return sorted(uses[0].columns)

    def _replay(self, node: Any, leaf: Any) -> Any:
        if isinstance(node, _Leaf):
            return leaf
        _, parent, name, args, kwargs = node
        return _call(self._replay(parent, leaf), name, args, kwargs)

    def _empty(self) -> Any:
        return self._apply([pa.Table.from_batches([], to_arrow_schema(leaf.plan.core_schema))
                            for leaf in self._leaves()])

    def _op(self, name: str, *args: Any, **kwargs: Any) -> "StreamingDataFrame":
        out = StreamingDataFrame(self._spark, ("op", self._node, name, args, kwargs))
        out._empty()  # analysis errors (unknown columns, bad expressions) at the call, as Spark
        return out

    def __getattr__(self, name: str) -> Any:
        if name in _STATELESS or name in _AT_START:
            return lambda *a, **k: self._op(name, *a, **k)
        if name in _BATCH_ONLY:
            raise _not_batch(name)
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, item: Any) -> Any:
        return self._empty()[item]

    # ---- the stateful tail (headwater.streaming.stateful)

    def _stateful(self, spec: Tuple) -> "StreamingDataFrame":
        if any(isinstance(n, tuple) and n[0] == "stateful" for n in tree_nodes(self._node)):
            raise AnalysisException("Multiple streaming aggregations or deduplications are not supported here.",
                                    "UNSUPPORTED_FEATURE")
        out = StreamingDataFrame(self._spark, ("stateful", self._node, spec))
        out._empty()
        return out

    def groupBy(self, *cols: Any) -> StreamingGroupedData:
        names = [c for c in cols[0]] if len(cols) == 1 and isinstance(cols[0], (list, tuple)) else list(cols)
        return StreamingGroupedData(self, names)

    groupby = groupBy

    def dropDuplicates(self, subset: Optional[List[str]] = None) -> "StreamingDataFrame":
        return self._stateful(("dedup", list(subset) if subset is not None else None, False))

    drop_duplicates = dropDuplicates

    def distinct(self) -> "StreamingDataFrame":
        return self.dropDuplicates()

    def dropDuplicatesWithinWatermark(self, subset: Optional[List[str]] = None) -> "StreamingDataFrame":
        if watermark_of(self._node) is None:
            raise AnalysisException("dropDuplicatesWithinWatermark is not supported on streaming DataFrames/DataSets "
                                    "without watermark.", "UNSUPPORTED_FEATURE")
        return self._stateful(("dedup", list(subset) if subset is not None else None, True))

    def withWatermark(self, eventTime: str, delayThreshold: str) -> "StreamingDataFrame":
        """Spark's event-time watermark: ``delayThreshold`` behind the newest ``eventTime`` seen."""
        if not isinstance(eventTime, str) or not isinstance(delayThreshold, str):
            raise HeadwaterException("withWatermark takes a column name and an interval string, got "
                                     f"{eventTime!r}, {delayThreshold!r}.", "NOT_STR")
        if parse_delay_ms(delayThreshold) < 0:
            raise AnalysisException(f"The delay threshold ({delayThreshold}) of a watermark must not be negative.",
                                    "_LEGACY_ERROR_TEMP_1080")
        types = dict(self.dtypes)
        if eventTime not in types:
            raise AnalysisException(f"A column or function parameter with name `{eventTime}` cannot be resolved. "
                                    f"Did you mean one of the following? [{', '.join(self.columns)}].",
                                    "UNRESOLVED_COLUMN.WITH_SUGGESTION")
        if types[eventTime] != "timestamp":
            raise AnalysisException(f"Event time must be defined on a window or a timestamp, but {eventTime} is of "
                                    f"type {types[eventTime]}.", "_LEGACY_ERROR_TEMP_1081")
        return StreamingDataFrame(self._spark, ("watermark", self._node, eventTime, delayThreshold))

    def join(self, other: Any, on: Any = None, how: Optional[str] = None) -> "StreamingDataFrame":
        """With a batch DataFrame: replayed per micro-batch, so the static side is read every batch (as
        Spark re-runs its plan); with another stream: refused at start()."""
        if isinstance(other, StreamingDataFrame):
            return StreamingDataFrame(self._spark, ("streamjoin", self._node, other._node, join_kind(how),
                                                    ((on, how or "inner"), {})))
        return self._op("join", other, on, how or "inner")

    def _static_join(self, static: Any, on: Any, how: str) -> "StreamingDataFrame":
        """``static.join(stream, on, how)`` (batch DataFrame.join hands it here): replayed per
        micro-batch with the static side kept on the left; which kinds run is checked at start()."""
        return self._op(STATIC_LEFT_JOIN, static, on, how)

    def union(self, other: "StreamingDataFrame") -> "StreamingDataFrame":
        if not isinstance(other, StreamingDataFrame):
            raise AnalysisException("Union between streaming and batch DataFrames/Datasets is not supported",
                                    "_LEGACY_ERROR_TEMP_3102")
        out = StreamingDataFrame(self._spark, ("union", self._node, other._node))
        out._empty()
        return out

    unionAll = union

    @property
    def schema(self) -> Any:
        return self._empty().schema

    @property
    def columns(self) -> List[str]:
        return self._empty().columns

    @property
    def dtypes(self) -> List[Tuple[str, str]]:
        return self._empty().dtypes

    def printSchema(self) -> None:
        self._empty().printSchema()

    def createOrReplaceTempView(self, name: str) -> None:
        raise _not_batch("createOrReplaceTempView")

    @property
    def writeStream(self) -> "DataStreamWriter":
        return DataStreamWriter(self)

    def __repr__(self) -> str:
        return "DataFrame[" + ", ".join(f"{n}: {t}" for n, t in self.dtypes) + "]"


class DataStreamReader:
    """``spark.readStream``."""

    def __init__(self, spark: Any) -> None:
        self._spark = spark
        self._format: Optional[str] = None
        self._options: Dict[str, Any] = {}
        self._schema: Any = None

    def format(self, source: str) -> "DataStreamReader":
        self._format = source
        return self

    def option(self, key: str, value: Any) -> "DataStreamReader":
        self._options[key] = None if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
        return self

    def options(self, **options: Any) -> "DataStreamReader":
        for k, v in options.items():
            self.option(k, v)
        return self

    def schema(self, schema: Any) -> "DataStreamReader":
        self._schema = schema
        return self

    def name(self, source_name: str) -> "DataStreamReader":
        """A name for the source (Spark 4.1's source naming); kept in its progress description."""
        self._options["__hw_source_name"] = source_name
        return self

    def load(self, path: Optional[str] = None, format: Optional[str] = None, schema: Any = None,
             **options: Any) -> StreamingDataFrame:
        if format is not None:
            self.format(format)
        if schema is not None:
            self.schema(schema)
        self.options(**options)
        if path is not None:
            self._options["path"] = path
        if self._format is None:
            raise AnalysisException("Data source format must be specified for a streaming read.",
                                    "HW_STREAM_NO_FORMAT")
        cls = self._spark._registry.lookup(self._format)
        opts = {k: v for k, v in self._options.items() if not k.startswith("__hw_")}
        plan = StreamPlan(cls, opts, self._schema, self._spark.conf)
        return StreamingDataFrame(self._spark, _Leaf(self._format, opts, self._schema, cls, plan))

    def table(self, tableName: str) -> StreamingDataFrame:
        raise AnalysisException(f"Table {tableName} cannot be read as a stream: headwater has no catalog.",
                                "HW_STREAM_NO_CATALOG")


_UNITS = {"millisecond": 1, "milliseconds": 1, "ms": 1, "second": 1000, "seconds": 1000, "s": 1000,
          "minute": 60000, "minutes": 60000, "hour": 3600000, "hours": 3600000}


def _interval_ms(text: str) -> int:
    m = re.fullmatch(r"\s*(?:interval\s+)?(\d+(?:\.\d+)?)\s*([a-z]+)\s*", str(text).lower())
    if not m or m.group(2) not in _UNITS:
        raise HeadwaterException(f"Value for `processingTime` must be a valid interval string, got '{text}'.",
                                 "VALUE_NOT_POSITIVE")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


class DataStreamWriter:
    """``df.writeStream``."""

    def __init__(self, df: StreamingDataFrame) -> None:
        self._df = df
        self._format: Optional[str] = None
        self._mode = "append"
        self._options: Dict[str, Any] = {}
        self._name: Optional[str] = None
        self._trigger: Dict[str, Any] = {}
        self._foreach_batch: Optional[Callable[[Any, int], Any]] = None
        self._foreach: Any = None

    def format(self, source: str) -> "DataStreamWriter":
        self._format = source
        return self

    def outputMode(self, outputMode: str) -> "DataStreamWriter":
        mode = str(outputMode).lower()
        if mode not in ("append", "complete", "update"):
            raise AnalysisException(f"Unknown output mode {outputMode}. Accepted output modes are 'append', "
                                    "'complete', 'update'.", "STREAMING_OUTPUT_MODE.INVALID")
        # complete without a streaming aggregation is refused at start(), as Spark 4.3 does
        self._mode = mode
        return self

    def option(self, key: str, value: Any) -> "DataStreamWriter":
        self._options[key] = None if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
        return self

    def options(self, **options: Any) -> "DataStreamWriter":
        for k, v in options.items():
            self.option(k, v)
        return self

    def queryName(self, queryName: str) -> "DataStreamWriter":
        if not isinstance(queryName, str) or not queryName.strip():
            raise HeadwaterException(f"Value for `queryName` must be a non-empty string, got '{queryName}'.",
                                     "VALUE_NOT_NON_EMPTY_STR")
        self._name = queryName
        return self

    def trigger(self, *, processingTime: Optional[str] = None, once: Optional[bool] = None,
                continuous: Optional[str] = None, availableNow: Optional[bool] = None) -> "DataStreamWriter":
        given = [x for x in (processingTime, once, continuous, availableNow) if x is not None]
        if len(given) != 1:
            raise HeadwaterException("Only one trigger can be set." if given else "No trigger was set.",
                                     "ONLY_ALLOWED_FOR_SINGLE_TRIGGER" if given else "ONLY_ALLOWED_FOR_SINGLE_TRIGGER")
        if continuous is not None:
            raise AnalysisException("Continuous processing does not support Python data sources.",
                                    "HW_STREAM_CONTINUOUS")
        if processingTime is not None:
            self._trigger = {"processingTime": _interval_ms(processingTime)}
        elif once:
            self._trigger = {"once": True}
        elif availableNow:
            self._trigger = {"availableNow": True}
        return self

    def foreachBatch(self, func: Callable[[Any, int], Any]) -> "DataStreamWriter":
        self._foreach_batch = func
        return self

    def foreach(self, f: Any) -> "DataStreamWriter":
        if not callable(f) and not hasattr(f, "process"):
            raise HeadwaterException("Provided object does not have a 'process' method", "ATTRIBUTE_NOT_CALLABLE")
        self._foreach = f
        return self

    def start(self, path: Optional[str] = None, format: Optional[str] = None, outputMode: Optional[str] = None,
              partitionBy: Any = None, queryName: Optional[str] = None, **options: Any) -> StreamingQuery:
        if format is not None:
            self.format(format)
        if outputMode is not None:
            self.outputMode(outputMode)
        if queryName is not None:
            self.queryName(queryName)
        self.options(**options)
        if path is not None:
            self._options["path"] = path
        df = self._df
        spark = df._spark
        fmt = self._format or ("foreachBatch" if self._foreach_batch else "foreach" if self._foreach else None)
        if fmt is None:
            raise AnalysisException("Data source format must be specified for a streaming write.",
                                    "HW_STREAM_NO_FORMAT")
        checkpoint = self._options.get("checkpointLocation")
        if checkpoint is None and fmt.lower() not in ("memory", "console", "noop", "foreachbatch", "foreach"):
            checkpoint = None  # Spark uses a temporary checkpoint then; so do we (none written)
        leaves = df._leaves()
        sources = [StreamSource(spark, leaf.cls, leaf.options, leaf.user_schema,
                                f"PythonMicroBatchStream[{leaf.cls.name()}]" if leaf.fmt else leaf.fmt)
                   for leaf in leaves]
        sink = make_sink(spark, fmt, {k: v for k, v in self._options.items() if k != "checkpointLocation"},
                         df.schema, self._mode, self._name, self._foreach_batch, self._foreach)

        def build(tables: List[pa.Table]) -> Tuple[Any, pa.Table]:
            batch = df._apply(list(tables))
            if isinstance(df._node, _Leaf):  # no transformation: the scan's Arrow is the batch (no DuckDB pass)
                return batch, tables[0]
            table = batch.toArrow()  # run once: the sink gets a DataFrame over this Arrow (a static
            return spark.createDataFrame(table), table  # join side is read once per batch, as Spark)

        # watermark, state operator and Spark's checks at start (streaming/stateful.py)
        run = StatefulRun(df, self._mode, checkpoint, spark.conf)
        if run.node is not None or run.watermark is not None:
            def build(tables: List[pa.Table]) -> Tuple[Any, pa.Table]:  # noqa: F811 -- the stateful one
                return run.build(tables, query._batch_id)
        else:
            run.close()
            run = None

        query = StreamingQuery(spark.streams, sources, build, sink, checkpoint, self._trigger, self._name,
                               stateful=run)
        query._passthrough = isinstance(df._node, _Leaf)
        if run is None and len(leaves) == 1:  # a stateful query converts every column (its keys, event time)
            query._columns = [df._pruned_columns()]
        try:
            query._start()
        except BaseException:
            if query._ckpt is not None:
                query._ckpt.close()
            raise
        return query

    def toTable(self, tableName: str, format: Optional[str] = None, outputMode: Optional[str] = None,
                partitionBy: Any = None, queryName: Optional[str] = None, **options: Any) -> StreamingQuery:
        """headwater has no catalog: the table is a temp view kept as the memory sink keeps it."""
        self._format = "memory"
        self._name = queryName or tableName
        return self.start(outputMode=outputMode, **options)
