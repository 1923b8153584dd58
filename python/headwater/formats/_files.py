"""Paths of the built-in file formats: which files a read sees, and atomic output directories.

Reads see every file under the given paths except hidden ones: names starting with ``.`` or ``_``
(as Spark/Hadoop), so ``_SUCCESS``, checksum files and the temporary directories of writes in
progress are never read.

A write goes to a hidden temporary directory next to the target (same file system, so renames are
atomic) and is renamed into place at commit:

- the target does not exist: one ``rename`` of the temporary directory;
- ``overwrite``: the temporary directory and the target are exchanged in one ``renameat2(...,
  RENAME_EXCHANGE)`` call (Linux), then the old contents are removed; where the exchange is not
  available, two renames;
- ``append``: each part file is renamed into the target (each rename is atomic, the set is not).

Abort removes the temporary directory. A process killed mid-write leaves its hidden temporary
directory behind (named after the target and the writing process's pid); the next write to the same
target removes those whose process is gone.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import json
import os
import shutil
import uuid
from typing import List

from headwater.errors import AnalysisException, IllegalArgumentException
from headwater.formats._sinklog import committed_files

__all__ = ["input_paths", "list_files", "OutputDir", "qualified", "target_path", "spark_error"]

_TMP = ".hw-tmp-"  # .<target name>.hw-tmp-<pid>-<uuid>
_OLD = ".hw-old-"  # .<target name>.hw-old-<pid>-<uuid>: a replaced target being removed


def spark_error(err: Exception) -> Exception:
    """Marks an error of a built-in format as Spark's own (class and words): planning raises it as
    it is instead of wrapping it in PYTHON_DATA_SOURCE_ERROR as for a user's source."""
    err.spark_error = True  # type: ignore[attr-defined]
    return err


def qualified(path: str) -> str:
    """The path as Spark shows it in messages: ``file:/absolute/path``."""
    return "file:" + os.path.abspath(path)


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("_")


def input_paths(options: dict) -> List[str]:
    """The paths of a read: ``load(path)`` gives the option ``path``, ``load([p, q])`` the option
    ``paths`` (a JSON array)."""
    paths: List[str] = []
    if options.get("paths"):
        paths.extend(json.loads(options["paths"]))
    if options.get("path"):
        paths.append(options["path"])
    return paths  # none: no files, and so Spark's UNABLE_TO_INFER_SCHEMA


def list_files(paths: List[str]) -> List[str]:
    """The data files under ``paths`` (files, directories read recursively, glob patterns), each
    path's files sorted by name, hidden files left out; a missing path is Spark's ``PATH_NOT_FOUND``.
    A directory holding a file sink's ``_spark_metadata`` log gives the files the log names, as Spark."""
    files: List[str] = []
    for path in paths:
        matches = sorted(glob.glob(path)) if glob.has_magic(path) else [path]
        if not matches or not all(os.path.exists(m) for m in matches):
            raise spark_error(AnalysisException(f"Path does not exist: {qualified(path)}.", "PATH_NOT_FOUND"))
        for m in matches:
            logged = committed_files(m) if not glob.has_magic(path) else None
            if logged is not None:  # a file stream sink's output: only the files its log committed
                files.extend(logged)
            elif os.path.isdir(m):
                found = []
                for root, dirs, names in os.walk(m):
                    dirs[:] = [d for d in dirs if not _hidden(d)]
                    found.extend(os.path.join(root, n) for n in names if not _hidden(n))
                files.extend(sorted(found))
            else:
                files.append(m)
    return files


def target_path(options: dict) -> str:
    path = options.get("path")
    if not path:
        raise spark_error(IllegalArgumentException("'path' is not specified.", "_LEGACY_ERROR_TEMP_2047"))  # Spark's
    return os.path.abspath(path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale(target: str) -> List[str]:
    """Removes the temporary directories of writes to ``target`` whose process is gone (killed
    mid-write); returns what was removed."""
    parent, base = os.path.split(target)
    removed = []
    for kind in (_TMP, _OLD):
        for d in glob.glob(os.path.join(glob.escape(parent), glob.escape("." + base) + kind + "*")):
            pid_text = os.path.basename(d)[len(base) + 1 + len(kind):].split("-", 1)[0]
            if pid_text.isdigit() and int(pid_text) != os.getpid() and not _pid_alive(int(pid_text)):
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d)
    return removed


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: str, b: str) -> bool:
    """Swaps two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), a)


class OutputDir:
    """The temporary directory of one write and its commit into the target.

    Created lazily by the first partition that writes (so a write that fails before any partition
    ran leaves nothing); ``commit`` publishes, ``abort`` removes."""

    def __init__(self, target: str) -> None:
        self.target = target
        parent, base = os.path.split(target)
        self.parent = parent
        self.job = str(uuid.uuid4())
        self.tmp = os.path.join(parent, f".{base}{_TMP}{os.getpid()}-{self.job}")
        remove_stale(target)

    def part_path(self, index: int, ext: str) -> str:
        """``part-00003-<job uuid>-c000.<ext>`` in the temporary directory (created if needed)."""
        os.makedirs(self.tmp, exist_ok=True)
        return os.path.join(self.tmp, f"part-{index:05d}-{self.job}-c000{ext}")

    def commit(self, overwrite: bool) -> None:
        os.makedirs(self.tmp, exist_ok=True)
        open(os.path.join(self.tmp, "_SUCCESS"), "wb").close()
        if not os.path.lexists(self.target):
            try:
                os.rename(self.tmp, self.target)
                return
            except OSError as e:  # created meanwhile by someone else: handled below
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                    raise
        if overwrite:
            if _exchange(self.tmp, self.target):
                _remove(self.tmp)  # now the old contents (a directory, or a file the target was)
                return
            old = os.path.join(self.parent, f".{os.path.basename(self.target)}{_OLD}{os.getpid()}-{self.job}")
            os.rename(self.target, old)
            os.rename(self.tmp, self.target)
            _remove(old)
            return
        if not os.path.isdir(self.target):
            raise spark_error(AnalysisException(
                f"Cannot append to {qualified(self.target)}: it exists and is not a directory.", "PATH_ALREADY_EXISTS"
            ))
        for name in sorted(os.listdir(self.tmp), key=lambda n: (n == "_SUCCESS", n)):  # _SUCCESS last
            os.replace(os.path.join(self.tmp, name), os.path.join(self.target, name))
        os.rmdir(self.tmp)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)
