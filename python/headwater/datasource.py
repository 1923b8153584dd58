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
    "ReadLimit",
    "ReadAllAvailable",
    "ReadMinRows",
    "ReadMaxRows",
    "ReadMaxFiles",
    "ReadMaxBytes",
    "SupportsTriggerAvailableNow",
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


class ReadLimit(ABC):
    """How much a micro-batch may admit (Spark 4.2 admission control); the engine passes one to
    :meth:`DataSourceStreamReader.latestOffset`."""


class ReadAllAvailable(ReadLimit):
    """No limit: everything available now."""

    def __repr__(self) -> str:
        return "ReadAllAvailable()"


class ReadMinRows(ReadLimit):
    """At least ``min_rows`` rows, or wait up to ``max_trigger_delay_ms``."""

    def __init__(self, min_rows: int, max_trigger_delay_ms: int) -> None:
        self.min_rows = min_rows
        self.max_trigger_delay_ms = max_trigger_delay_ms


class ReadMaxRows(ReadLimit):
    """At most ``max_rows`` rows per micro-batch."""

    def __init__(self, max_rows: int) -> None:
        self.max_rows = max_rows


class ReadMaxFiles(ReadLimit):
    """At most ``max_files`` files per micro-batch."""

    def __init__(self, max_files: int) -> None:
        self.max_files = max_files


class ReadMaxBytes(ReadLimit):
    """At most ``max_bytes`` bytes per micro-batch."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes


class SupportsTriggerAvailableNow(ABC):
    """Mixin for a stream reader that can bound ``Trigger.AvailableNow`` itself."""

    @abstractmethod
    def prepareForTriggerAvailableNow(self) -> None:
        """Called once before the first batch of an AvailableNow query: remember the offset that is
        available now, and never report a later one.

        Returns
        -------
        None
        """
        ...


class DataSourceStreamReader(ABC):
    """Reads a stream with offsets and partitions planned per micro-batch.

    Offsets are JSON-serialisable dicts; the engine compares them as ``json.dumps`` strings.

    Examples
    --------
    >>> class Counter(DataSourceStreamReader):
    ...     def initialOffset(self):
    ...         return {"offset": 0}
    ...     def latestOffset(self, start, limit):
    ...         return {"offset": start["offset"] + 10}
    ...     def partitions(self, start, end):
    ...         return [InputPartition((start["offset"], end["offset"]))]
    ...     def read(self, partition):
    ...         yield from ((i,) for i in range(*partition.value))
    """

    def initialOffset(self) -> dict:
        """The offset of the first micro-batch's start.

        Returns
        -------
        dict
        """
        raise _not_implemented("initialOffset")

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        """The end offset of the next micro-batch, admitting at most ``limit`` from ``start``.

        Parameters
        ----------
        start : dict
            The start of the next micro-batch.
        limit : ReadLimit
            From :meth:`getDefaultReadLimit`, or :class:`ReadAllAvailable`.

        Returns
        -------
        dict
        """
        raise _not_implemented("latestOffset")

    def getDefaultReadLimit(self) -> ReadLimit:
        """The admission limit of every micro-batch (default: :class:`ReadAllAvailable`).

        Returns
        -------
        ReadLimit
        """
        return ReadAllAvailable()

    def reportLatestOffset(self) -> Optional[dict]:
        """The latest offset available, regardless of the limit, for progress reports (optional).

        Returns
        -------
        dict or None
        """
        return None

    def partitions(self, start: dict, end: dict) -> Sequence[InputPartition]:
        """The partitions of the micro-batch ``[start, end)``.

        Returns
        -------
        list of InputPartition
        """
        raise _not_implemented("partitions")

    @abstractmethod
    def read(self, partition: InputPartition) -> Union[Iterator[Tuple], Iterator["RecordBatch"]]:
        """The rows (tuples/Rows) or RecordBatches of one partition; runs on the executors."""
        raise _not_implemented("read")

    def commit(self, end: dict) -> None:
        """Everything up to ``end`` was processed; the source may forget it."""
        ...

    def stop(self) -> None:
        """The query stopped: release resources."""
        ...


class SimpleDataSourceStreamReader(ABC):
    """Reads a stream without partition planning: ``read(start)`` runs on the driver and returns
    the rows and the next offset; after a restart :meth:`readBetweenOffsets` re-reads a batch."""

    def initialOffset(self) -> dict:
        """The offset of the first micro-batch's start.

        Returns
        -------
        dict
        """
        raise _not_implemented("initialOffset")

    def read(self, start: dict) -> Tuple[Iterator[Tuple], dict]:
        """The rows from ``start`` and the offset they end at.

        Returns
        -------
        (iterator of tuples, dict)
        """
        raise _not_implemented("read")

    def readBetweenOffsets(self, start: dict, end: dict) -> Iterator[Tuple]:
        """The rows of ``[start, end)`` again, deterministically (replay after a restart).

        Returns
        -------
        iterator of tuples
        """
        raise _not_implemented("readBetweenOffsets")

    def commit(self, end: dict) -> None:
        """Everything up to ``end`` was processed."""
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
