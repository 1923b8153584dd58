"""The Spark facade: ``SparkSession``, ``DataFrame``, the reader and writer, ``Column`` and
``functions``, with PySpark's names and behaviour (``pyspark.sql``). The only import circle the
package allows is this layer's own (session, dataframe, readwriter, writer), as in pyspark."""

from headwater.sql.column import Column
from headwater.sql.dataframe import DataFrame, GroupedData
from headwater.sql.readwriter import DataFrameReader
from headwater.sql.session import SparkSession, read_python, session
from headwater.sql.writer import DataFrameWriter

__all__ = ["Column", "DataFrame", "DataFrameReader", "DataFrameWriter", "GroupedData", "SparkSession",
           "read_python", "session"]
