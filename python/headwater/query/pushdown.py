"""Predicates -> Spark 4 filter objects for ``DataSourceReader.pushFilters``.

Only the forms Spark pushes are offered: a source column (or a field of a struct column) compared
with a literal (``=``, ``<=>``, ``<``, ``<=``, ``>``, ``>=``, ``!=`` as ``Not(EqualTo)``), ``IN`` of
literals, ``IS [NOT] NULL``, ``startswith``/``endswith``/``contains`` with a string, and ``NOT`` of
any of these. ``OR``, column-to-column comparisons and other functions stay with DuckDB. A literal
whose Python type does not fit the column's type is not offered (Spark would cast it first).
"""

from __future__ import annotations

import datetime
import decimal
from typing import Any, Optional, Tuple

import pyarrow as pa

from headwater import datasource
from headwater.query.expressions import Column
from headwater.query.logical import SourceScan, resolve

__all__ = ["to_spark_filter"]

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "<=>": "<=>", "!=": "!="}
_CLASS = {"=": "EqualTo", "<=>": "EqualNullSafe", "<": "LessThan", "<=": "LessThanOrEqual", ">": "GreaterThan",
          ">=": "GreaterThanOrEqual"}


def _module(scan: "SourceScan") -> Any:
    flavor = getattr(scan.plan, "flavor", None)
    if flavor is not None:
        return flavor.module
    return datasource


def _column(c: Column, scan: "SourceScan") -> Optional[Tuple[Tuple[str, ...], Any]]:
    """(attribute path, Arrow type) when c is a reference to a column of this scan."""
    if c._kind != "ref":
        return None
    try:
        attr, _, path = resolve(c, [scan])
    except Exception:
        return None
    index = next(i for i, a in enumerate(scan.output) if a.id == attr.id)
    t = pa.schema(scan.plan.core_schema).field(index).type
    for p in path:
        if not pa.types.is_struct(t) or t.get_field_index(p) < 0:
            return None
        t = t.field(t.get_field_index(p)).type
    return (scan.plan.core_schema.names[index],) + tuple(path), t


def _fits(value: Any, t: Any) -> Optional[Tuple[bool, Any]]:
    """(True, value as the source would see it) when a literal of this Python type compares with a
    column of Arrow type t without a cast."""
    if isinstance(value, bool):
        return (True, value) if pa.types.is_boolean(t) else None
    if isinstance(value, int):
        if pa.types.is_integer(t) or pa.types.is_decimal(t):
            return True, value
        if pa.types.is_floating(t):
            return True, float(value)
        return None
    if isinstance(value, float):
        return (True, value) if pa.types.is_floating(t) else None
    if isinstance(value, decimal.Decimal):
        return (True, value) if pa.types.is_decimal(t) else None
    if isinstance(value, str):
        return (True, value) if pa.types.is_string(t) or pa.types.is_large_string(t) else None
    if isinstance(value, (bytes, bytearray)):
        return (True, bytes(value)) if pa.types.is_binary(t) else None
    if isinstance(value, datetime.datetime):
        return (True, value) if pa.types.is_timestamp(t) else None
    if isinstance(value, datetime.date):
        return (True, value) if pa.types.is_date(t) else None
    return None


def to_spark_filter(c: Column, scan: "SourceScan") -> Any:
    """The Spark filter for predicate c over the scan's columns, or None when Spark would not push it."""
    m = _module(scan)
    k = c._kind
    if k == "unary" and c._op == "NOT":
        inner = to_spark_filter(c._args[0], scan)
        return m.Not(inner) if inner is not None else None
    if k == "unary" and c._op in ("IS NULL", "IS NOT NULL"):
        col = _column(c._args[0], scan)
        if col is None:
            return None
        return (m.IsNull if c._op == "IS NULL" else m.IsNotNull)(col[0])
    if k == "op" and c._op in _FLIP:
        a, b = c._args
        op = c._op
        if a._kind == "lit" and b._kind == "ref":
            a, b, op = b, a, _FLIP[op]
        col = _column(a, scan)
        if col is None or b._kind != "lit":
            return None
        if b._value is None:
            return m.IsNull(col[0]) if op == "<=>" else None
        fit = _fits(b._value, col[1])
        if fit is None:
            return None
        if op == "!=":
            return m.Not(m.EqualTo(col[0], fit[1]))
        return getattr(m, _CLASS[op])(col[0], fit[1])
    if k == "in":
        col = _column(c._args[0], scan)
        values = c._args[1:]
        if col is None or not values or any(v._kind != "lit" or v._value is None for v in values):
            return None
        fits = [_fits(v._value, col[1]) for v in values]
        if any(f is None for f in fits):
            return None
        return m.In(col[0], tuple(f[1] for f in fits))
    if k == "func" and c._name in ("startswith", "endswith", "contains"):
        col = _column(c._args[0], scan)
        arg = c._args[1]
        if col is None or arg._kind != "lit" or not isinstance(arg._value, str) or \
                not (pa.types.is_string(col[1]) or pa.types.is_large_string(col[1])):
            return None
        cls = {"startswith": "StringStartsWith", "endswith": "StringEndsWith", "contains": "StringContains"}[c._name]
        return getattr(m, cls)(col[0], arg._value)
    return None
