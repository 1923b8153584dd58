"""S4: a PostgreSQL table read and written through headwater's JDBC module, side by side with
ConnectorX called directly (the floor), pandas.read_sql and pandas.DataFrame.to_sql.

    .venv/bin/python bench/s4_jdbc.py [--rows 5000000] [--partitions 1,4] [--reps 3]
                                      [--engines connectorx,adbc,dbapi] [--mode thread] [--no-write]

The script starts a throwaway PostgreSQL cluster of its own (tests/python/pg_cluster.py: initdb +
pg_ctl in a temporary directory on a free loopback port; stopped and removed at the end) and
fills ``s4 (i int, b bigint, n numeric(18,4), t text, ts timestamp)`` with ``--rows`` rows
(generate_series, in the server).

Reads (each materialized as one pyarrow Table; one untimed warm-up, then ``--reps`` timed runs,
interleaved across the peers so that load from elsewhere falls on all alike; median reported):

- ``connectorx direct``: ``connectorx.read_sql(uri, sql, return_type="arrow")``; with several
  partitions ConnectorX's own ``partition_on="i"``;
- ``headwater <engine>``: ``spark.read.format("jdbc")`` with ``engine`` and, for several
  partitions, Spark's ``partitionColumn=i lowerBound=1 upperBound=rows``, then ``toArrow()``
  (``headwater.executor.mode`` from ``--mode``);
- ``pandas.read_sql`` over a psycopg connection (one partition only; a pandas DataFrame).

Writes (``--rows`` rows from an Arrow table, appended to an empty table each run):
``headwater`` (``df.write.format("jdbc").mode("append")``, ADBC bulk ingest), ``pandas.to_sql``
with SQLAlchemy + psycopg (executemany, chunks of 10,000) and ``pandas.to_sql`` with an ADBC
connection.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, List

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(BENCH_DIR), "tests", "python"))

from pg_cluster import PgCluster  # noqa: E402


def _timed(fn: Callable[[], Any], reps: int) -> Dict[str, Any]:
    result = fn()  # warm-up, and the value to check
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median": statistics.median(times), "times": times, "result": result}


def _timed_together(fns: List[Callable[[], Any]], reps: int) -> List[Dict[str, Any]]:
    """Like :func:`_timed` for several peers, their runs interleaved (peer 1, peer 2, ..., then
    again), so load from elsewhere on a shared machine falls on all of them alike."""
    results = [fn() for fn in fns]  # warm-ups
    times: List[List[float]] = [[] for _ in fns]
    for _ in range(reps):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t0)
    return [{"median": statistics.median(t), "times": t, "result": r} for t, r in zip(times, results)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--partitions", default="1,4")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--engines", default="connectorx,adbc,dbapi")
    ap.add_argument("--mode", default="thread", help="headwater.executor.mode for the reads")
    ap.add_argument("--write-reps", type=int, default=1)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--no-pandas-write", action="store_true", help="skip the (slow) SQLAlchemy to_sql peer")
    args = ap.parse_args()

    import connectorx as cx
    import pandas as pd
    import psycopg
    import pyarrow as pa

    import headwater

    rows = args.rows
    parts = [int(p) for p in args.partitions.split(",")]
    engines = [e for e in args.engines.split(",") if e]
    print(f"S4: {rows:,} rows, partitions {parts}, {args.reps} timed runs (median), headwater mode {args.mode}, "
          f"{os.cpu_count()} CPUs")
    with PgCluster() as pg:
        pg.psql(f"CREATE TABLE s4 (i int, b bigint, n numeric(18,4), t text, ts timestamp); "
                f"INSERT INTO s4 SELECT g, g::bigint * 1000003, (g % 100000) / 7.0, 'row ' || g, "
                f"timestamp '2024-01-01' + g * interval '1 second' FROM generate_series(1, {rows}) g; "
                f"ANALYZE s4;")
        uri = f"postgresql://{pg.user}@{pg.host}:{pg.port}/{pg.database}"
        sql = "SELECT i, b, n, t, ts FROM s4"
        spark = headwater.SparkSession.builder.create()
        spark.conf.set("headwater.executor.mode", args.mode)
        spark.conf.set("headwater.executor.workers", str(max(parts)))

        def hw_read(engine: str, n: int) -> Callable[[], int]:
            def run() -> int:
                r = (spark.read.format("jdbc").option("url", pg.jdbc_url()).option("user", pg.user)
                     .option("dbtable", "s4").option("engine", engine))
                if n > 1:
                    r = r.options(partitionColumn="i", lowerBound=1, upperBound=rows, numPartitions=n)
                return r.load().toArrow().num_rows
            return run

        def cx_read(n: int) -> Callable[[], int]:
            def run() -> int:
                if n > 1:
                    return cx.read_sql(uri, sql, return_type="arrow", partition_on="i", partition_num=n).num_rows
                return cx.read_sql(uri, sql, return_type="arrow").num_rows
            return run

        def pandas_read() -> int:
            import warnings

            with psycopg.connect(uri) as conn, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas asks for SQLAlchemy; a DB-API connection works
                return len(pd.read_sql(sql, conn))

        results: List[Dict[str, Any]] = []
        for n in parts:
            names = ["connectorx direct"] + [f"headwater {e}" for e in engines]
            fns = [cx_read(n)] + [hw_read(e, n) for e in engines]
            if n == 1:
                names.append("pandas.read_sql (psycopg)")
                fns.append(pandas_read)
            measured = _timed_together(fns, args.reps)
            for name, r in zip(names, measured):
                assert r["result"] == rows, (name, r["result"])
            floor = measured[0]
            line = list(zip(names, measured))
            print(f"\nread, {n} partition{'s' if n > 1 else ''}:")
            for name, r in line:
                ratio = r["median"] / floor["median"]
                print(f"  {name:28s} {r['median']:8.3f} s  {rows / r['median'] / 1e6:7.2f} M rows/s  "
                      f"{ratio:5.2f}x connectorx direct")
                results.append({"op": "read", "partitions": n, "peer": name, "median_s": r["median"],
                                "ratio_to_floor": ratio})

        if not args.no_write:
            table = cx.read_sql(uri, sql, return_type="arrow")
            table = pa.Table.from_batches(table.to_batches())  # plain Arrow, as a user would hand it over
            pg.psql("CREATE TABLE w (i int, b bigint, n numeric(18,4), t text, ts timestamp)")
            df = spark.createDataFrame(table)
            pdf = table.to_pandas()

            def reset() -> None:
                pg.psql("TRUNCATE w")

            def hw_write() -> int:
                reset()
                df.write.format("jdbc").mode("append").option("url", pg.jdbc_url()).option("user", pg.user) \
                    .option("dbtable", "w").save()
                return int(pg.psql("SELECT count(*) FROM w"))

            def pandas_adbc_write() -> int:
                import adbc_driver_postgresql.dbapi as adbc

                reset()
                with adbc.connect(uri) as conn:
                    pdf.to_sql("w", conn, if_exists="append", index=False)
                    conn.commit()
                return int(pg.psql("SELECT count(*) FROM w"))

            def pandas_sqlalchemy_write() -> int:
                import sqlalchemy

                reset()
                engine = sqlalchemy.create_engine(f"postgresql+psycopg://{pg.user}@{pg.host}:{pg.port}/{pg.database}")
                try:
                    pdf.to_sql("w", engine, if_exists="append", index=False, chunksize=10000,
                               dtype={"n": sqlalchemy.Numeric(18, 4)})
                finally:
                    engine.dispose()
                return int(pg.psql("SELECT count(*) FROM w"))

            peers = [("headwater (ADBC ingest)", hw_write), ("pandas.to_sql (ADBC)", pandas_adbc_write)]
            if not args.no_pandas_write:
                peers.append(("pandas.to_sql (SQLAlchemy+psycopg)", pandas_sqlalchemy_write))
            measured = []
            for name, fn in peers:
                try:
                    r = _timed(fn, args.write_reps)
                except Exception as e:  # a peer that fails is reported, the others still run
                    print(f"  {name}: failed: {type(e).__name__}: {str(e)[:300]}")
                    continue
                assert r["result"] == rows, (name, r["result"])
                measured.append((name, r))
            base = measured[0][1]["median"]
            print(f"\nwrite (append {rows:,} rows):")
            for name, r in measured:
                print(f"  {name:42s} {r['median']:8.3f} s  {rows / r['median'] / 1e6:7.2f} M rows/s  "
                      f"{r['median'] / base:6.2f}x headwater")
        spark.stop()


if __name__ == "__main__":
    main()
