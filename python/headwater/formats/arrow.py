"""The ``arrow`` format: Arrow IPC files, read and written by pyarrow.

Spark has no such format; headwater lays it out as its other file formats: a directory of
``part-NNNNN-<uuid>-c000.arrow`` files in the IPC *file* format (random access, with a footer),
one per written partition. Reads accept such directories and single ``.arrow``/Feather v2 files."""

from __future__ import annotations

from typing import Dict, Iterator, List

import pyarrow as pa

from headwater.arrowtypes import spark_schema
from headwater.formats._base import FileFormat

__all__ = ["Arrow"]


class Arrow(FileFormat):
    """Arrow IPC files: the schema from the first file, one partition per file."""

    label = "Arrow"
    extension = ".arrow"

    def infer(self, files: List[str]) -> pa.Schema:
        with pa.memory_map(files[0]) as source:
            return spark_schema(pa.ipc.open_file(source).schema)

    @classmethod
    def read_file(cls, path: str, schema: pa.Schema, options: Dict[str, str],
                  batch_rows: int) -> Iterator[pa.RecordBatch]:
        import pyarrow.dataset as ds

        return ds.dataset(path, schema=schema, format="ipc").to_batches(batch_size=batch_rows)

    @classmethod
    def write_file(cls, path: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch],
                   options: Dict[str, str]) -> None:
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
