"""The generic ``python`` format: any class with ``infer_schema``, ``plan_partitions`` and
``read_partition`` is a data source.

- :mod:`headwater.generic.source`: the format on headwater's engine (plans, the picklable read
  function, ``register_python``);
- :mod:`headwater.generic.spark`: the same classes on Apache Spark 4 (the PySpark adapter). It is
  self-contained (the standard library and pyarrow), pickled by value to Spark's executors, and
  imports nothing of headwater; :mod:`headwater.generic.source` shares its helpers.
"""

from headwater.generic.source import (
    FORMAT,
    GenericEntry,
    GenericPartition,
    GenericPlan,
    ReadPartition,
    plan_for,
    register_python,
)

__all__ = ["FORMAT", "GenericEntry", "GenericPartition", "GenericPlan", "ReadPartition", "plan_for",
           "register_python"]
