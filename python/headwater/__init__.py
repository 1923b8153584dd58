"""headwater: Python data sources on an engine written in C.

Data sources written against PySpark 4's Python Data Source API (or the three-method Arrow
interface) run on headwater's C core; results come out as Arrow through the PyCapsule interface.
"""

from headwater import _core
from headwater.errors import AnalysisException, HeadwaterException, ParseException, PythonException
from headwater.generic import read_python
from headwater.schema import parse_schema, to_arrow_schema
from headwater.session import SparkSession, session

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
