"""``headwater.spark``: the PySpark adapter of the generic format; the module is
:mod:`headwater.generic.spark`, under its old name too."""

import sys

from headwater.generic import spark as _spark

sys.modules[__name__] = _spark
