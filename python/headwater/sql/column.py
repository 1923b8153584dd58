"""``Column``, PySpark's name for an expression: headwater's is the query layer's expression node
(:mod:`headwater.query.expressions`), which compiles to DuckDB SQL."""

from headwater.query.expressions import Column

__all__ = ["Column"]
