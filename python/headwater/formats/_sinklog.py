"""The log of a file stream sink, in Spark's FileStreamSinkLog format: ``<dir>/_spark_metadata/<N>``
holds batch N's committed files (``v1`` then one SinkFileStatus JSON per line); ``<N>.compact``
holds every file up to N (Spark writes those; we read them). A directory with this log is read
as the files the log names, never as what is lying in it: files of a batch that crashed before
its log entry was written stay invisible, to headwater's readers as to Spark's.

Entries are written once: a temp file, fsync, ``link`` to the final name (which fails if the
batch is already there, so an entry is never overwritten), fsync of the directory.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import List, Optional
from urllib.parse import quote, unquote, urlparse

from headwater.errors import AnalysisException

__all__ = ["METADATA_DIR", "has_log", "committed_files", "batch_committed", "commit_batch", "file_uri"]

METADATA_DIR = "_spark_metadata"
VERSION = "v1"
_ENTRY = re.compile(r"^(\d+)(\.compact)?$")


def has_log(path: str) -> bool:
    return os.path.isdir(os.path.join(path, METADATA_DIR))


def file_uri(path: str) -> str:
    """A local path as Spark's file sink logs it (``file:///abs/path``, percent-encoded)."""
    return "file://" + quote(os.path.abspath(path))


def _local(uri: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise AnalysisException(f"The file sink log names a file that is not local: {uri}", "HW_UNSUPPORTED")
    return unquote(parsed.path)


def _entries(log: str) -> List[tuple]:
    found = []
    for name in os.listdir(log):
        m = _ENTRY.match(name)
        if m:
            found.append((int(m.group(1)), bool(m.group(2)), name))
    return sorted(found)


def _read_entry(path: str) -> List[dict]:
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if not lines or lines[0].strip() != VERSION:
        raise AnalysisException(f"The file sink log entry {path} is not in a known format "
                                f"(first line {lines[0][:20]!r}, expected {VERSION!r})", "HW_SINK_LOG_CORRUPT")
    return [json.loads(line) for line in lines[1:] if line.strip()]


def committed_files(path: str) -> Optional[List[str]]:
    """The files the sink log of directory ``path`` holds (sorted), or None without a log."""
    log = os.path.join(path, METADATA_DIR)
    if not os.path.isdir(log):
        return None
    entries = _entries(log)
    compacts = [e for e in entries if e[1]]
    start = compacts[-1][0] if compacts else -1
    files: dict = {}
    for batch, compact, name in entries:
        if batch < start or (batch == start and not compact):
            continue
        for status in _read_entry(os.path.join(log, name)):
            local = _local(status["path"])
            if status.get("action", "add") == "delete":
                files.pop(local, None)
            else:
                files[local] = status
    return sorted(files)


def batch_committed(path: str, batch_id: int) -> bool:
    log = os.path.join(path, METADATA_DIR)
    return os.path.exists(os.path.join(log, str(batch_id))) or os.path.exists(
        os.path.join(log, f"{batch_id}.compact"))


def commit_batch(path: str, batch_id: int, files: List[str]) -> bool:
    """Writes ``_spark_metadata/<batch_id>`` naming ``files`` (absolute paths); False (and nothing
    written) if the batch is already logged."""
    log = os.path.join(path, METADATA_DIR)
    os.makedirs(log, exist_ok=True)
    lines = [VERSION]
    for f in files:
        st = os.stat(f)
        lines.append(json.dumps({"path": file_uri(f), "size": st.st_size, "isDir": False,
                                 "modificationTime": int(st.st_mtime * 1000), "blockReplication": 1,
                                 "blockSize": 33554432, "action": "add"}, separators=(",", ":")))
    final = os.path.join(log, str(batch_id))
    tmp = os.path.join(log, f".{batch_id}.{uuid.uuid4()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, "\n".join(lines).encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, final)
        committed = True
    except FileExistsError:
        committed = False
    finally:
        os.unlink(tmp)
    dfd = os.open(log, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return committed
