"""Data sources for the DataFrame/SQL tests (test_query.py, test_query_spark.py): written against
pyspark's API names through headwater's classes (or pyspark's, for the differential test), they
record what headwater asked them (filters offered and accepted, partitions started)."""

from __future__ import annotations

import datetime
import decimal

import pyarrow as pa

from headwater.datasource import DataSource, DataSourceReader, EqualTo, InputPartition

# what the readers were asked, in this process: ("offered", [...]), ("accepted", [...]), ("partition", i)
LOG: list = []

SCHEMA = "id INT, name STRING, score DOUBLE, grp INT, day DATE, amount DECIMAL(10,2)"


def people_row(i: int):
    return (
        i,
        None if i % 11 == 0 else f"n{i % 7}",
        None if i % 13 == 0 else i * 0.5,
        None if i % 10 == 0 else i % 3,
        datetime.date(2024, 1 + i % 12, 1 + i % 28),
        decimal.Decimal(i) / 4,
    )


def marker(path: str, text: str) -> None:
    if path:
        with open(path, "a") as f:
            f.write(text + "\n")


_ACCEPTED_KINDS = {"EqualTo", "GreaterThan", "GreaterThanOrEqual", "LessThan", "In", "Not", "StringStartsWith", "IsNull"}


class PeopleLogic:
    """100 rows per partition (option `per`); pushFilters accepts the filters on the columns of
    option `accept` (default id and name) and applies them unless option `apply` is false."""

    partition_cls = InputPartition

    def __init__(self, options):
        self.options = options
        self.accepted = []

    def pushFilters(self, filters):
        LOG.append(("offered", list(filters)))
        accept = self.options.get("accept", "id,name").split(",")
        for f in filters:
            col = f.child.attribute[0] if type(f).__name__ == "Not" and hasattr(f.child, "attribute") else \
                getattr(f, "attribute", ("?",))[0]
            if col in accept and type(f).__name__ in _ACCEPTED_KINDS:
                self.accepted.append(f)
            else:
                yield f
        LOG.append(("accepted", list(self.accepted)))

    def partitions(self):
        return [self.partition_cls(i) for i in range(int(self.options.get("parts", 4)))]

    def _keep(self, row):
        if self.options.get("apply") == "false":
            return True
        for f in self.accepted:
            if not _holds(f, row):
                return False
        return True

    def read(self, partition):
        LOG.append(("partition", partition.value))
        marker(self.options.get("marker", ""), f"start {partition.value}")
        per = int(self.options.get("per", 100))
        for i in range(partition.value * per, partition.value * per + per):
            row = people_row(i)
            if self._keep(row):
                yield row


_COLS = ["id", "name", "score", "grp", "day", "amount"]


def _holds(f, row):
    kind = type(f).__name__
    if kind == "Not":
        return not _holds(f.child, row)
    v = row[_COLS.index(f.attribute[0])]
    if kind == "IsNull":
        return v is None
    if v is None:
        return False
    tests = {"EqualTo": lambda: v == f.value, "GreaterThan": lambda: v > f.value,
             "GreaterThanOrEqual": lambda: v >= f.value, "LessThan": lambda: v < f.value,
             "In": lambda: v in f.value, "StringStartsWith": lambda: v.startswith(f.value)}
    return tests[kind]()


class PeopleReader(PeopleLogic, DataSourceReader):
    pass


class People(DataSource):
    @classmethod
    def name(cls):
        return "people"

    def schema(self):
        return SCHEMA

    def reader(self, schema):
        return PeopleReader(self.options)


from pyspark.sql import datasource as _sds  # noqa: E402 - the same source on pyspark's classes


class SparkPeopleReader(PeopleLogic, _sds.DataSourceReader):
    partition_cls = _sds.InputPartition


class SparkPeople(_sds.DataSource):
    """People on pyspark's classes, for the differential test against PySpark."""

    @classmethod
    def name(cls):
        return "speople"

    def schema(self):
        return SCHEMA

    def reader(self, schema):
        return SparkPeopleReader(self.options)


class WideReader(DataSourceReader):
    """Rows whose column `bad` holds a value of the wrong type: only a query that converts `bad`
    fails. `batches` yields pyarrow RecordBatches instead."""

    def __init__(self, options):
        self.options = options

    def partitions(self):
        return [InputPartition(i) for i in range(2)]

    def read(self, partition):
        n = 50
        base = partition.value * n
        if self.options.get("batches") == "true":
            yield pa.RecordBatch.from_pydict(
                {"a": pa.array(range(base, base + n), pa.int64()), "bad": pa.array(["x"] * n),
                 "c": pa.array([float(i) for i in range(base, base + n)])})
            return
        for i in range(base, base + n):
            yield (i, "not an int", float(i)) if self.options.get("short") != "true" else (i, 1)


class Wide(DataSource):
    @classmethod
    def name(cls):
        return "wide"

    def schema(self):
        if self.options.get("batches") == "true":
            return "a BIGINT, bad STRING, c DOUBLE"
        return "a BIGINT, bad INT, c DOUBLE"

    def reader(self, schema):
        return WideReader(self.options)


class ExtraneousReader(PeopleReader):
    def pushFilters(self, filters):
        return [EqualTo(("id",), 1)]


class Extraneous(People):
    @classmethod
    def name(cls):
        return "extraneous"

    def reader(self, schema):
        return ExtraneousReader(self.options)
