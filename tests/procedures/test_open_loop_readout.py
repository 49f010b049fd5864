"""The open-loop readout: the SQUID's voltage at its working point, converted to flux with
the transfer measured there (linear only over a small fraction of Phi0); refused before a
working point exists."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import yaml

from sqm.session import run_procedure
from sqm.sims.nano_squid import rounded_voltage
from sqm.station import Station

from ..conftest import twin_station_text

STEPS = ("steps:\n"
         "  - zero_field_cool: {from_temperature: 8 K, to_temperature: 1.5 K}\n"
         "  - working_point: {fields: [-10 G, 10 G], biases: [50 uA, 130 uA]}\n"
         "  - park: {x: 30 um, y: -15 um, height: 1 um}\n"
         "  - bias_sweep: {points: [0, 150 uA, 0], step: 5 uA, integration_time: 0.5 s}\n")


def _run(tmp_path: Path, readout: str, steps: str = STEPS):
    data = yaml.safe_load(twin_station_text())
    data["sim"]["squid"]["readout"] = readout
    station_file = tmp_path / f"{readout}.yaml"
    station_file.write_text(yaml.safe_dump(data, sort_keys=False))
    procedure = tmp_path / f"{readout}-procedure.yaml"
    procedure.write_text(steps)
    folder = tmp_path / readout
    folder.mkdir(exist_ok=True)
    station = Station.from_file(station_file)
    return run_procedure(procedure, station, folder), station.backend.roles["squid"].world


def test_open_loop_reads_through_the_squids_own_curve(tmp_path):
    (open_loop, world), (locked, _) = _run(tmp_path, "open_loop"), _run(tmp_path, "fll")
    assert open_loop.outcome.status == locked.outcome.status == "completed"
    with h5py.File(open_loop.path) as a, h5py.File(locked.path) as b:
        flux_open, flux_locked = a["004_bias_sweep/data/flux"][()], b["004_bias_sweep/data/flux"][()]
    # The same physics and flux noise in both runs: the locked loop read the sample's flux
    # (with the noise) exactly; the open loop must read V(bias, applied + that flux),
    # converted about its working point: nonlinear over this sweep's 5 mPhi0.
    squid = world.nano_squid
    point = squid.open_loop_point
    # the field and the SQUID bias stayed at the working point's through park and sweep
    volts = rounded_voltage(squid.settings, point.bias, point.applied_flux + flux_locked)
    expected = (volts - point.voltage) / point.transfer
    noise = squid.settings.voltage_noise / np.sqrt(2 * 0.5) / abs(point.transfer)  # Phi0 per reading
    assert np.abs(flux_open - expected).max() < 6 * noise
    change_open, change_locked = flux_open - flux_open[0], flux_locked - flux_locked[0]
    assert np.abs(change_open - change_locked).max() > 100 * noise  # the curve shows: not the loop's line


def test_open_loop_without_a_working_point_is_refused(tmp_path):
    result, _ = _run(tmp_path, "open_loop", "steps:\n  - park: {x: 30 um, y: -15 um, height: 1 um}\n")
    assert result.outcome.status == "failed"
    assert "no working point" in result.outcome.error
