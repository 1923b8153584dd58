"""A script for test_progress.py: a slow read or write through the Python API (not the CLI), run
in a real terminal. Usage: progress_api.py read|write MODE"""

import sys

import cli_sources
import report_sinks

import headwater

action, mode = sys.argv[1], sys.argv[2]
spark = headwater.SparkSession({"headwater.executor.mode": mode, "headwater.executor.workers": "2"})
spark.dataSource.register(cli_sources.CountSource)
spark.dataSource.register(report_sinks.ReportSink)
df = spark.read.format("cli_count").options(rows="4000", partitions="4", sleep_ms="1200").load()
if action == "read":
    print("counted", df.count())
else:
    df.write.format("report_sink").mode("append").save()
    print("written", spark.lastRunReport().rows_written)
spark.stop()
