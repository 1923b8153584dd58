"""Three-method generic sources for tests/python/test_generic*.py.

Imported by module and class name (``generic_sources:Basic``) by headwater, its worker processes
and PySpark's workers, so this directory must be on their ``sys.path`` / ``PYTHONPATH``.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any, Dict, List

import pyarrow as pa

SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("score", pa.float64())])

#: Every RecordBatch ``Reordered`` yielded in this process (the no-copy test reads their buffers).
YIELDED: List[pa.RecordBatch] = []

#: What ``Echo`` saw, in this process.
SEEN: Dict[str, Any] = {}


def rows_of(partition: int, n: int = 3) -> Dict[str, list]:
    ids = [partition * 100 + i for i in range(n)]
    return {"id": ids, "name": [f"p{partition}-{i}" for i in range(n)], "score": [i * 0.5 for i in ids]}


def expected_rows(partitions: int, n: int = 3) -> List[tuple]:
    out = []
    for p in range(partitions):
        d = rows_of(p, n)
        out += list(zip(d["id"], d["name"], d["score"]))
    return out


class Basic:
    """``partitions`` partitions (default 3) of ``rows`` rows (default 3), one RecordBatch each."""

    def infer_schema(self, options):
        return SCHEMA

    def plan_partitions(self, options):
        return [{"p": i} for i in range(int(options.get("partitions", 3)))]

    def read_partition(self, spec, options):
        yield pa.RecordBatch.from_pydict(rows_of(spec["p"], int(options.get("rows", 3))), schema=SCHEMA)


class Unpicklable(Basic):
    """Holds a lock and a lambda: it cannot be pickled, and need not be."""

    def __init__(self):
        self.lock = threading.Lock()
        self.fn = lambda x: x

    def read_partition(self, spec, options):
        with self.lock:
            batch = pa.RecordBatch.from_pydict(rows_of(spec["p"]), schema=SCHEMA)
        yield self.fn(batch)


class Reordered(Basic):
    """RecordBatches with the columns in reverse order; kept in ``YIELDED``."""

    def read_partition(self, spec, options):
        d = rows_of(spec["p"])
        batch = pa.RecordBatch.from_arrays(
            [pa.array(d["score"]), pa.array(d["name"]), pa.array(d["id"], pa.int64())], names=["score", "name", "id"]
        )
        YIELDED.append(batch)
        yield batch


class MissingColumn(Basic):
    def read_partition(self, spec, options):
        d = rows_of(spec["p"])
        yield pa.RecordBatch.from_pydict({"id": d["id"], "nom": d["name"], "score": d["score"]})


class WrongType(Basic):
    """``id`` as int32 (and, with ``strings=true``, as strings) instead of int64."""

    def read_partition(self, spec, options):
        d = rows_of(spec["p"])
        if options.get("strings") == "true":
            ids = pa.array([str(i) for i in d["id"]])
        elif options.get("bad") == "true":
            ids = pa.array(["7", "x"] + [str(i) for i in d["id"][2:]])
        else:
            ids = pa.array(d["id"], pa.int32())
        # also in another order, so cast=true reorders and casts at once
        yield pa.RecordBatch.from_arrays([pa.array(d["name"]), ids, pa.array(d["score"])], names=["name", "id", "score"])


class Narrowing(Basic):
    """Declares ``id INT`` but yields int64 values that do not fit (cast=true must refuse)."""

    def infer_schema(self, options):
        return "id INT, name STRING, score DOUBLE"

    def read_partition(self, spec, options):
        d = rows_of(spec["p"])
        d["id"] = [2**40 + i for i in d["id"]]
        yield pa.RecordBatch.from_pydict(d)


class Tuples(Basic):
    """Rows as tuples (through the C converter); the schema as DDL."""

    def infer_schema(self, options):
        return "id BIGINT, name STRING, score DOUBLE"

    def read_partition(self, spec, options):
        d = rows_of(spec["p"])
        yield from zip(d["id"], d["name"], d["score"])


class RowsOut(Tuples):
    """Rows as headwater's Row objects."""

    def read_partition(self, spec, options):
        from headwater.types import Row

        d = rows_of(spec["p"])
        for i, n, s in zip(d["id"], d["name"], d["score"]):
            yield Row(id=i, name=n, score=s)


class ListOfBatches(Basic):
    """read_partition returns a list (an iterable, not an iterator)."""

    def read_partition(self, spec, options):
        return [pa.RecordBatch.from_pydict(rows_of(spec["p"]), schema=SCHEMA)]


class ReturnsNone(Basic):
    def read_partition(self, spec, options):
        return None


class StructSchema(Basic):
    """infer_schema returns headwater's StructType."""

    def infer_schema(self, options):
        from headwater.types import DoubleType, LongType, StringType, StructField, StructType

        return StructType(
            [StructField("id", LongType()), StructField("name", StringType()), StructField("score", DoubleType())]
        )


class BadSchemaType(Basic):
    def infer_schema(self, options):
        return 42


class Empty(Basic):
    def plan_partitions(self, options):
        return []


class Echo:
    """One row telling what the source saw: its option names and a lookup by lower-case name."""

    def infer_schema(self, options):
        return "keys STRING, endpoint STRING, spec STRING"

    def plan_partitions(self, options):
        SEEN["plan_keys"] = sorted(options)
        return [{"n": 1, "t": (1, 2), "nested": {"a": [1.5, None, True]}}]

    def read_partition(self, spec, options):
        import json

        SEEN["read_keys"] = sorted(options)
        SEEN["options_type"] = type(options).__name__
        SEEN["spec"] = spec
        yield (",".join(sorted(options)), options["endpoint"], json.dumps(spec, sort_keys=True))


# ---- failures


class NoRead:
    def infer_schema(self, options):
        return SCHEMA

    def plan_partitions(self, options):
        return [{}]


class NoPlan:
    def infer_schema(self, options):
        return SCHEMA

    def read_partition(self, spec, options):
        return iter(())


class NoInfer:
    def plan_partitions(self, options):
        return [{}]

    def read_partition(self, spec, options):
        return iter(())


class FailingInit(Basic):
    def __init__(self):
        raise RuntimeError("cannot start")


def _explode(what):
    raise ValueError(f"boom in {what}")


class FailingInfer(Basic):
    def infer_schema(self, options):
        _explode("infer_schema")


class FailingPlan(Basic):
    def plan_partitions(self, options):
        _explode("plan_partitions")


class FailingReadCall(Basic):
    """read_partition raises when called (not a generator)."""

    def plan_partitions(self, options):
        return [{"p": 0}, {"p": 1, "token": "tok-SECRET-123", "auth": {"api_key": "k-SECRET-456"}}]

    def read_partition(self, spec, options):
        if spec["p"] == 1:
            _explode("read_partition call")
        return iter([pa.RecordBatch.from_pydict(rows_of(spec["p"]), schema=SCHEMA)])


class FailingReadIter(FailingReadCall):
    """read_partition (a generator) raises after its first batch of partition 1."""

    def read_partition(self, spec, options):
        yield pa.RecordBatch.from_pydict(rows_of(spec["p"]), schema=SCHEMA)
        if spec["p"] == 1:
            _explode("read_partition iteration")
        yield pa.RecordBatch.from_pydict(rows_of(spec["p"] + 10), schema=SCHEMA)


class FailingTuples(Tuples):
    """The converter path: raises after some rows of partition 1."""

    def plan_partitions(self, options):
        return [{"p": 0}, {"p": 1, "password_hint": "pw-SECRET"}]

    def read_partition(self, spec, options):
        yield from super().read_partition(spec, options)
        if spec["p"] == 1:
            _explode("tuples")


class NotJsonSpec(Basic):
    """Partition 2's spec holds a datetime under ``since`` (or other bad values, by option)."""

    def plan_partitions(self, options):
        bad = options.get("bad", "datetime")
        value = {
            "datetime": {"since": dt.datetime(2024, 1, 1)},
            "nested": {"range": {"lo": 1, "hi": {1, 2}}},
            "intkey": {"map": {1: "one"}},
            "nan": {"x": float("nan")},
            "notdict": 7,
        }[bad]
        specs: List[Any] = [{"p": 0}, {"p": 1}]
        specs.append(value if bad == "notdict" else dict({"p": 2}, **value))
        return specs


class NotAList(Basic):
    def plan_partitions(self, options):
        return {"p": 0}


class Nested:
    """A nested class, named ``generic_sources:Nested.Inner``."""

    class Inner(Basic):
        pass
