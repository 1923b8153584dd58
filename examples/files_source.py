"""A directory of CSV or JSON-lines files as a generic (three-method) source: one partition per
file, each parsed by pyarrow's own readers (``pyarrow.csv``, ``pyarrow.json``).

Options (strings, as Spark passes them):

path
    the directory (``load(path)`` sets it too)
format
    ``csv`` or ``json`` (JSON lines); by default taken from the first file's extension
glob
    which files, by default ``*.csv`` or ``*.jsonl`` / ``*.json`` for the format

The schema is what pyarrow infers from the first block of the first file (sorted by name), with
timestamps in microseconds as Spark holds them; every file is then read with exactly those types,
so a value that does not fit is an error that names the file (it is in the partition spec).

Run it::

    import headwater
    df = headwater.read_python("files_source:FilesSource", path="/data/orders", format="csv")
"""

from __future__ import annotations

import fnmatch
import glob as globmod
import os
from typing import Any, Dict, Iterator, List

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson

_PATTERNS = {"csv": ("*.csv",), "json": ("*.jsonl", "*.json", "*.ndjson")}


def _format(options: Dict[str, str], files: List[str]) -> str:
    fmt = (options.get("format") or "").lower()
    if fmt in ("jsonl", "ndjson", "json-lines"):
        fmt = "json"
    if fmt:
        if fmt not in _PATTERNS:
            raise ValueError(f"format must be csv or json, got {options.get('format')!r}")
        return fmt
    for f in files:
        for name, patterns in _PATTERNS.items():
            if any(fnmatch.fnmatch(os.path.basename(f), p) for p in patterns):
                return name
    raise ValueError("cannot tell the format from the file names: set the option format to csv or json")


def _files(options: Dict[str, str]) -> List[str]:
    directory = options.get("path")
    if not directory:
        raise ValueError("the option path (a directory) is required")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"not a directory: {directory}")
    patterns = [options["glob"]] if options.get("glob") else None
    if patterns is None:
        fmt = (options.get("format") or "").lower()
        patterns = list(_PATTERNS.get("json" if fmt in ("jsonl", "ndjson", "json-lines") else fmt,
                                      _PATTERNS["csv"] + _PATTERNS["json"]))
    found = sorted({f for p in patterns for f in globmod.glob(os.path.join(directory, p)) if os.path.isfile(f)})
    if not found:
        raise FileNotFoundError(f"no files matching {patterns} in {directory}")
    return found


def _micros(schema: pa.Schema) -> pa.Schema:
    """Timestamps in microseconds (Spark's unit), keeping their time zone."""
    fields = []
    for f in schema:
        if pa.types.is_timestamp(f.type) and f.type.unit != "us":
            f = f.with_type(pa.timestamp("us", tz=f.type.tz))
        fields.append(f)
    return pa.schema(fields)


def _infer(path: str, fmt: str) -> pa.Schema:
    """The schema pyarrow infers from the file's first block (the streaming readers read no more)."""
    if fmt == "csv":
        with pacsv.open_csv(path) as reader:
            return _micros(reader.schema)
    with pajson.open_json(path) as reader:
        return _micros(reader.schema)


class FilesSource:
    """One partition per file."""

    def infer_schema(self, options: Dict[str, str]) -> pa.Schema:
        files = _files(options)
        return _infer(files[0], _format(options, files))

    def plan_partitions(self, options: Dict[str, str]) -> List[Dict[str, Any]]:
        files = _files(options)
        fmt = _format(options, files)
        # the first file travels in every spec: read_partition infers the same schema from it
        return [{"file": f, "format": fmt, "schema_from": files[0]} for f in files]

    def read_partition(self, spec: Dict[str, Any], options: Dict[str, str]) -> Iterator[pa.RecordBatch]:
        schema = _infer(spec["schema_from"], spec["format"])
        if spec["format"] == "csv":
            table = pacsv.read_csv(
                spec["file"],
                convert_options=pacsv.ConvertOptions(column_types=schema, include_columns=schema.names),
            )
        else:
            table = pajson.read_json(
                spec["file"],
                parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
            )
        yield from table.select(schema.names).to_batches()


if __name__ == "__main__":
    import sys
    import tempfile

    import headwater

    with tempfile.TemporaryDirectory() as d:
        for i in range(3):
            with open(os.path.join(d, f"part-{i}.csv"), "w") as f:
                f.write("id,city,temp\n" + "".join(f"{i * 10 + j},city-{j},{20 + j * 0.5}\n" for j in range(5)))
        df = headwater.read_python("files_source:FilesSource", path=sys.argv[1] if len(sys.argv) > 1 else d)
        df.printSchema()
        df.show()
