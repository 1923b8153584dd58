"""``headwater.functions`` (``headwater.sql.functions``): the PySpark functions DataFrames over
Python sources use most, each a :class:`~headwater.sql.column.Column` that compiles to DuckDB SQL with Spark's result names and types."""

from __future__ import annotations

from typing import Any, Union

from headwater.errors import AnalysisException, ParseException
from headwater.query.expressions import Column, _func, _lit, _to_column
from headwater.state import SessionWindow, Window

__all__ = [
    "abs", "asc", "avg", "coalesce", "col", "column", "concat", "count", "countDistinct", "count_distinct",
    "day", "dayofmonth", "desc", "expr", "lit", "lower", "max", "mean", "min", "month", "sum", "to_date",
    "upper", "when", "year", "length", "trim", "isnull", "window", "session_window",
]

ColumnOrName = Union[Column, str]


def col(name: str) -> Column:
    """The column ``name`` (``"a"``, ``"t.a"`` for a DataFrame alias ``t`` or a struct field, ``"*"``)."""
    return _to_column(name)


column = col


def lit(value: Any) -> Column:
    """A literal; its type is Spark's for the Python value (int -> int or bigint, float -> double, ...)."""
    return _lit(value)


def expr(text: str) -> Column:
    """A Spark SQL expression, evaluated by DuckDB (whose expression syntax Spark's mostly shares)."""
    if not isinstance(text, str) or not text.strip():
        raise ParseException("expr() needs a non-empty SQL expression string.", "PARSE_EMPTY_STATEMENT")
    return Column("sql", name=text.strip())


def when(condition: Column, value: Any) -> Column:
    """``CASE WHEN condition THEN value``; chain ``.when(...)`` and ``.otherwise(...)``."""
    if not isinstance(condition, Column):
        raise TypeError("when() needs a Column condition")
    return Column("case", args=(condition, _lit(value)))


def coalesce(*cols: ColumnOrName) -> Column:
    args = [_to_column(c) for c in cols]
    return _func("coalesce", args, lambda *a: f"coalesce({', '.join(a)})")


def upper(c: ColumnOrName) -> Column:
    return _func("upper", [_to_column(c)], lambda a: f"upper({a})")


def lower(c: ColumnOrName) -> Column:
    return _func("lower", [_to_column(c)], lambda a: f"lower({a})")


def length(c: ColumnOrName) -> Column:
    return _func("length", [_to_column(c)], lambda a: f"CAST(length({a}) AS INTEGER)")


def trim(c: ColumnOrName) -> Column:
    return _func("trim", [_to_column(c)], lambda a: f"trim({a})")


def abs(c: ColumnOrName) -> Column:  # noqa: A001 - PySpark's name
    return _func("abs", [_to_column(c)], lambda a: f"abs({a})")


def isnull(c: ColumnOrName) -> Column:
    return _func("isnull", [_to_column(c)], lambda a: f"({a} IS NULL)", label=f"({_to_column(c)._spark_name()} IS NULL)")


def concat(*cols: ColumnOrName) -> Column:
    """Spark's concat: NULL if any input is NULL (DuckDB's concat() skips NULLs; ``||`` does not);
    each argument as Spark's cast to string writes it (a double as 1.0E20, not 1e+20)."""
    args = [_to_column(c) for c in cols]
    label = f"concat({', '.join(a._spark_name() for a in args)})"
    texts = [a.cast("string") for a in args]
    return _func("concat", texts, lambda *a: "(" + " || ".join(a) + ")" if a else "''", label=label)


# Spark datetime pattern letters -> strftime, for the patterns people use with to_date
_PATTERN = [("yyyy", "%Y"), ("yy", "%y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S"),
            ("MMM", "%b"), ("d", "%-d"), ("M", "%-m")]


def _strftime(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        for spark, c_fmt in sorted(_PATTERN, key=lambda p: -len(p[0])):
            if pattern.startswith(spark, i):
                out += c_fmt
                i += len(spark)
                break
        else:
            out += "%%" if pattern[i] == "%" else pattern[i]
            i += 1
    return out


def to_date(c: ColumnOrName, format: str = None) -> Column:  # noqa: A002 - PySpark's name
    """A string (or timestamp) as a DATE; with ``format``, a Spark datetime pattern (``yyyy-MM-dd``)."""
    arg = _to_column(c)
    if format is None:
        return _func("to_date", [arg], lambda a: f"CAST({a} AS DATE)")
    fmt = _strftime(format)
    return _func("to_date", [arg, _lit(format)],
                 lambda a, _f: f"CAST(strptime(CAST({a} AS VARCHAR), '{fmt.replace(chr(39), chr(39) * 2)}') AS DATE)")


def _date_part(name: str, part: str, c: ColumnOrName) -> Column:
    # Spark returns int; DuckDB's date parts are bigint
    return _func(name, [_to_column(c)], lambda a: f"CAST({part}({a}) AS INTEGER)")


def year(c: ColumnOrName) -> Column:
    return _date_part("year", "year", c)


def month(c: ColumnOrName) -> Column:
    return _date_part("month", "month", c)


def day(c: ColumnOrName) -> Column:
    return _date_part("day", "day", c)


def dayofmonth(c: ColumnOrName) -> Column:
    return _date_part("dayofmonth", "day", c)


# ---- aggregates


def count(c: ColumnOrName) -> Column:
    """Rows where ``c`` is not NULL; ``count("*")`` (Spark names it ``count(1)``) counts all rows."""
    if isinstance(c, str) and c == "*":
        return _func("count", [], lambda: "count(*)", label="count(1)", agg=True)
    if isinstance(c, Column) and c._kind == "lit":
        return _func("count", [c], lambda a: "count(*)", agg=True)
    return _func("count", [_to_column(c)], lambda a: f"count({a})", agg=True)


def countDistinct(c: ColumnOrName, *cols: ColumnOrName) -> Column:
    args = [_to_column(x) for x in (c,) + cols]
    if len(args) == 1:
        render = lambda a: f"count(DISTINCT {a})"  # noqa: E731
    else:  # rows where no argument is NULL, distinct as tuples
        render = lambda *a: f"count(DISTINCT CASE WHEN {' AND '.join(f'{x} IS NOT NULL' for x in a)} THEN ({', '.join(a)}) END)"  # noqa: E731,E501
    return _func("count", args, render, label=f"count(DISTINCT {', '.join(x._spark_name() for x in args)})", agg=True)


count_distinct = countDistinct


def sum(c: ColumnOrName) -> Column:  # noqa: A001 - PySpark's name
    """Spark's sum: bigint for integral input (DuckDB's is a 128-bit integer, narrowed at output)."""
    return _func("sum", [_to_column(c)], lambda a: f"sum({a})", agg=True)


def avg(c: ColumnOrName) -> Column:
    return _func("avg", [_to_column(c)], lambda a: f"avg({a})", agg=True)


def mean(c: ColumnOrName) -> Column:
    return _func("avg", [_to_column(c)], lambda a: f"avg({a})", agg=True)


def min(c: ColumnOrName) -> Column:  # noqa: A001 - PySpark's name
    return _func("min", [_to_column(c)], lambda a: f"min({a})", agg=True)


def max(c: ColumnOrName) -> Column:  # noqa: A001 - PySpark's name
    return _func("max", [_to_column(c)], lambda a: f"max({a})", agg=True)


def asc(c: ColumnOrName) -> Column:
    return _to_column(c).asc()


def desc(c: ColumnOrName) -> Column:
    return _to_column(c).desc()


# ---- event time


def window(timeColumn: ColumnOrName, windowDuration: str, slideDuration: str = None,
           startTime: str = None) -> Column:
    """Spark's event-time window: the struct ``window{start, end}`` of the window(s) ``timeColumn`` falls in,
    aligned to the epoch plus ``startTime``. A tumbling window (no slide, or slide = duration) is one
    value per row; a sliding one gives a row per window that holds the time (as Spark's Expand), and
    rows whose time is NULL are left out (Spark's filter)."""
    dur, step, offset = Window("", windowDuration, slideDuration, startTime).micros()
    arg = _to_column(timeColumn)

    def struct(ts: str, back: str) -> str:  # the window starting ``back`` microseconds before ``ts``
        return (f"struct_pack(start := {ts} - to_microseconds({back}), "
                f"\"end\" := {ts} - to_microseconds({back}) + to_microseconds({dur}::BIGINT))")

    def render(ts: str) -> str:
        off = f"((((epoch_us({ts}) - {offset}) % {step}) + {step}) % {step})"
        n = -(-dur // step)
        items = ", ".join(struct(ts, f"({off} + {k * step})") for k in range(n))
        return f"unnest(list_filter([{items}], __w -> {ts} < __w.\"end\"))"

    # _value marks the column as a window for the streaming groupBy and the compiler
    return Column("func", name="window", args=[arg], render=render, label="window",
                  value=("window", windowDuration, slideDuration, startTime, dur, step, offset))


def session_window(timeColumn: ColumnOrName, gapDuration: str) -> Column:
    """Spark's session window: per row the struct ``session_window{start, end}`` = [time, time + gap)
    (rows whose time is NULL are left out); grouping by it on a stream merges the sessions of a key
    whose intervals touch (``headwater.state.session``). A gap given as a Column is not supported."""
    if not isinstance(gapDuration, str):
        raise AnalysisException("session_window takes the gap as an interval string here (a Column gap is not "
                                "supported by headwater).", "UNSUPPORTED_FEATURE")
    gap = SessionWindow("", gapDuration).gap_us()
    arg = _to_column(timeColumn)

    def render(ts: str) -> str:
        one = f"struct_pack(start := {ts}, \"end\" := {ts} + to_microseconds({gap}::BIGINT))"
        return f"unnest(list_filter([{one}], __w -> __w.start IS NOT NULL))"

    return Column("func", name="session_window", args=[arg], render=render, label="session_window",
                  value=("session_window", gapDuration))
