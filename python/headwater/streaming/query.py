"""The micro-batch engine: one thread per running query, as Spark's ``MicroBatchExecution``.

Per batch N: next end offsets from each source -> ``offsets/N`` -> source ``commit`` of batch
N-1's end -> read the batch (C scan) and apply the query's transforms (DuckDB) -> sink ->
``commits/N``. A restart re-runs a batch whose ``commits/N`` is missing, with the same id and
offsets. Everything here runs once per micro-batch; rows stay in Arrow.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional

import pyarrow as pa

from headwater.config import get
from headwater.errors import AnalysisException, HeadwaterException
from headwater.streaming.checkpoint import Checkpoint

__all__ = ["StreamingQuery", "StreamingQueryException", "StreamingQueryManager", "StreamingQueryListener"]


class StreamingQueryException(HeadwaterException):
    """The exception that ended a streaming query: as Spark 4.3, always ``STREAM_FAILED``, its
    message naming the query and carrying the cause's (error class and traceback included); the
    cause itself is ``__cause__``."""

    def __init__(self, query_id: str, run_id: str, cause: BaseException) -> None:
        text = str(cause)
        if not isinstance(cause, HeadwaterException):  # a source's own error: its traceback, as Spark shows it
            text = "".join(traceback.format_exception(cause)).rstrip()
        super().__init__(f"Query [id = {query_id}, runId = {run_id}] terminated with exception: {text}",
                         "STREAM_FAILED")
        self._parameters = {"id": query_id, "runId": run_id, "message": text}
        self.__cause__ = cause

    def getMessageParameters(self) -> Dict[str, str]:
        return dict(self._parameters)


class StreamingQueryListener:
    """Spark's listener: override the events wanted."""

    def onQueryStarted(self, event: Any) -> None:
        pass

    def onQueryProgress(self, event: Any) -> None:
        pass

    def onQueryIdle(self, event: Any) -> None:
        pass

    def onQueryTerminated(self, event: Any) -> None:
        pass


class _Event:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__dict__})"


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{datetime.now(timezone.utc).microsecond // 1000:03d}Z"


class StreamingQuery:
    """A running streaming query (Spark's ``StreamingQuery``)."""

    def __init__(self, manager: "StreamingQueryManager", sources: List[Any], build: Callable[[List[pa.Table]], Any],
                 sink: Any, checkpoint: Optional[str], trigger: Dict[str, Any], name: Optional[str],
                 stateful: Any = None) -> None:
        self._manager, self._sources, self._build, self._sink = manager, sources, build, sink
        # watermark and state operators (streaming/stateful.StatefulRun), None for a stateless query
        self._stateful = stateful
        self._trigger, self._name = trigger, name
        self._ckpt = Checkpoint(checkpoint) if checkpoint else None
        self._id = self._ckpt.id if self._ckpt else str(uuid.uuid4())
        self._run_id = str(uuid.uuid4())
        self._active = True
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._exception: Optional[StreamingQueryException] = None
        self._progress: List[Dict[str, Any]] = []
        self._status = {"message": "Initializing sources", "isDataAvailable": False, "isTriggerActive": False}
        self._idle_since_check = 0.0  # start time of the newest offset check that found no data
        self._batch_id = 0
        self._last_started: Optional[float] = None  # the previous batch's start, for input rates
        self._thread = threading.Thread(target=self._run, name=f"stream-{self._id}", daemon=True)
        self._passthrough = False  # no transformation: the sink gets the source's rows as read
        self._columns: List[Optional[List[int]]] = [None] * len(sources)  # columns each source converts
        self._last_no_data_event: Optional[float] = None  # see _idle_event

    # ---- API

    @property
    def id(self) -> str:
        return self._id

    @property
    def runId(self) -> str:
        return self._run_id

    @property
    def name(self) -> Optional[str]:
        return self._name

    @property
    def isActive(self) -> bool:
        return self._active

    @property
    def status(self) -> Dict[str, Any]:
        return dict(self._status)

    @property
    def lastProgress(self) -> Optional[Dict[str, Any]]:
        return self._progress[-1] if self._progress else None

    @property
    def recentProgress(self) -> List[Dict[str, Any]]:
        return list(self._progress)

    def exception(self) -> Optional[StreamingQueryException]:
        return self._exception

    def awaitTermination(self, timeout: Optional[float] = None) -> Optional[bool]:
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
            raise HeadwaterException(f"Value for `timeout` must be positive, got '{timeout}'.",
                                     "VALUE_NOT_POSITIVE")
        self._thread.join(timeout)
        if self._exception is not None:
            raise self._exception
        return None if timeout is None else not self._thread.is_alive()

    def processAllAvailable(self) -> None:
        """Blocks until every source has no data beyond what was processed (or the query ended)."""
        asked = time.monotonic()
        with self._cond:
            while self._active and self._idle_since_check < asked:
                self._cond.wait(0.05)
        if self._exception is not None:
            raise self._exception

    def stop(self) -> None:
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def explain(self, extended: bool = False) -> None:
        print(self._explain_string())

    def _explain_string(self) -> str:
        lines = ["== Physical Plan ==", f"WriteToDataSourceV2 MicroBatchWrite[epoch: {self._batch_id}, writer: "
                 f"{self._sink.description()}]"]
        lines += [f"+- MicroBatchScan[{s.description}]" for s in self._sources]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<StreamingQuery id={self._id} runId={self._run_id} name={self._name}>"

    # ---- the engine

    def _start(self) -> None:
        self._manager._started(self)
        self._thread.start()

    def _wait_trigger(self, started: float) -> None:
        interval = self._trigger.get("processingTime", 0) / 1000.0
        delay = max(interval - (time.monotonic() - started), 0.0) if interval else 0.0
        if delay:
            self._stop.wait(delay)

    def _run(self) -> None:
        failed: Optional[BaseException] = None
        try:
            self._loop()
        except BaseException as e:  # noqa: BLE001 -- the query's end, reported to awaitTermination
            failed = e
        finally:
            for s in self._sources:
                try:
                    s.stop()
                except Exception as e:  # a stop failure is reported unless the query failed already
                    failed = failed or e
            if self._ckpt is not None:
                try:
                    self._ckpt.close()  # waits for the last commits/N
                except Exception as e:
                    failed = failed or e
            if self._stateful is not None:
                self._stateful.close()
            if failed is not None:
                self._exception = StreamingQueryException(self._id, self._run_id, failed)
            with self._cond:
                self._active = False
                self._status = {"message": "Stopped", "isDataAvailable": False, "isTriggerActive": False}
                self._cond.notify_all()
            self._manager._terminated(self)

    def _loop(self) -> None:
        ck = self._ckpt
        for i, s in enumerate(self._sources):
            s.open(ck.dir_for("sources", i) if ck else None)
        self._sink.open(ck.dir_for("sinks", 0) if ck else None)
        available_now = bool(self._trigger.get("availableNow"))
        once = bool(self._trigger.get("once"))
        bounded = [s.prepare_available_now() for s in self._sources] if available_now else []
        one_batch = once or (available_now and not all(bounded))
        # where to start: the checkpoint's logs
        starts = [s.initial_offset() for s in self._sources]
        batch_id = 0
        last = ck.last_offsets() if ck else None
        if self._stateful is not None:
            self._stateful.restore(ck)
        if last is not None:
            last_id, ends = last
            prev = ck.offsets(last_id - 1) if last_id > 0 else starts
            if not ck.committed(last_id):  # the batch ran partly: again, same id and offsets
                if last_id > 0:
                    for s, end in zip(self._sources, prev):
                        s.commit(end)
                self._run_batch(last_id, prev, ends, replay=True)
                self._commit(last_id)
                if one_batch:
                    return
            starts, batch_id = ends, last_id + 1
        self._status = {"message": "Waiting for data to arrive", "isDataAvailable": False, "isTriggerActive": False}
        while not self._stop.is_set():
            started = time.monotonic()
            check_start = started
            ends = [s.latest_offset(st) for s, st in zip(self._sources, starts)]
            has_data = any(e != st for e, st in zip(ends, starts))
            if not has_data and self._no_data_batch(batch_id, starts):
                batch_id += 1
                continue
            if not has_data:
                if ck is not None:
                    ck.flush()  # idle means every batch run so far is committed, durably
                with self._cond:
                    self._idle_since_check = check_start
                    self._cond.notify_all()
                if available_now or once:
                    return
                self._idle_event()
                poll = get(self._manager.session.conf, "headwater.streaming.pollIntervalMs") / 1000.0
                self._stop.wait(max(poll, self._trigger.get("processingTime", 0) / 1000.0))
                continue
            if ck is not None:
                ck.write_offsets(batch_id, ends, int(time.time() * 1000),
                                 watermark_ms=self._stateful.batch_ms if self._stateful else 0)
                if batch_id > 0:
                    for s, st in zip(self._sources, starts):
                        s.commit(st)
            self._run_batch(batch_id, starts, ends, replay=False, started=started)
            self._commit(batch_id)
            starts, batch_id = ends, batch_id + 1
            if one_batch:
                break
            self._wait_trigger(started)

    def _no_data_batch(self, batch_id: int, offsets: List[str]) -> bool:
        """Spark's no-data batch (streaming/stateful.py decides): the same offsets again, no rows read,
        so a state operator sees the new watermark and evicts (append mode emits the closed windows)."""
        if self._stateful is None or not self._stateful.wants_no_data_batch():
            return False
        if self._trigger.get("availableNow") or self._trigger.get("once"):
            return False  # Spark 4.3 runs none under these triggers (tests/python/spark_probe_nodata.py)
        if self._ckpt is not None:
            self._ckpt.write_offsets(batch_id, offsets, int(time.time() * 1000), watermark_ms=self._stateful.batch_ms)
        self._run_batch(batch_id, offsets, offsets, replay=False)
        self._commit(batch_id)
        return True

    def _commit(self, batch_id: int) -> None:
        """``commits/N`` with the watermark the next batch runs with (Spark's nextBatchWatermarkMs)."""
        if self._ckpt is not None:
            self._ckpt.write_commit(batch_id, self._stateful.next_ms if self._stateful else 0)
        if self._stateful is not None:
            self._stateful.advance()

    def _run_batch(self, batch_id: int, starts: List[str], ends: List[str], replay: bool,
                   started: Optional[float] = None) -> None:
        started = started or time.monotonic()
        self._batch_id = batch_id
        self._status = {"message": "Processing new data", "isDataAvailable": True, "isTriggerActive": True}
        t0 = time.monotonic()
        rows = self._write_on_workers(batch_id, starts, ends)
        if rows is not None:  # read and written on the workers: no getBatch on the host
            t1 = t0
            output_rows = sum(rows)
        else:
            tables = [s.read_batch(st, e, c) if st != e else s.empty_batch()  # (a no-data batch reads nothing)
                      for s, st, e, c in zip(self._sources, starts, ends, self._columns)]
            t1 = time.monotonic()
            df, table = self._build(tables)
            self._sink.add_batch(batch_id, df, table)
            rows = [t.num_rows for t in tables]
            output_rows = table.num_rows
        t2 = time.monotonic()
        total = (t2 - started) * 1000
        elapsed = (started - self._last_started) if self._last_started is not None else 0.0
        self._last_started = started
        progress = {
            "id": self._id, "runId": self._run_id, "name": self._name, "timestamp": _now_iso(),
            "batchId": batch_id, "batchDuration": int(total), "numInputRows": sum(rows),
            "inputRowsPerSecond": (sum(rows) / elapsed) if elapsed > 0 else 0.0,
            "processedRowsPerSecond": (sum(rows) / (t2 - started)) if t2 > started else 0.0,
            "durationMs": {"addBatch": int((t2 - t1) * 1000), "getBatch": int((t1 - t0) * 1000),
                           "latestOffset": int((t0 - started) * 1000), "queryPlanning": 0,
                           "triggerExecution": int(total), "walCommit": 0, "commitOffsets": 0},
            "eventTime": self._stateful.event_time() if self._stateful else {},
            "stateOperators": self._stateful.state_operators() if self._stateful else [],
            # as Spark's progress: offsets as their JSON text, no start for the first batch
            "sources": [{"description": s.description, "startOffset": "null" if batch_id == 0 else st,
                         "endOffset": e, "latestOffset": s.latest_reported or "null", "numInputRows": n,
                         "inputRowsPerSecond": (n / elapsed) if elapsed > 0 else 0.0,
                         "processedRowsPerSecond": (n / (t2 - started)) if t2 > started else 0.0}
                        for s, st, e, n in zip(self._sources, starts, ends, rows)],
            "sink": {"description": self._sink.description(), "numOutputRows": output_rows},
            "observedMetrics": {},
        }
        self._progress.append(progress)
        self._last_no_data_event = time.monotonic()  # Spark: idle events count from the last batch run
        keep = get(self._manager.session.conf, "spark.sql.streaming.numRecentProgressUpdates")
        del self._progress[:-keep]
        self._manager._event("onQueryProgress", _Event(progress=progress))
        self._status = {"message": "Waiting for data to arrive", "isDataAvailable": False, "isTriggerActive": False}

    def _idle_event(self) -> None:
        """``onQueryIdle``, throttled as Spark's ProgressReporter: at most one per
        ``spark.sql.streaming.noDataProgressEventInterval``, counted from the last idle event or
        the last batch run (the first idle check of a run that has run no batch posts one at once)."""
        now = time.monotonic()
        interval = get(self._manager.session.conf, "spark.sql.streaming.noDataProgressEventInterval") / 1000.0
        last = self._last_no_data_event
        if last is not None and now - interval < last:
            return
        self._last_no_data_event = now
        self._manager._event("onQueryIdle", _Event(id=self._id, runId=self._run_id, timestamp=_now_iso()))

    def _write_on_workers(self, batch_id: int, starts: List[str], ends: List[str]) -> Optional[List[int]]:
        """A query with one source, no transformation and a sink that writes on the workers: each
        partition read and written there (the sink's ``write_on_workers``); its input rows, or None
        when the batch goes through the host."""
        fused = getattr(self._sink, "write_on_workers", None)
        if not self._passthrough or len(self._sources) != 1 or fused is None:
            return None
        rows = fused(batch_id, self._sources[0], starts[0], ends[0], self._manager.session)
        return None if rows is None else [rows]


class StreamingQueryManager:
    """``spark.streams``."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self._active: Dict[str, StreamingQuery] = {}
        self._listeners: List[Any] = []
        self._cond = threading.Condition()
        self._terminated_one: Optional[StreamingQuery] = None

    @property
    def active(self) -> List[StreamingQuery]:
        return list(self._active.values())

    def get(self, id: str) -> Optional[StreamingQuery]:
        return self._active.get(str(id))

    def awaitAnyTermination(self, timeout: Optional[float] = None) -> Optional[bool]:
        with self._cond:
            ended = self._cond.wait_for(lambda: self._terminated_one is not None, timeout)
        q = self._terminated_one
        if q is not None and q._exception is not None:
            raise q._exception
        return None if timeout is None else bool(ended)

    def resetTerminated(self) -> None:
        with self._cond:
            self._terminated_one = None

    def addListener(self, listener: Any) -> None:
        self._listeners.append(listener)

    def removeListener(self, listener: Any) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _event(self, method: str, event: Any) -> None:
        for listener in list(self._listeners):
            try:
                getattr(listener, method)(event)
            except Exception:
                pass  # a listener's failure must not stop the query (Spark logs it)

    def _started(self, q: StreamingQuery) -> None:
        if q.name and any(a.name == q.name for a in self._active.values()):
            raise AnalysisException(f"Cannot start query with name {q.name} as a query with that name is already "
                                    "active in this SparkSession", "DUPLICATED_QUERY_NAME")
        if q.id in self._active:
            raise AnalysisException(f"Cannot start query with id {q.id} as another query with same id is already "
                                    "active. Perhaps you are attempting to restart a query from checkpoint that is "
                                    "already active.", "CONCURRENT_QUERY")
        self._active[q.id] = q
        self._event("onQueryStarted", _Event(id=q.id, runId=q.runId, name=q.name, timestamp=_now_iso()))

    def _terminated(self, q: StreamingQuery) -> None:
        self._active.pop(q.id, None)
        exc = q._exception
        self._event("onQueryTerminated", _Event(id=q.id, runId=q.runId, exception=str(exc) if exc else None,
                                                errorClassOnException=getattr(exc, "error_class", None)))
        with self._cond:
            self._terminated_one = q
            self._cond.notify_all()
