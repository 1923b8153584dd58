"""DataFrame queries: the logical plan (:mod:`~headwater.query.logical`) and its expressions
(:mod:`~headwater.query.expressions`), the compiler to one DuckDB statement per action
(:mod:`~headwater.query.compiler`), what is pushed into each Python source
(:mod:`~headwater.query.pushdown`, :mod:`~headwater.query.scanleaf`) and the DuckDB engine that runs
it (:mod:`~headwater.query.engine`). Imports the layers below it (``exec``, ``datasource``,
``schema``, ``config``), never the facade."""
