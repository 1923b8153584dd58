"""Optional dependencies and the extras that install them (``pip install 'headwater[jdbc]'``).

headwater's core needs pyarrow, cloudpickle and DuckDB. The rest is optional, imported where it is
used (never at import time), through :func:`require`, so a missing one raises an error that says
which extra installs it:

=========  ======================================================================  ===================
extra      packages                                                                 for
=========  ======================================================================  ===================
pandas     pandas                                                                   ``toPandas()``
polars     polars                                                                   ``toPolars()``
jdbc       connectorx, adbc-driver-sqlite, adbc-driver-postgresql, psycopg          ``format("jdbc")``
spark      pyspark                                                                  sources built on
                                                                                    pyspark's classes,
                                                                                    ``headwater.spark``
all        all of the above
=========  ======================================================================  ===================
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingDependencyError", "require", "install_hint"]


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message names the extra that installs it."""


def install_hint(extra: str) -> str:
    """``pip install 'headwater[extra]'``."""
    return f"pip install 'headwater[{extra}]'"


def require(module: str, extra: str, feature: str) -> ModuleType:
    """The module ``module``, imported; if it is not installed, a :class:`MissingDependencyError`
    that says ``feature`` needs it and how to install it (the extra ``extra``)."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        raise MissingDependencyError(
            f"{feature} needs {top}, which is not installed: {install_hint(extra)}", name=top
        ) from e
