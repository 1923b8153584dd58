"""The ``noop`` format: consumes every batch of a write and discards it (for benchmarks)."""

from __future__ import annotations

import collections
from typing import Any, Iterator, List, Optional

from headwater.datasource import DataSource, DataSourceArrowWriter, WriterCommitMessage

__all__ = ["Noop"]


class _Done(WriterCommitMessage):
    pass


class _NoopWriter(DataSourceArrowWriter):
    def write(self, iterator: Iterator[Any]) -> WriterCommitMessage:
        collections.deque(iterator, maxlen=0)  # drained in C, nothing kept
        return _Done()

    def commit(self, messages: List[Optional[WriterCommitMessage]]) -> None:
        pass

    def abort(self, messages: List[Optional[WriterCommitMessage]]) -> None:
        pass


class Noop(DataSource):
    """Writes nothing; append and overwrite only (PySpark 4.1.1's noop refuses errorifexists and
    ignore with UNSUPPORTED_DATA_SOURCE_SAVE_MODE too)."""

    @classmethod
    def name(cls) -> str:
        return "noop"

    def writer(self, schema: Any, overwrite: bool) -> _NoopWriter:
        return _NoopWriter()
