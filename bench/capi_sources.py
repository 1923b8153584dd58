"""Sources for bench/capi.py: many small RecordBatches (per-batch overhead), and partitions that
wait (releasing the GIL, as a network read does) or compute (holding it)."""

import time

import pyarrow as pa

from headwater.datasource import DataSource, DataSourceReader, InputPartition

_BATCH = pa.RecordBatch.from_pydict({"id": pa.array([1], pa.int64())})


class Batches(DataSource):
    """``partitions`` x ``batches`` one-row RecordBatches; ``wait_ms`` sleeps before each batch,
    ``spin`` loops in Python before each batch."""

    @classmethod
    def name(cls):
        return "capi_bench"

    def schema(self):
        return "id BIGINT"

    def reader(self, schema):
        return Reader(int(self.options.get("partitions", "1")), int(self.options.get("batches", "1000")),
                      float(self.options.get("wait_ms", "0")), int(self.options.get("spin", "0")))


class Reader(DataSourceReader):
    def __init__(self, partitions, batches, wait_ms, spin):
        self.n, self.batches, self.wait, self.spin = partitions, batches, wait_ms / 1000, spin

    def partitions(self):
        return [InputPartition(i) for i in range(self.n)]

    def read(self, partition):
        for _ in range(self.batches):
            if self.wait:
                time.sleep(self.wait)
            for _ in range(self.spin):
                pass
            yield _BATCH
