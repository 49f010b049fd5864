"""Another program reads a run file while `sqm run` writes it (SWMR), and after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from sqm import writer_flags
from tests.conftest import twin_station_text

REPO = Path(__file__).resolve().parents[2]
SLOW_SWEEP = """
steps:
  - park: {x: 30 um, y: -15 um}
  - bias_sweep: {points: [0, 200 uA, -200 uA, 200 uA], step: 2 uA, integration_time: 1 s}
"""
PLANNED_BIAS_UA = np.concatenate([np.arange(0, 200, 2), np.arange(200, -200, -2), np.arange(-200, 201, 2)])
SERIES = "002_bias_sweep/data"


def _start_run(tmp_path: Path, pace: float) -> tuple[subprocess.Popen, Path]:
    station = tmp_path / "slow.yaml"
    station.write_text(twin_station_text(pace=pace))
    procedure = tmp_path / "slow_sweep.yaml"
    procedure.write_text(SLOW_SWEEP)
    child = subprocess.Popen([sys.executable, "-m", "sqm.cli", "run", str(procedure), "--station", str(station),
                              "--out", str(tmp_path / "out")], cwd=REPO, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while True:
        files = [path for path in (tmp_path / "out").glob("*.h5") if path.stat().st_size > 0]
        if files:
            return child, files[0]
        assert child.poll() is None and time.monotonic() < deadline, "the run did not start"
        time.sleep(0.02)


def _open_series(path: Path, child: subprocess.Popen) -> h5py.File:
    """The running file, opened as another program would (h5py, swmr=True), once the sweep's
    series exists (a new group appears to a reader that opens the file again)."""
    deadline = time.monotonic() + 60
    while True:
        h5 = h5py.File(path, "r", swmr=True)
        try:
            if SERIES in h5 and h5[f"{SERIES}/bias_current"].shape[0] > 0:
                return h5
        except (KeyError, RuntimeError, OSError):  # the step being added, half-flushed: open it again
            pass
        h5.close()
        assert child.poll() is None and time.monotonic() < deadline, "the sweep did not start"
        time.sleep(0.02)


def _whole_records(h5: h5py.File) -> dict[str, np.ndarray]:
    """Every column refreshed, cut to the rows all columns hold: the records a reader sees."""
    data = h5[SERIES]
    for dataset in data.values():
        dataset.refresh()
    length = min(dataset.shape[0] for dataset in data.values())
    return {name: dataset[:length] for name, dataset in data.items()}


def test_another_program_reads_a_running_file_and_sees_it_grow_in_whole_records(tmp_path):
    child, path = _start_run(tmp_path, pace=100.0)  # about 4 s of wall time for the sweep
    try:
        with _open_series(path, child) as h5:
            assert h5.attrs["status"] == "running"
            lengths, last = [], {}
            while child.poll() is None:
                records = _whole_records(h5)
                length = len(records["bias_current"])
                # whole records: every row is the planned bias with a finite reading, no fill value
                np.testing.assert_allclose(records["bias_current"] * 1e6, PLANNED_BIAS_UA[:length], atol=1e-9)
                assert np.all(np.isfinite(records["flux"])), "a record read before it was written"
                lengths.append(length)
                last = records
                time.sleep(0.05)
        assert len(set(lengths)) >= 3 and lengths == sorted(lengths), lengths  # it grew, never shrank
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(60)
    assert child.returncode == 0, child.stderr.read()
    with h5py.File(path, "r") as h5:  # closed by its writer: any reader opens it
        assert h5.attrs["status"] == "completed"
        final = {name: dataset[()] for name, dataset in h5[SERIES].items()}
    assert len(final["bias_current"]) == len(PLANNED_BIAS_UA) >= lengths[-1]
    for name, values in last.items():  # what was read live is what the file kept
        np.testing.assert_array_equal(values, final[name][:len(values)])


def test_sqm_show_says_a_file_is_running_while_it_is_written(tmp_path):
    child, path = _start_run(tmp_path, pace=50.0)
    try:
        _open_series(path, child).close()
        shown = subprocess.run([sys.executable, "-m", "sqm.cli", "show", str(path)], cwd=REPO,
                               capture_output=True, text=True, timeout=120)
        still_running = child.poll() is None
    finally:
        child.send_signal(signal.SIGINT)
        child.wait(60)
    assert shown.returncode == 0, shown.stderr
    assert still_running
    assert "  status: running\n" in shown.stdout, shown.stdout  # its writer is there: nothing more to say


def test_a_killed_run_reads_with_swmr_and_opens_plainly_once_its_flags_are_cleared(tmp_path):
    child, path = _start_run(tmp_path, pace=100.0)
    _open_series(path, child).close()
    os.kill(child.pid, signal.SIGKILL)
    child.wait(60)
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(path, "r")  # the writer never closed it: HDF5 says so
    with h5py.File(path, "r", swmr=True) as h5:
        flushed = h5[f"{SERIES}/bias_current"][()]
    assert len(flushed) > 0
    assert writer_flags.writer_flags(path) != 0
    assert writer_flags.clear_writer_flags(path) is True
    with h5py.File(path, "r") as h5:  # what h5clear -s does: now any reader opens it, nothing lost
        np.testing.assert_array_equal(h5[f"{SERIES}/bias_current"][()], flushed)
