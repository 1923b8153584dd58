"""Exceptions headwater raises, carrying Spark's error classes.

Planning failures are :class:`AnalysisException` (as in Spark), failures inside a data source's
``read``/``write`` are :class:`PythonException`, malformed DDL is :class:`ParseException`.
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "HeadwaterException",
    "AnalysisException",
    "ParseException",
    "PythonException",
    "IllegalArgumentException",
    "HeadwaterNotImplementedError",
]


class HeadwaterException(Exception):
    """Base of headwater's errors: a message with Spark's error class and where it happened."""

    def __init__(
        self,
        message: str,
        error_class: Optional[str] = None,
        *,
        partition: Optional[int] = None,
        row: Optional[int] = None,
        column: Optional[int] = None,
    ) -> None:
        self.message = message
        self.error_class = error_class or None
        self.partition = partition
        self.row = row
        self.column = column
        super().__init__(f"[{error_class}] {message}" if error_class else message)

    def getErrorClass(self) -> Optional[str]:
        """Spark's error class, e.g. ``DATA_SOURCE_RETURN_SCHEMA_MISMATCH``."""
        return self.error_class

    def getCondition(self) -> Optional[str]:
        """Spark 4's name for the error class."""
        return self.error_class

    def getMessage(self) -> str:
        return str(self)


class AnalysisException(HeadwaterException):
    """Planning failed: bad schema, bad options, a source that breaks the API's contract."""


class ParseException(AnalysisException):
    """Malformed DDL; the message gives ``line:column`` and what was expected."""


class PythonException(HeadwaterException):
    """A data source's own code failed while reading or writing, or produced values that cannot
    be converted; carries the partition and row."""


class IllegalArgumentException(HeadwaterException):
    """An argument has a value headwater cannot use."""


class HeadwaterNotImplementedError(HeadwaterException, NotImplementedError):
    """A method of the Data Source API that the source does not implement (``NOT_IMPLEMENTED``)."""

    def __init__(self, feature: str) -> None:
        super().__init__(f"{feature} is not implemented.", "NOT_IMPLEMENTED")
        self.feature = feature


def _from_core(error_class: str, message: str, partition: int, row: int, column: int) -> HeadwaterException:
    """Called by the C core to build the exception for an hw_error."""
    where = dict(
        partition=None if partition < 0 else partition,
        row=None if row < 0 else row,
        column=None if column < 0 else column,
    )
    if error_class in ("PARSE_SYNTAX_ERROR", "FAILED_TO_PARSE_TOO_COMPLEX"):
        cls: type[HeadwaterException] = ParseException
    elif error_class == "HW_INVALID_ARGUMENT":
        cls = IllegalArgumentException
    elif row >= 0 or error_class in ("CANNOT_CONVERT_VALUE", "AXIS_LENGTH_MISMATCH"):
        cls = PythonException
    else:
        cls = AnalysisException
    return cls(message, error_class or None, **where)
