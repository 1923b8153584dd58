"""Schemas in every form users hand them over, read by the C core.

Accepted: a Spark DDL string, headwater's or pyspark's ``StructType`` (duck-typed through its JSON
form, so pyspark need not be installed), a ``pyarrow.Schema`` or anything else exposing
``__arrow_c_schema__``, or a ``headwater._core.Schema``.
"""

from __future__ import annotations

import json
from typing import Any

from headwater import _core
from headwater.errors import AnalysisException
from headwater.types import StructType

__all__ = ["parse_schema", "to_arrow_schema", "to_struct_type"]


def parse_schema(schema: Any) -> _core.Schema:
    """Return the C core's Schema for ``schema`` (DDL, StructType, pyarrow schema, ...)."""
    if isinstance(schema, _core.Schema):
        return schema
    if isinstance(schema, str):
        return _core.schema_from_ddl(schema)
    if hasattr(schema, "__arrow_c_schema__"):
        return _core.schema_from_arrow(schema)
    json_method = getattr(schema, "json", None)
    if callable(json_method) and callable(getattr(schema, "jsonValue", None)):  # any Spark DataType
        try:
            return _core.schema_from_json(json_method())
        except AnalysisException as e:  # too deep, a lone surrogate or NUL in a name: say where from
            kind = type(schema).__name__
            raise type(e)(
                f"the {kind} given as a schema cannot be used: {e.message} (the offset is in its JSON form, "
                f"{kind}.json())", e.error_class
            ) from None
    raise TypeError(
        "a schema must be a DDL string, a StructType, or an object with __arrow_c_schema__ "
        f"(such as pyarrow.Schema); got {type(schema).__name__}"
    )


def to_arrow_schema(schema: Any) -> Any:
    """The schema as a ``pyarrow.Schema`` (struct schemas) or ``pyarrow.DataType``."""
    import pyarrow as pa  # on first use: ``import headwater`` (and each worker process) stays light

    core = parse_schema(schema)
    if core.is_struct:
        return pa.schema(core)
    return pa.field(core).type


def to_struct_type(schema: Any, flavor: str = "headwater") -> Any:
    """The schema as a StructType: headwater's own (``flavor="headwater"``) or pyspark's
    (``flavor="pyspark"``), so a source gets the classes its author compares against."""
    value = json.loads(parse_schema(schema).to_json())
    if flavor == "pyspark":
        from pyspark.sql.types import StructType as SparkStructType

        return SparkStructType.fromJson(value)
    return StructType.fromJson(value)
