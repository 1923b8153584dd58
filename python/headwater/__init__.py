"""headwater: Python data sources on an engine written in C.

Data sources written against PySpark 4's Python Data Source API (or the three-method Arrow
interface) run on headwater's C core; results come out as Arrow through the PyCapsule interface.

The package is built in layers (docs/architecture.md), each importing only the ones below it:
``errors``/``config``/``types``/``schema``/``arrowtypes`` -> ``datasource`` -> ``exec`` ->
``generic``/``formats``/``jdbc`` -> ``query`` -> ``sql`` (the Spark facade) -> this package.

``import headwater`` loads only the C core, the errors and the schema functions; the facade
(``SparkSession``, ``session``, ``read_python``: :mod:`headwater.sql`, which imports pyarrow and
DuckDB's plan machinery) loads on first use, so a worker process (``python -m
headwater.exec._worker``) and a script that only imports the package start in milliseconds.
"""

from typing import Any

from headwater import _core
from headwater.errors import AnalysisException, HeadwaterException, ParseException, PythonException
from headwater.schema import parse_schema, to_arrow_schema

__version__ = _core.version()

__all__ = [
    "AnalysisException",
    "HeadwaterException",
    "ParseException",
    "PythonException",
    "SparkSession",
    "parse_schema",
    "read_python",
    "session",
    "to_arrow_schema",
    "__version__",
]

_FACADE = ("SparkSession", "session", "read_python")


def __getattr__(name: str) -> Any:
    """``SparkSession``, ``session`` and ``read_python`` from :mod:`headwater.sql`, on first use."""
    if name in _FACADE:
        from headwater import sql, streaming  # noqa: F401 -- streaming installs spark.readStream


        return getattr(sql, name)
    raise AttributeError(f"module 'headwater' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(set(globals()) | set(_FACADE))
