"""Spark SQL data types, so code written against ``pyspark.sql.types`` ports by changing the import.

The classes mirror pyspark's: the same names, constructors, equality, ``simpleString()``,
``json()``/``jsonValue()``/``fromJson()`` and ``Row``. Parsing DDL and rendering DDL go through the
C core (:func:`StructType.fromDDL`, :meth:`StructType.toDDL`).
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from headwater import _core
from headwater.errors import AnalysisException

__all__ = [
    "DataType",
    "NullType",
    "BooleanType",
    "ByteType",
    "ShortType",
    "IntegerType",
    "LongType",
    "FloatType",
    "DoubleType",
    "DecimalType",
    "StringType",
    "CharType",
    "VarcharType",
    "BinaryType",
    "DateType",
    "TimestampType",
    "TimestampNTZType",
    "ArrayType",
    "MapType",
    "StructField",
    "StructType",
    "Row",
]


class DataType:
    """Base class of all types."""

    def __repr__(self) -> str:
        return self.__class__.__name__ + "()"

    def __hash__(self) -> int:
        return hash(str(self))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, self.__class__) and self.__dict__ == other.__dict__

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    @classmethod
    def typeName(cls) -> str:
        return cls.__name__[: -len("Type")].lower()

    def simpleString(self) -> str:
        return self.typeName()

    def jsonValue(self) -> Union[str, Dict[str, Any]]:
        return self.typeName()

    def json(self) -> str:
        return json.dumps(self.jsonValue(), separators=(",", ":"), sort_keys=True)

    def needConversion(self) -> bool:
        return False


class AtomicType(DataType):
    """A type with no parameters or children."""


class NullType(AtomicType):
    @classmethod
    def typeName(cls) -> str:
        return "void"


class BooleanType(AtomicType):
    pass


class ByteType(AtomicType):
    def simpleString(self) -> str:
        return "tinyint"


class ShortType(AtomicType):
    def simpleString(self) -> str:
        return "smallint"


class IntegerType(AtomicType):
    def simpleString(self) -> str:
        return "int"


class LongType(AtomicType):
    def simpleString(self) -> str:
        return "bigint"


class FloatType(AtomicType):
    pass


class DoubleType(AtomicType):
    pass


class DecimalType(AtomicType):
    """Decimal with a fixed precision (digits, at most 38) and scale (digits after the point)."""

    def __init__(self, precision: int = 10, scale: int = 0) -> None:
        self.precision = precision
        self.scale = scale
        self.hasPrecisionInfo = True

    def simpleString(self) -> str:
        return f"decimal({self.precision},{self.scale})"

    def jsonValue(self) -> str:
        return f"decimal({self.precision},{self.scale})"

    def __repr__(self) -> str:
        return f"DecimalType({self.precision},{self.scale})"


class StringType(AtomicType):
    pass


class CharType(AtomicType):
    def __init__(self, length: int) -> None:
        self.length = length

    def simpleString(self) -> str:
        return f"char({self.length})"

    def jsonValue(self) -> str:
        return f"char({self.length})"

    def __repr__(self) -> str:
        return f"CharType({self.length})"


class VarcharType(AtomicType):
    def __init__(self, length: int) -> None:
        self.length = length

    def simpleString(self) -> str:
        return f"varchar({self.length})"

    def jsonValue(self) -> str:
        return f"varchar({self.length})"

    def __repr__(self) -> str:
        return f"VarcharType({self.length})"


class BinaryType(AtomicType):
    pass


class DateType(AtomicType):
    pass


class TimestampType(AtomicType):
    """Timestamp with local time zone semantics: an instant, stored as UTC microseconds."""


class TimestampNTZType(AtomicType):
    """Timestamp without time zone: a wall-clock time."""

    @classmethod
    def typeName(cls) -> str:
        return "timestamp_ntz"


class ArrayType(DataType):
    def __init__(self, elementType: DataType, containsNull: bool = True) -> None:
        self.elementType = elementType
        self.containsNull = containsNull

    def simpleString(self) -> str:
        return f"array<{self.elementType.simpleString()}>"

    def jsonValue(self) -> Dict[str, Any]:
        return {"type": "array", "elementType": self.elementType.jsonValue(), "containsNull": self.containsNull}

    def __repr__(self) -> str:
        return f"ArrayType({self.elementType!r}, {self.containsNull})"


class MapType(DataType):
    def __init__(self, keyType: DataType, valueType: DataType, valueContainsNull: bool = True) -> None:
        self.keyType = keyType
        self.valueType = valueType
        self.valueContainsNull = valueContainsNull

    def simpleString(self) -> str:
        return f"map<{self.keyType.simpleString()},{self.valueType.simpleString()}>"

    def jsonValue(self) -> Dict[str, Any]:
        return {
            "type": "map",
            "keyType": self.keyType.jsonValue(),
            "valueType": self.valueType.jsonValue(),
            "valueContainsNull": self.valueContainsNull,
        }

    def __repr__(self) -> str:
        return f"MapType({self.keyType!r}, {self.valueType!r}, {self.valueContainsNull})"


class StructField(DataType):
    def __init__(
        self, name: str, dataType: DataType, nullable: bool = True, metadata: Optional[Dict[str, Any]] = None
    ) -> None:
        if not isinstance(name, str):
            raise TypeError(f"field name must be a str, got {type(name).__name__}")
        if not isinstance(dataType, DataType):
            raise TypeError(f"dataType must be a DataType, got {type(dataType).__name__}")
        self.name = name
        self.dataType = dataType
        self.nullable = nullable
        self.metadata = metadata or {}

    def simpleString(self) -> str:
        return f"{self.name}:{self.dataType.simpleString()}"

    def jsonValue(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "type": self.dataType.jsonValue(),
            "nullable": self.nullable,
            "metadata": self.metadata,
        }

    def getComment(self) -> Optional[str]:
        return self.metadata.get("comment")

    def __repr__(self) -> str:
        return f"StructField('{self.name}', {self.dataType!r}, {self.nullable})"


class StructType(DataType):
    """A list of fields: the schema of a table."""

    def __init__(self, fields: Optional[Sequence[StructField]] = None) -> None:
        self.fields: List[StructField] = list(fields or [])
        for f in self.fields:
            if not isinstance(f, StructField):
                raise TypeError(f"StructType takes StructFields, got {type(f).__name__}")
        self.names = [f.name for f in self.fields]

    def add(
        self,
        field: Union[str, StructField],
        data_type: Union[str, DataType, None] = None,
        nullable: bool = True,
        metadata: Optional[Dict[str, Any]] = None,
    ) -> "StructType":
        if isinstance(field, StructField):
            self.fields.append(field)
        else:
            if isinstance(data_type, str):
                data_type = _parse_type(data_type)
            if data_type is None:
                raise ValueError("add() needs a data type when the field is given by name")
            self.fields.append(StructField(field, data_type, nullable, metadata))
        self.names.append(self.fields[-1].name)
        return self

    def fieldNames(self) -> List[str]:
        return list(self.names)

    def __iter__(self) -> Iterator[StructField]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __getitem__(self, key: Union[str, int, slice]) -> Any:
        if isinstance(key, str):
            for f in self.fields:
                if f.name == key:
                    return f
            raise KeyError(f"No StructField named {key}")
        if isinstance(key, int):
            return self.fields[key]
        if isinstance(key, slice):
            return StructType(self.fields[key])
        raise TypeError("StructType indices must be str, int or slice")

    def simpleString(self) -> str:
        return "struct<" + ",".join(f.simpleString() for f in self.fields) + ">"

    def jsonValue(self) -> Dict[str, Any]:
        return {"type": "struct", "fields": [f.jsonValue() for f in self.fields]}

    def toDDL(self) -> str:
        """Spark DDL of this schema, rendered by the C core."""
        return _core.schema_from_json(self.json()).to_ddl()

    @classmethod
    def fromJson(cls, json_value: Dict[str, Any]) -> "StructType":
        return _from_json_value(json_value)  # type: ignore[return-value]

    @classmethod
    def fromDDL(cls, ddl: str) -> "StructType":
        """Parse DDL (``"a INT, b STRING"``) with the C core's parser."""
        parsed = _parse_type(ddl)
        if not isinstance(parsed, StructType):
            raise AnalysisException(
                f"Schema from DDL must be a struct type, got {parsed.simpleString()}",
                "INVALID_SCHEMA.NON_STRUCT_TYPE",
            )
        return parsed

    def __repr__(self) -> str:
        return "StructType([" + ", ".join(repr(f) for f in self.fields) + "])"


_ATOMIC = {
    t.typeName(): t
    for t in (
        NullType,
        BooleanType,
        ByteType,
        ShortType,
        IntegerType,
        LongType,
        FloatType,
        DoubleType,
        StringType,
        BinaryType,
        DateType,
        TimestampType,
        TimestampNTZType,
    )
}
_ATOMIC["null"] = NullType


def _from_json_value(value: Any) -> DataType:
    """Spark's JSON form (``DataType.jsonValue()``) -> a type object."""
    if isinstance(value, str):
        if value in _ATOMIC:
            return _ATOMIC[value]()
        for prefix, make in (("decimal(", DecimalType), ("char(", CharType), ("varchar(", VarcharType)):
            if value.startswith(prefix) and value.endswith(")"):
                args = [int(x) for x in value[len(prefix) : -1].split(",")]
                return make(*args)  # type: ignore[operator]
        if value == "decimal":
            return DecimalType()
        raise ValueError(f"unknown type in Spark JSON schema: {value!r}")
    kind = value.get("type")
    if kind == "struct":
        return StructType(
            [
                StructField(f["name"], _from_json_value(f["type"]), f.get("nullable", True), f.get("metadata") or {})
                for f in value.get("fields", [])
            ]
        )
    if kind == "array":
        return ArrayType(_from_json_value(value["elementType"]), value.get("containsNull", True))
    if kind == "map":
        return MapType(
            _from_json_value(value["keyType"]),
            _from_json_value(value["valueType"]),
            value.get("valueContainsNull", True),
        )
    raise ValueError(f"unknown type in Spark JSON schema: {value!r}")


def _parse_type(ddl: str) -> DataType:
    """DDL -> type object, through the C parser (a field list gives a StructType)."""
    return _from_json_value(json.loads(_core.schema_from_ddl(ddl).to_json()))


class Row(tuple):
    """A row: a tuple whose values may have names, like ``pyspark.sql.Row``.

    ``Row(a=1, b="x")`` makes a named row; ``Row("a", "b")`` makes a row *class* that, called
    with values, makes named rows.
    """

    __fields__: List[str]

    def __new__(cls, *args: Any, **kwargs: Any) -> "Row":
        if args and kwargs:
            raise ValueError("Can not use both args and kwargs to create Row")
        if kwargs:
            row = tuple.__new__(cls, list(kwargs.values()))
            row.__fields__ = list(kwargs)
            return row
        return tuple.__new__(cls, args)

    def asDict(self, recursive: bool = False) -> Dict[str, Any]:
        if not hasattr(self, "__fields__"):
            raise TypeError("Cannot convert a Row class into dict")

        def conv(obj: Any) -> Any:
            if isinstance(obj, Row):
                return obj.asDict(True)
            if isinstance(obj, list):
                return [conv(o) for o in obj]
            if isinstance(obj, dict):
                return {k: conv(v) for k, v in obj.items()}
            return obj

        if recursive:
            return dict(zip(self.__fields__, (conv(o) for o in self)))
        return dict(zip(self.__fields__, self))

    def __contains__(self, item: Any) -> bool:
        if hasattr(self, "__fields__"):
            return item in self.__fields__
        return super().__contains__(item)

    def __call__(self, *args: Any) -> "Row":
        """A row made of names acts as a row class."""
        if len(args) > len(self):
            raise ValueError(f"Can not create Row with fields {self}, expected {len(self)} values but got {args}")
        return _make_row(list(self), args)

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, (int, slice)):
            return super().__getitem__(item)
        try:
            idx = self.__fields__.index(item)
            return super().__getitem__(idx)
        except (IndexError, AttributeError, ValueError):
            raise KeyError(item) from None

    def __getattr__(self, item: str) -> Any:
        if item.startswith("__"):
            raise AttributeError(item)
        try:
            idx = self.__fields__.index(item)
            return self[idx]
        except (IndexError, AttributeError, ValueError):
            raise AttributeError(item) from None

    def __setattr__(self, key: str, value: Any) -> None:
        if key != "__fields__":
            raise RuntimeError("Row is read-only")
        self.__dict__[key] = value

    def __reduce__(self) -> Any:
        if hasattr(self, "__fields__"):
            return (_make_row, (self.__fields__, tuple(self)))
        return tuple.__reduce__(self)

    def __repr__(self) -> str:
        if hasattr(self, "__fields__"):
            return "Row(%s)" % ", ".join(f"{k}={v!r}" for k, v in zip(self.__fields__, tuple(self)))
        return "<Row(%s)>" % ", ".join(repr(field) for field in self)


def _make_row(fields: List[str], values: Tuple[Any, ...]) -> Row:
    row = tuple.__new__(Row, values)
    row.__fields__ = list(fields)
    return row
