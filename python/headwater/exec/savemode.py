"""Which save modes a data source accepts, and Spark's ``errorifexists``/``ignore`` for those that
opt into them.

Spark runs Python data sources in ``append`` and ``overwrite`` only (``writer(schema, overwrite)``);
``error``/``errorifexists``/``default`` and ``ignore`` are ``UNSUPPORTED_DATA_SOURCE_SAVE_MODE``.
headwater keeps that for every source unless the source opts in (headwater's extension; Spark
ignores both names, so a source stays portable):

- ``supportedSaveModes``: a class attribute listing the modes it accepts, among ``"append"``,
  ``"overwrite"``, ``"errorifexists"`` and ``"ignore"`` (default: append and overwrite);
- ``checkSaveMode(self, mode)``: called on a fresh instance (with the write's options) at ``save()``
  for ``"errorifexists"`` and ``"ignore"``, before ``writer()``: return True to write (then
  ``writer(schema, overwrite=False)`` runs as for append), False to skip the write (``ignore`` when
  the data exists), or raise (``errorifexists`` when it exists).

The built-in file formats accept all four, as Spark's file sources: ``errorifexists`` raises
``PATH_ALREADY_EXISTS`` when the target path exists, ``ignore`` then writes nothing.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from headwater.errors import AnalysisException
from headwater.exec.plan import make_source

__all__ = ["accepted_modes", "should_write"]

_DEFAULT = ("append", "overwrite")
# Spark's SaveMode name -> the name a source lists
_KEYS = {"Append": "append", "Overwrite": "overwrite", "ErrorIfExists": "errorifexists", "Ignore": "ignore"}


def accepted_modes(cls: type) -> frozenset:
    modes = getattr(cls, "supportedSaveModes", None) or _DEFAULT
    return frozenset(str(m).lower() for m in modes)


def should_write(cls: type, format_name: str, options: Dict[str, Optional[str]], spark_mode: str, flavor: Any) -> bool:
    """Checks ``spark_mode`` (Spark's SaveMode name) against what the source accepts: raises
    UNSUPPORTED_DATA_SOURCE_SAVE_MODE for a mode it does not accept; for an accepted
    ``errorifexists``/``ignore`` returns what its ``checkSaveMode`` says (True: write)."""
    key = _KEYS[spark_mode]
    if key not in accepted_modes(cls):
        raise AnalysisException(
            f'The data source "{format_name}" cannot be written in the "{spark_mode}" mode. Please use '
            'either the "Append" or "Overwrite" mode instead.',
            "UNSUPPORTED_DATA_SOURCE_SAVE_MODE",
        )
    if key in ("append", "overwrite"):
        return True
    check = getattr(cls, "checkSaveMode", None)
    if check is None:
        return True
    source = make_source(cls, flavor.options(options))
    return bool(source.checkSaveMode(key))
