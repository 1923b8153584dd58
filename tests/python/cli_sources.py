"""Data sources for the `headwater` command's tests (imported with --import cli_sources)."""

import time

from headwater.datasource import DataSource, DataSourceReader, InputPartition


class CountPartition(InputPartition):
    def __init__(self, index, start, stop):
        self.index, self.start, self.stop = index, start, stop


class CountSource(DataSource):
    """rows (default 10) rows of (id, name, twice) in `partitions` partitions; fail_at: the id at
    which read() raises; sleep_ms: a pause per partition (a long read, for the progress bar);
    arrow=true: each partition yielded as one RecordBatch."""

    @classmethod
    def name(cls):
        return "cli_count"

    def schema(self):
        return "id BIGINT, name STRING, twice BIGINT"

    def reader(self, schema):
        return CountReader(self.options)


class CountReader(DataSourceReader):
    def __init__(self, options):
        self.rows = int(options.get("rows", "10"))
        self.n = int(options.get("partitions", "2"))
        self.fail_at = int(options.get("fail_at", "-1"))
        self.sleep = int(options.get("sleep_ms", "0")) / 1000.0
        self.arrow = options.get("arrow") == "true"  # yield each partition as one RecordBatch

    def partitions(self):
        step = -(-self.rows // self.n) if self.rows else 0
        return [CountPartition(i, i * step, min(self.rows, (i + 1) * step)) for i in range(self.n)]

    def read(self, p):
        if self.sleep:
            time.sleep(self.sleep)
        if self.arrow:
            import pyarrow as pa

            ids = list(range(p.start, p.stop))
            yield pa.record_batch({"id": pa.array(ids, pa.int64()), "name": [f"n{i}" for i in ids],
                                   "twice": pa.array([2 * i for i in ids], pa.int64())})
            return
        for i in range(p.start, p.stop):
            if i == self.fail_at:
                raise ValueError(f"boom at {i}")
            yield (i, f"n{i}", 2 * i)
