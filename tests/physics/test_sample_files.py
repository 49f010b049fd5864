"""Samples as files (docs/samples.md), checked against analytic results through the
sample-file path only: the file is read, the twin solves the film it describes.

- configs/samples/pearl_disk.yaml: golden check 5, the Meissner moment of a thin
  superconducting disk, -(8/3) H R^3 as Lambda -> 0 (within 3 %), diamagnetic everywhere.
- configs/samples/long_strip.yaml: the bias far from the end leads is the thin-strip
  current of docs/physics.md: all of it crosses the middle, crowded to the edges as
  K_centre / K_mean = 0.83 at W / Lambda = 10 and 0.97 at W / Lambda = 1, and uniform
  (K = I / W within 1 %) once Lambda(T) is far above W near T_c.
"""

from __future__ import annotations

import numpy as np
import pytest

from sqm.sims.film.grid import MU0
from sqm.sims.film_sample import bias_response, film_geometry, meissner_response
from sqm.sims.sample_file import load_sample

from ..conftest import CONFIGS

UM = 1e-6
SAMPLES = CONFIGS / "samples"


def test_the_pearl_disk_file_gives_the_thin_superconductor_moment():
    disk = load_sample(SAMPLES / "pearl_disk.yaml")
    geometry = film_geometry(disk)
    field_h = 1.0  # A/m
    g = meissner_response(disk, 0.0) * MU0 * field_h  # screening of B = mu0 H, at T = 0 (Lambda = Lambda_0)
    moment = float(np.sum(g) * geometry.grid.dx**2)  # A m^2
    radius = 20 * UM
    assert moment == pytest.approx(-(8 / 3) * field_h * radius**3, rel=0.03)
    assert np.all(g[geometry.mask] < 0)  # diamagnetic everywhere, not only on average


@pytest.fixture(scope="module")
def strip():
    return load_sample(SAMPLES / "long_strip.yaml")


def _middle_profile(strip, temperature: float) -> tuple[np.ndarray, float, float]:
    """K_x (A/m per A) on the faces between the film cells across the strip's middle (x = 0),
    the current (A per A) through that cut, and the strip's width there (m)."""
    geometry = film_geometry(strip)
    grid = geometry.grid
    g = bias_response(strip, temperature, strip.bias_leads).unit_stream_function
    column = int(np.argmin(np.abs(grid.x)))
    rows = np.flatnonzero(geometry.mask[:, column])
    through = float(g[rows[-1] + 1, column] - g[rows[0] - 1, column])  # outside above minus below
    return np.diff(g[rows, column]) / grid.dx, through, rows.size * grid.dx


def _superfluid_fraction_for(strip, pearl_length: float) -> float:
    """The temperature (K) at which Lambda(T) = Lambda_0 / (1 - t^2) reaches `pearl_length` (m)."""
    return strip.critical_temperature * np.sqrt(1 - strip.pearl_length / pearl_length)


@pytest.mark.parametrize("width_over_lambda, crowding", [(10, 0.83), (1, 0.97)])
def test_the_long_strip_file_carries_the_thin_strip_current_far_from_its_leads(strip, width_over_lambda, crowding):
    width = 20 * UM
    temperature = _superfluid_fraction_for(strip, width / width_over_lambda)
    profile, through, film_width = _middle_profile(strip, temperature)
    assert film_width == pytest.approx(width)
    assert through == pytest.approx(1.0, rel=1e-9)  # all of it crosses the middle
    centre = profile[profile.size // 2]
    assert centre / (1.0 / width) == pytest.approx(crowding, rel=0.01)


def test_near_tc_the_strip_current_is_uniform(strip):
    """Lambda(T) = 200 W: the film hardly screens, the current spreads evenly (K = I / W within 1 %)."""
    width = 20 * UM
    profile, _, _ = _middle_profile(strip, _superfluid_fraction_for(strip, 200 * width))
    np.testing.assert_allclose(profile, 1.0 / width, rtol=0.01)  # every face between film cells
