"""headwater._core as CPython's own extension modules are written (PEP 489 multi-phase init, module
state, heap types): every module object has its own types, in a subinterpreter as in this one."""

import gc
import importlib.util
import json
import os
import weakref

import _testcapi

import headwater._core as core


def _run_in_subinterpreter(code: str) -> dict:
    """Runs code in a fresh subinterpreter; what it assigns to `out` (JSON) comes back."""
    read_fd, write_fd = os.pipe()
    try:
        wrapped = f"import json, os\nout = {{}}\n{code}\nos.write({write_fd}, json.dumps(out).encode())\n"
        assert _testcapi.run_in_subinterp(wrapped) == 0
        os.close(write_fd)
        write_fd = -1
        data = b""
        while chunk := os.read(read_fd, 65536):
            data += chunk
        return json.loads(data)
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)


def test_core_imports_and_converts_in_a_subinterpreter():
    out = _run_in_subinterpreter(
        """
import headwater._core as core
batch = core.rows_to_batch("a INT, s STRING", [(1, "x"), (2, None), (3, "z")])
stream = core.rows_to_stream("a BIGINT", [(i,) for i in range(25)], max_rows_per_batch=10)
out["rows"] = batch.num_rows
out["ddl"] = batch.schema.to_ddl()
out["streamed"] = core.count_rows(stream)
out["imported"] = core.import_batch(batch).num_rows
try:
    core.schema_from_ddl("a INT,")
except Exception as e:  # headwater.errors, imported inside the subinterpreter
    out["error"] = type(e).__name__
out["schema_type_id"] = id(core.Schema)
"""
    )
    assert out["rows"] == 3
    assert out["ddl"] == "a INT, s STRING"
    assert out["streamed"] == 25
    assert out["imported"] == 3
    assert out["error"] == "ParseException"
    # its own heap type, not this interpreter's (a static type would be the same object)
    assert out["schema_type_id"] != id(core.Schema)
    # and this interpreter's module still works after the subinterpreter is gone
    assert core.rows_to_batch("a INT", [(7,)]).num_rows == 1


def _fresh_core():
    spec = importlib.util.spec_from_file_location("headwater._core", core.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_second_import_in_this_interpreter_is_independent():
    other = _fresh_core()
    assert other is not core
    for name in ("Schema", "RecordBatch", "ArrowStream", "Scan", "WorkerPool"):
        assert getattr(other, name) is not getattr(core, name), name
    batch = other.rows_to_batch("a INT", [(1,), (2,)])
    assert type(batch) is other.RecordBatch and not isinstance(batch, core.RecordBatch)
    assert type(batch.slice(0, 1)) is other.RecordBatch  # methods reach their own module's state
    assert type(batch.schema) is other.Schema
    # objects cross between the two through the Arrow PyCapsule interface
    schema = other.schema_from_arrow(core.schema_from_ddl("a INT, b STRING"))
    assert type(schema) is other.Schema and schema.to_ddl() == "a INT, b STRING"
    assert core.schema_from_ddl("a INT") != other.schema_from_ddl("a INT")  # different types: not comparable
    assert core.schema_from_ddl("a INT") == core.schema_from_ddl("a INT")
    assert core.count_rows(other.import_stream(core.rows_to_stream("a INT", [(1,), (2,), (3,)]))) == 3


def test_a_dropped_module_and_its_types_are_collected():
    other = _fresh_core()
    batch = other.rows_to_batch("a INT", [(1,)])
    assert gc.is_tracked(batch)  # heap types with GC support: an object holds its type
    types = [weakref.ref(getattr(other, name)) for name in ("Schema", "RecordBatch", "ArrowStream", "Scan")]
    del other, batch
    gc.collect()
    assert [t() for t in types] == [None] * 4


def test_value_types_are_made_by_the_core_only_and_immutable():
    for cls in (core.Schema, core.RecordBatch, core.ArrowStream):
        try:
            cls()
        except TypeError as e:
            assert "cannot create" in str(e)
        else:
            raise AssertionError(f"{cls.__name__}() made an object")
    try:
        core.Schema.extra = 1
    except TypeError as e:
        assert "immutable" in str(e)
    else:
        raise AssertionError("a _core type took a new attribute")


# ---------------------------------------------------------------- rows_to_batch / rows_to_stream
# They read their rows as a scan reads a partition (the partition reader): one home for the row and
# byte limits of a batch.

import pyarrow as pa  # noqa: E402
import pytest  # noqa: E402

WIDE = "id BIGINT, s STRING"
WIDE_ROWS = [(i, "x" * (i % 50)) for i in range(3_000)]


def _scan_batch_lengths(rows, **limits):
    scan = core.Scan(WIDE, lambda p: iter(rows), [0], mode="inline", **limits)
    return [b.num_rows for b in pa.RecordBatchReader.from_stream(scan)]


@pytest.mark.parametrize(
    "limits",
    [
        {"max_rows_per_batch": 700},
        {"max_rows_per_batch": 10_000, "max_bytes_per_batch": 8_192},
        {"max_rows_per_batch": 100, "max_bytes_per_batch": 2_000},
    ],
)
def test_rows_to_stream_batches_as_a_scan_batches_a_partition(limits):
    lengths = [b.num_rows for b in pa.RecordBatchReader.from_stream(core.rows_to_stream(WIDE, WIDE_ROWS, **limits))]
    assert lengths == _scan_batch_lengths(WIDE_ROWS, **limits)
    assert sum(lengths) == len(WIDE_ROWS) and len(lengths) > 1
    # and from a generator (no length to go by) the same
    gen_lengths = [
        b.num_rows for b in pa.RecordBatchReader.from_stream(core.rows_to_stream(WIDE, iter(WIDE_ROWS), **limits))
    ]
    assert gen_lengths == lengths


def test_rows_to_batch_keeps_its_contract():
    empty = pa.record_batch(core.rows_to_batch("a INT", []))
    assert empty.num_rows == 0 and empty.schema == pa.schema([("a", pa.int32())])
    assert pa.record_batch(core.rows_to_batch(WIDE, iter(WIDE_ROWS))).num_rows == len(WIDE_ROWS)
    assert pa.record_batch(core.rows_to_batch("a INT, b STRING", [{"b": "x", "a": 1}], dicts=True)).to_pylist() == [
        {"a": 1, "b": "x"}
    ]

    def failing():
        yield (1,)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):  # the rows' own exception, as raised
        core.rows_to_batch("a INT", failing())
    with pytest.raises(TypeError, match="'int' object is not iterable"):
        core.rows_to_batch("a INT", 5)


def test_rows_to_batch_refuses_a_list_that_grew_while_it_was_converted():
    rows = []

    class Grows:
        def __index__(self):
            rows.append((2,))
            return 1

    rows.append((Grows(),))
    with pytest.raises(RuntimeError, match="rows changed size during the conversion"):
        core.rows_to_batch("a BIGINT", rows)


def test_thread_scans_still_work_once_a_subinterpreter_was_created():
    # 3.11 and 3.12 turn PyGILState_Check off for good once a subinterpreter exists: the scan must
    # not rely on it to know whether it holds the GIL
    assert _run_in_subinterpreter("import headwater._core\nout['ok'] = True") == {"ok": True}

    def read(p):
        for i in range(5_000):
            yield (p * 5_000 + i, "x")

    for _ in range(3):
        scan = core.Scan(WIDE, read, [0, 1, 2, 3], mode="thread", workers=2, max_rows_per_batch=500)
        assert core.count_rows(scan) == 20_000  # waits in C without the GIL while the threads hold it
        scan = core.Scan(WIDE, read, [0, 1, 2, 3], mode="thread", workers=2, max_rows_per_batch=500)
        assert pa.RecordBatchReader.from_stream(scan).read_all().num_rows == 20_000
