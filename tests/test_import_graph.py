"""No import cycle in the core: a module graph of sqm/ built from every import
statement (module level, functions, and TYPE_CHECKING blocks alike)."""

from __future__ import annotations

from pathlib import Path

from tests.test_architecture import REPO, _imports


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def core_import_graph(root: Path = REPO / "sqm", texts: dict[str, str] | None = None) -> dict[str, set[str]]:
    """{module: core modules it imports}; importing a.b.c counts as importing a.b.c
    only (its packages' __init__ files run first, but they are not what it needs).
    `texts` stands in for files' content, by module name (for the test of the test)."""
    paths = {_module_name(path): path for path in root.rglob("*.py")}
    texts = texts or {}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        names = _imports(path, texts.get(module))
        graph[module] = {name for name in names if name in paths and name != module}
    for module in texts.keys() - paths.keys():  # a module that exists only in `texts`
        graph[module] = set()
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle as [a, b, ..., a], or [] if the graph has none (depth-first search)."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_the_core_has_no_import_cycle():
    assert find_cycle(core_import_graph()) == []


def test_the_cycle_check_finds_a_cycle_through_a_type_checking_import():
    graph = {"sqm.a": {"sqm.b"}, "sqm.b": {"sqm.c"}, "sqm.c": {"sqm.a"}, "sqm.d": set()}
    assert find_cycle(graph) == ["sqm.a", "sqm.b", "sqm.c", "sqm.a"]
    # the old procedures <-> runner cycle, type-only: still a cycle
    texts = {
        "sqm.procedures.base": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..runner import StepContext\n"
        ),
        "sqm.runner": "from .procedures.base import Procedure\n",
    }
    graph = core_import_graph(texts=texts)
    assert "sqm.runner" in graph["sqm.procedures.base"] and "sqm.procedures.base" in graph["sqm.runner"]
    assert find_cycle(graph)
