"""SQL dialects: identifier and literal quoting, pushed filters as SQL, and type mapping.

Every value that reaches SQL text goes through :meth:`Dialect.literal`, every column name through
:meth:`Dialect.quote_identifier`: a filter value can never end a literal early (injection-safe).
A filter whose value has no safe literal form (NaN, an unknown type, a nested column) is not
pushed; it is returned to the caller, who evaluates it after the read.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import math
import re
from typing import Any, Dict, Optional, Sequence

import pyarrow as pa

__all__ = ["Dialect", "PostgresDialect", "SqliteDialect", "MySQLDialect", "SqlServerDialect", "dialect_for"]


class _NoLiteral(Exception):
    """A value with no safe SQL literal: the filter is not pushed."""


#: Spark's DecimalType for a numeric without precision (as Spark's JDBC reader).
DEFAULT_DECIMAL = pa.decimal128(38, 18)
UTC_TS = pa.timestamp("us", tz="UTC")
NTZ_TS = pa.timestamp("us")


class Dialect:
    """The SQL of one database. Subclasses change quoting, literals and types."""

    name = "generic"
    true_literal, false_literal = "TRUE", "FALSE"

    # ---- quoting

    def quote_identifier(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def string_literal(self, s: str) -> str:
        if "\x00" in s:
            raise _NoLiteral("NUL character")
        return "'" + s.replace("'", "''") + "'"

    def bytes_literal(self, b: bytes) -> str:
        return "X'" + b.hex() + "'"

    def date_literal(self, d: _dt.date) -> str:
        return f"DATE '{d.isoformat()}'"

    def timestamp_literal(self, t: _dt.datetime) -> str:
        if t.tzinfo is not None:
            t = t.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return f"TIMESTAMP '{t.isoformat(sep=' ')}'"

    def literal(self, v: Any) -> str:
        """``v`` as a SQL literal of this dialect; :class:`_NoLiteral` when there is no safe one."""
        if v is None:
            return "NULL"
        if isinstance(v, bool):
            return self.true_literal if v else self.false_literal
        if isinstance(v, int):
            return str(v)
        if isinstance(v, float):
            if not math.isfinite(v):
                raise _NoLiteral("not finite")
            return repr(v)
        if isinstance(v, decimal.Decimal):
            if not v.is_finite():
                raise _NoLiteral("not finite")
            return str(v)
        if isinstance(v, str):
            return self.string_literal(v)
        if isinstance(v, (bytes, bytearray, memoryview)):
            return self.bytes_literal(bytes(v))
        if isinstance(v, _dt.datetime):
            return self.timestamp_literal(v)
        if isinstance(v, _dt.date):
            return self.date_literal(v)
        raise _NoLiteral(type(v).__name__)

    # ---- filters

    def _prefix(self, col: str, s: str) -> str:
        return f"{col} LIKE {self.string_literal(_like_escape(s) + '%')} ESCAPE '\\'"

    def _suffix(self, col: str, s: str) -> str:
        return f"{col} LIKE {self.string_literal('%' + _like_escape(s))} ESCAPE '\\'"

    def _contains(self, col: str, s: str) -> str:
        return f"{col} LIKE {self.string_literal('%' + _like_escape(s) + '%')} ESCAPE '\\'"

    def _null_safe_equal(self, col: str, lit: str) -> str:
        return f"{col} IS NOT DISTINCT FROM {lit}"

    def compile_filter(self, f: Any, columns: Dict[str, str]) -> Optional[str]:
        """SQL for one of Spark's filter dataclasses, or None when it cannot be pushed.

        ``columns`` maps lower-cased column names to their exact names (Spark resolves filter
        attributes case-insensitively)."""
        try:
            return self._compile(f, columns)
        except _NoLiteral:
            return None

    def _column(self, attribute: Sequence[str], columns: Dict[str, str]) -> str:
        if isinstance(attribute, str):
            attribute = (attribute,)
        if len(attribute) != 1 or attribute[0].lower() not in columns:
            raise _NoLiteral("nested or unknown column")
        return self.quote_identifier(columns[attribute[0].lower()])

    def _compile(self, f: Any, columns: Dict[str, str]) -> str:
        kind = type(f).__name__
        if kind == "Not":
            return f"(NOT ({self._compile(f.child, columns)}))"
        col = self._column(f.attribute, columns)
        if kind == "IsNull":
            return f"({col} IS NULL)"
        if kind == "IsNotNull":
            return f"({col} IS NOT NULL)"
        value = f.value
        if kind == "In":
            values = tuple(value)
            if not values:
                raise _NoLiteral("empty IN")
            return f"({col} IN ({', '.join(self.literal(v) for v in values)}))"
        if kind in ("StringStartsWith", "StringEndsWith", "StringContains"):
            if not isinstance(value, str):
                raise _NoLiteral("not a string")
            sql = {"StringStartsWith": self._prefix, "StringEndsWith": self._suffix,
                   "StringContains": self._contains}[kind](col, value)
            return f"({sql})"
        if kind == "EqualNullSafe":
            return f"({self._null_safe_equal(col, self.literal(value))})"
        op = {"EqualTo": "=", "GreaterThan": ">", "GreaterThanOrEqual": ">=", "LessThan": "<",
              "LessThanOrEqual": "<="}.get(kind)
        if op is None or value is None:
            raise _NoLiteral(kind)
        return f"({col} {op} {self.literal(value)})"

    # ---- types

    def sql_type(self, t: pa.DataType) -> str:
        """The column type ``CREATE TABLE`` uses for a Spark type (as its Arrow type)."""
        if pa.types.is_boolean(t):
            return "BOOLEAN"
        if pa.types.is_int8(t) or pa.types.is_int16(t):
            return "SMALLINT"
        if pa.types.is_int32(t):
            return "INTEGER"
        if pa.types.is_int64(t):
            return "BIGINT"
        if pa.types.is_float32(t):
            return "REAL"
        if pa.types.is_float64(t):
            return "DOUBLE PRECISION"
        if pa.types.is_decimal(t):
            return f"DECIMAL({t.precision},{t.scale})"
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return "TEXT"
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return "BLOB"
        if pa.types.is_date32(t):
            return "DATE"
        if pa.types.is_timestamp(t):
            return "TIMESTAMP"
        raise TypeError(f"no {self.name} column type for {t}")


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class PostgresDialect(Dialect):
    name = "postgresql"

    def string_literal(self, s: str) -> str:
        # An E'' literal reads backslashes as escapes whatever standard_conforming_strings says,
        # so doubling both quote and backslash is always safe.
        if "\x00" in s:
            raise _NoLiteral("NUL character")
        return "E'" + s.replace("\\", "\\\\").replace("'", "''") + "'"

    def bytes_literal(self, b: bytes) -> str:
        return f"'\\x{b.hex()}'::bytea"

    def timestamp_literal(self, t: _dt.datetime) -> str:
        if t.tzinfo is not None:
            return f"TIMESTAMPTZ '{t.astimezone(_dt.timezone.utc).replace(tzinfo=None).isoformat(sep=' ')}+00'"
        return f"TIMESTAMP '{t.isoformat(sep=' ')}'"

    def _prefix(self, col: str, s: str) -> str:
        return f"{col} LIKE {self.string_literal(_like_escape(s) + '%')} ESCAPE E'\\\\'"

    def _suffix(self, col: str, s: str) -> str:
        return f"{col} LIKE {self.string_literal('%' + _like_escape(s))} ESCAPE E'\\\\'"

    def _contains(self, col: str, s: str) -> str:
        return f"strpos({col}, {self.string_literal(s)}) > 0"

    def sql_type(self, t: pa.DataType) -> str:
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return "BYTEA"
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return self.sql_type(t.value_type) + "[]"
        if pa.types.is_timestamp(t):
            return "TIMESTAMP" if t.tz is None else "TIMESTAMPTZ"
        return super().sql_type(t)

    # pg_type OIDs -> Arrow (Spark's PostgresDialect mapping); arrays by element OID
    _SCALARS = {16: pa.bool_(), 17: pa.binary(), 18: pa.string(), 19: pa.string(), 20: pa.int64(),
                21: pa.int16(), 23: pa.int32(), 25: pa.string(), 26: pa.int64(), 114: pa.string(),
                142: pa.string(), 700: pa.float32(), 701: pa.float64(), 1042: pa.string(), 1043: pa.string(),
                1082: pa.date32(), 1114: "timestamp", 1184: UTC_TS, 2950: pa.string(), 3802: pa.string(),
                1700: "numeric"}
    _ARRAYS = {1000: 16, 1001: 17, 1005: 21, 1007: 23, 1009: 25, 1014: 1042, 1015: 1043, 1016: 20, 1021: 700,
               1022: 701, 1115: 1114, 1182: 1082, 1185: 1184, 1231: 1700, 2951: 2950, 199: 114, 3807: 3802}

    def arrow_type(self, oid: int, precision: Optional[int], scale: Optional[int], prefer_ntz: bool) -> pa.DataType:
        """The Arrow type of a result column from its type OID (psycopg's description)."""
        if oid in self._ARRAYS:
            return pa.list_(self.arrow_type(self._ARRAYS[oid], None, None, prefer_ntz))
        t = self._SCALARS.get(oid, pa.string())
        if t == "timestamp":
            return NTZ_TS if prefer_ntz else UTC_TS
        if t == "numeric":
            if precision and 0 < precision <= 38:
                return pa.decimal128(precision, max(scale or 0, 0))
            return DEFAULT_DECIMAL
        return t


class SqliteDialect(Dialect):
    name = "sqlite"
    true_literal, false_literal = "1", "0"

    def date_literal(self, d: _dt.date) -> str:
        return f"'{d.isoformat()}'"

    def timestamp_literal(self, t: _dt.datetime) -> str:
        # stored as ISO text: compare as text in the same form (space separator, UTC)
        if t.tzinfo is not None:
            t = t.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return f"'{t.isoformat(sep=' ')}'"

    # SQLite's LIKE ignores ASCII case; Spark's string filters do not: use substr/instr.
    def _prefix(self, col: str, s: str) -> str:
        return f"substr({col}, 1, {len(s)}) = {self.string_literal(s)}"

    def _suffix(self, col: str, s: str) -> str:
        return f"substr({col}, -{len(s)}) = {self.string_literal(s)}" if s else f"{col} IS NOT NULL"

    def _contains(self, col: str, s: str) -> str:
        return f"instr({col}, {self.string_literal(s)}) > 0"

    def _null_safe_equal(self, col: str, lit: str) -> str:
        return f"{col} IS {lit}"

    def sql_type(self, t: pa.DataType) -> str:
        if pa.types.is_float64(t):
            return "DOUBLE"
        if pa.types.is_float32(t):
            return "FLOAT"
        if pa.types.is_list(t):
            raise TypeError("SQLite has no array columns")
        return super().sql_type(t)

    def arrow_type(self, decltype: str, prefer_ntz: bool) -> Optional[pa.DataType]:
        """The Arrow type of a column from its declared type (SQLite's affinity rules, with
        Spark's names on top); None when there is no declared type."""
        d = decltype.strip().upper()
        if not d:
            return None
        if "BOOL" in d:
            return pa.bool_()
        if "INT" in d:
            return pa.int64()  # SQLite integers are 64-bit whatever the declared name
        m = re.match(r"^(DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)", d)
        if m:
            p, s = int(m.group(2)), int(m.group(3) or 0)
            return pa.decimal128(min(p, 38), min(s, 38)) if 0 < p else DEFAULT_DECIMAL
        if d.startswith(("DECIMAL", "NUMERIC")):
            return DEFAULT_DECIMAL
        if "DATETIME" in d or "TIMESTAMP" in d:
            return NTZ_TS if prefer_ntz else UTC_TS
        if d.startswith("DATE"):
            return pa.date32()
        if "CHAR" in d or "CLOB" in d or "TEXT" in d:
            return pa.string()
        if "BLOB" in d or "BINARY" in d:
            return pa.binary()
        if "REAL" in d or "DOUB" in d:
            return pa.float64()
        if "FLOA" in d:
            return pa.float64()
        return pa.string()


class MySQLDialect(Dialect):
    name = "mysql"
    true_literal, false_literal = "1", "0"

    def quote_identifier(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def string_literal(self, s: str) -> str:
        if "\x00" in s:
            raise _NoLiteral("NUL character")
        return "'" + s.replace("\\", "\\\\").replace("'", "''") + "'"

    def _null_safe_equal(self, col: str, lit: str) -> str:
        return f"{col} <=> {lit}"


class SqlServerDialect(Dialect):
    name = "sqlserver"
    true_literal, false_literal = "1", "0"

    def quote_identifier(self, name: str) -> str:
        return "[" + name.replace("]", "]]") + "]"

    def string_literal(self, s: str) -> str:
        return "N" + super().string_literal(s)  # a Unicode literal

    def bytes_literal(self, b: bytes) -> str:
        return "0x" + b.hex()

    def _null_safe_equal(self, col: str, lit: str) -> str:
        return f"{col} IS NULL" if lit == "NULL" else f"{col} = {lit}"


_DIALECTS = {"postgresql": PostgresDialect, "sqlite": SqliteDialect, "mysql": MySQLDialect,
             "sqlserver": SqlServerDialect}


def dialect_for(kind: str) -> Dialect:
    """The dialect of a JDBC subprotocol (the generic ANSI one for others)."""
    return _DIALECTS.get(kind, Dialect)()
