"""The command line as a user meets it: exit statuses, one-line errors, files, Ctrl-C, SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from sqm.cli import main
from sqm.events import InterlockReported, Paused, PointRecorded, StepFinished, StepStarted
from sqm.procedures.bias_sweep import sweep_points
from sqm.progress import ProgressBars
from sqm.session import load

from ..conftest import CONFIGS, REPO, twin_station_text

UA = 1e-6
FIG3 = CONFIGS / "procedures" / "fig3_bias_loop.yaml"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


BAD_INPUT = [
    ("steps: [park: {x: 1 um", "not valid YAML"),
    ("steps:\n  - teleport: {}", "step 1: unknown procedure 'teleport'"),
    ("steps:\n  - bias_sweep: {points: [0, 200 uA], stride: 3}", "step 1 (bias_sweep): unknown parameter(s) stride"),
    ("steps:\n  - bias_sweep: {points: [0, 200 K]}", "step 1 (bias_sweep): points: '200 K' is not a current"),
    ("steps:\n  - bias_sweep: {points: [0, 360 uA]}", "bias current 360 uA is outside the station limits"),
]


@pytest.mark.parametrize("command", ["run", "check"])
@pytest.mark.parametrize("text, message", BAD_INPUT)
def test_bad_procedure_files_exit_2_with_one_line_and_no_file(tmp_path, capsys, command, text, message):
    procedure = _write(tmp_path / "bad.yaml", text)
    out = tmp_path / "out"
    arguments = [command, str(procedure)] + (["--out", str(out)] if command == "run" else [])
    assert main(arguments) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sqm: error: ")
    assert str(procedure) in lines[0] and message in lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists()  # nothing was run, nothing written


def test_missing_files_and_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read the procedure file" in capsys.readouterr().err
    assert main(["run", str(FIG3), "--station", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read the station file" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["show", str(_write(tmp_path / "x.h5", "not hdf5"))]) == 2
    assert "not a readable HDF5 file" in capsys.readouterr().err


def test_bad_station_file_is_a_one_line_error(tmp_path, capsys):
    station = _write(tmp_path / "station.yaml", twin_station_text().replace("backend: sim", "backend: warp"))
    assert main(["check", str(FIG3), "--station", str(station)]) == 2
    err = capsys.readouterr().err
    assert "unknown backend 'warp' (known: emulated, hardware, sim)" in err and len(err.strip().splitlines()) == 1


def _check(capsys, procedure: Path) -> tuple[str, float]:
    """`sqm check` on a file: what it printed and the lab seconds it reported."""
    assert main(["check", str(procedure)]) == 0
    out = capsys.readouterr().out
    assert "dry run on the twin" in out
    return out, float(out.split("of lab time (")[1].split(" s)")[0])


def test_check_validates_and_prints_the_simulated_lab_duration(tmp_path, capsys):
    out, seconds = _check(capsys, FIG3)
    assert "3 steps valid" in out
    # Expected, from the file's parameters: the cool-down and park (timed by checking those two
    # steps alone), then 501 points of a 2 uA ramp (0.1 s at 20 uA/s), the settle (0.1 s) and the
    # integration (4 s) each, i.e. ~4.2 s a point, and the cleanup's ramp of the bias back to zero.
    steps = yaml.safe_load(FIG3.read_text())["steps"]
    before_sweep = _write(tmp_path / "before_sweep.yaml", yaml.safe_dump({"steps": steps[:2]}))
    station, procedure_file = load(FIG3)
    sweep = procedure_file.steps[2].procedure
    assert sweep.name == "bias_sweep"
    rate = sweep.rate or station.limits.bias_ramp.default
    currents = [current for current, _ in sweep_points(sweep.points, sweep.step)]
    assert len(currents) == 501
    sweep_seconds = (len(currents) * (sweep.settle + sweep.integration_time)
                     + np.abs(np.diff(currents)).sum() / rate + abs(currents[-1]) / rate)
    expected = _check(capsys, before_sweep)[1] + sweep_seconds
    assert seconds == pytest.approx(expected, rel=0.002)  # ~2360 s


def test_run_prints_the_path_of_a_complete_file_and_show_describes_it(tmp_path, capsys):
    assert main(["run", str(FIG3), "--out", str(tmp_path)]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.parent == tmp_path and path.suffix == ".h5"
    with h5py.File(path, "r") as h5:
        assert h5.attrs["procedure"] == FIG3.read_text()
        assert "backend: sim" in h5.attrs["station"]
        assert h5.attrs["status"] == "completed"
        sample_file = CONFIGS / "samples" / "fese_flake.yaml"
        assert h5.attrs["sample_text"] == sample_file.read_text()  # the sample file, stored whole
    assert main(["show", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "003_bias_sweep  [completed]" in shown and "data/flux: (501,) [Phi0] (signal)" in shown
    assert "  sample: Fe(Se,Te) flake of the paper\n" in shown and f"  sample_file: {sample_file}\n" in shown


# A long sweep without the cool-down, so the child is sweeping soon after it starts:
# 501 points of >= 1.2 s of lab time at pace 100 take ~6 s of wall time.
SLOW_SWEEP = """
steps:
  - park: {x: 30 um, y: -15 um}
  - bias_sweep: {points: [0, 200 uA, -200 uA, 200 uA], step: 2 uA, integration_time: 1 s}
"""


def _spawn_run(tmp_path: Path, pace: float = 100.0, at_a_terminal: bool = False) -> subprocess.Popen:
    """`sqm run` of SLOW_SWEEP in a child; `at_a_terminal`: its stdin is a pseudo-terminal
    (an operator who can type Ctrl-C), else no terminal at all (a job runner)."""
    station = _write(tmp_path / "slow.yaml", twin_station_text(pace=pace))
    procedure = _write(tmp_path / "slow_sweep.yaml", SLOW_SWEEP)
    command = [sys.executable, "-m", "sqm.cli", "run", str(procedure), "--station", str(station),
               "--out", str(tmp_path / "out")]
    if not at_a_terminal:
        return subprocess.Popen(command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    import pty

    terminal, child_end = pty.openpty()
    try:
        return subprocess.Popen(command, cwd=REPO, stdin=child_end, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    finally:
        os.close(child_end)  # the child holds it; the master end closes when the test's process ends


def _wait_until_sweeping(child: subprocess.Popen, tmp_path: Path) -> None:
    """The run file appears when the run starts; the sweep follows within ~0.5 s of wall time."""
    deadline = time.monotonic() + 30
    while not list((tmp_path / "out").glob("*.h5")):
        assert child.poll() is None and time.monotonic() < deadline, "the run did not start"
        time.sleep(0.05)
    time.sleep(2.0)
    assert child.poll() is None, "the run ended before the test could interrupt it"


def test_ctrl_c_aborts_cleanly_with_the_station_safe_and_the_file_marked(tmp_path):
    child = _spawn_run(tmp_path)
    _wait_until_sweeping(child, tmp_path)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 3, err
    assert "Ctrl-C: aborting" in err and "Traceback" not in err
    path = Path(out.strip())
    with h5py.File(path, "r") as h5:
        assert h5.attrs["status"] == "aborted" and h5.attrs["safe_state"] == "safe"
        assert h5["002_bias_sweep"].attrs["status"] == "aborted"
        assert "Ctrl-C" in h5["002_bias_sweep"].attrs["error"]


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGHUP"])
def test_kill_or_a_closed_terminal_abort_cleanly_like_ctrl_c(tmp_path, stop):
    child = _spawn_run(tmp_path)
    _wait_until_sweeping(child, tmp_path)
    child.send_signal(getattr(signal, stop))
    out, err = child.communicate(timeout=60)
    assert child.returncode == 3, err
    assert f"{stop}: aborting" in err and "Traceback" not in err
    with h5py.File(Path(out.strip()), "r") as h5:
        assert h5.attrs["status"] == "aborted" and h5.attrs["safe_state"] == "safe"
        assert stop in h5["002_bias_sweep"].attrs["error"]


def test_sigkill_leaves_a_readable_file_with_every_flushed_point_intact(tmp_path):
    child = _spawn_run(tmp_path)
    _wait_until_sweeping(child, tmp_path)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    (path,) = (tmp_path / "out").glob("*.h5")
    with h5py.File(path, "r", swmr=True) as h5:
        assert h5.attrs["status"] == "running"  # nobody could record an end
        sweep = h5["002_bias_sweep"]
        assert sweep.attrs["status"] == "running"
        data = {name: sweep["data"][name][()] for name in sweep["data"]}
    count = len(data["flux"])
    assert count > 20  # points of the seconds before the kill are there
    assert all(len(column) == count for column in data.values())
    expected = sweep_points([0.0, 200 * UA, -200 * UA, 200 * UA], 2 * UA)[:count]
    np.testing.assert_allclose(data["bias_current"], [current for current, _ in expected], atol=1e-12)
    np.testing.assert_array_equal(data["branch"], [branch for _, branch in expected])
    assert np.all(np.isfinite(data["flux"])) and np.all(np.diff(data["time"]) > 0)


def test_demo_writes_the_run_files_the_figures_and_their_numbers(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    printed = [Path(line) for line in captured.out.split()]
    assert "edge current: jumps between 120 and 125 uA" in captured.err
    assert sum(path.suffix == ".h5" for path in printed) == 6  # one run file per procedure
    pngs = {path.name for path in printed if path.suffix == ".png"}
    assert pngs == {"fig3a_bias_loop.png", "fig3b_induced_loop.png", "fig2_images.png", "figS2a_remanent.png",
                    "fig3cd_edge.png", "fig2c_transport.png", "fig4a_field_images.png", "fig4b_field_loop.png",
                    "fig3f_thermal.png"}
    for path in printed:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
    summary = json.loads((tmp_path / "demo_summary.json").read_text())
    assert summary["fig3_bias_loop"]["switching_current"] == pytest.approx(-120e-6, abs=5e-6)
    assert summary["fig2_images"]["remanent_vs_oersted_subtracted_r"] > 0.9
    assert len(summary["fig3cd_edge"]["peak_edge_current_A_per_m"]) == 16
    assert summary["fig3cd_edge"]["edge_current_jump_A"] == pytest.approx([120e-6, 125e-6])
    assert summary["fig3f_thermal"]["retained_fraction"]["4.0"] == pytest.approx(0.5, abs=0.1)
    assert summary["fig4_field_loop"]["lower_remanence_Phi0"] > 0 < summary["fig4_field_loop"]["upper_remanence_Phi0"]
    assert all(Path(part["run"]).exists() for part in summary.values())


def test_the_demo_is_the_paper_package_found_by_name():
    import importlib.metadata

    commands = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="sqm.commands")}
    assert commands["demo"] == "sqm_paper.demo:main"


def test_without_the_paper_package_the_demo_says_so(tmp_path, capsys, monkeypatch):
    import importlib.metadata

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **selection: [])
    assert main(["demo", "--out", str(tmp_path)]) == 2
    assert "the demo is not installed" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_progress_bars_count_the_points_of_each_step(capsys):
    bars = ProgressBars(enabled=True)
    bars(StepStarted(3, "bias_sweep", 4))
    for count in range(1, 5):
        bars(PointRecorded(3, count, {}))
    bars(StepFinished(3, "completed", None))
    err = capsys.readouterr().err
    assert "3 bias_sweep" in err and "4/4" in err


def test_progress_says_why_a_run_paused_and_how_to_end_it(capsys):
    bars = ProgressBars(enabled=False)  # said even when no bar is drawn
    bars(InterlockReported(2, "SQUID flux-locked loop lost lock"))
    bars(Paused(2))
    err = capsys.readouterr().err
    assert "interlock at step 2: SQUID flux-locked loop lost lock" in err
    assert "run paused" in err and "Ctrl-C aborts it" in err


class _StderrWatch:
    """Read a child's stderr in a thread; `wait_for(text)` blocks until a line has it.
    As a context manager it kills a child still running on exit and closes its pipes."""

    def __init__(self, child: subprocess.Popen) -> None:
        self.child, self.lines, self._seen = child, [], threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.child.stderr:
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()

    def wait_for(self, text: str, timeout: float) -> bool:
        with self._seen:
            return self._seen.wait_for(lambda: any(text in line for line in self.lines), timeout)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def __enter__(self) -> "_StderrWatch":
        return self

    def __exit__(self, *exc) -> None:
        if self.child.poll() is None:
            self.child.kill()
            self.child.wait()
        self._reader.join(10)
        self.child.stdout.close()
        self.child.stderr.close()


def test_a_run_paused_by_an_interlock_ends_with_ctrl_c_and_the_station_safe(tmp_path):
    data = yaml.safe_load(twin_station_text(pace=100.0))
    data["interlocks"] = {"temperature_max": "5 K", "action": "pause"}  # the twin starts at 8 K
    station = _write(tmp_path / "pausing.yaml", yaml.safe_dump(data))
    procedure = _write(tmp_path / "slow_sweep.yaml", SLOW_SWEEP)
    import pty

    terminal, child_end = pty.openpty()  # an operator at a terminal, who can resume or abort
    child = subprocess.Popen([sys.executable, "-m", "sqm.cli", "run", str(procedure), "--station", str(station),
                              "--out", str(tmp_path / "out")], cwd=REPO, stdin=child_end, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    os.close(child_end)
    with _StderrWatch(child) as stderr:
        assert stderr.wait_for("run paused", 30), stderr.text
        child.send_signal(signal.SIGINT)
        child.wait(timeout=60)
    assert child.returncode == 3, stderr.text
    assert "interlock at step 1: sample temperature" in stderr.text
    (path,) = (tmp_path / "out").glob("*.h5")
    with h5py.File(path, "r") as h5:
        assert h5.attrs["status"] == "aborted" and h5.attrs["safe_state"] == "safe"
    os.close(terminal)


def test_a_pause_interlock_in_a_run_without_a_terminal_aborts_instead_of_waiting_forever(tmp_path):
    data = yaml.safe_load(twin_station_text(pace=100.0))
    data["interlocks"] = {"temperature_max": "5 K", "action": "pause"}  # the twin starts at 8 K
    station = _write(tmp_path / "pausing.yaml", yaml.safe_dump(data))
    procedure = _write(tmp_path / "slow_sweep.yaml", SLOW_SWEEP)
    child = subprocess.run([sys.executable, "-m", "sqm.cli", "run", str(procedure), "--station", str(station),
                            "--out", str(tmp_path / "out")], cwd=REPO, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 3, child.stderr  # it used to pause with nobody to resume it
    assert "run paused" not in child.stderr
    (path,) = (tmp_path / "out").glob("*.h5")
    with h5py.File(path, "r") as h5:
        assert h5.attrs["status"] == "aborted" and h5.attrs["safe_state"] == "safe"
        assert "interlock temperature_ceiling" in h5.attrs["error"]


def test_a_second_ctrl_c_quits_at_once_and_says_so_in_the_file(tmp_path):
    # Pace 5: the clean abort's cleanup (retract 9 um at 2 um/s, bias ramp) takes >= 0.9 s of
    # wall time, so the second Ctrl-C, sent as soon as the first one is acknowledged on stderr,
    # lands while the first abort is still under way, even on a loaded machine.
    child = _spawn_run(tmp_path, pace=5.0, at_a_terminal=True)
    with _StderrWatch(child) as stderr:
        _wait_until_sweeping(child, tmp_path)
        child.send_signal(signal.SIGINT)
        assert stderr.wait_for("Ctrl-C: aborting", 10), "the first Ctrl-C was not acknowledged: " + stderr.text
        child.send_signal(signal.SIGINT)
        child.wait(timeout=60)
    err = stderr.text
    assert child.returncode == 130, err
    assert "second Ctrl-C" in err and "NOT be safe" in err and "Traceback" not in err
    (path,) = (tmp_path / "out").glob("*.h5")
    with h5py.File(path, "r") as h5:
        assert h5.attrs["status"] == "aborted"
        assert "second Ctrl-C" in h5.attrs["error"] and "safe state not confirmed" in h5.attrs["error"]


def test_check_against_a_hardware_station_opens_no_instrument(capsys):
    # the example lab station's instruments are not here: checking needs only its limits
    assert main(["check", str(FIG3), "--station", str(CONFIGS / "stations" / "lab-example.yaml")]) == 0
    out = capsys.readouterr().out
    assert "3 steps valid for station 'lab-example'" in out and "dry run on the twin" in out
