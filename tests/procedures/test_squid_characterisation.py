"""The nano-SQUID characterised on the twin: its I-V, its interference pattern (period and
skew against the model's analytic values), the working point against the model's largest
transfer, and the refusals before anything moves."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from sqm.cli import main
from sqm.session import run_procedure
from sqm.sims.nano_squid import PHI0, NanoSquidSettings, rounded_transfer
from sqm.sims.squid_sensor import maximum_flux
from sqm.station import DEFAULT_STATION, Station

from ..conftest import twin_station_text

SENSOR = NanoSquidSettings().sensor  # the twin station's sensor is the default one (configs/stations/sim.yaml)
ABOVE_TC = "  - set: {temperature: 8 K}\n"  # the film normal: nothing screens the applied field


def _run(tmp_path: Path, steps: str, station: Path = DEFAULT_STATION) -> dict:
    """Run the steps on the twin; the notes of each step by procedure name."""
    procedure = tmp_path / "squid.yaml"
    procedure.write_text("steps:\n" + ABOVE_TC + steps)
    result = run_procedure(procedure, Station.from_file(station), tmp_path)
    assert result.outcome.status == "completed", result.outcome.error
    with h5py.File(result.path) as h5:
        return {h5[group].attrs["procedure"]: dict(h5[group].attrs) for group in h5
                if isinstance(h5[group], h5py.Group) and "procedure" in h5[group].attrs}


def test_station_sensor_is_the_default_one():
    station = yaml.safe_load(DEFAULT_STATION.read_text())["sim"]["squid"]
    assert station["effective_area"] == "1.2 um^2" and SENSOR.effective_area == pytest.approx(1.2e-12)
    assert station["loop_inductance"] == "8 pH" and SENSOR.loop_inductance == pytest.approx(8e-12)


def test_interference_period_and_skew_match_the_model(tmp_path):
    notes = _run(tmp_path, "  - squid_interference: {fields: [-12 G, 20 G], field_step: 0.2 G, bias_max: 140 uA}\n")
    pattern = notes["squid_interference"]
    assert pattern["period_T"] == pytest.approx(PHI0 / SENSOR.effective_area, rel=0.01)
    assert pattern["effective_area_m2"] == pytest.approx(SENSOR.effective_area, rel=0.01)
    # the asymmetric SQUID's pattern is skewed: Ic+ and Ic- peak apart, where the model puts them
    assert pattern["maximum_flux_plus_Phi0"] == pytest.approx(maximum_flux(SENSOR, +1), abs=0.003)
    assert pattern["maximum_flux_minus_Phi0"] == pytest.approx(maximum_flux(SENSOR, -1), abs=0.003)
    assert abs(maximum_flux(SENSOR, +1)) > 0.04  # a skew well beyond the tolerance


def test_voltage_mode_finds_the_same_period(tmp_path):
    notes = _run(tmp_path, "  - squid_interference: {fields: [-20 G, 20 G], field_step: 0.5 G, mode: voltage, "
                           "bias: 105 uA}\n")
    assert notes["squid_interference"]["period_T"] == pytest.approx(PHI0 / SENSOR.effective_area, rel=0.01)


def test_iv_critical_current_and_resistance(tmp_path):
    notes = _run(tmp_path, "  - squid_iv: {points: [0, 150 uA, -150 uA, 0], step: 1 uA}\n")["squid_iv"]
    # at zero field, just off the pattern's peak: close to I1 + I2 = 100 uA, below it
    assert 95e-6 < notes["critical_current_plus_A"] < 100e-6
    assert notes["critical_current_minus_A"] == pytest.approx(notes["critical_current_plus_A"], rel=0.01)
    # dV/dI at 150 uA of (R/2) sqrt(I^2 - Ic^2): (R/2) I / sqrt(I^2 - Ic^2), above R/2
    assert notes["differential_resistance_ohm"] > SENSOR.shunt_resistance / 2


def test_working_point_transfer_within_5_percent_of_the_model(tmp_path):
    notes = _run(tmp_path, "  - working_point: {fields: [-10 G, 10 G], biases: [50 uA, 130 uA]}\n")
    point = notes["working_point"]
    fields = np.linspace(-1e-3, 1e-3, 2001)
    biases = np.linspace(50e-6, 130e-6, 801)
    model = rounded_transfer(NanoSquidSettings(), biases[:, None], (fields * SENSOR.effective_area / PHI0)[None, :])
    best = np.abs(model).max()
    assert abs(point["working_point_transfer_V_per_Phi0"]) == pytest.approx(best, rel=0.05)
    # and the model agrees at the point chosen
    there = rounded_transfer(NanoSquidSettings(), point["working_point_bias_A"],
                             point["working_point_field_T"] * SENSOR.effective_area / PHI0)
    assert abs(there) == pytest.approx(best, rel=0.05)


def _check(tmp_path: Path, steps: str, station_text: str | None = None) -> tuple[int, str]:
    procedure = tmp_path / "p.yaml"
    procedure.write_text("steps:\n" + steps)
    station = tmp_path / "station.yaml"
    station.write_text(station_text or DEFAULT_STATION.read_text())
    return main(["check", str(procedure), "--station", str(station)]), str(station)


@pytest.mark.parametrize("steps, message", [
    ("  - squid_iv: {points: [0, 200 uA, 0]}\n", "SQUID bias 200 uA is outside the station limits"),
    ("  - squid_interference: {fields: [-30 G, 30 G], bias_max: 140 uA}\n", "field -3 mT is outside the station"),
    ("  - squid_interference: {fields: [-10 G, 10 G]}\n", "bias_max: the critical_current mode needs"),
    ("  - working_point: {fields: [-10 G, 10 G], biases: [50 uA, 500 uA]}\n", "SQUID bias 500 uA is outside"),
])
def test_bad_squid_steps_are_refused_in_one_line(tmp_path, capsys, steps, message):
    status, _ = _check(tmp_path, steps)
    err = capsys.readouterr().err
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_working_point_without_a_squid_bias_role_is_refused(tmp_path, capsys):
    data = yaml.safe_load(twin_station_text())
    del data["sim"]["squid"]
    status, _ = _check(tmp_path, "  - working_point: {fields: [-10 G, 10 G], biases: [50 uA, 130 uA]}\n",
                       yaml.safe_dump(data))
    err = capsys.readouterr().err
    assert status == 2 and "working_point needs a squid_bias role" in err and len(err.strip().splitlines()) == 1


def test_a_squid_bias_without_limits_is_refused(tmp_path, capsys):
    data = yaml.safe_load(twin_station_text())
    del data["limits"]["squid_bias"]
    status, _ = _check(tmp_path, "  - park: {x: 0 um, y: 0 um, height: 2 um}\n", yaml.safe_dump(data))
    err = capsys.readouterr().err
    assert status == 2 and "limits.squid_bias is missing" in err and len(err.strip().splitlines()) == 1


def test_squid_bias_ramps_from_its_measured_value_and_is_zeroed_safe(tmp_path):
    station = Station.from_file(DEFAULT_STATION)
    bias = station.backend.roles["squid_bias"]
    world = bias.world
    applied = []
    original = type(bias)._apply_current

    def watch(self, amps):
        applied.append(amps)
        original(self, amps)

    type(bias)._apply_current = watch
    try:
        world.nano_squid.bias_output, world.nano_squid.bias_current = True, 30e-6  # left there by someone
        procedure = tmp_path / "p.yaml"
        procedure.write_text("steps:\n  - squid_iv: {points: [40 uA, 60 uA], step: 5 uA}\n")
        result = run_procedure(procedure, station, tmp_path)
    finally:
        type(bias)._apply_current = original
    assert result.outcome.status == "completed"
    steps = np.diff(np.concatenate(([30e-6], applied)))
    # from the measured 30 uA up, in ramp steps of at most rate x 0.1 s; then down to 0 by the safe state
    assert np.all(np.abs(steps) <= 10e-6 * 0.1 + 1e-12) and applied[-1] == 0.0
    assert not world.nano_squid.bias_output
