"""A small data source used by the demo (examples/demo.py): trades of a few symbols.

It is written against the PySpark Python Data Source API (``DataSource``, ``DataSourceReader``,
``InputPartition``), so it runs on headwater as it would on Spark. Options: ``rows`` (default
1000) and ``partitions`` (default 1).
"""

from __future__ import annotations

import datetime as dt
from typing import Iterator, List, Tuple

from headwater.datasource import DataSource, DataSourceReader, InputPartition

__all__ = ["TradesSource"]

_SYMBOLS = ("ACME", "GLOBEX", "INITECH", "UMBRELLA", "HOOLI")
_START = dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.timezone.utc)


class TradesSource(DataSource):
    """Deterministic trades, no I/O: every row is built by the generator (arithmetic, a lookup, a
    datetime), the way a real source builds the rows it parses."""

    @classmethod
    def name(cls) -> str:
        return "trades"

    def schema(self) -> str:
        return "trade_id BIGINT NOT NULL, symbol STRING, price DOUBLE, quantity INT, executed_at TIMESTAMP"

    def reader(self, schema) -> "TradesReader":
        return TradesReader(int(self.options.get("rows", "1000")), int(self.options.get("partitions", "1")))


class TradesReader(DataSourceReader):
    def __init__(self, rows: int, partitions: int) -> None:
        self.rows = rows
        self.n = partitions

    def partitions(self) -> List[InputPartition]:
        per = -(-self.rows // self.n)
        return [InputPartition((i * per, min((i + 1) * per, self.rows))) for i in range(self.n)]

    def read(self, partition: InputPartition) -> Iterator[Tuple[int, str, float, int, dt.datetime]]:
        first, end = partition.value
        for i in range(first, end):
            yield (
                i,
                _SYMBOLS[i % len(_SYMBOLS)],
                100.0 + (i * 7919 % 10000) / 100.0,
                1 + i % 500,
                _START + dt.timedelta(milliseconds=37 * i),
            )
