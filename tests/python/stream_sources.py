"""Stream sources and a sink written against ``pyspark.sql.datasource``, run unchanged on PySpark
4.3 and on headwater by test_streaming_differential.py (PySpark's workers import this module by
name: tests/python is on their PYTHONPATH)."""

from __future__ import annotations

import json

from pyspark.sql.datasource import (
    DataSource,
    DataSourceStreamReader,
    DataSourceStreamWriter,
    InputPartition,
    SimpleDataSourceStreamReader,
    WriterCommitMessage,
)
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows, SupportsTriggerAvailableNow


class CountReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Rows (i, i*i) for i < option total, at most option maxRows per micro-batch, two partitions."""

    def __init__(self, options):
        self.total = int(options.get("total", 25))
        self.max_rows = int(options.get("maxRows", 10))
        self.target = None

    def initialOffset(self):
        return {"offset": 0}

    def getDefaultReadLimit(self):
        return ReadMaxRows(self.max_rows)

    def prepareForTriggerAvailableNow(self):
        self.target = self.total

    def latestOffset(self, start, limit):
        top = self.total if self.target is None else self.target
        if isinstance(limit, ReadAllAvailable):
            return {"offset": top}
        return {"offset": min(start["offset"] + limit.max_rows, top)}

    def partitions(self, start, end):
        a, b = start["offset"], end["offset"]
        return [InputPartition([a, (a + b) // 2]), InputPartition([(a + b) // 2, b])]

    def read(self, partition):
        a, b = partition.value
        for i in range(a, b):
            yield (i, i * i)


class SimpleReader(SimpleDataSourceStreamReader):
    """Three rows per read, up to option total."""

    def __init__(self, options):
        self.total = int(options.get("total", 9))

    def initialOffset(self):
        return {"pos": 0}

    def read(self, start):
        p = start["pos"]
        end = min(p + 3, self.total)
        return iter([(i, i * i) for i in range(p, end)]), {"pos": end}

    def readBetweenOffsets(self, start, end):
        return iter([(i, i * i) for i in range(start["pos"], end["pos"])])


class DiffStream(DataSource):
    @classmethod
    def name(cls):
        return "diffstream"

    def schema(self):
        return "id BIGINT, sq BIGINT"

    def streamReader(self, schema):
        return CountReader(self.options)

    def streamWriter(self, schema, overwrite):
        return FileCommitWriter(self.options["path"])


class DiffSimple(DiffStream):
    """The same rows from a simple reader (streamReader left to the base class, which raises
    Spark's NOT_IMPLEMENTED: only then does Spark fall back to simpleStreamReader)."""

    @classmethod
    def name(cls):
        return "diffsimple"

    streamReader = DataSource.streamReader

    def simpleStreamReader(self, schema):
        return SimpleReader(self.options)


class Rows(WriterCommitMessage):
    def __init__(self, rows):
        self.rows = rows


class FileCommitWriter(DataSourceStreamWriter):
    """write: the partition's rows in a message; commit: one JSON line per batch in ``path``."""

    def __init__(self, path):
        self.path = path

    def write(self, iterator):
        return Rows([list(r) for r in iterator])

    def commit(self, messages, batchId):
        rows = sorted(r for m in messages if m is not None for r in m.rows)
        with open(self.path, "a") as f:
            f.write(json.dumps({"batch": batchId, "rows": rows}) + "\n")

    def abort(self, messages, batchId):
        with open(self.path, "a") as f:
            f.write(json.dumps({"batch": batchId, "aborted": True}) + "\n")


class NoMixinReader(DataSourceStreamReader):
    """A full reader without SupportsTriggerAvailableNow: 10 rows, ReadMaxRows(3) by default; each
    limit it is asked with is appended to the file named by option limitsLog (PySpark asks in
    another process)."""

    def __init__(self, options):
        self.log = options.get("limitsLog")
        self.fail = options.get("fail")

    def initialOffset(self):
        return {"offset": 0}

    def getDefaultReadLimit(self):
        return ReadMaxRows(3)

    def latestOffset(self, start, limit):
        if self.fail == "latestOffset":
            raise ValueError("latest boom")
        if self.log:
            with open(self.log, "a") as f:
                f.write(type(limit).__name__ + "\n")
        if isinstance(limit, ReadAllAvailable):
            return {"offset": 10}
        return {"offset": min(start["offset"] + limit.max_rows, 10)}

    def partitions(self, start, end):
        return [InputPartition((start["offset"], end["offset"]))]

    def read(self, partition):
        for i in range(*partition.value):
            yield (i, i * i)


class DiffNoMixin(DiffStream):
    @classmethod
    def name(cls):
        return "diffnomixin"

    def streamReader(self, schema):
        return NoMixinReader(self.options)


class DiffNoStream(DataSource):
    """A source with neither streamReader nor simpleStreamReader."""

    @classmethod
    def name(cls):
        return "diffnostream"

    def schema(self):
        return "i INT"
