"""Dependencies flow one way: the import graph of istr_core and istr_app, read from the source.

Every import counts, also one inside a function (a lazy import hides a cycle, it does not remove it).
Modules may not import each other in a cycle, and neither may the packages they live in (istr_core's
model/, train/, predict/ ... and istr_app's core/, services/, ui/): a package that needs another
package which needs it back is one package in two folders. istr_core never imports Qt or istr_app.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOPS = ("istr_core", "istr_app")
QT = ("PySide6", "shiboken6", "PyQt5", "PyQt6")


def module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def imports_of(path: Path, modules: set[str] = frozenset()) -> set[str]:
    """Every module name ``path`` imports, relative imports resolved. ``from pkg import name`` is
    ``pkg.name`` when that is one of ``modules`` (a submodule), else ``pkg`` (a name defined there)."""
    name, is_package = module_name(path)
    package = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in modules else module)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    paths = [p for top in TOPS for p in (ROOT / top).rglob("*.py")]
    modules = {module_name(p)[0]: p for p in paths}
    return {
        name: {m for m in imports_of(p, set(modules)) if m in modules and m != name}
        for name, p in modules.items()
    }


def package_of(module: str) -> str:
    """istr_core.model.istr -> istr_core.model; istr_core.config -> istr_core.config."""
    return ".".join(module.split(".")[:2])


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], _ = 1, path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node], _ = 2, path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_module_imports_itself_through_others(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_packages_depend_on_each_other_one_way(graph):
    packages: dict[str, set[str]] = {}
    for module, deps in graph.items():
        if module in TOPS:  # the top packages' own __init__ re-exports
            continue
        packages.setdefault(package_of(module), set()).update(
            package_of(d) for d in deps if package_of(d) != package_of(module) and d not in TOPS
        )
    cycle = find_cycle(packages)
    assert cycle is None, "package cycle: " + " -> ".join(cycle)


def test_the_core_never_imports_qt_or_the_app():
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / "istr_core").rglob("*.py")
        for name in imports_of(path)
        if name.split(".")[0] in (*QT, "istr_app")
    ]
    assert not offenders, offenders


def test_the_cycle_finder_finds_a_cycle_and_none_where_there_is_none():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_are_resolved_relative_and_from_package_forms_alike():
    found = imports_of(ROOT / "istr_core" / "model" / "istr.py")
    assert "istr_core.ops.boxes" in found  # `from ..ops.boxes import cxcywh_to_xyxy`
    assert "istr_core.model.postprocess" in found  # `from .postprocess import postprocess`
    assert not any(name.startswith(".") for name in found)
    modules = {"istr_core.cli", "istr_core.cli.convert", "istr_core.cli.app"}
    assert "istr_core.cli.convert" in imports_of(ROOT / "istr_core" / "cli" / "app.py", modules)
