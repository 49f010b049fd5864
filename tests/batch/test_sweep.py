"""`sqm sweep`: many twin runs on Dask workers give the numbers serial runs give, one file
each, and a summary whose figures follow the varied parameter; bad input is one line."""

from __future__ import annotations

import csv
import subprocess
import sys

import h5py
import numpy as np
import pytest

from sqm.batch.sweep import plan_sweep, run_sweep
from sqm.cli import main
from sqm.station import DEFAULT_STATION

from .conftest import COERCIVITY, REPO

pytest.importorskip("dask.distributed")

def _flux(path: str) -> np.ndarray:
    with h5py.File(path, "r") as h5:
        return h5["003_bias_sweep/data/flux"][()]


def test_eight_coercivities_on_two_workers_equal_eight_serial_runs_and_switching_follows(loop_file, tmp_path):
    vary = [f"{COERCIVITY}=1.6 A/m:2.3 A/m:8"]
    parallel_jobs, units = plan_sweep(loop_file, DEFAULT_STATION, vary, tmp_path / "parallel")
    parallel = run_sweep(parallel_jobs, tmp_path / "parallel", units, workers=2)
    serial_jobs, _ = plan_sweep(loop_file, DEFAULT_STATION, vary, tmp_path / "serial")
    serial = run_sweep(serial_jobs, tmp_path / "serial", units, workers=0)
    assert len(list((tmp_path / "parallel").glob("run-*.h5"))) == 8
    for a, b in zip(parallel.rows, serial.rows):
        assert a.status == b.status == "completed"
        assert a.settings == b.settings and a.figures == b.figures  # the same numbers, to the bit
        np.testing.assert_array_equal(_flux(a.path), _flux(b.path))
    coercivities = [row.settings[COERCIVITY] for row in parallel.rows]
    np.testing.assert_allclose(coercivities, np.linspace(1.6, 2.3, 8))
    switching = np.array([row.figures["switching_bias_current_A"] for row in parallel.rows])
    # a harder magnet switches at a larger bias: the descending branch's switching current
    # (negative) moves away from zero as the coercivity grows
    assert np.all(np.diff(switching) < 0), switching
    with open(parallel.csv_path) as handle:
        table = list(csv.DictReader(handle))
    assert [row["run"] for row in table] == [f"run-{index}" for index in range(1, 9)]
    assert [float(row["switching_bias_current_A"]) for row in table] == pytest.approx(list(switching))
    with h5py.File(parallel.hdf5_path, "r") as h5:
        data = h5["summary/data"]
        assert data.attrs["signal"] == "switching_bias_current_A" and list(data.attrs["axes"]) == [COERCIVITY]
        np.testing.assert_allclose(data[COERCIVITY][()], coercivities)
        assert data[COERCIVITY].attrs["units"] == "A/m"


@pytest.mark.parametrize("vary, message", [
    ("sample.regions.lower_right.magnetism.coercivty=1:2:3", "--vary sample.regions.lower_right.magnetism."
     "coercivty: unknown key (the sample file"),
    ("sim.flux_noise=0:1e-6:0", "--vary 'sim.flux_noise=0:1e-6:0': N must be 1 or more, got 0"),
    ("sim.flux_noise=0:1e-6", "expected KEY=START:STOP:N"),
    (f"{COERCIVITY}=1 A/m:2 V:3", "is not a value in A/m"),
])
def test_a_bad_vary_is_one_line_and_nothing_starts(loop_file, tmp_path, capsys, vary, message):
    out = tmp_path / "out"
    assert main(["sweep", str(loop_file), "--vary", vary, "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1 and message in error, error
    assert not out.exists()


def test_an_unreachable_scheduler_is_one_line_and_nothing_starts(loop_file, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "sqm.cli", "sweep", str(loop_file), "--vary",
                           "sim.flux_noise=0:1e-6:2", "--scheduler", "tcp://127.0.0.1:9", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("sqm: error: --scheduler tcp://127.0.0.1:9: cannot reach it"), done.stderr
    assert not list(out.glob("*.h5"))
