"""The paper's bias-current loop (Fig. 3a-b) run as a procedure file on the twin.

The run goes through the whole stack (station file, procedure file, runner, HDF5)
and the file's bias_sweep step must show PHYSICS.md golden checks 8-11, with the
twin's sensor noise and drift on.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from sqm.analysis.bias_loop import summarize_bias_loop
from sqm.analysis.loops import split_branches
from sqm.readback import find_step, read_steps
from sqm.session import run_procedure
from sqm.station import Station

from ..conftest import CONFIGS, run_on_station

UA = 1e-6
K_OERSTED = 5.0  # Phi0/A, the twin's Oersted coupling at the park point
PREAMBLE = """
steps:
  - zero_field_cool: {from_temperature: 8 K, to_temperature: 1.5 K}
  - park: {x: 30 um, y: -15 um}
"""


@pytest.fixture(scope="module")
def fig3_run(tmp_path_factory):
    result = run_procedure(CONFIGS / "procedures" / "fig3_bias_loop.yaml", out_dir=tmp_path_factory.mktemp("fig3"))
    assert result.outcome.status == "completed", result.outcome.error
    sweep = find_step(read_steps(result.path), "bias_sweep")
    assert sweep.status == "completed"
    return result, sweep


@pytest.fixture(scope="module")
def summary(fig3_run):
    _, sweep = fig3_run
    return summarize_bias_loop(sweep.data["bias_current"], sweep.data["flux"], sweep.data["branch"])


def test_check8_virgin_flux_is_linear_with_negative_slope_below_100uA(fig3_run, summary):
    _, sweep = fig3_run
    assert summary.oersted_slope == pytest.approx(-K_OERSTED, rel=0.05)
    current, flux = split_branches(sweep.data["bias_current"], sweep.data["flux"], sweep.data["branch"])[0]
    linear = (current >= 10 * UA) & (current <= 100 * UA)
    deviation = np.abs(flux[linear] + K_OERSTED * current[linear]) / (K_OERSTED * current[linear])
    assert deviation.max() < 0.05


def test_check9_virgin_minimum_zero_crossing_and_positive_end(summary):
    assert summary.virgin_minimum == pytest.approx(137 * UA, abs=5 * UA)
    assert summary.virgin_zero_crossing == pytest.approx(160 * UA, abs=5 * UA)
    assert summary.virgin_flux_at_max > 0


def test_check10_major_loop_from_plus_200(summary):
    assert summary.descending_dips
    assert summary.remanence > 0
    assert summary.switching_current == pytest.approx(-120 * UA, abs=5 * UA)
    assert summary.flux_at_min < 0


def test_check11_antisymmetry_and_merge_with_the_virgin_curve(summary):
    # exact in the model; the recorded loop carries sensor noise and drift of a few uPhi0
    assert summary.antisymmetry_error < 0.03 * summary.remanence
    assert summary.merge_error_above_145uA < 0.02 * summary.remanence


def test_the_file_records_the_sweep_as_designed(fig3_run):
    result, sweep = fig3_run
    assert set(sweep.units.items()) >= {
        ("bias_current", "A"),
        ("flux", "Phi0"),
        ("temperature", "K"),
        ("time", "s"),
        ("branch", "1"),
    }
    assert len(sweep.data["flux"]) == 501
    assert np.all(np.diff(sweep.data["time"]) >= 1.1)  # settle 0.1 s + integration 1 s per point, at least
    assert np.all(np.abs(sweep.data["temperature"] - 1.5) < 0.03)
    with h5py.File(result.path, "r") as h5:
        assert h5.attrs["backend"] == "sim" and h5.attrs["status"] == "completed"
        assert h5.attrs["safe_state"] == "safe"


def _remanence_after_peak(station, tmp_path, peak_uA: float) -> float:
    text = PREAMBLE + f"  - bias_sweep: {{points: [0, {peak_uA} uA, 0], step: 2 uA, integration_time: 1 s}}\n"
    path, outcome = run_on_station(station, text, tmp_path)
    assert outcome.status == "completed"
    sweep = find_step(read_steps(path), "bias_sweep")
    return float(sweep.data["flux"][-1])


MAJOR_REMANENCE = 128.9 * UA * K_OERSTED  # Phi0, amplitude x Oersted coupling


@pytest.mark.parametrize("peak_uA", [100, 120, 135, -135])
def test_check8_no_remanence_after_peaks_up_to_135uA(tmp_path, peak_uA):
    remanence = _remanence_after_peak(Station.from_file(CONFIGS / "stations" / "sim.yaml"), tmp_path, peak_uA)
    assert abs(remanence) < 0.02 * MAJOR_REMANENCE


@pytest.mark.parametrize("peak_uA", [150, 200, -150, -200])
def test_check10_remanence_takes_the_sign_of_the_peak_current(tmp_path, peak_uA):
    remanence = _remanence_after_peak(Station.from_file(CONFIGS / "stations" / "sim.yaml"), tmp_path, peak_uA)
    assert np.sign(remanence) == np.sign(peak_uA)
    assert abs(remanence) > 0.3 * MAJOR_REMANENCE


def test_thermal_cycle_above_tc_erases_and_the_next_virgin_sweep_repeats(tmp_path, twin):
    text = (
        PREAMBLE
        + """  - bias_sweep: {points: [0, 200 uA, -200 uA, 200 uA, 0], step: 2 uA, integration_time: 1 s}
  - thermal_cycle: {anneal_temperature: 7 K, base_temperature: 1.5 K}
  - park: {x: 30 um, y: -15 um}
  - bias_sweep: {points: [0, 200 uA, -200 uA, 200 uA], step: 2 uA, integration_time: 1 s}
"""
    )
    path, outcome = run_on_station(twin, text, tmp_path)
    assert outcome.status == "completed"
    steps = read_steps(path)
    first, second = (step for step in steps if step.procedure == "bias_sweep")
    remanence_before = first.data["flux"][-1]
    assert remanence_before > 0.9 * MAJOR_REMANENCE  # the state the cycle has to erase
    cycle = find_step(steps, "thermal_cycle")
    assert cycle.data["temperature"].max() > 6.5  # it really went above T_c
    assert abs(second.data["flux"][0]) < 0.02 * MAJOR_REMANENCE  # virgin again: no remanence
    virgin_first = split_branches(first.data["bias_current"], first.data["flux"], first.data["branch"])[0]
    virgin_second = split_branches(second.data["bias_current"], second.data["flux"], second.data["branch"])[0]
    assert np.max(np.abs(virgin_second[1] - virgin_first[1])) < 0.03 * MAJOR_REMANENCE
    summary = summarize_bias_loop(second.data["bias_current"], second.data["flux"], second.data["branch"])
    assert summary.virgin_minimum == pytest.approx(137 * UA, abs=5 * UA)
    assert summary.virgin_zero_crossing == pytest.approx(160 * UA, abs=5 * UA)


@pytest.mark.parametrize("anneal_K, low, high", [(3.0, 0.95, 1.05), (4.0, 0.40, 0.60), (5.0, -0.05, 0.05)])
def test_partial_thermal_erasure_follows_the_blocking_temperatures(tmp_path, twin, anneal_K, low, high):
    text = (
        PREAMBLE
        + f"""  - bias_sweep: {{points: [0, -200 uA, 0], step: 4 uA, integration_time: 1 s}}
  - thermal_cycle: {{anneal_temperature: {anneal_K} K, base_temperature: 1.5 K}}
  - park: {{x: 30 um, y: -15 um, integration_time: 2 s}}
"""
    )
    path, outcome = run_on_station(twin, text, tmp_path)
    assert outcome.status == "completed"
    steps = read_steps(path)
    before = find_step(steps, "bias_sweep").data["flux"][-1]
    after = find_step(steps, "park").data["flux"][-1]
    assert before < -0.9 * MAJOR_REMANENCE
    assert low <= after / before <= high
