"""`sqm demo`: the paper's experiment on the twin, written to HDF5 and PNG figures.

For now: zero-field cool, park over the lower-right domain, the virgin bias sweep to
+200 uA and the major loop +200 -> -200 -> +200 uA (Fig. 3a), and the same loop
with the Oersted part removed (Fig. 3b).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .analysis.bias_loop import BiasLoopSummary, summarize_bias_loop
from .figures import bias_loop_figure, induced_loop_figure
from .readback import find_step, read_steps
from .runner import EventSink
from .session import RunResult, run_procedure
from .station import DEFAULT_STATION

CONFIGS = DEFAULT_STATION.parent.parent
FIG3_PROCEDURE = CONFIGS / "procedures" / "fig3_bias_loop.yaml"


@dataclass
class DemoResult:
    run: RunResult
    figures: list[Path]  # PNGs, then the JSON of the loop features
    bias_loop: BiasLoopSummary


def run_demo(out_dir: str | Path = "demo-output", on_event: EventSink | None = None) -> DemoResult:
    """Run the Fig. 3 procedure on the twin and draw its figures into `out_dir`."""
    result = run_procedure(FIG3_PROCEDURE, DEFAULT_STATION, out_dir, on_event)
    if result.outcome.status != "completed":
        raise RuntimeError(f"the demo run ended {result.outcome.status}: {result.outcome.error}")
    summary, outputs = draw_figures(result.path, out_dir)
    return DemoResult(result, outputs, summary)


def draw_figures(run_file: Path, out_dir: str | Path) -> tuple[BiasLoopSummary, list[Path]]:
    """Fig. 3a-b and the loop features (JSON) from a run file's last bias_sweep step."""
    out_dir = Path(out_dir)
    sweep = find_step(read_steps(run_file), "bias_sweep")
    current, flux, branch = sweep.data["bias_current"], sweep.data["flux"], sweep.data["branch"]
    summary = summarize_bias_loop(current, flux, branch)
    summary_path = out_dir / "fig3_summary.json"
    summary_path.write_text(json.dumps({"run": str(run_file), **summary.as_dict()}, indent=2) + "\n")
    outputs = [
        bias_loop_figure(current, flux, branch, summary, out_dir / "fig3a_bias_loop.png"),
        induced_loop_figure(current, flux, branch, summary, out_dir / "fig3b_induced_loop.png"),
        summary_path,
    ]
    return summary, outputs
