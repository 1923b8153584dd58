"""The ``parquet`` format, read and written by pyarrow."""

from __future__ import annotations

from typing import Dict, Iterator, List

import pyarrow as pa

from headwater import _core
from headwater.arrowtypes import spark_schema
from headwater.errors import IllegalArgumentException
from headwater.formats._base import FileFormat
from headwater.formats._files import spark_error

__all__ = ["Parquet"]

_SPARK_SCHEMA_KEY = b"org.apache.spark.sql.parquet.row.metadata"  # Spark stores its schema here
_CODEC_EXT = {"none": "", "uncompressed": "", "snappy": ".snappy", "gzip": ".gz", "zstd": ".zstd",
              "lz4": ".lz4", "brotli": ".br"}


class Parquet(FileFormat):
    """Parquet files: the schema from the first file (Spark's own schema when Spark wrote it), one
    partition per file; writes ``part-NNNNN-<uuid>-c000.snappy.parquet`` (option ``compression``:
    snappy (default), gzip, zstd, lz4, brotli, none)."""

    label = "Parquet"

    def file_extension(self) -> str:
        codec = self._codec(self._options())
        return _CODEC_EXT[codec] + ".parquet"

    @staticmethod
    def _codec(options: Dict[str, str]) -> str:
        codec = (options.get("compression") or "snappy").lower()
        if codec not in _CODEC_EXT:
            raise spark_error(IllegalArgumentException(
                f"Codec [{codec}] is not available. Available codecs are {', '.join(sorted(_CODEC_EXT))}.",
                "CODEC_NOT_AVAILABLE",
            ))
        return codec

    def infer(self, files: List[str]) -> pa.Schema:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(files[0], coerce_int96_timestamp_unit="us")
        arrow = pf.schema_arrow
        spark_json = (arrow.metadata or {}).get(_SPARK_SCHEMA_KEY)
        if spark_json:
            return pa.schema(_core.schema_from_json(spark_json.decode()))
        out = spark_schema(arrow)
        # INT96 is how Spark writes TIMESTAMP (UTC instants) by default; pyarrow reads it zone-less
        for i, name in enumerate(arrow.names):
            col = pf.schema.column(i) if i < len(pf.schema) else None
            if col is not None and col.name == name and col.physical_type == "INT96":
                out = out.set(i, pa.field(name, pa.timestamp("us", "UTC")))
        return out

    @classmethod
    def read_file(cls, path: str, schema: pa.Schema, options: Dict[str, str],
                  batch_rows: int) -> Iterator[pa.RecordBatch]:
        import pyarrow.dataset as ds

        fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(coerce_int96_timestamp_unit="us"))
        # the dataset matches columns by name and casts to the schema's types while it scans (C++)
        return ds.dataset(path, schema=schema, format=fmt).to_batches(batch_size=batch_rows)

    @classmethod
    def write_file(cls, path: str, schema: pa.Schema, batches: Iterator[pa.RecordBatch],
                   options: Dict[str, str]) -> None:
        import pyarrow.parquet as pq

        with pq.ParquetWriter(path, schema, compression=cls._codec(options)) as writer:
            for batch in batches:  # one call per batch: the encoding runs in C++
                writer.write_batch(batch)
