"""Write-side data sources for tests/python/test_write.py, importable by Spark's Python workers
(built on pyspark's classes when pyspark is installed, else headwater's)."""

from __future__ import annotations

import os
import pickle
import threading
import time

try:
    from pyspark.sql.datasource import DataSource, DataSourceArrowWriter, DataSourceWriter, WriterCommitMessage
except ImportError:  # pragma: no cover
    from headwater.datasource import DataSource, DataSourceArrowWriter, DataSourceWriter, WriterCommitMessage

# calls seen by headwater's writers (same process): kind -> list of (call, value)
LOG: list = []
_lock = threading.Lock()


def log(*entry):
    with _lock:
        LOG.append(entry)


class Msg(WriterCommitMessage):
    def __init__(self, n, first):
        self.n, self.first = n, first

    def __eq__(self, other):
        return isinstance(other, Msg) and (self.n, self.first) == (other.n, other.first)

    def __repr__(self):
        return f"Msg({self.n}, {self.first})"


def plain(v):
    """A value with Rows turned into ('Row', names, values): comparable across Row classes."""
    if isinstance(v, tuple) and hasattr(v, "__fields__"):
        return ("Row", tuple(v.__fields__), tuple(plain(x) for x in v))
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {plain(k): plain(x) for k, x in v.items()}
    return v


class RecordingWriter(DataSourceWriter):
    def __init__(self, options, schema, overwrite):
        self.kind = options.get("kind", "ok")
        self.path = options.get("path")
        log("writer", schema.simpleString(), overwrite, dict(options), type(options).__name__)

    def write(self, iterator):
        rows = list(iterator)
        first = rows[0][0] if rows else None
        if self.path and os.path.isdir(self.path):  # for Spark: its workers are other processes
            with open(os.path.join(self.path, f"part-{os.getpid()}-{threading.get_ident()}-{first}"), "wb") as f:
                pickle.dump([(type(r).__name__, plain(r)) for r in rows], f)
        log("write", first, [type(r).__name__ for r in rows[:1]], [plain(r) for r in rows])
        if self.kind in ("fail_write", "fail_write_abort") and first == 2:
            time.sleep(0.2)
            raise ValueError("boom from write")
        if self.kind == "bad_msg":
            return 42
        if self.kind == "kill" and first == 2:  # the worker process dies mid-write
            os.kill(os.getpid(), 9)
        if self.kind == "endless":  # until cancelled (Ctrl-C)
            while True:
                time.sleep(0.01)
        if self.kind == "stubborn":  # ignores the cancel: only killing its process stops it
            while True:
                try:
                    time.sleep(0.01)
                except BaseException:
                    pass
        self.written = getattr(self, "written", 0) + len(rows)  # state a worker's copy keeps to itself
        return Msg(len(rows), first)

    def commit(self, messages):
        log("commit", list(messages))
        log("state", getattr(self, "written", None))
        if self.kind in ("fail_commit", "fail_commit_abort"):
            raise ValueError("boom from commit")

    def abort(self, messages):
        log("abort", list(messages))
        if self.kind in ("fail_write_abort", "fail_commit_abort"):
            raise RuntimeError("boom from abort")


class ArrowRecordingWriter(DataSourceArrowWriter):
    def write(self, iterator):
        batches = list(iterator)
        log("write", [type(b).__module__ + "." + type(b).__name__ for b in batches], sum(b.num_rows for b in batches))
        return Msg(sum(b.num_rows for b in batches), None)

    def commit(self, messages):
        log("commit", list(messages))

    def abort(self, messages):
        log("abort", list(messages))


class WSource(DataSource):
    @classmethod
    def name(cls):
        return "wtest"

    def writer(self, schema, overwrite):
        kind = self.options.get("kind", "ok")
        if kind == "bad_writer":
            return object()
        if kind == "raise_writer":
            raise ValueError("boom from writer")
        if kind == "arrow":
            return ArrowRecordingWriter()
        return RecordingWriter(self.options, schema, overwrite)
