"""The project's Python imports form no cycle.

Every ``import`` and ``from ... import`` between the project's own modules is read from the
source (those under ``if TYPE_CHECKING:`` too: a cycle hidden there is still two modules
that cannot be understood apart), and the graph's strongly connected components are found
with Tarjan's algorithm; each one larger than a module is a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = {
    "switchboard": ROOT / "layers" / "switchboard" / "switchboard",
    "functions": ROOT / "functions",
    "local_gateway": ROOT / "local_gateway",
    "bench": ROOT / "bench",
    "fuzz": ROOT / "fuzz",
    "devtools": ROOT / "devtools",
}


def modules() -> dict[str, Path]:
    """Every module of the packages, by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES.values():
        for path in package.rglob("*.py"):
            parts = list(path.relative_to(package.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def import_graph(found: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project's modules it imports (not its own parent packages)."""
    graph: dict[str, set[str]] = {}
    for name, path in found.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for dotted in imported:
                target = dotted
                while target and target not in found:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(f"{target}."):
                    targets.add(target)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root, edges in graph.items():
        if root in index:
            continue
        work = [(root, iter(sorted(edges)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle_and_only_that() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_module_of_the_project_imports_itself_through_others() -> None:
    found = modules()
    assert {"local_gateway.server", "switchboard.multiplex", "bench.run"} <= set(found)
    graph = import_graph(found)
    assert "local_gateway.management" in graph["local_gateway.server"]  # the graph is read
    assert cycles(graph) == []
