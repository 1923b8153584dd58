"""Spark's split of a JDBC read into WHERE clauses (``JDBCRelation.columnPartition``).

Facts from Spark's source (4.x):

- one partition (no WHERE clause) without a partition column, when ``numPartitions <= 1``, or
  when ``lowerBound == upperBound``; ``lowerBound > upperBound`` is an error;
- ``numPartitions`` is reduced to ``upperBound - lowerBound`` when that is smaller;
- the stride is ``upperBound / n - lowerBound / n`` computed in decimals (18 places, then
  truncated to an integer), and the first bound moves up by half the strides the last partition
  would fall short by, so the first and last partitions come out about even (SPARK-34843; Scala
  ``BigDecimal`` with its default 34-digit context, reproduced with :mod:`decimal`);
- partition 0 is ``col < b1 or col is null``, partition i is ``col >= b_i AND col < b_i+1``, the
  last is ``col >= b_last``: NULLs and values below ``lowerBound`` go to the first partition,
  values above ``upperBound`` to the last, and every row is read exactly once;
- date columns use days since the epoch and timestamp columns microseconds; the bounds in the
  SQL are literals of the column's type.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import logging
from decimal import Decimal
from typing import List, Optional

import pyarrow as pa

from headwater.errors import AnalysisException

__all__ = ["column_partition", "parse_bound"]

log = logging.getLogger("headwater.jdbc")

_EPOCH = _dt.date(1970, 1, 1)
_EPOCH_TS = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_I64 = (-(1 << 63), (1 << 63) - 1)


# Scala's BigDecimal arithmetic: 34 significant digits, half-even (MathContext.DECIMAL128)
_MC = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN)


def _scale(d: Decimal, places: int, rounding: str = decimal.ROUND_HALF_EVEN) -> Decimal:
    """BigDecimal.setScale: exact, whatever the number of digits."""
    return d.quantize(Decimal(1).scaleb(-places), rounding=rounding, context=decimal.Context(prec=200))


def parse_bound(text: str, kind: str, name: str) -> int:
    """A bound option as the internal value of the column's type: the integer, days since the
    epoch (date) or microseconds since the epoch in UTC (timestamp; a bound without a zone is
    UTC)."""
    try:
        if kind == "int":
            return int(str(text).strip())
        if kind == "date":
            return (_dt.date.fromisoformat(str(text).strip()[:10]) - _EPOCH).days
        t = _dt.datetime.fromisoformat(str(text).strip())
        if t.tzinfo is None:
            t = t.replace(tzinfo=_dt.timezone.utc)
        delta = t - _EPOCH_TS
        return delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds
    except ValueError:
        what = {"int": "an integer", "date": "a date (yyyy-MM-dd)", "timestamp": "a timestamp (yyyy-MM-dd HH:mm:ss)"}[kind]
        raise AnalysisException(f"Option '{name}' must be {what} for this partition column, got '{text}'.",
                                "HW_JDBC_INVALID_OPTION") from None


def column_kind(t: pa.DataType) -> Optional[str]:
    """``int``, ``date`` or ``timestamp`` for a partition column's Arrow type, else None."""
    if pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_floating(t):
        return "int"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    return None


def _bound_sql(value: int, kind: str, dialect: object) -> str:
    if kind == "int":
        return str(value)
    if kind == "date":
        return dialect.literal(_EPOCH + _dt.timedelta(days=value))  # type: ignore[attr-defined]
    t = _EPOCH_TS + _dt.timedelta(microseconds=value)
    return dialect.literal(t if getattr(dialect, "name", "") == "postgresql" else t.replace(tzinfo=None))  # type: ignore[attr-defined]


def column_partition(column_sql: str, kind: str, lower: int, upper: int, num_partitions: int,
                     dialect: object) -> List[Optional[str]]:
    """The WHERE clause of each partition (None: the whole table), as Spark computes them.

    Parameters
    ----------
    column_sql : str
        The partition column, quoted for the dialect.
    kind : str
        ``int``, ``date`` or ``timestamp``.
    lower, upper : int
        The bounds as internal values (see :func:`parse_bound`).
    num_partitions : int
        ``numPartitions``.
    """
    if num_partitions <= 1 or lower == upper:
        return [None]
    if lower > upper:
        raise AnalysisException(
            "Operation not allowed: the lower bound of partitioning column is larger than the upper bound. "
            f"Lower bound: {lower}; Upper bound: {upper}",
            "HW_JDBC_INVALID_OPTION",
        )
    diff = upper - lower
    overflow = not (_I64[0] <= diff <= _I64[1])
    if diff >= num_partitions or overflow:
        n = num_partitions
    else:
        log.warning("The number of partitions is reduced because the specified number of partitions is less "
                    "than the difference between upper bound and lower bound. Updated number of partitions: "
                    "%d; Input number of partitions: %d; Lower bound: %d; Upper bound: %d.",
                    diff, num_partitions, lower, upper)
        n = diff
    with decimal.localcontext(_MC):
        precise = _scale(Decimal(upper) / Decimal(n), 18) - _scale(Decimal(lower) / Decimal(n), 18)
        stride = int(precise)  # BigDecimal.toLong: truncates toward zero
        start = lower
        if stride != 0:
            lost = (precise - stride) * n / stride
            start = lower + int(_scale(lost / 2 * stride, 0, decimal.ROUND_HALF_UP))
    clauses: List[Optional[str]] = []
    current = start
    for i in range(n):
        low = f"{column_sql} >= {_bound_sql(current, kind, dialect)}" if i != 0 else None
        current += stride
        up = f"{column_sql} < {_bound_sql(current, kind, dialect)}" if i != n - 1 else None
        if up is None:
            clauses.append(low)
        elif low is None:
            clauses.append(f"{up} or {column_sql} is null")
        else:
            clauses.append(f"{low} AND {up}")
    return clauses
