"""The paper's Fig. 3c-d run on the spatial twin: line cuts across the lower edge
under increasing bias after a zero-field cool. Golden check 12's edge part
(docs/physics.md): the reconstructed edge current grows slowly, then jumps at
120 +- 5 uA, the switching current of the major loop (Fig. 3b)."""

from __future__ import annotations

import numpy as np
import pytest

from sqm.analysis.edge_profile import sheet_current_from_profile
from sqm.readback import find_step, read_steps
from sqm.session import run_procedure
from sqm.station import Station
from sqm_paper.analysis import edge_current_jump, summarize_bias_loop

from ..conftest import CONFIGS, twin_station_text

UA, UM = 1e-6, 1e-6


def _at(currents, bias) -> int:
    """Index of the bias current nearest `bias` (A)."""
    return int(np.argmin(np.abs(np.asarray(currents) - bias)))


def _run(procedure: str, out_dir, **sim):
    station = Station.from_text(twin_station_text(**sim))
    result = run_procedure(CONFIGS / "procedures" / procedure, station, out_dir)
    assert result.outcome.status == "completed", result.outcome.error
    return read_steps(result.path), station


@pytest.fixture(scope="module", params=["noise-free", "with sensor noise"])
def edge_cuts(request, tmp_path_factory):
    sim = {"flux_noise": 0.0} if request.param == "noise-free" else {}
    steps, station = _run("fig3cd_edge.yaml", tmp_path_factory.mktemp("fig3cd"), **sim)
    step = find_step(steps, "line_cut")
    assert step.status == "completed"
    return step, station


def test_check12_edge_current_jumps_at_120uA_on_the_virgin_sweep(edge_cuts):
    step, _ = edge_cuts
    currents, peaks = step.data["bias_current"], step.data["peak_edge_current"]
    jump = edge_current_jump(currents, peaks)
    assert jump is not None
    assert jump.onset == pytest.approx(120 * UA, abs=5 * UA)
    # "discontinuously sharp": within 10 uA of the onset the edge current is 3x its trend
    ten_above = jump.first_off_trend + 5 * UA
    assert peaks[_at(currents, ten_above)] > 3 * jump.trend(ten_above)
    # "grows slowly" before the window: linear in the bias within 5 % of the trend at 100 uA
    below = currents < 115 * UA
    assert np.all(np.abs(peaks[below] - jump.trend(currents[below])) < 0.05 * jump.trend(100 * UA))
    assert jump.trend_slope > 0


def test_the_jump_adds_current_in_the_bias_direction_at_the_edge(edge_cuts):
    # The anomalous edge current flows with the bias (paper Fig. 3e): the signed sheet
    # current at the lower edge (cut along +y, so K_x) is positive and grows at the jump.
    step, station = edge_cuts
    pickup = station.squid.world.sample.pickup_radius
    currents = step.data["bias_current"]
    y = step.data["y"]
    at_edge = np.abs(y - (-25 * UM)) <= 1.5 * UM

    def edge_current(bias):
        profile = step.data["flux"][_at(currents, bias)]
        return sheet_current_from_profile(profile, 0.25 * UM, 1 * UM, pickup)[at_edge].max()

    assert 0 < edge_current(115 * UA) < 0.5 * edge_current(130 * UA)


def test_the_edge_jump_is_the_switching_current_of_the_major_loop(edge_cuts, tmp_path):
    # Paper: the jump "is the same as the switching current in the ferromagnetic
    # hysteresis loop (Fig. 3b)", while the park point's virgin upturn comes later.
    step, _ = edge_cuts
    jump = edge_current_jump(step.data["bias_current"], step.data["peak_edge_current"])
    steps, _ = _run("fig3_bias_loop.yaml", tmp_path, flux_noise=0.0)
    sweep = find_step(steps, "bias_sweep")
    loop = summarize_bias_loop(sweep.data["bias_current"], sweep.data["flux"], sweep.data["branch"])
    assert jump.onset == pytest.approx(-loop.switching_current, abs=5 * UA)
    assert loop.virgin_minimum > jump.first_off_trend + 5 * UA
