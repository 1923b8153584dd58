"""Sources the C API's tests (tests/c/test_capi.c) read through libheadwater."""

import os

from headwater.datasource import DataSource, DataSourceReader, EqualTo, InputPartition


class Numbers(DataSource):
    """partitions x rows: (id, part, label); pushes EqualTo on part, refuses the rest."""

    @classmethod
    def name(cls):
        return "capi_numbers"

    def schema(self):
        return "id BIGINT, part INT, label STRING"

    def reader(self, schema):
        return NumbersReader(self.options)


class NumbersReader(DataSourceReader):
    def __init__(self, options):
        self.parts = int(options.get("partitions", "4"))
        self.rows = int(options.get("rows", "1000"))
        self.fail = int(options.get("fail_partition", "-1"))
        self.crash = options.get("crash", "false") == "true"
        self.only = None

    def pushFilters(self, filters):
        for f in filters:
            if isinstance(f, EqualTo) and f.attribute == ("part",):
                self.only = f.value
            else:
                yield f

    def partitions(self):
        return [InputPartition(i) for i in range(self.parts) if self.only is None or i == self.only]

    def read(self, partition):
        p = partition.value
        for i in range(self.rows):
            if p == self.fail and i == 5:
                raise ValueError(f"bad row in partition {p}")
            if self.crash and i == 5:
                os._exit(3)
            yield (p * self.rows + i, p, f"r{i}")


class Generic:
    """The three-method interface."""

    def infer_schema(self, options):
        return "k BIGINT, v DOUBLE"

    def plan_partitions(self, options):
        return [{"start": s} for s in range(0, 30, 10)]

    def read_partition(self, spec, options):
        for k in range(spec["start"], spec["start"] + 10):
            yield (k, k / 2)


class Raises(DataSource):
    @classmethod
    def name(cls):
        return "capi_raises"

    def schema(self):
        raise RuntimeError("no schema today")


def register(spark):
    spark.dataSource.register(Numbers)
    spark.dataSource.register(Raises)
