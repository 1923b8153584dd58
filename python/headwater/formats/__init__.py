"""headwater's built-in formats: ``parquet``, ``csv``, ``json`` (JSON lines), ``arrow`` (Arrow IPC
files) and ``noop``, and the stream sources ``rate`` and ``rate-micro-batch``. They are data
sources like any other (the Python Data Source API), found by
name before the registry's own sources; Spark's reserved names (parquet, csv, json, noop, ...)
cannot be registered by users."""

from __future__ import annotations

from typing import Dict, Optional

from headwater.formats.arrow import Arrow
from headwater.formats.csv import CSV
from headwater.formats.json import JSON
from headwater.formats.noop import Noop
from headwater.formats.parquet import Parquet
from headwater.formats.rate import Rate, RateMicroBatch

__all__ = ["builtin_format", "BUILTIN_FORMATS"]

BUILTIN_FORMATS = ("parquet", "csv", "json", "arrow", "noop", "rate", "rate-micro-batch")


def builtin_format(name: str) -> Optional[type]:
    """The built-in format class for ``name`` (case-insensitive), or None."""
    return _CLASSES.get(name.lower())


_CLASSES: Dict[str, type] = {"parquet": Parquet, "csv": CSV, "json": JSON, "arrow": Arrow, "noop": Noop,
                          "rate": Rate, "rate-micro-batch": RateMicroBatch}
