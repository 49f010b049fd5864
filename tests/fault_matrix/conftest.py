"""The fault matrix: every fault-injection test records its tries here, and at the end
of a session that ran them all, the table goes to fault_matrix.md and into the README
between its markers (so the README shows what the last full run measured)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
START, END = "<!-- fault-matrix:start -->", "<!-- fault-matrix:end -->"
WIRE_START, WIRE_END = "<!-- wire-fault-matrix:start -->", "<!-- wire-fault-matrix:end -->"


@dataclass
class Row:
    tries: int = 0
    survived: int = 0
    worst_loss: float = 0.0
    loss_unit: str = ""
    safe: int = 0
    safe_applies: bool = True
    notes: set = field(default_factory=set)


MATRIX: dict[str, Row] = defaultdict(Row)
# The emulated station's faults at the wire: (fault, kind of step) -> what happened.
WIRE_CELLS: dict[tuple[str, str], str] = {}


def record(scenario: str, survived: bool, safe: bool | None = None, loss: float | None = None, unit: str = "") -> None:
    """One try of `scenario`: whether it held, whether the station ended safe (None: not
    applicable), and what was lost (e.g. seconds of a sweep before a kill)."""
    row = MATRIX[scenario]
    row.tries += 1
    row.survived += bool(survived)
    if safe is None:
        row.safe_applies = False
    else:
        row.safe += bool(safe)
    if loss is not None:
        row.worst_loss, row.loss_unit = max(row.worst_loss, loss), unit


def table() -> str:
    lines = ["| scenario | tries | survived | data lost (worst) | safe |", "|---|---|---|---|---|"]
    for scenario, row in MATRIX.items():
        loss = f"{row.worst_loss:.1f} {row.loss_unit}" if row.loss_unit else "-"
        safe = f"{row.safe}/{row.tries}" if row.safe_applies else "-"
        lines.append(f"| {scenario} | {row.tries} | {row.survived}/{row.tries} | {loss} | {safe} |")
    return "\n".join(lines)


def record_wire_cell(fault: str, step: str, outcome: str) -> None:
    WIRE_CELLS[(fault, step)] = outcome


def wire_table() -> str:
    faults = list(dict.fromkeys(fault for fault, _ in WIRE_CELLS))
    steps = list(dict.fromkeys(step for _, step in WIRE_CELLS))
    lines = ["| fault (injected mid-step) | " + " | ".join(steps) + " |", "|---" * (len(steps) + 1) + "|"]
    for fault in faults:
        lines.append(f"| {fault} | " + " | ".join(WIRE_CELLS.get((fault, step), "-") for step in steps) + " |")
    return "\n".join(lines)


def _write_between(path: Path, start: str, end: str, text: str) -> None:
    content = path.read_text()
    if start in content and end in content:
        head, rest = content.split(start, 1)
        _, tail = rest.split(end, 1)
        path.write_text(f"{head}{start}\n{text}\n{end}{tail}")


def pytest_sessionfinish(session, exitstatus) -> None:
    ran_all = (session.testscollected > 0 and not session.config.getoption("keyword")
               and not session.config.getoption("markexpr"))
    if not ran_all or exitstatus != 0:
        return
    if MATRIX:
        text = table()
        (Path(__file__).parent / "fault_matrix.md").write_text(text + "\n")
        _write_between(REPO / "README.md", START, END, text)
    from .emulated import FAULTS, STEPS

    if len(WIRE_CELLS) == len(FAULTS) * len(STEPS):  # every cell ran: the table is whole
        text = wire_table()
        (Path(__file__).parent / "wire_fault_matrix.md").write_text(text + "\n")
        _write_between(REPO / "README.md", WIRE_START, WIRE_END, text)
