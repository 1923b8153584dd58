"""What the built-in file formats share: Spark's save modes for paths, one read partition per file,
and an Arrow writer per partition that writes one part file into the write's temporary directory.

A format subclasses :class:`FileFormat` and provides ``infer`` (the schema of files), ``read_file``
(the RecordBatches of one file) and ``write_file`` (a partition's batches into one file).
"""

from __future__ import annotations

import itertools
import os
import threading
import uuid
from typing import Any, Dict, Iterator, List, Optional

import pyarrow as pa

from headwater.datasource import (
    DataSource,
    DataSourceArrowWriter,
    DataSourceReader,
    DataSourceStreamArrowWriter,
    InputPartition,
    WriterCommitMessage,
)
from headwater.errors import AnalysisException
from headwater.formats._filestream import FileStreamReader, schema_required
from headwater.formats._sinklog import batch_committed, commit_batch
from headwater.formats._files import OutputDir, input_paths, list_files, qualified, spark_error, target_path
from headwater.config import batch_rows
from headwater.schema import parse_schema, to_arrow_schema

__all__ = ["FileFormat", "FileReader", "FileWriter", "FileCommit", "FileStreamArrowWriter", "unsupported_type"]


def unsupported_type(label: str, field: pa.Field) -> Exception:
    """Spark's error for a column type a format cannot hold."""
    ddl = parse_schema(pa.schema([field])).to_ddl()
    type_text = ddl.split(" ", 1)[1] if " " in ddl else ddl
    return spark_error(AnalysisException(
        f'The {label} datasource doesn\'t support the column `{field.name}` of the type "{type_text}".',
        "UNSUPPORTED_DATA_TYPE_FOR_DATASOURCE",
    ))


class FileFormat(DataSource):
    """A built-in file format: ``spark.read.format(name).load(paths)`` and
    ``df.write.format(name).mode(m).save(path)``.

    Supports all four of Spark's save modes, as Spark's file sources do (headwater's opt-in:
    ``supportedSaveModes`` and ``checkSaveMode``, see :mod:`headwater.exec.savemode`)."""

    supportedSaveModes = ("append", "overwrite", "errorifexists", "ignore")
    label = ""  # the format's name in Spark's messages: Parquet, CSV, JSON
    extension = ""

    # ---- to be provided by each format

    def infer(self, files: List[str]) -> pa.Schema:
        """The schema (Spark's types) of ``files`` (not empty)."""
        raise NotImplementedError

    @classmethod
    def read_file(cls, path: str, schema: pa.Schema, options: Dict[str, str],
                  batch_rows: int) -> Iterator[pa.RecordBatch]:
        """The RecordBatches of one file, with exactly ``schema``'s types."""
        raise NotImplementedError

    @classmethod
    def write_file(cls, path: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch],
                   options: Dict[str, str]) -> None:
        """Writes ``batches`` (possibly none) into the new file ``path``."""
        raise NotImplementedError

    def check_writable(self, schema: pa.Schema) -> None:
        """Raises Spark's UNSUPPORTED_DATA_TYPE_FOR_DATASOURCE for a column the format cannot hold."""

    def file_extension(self) -> str:
        return self.extension

    # ---- DataSource

    @classmethod
    def name(cls) -> str:
        return cls.__name__.lower()

    def _hw_configure(self, conf: Any) -> None:
        """The session's settings, handed over by the read plan: rows per batch a reader asks its
        library for (``spark.sql.execution.arrow.maxRecordsPerBatch``)."""
        self._batch_rows = batch_rows(conf)

    def _options(self) -> Dict[str, str]:
        return {k.lower(): v for k, v in dict(self.options).items() if v is not None}

    def schema(self) -> Any:
        files = list_files(input_paths(self._options()))
        if not files:
            raise spark_error(AnalysisException(
                f"Unable to infer schema for {self.label}. It must be specified manually.", "UNABLE_TO_INFER_SCHEMA"
            ))
        return self.infer(files)

    def reader(self, schema: Any) -> "FileReader":
        rows = getattr(self, "_batch_rows", None) or batch_rows(None)
        return FileReader(type(self), to_arrow_schema(schema), self._options(), rows)

    def writer(self, schema: Any, overwrite: bool) -> "FileWriter":
        arrow_schema = to_arrow_schema(schema)
        self.check_writable(arrow_schema)
        return FileWriter(self, arrow_schema, overwrite)

    def streamReader(self, schema: Any) -> FileStreamReader:
        """The file stream source (``readStream.format(name).schema(s).load(dir)``)."""
        rows = getattr(self, "_batch_rows", None) or batch_rows(None)
        return FileStreamReader(type(self), to_arrow_schema(schema), self._options(), rows)

    def _hw_stream_schema(self) -> Any:
        """A streaming read without a user schema: Spark's error (it infers none for file streams
        unless spark.sql.streaming.schemaInference is set)."""
        raise schema_required()

    def streamWriter(self, schema: Any, overwrite: bool) -> "FileStreamArrowWriter":
        """The file stream sink (``writeStream.format(name).start(path)``): exactly-once through
        the ``_spark_metadata`` log in the output directory."""
        arrow_schema = to_arrow_schema(schema)
        self.check_writable(arrow_schema)
        return FileStreamArrowWriter(self, arrow_schema)

    def checkSaveMode(self, mode: str) -> bool:
        """``errorifexists``: Spark's PATH_ALREADY_EXISTS when the target exists; ``ignore``: no
        write (False) when it exists."""
        path = target_path(self._options())
        if not os.path.lexists(path):
            return True
        if mode == "ignore":
            return False
        raise spark_error(AnalysisException(
            f'Path {qualified(path)} already exists. Set mode as "overwrite" to overwrite the existing path.',
            "PATH_ALREADY_EXISTS",
        ))


class FileReader(DataSourceReader):
    """One partition per file; each yields the file's RecordBatches (read by pyarrow or DuckDB)."""

    def __init__(self, fmt: type, schema: pa.Schema, options: Dict[str, str], batch_rows: int) -> None:
        self.fmt = fmt
        self.arrow_schema = schema
        self.options = options
        self.batch_rows = batch_rows

    def partitions(self) -> List[InputPartition]:
        return [InputPartition(f) for f in list_files(input_paths(self.options))]

    def read(self, partition: Optional[InputPartition]) -> Iterator[pa.RecordBatch]:
        if partition is None or partition.value is None:  # no files (a user schema was given): no rows
            return iter(())
        return self.fmt.read_file(partition.value, self.arrow_schema, self.options, self.batch_rows)


class FileCommit(WriterCommitMessage):
    """What a partition wrote: its part file's name (None when the partition had no rows)."""

    def __init__(self, file: Optional[str]) -> None:
        self.file = file

    def __repr__(self) -> str:
        return f"FileCommit({self.file!r})"


class FileWriter(DataSourceArrowWriter):
    """Each partition writes one part file into the write's temporary directory; ``commit`` renames
    the directory (or the files, for append) into place, ``abort`` removes it."""

    def __init__(self, fmt: FileFormat, schema: pa.Schema, overwrite: bool) -> None:
        self.fmt = type(fmt)
        self.options = fmt._options()
        self.ext = fmt.file_extension()
        self.arrow_schema = schema
        self.overwrite = overwrite
        self.out = OutputDir(target_path(self.options))
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def __getstate__(self) -> Dict[str, Any]:
        # pickled to worker processes (process-mode writes): the lock stays behind; part numbers are
        # claimed through the file system, so each process may count on its own
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _claim(self) -> str:
        """A new part file's path. Numbers are claimed by creating the file exclusively, so writers in
        several threads or processes never collide (the API tells a writer no partition index)."""
        while True:
            with self._lock:
                n = next(self._counter)
            path = self.out.part_path(n, self.ext)
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                return path
            except FileExistsError:
                continue

    def write(self, iterator: Iterator[pa.RecordBatch]) -> FileCommit:
        first = next(iterator, None)
        if first is None:  # as Spark: an empty partition writes no file
            return FileCommit(None)
        path = self._claim()
        self.fmt.write_file(path, self.arrow_schema, itertools.chain([first], iterator), self.options)
        return FileCommit(os.path.basename(path))

    def commit(self, messages: List[Optional[WriterCommitMessage]]) -> None:
        if not any(isinstance(m, FileCommit) and m.file for m in messages):
            # nothing written: one file without rows keeps the schema (Spark does the same)
            self.fmt.write_file(self._claim(), self.arrow_schema, iter(()), self.options)
        self.out.commit(self.overwrite)

    def abort(self, messages: List[Optional[WriterCommitMessage]]) -> None:
        self.out.abort()


class FileStreamArrowWriter(DataSourceStreamArrowWriter):
    """A file sink, as Spark's FileStreamSink: each partition of a micro-batch writes one part file
    straight into the output directory (under a hidden name, renamed when complete); ``commit``
    logs the batch's files in ``_spark_metadata/<batchId>``, which is what makes them visible to
    readers. A batch re-run after a crash (its log entry already there) keeps nothing new: the
    files it wrote again are removed, as are those of an aborted batch."""

    def __init__(self, fmt: FileFormat, schema: pa.Schema) -> None:
        self.fmt = type(fmt)
        self.options = fmt._options()
        self.ext = fmt.file_extension()
        self.arrow_schema = schema
        self.target = target_path(self.options)

    def write(self, iterator: Iterator[pa.RecordBatch]) -> FileCommit:
        first = next(iterator, None)
        if first is None:  # as Spark: an empty partition writes no file
            return FileCommit(None)
        os.makedirs(self.target, exist_ok=True)
        name = f"part-00000-{uuid.uuid4()}-c000{self.ext}"
        tmp = os.path.join(self.target, f".{name}.inprogress")
        try:
            self.fmt.write_file(tmp, self.arrow_schema, itertools.chain([first], iterator), self.options)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.rename(tmp, os.path.join(self.target, name))
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return FileCommit(name)

    def _files(self, messages: List[Optional[WriterCommitMessage]]) -> List[str]:
        return [os.path.join(self.target, m.file) for m in messages if isinstance(m, FileCommit) and m.file]

    def commit(self, messages: List[Optional[WriterCommitMessage]], batchId: int) -> None:
        files = self._files(messages)
        if batch_committed(self.target, batchId) or not commit_batch(self.target, batchId, files):
            self._remove(files)  # a re-run of a logged batch: its first run's files are the ones

    def abort(self, messages: List[Optional[WriterCommitMessage]], batchId: int) -> None:
        self._remove(self._files(messages))

    @staticmethod
    def _remove(files: List[str]) -> None:
        for f in files:
            try:
                os.unlink(f)
            except FileNotFoundError:
                pass
