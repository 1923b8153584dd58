"""A streaming query's checkpoint, in Spark's layout and file formats (``MicroBatchExecution``'s
``OffsetSeqLog`` and ``CommitLog``), so the files mean the same thing to both engines:

    metadata        {"id":"<query id>"}
    offsets/N       v1 / {"batchWatermarkMs":0,"batchTimestampMs":...,"conf":{...}} / one offset line per source
    commits/N       v1 / {"nextBatchWatermarkMs":0}
    sources/<i>/    (a built-in source's own state), sinks/0/ likewise

Every file is written once, atomically (temp file, fsync, rename, fsync of the directory); a
second run on the same checkpoint is refused while the first holds ``.hw-lock`` (flock).

``commits/N`` is written by a thread while the engine plans batch N+1 (its ``latestOffset`` and
``offsets/N+1``), so its two fsyncs overlap that work instead of adding to it. Exactly-once still
holds across SIGKILL and power loss, because a lost ``commits/N`` only ever makes a restart re-run a
batch whose sink commit already happened, which the protocol already allows (a crash between the
sink's ``commit(N)`` and ``commits/N`` is the same case; sinks commit idempotently by batch id):
- lost with no durable ``offsets/N+1``: batch N re-runs with the same offsets (``offsets/N`` was
  durable before it ran); the source still has its rows, since ``commit`` of N's end is only called
  after ``offsets/N+1`` is durable;
- lost with ``offsets/N+1`` durable: the restart re-runs N+1 from ``offsets/N`` (Spark does the
  same with a commit log that trails by more than one);
- ``offsets/N+1`` is still written synchronously (durable before the source's commit and before
  batch N+1 runs), and at most one commit is in flight: the next ``write_commit``, an idle query
  (``processAllAvailable``) and ``close`` wait for it, and report its failure.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import uuid
from typing import Any, Dict, List, Optional, Tuple

from headwater.errors import AnalysisException

__all__ = ["Checkpoint"]

#: The conf Spark 4.3 writes into each offsets file (its values for a Python source; shuffle partitions:
#: Spark's default).
_SPARK_CONF = {
    "spark.sql.dropDuplicates.deterministicKeyOrder.enabled": "true",
    "spark.sql.function.protobufExtensions.enabled": "false",
    "spark.sql.optimizer.pruneFiltersCanPruneStreamingSubplan": "false",
    "spark.sql.shuffle.partitions": "200",
    "spark.sql.streaming.aggregation.stateFormatVersion": "2",
    "spark.sql.streaming.flatMapGroupsWithState.stateFormatVersion": "2",
    "spark.sql.streaming.join.stateFormatVersion": "2",
    "spark.sql.streaming.multipleWatermarkPolicy": "min",
    "spark.sql.streaming.queryEvolution.enableSourceEvolution": "false",
    "spark.sql.streaming.stateStore.compression.codec": "lz4",
    "spark.sql.streaming.stateStore.encodingFormat": "unsaferow",
    "spark.sql.streaming.stateStore.providerClass":
        "org.apache.spark.sql.execution.streaming.state.HDFSBackedStateStoreProvider",
    "spark.sql.streaming.stateStore.rocksdb.formatVersion": "5",
    "spark.sql.streaming.stateStore.rocksdb.mergeOperatorVersion": "2",
    "spark.sql.streaming.stateStore.rowChecksum.enabled": "false",
    "spark.sql.streaming.statefulOperator.alwaysNullableOutput.enabled": "true",
    "spark.sql.streaming.statefulOperator.useStrictDistribution": "true",
}


def _write_once(path: str, text: str) -> None:
    """Atomic, durable, never overwriting (a concurrent writer of the same batch loses)."""
    folder = os.path.dirname(path)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)  # fails if the file exists: never overwritten
    except FileExistsError:
        raise AnalysisException(f"Checkpoint file {path} exists already: another run wrote this batch.",
                                "CONCURRENT_QUERY") from None
    finally:
        os.unlink(tmp)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _batch_ids(folder: str) -> List[int]:
    if not os.path.isdir(folder):
        return []
    return sorted(int(n) for n in os.listdir(folder) if n.isdigit())


class Checkpoint:
    """One checkpoint directory, locked for the life of a run."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._in_flight: Optional[threading.Thread] = None  # the commits/N being written
        self._in_flight_error: Optional[BaseException] = None
        for sub in ("offsets", "commits"):
            os.makedirs(os.path.join(self.root, sub), exist_ok=True)
        self._lock_fd: Optional[int] = os.open(os.path.join(self.root, ".hw-lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise AnalysisException(
                f"Another streaming query is running on checkpoint {self.root}; two runs on one checkpoint "
                "at once are not allowed.", "CONCURRENT_QUERY") from None
        meta = os.path.join(self.root, "metadata")
        if os.path.exists(meta):
            with open(meta, encoding="utf-8") as f:
                self.id = json.loads(f.readline())["id"]
        else:
            self.id = str(uuid.uuid4())
            _write_once(meta, json.dumps({"id": self.id}) + "\n")

    def close(self) -> None:
        """Waits for the commit in flight (raising its failure), then releases the lock."""
        try:
            self.flush()
        finally:
            self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def dir_for(self, kind: str, index: int) -> str:
        path = os.path.join(self.root, kind, str(index))
        os.makedirs(path, exist_ok=True)
        return path

    # ---- logs

    def last_offsets(self) -> Optional[Tuple[int, List[Optional[str]]]]:
        """(batch id, offset JSON per source) of the newest offsets file."""
        ids = _batch_ids(os.path.join(self.root, "offsets"))
        if not ids:
            return None
        return ids[-1], self.offsets(ids[-1])

    def offsets(self, batch_id: int) -> List[Optional[str]]:
        with open(os.path.join(self.root, "offsets", str(batch_id)), encoding="utf-8") as f:
            lines = f.read().splitlines()
        if not lines or lines[0] != "v1":
            raise AnalysisException(f"Unsupported offsets log version in {self.root}/offsets/{batch_id}: "
                                    f"{lines[:1]}", "INVALID_LOG_VERSION.UNSUPPORTED")
        return [None if line == "-" else line for line in lines[2:]]

    def committed(self, batch_id: int) -> bool:
        self.flush()
        return os.path.exists(os.path.join(self.root, "commits", str(batch_id)))

    def last_commit(self) -> Optional[int]:
        self.flush()
        ids = _batch_ids(os.path.join(self.root, "commits"))
        return ids[-1] if ids else None

    def write_offsets(self, batch_id: int, offsets: List[Optional[str]], timestamp_ms: int,
                      conf: Optional[Dict[str, Any]] = None, watermark_ms: int = 0) -> None:
        meta = {"batchWatermarkMs": watermark_ms, "batchTimestampMs": timestamp_ms, "conf": conf or _SPARK_CONF}
        lines = ["v1", json.dumps(meta, separators=(",", ":"))] + ["-" if o is None else o for o in offsets]
        _write_once(os.path.join(self.root, "offsets", str(batch_id)), "\n".join(lines))

    def write_commit(self, batch_id: int, watermark_ms: int = 0) -> None:
        """``commits/N`` (with the watermark the next batch uses), written and made durable by a
        thread (see the module's note); the previous one is waited for first."""
        self.flush()
        path = os.path.join(self.root, "commits", str(batch_id))
        text = "v1\n" + json.dumps({"nextBatchWatermarkMs": watermark_ms}, separators=(",", ":"))
        self._in_flight = threading.Thread(target=self._write_in_background, args=(path, text),
                                           name=f"checkpoint-commit-{batch_id}", daemon=True)
        self._in_flight.start()

    def _write_in_background(self, path: str, text: str) -> None:
        try:
            _write_once(path, text)
        except BaseException as e:  # noqa: BLE001 -- raised by flush() in the engine's thread
            self._in_flight_error = e

    def flush(self) -> None:
        """Waits until the commit in flight is durable; raises its failure."""
        thread, self._in_flight = self._in_flight, None
        if thread is None:
            return
        thread.join()
        error, self._in_flight_error = self._in_flight_error, None
        if error is not None:
            raise error

    def metadata(self, kind: str, batch_id: int) -> Dict[str, Any]:
        """The JSON line of ``offsets/N`` or ``commits/N`` (the watermarks a restart resumes with)."""
        if kind == "commits":
            self.flush()
        with open(os.path.join(self.root, kind, str(batch_id)), encoding="utf-8") as f:
            lines = f.read().splitlines()
        return json.loads(lines[1]) if len(lines) > 1 else {}
