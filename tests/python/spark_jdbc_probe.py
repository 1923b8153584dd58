"""Compare headwater's JDBC reader with real PySpark's on a throwaway PostgreSQL cluster (a tool,
not a test: PySpark's JVM needs PostgreSQL's JDBC driver jar, which a fresh machine does not have).

    .venv/bin/python tests/python/spark_jdbc_probe.py /path/to/postgresql-42.x.jar

Prints, for each case, what Spark and headwater return (schema, rows per partition, error text)
and whether they agree.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pg_cluster import PgCluster  # noqa: E402


def main(jar: str) -> int:
    from pyspark.sql import SparkSession
    from pyspark.sql.functions import spark_partition_id

    import headwater
    from headwater.jdbc import JDBCDataSource

    failures = 0
    with PgCluster() as pg:
        pg.psql("CREATE TABLE typed (i INT, b BIGINT, sm SMALLINT, n NUMERIC(12,3), nu NUMERIC, s TEXT, "
                "vc VARCHAR(10), f BOOLEAN, d DATE, ts TIMESTAMP, tz TIMESTAMPTZ, bin BYTEA, arr INT[], "
                "r REAL, dp DOUBLE PRECISION); "
                "INSERT INTO typed VALUES (1, 2, 3, 4.5, 6.25, 'x', 'y', true, '2024-02-29', "
                "'2024-01-02 03:04:05.123456', '2024-01-02 03:04:05+02', '\\x00ff', '{1,NULL,3}', 1.5, 2.5), "
                "(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);"
                "CREATE TABLE nums (id INT, label TEXT); "
                "INSERT INTO nums SELECT g, 'n' || g FROM generate_series(1, 20) g; "
                "INSERT INTO nums VALUES (NULL, 'null'), (-50, 'low'), (500, 'high');")
        url = pg.jdbc_url()
        spark = (SparkSession.builder.master("local[2]").config("spark.jars", jar)
                 .config("spark.sql.session.timeZone", "UTC").getOrCreate())
        hw = headwater.SparkSession.builder.create()
        hw.conf.set("headwater.executor.mode", "thread")
        props = {"user": pg.user, "driver": "org.postgresql.Driver"}

        def compare(name: str, a: object, b: object) -> None:
            nonlocal failures
            same = a == b
            failures += not same
            print(f"{'SAME' if same else 'DIFFERENT'}  {name}\n  spark:     {a}\n  headwater: {b}")

        sdf = spark.read.jdbc(url, "typed", properties=props)
        hdf = hw.read.jdbc(url, "typed", properties={"user": pg.user})
        compare("schema of every type", sdf.schema.simpleString(), hdf.schema.simpleString())
        compare("rows of every type", sorted(map(str, sdf.collect())), sorted(map(str, hdf.collect())))

        for lo, hi, n in ((5, 15, 4), (1, 3, 10), (-7, 7, 2), (0, 100, 3), (1, 20, 2), (-30, 600, 7)):
            sdf = spark.read.jdbc(url, "nums", column="id", lowerBound=lo, upperBound=hi, numPartitions=n,
                                  properties=props)
            by_part = {}
            for r in sdf.withColumn("p", spark_partition_id()).collect():
                by_part.setdefault(r.p, []).append(r.label)
            spark_parts = [sorted(by_part.get(i, [])) for i in range(sdf.rdd.getNumPartitions())]
            src = JDBCDataSource(dict(url=url, dbtable="nums", partitionColumn="id", lowerBound=str(lo),
                                      upperBound=str(hi), numPartitions=str(n), user=pg.user, engine="dbapi"))
            reader = src.reader(src.schema())
            hw_parts = [sorted(t[1] for t in reader.read(p)) for p in reader.partitions()]
            compare(f"partitions lowerBound={lo} upperBound={hi} numPartitions={n}", spark_parts, hw_parts)

        def error(fn):
            try:
                fn()
                return None
            except Exception as e:  # the first line of the message, without Spark's JVM stack
                text = str(e)
                for marker in ("requirement failed: ", "] "):
                    if marker in text:
                        text = text.split(marker, 1)[1]
                return next((line.strip() for line in text.splitlines() if line.strip()), "")

        for opts in ({"url": url}, {"url": url, "dbtable": "nums", "query": "select 1"},
                     {"url": url, "dbtable": "nums", "partitionColumn": "id"},
                     {"url": url, "query": "select 1 as a", "partitionColumn": "a", "lowerBound": "1",
                      "upperBound": "2", "numPartitions": "2"},
                     {"url": url, "dbtable": "nums", "fetchsize": "-1"}):
            s_err = error(lambda: spark.read.format("jdbc").options(**opts, **props).load().collect())
            h_err = error(lambda: hw.read.format("jdbc").options(**opts, user=pg.user).load().collect())
            compare(f"error for {sorted(opts)}", s_err, h_err)
        s_err = error(lambda: spark.read.format("jdbc").schema("id INT").options(url=url, dbtable="nums", **props).load())
        h_err = error(lambda: hw.read.format("jdbc").schema("id INT").options(url=url, dbtable="nums", user=pg.user)
                      .load().collect())
        compare("user schema", s_err, h_err)
        spark.stop()
        hw.stop()
    print(f"\n{failures} difference(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
