"""DataFrame queries: the logical plan (:mod:`~headwater.query.logical`) and its expressions
(:mod:`~headwater.query.expressions`), the planner pass that talks to the sources
(:mod:`~headwater.query.planner`), the compiler to one DuckDB statement per action
(:mod:`~headwater.query.compiler`: SQL only), what is pushed into each Python source
(:mod:`~headwater.query.pushdown`, :mod:`~headwater.query.scanleaf`) and the DuckDB engine that runs
it (:mod:`~headwater.query.engine`). Imports the layers below it (``exec``, ``datasource``,
``schema``, ``config``), never the facade."""
