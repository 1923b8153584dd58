"""File stream sources (``readStream.format("parquet"|"csv"|"json"|"arrow").load(dir)``), as Spark's
FileStreamSource: files that appear in the directory become new micro-batches (oldest first, at
most ``maxFilesPerTrigger`` a batch); each batch's files are logged in the checkpoint's
``sources/<i>/<logOffset>`` in Spark's format (``v1`` then one ``{"path","timestamp","batchId"}``
JSON per file), so a restart knows what it has seen and re-reads a batch's exact files. The
offset is Spark's ``{"logOffset": N}``. Files are read with the batch format's own reader."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any, Dict, Iterator, List, Optional

import pyarrow as pa

from headwater.datasource import DataSourceStreamReader, InputPartition
from headwater.errors import AnalysisException, IllegalArgumentException
from headwater.formats._files import input_paths, list_files, spark_error
from headwater.formats._sinklog import file_uri

__all__ = ["FileStreamReader", "schema_required"]


def schema_required() -> Exception:
    """Spark's error for a file stream without a schema (spark.sql.streaming.schemaInference off)."""
    return spark_error(IllegalArgumentException(
        "Schema must be specified when creating a streaming source DataFrame. If some files already exist in "
        "the directory, then depending on the file format you may be able to create a static DataFrame on that "
        "directory with 'spark.read.load(directory)' and infer schema from it.", "_LEGACY_ERROR_TEMP_2048"))


class FileStreamReader(DataSourceStreamReader):
    def __init__(self, fmt: type, schema: pa.Schema, options: Dict[str, str], batch_rows: int) -> None:
        self.fmt, self.arrow_schema, self.options, self.batch_rows = fmt, schema, options, batch_rows
        text = options.get("maxfilespertrigger")
        self.max_files: Optional[int] = None
        if text is not None:
            try:
                self.max_files = int(text)
            except ValueError:
                self.max_files = 0
            if self.max_files <= 0:
                raise spark_error(IllegalArgumentException(
                    f"Invalid value '{text}' for option 'maxFilesPerTrigger', must be a positive integer",
                    "_LEGACY_ERROR_TEMP_2141"))
        self.log_dir: Optional[str] = None
        self.batches: Dict[int, List[str]] = {}  # logOffset -> files
        self.seen: set = set()

    def _hw_attach_checkpoint(self, source_dir: str) -> None:
        """Loads the files seen by earlier runs from the checkpoint's source log."""
        self.log_dir = source_dir
        for name in os.listdir(source_dir):
            if not name.isdigit():
                continue
            with open(os.path.join(source_dir, name), encoding="utf-8") as f:
                lines = f.read().split("\n")
            if lines[0] != "v1":
                raise AnalysisException(f"The file source log {source_dir}/{name} is not in a known format",
                                        "HW_CHECKPOINT_CORRUPT")
            files = [json.loads(line)["path"] for line in lines[1:] if line.strip()]
            self.batches[int(name)] = [f[len("file://"):] if f.startswith("file://") else f for f in files]
            self.seen.update(self.batches[int(name)])

    def _last(self) -> int:
        return max(self.batches) if self.batches else -1

    def initialOffset(self) -> dict:
        return {"logOffset": -1}

    def latestOffset(self, start: Optional[dict] = None, limit: Any = None) -> dict:
        new = []
        for path in list_files(input_paths(self.options)):
            if os.path.abspath(path) not in self.seen:
                new.append((os.path.getmtime(path), os.path.abspath(path)))
        new.sort()
        if self.max_files is not None:
            new = new[: self.max_files]
        if new:
            batch = self._last() + 1
            files = [p for _, p in new]
            self._log(batch, new)
            self.batches[batch] = files
            self.seen.update(files)
        return {"logOffset": self._last()}

    def _log(self, batch: int, entries: List[tuple]) -> None:
        if self.log_dir is None:
            return
        text = "\n".join(["v1"] + [json.dumps({"path": file_uri(p), "timestamp": int(m * 1000), "batchId": batch},
                                              separators=(",", ":")) for m, p in entries])
        tmp = os.path.join(self.log_dir, f".{batch}.{uuid.uuid4()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, os.path.join(self.log_dir, str(batch)))  # never overwrites a logged batch
        finally:
            os.unlink(tmp)

    def partitions(self, start: dict, end: dict) -> List[InputPartition]:
        lo = int((start or {"logOffset": -1})["logOffset"])
        hi = int(end["logOffset"])
        return [InputPartition(f) for b in range(lo + 1, hi + 1) for f in self.batches.get(b, [])]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        return self.fmt.read_file(partition.value, self.arrow_schema, self.options, self.batch_rows)
