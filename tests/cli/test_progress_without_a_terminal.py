"""Without a terminal (a job runner, a log file) there are no bars, but each step says
one line when it starts and one when it ends: its place, procedure, points, status and
lab time."""

from __future__ import annotations

import re
import subprocess
import sys

from sqm.cli import main
from sqm.events import LineRecorded, PointRecorded, RunFinished, StepFinished, StepStarted
from sqm.progress import ProgressBars

from ..conftest import REPO


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_each_step_says_its_start_and_its_end(capsys):
    clock = _Clock()
    progress = ProgressBars(steps=2, clock=clock)  # capsys: stderr is no terminal
    progress(StepStarted(1, "bias_sweep", 3))
    for count in range(1, 4):
        progress(PointRecorded(1, count, {}))
        clock.now += 1000.0
    progress(StepFinished(1, "completed", None))
    progress(StepStarted(2, "thermal_cycle", 0))  # points not known in advance
    clock.now += 0.4
    progress(StepFinished(2, "aborted", "operator"))
    progress(RunFinished("aborted", "operator", "safe"))
    assert capsys.readouterr().err.splitlines() == [
        "step 1/2 bias_sweep: started, 3 points expected",
        "step 1/2 bias_sweep: completed, 3 points, 0:50:00 of lab time",
        "step 2/2 thermal_cycle: started",
        "step 2/2 thermal_cycle: aborted, 0 points, 0:00:00 of lab time",
    ]


def test_image_lines_count_and_a_step_is_said_once(capsys):
    progress = ProgressBars()  # no step count, no clock: what is known is said
    progress(StepStarted(4, "raster_scan", 1))
    progress(LineRecorded(4, "flux", 0, None))
    progress(StepFinished(4, "failed", "InstrumentError: x"))
    progress(StepFinished(4, "failed", "InstrumentError: x"))  # the watchdog's end of the same step
    assert capsys.readouterr().err.splitlines() == [
        "step 4 raster_scan: started, 1 point expected",
        "step 4 raster_scan: failed, 1 point",
    ]


def test_bars_on_request_and_silence_on_request_say_no_lines(capsys):
    for enabled in (True, False):
        progress = ProgressBars(enabled=enabled, steps=1)
        progress(StepStarted(1, "park", 1))
        progress(StepFinished(1, "completed", None))
    assert "started" not in capsys.readouterr().err


def test_sqm_run_without_a_terminal_says_each_step(tmp_path, capsys):
    procedure = tmp_path / "two.yaml"
    procedure.write_text("steps:\n  - park: {x: 0, y: 0, integration_time: 0.1 s}\n"
                         "  - bias_sweep: {points: [0, 4 uA], step: 2 uA, integration_time: 0.1 s}\n")
    assert main(["run", str(procedure), "--out", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 5, lines
    assert lines[0] == "step 1/2 park: started, 1 point expected"
    assert re.fullmatch(r"step 1/2 park: completed, 1 point, \d+:\d\d:\d\d of lab time", lines[1]), lines
    assert lines[2] == "step 2/2 bias_sweep: started, 3 points expected"
    assert re.fullmatch(r"step 2/2 bias_sweep: completed, 3 points, \d+:\d\d:\d\d of lab time", lines[3]), lines
    assert re.fullmatch(r"completed: \d+:\d\d:\d\d of lab time", lines[4]), lines


def test_a_child_run_with_its_stderr_in_a_pipe_says_each_step(tmp_path):
    procedure = tmp_path / "one.yaml"
    procedure.write_text("steps:\n  - park: {x: 0, y: 0, integration_time: 0.1 s}\n")
    done = subprocess.run([sys.executable, "-m", "sqm.cli", "run", str(procedure), "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == "step 1/1 park: started, 1 point expected"
    assert "step 1/1 park: completed, 1 point," in done.stderr
