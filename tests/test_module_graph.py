"""Module structure: every top-level module imports alone, and the imports among them form no circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mxemu"
# The core modules that hold an MXArray's geometry, bytes and files, and the front ends above them.
ALONE = ("blocking", "validate", "packing", "io", "array", "ops", "spec", "policy")


def _node(module: str) -> str | None:
    """The top-level node of an mxemu module name: mxemu.x for mxemu.x.y, None outside mxemu."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "mxemu" else None


def _imports(path: Path, package: Path) -> set[str]:
    """Every mxemu module `path` imports, at the top or inside a function (a deferred import is still an
    edge: it runs, and it ties the two modules together); not the annotations-only TYPE_CHECKING imports.
    `from mxemu import ops` imports the module mxemu.ops; `from mxemu import quantize` the package itself."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and ast.unparse(node.test).endswith("TYPE_CHECKING") for n in ast.walk(node)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module == "mxemu" and node.level == 0:
            for a in node.names:
                is_module = (package / f"{a.name}.py").is_file() or (package / a.name / "__init__.py").is_file()
                names.add(f"mxemu.{a.name}" if is_module else "mxemu")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """mxemu's top-level modules and subpackages (mxemu, mxemu.array, mxemu.kernels, ...) -> those they import."""
    graph: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        parts = ("mxemu", *path.relative_to(package).with_suffix("").parts)
        source = _node(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
        targets = {_node(name) for name in _imports(path, package)} - {None, source}
        graph.setdefault(source, set()).update(targets)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan): each holds an import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_imports_among_mxemu_top_level_modules_form_no_circle() -> None:
    graph = import_graph()
    assert {"mxemu.array", "mxemu.packing", "mxemu.io", "mxemu.blocking", "mxemu.validate"} <= set(graph)
    assert cycles(graph) == []


def test_the_cycle_finder_sees_a_circle_through_a_deferred_import(tmp_path: Path) -> None:
    # mutation check: the test above can fail. b imports a inside a function, a imports b at the top.
    (tmp_path / "a.py").write_text("import mxemu.b\n")
    (tmp_path / "b.py").write_text("def f():\n    from mxemu import a\n")
    (tmp_path / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import mxemu.a\n")
    (tmp_path / "d.py").write_text("from mxemu import a, version\n")
    graph = import_graph(tmp_path)
    assert cycles(graph) == [["mxemu.a", "mxemu.b"]]
    assert graph["mxemu.c"] == set()
    assert graph["mxemu.d"] == {"mxemu.a", "mxemu"}


def test_blocking_packing_and_io_sit_below_mxarray() -> None:
    graph = import_graph()
    assert graph["mxemu.blocking"] <= {"mxemu.errors"}
    assert "mxemu.array" not in graph["mxemu.packing"] | graph["mxemu.io"] | graph["mxemu.validate"]


@pytest.mark.parametrize("module", ALONE)
def test_each_core_module_imports_alone_in_a_fresh_interpreter(module: str) -> None:
    done = subprocess.run([sys.executable, "-c", f"import mxemu.{module}"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
