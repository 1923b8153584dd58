"""The house stays as built: the Python package's import graph, read from the source with ``ast``.

Layers, from the ground up (docs/architecture.md); a module may import its own layer and the ones
below it, never one above, and never a sibling layer on the same floor:

    0  errors, extras (optional dependencies), redact (secrets in messages), durable (fsync), the C core (_core)
    1  config, types
    2  schema, arrowtypes
    3  datasource                      (the API mirror)
    4  exec/                           (read plans, policy, scans, write tasks, worker)
    5  generic/  formats/  jdbc/  state/   (siblings: none imports another; state/: streaming state operators)
    6  query/                          (logical plan, compiler, pushdown, DuckDB engine)
    7  sql/                            (the Spark facade)
    8  streaming/                      (Structured Streaming: a micro-batch is a batch DataFrame;
                                        it installs spark.readStream/spark.streams into the facade)
    9  headwater/__init__, functions, spark (faces: they only hand names on); capi (the C API's Python half)
   10  cli/                            (the `headwater` command, on click)

Also: ``generic/spark.py`` imports nothing of headwater but ``redact`` (both are pickled by value
to Spark's executors); module-level imports form no circle except inside the facade (``sql/``); and no
function imports a module of headwater (imports inside functions are for optional dependencies),
except the package's own face, which loads the facade on first use.

Run it alone with ``python tests/python/test_layers.py``: it prints every violation.
"""

from __future__ import annotations

import ast
import os
import sys
from typing import Dict, Iterator, List, Optional, Set, Tuple

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python")
PACKAGE = os.path.join(ROOT, "headwater")

LAYERS: Dict[str, int] = {
    "headwater.errors": 0,
    "headwater.extras": 0,
    "headwater.redact": 0,
    "headwater.durable": 0,
    "headwater._core": 0,
    "headwater.config": 1,
    "headwater.types": 1,
    "headwater.schema": 2,
    "headwater.arrowtypes": 2,
    "headwater.datasource": 3,
    "headwater.exec": 4,
    "headwater.generic": 5,
    "headwater.formats": 5,
    "headwater.jdbc": 5,
    "headwater.state": 5,
    "headwater.query": 6,
    "headwater.sql": 7,
    "headwater.streaming": 8,
    "headwater": 9,
    "headwater.functions": 9,
    "headwater.spark": 9,
    "headwater.capi": 9,
    "headwater.cli": 10,
}

#: The one circle allowed: the facade's own (session <-> dataframe <-> readwriter <-> writer).
CIRCLE_ALLOWED = "headwater.sql"

#: Faces that load a layer on first use (PEP 562 ``__getattr__``), so ``import headwater`` stays light.
LAZY_FACES = ("headwater",)

#: Self-contained modules and the only modules of headwater they may import (themselves
#: self-contained): the Spark adapter is pickled by value to executors without headwater, with the
#: redaction rule it shares (standard library only).
SELF_CONTAINED = {"headwater.generic.spark": ("headwater.redact",), "headwater.redact": ()}

Edge = Tuple[str, str, int, str]  # (importer, imported, line, where: "module", "typing" or "function")


def modules() -> Dict[str, str]:
    """Module name -> file, for every .py file of the package."""
    out = {}
    for folder, _, files in os.walk(PACKAGE):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                out[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = path
    return out


def layer_of(module: str) -> Tuple[str, int]:
    """The layer a module belongs to: the longest declared prefix, and its floor."""
    best = max((k for k in LAYERS if module == k or module.startswith(k + ".")), key=len)
    return best, LAYERS[best]


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _walk(body: List[ast.stmt], top: str) -> Iterator[Tuple[ast.stmt, str]]:
    """Every import statement, and where it runs: at import time ("module"), only for type
    checkers ("typing": under ``if TYPE_CHECKING``) or when a function runs ("function")."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, top
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _walk(node.body, "function")
        elif isinstance(node, ast.ClassDef):
            yield from _walk(node.body, top)
        elif isinstance(node, ast.If):
            yield from _walk(node.body, "typing" if _is_type_checking(node) and top == "module" else top)
            yield from _walk(node.orelse, top)
        elif isinstance(node, (ast.Try, ast.With, ast.For, ast.While)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for part in getattr(node, field, []) or []:
                    if isinstance(part, ast.ExceptHandler):
                        yield from _walk(part.body, top)
                    else:
                        yield from _walk([part], top)


def edges(mods: Dict[str, str]) -> List[Edge]:
    out: List[Edge] = []
    for name, path in mods.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        for node, top in _walk(tree.body, "module"):
            targets: List[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                for a in node.names:  # `from pkg import sub` imports the submodule
                    sub = f"{base}.{a.name}"
                    targets.append(sub if sub in mods or sub == "headwater._core" else base)
            for t in targets:
                if t == "headwater" or t.startswith("headwater."):
                    out.append((name, t, node.lineno, top))
    return out


def violations() -> List[str]:
    mods = modules()
    graph = edges(mods)
    found: List[str] = []
    for src, dst, line, top in graph:
        where = f"{os.path.relpath(mods[src], ROOT)}:{line}"
        if src in SELF_CONTAINED:
            if dst not in SELF_CONTAINED[src]:
                found.append(f"{where}: {src} must import nothing of headwater but {SELF_CONTAINED[src]}, "
                             f"imports {dst}")
            continue
        (src_layer, src_floor), (dst_layer, dst_floor) = layer_of(src), layer_of(dst)
        if dst_floor > src_floor:
            found.append(f"{where}: {src} (layer {src_layer}, floor {src_floor}) imports {dst} from a layer "
                         f"above it ({dst_layer}, floor {dst_floor})")
        elif dst_floor == src_floor and dst_layer != src_layer:
            found.append(f"{where}: {src} imports {dst} from a sibling layer ({dst_layer})")
        if top == "function" and (dst in mods or dst == "headwater._core") and src not in LAZY_FACES:
            found.append(f"{where}: {src} imports {dst} inside a function (imports of headwater go at the top)")
    found += [f"import circle outside {CIRCLE_ALLOWED}: {' -> '.join(c)}" for c in circles(graph)]
    return found


def circles(graph: List[Edge]) -> List[List[str]]:
    """Strongly connected groups of modules (module-level imports), other than the facade's."""
    adj: Dict[str, Set[str]] = {}
    for src, dst, _, top in graph:
        if top == "module":
            adj.setdefault(src, set()).add(dst)
            adj.setdefault(dst, set())
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on: Set[str] = set()
    out: List[List[str]] = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(adj[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 and not all(m.startswith(CIRCLE_ALLOWED + ".") for m in group):
                out.append(sorted(group))

    for v in sorted(adj):
        if v not in index:
            visit(v)
    return out


def test_every_module_has_a_layer():
    for name in modules():
        assert layer_of(name)[0], name


def test_imports_go_down_the_layers():
    found = violations()
    assert not found, "the house's layers are broken:\n" + "\n".join(found)


def test_the_check_sees_an_upward_import():
    """The check itself: an import from a higher layer, or a circle, is reported."""
    mods = {"headwater.exec.x": "x.py", "headwater.sql.y": "y.py", "headwater.query.a": "a.py",
            "headwater.query.b": "b.py"}
    graph = [("headwater.exec.x", "headwater.sql.y", 1, "module"),
             ("headwater.query.a", "headwater.query.b", 1, "module"),
             ("headwater.query.b", "headwater.query.a", 1, "module")]
    assert layer_of("headwater.exec.x")[1] < layer_of("headwater.sql.y")[1]
    assert circles(graph) == [["headwater.query.a", "headwater.query.b"]]
    assert set(mods) >= {src for src, _, _, _ in graph}


def main(argv: Optional[List[str]] = None) -> int:
    found = violations()
    for v in found:
        print(v)
    print(f"{len(modules())} modules, {len(found)} violation(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
