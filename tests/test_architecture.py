"""House rules a machine can check: layers point down, only the clock sleeps,
no simulation branches outside sims/. The paper's experiment (paper/, sqm_paper)
runs with the suite: nothing in the suite imports it, and it reaches the twin only
through station files."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "sqm": ("sqm.sims", "sqm.drivers", "sqm.emulators", "sqm.gui", "sqm_paper"),
    "sims": ("sqm.drivers", "sqm.emulators", "sqm.gui", "sqm_paper"),
    "drivers": ("sqm.sims", "sqm.emulators", "sqm.gui", "sqm_paper"),
    # above sims and drivers: its instruments answer from a world, its backend builds the drivers
    "emulators": ("sqm.gui", "sqm_paper"),
    "gui": ("sqm.sims", "sqm.drivers", "sqm.emulators", "sqm_paper"),
    "paper": ("sqm.sims", "sqm.drivers", "sqm.emulators", "sqm.gui"),
    # serves run files: reads them as any client would, never the twin or the instruments
    "service": ("sqm.sims", "sqm.drivers", "sqm.emulators", "sqm.gui", "sqm_paper"),
}


def _imports(path: Path, text: str | None = None) -> list[str]:
    """Absolute names of every module `path` imports (`text` stands in for its content);
    `from a import b` counts as importing both a and a.b (b may be a module)."""
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
    top = {"sqm": "sqm", "sims": "sqm.sims", "drivers": "sqm.drivers", "emulators": "sqm.emulators",
           "gui": "sqm.gui", "paper": "sqm_paper", "service": "sqm.service"}[relative.parts[0]]
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


def test_the_layering_check_sees_names_imported_from_a_package():
    assert "sqm.sims" in _imports(REPO / "gui" / "x.py", "from sqm import sims")
    assert "sqm.drivers" in _imports(REPO / "sqm" / "x.py", "from sqm import drivers as hardware")


def test_the_layering_check_places_the_paper_in_its_own_package():
    assert "sqm_paper.figures" in _imports(REPO / "paper" / "x.py", "from .figures import bias_loop_figure")
    assert not any(name.startswith("sqm.") for name in _imports(REPO / "paper" / "x.py", "from . import analysis"))
    assert "sqm_paper.demo" in _imports(REPO / "sqm" / "x.py", "import sqm_paper.demo")


def _sleep_calls(tree: ast.AST) -> list[int]:
    """Lines that call time.sleep, however the time module or the function was imported."""
    time_names, sleep_names, lines = set(), set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            time_names |= {alias.asname or alias.name for alias in node.names if alias.name == "time"}
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            sleep_names |= {alias.asname or alias.name for alias in node.names if alias.name == "sleep"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = node.func
            if isinstance(called, ast.Attribute) and called.attr == "sleep" and (
                    getattr(called.value, "id", "") in time_names):
                lines.append(node.lineno)
            elif isinstance(called, ast.Name) and called.id in sleep_names:
                lines.append(node.lineno)
    return lines


def _source_files(*folders: str):
    for folder in folders:
        yield from sorted((REPO / folder).rglob("*.py"))


def test_only_the_clock_sleeps():
    sleepers = [
        f"{path.relative_to(REPO)}:{line}"
        for path in _source_files("sqm", "sims", "drivers", "emulators", "gui", "paper")
        if path.name != "clock.py"
        for line in _sleep_calls(ast.parse(path.read_text()))
    ]
    assert sleepers == []


@pytest.mark.parametrize("code", [
    "import time\ntime.sleep(1)",
    "import time as t\nt.sleep(1)",
    "from time import sleep\nsleep(1)",
    "from time import sleep as pause\npause(1)",
])
def test_the_sleep_check_sees_every_spelling(code):
    assert _sleep_calls(ast.parse(code)) == [2]


SIMULATION_WORDS = ("simulated", "is_sim", "sim")


def _simulation_branches(tree: ast.AST) -> list[int]:
    """Lines that compare something with "sim" / "simulated", or test a name like is_sim or simulated."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Constant) and o.value in SIMULATION_WORDS for o in operands):
                lines.append(node.lineno)
        elif isinstance(node, (ast.If, ast.IfExp, ast.While)):
            test = node.test
            names = [n.id for n in ast.walk(test) if isinstance(n, ast.Name)]
            names += [n.attr for n in ast.walk(test) if isinstance(n, ast.Attribute)]
            if any(name in ("simulated", "is_sim", "is_simulated", "is_twin") for name in names):
                lines.append(node.lineno)
    return lines


def test_no_simulation_branches_outside_sims():
    flagged = [
        f"{path.relative_to(REPO)}:{line}"
        for path in _source_files("sqm", "drivers", "emulators", "gui", "paper")
        for line in _simulation_branches(ast.parse(path.read_text()))
    ]
    assert flagged == []


@pytest.mark.parametrize("code", [
    'if backend.kind == "sim":\n    pass',
    'badge = "TWIN" if station.backend.kind == "sim" else "HARDWARE"',
    'ok = data.get("backend") != "sim"',
    'if station.simulated:\n    pass',
    'while not is_sim:\n    pass',
])
def test_the_simulation_branch_check_sees_every_spelling(code):
    assert _simulation_branches(ast.parse(code)) == [1]
