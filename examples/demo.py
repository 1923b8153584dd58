"""headwater's main job: read the built-in example data source through the C core and show what
comes out — its rows, the rate, and the same Arrow data taken by pyarrow, DuckDB and Polars."""

import time

import duckdb
import polars as pl
import pyarrow as pa

import headwater
from headwater import _core
from headwater.examples import TradesSource


def main() -> None:
    print(f"headwater {headwater.__version__} — Python data sources on a C engine\n")
    source = TradesSource(rows=10)
    schema = headwater.parse_schema(source.schema())
    print("schema (Spark DDL):  ", schema.to_ddl())
    print("schema (simpleString):", schema.simple_string())

    table = pa.RecordBatchReader.from_stream(_core.rows_to_stream(schema, source.read(0))).read_all()
    print(f"\n{table.num_rows} rows converted in C, as pyarrow sees them:")
    print(table.to_pandas().to_string(index=False))

    n = 1_000_000
    big = TradesSource(rows=n)
    rows = list(big.read(0))  # materialise so the timing below is the conversion, not the generator
    t0 = time.perf_counter()
    stream = _core.rows_to_stream(schema, rows)
    elapsed = time.perf_counter() - t0
    print(f"\nconverted {n:,} rows to Arrow in {elapsed * 1000:.0f} ms: {n / elapsed:,.0f} rows/s")

    dicts = [dict(zip(table.column_names, r)) for r in rows[:200_000]]  # from_pylist wants mappings
    t0 = time.perf_counter()
    pa.RecordBatch.from_pylist(dicts, schema=table.schema)
    ref = len(dicts) / (time.perf_counter() - t0)
    print(f"(pyarrow.RecordBatch.from_pylist on the same rows: {ref:,.0f} rows/s)")

    result = duckdb.sql(
        "select symbol, count(*) as trades, round(avg(price), 2) as avg_price "
        "from stream group by symbol order by symbol"
    )
    print("\nDuckDB over the same Arrow stream (no copy):")
    print(result)
    df = pl.DataFrame(_core.rows_to_batch(schema, rows[:5]))
    print("Polars over a headwater RecordBatch:")
    print(df)


if __name__ == "__main__":
    main()
