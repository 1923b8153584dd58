"""One use of a Python data source inside a DuckDB query: what was pushed into it, and the C scans
DuckDB starts through it.

DuckDB reads the schema through ``__arrow_c_schema__`` when the query is bound, and calls
``__arrow_c_stream__`` only when it executes, so the source is read once per action (once per
reference to it in the query, as Spark re-reads a source a query reads twice).
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

import pyarrow as pa

__all__ = ["ScanUse"]


class ScanUse:
    """A source scan as one query uses it: the columns it converts (``columns``: indices into the
    source's schema, None for all), the filters offered to ``pushFilters`` and those it returned,
    a row limit, and the scans started so far (for their failures)."""

    def __init__(self, session: Any, plan: Any, ordered: bool = True) -> None:
        self.session = session
        self.plan = plan
        self.ordered = ordered
        self.columns: Optional[List[int]] = None
        self.limit: Optional[int] = None
        self.offered: List[Tuple[Any, Any]] = []   # (Column, Spark filter)
        self.rejected: List[Any] = []
        self.reader: Any = None
        self.scans: List[Any] = []
        self.runs: List[Tuple[str, str]] = []

    # ---- planning

    def push_filters(self) -> List[Any]:
        """Makes the reader and offers it the filters (Spark's planning order); returns the filters it
        did not push."""
        self.reader = self.plan.make_reader()
        self.rejected = self.plan.push_filters(self.reader, [f for _, f in self.offered])
        return self.rejected

    @property
    def pushed(self) -> List[Any]:
        return [f for _, f in self.offered if not any(f is r for r in self.rejected)]

    def column_indices(self) -> List[int]:
        return list(self.columns) if self.columns is not None else list(range(len(self.plan.core_schema.names)))

    def column_names(self) -> List[str]:
        names = self.plan.core_schema.names
        return [names[i] for i in self.column_indices()]

    def arrow_schema(self) -> pa.Schema:
        full = pa.schema(self.plan.core_schema)
        if self.columns is None:
            return full
        return pa.schema([full.field(i) for i in self.columns])

    # ---- what DuckDB calls

    def __arrow_c_schema__(self) -> Any:
        return self.arrow_schema().__arrow_c_schema__()

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        scan, mode, why = self.plan.new_scan(
            self.session, ordered=self.ordered, reader=self.reader, columns=self.columns, limit=self.limit
        )
        self.scans.append(scan)
        self.runs.append((mode, why))
        return scan.__arrow_c_stream__(requested_schema)

    def failure_scan(self) -> Any:
        """The first scan that failed, or None."""
        for scan in self.scans:
            if scan.failure() is not None:
                return scan
        return None

    # ---- explain

    def describe(self, in_query: bool = True) -> str:
        """The scan as ``explain()`` shows it (the one place its text is built): inside a DuckDB
        query (``in_query``) with what was pushed into it; else a plain read, with the mode its
        last action ran in."""
        plan = self.plan
        reader = self.reader if self.reader is not None else plan.make_reader()
        parts = plan.make_partitions(reader)
        last = None if in_query else getattr(plan, "last_run", None)
        if self.runs:
            mode, why = self.runs[-1]
        elif last:
            mode, why = last["mode"], last["why"]
        else:
            mode, why = plan.execution_mode(len(parts))
        names = plan.core_schema.names
        converted = self.column_names()
        lines = [f"PythonDataSourceScan {plan.name} [{', '.join(converted)}]"]
        if in_query:
            pushed = [repr(f) for f in self.pushed]
            left = [repr(f) for f in self.rejected]
            lines += [
                f"  columns: {len(converted)} of {len(names)} converted"
                + ("" if len(converted) == len(names) else f" (pruned: {', '.join(n for n in names if n not in converted)})"),
                f"  pushed filters: [{', '.join(pushed)}]",
                f"  filters returned to DuckDB: [{', '.join(left)}]",
                f"  limit: {self.limit if self.limit is not None else 'none'}",
            ]
        lines += [
            f"  partitions: {len(parts)}",
            f"  execution: {mode} ({why})",
        ]
        # a source may add lines (the JDBC source: its URL without password, the backend and WHERE
        # clause of each partition)
        details = getattr(reader, "explain_details", None) or \
            getattr(getattr(plan, "source", None), "explain_details", None)
        if callable(details):
            lines.extend(details(parts))
        return "\n".join(lines)
