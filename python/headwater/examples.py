"""A small built-in data source used by the demo and the tests: trades of a few symbols.

It has the shape of a PySpark Python data source (``schema()`` and a reader whose
``read(partition)`` yields tuples), so it runs on headwater's converter as Spark sources do.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterator, Tuple

__all__ = ["TradesSource"]

_SYMBOLS = ("ACME", "GLOBEX", "INITECH", "UMBRELLA", "HOOLI")
_START = dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.timezone.utc)


class TradesSource:
    """``rows`` trades split into ``partitions`` partitions; deterministic, no I/O."""

    def __init__(self, rows: int = 1000, partitions: int = 1) -> None:
        self.rows = rows
        self.partitions = partitions

    @staticmethod
    def schema() -> str:
        return "trade_id BIGINT NOT NULL, symbol STRING, price DOUBLE, quantity INT, executed_at TIMESTAMP"

    def read(self, partition: int) -> Iterator[Tuple[int, str, float, int, dt.datetime]]:
        per = -(-self.rows // self.partitions)
        first = partition * per
        for i in range(first, min(first + per, self.rows)):
            yield (
                i,
                _SYMBOLS[i % len(_SYMBOLS)],
                100.0 + (i * 7919 % 10000) / 100.0,
                1 + i % 500,
                _START + dt.timedelta(milliseconds=37 * i),
            )
