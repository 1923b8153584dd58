"""Streaming state: the stateful operators of Structured Streaming (aggregation, event-time windows
with a watermark, deduplication), their state held in DuckDB tables and checkpointed per batch.

Independent of the micro-batch loop: an operator takes one batch (Arrow) and the batch's watermark,
returns the rows to emit, and commits its state as version N (the batch id) under
``<checkpoint>/state/<operatorId>/``.
"""

from headwater.state.aggregate import Agg, SessionWindow, StreamingAggregate, Window
from headwater.state.dedup import StreamingDeduplicate
from headwater.state.session import StreamingSessionAggregate
from headwater.state.store import StateStore
from headwater.state.watermark import Watermark, parse_delay_ms

__all__ = ["Agg", "SessionWindow", "StreamingAggregate", "StreamingSessionAggregate", "Window", "StreamingDeduplicate", "StateStore", "Watermark",
           "parse_delay_ms"]
