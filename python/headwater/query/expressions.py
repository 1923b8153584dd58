"""Columns: PySpark's ``Column`` as a small expression tree that compiles to DuckDB SQL.

headwater evaluates nothing itself: a Column only knows how to print itself as DuckDB SQL (with
Spark's semantics where the two differ, e.g. NULL ordering or the result type of ``year``), how
Spark names it in a result (``(a + 1)``, ``sum(x)``), which columns it reads (for column pruning)
and, for the simple predicates Spark pushes, which Spark filter it is (for ``pushFilters``).
"""

from __future__ import annotations

import datetime
import decimal
import re
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple, Union

import pyarrow as pa

from headwater.schema import parse_schema

__all__ = ["Column", "quote_ident", "sql_literal", "sql_type", "SPARK_RUNTIME_ERRORS", "CAST_TARGETS", "cast_rule"]


def quote_ident(name: str) -> str:
    """A DuckDB identifier, always quoted (any name is safe)."""
    return '"' + name.replace('"', '""') + '"'


def _string_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_literal(value: Any) -> str:
    """A Python value as a DuckDB literal of the type Spark gives it (``lit`` semantics)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return f"CAST({value} AS INTEGER)"
        return f"CAST({value} AS BIGINT)"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return f"CAST('{value}' AS DOUBLE)"
        return f"CAST({value!r} AS DOUBLE)"
    if isinstance(value, decimal.Decimal):
        sign, digits, exp = value.as_tuple()
        scale = max(0, -int(exp))
        precision = max(len(digits), scale, 1)
        return f"CAST({_string_literal(str(value))} AS DECIMAL({min(precision, 38)},{scale}))"
    if isinstance(value, str):
        return _string_literal(value)
    if isinstance(value, (bytes, bytearray)):
        return "from_hex(" + _string_literal(bytes(value).hex()) + ")"
    if isinstance(value, datetime.datetime):
        # Spark's TimestampType literal: an aware value is an instant; a naive one is local time
        aware = value if value.tzinfo is not None else value.astimezone()
        utc = aware.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return f"CAST({_string_literal(utc.isoformat(sep=' '))} || '+00' AS TIMESTAMPTZ)"
    if isinstance(value, datetime.date):
        return f"DATE {_string_literal(value.isoformat())}"
    raise TypeError(f"lit() does not support values of type {type(value).__name__}: {value!r}")


def _spark_literal_name(value: Any) -> str:
    """How Spark prints a literal in a column name."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, datetime.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, datetime.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, (bytes, bytearray)):
        return "X'" + bytes(value).hex().upper() + "'"
    return str(value)


_DDL_TO_DUCKDB = {
    "string": "VARCHAR", "varchar": "VARCHAR", "char": "VARCHAR",
    "int": "INTEGER", "integer": "INTEGER", "bigint": "BIGINT", "long": "BIGINT",
    "smallint": "SMALLINT", "short": "SMALLINT", "tinyint": "TINYINT", "byte": "TINYINT",
    "double": "DOUBLE", "float": "FLOAT", "real": "FLOAT", "boolean": "BOOLEAN", "bool": "BOOLEAN",
    "date": "DATE", "timestamp": "TIMESTAMPTZ", "timestamp_ltz": "TIMESTAMPTZ", "timestamp_ntz": "TIMESTAMP",
    "binary": "BLOB", "void": "NULL",
}


#: The targets of casts whose result can differ from Spark's (see :func:`cast_rule`).
CAST_TARGETS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "VARCHAR")


def cast_rule(arg_type: str, target: str) -> Optional[str]:
    """How a cast of a DuckDB ``arg_type`` to ``target`` compiles to give Spark's result: None for
    DuckDB's CAST as it is; "truncate" (a fraction to an integer type: Spark truncates toward
    zero, DuckDB rounds: 5/9 -> 0, not 1); "integer_text" (a string to an integer type: Spark
    takes a sign and digits only, DuckDB also '5.7' as 6, '1e3', '0x10'); "double_text" (a double
    to a string: Java's text, 1.0E20 and NaN, where DuckDB writes 1e+20 and nan);
    "timestamp_text" (a timestamp to a string: no zone suffix, fraction without trailing zeros).
    A float to a string stays DuckDB's: its text of a float is not the shortest (6710.34375 where
    Java writes 6710.3438), so Java's rule cannot be built on it."""
    if target == "VARCHAR":
        if arg_type == "DOUBLE":
            return "double_text"
        if arg_type in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP"):
            return "timestamp_text"
        return None
    if arg_type in ("FLOAT", "DOUBLE") or arg_type.startswith("DECIMAL"):
        return "truncate"
    return "integer_text" if arg_type == "VARCHAR" else None


def _java_double_text(a: str) -> str:
    """SQL for Java's ``Double.toString`` of double ``a`` (Spark's cast to string), built on DuckDB's
    shortest round-trip text of |a|: the significant digits g and the decimal point's place p
    (|a| = 0.g x 10^p) are taken from it, then written plainly for 1e-3 <= |a| < 1e7 (at least
    one digit after the point) and as d.ddddE<n> otherwise. The lambdas only name intermediate
    values; nothing runs in Python."""
    parts = (f"regexp_extract(CAST(abs({a}) AS VARCHAR), '^([0-9]+)(?:\\.([0-9]*))?(?:e([+-]?[0-9]+))?$', "
             "['i', 'f', 'e'])")
    digits = ("{'g': rtrim(ltrim(m.i || m.f, '0'), '0'), 'p': length(m.i) + coalesce(TRY_CAST(m.e AS INTEGER), 0)"
              " - (length(m.i || m.f) - length(ltrim(m.i || m.f, '0')))}")
    text = (f"CASE WHEN abs({a}) >= 1e-3 AND abs({a}) < 1e7 THEN "
            "CASE WHEN d.p >= 1 THEN rpad(left(d.g, d.p), CAST(d.p AS INTEGER), '0') || '.' || "
            "coalesce(nullif(substr(d.g, d.p + 1), ''), '0') ELSE '0.' || repeat('0', -d.p) || d.g END "
            "ELSE left(d.g, 1) || '.' || coalesce(nullif(substr(d.g, 2), ''), '0') || 'E' || CAST(d.p - 1 AS VARCHAR) END")
    finite = f"list_transform([{parts}], lambda m: list_transform([{digits}], lambda d: {text})[1])[1]"
    return (f"(CASE WHEN {a} IS NULL THEN NULL WHEN isnan({a}) THEN 'NaN' "
            f"WHEN isinf({a}) THEN CASE WHEN {a} > 0 THEN 'Infinity' ELSE '-Infinity' END "
            f"WHEN {a} = 0 THEN CASE WHEN signbit({a}) THEN '-0.0' ELSE '0.0' END "
            f"ELSE CASE WHEN {a} < 0 THEN '-' ELSE '' END || {finite} END)")


def _spark_timestamp_text(a: str) -> str:
    """SQL for Spark's text of a timestamp: ``yyyy-MM-dd HH:mm:ss`` and the fraction of a second
    without its trailing zeros (none when it is 0), with no zone suffix (DuckDB writes ``+00``).
    The ``.`` keeps the seconds' zeros from the first rtrim."""
    return f"rtrim(rtrim(strftime({a}, '%Y-%m-%d %H:%M:%S.%f'), '0'), '.')"


#: What Spark's (ANSI) cast of a string to an integer type accepts: a sign and digits, with spaces
#: and control characters around them (Spark trims those); DuckDB's CAST also takes '5.7' (as 6),
#: '1e3', '0x10', '0b101' and '1_000'.
_SPARK_INTEGER_TEXT = r"[\x00-\x20]*([+-]?[0-9]+)[\x00-\x20]*"


def _spark_integer_text(arg: str, spark_type: str) -> str:
    """SQL giving the digits of string ``arg`` for DuckDB's CAST to an integer type when Spark
    would cast it, and failing as Spark's CAST_INVALID_INPUT otherwise (a value too large for the
    type fails in DuckDB's CAST, which the engine maps to the same class)."""
    tail = (f" of the type \"STRING\" cannot be cast to \"{spark_type.upper()}\" because it is malformed. "
            "Correct the value as per the syntax, or change its target type. Use `try_cast` to tolerate "
            "malformed input and return NULL instead.")
    fail = f"error(concat('[CAST_INVALID_INPUT] The value ', chr(39), {arg}, chr(39), {_string_literal(tail)}))"
    return (f"CASE WHEN {arg} IS NULL THEN NULL WHEN regexp_full_match({arg}, '{_SPARK_INTEGER_TEXT}') "
            f"THEN regexp_extract({arg}, '{_SPARK_INTEGER_TEXT}', 1) ELSE {fail} END")


#: The error classes of the error() calls below; the engine gives them to the exceptions it raises.
SPARK_RUNTIME_ERRORS = ("CAST_INVALID_INPUT", "DIVIDE_BY_ZERO", "REMAINDER_BY_ZERO")

#: `/` and `%` by zero: Spark's errors (a NULL on either side is NULL, as in Spark).
_BY_ZERO = {
    op: f"error('[{cls}] {what} by zero. Use `{instead}` to tolerate divisor being 0 and return NULL instead. "
        "If necessary set \"spark.sql.ansi.enabled\" to \"false\" to bypass this error.')"
    for op, cls, what, instead in (("/", "DIVIDE_BY_ZERO", "Division", "try_divide"),
                                   ("%", "REMAINDER_BY_ZERO", "Remainder", "try_mod"))
}


def sql_type(data_type: Any) -> Tuple[str, str]:
    """(DuckDB type, Spark's simpleString) for a cast target: a DataType or a DDL type name."""
    text = data_type if isinstance(data_type, str) else data_type.simpleString()
    simple = text.strip().lower()
    m = re.fullmatch(r"(decimal|dec|numeric)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?", simple)
    if m:
        p, s = int(m.group(2) or 10), int(m.group(3) or 0)
        return f"DECIMAL({p},{s})", f"decimal({p},{s})"
    m = re.fullmatch(r"(var)?char\s*\(\s*\d+\s*\)", simple)
    if m:
        return "VARCHAR", "string"
    if simple in _DDL_TO_DUCKDB:
        canonical = {"integer": "int", "long": "bigint", "short": "smallint", "byte": "tinyint", "real": "float",
                     "bool": "boolean", "varchar": "string", "char": "string", "timestamp_ltz": "timestamp"}
        return _DDL_TO_DUCKDB[simple], canonical.get(simple, simple)
    # nested types: let our schema parser check it, then DuckDB's own spelling of Arrow's types
    core = parse_schema(f"c {text}")
    return _arrow_to_duckdb(pa.schema(core).field(0).type), text


def _arrow_to_duckdb(t: Any) -> str:
    if pa.types.is_list(t):
        return _arrow_to_duckdb(t.value_type) + "[]"
    if pa.types.is_map(t):
        return f"MAP({_arrow_to_duckdb(t.key_type)}, {_arrow_to_duckdb(t.item_type)})"
    if pa.types.is_struct(t):
        return "STRUCT(" + ", ".join(f"{quote_ident(f.name)} {_arrow_to_duckdb(f.type)}" for f in t) + ")"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    simple = {
        pa.bool_(): "BOOLEAN", pa.int8(): "TINYINT", pa.int16(): "SMALLINT", pa.int32(): "INTEGER",
        pa.int64(): "BIGINT", pa.float32(): "FLOAT", pa.float64(): "DOUBLE", pa.string(): "VARCHAR",
        pa.binary(): "BLOB", pa.date32(): "DATE", pa.null(): "NULL",
    }
    return simple[t]


class Column:
    """A column expression, as in PySpark: built from ``df["c"]``, ``df.c``, ``col("c")``,
    ``lit(v)`` and functions, combined with operators. Nothing is evaluated until an action."""

    # kind: ref | lit | star | op | unary | func | agg | case | cast | alias | in | sql | sort
    def __init__(self, kind: str, *, name: Optional[str] = None, args: Sequence["Column"] = (), value: Any = None,
                 op: Optional[str] = None, attr: Any = None, render: Optional[Callable[..., str]] = None,
                 label: Optional[str] = None) -> None:
        self._kind = kind
        self._name = name        # ref: the column name (maybe qualified); alias: the new name; func: function
        self._args = tuple(args)
        self._value = value      # lit: the value; cast: (duckdb type, spark type); sort: (ascending, nulls_first)
        self._op = op            # op/unary: the operator
        self._attr = attr        # ref: the attribute it was resolved to (df["c"]), else None
        self._render = render    # func/agg: (args' sql...) -> sql
        self._label = label      # the name Spark gives the result, when not derived

    # ---- Spark's naming of result columns

    def _spark_name(self) -> str:
        k = self._kind
        if k == "ref":
            return self._name.split(".")[-1] if self._attr is None else self._attr.name
        if k == "alias":
            return self._name
        if self._label is not None:
            return self._label
        if k == "lit":
            return _spark_literal_name(self._value)
        if k == "star":
            return "*"
        if k == "op":
            a, b = self._args
            if self._op == "!=":
                return f"(NOT ({a._spark_name()} = {b._spark_name()}))"
            return f"({a._spark_name()} {self._op} {b._spark_name()})"
        if k == "unary":
            a = self._args[0]
            if self._op in ("IS NULL", "IS NOT NULL"):
                return f"({a._spark_name()} {self._op})"
            if self._op == "-":
                return f"negative({a._spark_name()})"
            return f"({self._op} {a._spark_name()})"
        if k in ("func", "agg"):
            return f"{self._name}({', '.join(a._spark_name() for a in self._args)})"
        if k == "cast":  # Spark keeps a cast column's name
            inner = self._args[0]
            return inner._spark_name() if inner._kind == "ref" else f"CAST({inner._spark_name()} AS {self._value[1].upper()})"
        if k == "in":
            a, *vals = self._args
            return f"({a._spark_name()} IN ({', '.join(v._spark_name() for v in vals)}))"
        if k == "case":
            return self._case_name()
        if k == "sql":
            return self._name
        if k == "sort":
            return self._args[0]._spark_name()
        return k

    def _case_name(self) -> str:
        parts = ["CASE"]
        args = list(self._args)
        otherwise = args.pop() if len(args) % 2 else None
        for cond, val in zip(args[::2], args[1::2]):
            parts.append(f"WHEN {cond._spark_name()} THEN {val._spark_name()}")
        if otherwise is not None:
            parts.append(f"ELSE {otherwise._spark_name()}")
        return " ".join(parts + ["END"])

    # ---- SQL

    def _sql(self, resolve: Callable[["Column"], str]) -> str:
        """DuckDB SQL; ``resolve`` turns a ``ref`` into the child's SQL column name."""
        k = self._kind
        if k == "ref":
            return resolve(self)
        if k == "lit":
            return sql_literal(self._value)
        if k == "star":
            return "*"
        if k == "alias":
            return self._args[0]._sql(resolve)
        if k == "op":
            a, b = (x._sql(resolve) for x in self._args)
            if self._op == "<=>":
                return f"({a} IS NOT DISTINCT FROM {b})"
            divisor = self._args[1]
            constant = divisor._kind == "lit" and isinstance(divisor._value, (int, float, decimal.Decimal)) \
                and not isinstance(divisor._value, bool) and divisor._value != 0  # cannot fail: plain SQL
            if self._op in _BY_ZERO and not constant:  # Spark 4 (ANSI) fails where DuckDB gives NULL
                return f"(CASE WHEN {b} = 0 AND {a} IS NOT NULL THEN {_BY_ZERO[self._op]} ELSE ({a} {self._op} {b}) END)"
            return f"({a} {self._op} {b})"
        if k == "unary":
            a = self._args[0]._sql(resolve)
            if self._op in ("IS NULL", "IS NOT NULL"):
                return f"({a} {self._op})"
            return f"({self._op} {a})"
        if k in ("func", "agg"):
            sql = self._render(*(a._sql(resolve) for a in self._args))
            cast = getattr(resolve, "agg_casts", {}).get(id(self)) if k == "agg" else None
            return f"CAST({sql} AS {cast})" if cast else sql
        if k == "cast":
            arg = self._args[0]._sql(resolve)
            rule = getattr(resolve, "spark_casts", {}).get(id(self))  # (planner)
            if rule == "truncate":  # Spark truncates, DuckDB rounds
                arg = f"trunc({arg})"
            elif rule == "integer_text":
                arg = _spark_integer_text(arg, self._value[1])
            elif rule == "double_text":
                return _java_double_text(arg)
            elif rule == "timestamp_text":
                return _spark_timestamp_text(arg)
            return f"CAST({arg} AS {self._value[0]})"
        if k == "in":
            a, *vals = (x._sql(resolve) for x in self._args)
            return f"({a} IN ({', '.join(vals)}))" if vals else "FALSE"
        if k == "case":
            args = list(self._args)
            otherwise = args.pop() if len(args) % 2 else None
            out = "CASE"
            for cond, val in zip(args[::2], args[1::2]):
                out += f" WHEN {cond._sql(resolve)} THEN {val._sql(resolve)}"
            if otherwise is not None:
                out += f" ELSE {otherwise._sql(resolve)}"
            return out + " END"
        if k == "sql":  # a select item is placed as written (its alias is the plan's name for it)
            return self._render() if self._render is not None else f"({self._name})"
        if k == "sort":
            ascending, nulls_first = self._value
            return (f"{self._args[0]._sql(resolve)} {'ASC' if ascending else 'DESC'} "
                    f"NULLS {'FIRST' if nulls_first else 'LAST'}")
        raise AssertionError(k)

    def _walk(self) -> Iterable["Column"]:
        yield self
        for a in self._args:
            yield from a._walk()

    def _refs(self) -> List["Column"]:
        return [c for c in self._walk() if c._kind == "ref"]

    def _sql_texts(self) -> List[str]:
        return [c._name for c in self._walk() if c._kind == "sql"]

    def _has_agg(self) -> bool:
        return any(c._kind == "agg" for c in self._walk())

    def _has_star(self) -> bool:
        return any(c._kind == "star" for c in self._walk())

    # ---- operators

    def _bin(self, op: str, other: Any, reverse: bool = False) -> "Column":
        other = _lit(other)
        return Column("op", op=op, args=(other, self) if reverse else (self, other))

    def __eq__(self, other: Any) -> "Column":  # type: ignore[override]
        return self._bin("=", other)

    def __ne__(self, other: Any) -> "Column":  # type: ignore[override]
        return self._bin("!=", other)

    def __lt__(self, other: Any) -> "Column":
        return self._bin("<", other)

    def __le__(self, other: Any) -> "Column":
        return self._bin("<=", other)

    def __gt__(self, other: Any) -> "Column":
        return self._bin(">", other)

    def __ge__(self, other: Any) -> "Column":
        return self._bin(">=", other)

    def eqNullSafe(self, other: Any) -> "Column":
        return self._bin("<=>", other)

    def __add__(self, other: Any) -> "Column":
        return self._bin("+", other)

    def __radd__(self, other: Any) -> "Column":
        return self._bin("+", other, True)

    def __sub__(self, other: Any) -> "Column":
        return self._bin("-", other)

    def __rsub__(self, other: Any) -> "Column":
        return self._bin("-", other, True)

    def __mul__(self, other: Any) -> "Column":
        return self._bin("*", other)

    def __rmul__(self, other: Any) -> "Column":
        return self._bin("*", other, True)

    # Spark's `/` is always fractional (double, or decimal for decimals); so is DuckDB's `/`
    def __truediv__(self, other: Any) -> "Column":
        return self._bin("/", other)

    def __rtruediv__(self, other: Any) -> "Column":
        return self._bin("/", other, True)

    def __mod__(self, other: Any) -> "Column":
        return self._bin("%", other)

    def __rmod__(self, other: Any) -> "Column":
        return self._bin("%", other, True)

    def __neg__(self) -> "Column":
        return Column("unary", op="-", args=(self,))

    def __and__(self, other: Any) -> "Column":
        return self._bin("AND", other)

    def __rand__(self, other: Any) -> "Column":
        return self._bin("AND", other, True)

    def __or__(self, other: Any) -> "Column":
        return self._bin("OR", other)

    def __ror__(self, other: Any) -> "Column":
        return self._bin("OR", other, True)

    def __invert__(self) -> "Column":
        return Column("unary", op="NOT", args=(self,))

    def __bool__(self) -> bool:
        raise ValueError(
            "Cannot convert column into bool: please use '&' for 'and', '|' for 'or', '~' for 'not' when "
            "building DataFrame boolean expressions."
        )

    __hash__ = None  # type: ignore[assignment]

    # ---- predicates and functions on a column

    def isNull(self) -> "Column":
        return Column("unary", op="IS NULL", args=(self,))

    def isNotNull(self) -> "Column":
        return Column("unary", op="IS NOT NULL", args=(self,))

    def isin(self, *values: Any) -> "Column":
        if len(values) == 1 and isinstance(values[0], (list, tuple, set)):
            values = tuple(values[0])
        return Column("in", args=(self,) + tuple(_lit(v) for v in values))

    def like(self, pattern: str) -> "Column":
        return _func("like", [self, _lit(pattern)], lambda a, p: f"({a} LIKE {p})",
                     label=f"{self._spark_name()} LIKE {pattern}")

    def rlike(self, pattern: str) -> "Column":
        return _func("rlike", [self, _lit(pattern)], lambda a, p: f"regexp_matches({a}, {p})",
                     label=f"RLIKE({self._spark_name()}, {pattern})")

    def startswith(self, prefix: Any) -> "Column":
        return _func("startswith", [self, _lit(prefix)], lambda a, p: f"starts_with({a}, {p})")

    def endswith(self, suffix: Any) -> "Column":
        return _func("endswith", [self, _lit(suffix)], lambda a, s: f"suffix({a}, {s})")

    def contains(self, other: Any) -> "Column":
        return _func("contains", [self, _lit(other)], lambda a, s: f"contains({a}, {s})")

    def between(self, lower: Any, upper: Any) -> "Column":
        return (self >= lower) & (self <= upper)

    def alias(self, *alias: str, **kwargs: Any) -> "Column":
        if len(alias) != 1:
            raise ValueError("alias() takes exactly one name for a single column")
        target = self._args[0] if self._kind == "alias" else self
        return Column("alias", name=alias[0], args=(target,))

    name = alias

    def cast(self, dataType: Any) -> "Column":
        return Column("cast", args=(self,), value=sql_type(dataType))

    astype = cast

    def asc(self) -> "Column":
        return Column("sort", args=(self,), value=(True, True))

    def asc_nulls_first(self) -> "Column":
        return Column("sort", args=(self,), value=(True, True))

    def asc_nulls_last(self) -> "Column":
        return Column("sort", args=(self,), value=(True, False))

    def desc(self) -> "Column":
        return Column("sort", args=(self,), value=(False, False))

    def desc_nulls_first(self) -> "Column":
        return Column("sort", args=(self,), value=(False, True))

    def desc_nulls_last(self) -> "Column":
        return Column("sort", args=(self,), value=(False, False))

    def __getitem__(self, key: Any) -> "Column":
        if isinstance(key, str):
            return self.getField(key)
        return _func("element_at", [self, _lit(key)], lambda a, k: f"{a}[{k} + 1]",
                     label=f"{self._spark_name()}[{key}]")

    def getField(self, name: str) -> "Column":
        return _func("getField", [self], lambda a: f"({a}).{quote_ident(name)}", label=f"{self._spark_name()}.{name}")

    def getItem(self, key: Any) -> "Column":
        return self[key]

    def otherwise(self, value: Any) -> "Column":
        if self._kind != "case" or len(self._args) % 2:
            raise ValueError("otherwise() can only be applied once on a Column previously generated by when()")
        return Column("case", args=self._args + (_lit(value),))

    def when(self, condition: "Column", value: Any) -> "Column":
        if self._kind != "case" or len(self._args) % 2:
            raise ValueError("when() can only be applied on a Column previously generated by when()")
        return Column("case", args=self._args + (condition, _lit(value)))

    def __repr__(self) -> str:
        return f"Column<'{self._spark_name()}'>"


def _lit(value: Any) -> Column:
    return value if isinstance(value, Column) else Column("lit", value=value)


def _func(name: str, args: Sequence[Column], render: Callable[..., str], label: Optional[str] = None,
          agg: bool = False) -> Column:
    return Column("agg" if agg else "func", name=name, args=args, render=render, label=label)


def _to_column(c: Union[str, Column]) -> Column:
    """A column name (``"*"``, ``"a"``, ``"t.a"``) or a Column."""
    if isinstance(c, Column):
        return c
    if isinstance(c, str):
        return Column("star") if c == "*" else Column("ref", name=c)
    raise TypeError(f"expected a column name (str) or a Column, got {type(c).__name__}")
