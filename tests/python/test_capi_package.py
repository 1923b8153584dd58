"""The C API as users get it: examples/c/read_partitions.c built against the installed package with
pkg-config (``python -m headwater.capi --pkg-config-path``), run with no Python of its own, gives
the same rows as the Python API."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys

import pyarrow.compute as pc
import pytest

import headwater
from headwater import capi

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    if shutil.which("pkg-config") is None or shutil.which("cc") is None:
        pytest.fail("pkg-config and a C compiler are needed (make setup installs them)")
    env = dict(os.environ, PKG_CONFIG_PATH=capi.pkg_config_path())
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "headwater"], env=env, check=True,
                           capture_output=True, text=True).stdout.split()
    out = str(tmp_path_factory.mktemp("capi") / "read_partitions")
    subprocess.run(["cc", "-o", out, os.path.join(ROOT, "examples", "c", "read_partitions.c"), *flags, "-pthread"],
                   check=True)
    return out


def test_pkg_config_path_helper():
    out = subprocess.run([sys.executable, "-m", "headwater.capi", "--pkg-config-path"], check=True,
                         capture_output=True, text=True).stdout.strip()
    assert os.path.isfile(os.path.join(out, "headwater.pc"))


def test_example_reads_the_same_rows_as_python(example, monkeypatch):
    env = dict(os.environ, HEADWATER_PYTHONPATH=os.path.join(ROOT, "examples"))
    env.pop("PYTHONPATH", None)  # the program finds headwater in the venv libheadwater lives in
    run = subprocess.run([example, "trades_source:TradesSource", "rows=30000", "partitions=3"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[-1].startswith("total: 30000 rows")

    monkeypatch.syspath_prepend(os.path.join(ROOT, "examples"))  # the worker processes import it too
    from trades_source import TradesSource

    spark = headwater.session()
    spark.dataSource.register(TradesSource)
    table = spark.read.format("trades").option("rows", 30000).option("partitions", 3).load().toArrow()
    assert lines[-1] == f"total: {table.num_rows} rows, checksum {pc.sum(table.column(0)).as_py()}"
    assert len([ln for ln in lines if ln.startswith("partition ")]) == 3


def test_example_reports_an_unknown_format(example):
    run = subprocess.run([example, "no_such_format"], capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert run.returncode == 1
    assert "DATA_SOURCE_NOT_FOUND" in run.stderr


def test_write_example_writes_parquet(tmp_path):
    env = dict(os.environ, PKG_CONFIG_PATH=capi.pkg_config_path())
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "headwater"], env=env, check=True,
                           capture_output=True, text=True).stdout.split()
    exe = str(tmp_path / "write_rows")
    subprocess.run(["cc", "-o", exe, os.path.join(ROOT, "examples", "c", "write_rows.c"), *flags], check=True)
    out = str(tmp_path / "out")
    run = subprocess.run([exe, "parquet", "25000", f"path={out}"], capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "wrote 25000 rows in 2 tasks"
    table = headwater.session().read.parquet(out).toArrow()
    assert table.num_rows == 25000
    assert sorted(table.column("id").to_pylist()) == list(range(25000))


class _Error(ctypes.Structure):
    _fields_ = [("error_class", ctypes.c_char * 96), ("message", ctypes.c_char * 2048),
                ("partition", ctypes.c_int64), ("row", ctypes.c_int64), ("column", ctypes.c_int32),
                ("traceback", ctypes.c_char * 4096)]


def test_attaches_to_the_host_interpreter(monkeypatch):
    """A host that already runs Python (here: this interpreter, through ctypes, which calls without
    the GIL) gets a runtime attached to it; freeing it leaves the interpreter running."""
    monkeypatch.syspath_prepend(os.path.join(ROOT, "examples"))
    lib = ctypes.CDLL(os.path.join(os.path.dirname(capi.pkg_config_path()), "libheadwater.so"))
    err = _Error()
    rt, src, q = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
    assert lib.hw_runtime_new(None, ctypes.byref(rt), ctypes.byref(err)) == 0, err.message
    keys = (ctypes.c_char_p * 2)(b"rows", b"partitions")
    values = (ctypes.c_char_p * 2)(b"1000", b"5")
    assert lib.hw_source_open(rt, b"trades_source:TradesSource", keys, values, 2, None, ctypes.byref(src),
                              ctypes.byref(err)) == 0, err.message
    assert lib.hw_query_new(src, ctypes.byref(q), ctypes.byref(err)) == 0
    assert lib.hw_query_plan(q, ctypes.byref(err)) == 0
    lib.hw_query_partitions.restype = ctypes.c_int64
    assert lib.hw_query_partitions(q) == 5
    assert lib.hw_source_open(rt, b"nope", None, None, 0, None, ctypes.byref(src), ctypes.byref(err)) == -1
    assert err.error_class == b"DATA_SOURCE_NOT_FOUND"
    lib.hw_query_free(q)
    lib.hw_source_free(src)
    lib.hw_runtime_free(rt)
    assert sys.modules["headwater.capi"] is capi  # still running, still ours


DEBIAN_PYTHON = "/usr/bin/python3"


def _debian_python_version():
    if not os.path.exists(DEBIAN_PYTHON):
        return None
    out = subprocess.run([DEBIAN_PYTHON, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True,
                         text=True, timeout=60).stdout.split()
    return tuple(map(int, out))


@pytest.mark.skipif(_debian_python_version() != sys.version_info[:2],
                    reason=f"{DEBIAN_PYTHON} is missing or not Python {sys.version_info[0]}.{sys.version_info[1]}, "
                           "the version libheadwater and headwater._core are built for")
def test_attaches_to_debians_python():
    """Debian's /usr/bin/python3 (another build of the same Python version, statically linked) as
    the host: libheadwater's Python calls bind to the host's interpreter, which the runtime attaches
    to, and partitions read in process mode (workers started from that interpreter) give the rows
    the Python API gives."""
    # headwater's own folder and the venv's site-packages (pyarrow, ...): one and the same folder
    # in `make test`, two under `make sanitize` (headwater is built into build/asan-site there)
    sites = dict.fromkeys(os.path.dirname(os.path.dirname(m.__file__)) for m in (capi, pc))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*sites, os.path.join(ROOT, "examples")]))
    run = subprocess.run([DEBIAN_PYTHON, os.path.join(os.path.dirname(os.path.abspath(__file__)), "capi_attach_host.py")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith(f"host {DEBIAN_PYTHON} ")
    assert lines[1] == "runtimes made here 1"  # attached: the runtime's Python objects live in the host
    assert lines[2] == f"rows 3000 sum {sum(range(3000))}"
    assert lines[3] == "still running True"
