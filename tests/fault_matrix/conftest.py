"""The fault matrix: every fault-injection test records its tries here, and at the end
of a session that ran them all, the table goes to fault_matrix.md and into the README
between its markers (so the README shows what the last full run measured)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
START, END = "<!-- fault-matrix:start -->", "<!-- fault-matrix:end -->"


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


def pytest_sessionfinish(session, exitstatus) -> None:
    ran_all = (session.testscollected > 0 and not session.config.getoption("keyword")
               and not session.config.getoption("markexpr") and MATRIX)
    if not ran_all or exitstatus != 0:
        return
    text = table()
    (Path(__file__).parent / "fault_matrix.md").write_text(text + "\n")
    readme = REPO / "README.md"
    content = readme.read_text()
    if START in content and END in content:
        head, rest = content.split(START, 1)
        _, tail = rest.split(END, 1)
        readme.write_text(f"{head}{START}\n{text}\n{END}{tail}")
