"""No import circles in the package: a module never imports one that (directly or through others)
imports it back, so any module can be imported first and a change to one cannot break another's
import order.

Read from the source with `ast`, not by importing. An edge is an import statement naming a module
of the package; `from package import submodule` is an edge to the submodule. A package's
`__init__` importing its own submodules (gateway/providers/__init__.py, the registry) is not a
circle by itself: a submodule's implicit import of its parent package is not counted, so only a
submodule that uses a *name* from its package's `__init__` closes one. Imports under
`if TYPE_CHECKING:` never run and are not counted.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "gateway"
# Circles through function-local imports that are known and being untangled: none left.
KNOWN_LOCAL: list[set[str]] = []

Edges = dict[str, dict[str, int]]  # module -> {imported module: line}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _statements(tree: ast.Module, local: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import that runs on import (at module level, also in a top-level `if`, `try`, `with` or
    class body), or with `local` also in functions; never one under `if TYPE_CHECKING:`."""
    def walk(nodes: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                yield from walk(node.orelse)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                yield node
            elif local or isinstance(node, ast.If | ast.Try | ast.With | ast.ClassDef):
                yield from walk([child for child in ast.iter_child_nodes(node)
                                 if isinstance(child, ast.stmt)]
                                + [s for h in getattr(node, "handlers", ()) for s in h.body])

    return walk(tree.body)


def edges(local: bool) -> Edges:
    known = modules()
    graph: Edges = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = graph[name] = {}
        for node in _statements(ast.parse(path.read_text(encoding="utf-8")), local):
            if isinstance(node, ast.Import):
                named = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                named = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                         for a in node.names]
            for target in named:
                if target in known and target != name:
                    targets.setdefault(target, node.lineno)
    return graph


def cycles(graph: Edges) -> list[list[str]]:
    """Each circle as a path `a -> b -> a` (one per strongly connected group, Tarjan's)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = {stack.pop()}
            while node not in group:
                group.add(stack.pop())
            if len(group) > 1:
                groups.append(group)

    for node in graph:
        if node not in index:
            visit(node)
    return [_path(graph, group) for group in groups]


def _path(graph: Edges, group: set[str]) -> list[str]:
    """A shortest circle through the group's first module, with the line of each import."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for nxt, line in sorted(graph[node].items()):
            step = paths[node][:-1] + [f"{paths[node][-1]}:{line}", nxt]
            if nxt == start:
                return step
            if nxt in group and nxt not in paths:
                paths[nxt] = step
                frontier.append(nxt)
    raise AssertionError(f"no circle through {start}")  # a strongly connected group has one


def test_no_import_circles_at_module_level() -> None:
    found = cycles(edges(local=False))
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_no_function_local_import_closes_a_circle() -> None:
    """A function-local import is fine for a heavy or optional library, never to dodge a circle."""
    found = [c for c in cycles(edges(local=True))
             if {step.split(":")[0] for step in c} not in KNOWN_LOCAL]
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_a_circle_is_found_and_listed() -> None:
    graph: Edges = {"a": {"b": 3}, "b": {"c": 5}, "c": {"a": 7, "d": 1}, "d": {}}
    assert cycles(graph) == [["a:3", "b:5", "c:7", "a"]]
    assert cycles({"a": {"b": 1}, "b": {}}) == []


def test_the_graph_sees_the_package() -> None:
    graph = edges(local=False)
    assert "gateway.settings" in graph["gateway.config"]  # `from gateway.settings import ...`
    assert "gateway.providers.azakaw" in graph["gateway.providers.generic"]  # from pkg import mod
    assert "gateway.config" not in graph["gateway.publish.backend"]  # under TYPE_CHECKING
    assert "gateway.publish.kafka" in edges(local=True)["gateway.config"]  # in a function
