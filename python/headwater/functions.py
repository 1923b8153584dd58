"""``headwater.functions``: PySpark's functions (``pyspark.sql.functions``); the module is
:mod:`headwater.sql.functions`, under its old name too."""

import sys

from headwater.sql import functions as _functions

sys.modules[__name__] = _functions
