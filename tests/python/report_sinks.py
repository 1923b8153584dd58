"""Sinks for the write run report's tests: a plain writer and an Arrow writer that spend a known
time in their own code, and tell what they got in their commit message."""

import time

from headwater.datasource import DataSource, DataSourceArrowWriter, DataSourceWriter, WriterCommitMessage


class Got(WriterCommitMessage):
    def __init__(self, rows, items):
        self.rows, self.items = rows, items


class RowSink(DataSourceWriter):
    def __init__(self, sleep, fail_partition=-1):
        self.sleep, self.fail = sleep, fail_partition

    def write(self, iterator):
        time.sleep(self.sleep)  # the writer's own code
        rows = 0
        for row in iterator:
            if row.id // 10 == self.fail:  # rows="20", partitions="2": ids 10-19 are partition 1
                raise ValueError("the sink refuses this partition")
            rows += 1
        return Got(rows, rows)

    def commit(self, messages):
        pass

    def abort(self, messages):
        pass


class ArrowSink(DataSourceArrowWriter):
    def __init__(self, sleep):
        self.sleep = sleep

    def write(self, iterator):
        time.sleep(self.sleep)
        rows = batches = 0
        for batch in iterator:
            rows += batch.num_rows
            batches += 1
        return Got(rows, batches)

    def commit(self, messages):
        pass


class ReportSink(DataSource):
    """option arrow=true: the Arrow writer; sleep_ms: time each write() spends before reading;
    fail_partition: the plain writer raises on ids id // 10 == fail_partition."""

    @classmethod
    def name(cls):
        return "report_sink"

    def writer(self, schema, overwrite):
        sleep = int(self.options.get("sleep_ms", "0")) / 1000.0
        if self.options.get("arrow") == "true":
            return ArrowSink(sleep)
        return RowSink(sleep, int(self.options.get("fail_partition", "-1")))
