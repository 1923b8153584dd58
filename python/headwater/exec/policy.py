"""The one execution policy, for reads and writes: which executor mode runs a job's partitions,
whether its Python objects go to the worker processes (they must pickle), and when ``auto`` falls
back to threads.

- ``headwater.executor.mode`` ``inline``, ``thread`` or ``process`` is obeyed; an object that does
  not pickle, or a busy worker pool, is then an error.
- ``auto``: worker processes for more than one partition, else a thread; when what must travel to
  the workers does not pickle (a warning says which attribute) or the session's workers are busy
  with another query, threads instead. ``explain()`` shows the mode and why.

Writes have no ``inline`` mode: anything but process runs the write tasks on threads.
"""

from __future__ import annotations

import warnings
from typing import Any, List, Optional, Sequence, Tuple

import cloudpickle

from headwater.config import executor_mode
from headwater.errors import AnalysisException

__all__ = ["choose_mode", "pickle_for_workers", "unpicklable_attribute", "PICKLE_FALLBACK"]

PICKLE_FALLBACK = "auto: the reader does not pickle, so it cannot go to worker processes"


def choose_mode(conf: Any, n_partitions: int) -> Tuple[str, str, bool]:
    """(mode, why, asked for explicitly?) for a job of ``n_partitions`` partitions."""
    mode = executor_mode(conf)
    if mode != "auto":
        return mode, "set by headwater.executor.mode", True
    if n_partitions > 1:
        return "process", "auto: more than one partition, run on worker processes", False
    return "thread", "auto: a single partition", False


def unpicklable_attribute(obj: Any) -> Optional[Tuple[str, str]]:
    """The first attribute of obj that cloudpickle refuses, and why."""
    for name, value in getattr(obj, "__dict__", {}).items():
        try:
            cloudpickle.dumps(value)
        except Exception as e:
            return name, f"{type(e).__name__}: {e}"
    return None


def pickle_for_workers(objects: Sequence[Any], *, explicit: bool, what: str, source: str,
                       suspects: Sequence[Tuple[str, Any]], inside: str, instead: str) -> Optional[List[bytes]]:
    """``objects`` as cloudpickle bytes (as Spark ships them to its Python workers). When one does
    not pickle: an error naming the attribute that failed (the first of ``suspects``, each a
    ``(label, object)``) when process mode was asked for explicitly, else a warning and None (the
    job runs on threads)."""
    try:
        return [cloudpickle.dumps(o) for o in objects]
    except Exception as e:
        culprit = None
        for label, obj in suspects:
            found = unpicklable_attribute(obj) if obj is not None else None
            if found:
                culprit = f"{label}attribute '{found[0]}' ({found[1]})"
                break
        message = (
            f"The {what} of Python data source {source} cannot be pickled for worker processes: "
            f"{culprit or f'{type(e).__name__}: {e}'}. Create connections and other live objects inside {inside}()."
        )
        if explicit:
            raise AnalysisException(message, "PYTHON_DATA_SOURCE_ERROR") from e
        warnings.warn(message + f" {instead} on threads instead.")
        return None
