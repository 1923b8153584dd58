"""One write task: read partition ``index`` of a DataFrame and hand it to ``writer.write``.

The same task runs on one of the writer's threads (thread mode) or, pickled with cloudpickle, in
one of the session's worker processes (process mode, as Spark ships a write task to a Python
worker): the task carries the partition's read (the reader and its partition, or a local
DataFrame's batches as Arrow IPC bytes), so a read -> write pipeline reads and writes in the worker
and no data crosses to the host. Only the pickled ``WriterCommitMessage`` (or a description of
the error) comes back; ``commit``/``abort`` stay on the host's writer (:class:`WriteJob`).

Where the tasks run is the reads' rule (:mod:`headwater.exec.policy`): worker processes for
``headwater.executor.mode`` process, or auto with more than one partition and tasks that pickle;
else threads (``headwater.executor.workers`` daemon threads).
"""

from __future__ import annotations

import os
import pickle
import threading
import traceback
from typing import Any, Dict, Iterator, List, Optional, Tuple

import cloudpickle
import pyarrow as pa

from headwater import _core, errors
from headwater.config import cancel_grace_ms, scan_options, workers
from headwater.datasource import InputPartition
from headwater.errors import AnalysisException, HeadwaterException, PythonException
from headwater.exec.local import LocalPlan
from headwater.exec.plan import Flavor, api_classes, make_source, source_error
from headwater.exec.policy import choose_mode, pickle_for_workers
from headwater.exec.report import WriteRun
from headwater.exec.scan import batches as scan_batches

__all__ = ["WriteTask", "WriteJob", "write_tasks", "run_in_workers"]


class _IpcPartitionReader:
    """Reads a local DataFrame's partition shipped as Arrow IPC stream bytes (only the partition's
    rows travel: pickling a sliced RecordBatch would carry its whole parent buffers)."""

    @staticmethod
    def read(partition: Any) -> Iterator[Any]:
        return iter(pa.ipc.open_stream(partition.value))


def _to_ipc(batches: List[Any]) -> bytes:
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
        self.reads_source = not local  # its read is the source's (reported), not an action's result
        self.stats: Any = None  # after run(): (write counters, read counters or None), the run report's

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_scan", None)  # a thread run's state (cancel): never shipped
        state.pop("_cancelled", None)
        state.pop("_feed", None)
        if self.local:
            state.update(read=_IpcPartitionReader.read, partition=InputPartition(_to_ipc(list(self.partition.value))),
                         local=False)
        return state

    def batches(self) -> Iterator[Any]:
        scan = _core.Scan(_core.schema_from_json(self.schema_json), self.read, [self.partition],
                          source_name=self.source_name, mode="inline", first_index=self.index, **self.scan_options)
        self._scan = scan
        if getattr(self, "_cancelled", False):
            scan.cancel()
        return scan_batches(scan)

    def cancel(self) -> None:
        """Stops the task's read from another thread (Ctrl-C in thread mode): the source's
        iterator is not stepped again and reading raises KeyboardInterrupt."""
        self._cancelled = True
        scan = getattr(self, "_scan", None)
        if scan is not None:
            scan.cancel()

    def run(self, where: str = "") -> Any:
        """Writes the partition; returns the commit message or raises as Spark reports it. The
        writer pulls from a C feed (Rows converted a slice at a time, or the batches), which counts
        and times each batch: ``self.stats`` then holds the write's counters and its read's."""
        feed = self._feed = _core.WriteFeed(self.batches(), None if self.arrow else self.row_type)
        try:
            message = self.writer.write(feed)
        except HeadwaterException:
            raise  # reading the DataFrame failed: already names the partition and the cause
        except Exception as e:
            tb = "".join(traceback.format_exception(e))
            raise PythonException(
                f"An exception was thrown from the Python data source writer in partition {self.index}{where}:\n{tb}",
                getattr(e, "error_class", None), partition=self.index,
            ) from e
        finally:
            self._feed = None  # the progress bar reads it while write() runs
        rows, batches, nbytes, wall, own, convert, waited = feed.stats()
        read = self._scan.report() if self.reads_source else []
        self.stats = ((self.index, rows, batches, nbytes, wall, own, convert, waited, os.getpid()),
                      tuple(read[0]) if read else None)
        if not isinstance(message, api_classes("WriterCommitMessage")):
            raise PythonException(
                "[DATA_SOURCE_TYPE_MISMATCH] Expected 'WriterCommitMessage' as the return type of the `write` "
                f"method, but got {type(message).__name__}.",
                "DATA_SOURCE_TYPE_MISMATCH", partition=self.index,
            )
        return message

    def __call__(self) -> Tuple[bool, bytes, Any]:
        """In a worker process: run, and answer with pickled bytes and the run report's counters
        (src/pyexec/worker.c sends them in RESULT). Never raises an Exception; a cancel from the
        host, a BaseException, goes through."""
        try:
            message = self.run(" (in a worker process)")
            try:
                return True, cloudpickle.dumps(message), self.stats
            except Exception as e:
                raise PythonException(
                    f"The commit message of partition {self.index} cannot be pickled to be sent back: "
                    f"{type(e).__name__}: {e}", "PYTHON_DATA_SOURCE_ERROR", partition=self.index,
                ) from e
        except Exception as e:
            return False, pickle.dumps(_describe(e, self.index)), None


def _describe(e: BaseException, index: int) -> Tuple[Any, ...]:
    """A picklable account of e (the exception itself may not pickle)."""
    if isinstance(e, HeadwaterException):
        return (type(e).__name__, e.message, e.error_class, e.partition, e.row, e.column)
    tb = "".join(traceback.format_exception(e))
    return ("PythonException", f"An exception was thrown in the write task of partition {index} "
            f"(in a worker process):\n{tb}", None, index, None, None)


def rebuild_error(described: Tuple[Any, ...]) -> HeadwaterException:
    name, message, error_class, partition, row, column = described
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, HeadwaterException)) or cls is errors.HeadwaterNotImplementedError:
        cls = PythonException
    return cls(message, error_class, partition=partition, row=row, column=column)


def write_tasks(plan: Any, writer: Any, arrow: bool, row_type: type) -> List[WriteTask]:
    """One task per partition of the read plan (a local plan's batches are pickled as Arrow IPC
    bytes)."""
    reader = plan.make_reader()
    partitions = plan.make_partitions(reader)
    local = isinstance(plan, LocalPlan)
    schema_json = plan.core_schema.to_json()
    options = dict(scan_options(plan.conf), exact_batches=getattr(plan, "exact_batches", False))
    return [WriteTask(schema_json, plan.name, reader.read, p, i, options, writer, arrow, row_type, local)
            for i, p in enumerate(partitions)]


def pickle_tasks(tasks: List[WriteTask], explicit: bool, name: str) -> Optional[List[bytes]]:
    """The tasks as cloudpickle bytes; None (with a warning) when they do not pickle and auto mode
    may write on threads instead, else an error naming what failed."""
    t = tasks[0]
    return pickle_for_workers(tasks, explicit=explicit, what="write task", source=name,
                              suspects=[("the writer's ", t.writer), ("the reader's ", getattr(t.read, "__self__", None))],
                              inside="write", instead="Writing")


def run_in_workers(pool: Any, pickled: List[bytes], messages: List[Any],
                   on_done: Any = None) -> Tuple[Optional[BaseException], bool]:
    """Runs the pickled tasks on the pool; fills ``messages`` (None where a task failed or did not
    run) and returns the first failure by partition index, and whether Ctrl-C interrupted.
    ``on_done(index, counters)`` hears of each task as it ends (the run report, the progress bar)."""
    outcomes, interrupted = _core.run_tasks(pool, pickled, on_done)
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


class WriteJob:
    """One ``save()``: the writer made at planning (``DataSource(options).writer(schema,
    overwrite)``), one write task per partition of the plan it writes, then ``commit`` or
    ``abort`` on that writer."""

    def __init__(self, session: Any, cls: type, options: Dict[str, Optional[str]], overwrite: bool,
                 core_schema: Any) -> None:
        self.session = session
        flavor = self.flavor = Flavor(cls)
        source = make_source(cls, flavor.options(options))
        schema = flavor.struct_type(core_schema)
        try:
            writer = source.writer(schema, overwrite)
        except Exception as e:
            raise source_error("initialize", "writer", e) from e
        if not flavor.is_writer(writer):
            raise AnalysisException(
                "Failed to initialize Python data source writer: [DATA_SOURCE_TYPE_MISMATCH] Expected an "
                f"instance of DataSourceWriter, but got '{type(writer).__name__}'.",
                "PYTHON_DATA_SOURCE_ERROR",
            )
        self.writer = writer
        self.arrow = flavor.is_arrow_writer(writer)
        self.flavor_name = cls.name() if callable(getattr(cls, "name", None)) else cls.__name__

    def run(self, plan: Any) -> None:
        """Writes the partitions of the read plan ``plan``; commits, or aborts and raises."""
        tasks = write_tasks(plan, self.writer, self.arrow, self.flavor.row_type)
        messages: List[Any] = [None] * len(tasks)
        conf = self.session.conf
        mode, _, explicit = choose_mode(conf, len(tasks))
        pickled = pickle_tasks(tasks, explicit, self.flavor_name) if mode == "process" else None
        live = None if pickled is not None else (lambda: [(i, t._feed) for i, t in enumerate(tasks)
                                                           if getattr(t, "_feed", None) is not None])
        run = WriteRun(len(tasks), plan.name, live)
        tracker = getattr(self.session, "_runs", None)
        if tracker is not None:  # the run report and the progress bar
            tracker.started(run, self.flavor_name, "process" if pickled is not None else "thread")  # inline: threads too
        try:
            if pickled is not None:
                # tasks share the pool's workers with other queries (exec/lease.c): never rerun on threads,
                # which could write a partition twice
                failure, interrupted = run_in_workers(self.session._worker_pool(), pickled, messages, run.finished)
                if interrupted:
                    self._abort(messages, failure or KeyboardInterrupt())
                    raise KeyboardInterrupt("the write was interrupted")
            else:
                try:
                    failure = self._run_on_threads(tasks, messages, run)
                except KeyboardInterrupt:
                    self._abort(messages, KeyboardInterrupt())
                    raise
        except BaseException as e:
            run.failed(e)
            raise
        finally:
            run.live = None  # the report outlives the write: it keeps no task (nor a local plan's batches)
        if failure is not None:
            run.failed(failure)
            self._abort(messages, failure)
            raise failure
        self.commit(messages)

    def commit(self, messages: List[Any]) -> None:
        """``commit(messages)``; when it fails, ``abort`` with the same messages (as Spark) and raise."""
        try:
            self.writer.commit(messages)
            return
        except Exception as e:
            err = source_error("commit or abort", "write", e)  # its __cause__ is e
        self._abort(messages, err)  # Spark aborts a write whose commit failed, with the same messages
        raise err

    def _run_on_threads(self, tasks: List[Any], messages: List[Any], run: WriteRun) -> Optional[BaseException]:
        """Runs the tasks on threads; fills messages and returns the first failure by partition
        index (tasks not started when one fails are not started, as Spark cancels a failed job's
        other tasks).

        Ctrl-C raises KeyboardInterrupt here at once: the running tasks' reads are cancelled, and
        they get ``headwater.executor.cancelGraceMs`` to stop. The threads are daemons: one stuck in
        a call that never returns cannot keep the interpreter from exiting."""
        conf = self.session.conf
        n = max(1, min(workers(conf), len(tasks)))
        lock = threading.Lock()
        outcomes: List[Any] = [None] * len(tasks)  # (True, message) or (False, exception)
        state = {"next": 0, "stop": False, "live": n}
        over = threading.Event()

        def loop() -> None:
            try:
                while True:
                    with lock:
                        if state["stop"] or state["next"] >= len(tasks):
                            return
                        i = state["next"]
                        state["next"] += 1
                    try:
                        outcomes[i] = (True, tasks[i].run())
                        run.finished(i, tasks[i].stats)
                    except BaseException as e:  # noqa: B036 -- reported by the calling thread
                        outcomes[i] = (False, e)
                        with lock:
                            state["stop"] = True
            finally:
                with lock:
                    state["live"] -= 1
                    if state["live"] == 0:
                        over.set()

        for k in range(n):
            threading.Thread(target=loop, name=f"headwater-write-{k}", daemon=True).start()
        try:
            while not over.wait(0.1):  # short waits: Ctrl-C is seen between them
                pass
        except KeyboardInterrupt:
            with lock:
                state["stop"] = True
            for t in tasks:
                t.cancel()
            over.wait(cancel_grace_ms(conf) / 1000)
            raise
        failure: Optional[BaseException] = None
        for i, out in enumerate(outcomes):
            if out is None:
                continue
            if out[0]:
                messages[i] = out[1]
            elif failure is None:
                failure = out[1]
        return failure

    def _abort(self, messages: List[Any], failure: BaseException) -> None:
        """``abort(messages)``; an error in it is attached to ``failure`` (as a note and its
        ``__context__``), never raised instead of it."""
        try:
            self.writer.abort(messages)
        except Exception as e:
            failure.add_note(
                "While aborting the write, abort() raised too:\n" + "".join(traceback.format_exception(e))
            )
            failure.__context__ = e
