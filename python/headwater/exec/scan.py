"""Draining a C scan and mapping its failure to headwater's exceptions.

A scan (``headwater._core.Scan``) is an Arrow stream; when it stops on an error, ``scan.failure()``
says what stopped it (the error class, the partition, row and column, and the source's own
exception or, from a worker process, its traceback). Every consumer of a scan (a DataFrame
action, DuckDB through :mod:`headwater.query.engine`, a write task) raises through
:func:`raise_failure`, so a failure reads the same wherever the scan was consumed.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable, Iterator, Optional

import pyarrow as pa

from headwater.errors import PythonException, _from_core

__all__ = ["raise_failure", "batches", "drain"]


def raise_failure(scan: Any, original: Optional[BaseException]) -> None:
    """Raise the headwater exception for a failed scan (what stopped it, with the source's own
    traceback when the source raised); re-raise ``original`` when the scan did not fail."""
    failure = scan.failure()
    if failure is None:
        if original is not None:
            raise original
        return
    error_class, message, partition, row, column, exc, traceback_text = failure
    if exc is not None and not isinstance(exc, Exception):
        raise exc  # KeyboardInterrupt, SystemExit: not the source's error, never wrapped
    if error_class == "HW_CANCELLED":
        raise KeyboardInterrupt(message)
    if exc is not None:
        tb = "".join(traceback.format_exception(exc))
        err = PythonException(
            f"An exception was thrown from the Python data source in partition {partition}:\n{tb}",
            getattr(exc, "error_class", None),  # a headwater/Spark error raised by the source keeps its class
            partition=partition,
        )
        raise err from exc
    if traceback_text:  # raised by the source's code in a worker process
        raise PythonException(
            f"An exception was thrown from the Python data source in partition {partition} "
            f"(in a worker process):\n{traceback_text}",
            error_class if error_class not in ("PYTHON_EXCEPTION", "") else None,
            partition=partition,
            row=None if row < 0 else row,
            column=None if column < 0 else column,
        ) from None
    err = _from_core(error_class, message, partition, row, column)
    if not isinstance(err, PythonException):
        err = PythonException(message, error_class or None, partition=err.partition, row=err.row, column=err.column)
    raise err from None


def batches(scan: Any) -> Iterator[pa.RecordBatch]:
    """The batches of a C scan; failures raise headwater's exceptions."""
    reader = pa.RecordBatchReader.from_stream(scan)
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            yield batch
            del batch  # a traceback through this frame must not keep shared memory alive
    except (pa.ArrowException, OSError) as e:
        raise_failure(scan, e)
    finally:
        reader.close()


def drain(scan: Any, consume: Callable[[pa.RecordBatchReader], Any]) -> Any:
    """consume(reader) over a C scan's stream; failures raise headwater's exceptions."""
    reader = pa.RecordBatchReader.from_stream(scan)
    try:
        return consume(reader)
    except (pa.ArrowException, OSError) as e:
        raise_failure(scan, e)
    finally:
        reader.close()
