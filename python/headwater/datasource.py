"""The Python Data Source API, with the names, signatures and defaults of ``pyspark.sql.datasource``
(Spark 4.x), so a source ports by changing its imports. headwater's engine duck-types: sources built
on pyspark's own classes run the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import UserDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Type, Union

from headwater.errors import HeadwaterNotImplementedError
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
    return HeadwaterNotImplementedError(feature)


class DataSource(ABC):
    """A data source: its schema, and the readers and writers that move its data.

    Subclass it, implement :meth:`schema` and :meth:`reader` (and :meth:`writer` to write), and
    register the class: ``spark.dataSource.register(MySource)``. headwater instantiates it once per
    ``load()``/``save()`` with the options the user gave.

    Parameters
    ----------
    options : dict
        The options of the read or write (``.option(key, value)``, and ``path`` from
        ``load(path)``/``save(path)``): a case-insensitive dict whose values are strings.

    Examples
    --------
    >>> class Counter(DataSource):
    ...     @classmethod
    ...     def name(cls):
    ...         return "counter"
    ...     def schema(self):
    ...         return "id BIGINT"
    ...     def reader(self, schema):
    ...         return CounterReader(int(self.options.get("n", "10")))
    """

    def __init__(self, options: Dict[str, str]) -> None:
        self.options = options

    @classmethod
    def name(cls) -> str:
        """The format name used in ``spark.read.format(name)``.

        Returns
        -------
        str
            The name (case-insensitive); the class name by default.
        """
        return cls.__name__

    def schema(self) -> Union[StructType, str]:
        """The schema of the data, called at ``load()`` unless the user gave one (``.schema(...)``).

        Returns
        -------
        StructType or str
            A ``StructType`` or a DDL string such as ``"id BIGINT, name STRING"``.
        """
        raise _not_implemented("schema")

    def reader(self, schema: StructType) -> "DataSourceReader":
        """A reader for one query (called once per action).

        Parameters
        ----------
        schema : StructType
            The schema to read: the user's, or the one :meth:`schema` returned.

        Returns
        -------
        DataSourceReader
        """
        raise _not_implemented("reader")

    def writer(self, schema: StructType, overwrite: bool) -> "DataSourceWriter":
        """A writer for one ``save()``.

        Parameters
        ----------
        schema : StructType
            The schema of the DataFrame being written.
        overwrite : bool
            True for ``mode("overwrite")``: replace the existing data; False to append.

        Returns
        -------
        DataSourceWriter
        """
        raise _not_implemented("writer")

    def streamWriter(self, schema: StructType, overwrite: bool) -> "DataSourceStreamWriter":
        raise _not_implemented("streamWriter")

    def simpleStreamReader(self, schema: StructType) -> "SimpleDataSourceStreamReader":
        raise _not_implemented("simpleStreamReader")

    def streamReader(self, schema: StructType) -> "DataSourceStreamReader":
        raise _not_implemented("streamReader")


ColumnPath = Tuple[str, ...]


class Filter(ABC):
    """Base class of the filters offered to :meth:`DataSourceReader.pushFilters`, as Spark 4's.

    Each names a column by its path (``("id",)``, or ``("address", "city")`` for a struct field)
    and compares it with a Python value: ``EqualTo``, ``EqualNullSafe``, ``GreaterThan``,
    ``GreaterThanOrEqual``, ``LessThan``, ``LessThanOrEqual``, ``In``, ``IsNull``, ``IsNotNull``,
    ``Not``, ``StringStartsWith``, ``StringEndsWith``, ``StringContains``.

    Examples
    --------
    >>> GreaterThan(("id",), 10)
    GreaterThan(attribute=('id',), value=10)
    """


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
    """One partition of a read, returned by :meth:`DataSourceReader.partitions` and handed to
    :meth:`DataSourceReader.read`. It travels to worker processes, so it must be picklable.

    Parameters
    ----------
    value : Any
        What the reader needs to read this partition (a page number, a file name, a key range).

    Examples
    --------
    >>> [InputPartition(i) for i in range(2)]
    [InputPartition(value=0), InputPartition(value=1)]
    """

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        attributes = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{self.__class__.__name__}({attributes})"


class DataSourceReader(ABC):
    """Reads a data source in batch mode: :meth:`partitions` once per query, then :meth:`read` once
    per partition, in parallel (on threads or worker processes: the reader is pickled to them, so
    create connections inside :meth:`read`)."""

    def pushFilters(self, filters: List[Filter]) -> Iterable[Filter]:
        """Offers the filters of a query (before :meth:`partitions`); the reader applies those it
        can while reading.

        Parameters
        ----------
        filters : list of Filter
            The predicates Spark would push (see :class:`Filter`).

        Returns
        -------
        iterable of Filter
            The filters the reader does *not* apply (the same objects): headwater evaluates them
            after the read. The default returns all of them.

        Examples
        --------
        >>> def pushFilters(self, filters):
        ...     for f in filters:
        ...         if isinstance(f, EqualTo) and f.attribute == ("id",):
        ...             self.id = f.value
        ...         else:
        ...             yield f
        """
        return filters

    def partitions(self) -> Sequence[InputPartition]:
        """The partitions of the read, read in parallel.

        Returns
        -------
        list of InputPartition
            The default is one partition, ``InputPartition(None)`` (as Spark 4.3).
        """
        return [InputPartition(None)]

    @abstractmethod
    def read(self, partition: InputPartition) -> Union[Iterator[Tuple], Iterator["RecordBatch"]]:
        """Reads one partition.

        Parameters
        ----------
        partition : InputPartition
            One of :meth:`partitions`.

        Returns
        -------
        iterator
            Rows (tuples, lists or Rows, in the schema's order), or pyarrow RecordBatches with the
            schema's columns; a generator is the usual form. headwater's C core converts the rows
            to Arrow.

        Examples
        --------
        >>> def read(self, partition):
        ...     for i in range(partition.value * 10, partition.value * 10 + 10):
        ...         yield (i, f"row {i}")
        """
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
    """What :meth:`DataSourceWriter.write` returns for one partition; the messages of all partitions
    are passed to ``commit`` (or ``abort``). Subclass it to carry what a partition wrote; it travels
    back from worker processes, so it must be picklable."""

    ...


class WriteResult:
    """Metadata of a completed write."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def __repr__(self) -> str:
        return "WriteResult(" + ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items()) + ")"


class DataSourceWriter(ABC):
    """Writes a DataFrame in batch mode: :meth:`write` once per partition (in parallel, possibly in
    worker processes: the writer is pickled to them), then :meth:`commit` on this writer when every
    partition succeeded, else :meth:`abort`."""

    @abstractmethod
    def write(self, iterator: Iterator[Row]) -> WriterCommitMessage:
        """Writes one partition.

        Parameters
        ----------
        iterator : iterator of Row
            The partition's rows.

        Returns
        -------
        WriterCommitMessage
            What the partition wrote, for :meth:`commit`.
        """
        ...

    def commit(self, messages: List[Optional[WriterCommitMessage]]) -> None:
        """Makes the write visible, once every partition succeeded.

        Parameters
        ----------
        messages : list of WriterCommitMessage
            One per partition, in partition order.
        """
        ...

    def abort(self, messages: List[Optional[WriterCommitMessage]]) -> None:
        """Undoes a failed write (a partition or :meth:`commit` failed).

        Parameters
        ----------
        messages : list of WriterCommitMessage or None
            One per partition; None where the partition failed or did not run.
        """
        ...


class DataSourceArrowWriter(DataSourceWriter):
    """A writer that receives pyarrow RecordBatches instead of Rows (no conversion to Python)."""

    @abstractmethod
    def write(self, iterator: Iterator["RecordBatch"]) -> WriterCommitMessage:  # type: ignore[override]
        """Writes one partition.

        Parameters
        ----------
        iterator : iterator of pyarrow.RecordBatch
            The partition's batches, with the DataFrame's schema.

        Returns
        -------
        WriterCommitMessage
        """
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
        self.sparkSession._registry.register_python(name, source)


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
