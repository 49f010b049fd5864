"""A new sample written only as a file runs every procedure of the demo on the twin, and a
step may drive the bias between any pair of its leads (configs/samples/l_shaped_flake.yaml:
an L-shaped flake from a PNG mask, three leads on three sides, two magnetic regions)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from sqm.readback import find_step, read_steps
from sqm.session import run_procedure
from sqm.station import Station

from ..conftest import CONFIGS, twin_station_text

L_SAMPLE = CONFIGS / "samples" / "l_shaped_flake.yaml"
DEMO = ("fig3_bias_loop", "fig2_images", "fig3cd_edge", "fig2c_transport", "fig4_field_loop", "fig3f_thermal")
UA = 1e-6


def _station(**sim) -> Station:
    return Station.from_text(twin_station_text(sample=str(L_SAMPLE), flux_noise=0.0, **sim))


@pytest.mark.parametrize("procedure", DEMO)
def test_every_demo_procedure_runs_on_a_sample_given_only_as_a_file(tmp_path, procedure):
    result = run_procedure(CONFIGS / "procedures" / f"{procedure}.yaml", _station(), tmp_path)
    assert result.outcome.status == "completed", result.outcome.error
    with h5py.File(result.path, "r") as h5:
        assert h5.attrs["sample"] == "L-shaped flake"
        assert "l_shaped_flake.png" in h5.attrs["sample_text"]  # the file's own text


def _virgin_sweep(tmp_path, leads: str):
    text = ("steps:\n  - zero_field_cool: {from_temperature: 8 K, to_temperature: 1.5 K}\n"
            "  - park: {x: 30 um, y: -15 um, height: 1 um}\n"
            f"  - bias_sweep: {{points: [0, 240 uA, 0], step: 2 uA, integration_time: 0.1 s{leads}}}\n"
            "  - park: {x: 30 um, y: -15 um, height: 1 um}\n")  # its snapshot: the leads the sweep left
    result = run_procedure(text, _station(), tmp_path)
    assert result.outcome.status == "completed", result.outcome.error
    return result, find_step(read_steps(result.path), "bias_sweep")


def _remanence(sweep) -> float:
    return float(sweep.data["flux"][-1])


def test_the_loop_follows_the_leads_the_step_names(tmp_path):
    """The bar region is polarised by the current that flows in it: from the top of the arm
    to the right end of the bar it runs along the whole bar; to the lead under the bar's
    middle, it leaves the bar's right half nearly without current (a smaller region mean):
    the same 240 uA then leaves a different remanence at the park point."""
    default_run, default = _virgin_sweep(tmp_path / "default", "")
    side_run, side = _virgin_sweep(tmp_path / "side", ", leads: [source, side]")
    assert side.parameters["leads"]["value"] == ["source", "side"]
    with h5py.File(side_run.path, "r") as h5:
        after = sorted(name for name in h5 if name.endswith("_park"))[-1]
        assert h5[after]["snapshot/current_source"].attrs["leads"] == "source -> side"
    # the Oersted coupling at the park point differs: the current takes another path
    slope_default = np.polyfit(default.data["bias_current"][:20], default.data["flux"][:20], 1)[0]
    slope_side = np.polyfit(side.data["bias_current"][:20], side.data["flux"][:20], 1)[0]
    assert abs(slope_side - slope_default) > 0.2 * abs(slope_default)
    assert _remanence(default) != pytest.approx(_remanence(side), rel=0.1)


def test_a_step_without_leads_returns_to_the_default_pair_at_zero_current(tmp_path):
    text = ("steps:\n  - set: {bias_current: 50 uA, leads: [source, side]}\n"
            "  - bias_sweep: {points: [0, 20 uA], step: 10 uA, integration_time: 0.1 s}\n")
    station = _station()
    result = run_procedure(text, station, tmp_path)
    assert result.outcome.status == "completed", result.outcome.error
    world = station.current_source.world
    assert world.bias_leads == ("source", "drain")
    sweep = find_step(read_steps(result.path), "bias_sweep")
    assert sweep.data["bias_current"][0] == pytest.approx(0.0, abs=1e-12)  # ramped down before switching
