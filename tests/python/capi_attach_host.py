"""A host that already runs Python attaches a C API runtime to its own interpreter (test_capi_package.py
runs this under Debian's /usr/bin/python3, with the venv's packages on PYTHONPATH) and reads each
partition of a source through libheadwater in process mode; prints what it saw, one fact a line."""

import ctypes
import os
import sys

import pyarrow as pa

from headwater import capi

made = []  # capi.Runtime objects made in this interpreter: the runtime attached here
_init = capi.Runtime.__init__


def _counting_init(self):
    made.append(self)
    _init(self)


capi.Runtime.__init__ = _counting_init


class Error(ctypes.Structure):
    _fields_ = [("error_class", ctypes.c_char * 96), ("message", ctypes.c_char * 2048),
                ("partition", ctypes.c_int64), ("row", ctypes.c_int64), ("column", ctypes.c_int32),
                ("traceback", ctypes.c_char * 4096)]


def check(rc, err):
    if rc != 0:
        sys.exit(f"{err.error_class.decode()}: {err.message.decode()}")


lib = ctypes.CDLL(os.path.join(os.path.dirname(capi.pkg_config_path()), "libheadwater.so"))
lib.hw_query_partitions.restype = ctypes.c_int64
err = Error()
rt, src, q = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
check(lib.hw_runtime_new(None, ctypes.byref(rt), ctypes.byref(err)), err)
keys = (ctypes.c_char_p * 2)(b"rows", b"partitions")
values = (ctypes.c_char_p * 2)(b"3000", b"3")
check(lib.hw_source_open(rt, b"trades_source:TradesSource", keys, values, 2, None, ctypes.byref(src),
                         ctypes.byref(err)), err)
check(lib.hw_query_new(src, ctypes.byref(q), ctypes.byref(err)), err)
check(lib.hw_query_mode(q, 3, ctypes.byref(err)), err)  # HW_MODE_PROCESS
check(lib.hw_query_plan(q, ctypes.byref(err)), err)
print("host", sys.executable, ".".join(map(str, sys.version_info[:3])))
print("runtimes made here", len(made))
ids = 0
rows = 0
for p in range(lib.hw_query_partitions(q)):
    stream = ctypes.create_string_buffer(40)  # struct ArrowArrayStream: five pointers
    check(lib.hw_query_execute_partition(q, ctypes.c_int64(p), stream, ctypes.byref(err)), err)
    table = pa.RecordBatchReader._import_from_c(ctypes.addressof(stream)).read_all()
    rows += table.num_rows
    ids += sum(table.column("trade_id").to_pylist())
print("rows", rows, "sum", ids)
lib.hw_query_free(q)
lib.hw_source_free(src)
lib.hw_runtime_free(rt)
print("still running", sys.modules["headwater.capi"] is capi)
