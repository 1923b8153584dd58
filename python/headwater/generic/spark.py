"""Three-method generic sources on Apache Spark 4: the PySpark adapter.

A generic source is any class with ``infer_schema(options)``, ``plan_partitions(options)`` and
``read_partition(spec, options)`` (see :mod:`headwater.generic`). headwater runs it natively as
``spark.read.format("python")``; this module lets the very same class run on a Spark 4 cluster
(or on anything that speaks PySpark's Python Data Source API, such as Lakesail)::

    from pyspark.sql import SparkSession
    import headwater.spark

    spark = SparkSession.builder.getOrCreate()
    headwater.spark.register(spark)                       # format("python") on Spark
    df = (spark.read.format("python")
          .option("python_module", "pkg.module").option("python_class", "Class")
          .option("endpoint", "https://...").load())

    headwater.spark.as_datasource("pkg.module:Class", name="orders", spark=spark)
    spark.read.format("orders").load()

What travels to Spark's Python workers is what travels to headwater's: the module and class
names, the options and the partition specs as JSON values. The source class itself is never
pickled, so it need not be picklable; its module must be importable on the executors (an
installed package, ``PYTHONPATH`` or ``spark.addPyFile``).

This module needs nothing of headwater's but :mod:`headwater.redact` (standard library only):
the standard library, pyarrow and (for :func:`register` / :func:`as_datasource`) pyspark. Both
are registered with cloudpickle to be pickled by value, so executors without headwater installed
run the adapter. The helpers below
(options, target names, import errors, JSON specs, redaction, batch conforming) are shared with
:mod:`headwater.generic`, so both engines give the same messages.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
import threading
import traceback
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from headwater import redact as _redact_module
from headwater.redact import is_secret_name, redact, scrub

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["register", "as_datasource", "Options", "GenericSourceError"]

#: The methods of the three-method interface, in the order an engine calls them.
METHODS = ("infer_schema", "plan_partitions", "read_partition")

#: Options read by the engine (headwater or this adapter) rather than by the source.
OWN_OPTIONS = ("python_module", "python_class", "cast")

_MISSING = object()

# Frames of these files are dropped from the front of a source's traceback: they are the
# engine calling the source, not the source. headwater.generic adds its own file.
_ENGINE_FILES = {os.path.abspath(__file__)}


class GenericSourceError(Exception):
    """A generic source could not be imported, lacks a method, failed in one of its methods or
    returned something the engine cannot use. The message says which, and where; ``error_class``
    is Spark's (or headwater's) error class when there is one."""

    def __init__(self, message: str, error_class: Optional[str] = None) -> None:
        self.message = message
        self.error_class = error_class
        super().__init__(f"[{error_class}] {message}" if error_class else message)


# ---------------------------------------------------------------------------------------------
# options


class Options(dict):
    """The options a source receives: a plain ``dict`` whose names keep the spelling the user
    gave, with case-insensitive lookups (an exact match wins).

    ``options["endpoint"]`` finds an option given as ``Endpoint``, as Spark's case-insensitive
    options would, while ``dict(options)`` and iteration show the names as given. (On a Spark
    cluster the JVM lower-cases option names before the source sees them; lookups through this
    mapping behave the same on both engines.)
    """

    __slots__ = ()

    def _spelling(self, key: Any) -> Any:
        if isinstance(key, str):
            low = key.lower()
            for k in dict.keys(self):
                if isinstance(k, str) and k.lower() == low:
                    return k
        return _MISSING

    def __missing__(self, key: Any) -> Any:
        k = self._spelling(key)
        if k is _MISSING:
            raise KeyError(key)
        return dict.__getitem__(self, k)

    def get(self, key: Any, default: Any = None) -> Any:
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        k = self._spelling(key)
        return default if k is _MISSING else dict.__getitem__(self, k)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or self._spelling(key) is not _MISSING

    def copy(self) -> "Options":
        return Options(self)

    def __repr__(self) -> str:  # options are shown in messages and logs: never their secrets
        return repr(redact(dict(self)))


def make_options(pairs: Union[Dict[str, Any], Iterable[Tuple[str, Any]]]) -> Options:
    """Options from ``(name, value)`` pairs: a name given twice in different case keeps the last
    value, under the last spelling, as Spark's case-insensitive options do."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    out = Options()
    for k, v in items:
        old = out._spelling(k)
        if old is not _MISSING:
            del out[old]
        out[k] = v
    return out


def is_true(value: Any) -> bool:
    """Spark's reading of a boolean option: ``true`` in any case."""
    return isinstance(value, bool) and value or str(value).strip().lower() == "true"


# ---------------------------------------------------------------------------------------------
# naming and importing the source class


def split_target(target: Any) -> Tuple[str, str]:
    """``"pkg.module:Class"`` (or a class object) as ``(module, qualified class name)``."""
    if isinstance(target, type):
        module, qualname = target.__module__, target.__qualname__
        if "<locals>" in qualname:
            raise GenericSourceError(
                f"the generic source class {qualname} is defined inside a function: workers import it "
                "by module and class name, so define it at the top level of a module"
            )
        return module, qualname
    if not isinstance(target, str) or target.count(":") != 1:
        raise GenericSourceError(
            f"a generic source is named 'pkg.module:Class' (or given as a class), got {target!r}"
        )
    module, qualname = (p.strip() for p in target.split(":"))
    if not module or not qualname:
        raise GenericSourceError(f"a generic source is named 'pkg.module:Class', got {target!r}")
    return module, qualname


def target_from_options(options: Options, kind: str = "python") -> Tuple[str, str]:
    """``python_module`` / ``python_class`` (case-insensitive names). ``python_class`` may also be
    ``"pkg.module:Class"`` on its own."""
    module = options.get("python_module")
    qualname = options.get("python_class")
    if not module and qualname and ":" in str(qualname):
        return split_target(str(qualname))
    missing = [n for n, v in (("python_module", module), ("python_class", qualname)) if not v]
    if missing:
        raise GenericSourceError(
            f"the '{kind}' format needs the option{'s' if len(missing) > 1 else ''} "
            + " and ".join(f"'{m}'" for m in missing)
            + ": .option('python_module', 'pkg.module').option('python_class', 'Class')"
        )
    return str(module).strip(), str(qualname).strip()


def format_target(module: str, qualname: str) -> str:
    return f"{module}:{qualname}"


def _exception_text(exc: BaseException) -> str:
    """The exception with its traceback, minus the engine's own frames at the front."""
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) in _ENGINE_FILES:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip("\n")


def import_class(module: str, qualname: str) -> type:
    """Imports ``module`` and returns its class ``qualname`` (dotted for nested classes).

    Raises
    ------
    GenericSourceError
        naming the module and the ``sys.path`` that was searched, with the traceback of an
        import that raised inside the module.
    """
    target = format_target(module, qualname)
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        missing = e.name or ""
        if missing and (module == missing or module.startswith(missing + ".")):
            raise GenericSourceError(
                f"cannot import python_module '{module}' of the generic source {target}: "
                f"no module named '{missing}'. sys.path tried: {sys.path}"
            ) from None
        raise GenericSourceError(
            f"cannot import python_module '{module}' of the generic source {target}: importing it "
            f"raised\n{_exception_text(e)}\nsys.path tried: {sys.path}"
        ) from None
    except BaseException as e:  # noqa: BLE001 -- a SyntaxError or SystemExit in user code too
        if isinstance(e, (KeyboardInterrupt,)):
            raise
        raise GenericSourceError(
            f"cannot import python_module '{module}' of the generic source {target}: importing it "
            f"raised\n{_exception_text(e)}\nsys.path tried: {sys.path}"
        ) from None
    obj: Any = mod
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise GenericSourceError(
                f"module '{module}' ({getattr(mod, '__file__', None) or 'built-in'}) has no class "
                f"'{qualname}' (python_class of the generic source {target})"
            ) from None
    if not isinstance(obj, type):
        raise GenericSourceError(
            f"python_class '{qualname}' of module '{module}' is a {type(obj).__name__}, not a class"
        )
    return obj


def check_methods(obj: Any, target: str, needed: Sequence[str] = METHODS) -> None:
    """Raises GenericSourceError naming the first method of ``needed`` that ``obj`` (a class or
    an instance) lacks."""
    for name in needed:
        if not callable(getattr(obj, name, None)):
            raise GenericSourceError(
                f"the generic source {target} has no method {name}(): a generic source class "
                "defines infer_schema(options), plan_partitions(options) and "
                "read_partition(spec, options)"
            )


def instantiate(cls: type, target: str) -> Any:
    """``cls()``, with the source's traceback when its constructor fails."""
    try:
        return cls()
    except Exception as e:
        raise GenericSourceError(
            f"creating the generic source {target} (calling {cls.__qualname__}()) failed:\n{_exception_text(e)}"
        ) from None


# ---------------------------------------------------------------------------------------------
# secrets, specs and failures


def _path_text(path: List[Any]) -> str:
    return "spec" + "".join(f"[{p!r}]" for p in path)


def _first_non_json(value: Any, path: List[Any]) -> Optional[Tuple[List[Any], str]]:
    """Where ``value`` stops being plain JSON: (path, what is wrong), or None."""
    if value is None or isinstance(value, (bool, int, str)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, f"holds {value!r}, which JSON cannot represent")
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            bad = _first_non_json(v, path + [i])
            if bad:
                return bad
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return path + [k], f"has a key of type {type(k).__name__}; JSON object keys are strings"
            bad = _first_non_json(v, path + [k])
            if bad:
                return bad
        return None
    t = type(value)
    return path, f"holds a {t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else f"holds a {t.__qualname__}"


def spec_to_json(spec: Any, index: int, target: str) -> str:
    """The partition spec as JSON text, or GenericSourceError naming the partition index and the
    offending key. Only JSON values travel to workers (tuples arrive as lists)."""
    if not isinstance(spec, dict):
        raise GenericSourceError(
            f"plan_partitions() of {target} must return a list of dicts; partition {index} is a "
            f"{type(spec).__name__}: {_short(redact(spec))}"
        )
    bad = _first_non_json(spec, [])
    if bad is not None:
        path, what = bad
        key = path[0] if path else None
        raise GenericSourceError(
            f"partition {index} of {target} has a spec that is not JSON-serializable: key {key!r} "
            f"({_path_text(path)}) {what}. Partition specs travel to workers as JSON: use str, int, "
            "float, bool, None, lists and dicts with string keys"
        )
    return json.dumps(spec, allow_nan=False, separators=(",", ":"))


def _short(value: Any, limit: int = 2000) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def failure_message(method: str, target: str, exc: BaseException, *, index: Optional[int] = None,
                    spec: Any = _MISSING, options: Optional[Dict[str, Any]] = None) -> str:
    """The message of an exception raised by one of the source's methods: the method, the
    partition and its spec, the options (secrets redacted) and the source's own traceback."""
    where = f" for partition {index}" if index is not None else ""
    lines = [f"{method}() of the generic source {target} failed{where}: {type(exc).__name__}: {exc}"]
    if spec is not _MISSING:
        lines.append(f"  partition spec: {_short(redact(spec))}")
    if options is not None:
        lines.append(f"  options: {_short(redact(dict(options)))}")
    lines.append("Source traceback:")
    lines.append(_exception_text(exc))
    # the source may have put an option's secret (or a URL with one) in its own message
    secrets = [str(v) for k, v in (options or {}).items() if is_secret_name(k) and v is not None]
    return scrub("\n".join(lines), secrets)


# ---------------------------------------------------------------------------------------------
# RecordBatches against the schema (pyarrow, per batch; only where asked for)


def conform_batch(batch: "pa.RecordBatch", target: "pa.Schema", *, cast: bool, where: str,
                  same_type: Any = None) -> "pa.RecordBatch":
    """``batch`` with the columns of ``target`` in its order, selected by name (no copy).

    With ``cast``, a column whose type is not the target's is cast with ``safe=True`` (overflow,
    truncation and unparsable strings are errors). Without it, ``same_type(got, want)`` decides,
    and a difference is an error naming the column, both types and ``where``.
    """
    import pyarrow as pa

    names = batch.schema.names
    if names != target.names:
        missing = [n for n in target.names if n not in names]
        if missing:
            raise GenericSourceError(
                f"{where}: the RecordBatch has no column '{missing[0]}' (schema columns: "
                f"{target.names}, RecordBatch columns: {names})",
                "DATA_SOURCE_RETURN_SCHEMA_MISMATCH",
            )
        if len(names) != len(target.names):
            extra = [n for n in names if n not in target.names]
            raise GenericSourceError(
                f"{where}: the RecordBatch has columns the schema lacks: {extra} (schema columns: "
                f"{target.names})",
                "DATA_SOURCE_RETURN_SCHEMA_MISMATCH",
            )
        batch = batch.select(target.names)
    if batch.schema.equals(target, check_metadata=False):
        return batch
    columns = []
    for i, want in enumerate(target):
        col = batch.column(i)
        if col.type == want.type:
            columns.append(col)
            continue
        if not cast:
            if same_type is not None and same_type(col.type, want.type):
                # the same Spark type in another Arrow form (large_string for string, ...): made the
                # declared form, since PySpark 4.3 wants the first batch's schema exactly
                columns.append(col.cast(want.type, safe=True))
                continue
            raise GenericSourceError(
                f"{where}: column '{want.name}' is {col.type} in the RecordBatch, but the schema "
                f"declares {want.type} (the option cast=true casts safely)",
                "DATA_SOURCE_RETURN_SCHEMA_MISMATCH",
            )
        try:
            columns.append(col.cast(want.type, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
            raise GenericSourceError(
                f"{where}: cannot cast column '{want.name}' from {col.type} to {want.type} safely: {e}",
                "CAST_INVALID_INPUT",
            ) from None
    # also when only nullability differed: the batch leaves with the declared schema exactly
    return pa.RecordBatch.from_arrays(columns, schema=target)


# ---------------------------------------------------------------------------------------------
# the PySpark DataSource


class _SourceCall:
    """Imports, instantiates and calls a generic source; the instance is made once per copy of
    this object (so once per Spark Python worker and reader) and is never pickled. headwater's own
    read function (headwater.generic.ReadPartition) builds on it."""

    required = ("plan_partitions", "read_partition")  # methods checked when the instance is made

    def __init__(self, module: str, qualname: str) -> None:
        self.module = module
        self.qualname = qualname
        self._instance: Any = None
        self._lock = threading.Lock()

    @property
    def target(self) -> str:
        return format_target(self.module, self.qualname)

    def __getstate__(self) -> Dict[str, Any]:
        return {"module": self.module, "qualname": self.qualname}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(state["module"], state["qualname"])  # type: ignore[misc]

    def instance(self) -> Any:
        if self._instance is None:
            with self._lock:
                if self._instance is None:
                    cls = import_class(self.module, self.qualname)
                    inst = instantiate(cls, self.target)
                    check_methods(inst, self.target, self.required)
                    self._instance = inst
        return self._instance

    def call(self, method: str, *args: Any, index: Optional[int] = None, spec: Any = _MISSING,
             options: Optional[Dict[str, Any]] = None) -> Any:
        inst = self.instance()
        fn = getattr(inst, method, None)
        if not callable(fn):
            check_methods(inst, self.target, (method,))
        try:
            return fn(*args)
        except Exception as e:
            raise GenericSourceError(
                failure_message(method, self.target, e, index=index, spec=spec, options=options)
            ) from None


def _spark_struct(schema: Any) -> Any:
    """What infer_schema returned, as something PySpark's DataSource.schema() may return."""
    from pyspark.sql.types import StructType

    if isinstance(schema, (str, StructType)):
        return schema
    if hasattr(schema, "__arrow_c_schema__") and not hasattr(schema, "fields"):
        import pyarrow as pa
        from pyspark.sql.pandas.types import from_arrow_schema

        return from_arrow_schema(pa.schema(schema), prefer_timestamp_ntz=True)
    json_method = getattr(schema, "json", None)
    if callable(json_method) and hasattr(schema, "fields"):  # headwater's StructType
        return StructType.fromJson(json.loads(json_method()))
    raise TypeError(f"expected a pyarrow.Schema, a DDL string or a StructType, got {type(schema).__name__}")


def _arrow_schema(schema: Any) -> "pa.Schema":
    """The read schema as Arrow: PySpark hands ``reader()`` a StructType, Lakesail a
    ``pyarrow.Schema``."""
    import pyarrow as pa

    if isinstance(schema, pa.Schema):
        return schema
    if isinstance(schema, str):
        from pyspark.sql.types import _parse_datatype_string

        schema = _parse_datatype_string(schema)
    from pyspark.sql.pandas.types import to_arrow_schema

    try:  # Spark's Python reader uses UTC; 4.3 requires a time zone for TIMESTAMP columns
        return to_arrow_schema(schema, timezone="UTC")
    except TypeError:  # a PySpark without the argument
        return to_arrow_schema(schema)


def _same_spark_type(got: Any, want: Any) -> bool:
    """Do two Arrow types map to the same Spark type (ignoring nullability)?"""
    from pyspark.sql.pandas.types import from_arrow_type

    try:
        return from_arrow_type(got, prefer_timestamp_ntz=True).simpleString() == from_arrow_type(
            want, prefer_timestamp_ntz=True
        ).simpleString()
    except Exception:  # noqa: BLE001 -- a type Spark cannot hold is a mismatch
        return False


_classes: Dict[str, Any] = {}


def _base_classes() -> Tuple[type, type]:
    """The adapter's DataSource and DataSourceReader classes (made on first use, so importing
    this module does not import pyspark)."""
    if "source" in _classes:
        return _classes["source"], _classes["reader"]
    try:
        from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
    except ImportError as e:
        raise ImportError("headwater.spark needs pyspark, which is not installed: "
                          "pip install 'headwater[spark]'", name="pyspark") from e

    class GenericDataSource(DataSource):
        """A three-method generic source as a PySpark DataSource. ``_hw_target`` is
        ``(module, class)`` for one class registered under its own name, or None to take
        ``python_module`` / ``python_class`` from the options."""

        _hw_name = "python"
        _hw_target: Optional[Tuple[str, str]] = None

        @classmethod
        def name(cls) -> str:
            return cls._hw_name

        def __init__(self, options: Dict[str, str]) -> None:
            super().__init__(options)
            self._hw_options = make_options(dict(options).items())
            if self._hw_target is not None:
                module, qualname = self._hw_target
            else:
                module, qualname = target_from_options(self._hw_options, self._hw_name)
            self._hw_call = _SourceCall(module, qualname)

        def schema(self) -> Any:
            call = self._hw_call
            check_methods(call.instance(), call.target, ("infer_schema",))
            result = call.call("infer_schema", self._hw_options.copy(), options=self._hw_options)
            try:
                return _spark_struct(result)
            except TypeError as e:
                raise GenericSourceError(f"infer_schema() of {call.target} returned an unusable schema: {e}") from None

        def reader(self, schema: Any) -> "DataSourceReader":
            return GenericReader(self._hw_call, self._hw_options, schema)

    class GenericReader(DataSourceReader):
        def __init__(self, call: _SourceCall, options: Options, schema: Any) -> None:
            self._hw_call = call
            self._hw_options = options
            self._hw_cast = is_true(options.get("cast", "false"))
            self._hw_arrow = _arrow_schema(schema)

        def partitions(self) -> List[Any]:
            call = self._hw_call
            specs = call.call("plan_partitions", self._hw_options.copy(), options=self._hw_options)
            if isinstance(specs, (str, bytes, dict)) or not isinstance(specs, Iterable):
                raise GenericSourceError(
                    f"plan_partitions() of {call.target} must return a list of dicts, got {type(specs).__name__}"
                )
            parts = []
            for i, s in enumerate(specs):
                part = InputPartition(json.loads(spec_to_json(s, i, call.target)))
                part._hw_index = i  # for messages; the spec itself is part.value
                parts.append(part)
            return parts

        def read(self, partition: Any) -> Iterator[Any]:
            import pyarrow as pa

            if partition is None or getattr(partition, "_hw_index", None) is None:
                return  # no specs: Spark reads one partition, InputPartition(None) (None before 4.2)
            call = self._hw_call
            spec = partition.value
            index = getattr(partition, "_hw_index", None)
            options = self._hw_options
            result = call.call("read_partition", spec, options.copy(), index=index, spec=spec, options=options)
            try:
                it = iter(result)
            except TypeError:
                raise GenericSourceError(
                    f"read_partition() of {call.target} must return an iterator of pyarrow.RecordBatch or "
                    f"rows, got {type(result).__name__}"
                ) from None
            where = f"partition spec {_short(redact(spec))} of {call.target}"
            while True:
                try:
                    item = next(it)
                except StopIteration:
                    return
                except Exception as e:
                    raise GenericSourceError(
                        failure_message("read_partition", call.target, e, index=index, spec=spec, options=options)
                    ) from None
                if isinstance(item, pa.RecordBatch):
                    # Spark does not reorder by name (it reads the columns by position), so the
                    # adapter selects them by name, as headwater's C check does.
                    item = conform_batch(item, self._hw_arrow, cast=self._hw_cast, where=where,
                                         same_type=_same_spark_type)
                yield item

    GenericDataSource.__module__ = GenericReader.__module__ = __name__
    _classes["source"] = GenericDataSource
    _classes["reader"] = GenericReader
    return GenericDataSource, GenericReader


def _pickle_by_value() -> None:
    """Executors unpickle the adapter's classes without importing headwater."""
    try:
        from pyspark import cloudpickle
    except ImportError:  # pragma: no cover
        import cloudpickle  # type: ignore[no-redef]
    for module in (sys.modules.get(__name__), _redact_module):  # the redaction rule travels with it
        if module is not None:
            try:
                cloudpickle.register_pickle_by_value(module)
            except ValueError:
                pass


def _subclass(name: str, target: Optional[Tuple[str, str]]) -> type:
    base, _ = _base_classes()
    _pickle_by_value()
    label = name if target is None else f"{name}={format_target(*target)}"
    cls = type(
        f"GenericDataSource[{label}]",
        (base,),
        {"_hw_name": name, "_hw_target": target, "__module__": __name__,
         "__doc__": f"The generic source {label} as a PySpark DataSource (headwater.spark)."},
    )
    return cls


def register(spark: Any, name: str = "python") -> type:
    """Register on a PySpark session the generic format: ``spark.read.format(name)`` with the
    options ``python_module`` and ``python_class`` reads any three-method source.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        A classic or Spark Connect session (Lakesail's included).
    name : str
        The format name, ``"python"`` by default.

    Returns
    -------
    type
        The registered ``pyspark.sql.datasource.DataSource`` subclass.
    """
    cls = _subclass(name, None)
    spark.dataSource.register(cls)
    return cls


def as_datasource(source: Any, name: Optional[str] = None, spark: Any = None) -> type:
    """One generic source class as a PySpark ``DataSource`` with its own format name.

    Parameters
    ----------
    source : str or type
        ``"pkg.module:Class"``, or the class itself (defined at the top level of an importable
        module: executors import it by name).
    name : str, optional
        The format name; the class name by default.
    spark : pyspark.sql.SparkSession, optional
        When given, the DataSource is registered on it.

    Returns
    -------
    type
        The ``DataSource`` subclass (register it with ``spark.dataSource.register``).
    """
    module, qualname = split_target(source)
    cls = _subclass(name or qualname.rsplit(".", 1)[-1], (module, qualname))
    if spark is not None:
        spark.dataSource.register(cls)
    return cls
