"""`sqm fit`: twin parameters recovered from a loop the twin made with known values and
noise, within the uncertainties the fit reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from sqm.batch.fit import fit_loop
from sqm.batch.variations import BatchBase
from sqm.cli import main
from sqm.station import DEFAULT_STATION, Station

from .conftest import COERCIVITY, DRIVE, LOOP, REPO

pytest.importorskip("dask.distributed")

TRUTH = {COERCIVITY: 2.05, DRIVE: 0.40}  # A/m; the sample file says 1.95864 and 0.380595


def _measured(tmp_path: Path) -> Path:
    """A loop "measured" on a twin with the true values, its sensor noise on (the station's)."""
    base = BatchBase(DEFAULT_STATION)
    settings = {base.parameter(f"{key}={value} A/m"): value for key, value in TRUTH.items()}
    station_text, sample_text = base.texts(settings, (tmp_path / "true_sample.yaml").resolve())
    (tmp_path / "true_sample.yaml").write_text(sample_text)
    (tmp_path / "true.yaml").write_text(station_text)
    (tmp_path / "loop.yaml").write_text(LOOP)
    done = subprocess.run([sys.executable, "-m", "sqm.cli", "run", str(tmp_path / "loop.yaml"), "--station",
                           str(tmp_path / "true.yaml"), "--out", str(tmp_path / "measured")], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


def test_a_fit_recovers_known_parameters_within_its_uncertainties(tmp_path):
    measured = _measured(tmp_path)
    result = fit_loop(measured, DEFAULT_STATION, [COERCIVITY, DRIVE], tmp_path / "fitted.yaml", workers=2)
    for key, value, sigma, start in zip(result.keys, result.values, result.uncertainties, result.start):
        truth = TRUTH[key]
        assert abs(value - truth) < 2 * sigma, (key, value, sigma, truth)
        assert sigma < 0.02 * truth  # an uncertainty that says something
        assert abs(start - truth) > 4 * sigma  # it had somewhere to go
    assert result.residual_rms < 2e-6  # the sensor noise of the measured loop, not a misfit
    fitted = Station.from_file(result.station_path)  # the fitted station builds
    fitted.close()
    sample = yaml.safe_load(result.sample_path.read_text())
    magnetism = sample["regions"]["lower_right"]["magnetism"]
    assert float(magnetism["coercivity"].split()[0]) == pytest.approx(result.values[0], rel=1e-6)
    assert np.isfinite(result.uncertainties).all()


def test_fit_without_a_sweep_in_the_file_is_one_line(tmp_path, capsys):
    from sqm.store import RunStore

    path = tmp_path / "nothing.h5"
    store = RunStore(path, backend="sim", station_text="", procedure_text="steps: [{park: {x: 0, y: 0}}]")
    store.set_run_status("completed")
    store.close()
    assert main(["fit", str(path), "--params", COERCIVITY, "--out", str(tmp_path / "f.yaml")]) == 2
    error = capsys.readouterr().err
    assert error == f"sqm: error: {path}: no completed bias_sweep or field_sweep to fit\n"
