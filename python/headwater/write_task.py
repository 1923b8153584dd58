"""One write task: read partition ``index`` of a DataFrame and hand it to ``writer.write``.

The same task runs on one of the writer's threads (thread mode) or, pickled with cloudpickle, in
one of the session's worker processes (process mode, as Spark ships a write task to a Python
worker): the task carries the partition's read (the reader and its partition, or a local
DataFrame's batches as Arrow IPC bytes), so a read -> write pipeline reads and writes in the worker
and no data crosses to the host. Only the pickled ``WriterCommitMessage`` (or a description of
the error) comes back; ``commit``/``abort`` stay on the host's writer.
"""

from __future__ import annotations

import itertools

import pickle
import traceback
import warnings
from typing import Any, Dict, Iterator, List, Optional, Tuple

from headwater import _core
from headwater.errors import AnalysisException, HeadwaterException, PythonException

__all__ = ["WriteTask", "write_tasks", "run_in_workers"]


def _rows(batches: Iterator[Any], row_type: type) -> Iterator[Any]:
    """The rows of each batch, converted in C one batch at a time (lazily); itertools.chain hands them
    over row by row in C, with no Python frame resumed per row."""
    return itertools.chain.from_iterable(_core.rows_from_arrow(batch, row_type) for batch in batches)


def _is_commit_message(obj: Any) -> bool:
    from headwater.plan import _both

    return isinstance(obj, _both("WriterCommitMessage"))


class _IpcPartitionReader:
    """Reads a local DataFrame's partition shipped as Arrow IPC stream bytes (only the partition's
    rows travel: pickling a sliced RecordBatch would carry its whole parent buffers)."""

    @staticmethod
    def read(partition: Any) -> Iterator[Any]:
        import pyarrow as pa

        return iter(pa.ipc.open_stream(partition.value))


def _to_ipc(batches: List[Any]) -> bytes:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    if batches:
        with pa.ipc.new_stream(sink, batches[0].schema) as w:
            for b in batches:
                w.write_batch(b)
    return sink.getvalue().to_pybytes()


class WriteTask:
    """Partition ``index``: an inline C scan of ``read(partition)`` feeding ``writer.write``.

    Calling the task (what a worker process does) returns ``(ok, bytes)``: the pickled commit
    message, or a pickled description of the error, which :func:`rebuild_error` turns back into
    the exception thread mode raises."""

    def __init__(self, schema_json: str, source_name: str, read: Any, partition: Any, index: int,
                 scan_options: Dict[str, Any], writer: Any, arrow: bool, row_type: type, local: bool = False) -> None:
        self.schema_json = schema_json
        self.source_name = source_name
        self.read = read
        self.partition = partition
        self.index = index
        self.scan_options = scan_options
        self.writer = writer
        self.arrow = arrow
        self.row_type = row_type
        self.local = local  # partition.value is a local DataFrame's list of RecordBatches

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_scan", None)  # a thread run's state (cancel): never shipped
        state.pop("_cancelled", None)
        if self.local:
            from headwater.datasource import InputPartition

            state.update(read=_IpcPartitionReader.read, partition=InputPartition(_to_ipc(list(self.partition.value))),
                         local=False)
        return state

    def batches(self) -> Iterator[Any]:
        from headwater.dataframe import _batches

        scan = _core.Scan(_core.schema_from_json(self.schema_json), self.read, [self.partition],
                          source_name=self.source_name, mode="inline", first_index=self.index, **self.scan_options)
        self._scan = scan
        if getattr(self, "_cancelled", False):
            scan.cancel()
        return _batches(scan)

    def cancel(self) -> None:
        """Stops the task's read from another thread (Ctrl-C in thread mode): the source's
        iterator is not stepped again and reading raises KeyboardInterrupt."""
        self._cancelled = True
        scan = getattr(self, "_scan", None)
        if scan is not None:
            scan.cancel()

    def run(self, where: str = "") -> Any:
        """Writes the partition; returns the commit message or raises as Spark reports it."""
        it = self.batches() if self.arrow else _rows(self.batches(), self.row_type)
        try:
            message = self.writer.write(it)
        except HeadwaterException:
            raise  # reading the DataFrame failed: already names the partition and the cause
        except Exception as e:
            tb = "".join(traceback.format_exception(e))
            raise PythonException(
                f"An exception was thrown from the Python data source writer in partition {self.index}{where}:\n{tb}",
                getattr(e, "error_class", None), partition=self.index,
            ) from e
        if not _is_commit_message(message):
            raise PythonException(
                "[DATA_SOURCE_TYPE_MISMATCH] Expected 'WriterCommitMessage' as the return type of the `write` "
                f"method, but got {type(message).__name__}.",
                "DATA_SOURCE_TYPE_MISMATCH", partition=self.index,
            )
        return message

    def __call__(self) -> Tuple[bool, bytes]:
        """In a worker process: run, and answer with pickled bytes (never raises an Exception; a
        cancel from the host, a BaseException, goes through)."""
        import cloudpickle

        try:
            message = self.run(" (in a worker process)")
            try:
                return True, cloudpickle.dumps(message)
            except Exception as e:
                raise PythonException(
                    f"The commit message of partition {self.index} cannot be pickled to be sent back: "
                    f"{type(e).__name__}: {e}", "PYTHON_DATA_SOURCE_ERROR", partition=self.index,
                ) from e
        except Exception as e:
            return False, pickle.dumps(_describe(e, self.index))


def _describe(e: BaseException, index: int) -> Tuple[Any, ...]:
    """A picklable account of e (the exception itself may not pickle)."""
    if isinstance(e, HeadwaterException):
        return (type(e).__name__, e.message, e.error_class, e.partition, e.row, e.column)
    tb = "".join(traceback.format_exception(e))
    return ("PythonException", f"An exception was thrown in the write task of partition {index} "
            f"(in a worker process):\n{tb}", None, index, None, None)


def rebuild_error(described: Tuple[Any, ...]) -> HeadwaterException:
    from headwater import errors

    name, message, error_class, partition, row, column = described
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, HeadwaterException)) or cls is errors.HeadwaterNotImplementedError:
        cls = PythonException
    return cls(message, error_class, partition=partition, row=row, column=column)


def write_tasks(df: Any, writer: Any, arrow: bool, row_type: type) -> List[WriteTask]:
    """One task per partition of df (a local DataFrame's batches are pickled as Arrow IPC bytes)."""
    from headwater.local import LocalPlan, default_parallelism, split_evenly

    plan = df._plan
    if not df._direct():  # a query (or a cached result): DuckDB computes it, its rows are split evenly
        table = df.toArrow()
        n = min(max(table.num_rows, 1), default_parallelism(df.sparkSession.conf))
        plan = LocalPlan(table.schema, split_evenly(table, n), df.sparkSession.conf)
    reader = plan.make_reader()
    partitions = plan.make_partitions(reader)
    local = isinstance(plan, LocalPlan)
    conf = df.sparkSession.conf
    options = dict(
        max_rows_per_batch=int(conf.get("spark.sql.execution.arrow.maxRecordsPerBatch") or 10000),
        max_bytes_per_batch=int(conf.get("headwater.batch.maxBytes") or 0),
        exact_batches=getattr(plan, "exact_batches", False),
    )
    schema_json = plan.core_schema.to_json()
    return [WriteTask(schema_json, plan.name, reader.read, p, i, options, writer, arrow, row_type, local)
            for i, p in enumerate(partitions)]


def use_processes(conf: Any, n_tasks: int) -> Tuple[bool, bool]:
    """(process mode?, asked for explicitly?) by the reads' rule: ``headwater.executor.mode``
    process, or auto with more than one partition."""
    mode = (conf.get("headwater.executor.mode") or "auto").lower()
    if mode not in ("auto", "inline", "thread", "process"):
        raise AnalysisException(
            f"headwater.executor.mode must be auto, inline, thread or process, got '{mode}'.", "HW_INVALID_CONF"
        )
    return mode == "process" or (mode == "auto" and n_tasks > 1), mode == "process"


def pickle_tasks(tasks: List[WriteTask], explicit: bool, name: str) -> Optional[List[bytes]]:
    """The tasks as cloudpickle bytes; None (with a warning) when they do not pickle and auto mode
    may write on threads instead, else an error naming what failed."""
    import cloudpickle

    try:
        return [cloudpickle.dumps(t) for t in tasks]
    except Exception as e:
        from headwater.plan import _unpicklable_attribute

        t = tasks[0]
        culprit = None
        for what, obj in (("writer", t.writer), ("reader", getattr(t.read, "__self__", None))):
            found = _unpicklable_attribute(obj) if obj is not None else None
            if found:
                culprit = f"the {what}'s attribute '{found[0]}' ({found[1]})"
                break
        message = (
            f"The write task of Python data source {name} cannot be pickled for worker processes: "
            f"{culprit or f'{type(e).__name__}: {e}'}. Create connections and other live objects inside write()."
        )
        if explicit:
            raise AnalysisException(message, "PYTHON_DATA_SOURCE_ERROR") from e
        warnings.warn(message + " Writing on threads instead.")
        return None


def run_in_workers(pool: Any, pickled: List[bytes], messages: List[Any]) -> Tuple[Optional[BaseException], bool]:
    """Runs the pickled tasks on the pool; fills ``messages`` (None where a task failed or did not
    run) and returns the first failure by partition index, and whether Ctrl-C interrupted."""
    outcomes, interrupted = _core.run_tasks(pool, pickled)
    failure: Optional[BaseException] = None
    for i, out in enumerate(outcomes):
        if out is None:
            continue
        if out[0] == "ok":
            messages[i] = pickle.loads(out[1])
        elif failure is None:
            if out[0] == "failed":
                failure = rebuild_error(pickle.loads(out[1]))
            else:  # raised outside the task's own handling, or the worker died
                _, error_class, message, tb = out
                text = f"{message}:\n{tb}" if tb else message
                failure = PythonException(text, error_class or None, partition=i)
    return failure, interrupted
