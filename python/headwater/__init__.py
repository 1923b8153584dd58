"""headwater: Python data sources on an engine written in C.

Data sources written against PySpark 4's Python Data Source API (or the three-method Arrow
interface) run on headwater's C core; results come out as Arrow through the PyCapsule interface.

The package is built in layers (docs/architecture.md), each importing only the ones below it:
``errors``/``config``/``types``/``schema``/``arrowtypes`` -> ``datasource`` -> ``exec`` ->
``generic``/``formats``/``jdbc`` -> ``query`` -> ``sql`` (the Spark facade) -> this package.
"""

from headwater import _core
from headwater.errors import AnalysisException, HeadwaterException, ParseException, PythonException
from headwater.schema import parse_schema, to_arrow_schema
from headwater.sql import SparkSession, read_python, session

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
