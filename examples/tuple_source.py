"""A generic (three-method) source whose ``read_partition`` yields plain tuples, not Arrow:
headwater converts them to Arrow in C (the same converter as ``DataSourceReader.read``), so a
source needs no pyarrow code at all. Its schema is a Spark DDL string.

Sensor readings, one partition per sensor::

    import headwater
    df = headwater.read_python("tuple_source:SensorReadings", sensors=4, readings=1000)

Options: ``sensors`` (partitions, default 4), ``readings`` (rows per sensor, default 100).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterator, List, Tuple

SCHEMA = "sensor STRING, seq BIGINT, ts TIMESTAMP, value DOUBLE, ok BOOLEAN, tags ARRAY<STRING>"

BASE = datetime(2024, 1, 1, tzinfo=timezone.utc)


class SensorReadings:
    def infer_schema(self, options: Dict[str, str]) -> str:
        return SCHEMA

    def plan_partitions(self, options: Dict[str, str]) -> List[Dict[str, Any]]:
        return [{"sensor": f"s{i:02d}", "seed": i} for i in range(int(options.get("sensors", 4)))]

    def read_partition(self, spec: Dict[str, Any], options: Dict[str, str]) -> Iterator[Tuple[Any, ...]]:
        sensor, seed = spec["sensor"], spec["seed"]
        for seq in range(int(options.get("readings", 100))):
            value = ((seed * 7919 + seq * 104729) % 1000) / 10.0
            yield (
                sensor,
                seq,
                BASE + timedelta(seconds=seq * 10),  # aware: the instant is unambiguous
                value if seq % 17 else None,  # a NULL now and then
                value < 90.0,
                ["hot"] if value > 80.0 else [],
            )


if __name__ == "__main__":
    import headwater

    df = headwater.read_python("tuple_source:SensorReadings", sensors=3, readings=5)
    df.printSchema()
    df.show()
