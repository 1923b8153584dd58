"""The Python Data Source API, with the names, signatures and defaults of ``pyspark.sql.datasource``
(Spark 4.x), so a source ports by changing its imports. headwater's engine duck-types: sources built
on pyspark's own classes run the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import UserDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Type, Union

from headwater.types import Row, StructType

if TYPE_CHECKING:
    from pyarrow import RecordBatch

__all__ = [
    "DataSource",
    "DataSourceReader",
    "DataSourceStreamReader",
    "SimpleDataSourceStreamReader",
    "DataSourceWriter",
    "DataSourceArrowWriter",
    "DataSourceStreamWriter",
    "DataSourceStreamArrowWriter",
    "DataSourceRegistration",
    "InputPartition",
    "WriterCommitMessage",
    "WriteResult",
    "CaseInsensitiveDict",
    "Filter",
    "EqualTo",
    "EqualNullSafe",
    "GreaterThan",
    "GreaterThanOrEqual",
    "LessThan",
    "LessThanOrEqual",
    "In",
    "IsNull",
    "IsNotNull",
    "Not",
    "StringStartsWith",
    "StringEndsWith",
    "StringContains",
]


def _not_implemented(feature: str) -> NotImplementedError:
    from headwater.errors import HeadwaterNotImplementedError

    return HeadwaterNotImplementedError(feature)


class DataSource(ABC):
    """A data source: ``schema()`` plus readers and writers. Options arrive as a case-insensitive
    dict of strings."""

    def __init__(self, options: Dict[str, str]) -> None:
        self.options = options

    @classmethod
    def name(cls) -> str:
        """The format name used in ``spark.read.format(name)``; defaults to the class name."""
        return cls.__name__

    def schema(self) -> Union[StructType, str]:
        """The schema, as a StructType or a DDL string."""
        raise _not_implemented("schema")

    def reader(self, schema: StructType) -> "DataSourceReader":
        raise _not_implemented("reader")

    def writer(self, schema: StructType, overwrite: bool) -> "DataSourceWriter":
        raise _not_implemented("writer")

    def streamWriter(self, schema: StructType, overwrite: bool) -> "DataSourceStreamWriter":
        raise _not_implemented("streamWriter")

    def simpleStreamReader(self, schema: StructType) -> "SimpleDataSourceStreamReader":
        raise _not_implemented("simpleStreamReader")

    def streamReader(self, schema: StructType) -> "DataSourceStreamReader":
        raise _not_implemented("streamReader")


ColumnPath = Tuple[str, ...]


class Filter(ABC):
    """Base class of the filters offered to ``DataSourceReader.pushFilters`` (Spark 4.1)."""


@dataclass(frozen=True)
class EqualTo(Filter):
    attribute: ColumnPath
    value: Any


@dataclass(frozen=True)
class EqualNullSafe(Filter):
    attribute: ColumnPath
    value: Any


@dataclass(frozen=True)
class GreaterThan(Filter):
    attribute: ColumnPath
    value: Any


@dataclass(frozen=True)
class GreaterThanOrEqual(Filter):
    attribute: ColumnPath
    value: Any


@dataclass(frozen=True)
class LessThan(Filter):
    attribute: ColumnPath
    value: Any


@dataclass(frozen=True)
class LessThanOrEqual(Filter):
    attribute: ColumnPath
    value: Any


@dataclass(frozen=True)
class In(Filter):
    attribute: ColumnPath
    value: Tuple[Any, ...]


@dataclass(frozen=True)
class IsNull(Filter):
    attribute: ColumnPath


@dataclass(frozen=True)
class IsNotNull(Filter):
    attribute: ColumnPath


@dataclass(frozen=True)
class Not(Filter):
    child: Filter


@dataclass(frozen=True)
class StringStartsWith(Filter):
    attribute: ColumnPath
    value: str


@dataclass(frozen=True)
class StringEndsWith(Filter):
    attribute: ColumnPath
    value: str


@dataclass(frozen=True)
class StringContains(Filter):
    attribute: ColumnPath
    value: str


class InputPartition:
    """A partition returned by ``DataSourceReader.partitions()``; must be picklable."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        attributes = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{self.__class__.__name__}({attributes})"


class DataSourceReader(ABC):
    """Reads a data source in batch mode."""

    def pushFilters(self, filters: List[Filter]) -> Iterable[Filter]:
        """Receives the filters of a query; returns (or yields) those the reader does *not* apply."""
        return filters

    def partitions(self) -> Sequence[InputPartition]:
        """The partitions, read in parallel; the default is one partition, ``InputPartition(None)``."""
        return [InputPartition(None)]

    @abstractmethod
    def read(self, partition: InputPartition) -> Union[Iterator[Tuple], Iterator["RecordBatch"]]:
        """Yields the rows (tuples, lists, Rows) or pyarrow RecordBatches of one partition."""
        ...


class DataSourceStreamReader(ABC):
    """Reads a stream with offsets and partitions planned per micro-batch."""

    def initialOffset(self) -> dict:
        raise _not_implemented("initialOffset")

    def latestOffset(self) -> dict:
        raise _not_implemented("latestOffset")

    def partitions(self, start: dict, end: dict) -> Sequence[InputPartition]:
        raise _not_implemented("partitions")

    @abstractmethod
    def read(self, partition: InputPartition) -> Union[Iterator[Tuple], Iterator["RecordBatch"]]:
        raise _not_implemented("read")

    def commit(self, end: dict) -> None:
        ...

    def stop(self) -> None:
        ...


class SimpleDataSourceStreamReader(ABC):
    """Reads a stream without partition planning: ``read(start)`` returns rows and the next offset."""

    def initialOffset(self) -> dict:
        raise _not_implemented("initialOffset")

    def read(self, start: dict) -> Tuple[Iterator[Tuple], dict]:
        raise _not_implemented("read")

    def readBetweenOffsets(self, start: dict, end: dict) -> Iterator[Tuple]:
        raise _not_implemented("readBetweenOffsets")

    def commit(self, end: dict) -> None:
        ...


class WriterCommitMessage:
    """What ``write`` returns for one partition; passed to ``commit``/``abort``. Must be picklable."""

    ...


class WriteResult:
    """Metadata of a completed write."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def __repr__(self) -> str:
        return "WriteResult(" + ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items()) + ")"


class DataSourceWriter(ABC):
    """Writes a DataFrame in batch mode: ``write`` per partition, then ``commit`` or ``abort``."""

    @abstractmethod
    def write(self, iterator: Iterator[Row]) -> WriterCommitMessage:
        ...

    def commit(self, messages: List[Optional[WriterCommitMessage]]) -> None:
        ...

    def abort(self, messages: List[Optional[WriterCommitMessage]]) -> None:
        ...


class DataSourceArrowWriter(DataSourceWriter):
    """A writer that receives pyarrow RecordBatches instead of Rows."""

    @abstractmethod
    def write(self, iterator: Iterator["RecordBatch"]) -> WriterCommitMessage:  # type: ignore[override]
        ...


class DataSourceStreamWriter(ABC):
    """Writes each micro-batch of a stream: ``write`` per partition, then ``commit(messages, batchId)``."""

    @abstractmethod
    def write(self, iterator: Iterator[Row]) -> WriterCommitMessage:
        ...

    def commit(self, messages: List[Optional[WriterCommitMessage]], batchId: int) -> None:
        ...

    def abort(self, messages: List[Optional[WriterCommitMessage]], batchId: int) -> None:
        ...


class DataSourceStreamArrowWriter(DataSourceStreamWriter):
    """A stream writer that receives pyarrow RecordBatches."""

    @abstractmethod
    def write(self, iterator: Iterator["RecordBatch"]) -> WriterCommitMessage:  # type: ignore[override]
        ...


class DataSourceRegistration:
    """``spark.dataSource``: registers data source classes by their ``name()``."""

    def __init__(self, sparkSession: Any) -> None:
        self.sparkSession = sparkSession

    def register(self, dataSource: Type[DataSource]) -> None:
        """Register a data source class under ``dataSource.name()`` (case-insensitive). Registering a
        name again replaces the earlier source, with a warning."""
        self.sparkSession._registry.register(dataSource)

    def register_python(self, name: str, source: Any) -> None:
        """Register a three-method generic source class (``"pkg.module:Class"`` or the class) under
        ``name``, so that ``spark.read.format(name)`` reads it as ``format("python")`` would.
        See :mod:`headwater.generic`."""
        from headwater.generic import register_python

        register_python(self.sparkSession, name, source)


class CaseInsensitiveDict(UserDict):
    """A dict whose string keys are case-insensitive (stored lower-cased), as Spark's options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.update(*args, **kwargs)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> Any:
        return super().__getitem__(key.lower())

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            return super().__contains__(key.lower())
        return False

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def copy(self) -> "CaseInsensitiveDict":
        return type(self)(self)
