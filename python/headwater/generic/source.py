"""The generic ``python`` format: any class with three methods is a data source.

::

    class Orders:
        def infer_schema(self, options) -> pyarrow.Schema: ...        # or a DDL string / StructType
        def plan_partitions(self, options) -> list[dict]: ...          # JSON-serializable specs
        def read_partition(self, spec, options) -> Iterator[pyarrow.RecordBatch]: ...  # or rows

    spark.read.format("python").option("python_module", "pkg.orders") \\
        .option("python_class", "Orders").option("endpoint", url).load()
    headwater.read_python("pkg.orders:Orders", endpoint=url)
    spark.dataSource.register_python("orders", "pkg.orders:Orders"); spark.read.format("orders")

Planning runs once per query in the session's process: import the module, instantiate the class,
``infer_schema`` (unless the user gave a schema) at ``load()``, then per action
``plan_partitions``. The C scan reads the partitions (inline, on threads, or later on worker
processes) through :class:`ReadPartition`, a small picklable callable that holds only the module
and class names, the options and the engine's cast setting: it imports and instantiates the class
lazily, once per copy, so the source class never needs to be picklable. Each partition's spec
travels as JSON text and reaches ``read_partition`` as ``json.loads`` of it, the same in every
mode and on Spark (:mod:`headwater.generic.spark`).

RecordBatches go through the C check (same columns by name, same types ignoring nullability,
reordered by name without a copy); tuples and Rows go through the C converter.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterator, List, Optional

import pyarrow as pa

from headwater.datasource import InputPartition
from headwater.errors import AnalysisException, PythonException
from headwater.exec.plan import Flavor, ReadPlan
from headwater.generic.spark import (  # shared with the adapter
    _SourceCall,
    _ENGINE_FILES,
    GenericSourceError,
    Options,
    check_methods,
    conform_batch,
    failure_message,
    format_target,
    import_class,
    instantiate,
    is_true,
    make_options,
    split_target,
    spec_to_json,
    target_from_options,
)
from headwater.redact import REDACTED, redact
from headwater.schema import parse_schema, to_struct_type

__all__ = ["GenericPlan", "GenericPartition", "ReadPartition", "register_python", "plan_for", "FORMAT"]

_ENGINE_FILES.add(os.path.abspath(__file__))

#: The format name headwater reserves for generic sources.
FORMAT = "python"


class GenericPartition(InputPartition):
    """One planned partition: its index and its spec as JSON text (``value``)."""

    def __init__(self, index: int, spec_json: str) -> None:
        super().__init__(spec_json)
        self.index = index

    def __reduce__(self) -> Any:
        return (GenericPartition, (self.index, self.value))

    def __repr__(self) -> str:
        try:  # the spec as shown: secret keys and URL credentials masked
            shown = json.dumps(redact(json.loads(self.value)), separators=(",", ":"))
        except ValueError:
            shown = REDACTED
        return f"GenericPartition({self.index}, {shown})"


class ReadPartition(_SourceCall):
    """The read function of a generic scan: ``read_fn(GenericPartition) -> iterator``.

    Picklable, and holds only ``(module, class, options, cast)``;
    the source instance is made on first use and cached on the object (so once per query in the
    session's process, and once per query in each worker process, which unpickles the reader
    once per query). Exceptions of ``read_partition`` (raised
    when it is called or while it is iterated) become :class:`~headwater.errors.PythonException`
    with the method, the partition, its spec and the options (secrets redacted) and the
    source's traceback; the original is the exception's ``__context__``.
    """

    required = ("read_partition",)

    def __init__(self, module: str, qualname: str, options: Options, *, cast_schema: Any = None) -> None:
        super().__init__(module, qualname)
        self.options = options
        # cast=true: the Arrow schema to cast RecordBatches to (None: no cast; the C check decides).
        self.cast_schema = cast_schema

    def __getstate__(self) -> Dict[str, Any]:
        return {**super().__getstate__(), "options": dict(self.options), "cast_schema": self.cast_schema}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["module"], state["qualname"], Options(state["options"]), cast_schema=state["cast_schema"]
        )

    def instance(self) -> Any:
        """The source instance this copy reads with (made on first use, once per copy: a worker
        process unpickles the reader once per query)."""
        try:
            return super().instance()
        except GenericSourceError as e:
            raise PythonException(str(e), "PYTHON_DATA_SOURCE_ERROR") from None

    def _failure(self, e: BaseException, index: int, spec: Any) -> PythonException:
        err = PythonException(
            failure_message("read_partition", self.target, e, index=index, spec=spec, options=self.options),
            "PYTHON_DATA_SOURCE_ERROR",
            partition=index,
        )
        err.source_exception = e  # type: ignore[attr-defined]
        return err

    def __call__(self, partition: GenericPartition) -> Iterator[Any]:
        index = partition.index
        spec = json.loads(partition.value)
        inst = self.instance()
        try:
            result = inst.read_partition(spec, self.options.copy())
        except Exception as e:
            raise self._failure(e, index, spec) from None
        try:
            it = iter(result)
        except TypeError:
            raise PythonException(
                f"read_partition() of the generic source {self.target} must return an iterator of "
                f"pyarrow.RecordBatch or rows; partition {index} returned {type(result).__name__}",
                "DATA_SOURCE_INVALID_RETURN_TYPE",
                partition=index,
            ) from None
        if self.cast_schema is not None:
            return self._cast(it, index, spec)
        return self._guard(it, index, spec)

    def _guard(self, it: Iterator[Any], index: int, spec: Any) -> Iterator[Any]:
        # One generator resume per item: the items themselves go to the C scan untouched.
        try:
            yield from it
        except Exception as e:
            raise self._failure(e, index, spec) from None

    def _cast(self, it: Iterator[Any], index: int, spec: Any) -> Iterator[Any]:
        # cast=true only: each RecordBatch is conformed in Python with pyarrow (select by name,
        # then pyarrow's cast with safe=True for the columns whose type differs). This per-batch
        # Python step runs only because the user opted in; without cast=true batches go straight
        # to the C check, which reorders without copying and rejects a different type.
        target = self.cast_schema
        where = f"partition {index}"
        while True:
            try:
                item = next(it)
            except StopIteration:
                return
            except Exception as e:
                raise self._failure(e, index, spec) from None
            if isinstance(item, pa.RecordBatch):
                try:
                    item = conform_batch(item, target, cast=True, where=where)
                except GenericSourceError as e:
                    raise PythonException(e.message, e.error_class, partition=index) from None
            yield item


class GenericReader:
    """What ``GenericPlan.make_reader`` returns: ``read`` is the scan's read function."""

    def __init__(self, read: ReadPartition) -> None:
        self.read = read


def _source_failure(method: str, target: str, e: BaseException, options: Options) -> AnalysisException:
    err = AnalysisException(failure_message(method, target, e, options=options), "PYTHON_DATA_SOURCE_ERROR")
    err.source_exception = e  # type: ignore[attr-defined]
    return err


def _analysis(e: GenericSourceError, error_class: str) -> AnalysisException:
    return AnalysisException(str(e), error_class)


class GenericPlan(ReadPlan):
    """One ``load()`` of a generic source. Same interface as :class:`~headwater.exec.plan.ReadPlan`
    (``schema``, ``core_schema``, ``name``, ``make_reader``, ``make_partitions``,
    ``execution_mode``, ``new_scan``), whose executor choice and scan it inherits.

    Parameters
    ----------
    module, qualname : str
        Where the source class lives.
    options : dict
        All options, as given (names keep their case for the source).
    user_schema : optional
        A schema from ``.schema(...)``: then ``infer_schema`` is not called.
    conf : RuntimeConfig
        The session's settings (executor mode, workers, batch sizes).
    name : str, optional
        The format name it was registered under; ``"module:Class"`` by default.
    """

    exact_batches = False  # RecordBatches are matched by name, large types narrowed (module docstring)

    def __init__(self, module: str, qualname: str, options: Dict[str, Any], user_schema: Any, conf: Any,
                 name: Optional[str] = None) -> None:
        self.module = module
        self.qualname = qualname
        self.target = format_target(module, qualname)
        self.name = name or self.target
        self.conf = conf
        self.flavor = Flavor(object)  # headwater's own classes
        self.options = make_options(options)
        self.cast = is_true(self.options.get("cast", "false"))
        try:
            self.source_cls = import_class(module, qualname)
        except GenericSourceError as e:
            raise _analysis(e, "HW_PYTHON_SOURCE_IMPORT_ERROR") from None
        try:
            self.source = instantiate(self.source_cls, self.target)
        except GenericSourceError as e:
            raise _analysis(e, "PYTHON_DATA_SOURCE_ERROR") from None
        needed = ("plan_partitions", "read_partition") if user_schema is not None else (
            "infer_schema", "plan_partitions", "read_partition")
        try:
            check_methods(self.source, self.target, needed)
        except GenericSourceError as e:
            raise _analysis(e, "HW_PYTHON_SOURCE_METHOD_MISSING") from None
        if user_schema is not None:
            self.core_schema = parse_schema(user_schema)
        else:
            try:
                declared = self.source.infer_schema(self.options.copy())
            except Exception as e:
                raise _source_failure("infer_schema", self.target, e, self.options) from None
            try:
                self.core_schema = parse_schema(declared)
            except TypeError:
                raise AnalysisException(
                    f"infer_schema() of the generic source {self.target} must return a pyarrow.Schema, a "
                    f"DDL string or a StructType, got {type(declared).__name__}",
                    "DATA_SOURCE_INVALID_RETURN_TYPE",
                ) from None
        if not self.core_schema.is_struct:
            raise AnalysisException(
                f"Schema of the Python data source {self.name} must be a struct, "
                f"got {self.core_schema.simple_string()}.",
                "INVALID_SCHEMA.NON_STRUCT_TYPE",
            )
        self.schema = to_struct_type(self.core_schema, flavor="headwater")

    # ---- per action

    def make_reader(self) -> GenericReader:
        cast_schema = None
        if self.cast:
            cast_schema = pa.schema(self.core_schema)
        return GenericReader(ReadPartition(self.module, self.qualname, self.options, cast_schema=cast_schema))

    def make_partitions(self, reader: Any) -> List[Any]:
        """Calls ``plan_partitions`` and checks every spec is a JSON-serializable dict."""
        try:
            specs = self.source.plan_partitions(self.options.copy())
        except Exception as e:
            raise _source_failure("plan_partitions", self.target, e, self.options) from None
        if isinstance(specs, (str, bytes, dict)) or not hasattr(specs, "__iter__"):
            raise AnalysisException(
                f"plan_partitions() of the generic source {self.target} must return a list of dicts, "
                f"got {type(specs).__name__}",
                "DATA_SOURCE_TYPE_MISMATCH",
            )
        out: List[Any] = []
        for i, spec in enumerate(specs):
            try:
                out.append(GenericPartition(i, spec_to_json(spec, i, self.target)))
            except GenericSourceError as e:
                raise _analysis(e, "HW_PARTITION_SPEC_NOT_JSON") from None
        return out


# ---------------------------------------------------------------------------------------------
# the hooks: format("python"), register_python, read_python


class GenericEntry:
    """A generic class registered under a short name (``register_python``): what the session's
    registry holds for it."""

    _name = ""
    module = ""
    qualname = ""

    @classmethod
    def name(cls) -> str:
        return cls._name


def register_python(registry: Any, name: str, source: Any) -> type:
    """Register the generic class ``source`` (``"pkg.module:Class"`` or the class) under the
    format name ``name`` (case-insensitive). The module is imported now, so a wrong name fails
    here; the class is instantiated per ``load()``."""
    if not isinstance(name, str) or not name.strip():
        raise AnalysisException(f"a data source name must be a non-empty string, got {name!r}", "HW_INVALID_ARGUMENT")
    if name.strip().lower() == FORMAT:
        raise AnalysisException(
            f"'{FORMAT}' is the generic format itself: register the class under another name",
            "HW_INVALID_ARGUMENT",
        )
    try:
        module, qualname = split_target(source)
        cls = import_class(module, qualname)
        check_methods(cls, format_target(module, qualname))
    except GenericSourceError as e:
        raise _analysis(e, "HW_PYTHON_SOURCE_IMPORT_ERROR") from None
    entry = type(
        f"GenericEntry[{name}]",
        (GenericEntry,),
        {"_name": name.strip(), "module": module, "qualname": qualname, "__module__": __name__},
    )
    registry.register(entry)
    return entry


def plan_for(spark: Any, fmt: str, options: Dict[str, Any], user_schema: Any) -> Optional[GenericPlan]:
    """The plan of a read in the generic format (``"python"`` or a ``register_python`` name), or
    None when ``fmt`` names something else."""
    if fmt.lower() == FORMAT:
        try:
            module, qualname = target_from_options(make_options(options), FORMAT)
        except GenericSourceError as e:
            raise _analysis(e, "HW_MISSING_OPTION") from None
        return GenericPlan(module, qualname, options, user_schema, spark.conf)
    try:
        cls = spark._registry.lookup(fmt)
    except AnalysisException:
        return None
    if isinstance(cls, type) and issubclass(cls, GenericEntry):
        return GenericPlan(cls.module, cls.qualname, options, user_schema, spark.conf, name=cls._name)
    return None
