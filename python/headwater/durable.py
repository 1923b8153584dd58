"""Making a written file survive a power loss, not only a killed process.

A rename or link is durable only once the file's data and the directory entry both reach the disk:
``fsync`` the file before it gets its final name, then ``fsync`` the directory that holds the name.
Checkpoint, sink-log and state files all follow that order.
"""

from __future__ import annotations

import os

__all__ = ["fsync_dir", "fsync_file"]


def fsync_file(path: str) -> None:
    """Flush ``path``'s data to disk (call before renaming or linking it into place)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: str) -> None:
    """Flush ``folder``'s entries to disk (call after a rename, link or unlink in it)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
