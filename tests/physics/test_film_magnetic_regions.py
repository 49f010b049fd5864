"""Why the spatial twin's early-switching region is the lower-left part of the lower
domain and not a 2 um edge band (sims/film_sample.py; docs/physics.md, "Edge band"),
and the jump finder of Fig. 3d.

Layer C keeps the counterflow of a switched region inside it, so the edge current a
line cut can see is that of a region several um wide; the park point must not see it
(golden check 8: no remanence after 135 uA there, while the edge jumps at 120 uA)."""

import numpy as np
import pytest
import scipy.ndimage

from sqm.analysis.edge_profile import edge_current_jump, peak_current_across_edge
from sqm.sims.film.anomalous import AnomalousCurrentSolver
from sqm.sims.film.forward import ForwardModel
from sqm.sims.film.grid import sheet_current
from sqm.sims.film_sample import bias_patterns, bias_response
from sqm.sims.world import World, WorldSettings

UM, UA = 1e-6, 1e-6
SPACING = 0.25 * UM
EDGE_CUT_X = -25 * UM  # configs/procedures/fig3cd_edge.yaml


@pytest.fixture(scope="module")
def sample():
    return World(WorldSettings(flux_noise_white=0.0)).sample


def _cut(sample, image, x):
    ys = np.arange(-35 * UM, -15 * UM + 1e-12, SPACING)
    return sample._interpolate(image, np.full_like(ys, x), ys)


def _peak(sample, profile):
    return peak_current_across_edge(profile, SPACING, sample.scan_height, sample.pickup_radius)


def _magnet(sample, name):
    return next(magnet for magnet in sample.magnets if magnet.name == name)


def _switching_current(sample, name):
    """The bias (A) at which a region's mean coercivity (A/m) is reached: over its
    region-mean bias sheet current per ampere."""
    coercivity = np.mean(_magnet(sample, name).ensemble.coercivity)
    scale = float(bias_patterns(sample.description, sample.bias_leads, sample.base_temperature)[f"scale:{name}"])
    return coercivity / scale


def test_the_lower_left_region_leaves_no_remanence_at_the_park_point(sample):
    park = sample.probe("park")
    left = _magnet(sample, "lower_left").magnetism
    seen = left.anomalous_bias * sample.map_value("pattern:lower_left:bias", park)
    major = -sample.map_value("bias", park) * 128.9 * UA  # model R's remanence A k (Phi0)
    assert abs(seen) < 0.01 * major
    assert _switching_current(sample, "lower_right") == pytest.approx(140 * UA, rel=0.01)
    assert _switching_current(sample, "lower_left") == pytest.approx(0.86 * 140 * UA, rel=0.01)


def test_the_switched_lower_left_region_triples_the_edge_current_at_120uA(sample):
    left = _magnet(sample, "lower_left").magnetism
    bias = _cut(sample, sample._map("bias", sample.scan_height), EDGE_CUT_X)
    anomalous = left.anomalous_bias * _cut(sample, sample._map("lower_left", sample.scan_height, kind="bias"),
                                           EDGE_CUT_X)
    before = _peak(sample, 120 * UA * bias)
    assert _peak(sample, 120 * UA * bias + anomalous) > 3 * before


def test_a_2um_edge_band_would_lower_the_reconstructed_edge_current(sample):
    # The first plan's edge band (docs/physics.md, "Edge band"), measured: its edge current
    # and counterflow sit 2 um apart, and at 1 um height they nearly cancel: the peak moves
    # by 0.1 %, no jump at 120 uA (a switched lower-left region triples it, test above).
    geometry = sample.geometry
    grid, cell = geometry.grid, geometry.grid.dx
    lower = geometry.cells("lower_left") | geometry.cells("lower_right")
    band = lower & (scipy.ndimage.distance_transform_edt(geometry.mask) * cell <= 2 * UM)
    kx, ky = sheet_current(grid, bias_response(sample.description, sample.base_temperature,
                                               sample.bias_leads).unit_stream_function)
    mean = np.mean(np.hypot(kx, ky)[band])
    g = 2 * AnomalousCurrentSolver(band, cell).stream_function(np.where(band, -ky / mean, 0),
                                                                np.where(band, kx / mean, 0))
    flux = ForwardModel(grid, sample.scan_height, sample.pickup_radius).flux(g)
    amplitude = _magnet(sample, "lower_right").magnetism.anomalous_bias
    bias = _cut(sample, sample._map("bias", sample.scan_height), EDGE_CUT_X)
    before = _peak(sample, 120 * UA * bias)
    after = _peak(sample, 120 * UA * bias + amplitude * _cut(sample, flux, EDGE_CUT_X))
    assert after < 1.1 * before


# The jump finder on made-up series ------------------------------------------------
CURRENTS = np.array([0, 20, 40, 60, 80, 100, 110, 115, 120, 125, 130, 140, 150]) * UA


def _find_jump(currents, peaks):
    """The jump finder with the series' straight part up to 100 uA."""
    return edge_current_jump(currents, peaks, trend_up_to=100 * UA)


def test_a_step_is_found_between_the_two_currents_around_it():
    peaks = 1e4 * CURRENTS + np.where(CURRENTS >= 125 * UA, 2.0, 0.0)
    jump = _find_jump(CURRENTS, peaks)
    assert (jump.last_on_trend, jump.first_off_trend) == (120 * UA, 125 * UA)
    assert jump.onset == pytest.approx(122.5 * UA)
    assert jump.trend_slope == pytest.approx(1e4)
    assert jump.excess_after == pytest.approx(2.0)


def test_a_straight_line_with_noise_has_no_jump():
    rng = np.random.default_rng(7)
    peaks = 1e4 * CURRENTS + 0.3 + rng.normal(0, 0.02, CURRENTS.size)
    assert _find_jump(CURRENTS, peaks) is None


def test_a_rise_must_clear_the_scatter_of_the_trend():
    # scatter on the trend points (0-100 uA) that leaves the fitted line exact: rms 0.098 A/m
    scatter = np.zeros(CURRENTS.size)
    scatter[:6] = 0.12 * np.array([1, -1, 0, 0, -1, 1])
    line = 2e3 * CURRENTS + scatter
    assert _find_jump(CURRENTS, line + np.where(CURRENTS >= 125 * UA, 0.3, 0.0)) is None  # < 5 rms
    assert _find_jump(CURRENTS, line + np.where(CURRENTS >= 125 * UA, 0.7, 0.0)).first_off_trend == 125 * UA


def test_a_rise_must_be_a_quarter_of_the_trend():
    line = 1e4 * CURRENTS + 0.01 * np.sin(np.arange(CURRENTS.size))  # scatter far below the rises
    assert _find_jump(CURRENTS, line + np.where(CURRENTS >= 125 * UA, 0.15, 0.0)) is None  # 12 % of 1.25
    assert _find_jump(CURRENTS, line + np.where(CURRENTS >= 125 * UA, 0.5, 0.0)).first_off_trend == 125 * UA


@pytest.mark.parametrize("currents, peaks, message", [
    (CURRENTS[::-1], 1e4 * CURRENTS, "increase"),
    (CURRENTS, 1e4 * CURRENTS[:-1], "one length"),
    (CURRENTS[6:], 1e4 * CURRENTS[6:], "at least 3"),
])
def test_series_it_cannot_judge_are_refused(currents, peaks, message):
    with pytest.raises(ValueError, match=message):
        _find_jump(currents, peaks)
