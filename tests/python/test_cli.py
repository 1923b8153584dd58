"""The `headwater` command end to end: the installed console script run as a subprocess, its
outputs, files and exit codes (2: usage, 1: a failed read)."""

import json
import os
import shutil
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EXE = os.path.join(os.path.dirname(sys.executable), "headwater")


def run(*args, cwd=HERE):
    env = dict(os.environ, PYTHONPATH=HERE)
    return subprocess.run([EXE, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def test_help_lists_the_commands():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("read", "schema", "explain", "sql", "sources"):
        assert f"  {cmd}" in r.stdout


def test_read_shows_rows_as_spark_does():
    r = run("read", "cli_count", "-i", "cli_sources", "-o", "rows=3", "--mode", "inline")
    assert r.returncode == 0, r.stderr
    assert r.stdout == (
        "+---+----+-----+\n| id|name|twice|\n+---+----+-----+\n"
        "|  0|  n0|    0|\n|  1|  n1|    2|\n|  2|  n2|    4|\n+---+----+-----+\n")


def test_read_select_where_limit():
    r = run("read", "cli_count", "-i", "cli_sources", "-o", "rows=100", "--where", "id >= 50",
            "--select", "id, twice + 1 AS t", "--limit", "2", "--mode", "thread")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "+---+---+\n| id|  t|\n+---+---+\n| 50|101|\n| 51|103|\n+---+---+\n"


def test_count_in_process_mode():
    r = run("read", "cli_count", "-i", "cli_sources", "-o", "rows=1000", "-o", "partitions=4",
            "--mode", "process", "--workers", "2", "--count")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1000"


def test_write_parquet_then_read_it_back(tmp_path):
    out = str(tmp_path / "out.parquet")
    r = run("read", "cli_count", "-i", "cli_sources", "-o", "rows=25", "--to", out)
    assert r.returncode == 0, r.stderr
    t = pq.read_table(out)
    assert sorted(t.column("id").to_pylist()) == list(range(25))
    back = run("read", "parquet", out, "--where", "id = 7", "--select", "name")
    assert back.returncode == 0, back.stderr
    assert "|  n7|" in back.stdout
    again = run("read", "cli_count", "-i", "cli_sources", "--to", out)  # exists: Spark's errorifexists
    assert again.returncode == 1 and again.stderr.startswith("headwater: error:")


def test_schema_tree_ddl_json():
    r = run("schema", "cli_count", "-i", "cli_sources")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("root\n |-- id: long (nullable = true)\n |-- name: string (nullable = true)\n"
                        " |-- twice: long (nullable = true)\n")
    ddl = run("schema", "cli_count", "-i", "cli_sources", "--ddl")
    assert ddl.stdout.strip() == "id BIGINT, name STRING, twice BIGINT"
    js = json.loads(run("schema", "cli_count", "-i", "cli_sources", "--json").stdout)
    assert [f["name"] for f in js["fields"]] == ["id", "name", "twice"]


def test_explain_says_partitions_and_mode():
    r = run("explain", "cli_count", "-i", "cli_sources", "-o", "partitions=3", "--mode", "thread")
    assert r.returncode == 0, r.stderr
    assert "PythonDataSourceScan cli_count" in r.stdout
    assert "partitions: 3" in r.stdout and "execution: thread" in r.stdout


def test_sql_over_named_views():
    r = run("sql", "SELECT a.id, b.name FROM a JOIN b ON a.id = b.id WHERE a.id < 3 ORDER BY a.id",
            "--view", "a=cli_count", "--view", "b=cli_count", "-o", "a.rows=5", "-o", "b.rows=2",
            "-i", "cli_sources")
    assert r.returncode == 0, r.stderr
    assert "|  0|  n0|" in r.stdout and "|  1|  n1|" in r.stdout and "|  2|" not in r.stdout


def test_sources_lists_registered_and_built_in():
    r = run("sources", "-i", "cli_sources")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ORIGIN", "CLASS"]
    assert any(ln.split()[:1] == ["cli_count"] and "--import cli_sources" in ln for ln in lines)
    assert any(ln.split()[:3] == ["parquet", "built", "in"] for ln in lines)
    assert any(ln.split()[:1] == ["jdbc"] for ln in lines)


def test_failed_read_is_one_line_exit_1():
    r = run("read", "cli_count", "-i", "cli_sources", "-o", "fail_at=3", "--mode", "inline")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "ValueError: boom at 3" in lines[0] and "partition 0" in lines[0]
    d = run("read", "cli_count", "-i", "cli_sources", "-o", "fail_at=3", "--mode", "inline", "--debug")
    assert d.returncode == 1 and "Traceback (most recent call last)" in d.stderr


def test_unknown_format_exit_1():
    r = run("read", "no_such_format")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        r.stderr.strip()] and "DATA_SOURCE_NOT_FOUND" in r.stderr and "no_such_format" in r.stderr


@pytest.mark.parametrize("args, words", [
    (("read",), "Missing argument 'FORMAT'"),
    (("read", "cli_count", "-i", "cli_sources", "-o", "rows"), "--option must be KEY=VALUE"),
    (("read", "cli_count", "-i", "cli_sources", "--mode", "fast"), "'fast' is not one of"),
    (("read", "cli_count", "-i", "cli_sources", "--count", "--show", "3"), "give one of --show, --count and --to"),
    (("read", "cli_count", "-i", "cli_sources", "--to", "x.unknown"), "cannot tell the format"),
    (("read", "cli_count", "-i", "no_module_here"), "no module named 'no_module_here'"),
    (("frobnicate",), "No such command 'frobnicate'"),
])
def test_usage_errors_exit_2(args, words):
    r = run(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert words in r.stderr
