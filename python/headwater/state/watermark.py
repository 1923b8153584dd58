"""Event time: the watermark as Spark keeps it, and the interval strings of withWatermark/window.

Spark's rule: batch N runs with the watermark computed after batch N-1 (``batchWatermarkMs``);
after batch N the next one is ``max(previous, max event time seen in N - delay)``
(``nextBatchWatermarkMs``); it never goes back. Both are written to the checkpoint by the loop.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Dict, Optional

from headwater.errors import AnalysisException

__all__ = ["Watermark", "parse_delay_ms", "iso_ms"]

_UNITS = {
    "microsecond": 0.001, "millisecond": 1, "second": 1000, "minute": 60_000, "hour": 3_600_000,
    "day": 86_400_000, "week": 7 * 86_400_000,
}
_PART = re.compile(r"(-?\d+(?:\.\d+)?)\s*([a-z]+?)s?\b")


def parse_delay_ms(text: str) -> int:
    """Milliseconds of an interval string as Spark writes them: ``"10 minutes"``, ``"1 second"``,
    ``"1 hour 30 minutes"``, ``"interval 5 seconds"``."""
    t = str(text).strip().lower()
    t = t[len("interval"):].strip() if t.startswith("interval") else t
    total, pos = 0.0, 0
    for m in _PART.finditer(t):
        if t[pos:m.start()].strip():
            break
        unit = {"ms": "millisecond", "msec": "millisecond", "sec": "second", "min": "minute",
                "us": "microsecond"}.get(m.group(2), m.group(2))
        if unit not in _UNITS:
            break
        total += float(m.group(1)) * _UNITS[unit]
        pos = m.end()
    if pos == 0 or t[pos:].strip():
        raise AnalysisException(f"Cannot parse the interval '{text}'.", "INVALID_INTERVAL_FORMAT.INVALID_UNIT")
    return int(total)


def iso_ms(ms: int) -> str:
    """A progress report's time: ``2026-12-05T04:55:24.000Z``."""
    d = _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


class Watermark:
    """The watermark of one query: ``delay_ms`` behind the newest event time of ``column``."""

    def __init__(self, column: str, delay: str) -> None:
        self.column = column
        self.delay_ms = parse_delay_ms(delay)
        self.batch_ms = 0  # the watermark the current batch runs with (batchWatermarkMs)
        self.next_ms = 0  # after it (nextBatchWatermarkMs)
        self.stats: Optional[Dict[str, int]] = None

    def restore(self, batch_watermark_ms: int) -> None:
        self.batch_ms = self.next_ms = int(batch_watermark_ms)

    def observe(self, table: Any) -> None:
        """Read the batch's event-time min/max/avg (a pyarrow Table, Arrow compute in C) and move the
        next watermark."""
        import pyarrow as pa
        import pyarrow.compute as pc

        col = table.column(self.column)
        ms = col.cast(pa.timestamp("ms", col.type.tz), safe=False).cast(pa.int64())
        if ms.null_count < len(ms):
            lo_hi = pc.min_max(ms).as_py()
            self.stats = {"min": lo_hi["min"], "max": lo_hi["max"], "avg": int(round(pc.mean(ms).as_py()))}
            self.next_ms = max(self.next_ms, self.stats["max"] - self.delay_ms)
        else:
            self.stats = None

    def advance(self) -> None:
        """The batch committed: the next batch runs with the new watermark."""
        self.batch_ms = self.next_ms

    def event_time(self) -> Dict[str, str]:
        """``eventTime`` of the progress report (Spark leaves min/max/avg out of an empty batch)."""
        out = {"watermark": iso_ms(self.batch_ms)}
        if self.stats:
            out.update({k: iso_ms(v) for k, v in self.stats.items()})
        return dict(sorted(out.items()))
