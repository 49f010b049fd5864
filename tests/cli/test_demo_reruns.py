"""`sqm demo` says each run's lab time as it finishes and the whole demo's at the end, and
a re-run into the same folder replaces the previous demo's run files: exactly those its
demo_summary.json names, and only inside that folder. (Two tiny parts stand in for the
paper's six, which test_cli runs in full.)"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

import sqm_paper.demo as demo
from sqm.cli import main

PARK = "steps:\n  - park: {x: 0, y: 0, integration_time: 0.5 s}\n"
SWEEP = "steps:\n  - bias_sweep: {points: [0, 4 uA], step: 2 uA, integration_time: 0.2 s}\n"


@pytest.fixture
def tiny_demo(tmp_path, monkeypatch):
    """The demo with two short parts under the names main() reads its numbers from."""
    procedures = tmp_path / "procedures"
    procedures.mkdir()
    (procedures / "park.yaml").write_text(PARK)
    (procedures / "sweep.yaml").write_text(SWEEP)

    def loop_numbers(run_file: Path, out_dir: Path):
        return [], {"virgin_minimum": 0.0, "virgin_zero_crossing": 0.0, "switching_current": 0.0, "remanence": 0.0}

    def edge_numbers(run_file: Path, out_dir: Path):
        return [], {"edge_current_jump_A": None}

    monkeypatch.setattr(demo, "DEMO_PARTS", [("fig3_bias_loop", procedures / "park.yaml", loop_numbers),
                                             ("fig3cd_edge", procedures / "sweep.yaml", edge_numbers)])
    return tmp_path / "out"


def _demo(out: Path, capsys) -> tuple[list[str], dict]:
    assert main(["demo", "--out", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    return err, json.loads((out / "demo_summary.json").read_text())


def _lab(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def test_each_run_says_its_lab_time_and_the_demo_its_total(tiny_demo, capsys):
    err, summary = _demo(tiny_demo, capsys)
    loop, edge = summary["fig3_bias_loop"]["lab_seconds"], summary["fig3cd_edge"]["lab_seconds"]
    assert f"run 1 of 2: fig3_bias_loop completed, {_lab(loop)} of lab time" in err
    assert f"run 2 of 2: fig3cd_edge completed, {_lab(edge)} of lab time" in err
    assert err[-1] == f"demo completed: 2 runs, {_lab(loop + edge)} of lab time"
    assert not any(line.startswith("completed:") for line in err)  # the last run's alone was the old last line
    assert not any("replaced" in line for line in err)  # nothing before it to replace
    assert re.fullmatch(r"\d+:\d\d:\d\d", _lab(loop + edge))


def test_a_rerun_replaces_exactly_the_previous_demos_run_files(tiny_demo, capsys):
    _, first = _demo(tiny_demo, capsys)
    mine = tiny_demo / "my_own_run.h5"  # a run of the user's that no summary names
    mine.write_bytes(b"keep me")
    err, second = _demo(tiny_demo, capsys)
    assert f"replaced the previous demo's 2 run files in {tiny_demo}" in err
    runs = {Path(part["run"]) for part in second.values()}
    assert set(tiny_demo.glob("*.h5")) == runs | {mine}
    assert not any(Path(part["run"]).exists() for part in first.values())
    assert mine.read_bytes() == b"keep me"


def test_a_summary_naming_files_outside_its_folder_removes_none_of_them(tiny_demo, tmp_path, capsys):
    _demo(tiny_demo, capsys)
    outside = tmp_path / "elsewhere.h5"
    outside.write_bytes(b"not the demo's")
    summary_path = tiny_demo / "demo_summary.json"
    summary = json.loads(summary_path.read_text())
    summary["fig3_bias_loop"]["run"] = str(outside)  # edited, or copied from another folder
    summary["fig3cd_edge"]["run"] = str(tiny_demo / ".." / "elsewhere.h5")
    summary["extra"] = {"run": str(tiny_demo / "missing.h5")}
    summary_path.write_text(json.dumps(summary))
    kept = set(tiny_demo.glob("*.h5"))  # the first demo's files, which this summary no longer names
    err, second = _demo(tiny_demo, capsys)
    assert outside.read_bytes() == b"not the demo's"
    assert kept <= set(tiny_demo.glob("*.h5"))
    assert not any("replaced" in line for line in err)


def test_an_unreadable_summary_replaces_nothing(tiny_demo, capsys):
    tiny_demo.mkdir()
    (tiny_demo / "demo_summary.json").write_text("{ not json")
    (tiny_demo / "old.h5").write_bytes(b"x")
    err, summary = _demo(tiny_demo, capsys)
    assert (tiny_demo / "old.h5").exists() and len(summary) == 2
    assert not any("replaced" in line for line in err)
