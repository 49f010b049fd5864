"""House rules a machine can check: layers point down, only the clock sleeps,
no simulation branches outside sims/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "sqm": ("sqm.sims", "sqm.drivers", "sqm.gui"),
    "sims": ("sqm.drivers", "sqm.gui"),
    "drivers": ("sqm.sims", "sqm.gui"),
    "gui": ("sqm.sims", "sqm.drivers"),
}


def _imports(path: Path, text: str | None = None) -> list[str]:
    """Absolute names of every module `path` imports (`text` stands in for its content)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text() if text is None else text, str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against the file's package
                package = _package_of(path).split(".")
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([module] if module else []))
                names += [f"{module}.{alias.name}" for alias in node.names]
            names.append(module)
    return names


def _package_of(path: Path) -> str:
    relative = path.relative_to(REPO).with_suffix("")
    top = {"sqm": "sqm", "sims": "sqm.sims", "drivers": "sqm.drivers", "gui": "sqm.gui"}[relative.parts[0]]
    return ".".join([top, *relative.parts[1:-1]])


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_layers_point_down_only(folder):
    offenders = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in sorted((REPO / folder).rglob("*.py"))
        for name in _imports(path)
        if name.startswith(FORBIDDEN[folder])
    ]
    assert offenders == []


def test_the_layering_check_sees_relative_imports():
    imported = _imports(REPO / "sqm" / "procedures" / "x.py", "from ..sims import world")
    assert "sqm.sims.world" in imported


def test_only_the_clock_sleeps():
    sleepers = []
    for folder in ("sqm", "sims", "drivers", "gui"):
        for path in (REPO / folder).rglob("*.py"):
            if path.name == "clock.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and node.attr == "sleep" and getattr(node.value, "id", "") == "time":
                    sleepers.append(str(path.relative_to(REPO)))
    assert sleepers == []


def test_no_simulation_branches_outside_sims():
    flagged = []
    for folder in ("sqm", "drivers", "gui"):
        for path in (REPO / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                stripped = line.strip()
                if stripped.startswith(("if ", "elif ")) and any(
                    word in stripped for word in ("simulated", "is_sim", 'kind == "sim"', "backend == \"sim\"")
                ):
                    flagged.append(f"{path.relative_to(REPO)}:{number}")
    assert flagged == []
