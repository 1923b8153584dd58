"""Structured Streaming for Python data sources: ``spark.readStream`` / ``df.writeStream`` on the
C scan, with Spark's checkpoints (PySpark 4.3's API, names and error classes).

The layer sits above the facade (``sql/``): a micro-batch is an ordinary batch DataFrame, so
``foreachBatch`` hands one and the query's stateless transformations run on DuckDB as batch
queries do. The facade reaches this layer only through the hooks installed below
(``spark.readStream``, ``spark.streams``); ``import headwater``'s face loads both.

Modules: :mod:`.checkpoint` (Spark's offsets/commits logs), :mod:`.source` (the three reader
kinds), :mod:`.sink` (Python stream writers, foreachBatch, foreach, memory, console, noop),
:mod:`.query` (the micro-batch engine, StreamingQuery, spark.streams, listeners),
:mod:`.readwriter` (DataStreamReader, the streaming DataFrame, DataStreamWriter).

Contracts for built-in sources and sinks (kept stable):

1. A built-in stream source is an ordinary Spark-API DataSource class (``streamReader`` or
   ``simpleStreamReader``) registered where the built-in batch formats are. If its reader has a
   method ``_hw_attach_checkpoint(source_dir: str)``, the engine calls it once, before
   ``initialOffset``, with ``<checkpoint>/sources/<i>`` (created), where the source may keep its
   own state (a file source's seen-files log).
2. A built-in sink is an ordinary Spark-API DataSource class with ``streamWriter``; the writer's
   ``commit(messages, batchId)`` is where a file sink writes ``_spark_metadata/<batchId>``. If the
   writer has ``_hw_attach_checkpoint(sink_dir)``, the engine calls it with ``<checkpoint>/sinks/0``
   on the query's writer and on each fresh writer made for commit/abort.
3. ``df.writeStream....option("checkpointLocation", dir).start()``, ``query.processAllAvailable()``
   and ``query.stop()`` are re-entrant across process restarts: a new process resumes from the
   checkpoint, re-running the batch whose ``commits/N`` is missing with the same id and offsets.
"""

from headwater.sql.session import install_streaming
from headwater.streaming.query import (
    StreamingQuery,
    StreamingQueryException,
    StreamingQueryListener,
    StreamingQueryManager,
)
from headwater.streaming.readwriter import DataStreamReader, DataStreamWriter, StreamingDataFrame

__all__ = ["DataStreamReader", "DataStreamWriter", "StreamingDataFrame", "StreamingQuery",
           "StreamingQueryException", "StreamingQueryListener", "StreamingQueryManager"]

install_streaming(reader=DataStreamReader, manager=StreamingQueryManager)
