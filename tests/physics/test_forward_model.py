"""Golden checks 1, 2, 4 and 6 of docs/physics.md (forward model and susceptometry),
the zero-flux part of check 3, and unit checks of the kernels they rest on."""

from __future__ import annotations

import numpy as np
import pytest

from sqm.sims.film.forward import ForwardModel, direct_biot_savart_bz, disk_psf, loop_psf_spectrum
from sqm.sims.film.grid import MU0, PHI0, Grid, sheet_bz
from sqm.sims.film.susceptometry import (
    field_coil_bz_spectrum,
    infinite_film_response_spectrum,
    maxwell_mutual_inductance,
    mutual_inductance_infinite_film,
)

UM = 1e-6
HEIGHT = 1 * UM
PICKUP_RADIUS = 0.5 * UM
FIELD_COIL_RADIUS = 1.5 * UM

# ---------------------------------------------------------------- check 1: the strip
STRIP_WIDTH = 10 * UM
STRIP_CURRENT = 1e-3  # A along +x
# Period of the strip model along y. The FFT sees a periodic array of strips; at
# 2 mm the neighbours change Bz within 2 W of the strip by < 1e-4 of its peak
# (test_strip_period_is_long_enough), so the strip is effectively isolated.
STRIP_PERIOD = 2048 * UM


def isolated_strip_bz(y: np.ndarray, height: float = HEIGHT) -> np.ndarray:
    """Analytic Bz (T) of a uniform strip |y| < a carrying STRIP_CURRENT along +x."""
    a = STRIP_WIDTH / 2
    return (MU0 * STRIP_CURRENT / (4 * np.pi * STRIP_WIDTH)
            * np.log(((y + a) ** 2 + height**2) / ((y - a) ** 2 + height**2)))


def periodic_strip_bz(y: np.ndarray, period: float) -> np.ndarray:
    """The same strip repeated every `period` along y, summed in closed form
    (prod_n ((u - n L)^2 + h^2) is proportional to cosh(2 pi h/L) - cos(2 pi u/L))."""
    a, c = STRIP_WIDTH / 2, np.cosh(2 * np.pi * HEIGHT / period)
    return (MU0 * STRIP_CURRENT / (4 * np.pi * STRIP_WIDTH)
            * np.log((c - np.cos(2 * np.pi * (y + a) / period)) / (c - np.cos(2 * np.pi * (y - a) / period))))


def strip_model(dx: float) -> tuple[Grid, ForwardModel, np.ndarray]:
    """An x-invariant strip on a grid with no padding: x and y both periodic, so the
    strip spans the whole (periodic) x extent and is infinitely long.

    g(y) rises linearly by I across the strip (uniform Kx = I/W), and falls by I
    uniformly over the whole period so that g is periodic: that return current is
    uniform over the plane (k = 0 only) and makes no Bz. The strip edges lie on cell
    boundaries (the strip is exactly W/dx cells wide); g is sampled at cell centres."""
    grid = Grid(nx=8, ny=round(STRIP_PERIOD / dx), dx=dx, pad_factor=1.0)
    assert grid.padded_shape == grid.shape  # no padding: periodic in x and y
    y = grid.y
    rise = STRIP_CURRENT * np.clip((y + STRIP_WIDTH / 2) / STRIP_WIDTH, 0, 1)
    uniform_return = STRIP_CURRENT * (y - y[0]) / STRIP_PERIOD
    g = np.repeat((rise - uniform_return)[:, None], grid.nx, axis=1)
    return grid, ForwardModel(grid, HEIGHT, PICKUP_RADIUS), g


def strip_error(dx: float) -> float:
    """max |Bz_grid - Bz_analytic| over |y| <= 2 W, relative to max |Bz_analytic|."""
    grid, model, g = strip_model(dx)
    bz = model.bz(g)
    assert np.ptp(bz, axis=1).max() <= 1e-12 * np.abs(bz).max()  # x-invariant
    profile = np.abs(grid.y) <= 2 * STRIP_WIDTH
    exact = isolated_strip_bz(grid.y[profile])
    return float(np.max(np.abs(bz[profile, 0] - exact)) / np.max(np.abs(exact)))


@pytest.mark.parametrize("cells_per_height, limit", [(2, 0.006), (4, 0.0015)])
def test_strip_field_matches_analytic_strip(cells_per_height, limit):
    # measured: 0.42 % at dx = h/2, 0.11 % at dx = h/4
    assert strip_error(HEIGHT / cells_per_height) < limit


def test_strip_error_converges_at_second_order():
    errors = [strip_error(HEIGHT / cells) for cells in (2, 4, 8)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[0] / errors[1] > 3.5 and errors[1] / errors[2] > 3.5  # ~4 per halving


def test_strip_period_is_long_enough():
    y = np.linspace(-2 * STRIP_WIDTH, 2 * STRIP_WIDTH, 401)
    exact = isolated_strip_bz(y)
    assert np.max(np.abs(periodic_strip_bz(y, STRIP_PERIOD) - exact)) < 1e-4 * np.max(np.abs(exact))


# ---------------------------------------------------------------- check 2: signs
def test_current_along_plus_x_gives_negative_flux_on_minus_y_side():
    grid, model, g = strip_model(HEIGHT / 2)
    flux = model.flux(g)[:, 0]
    edge = STRIP_WIDTH / 2
    below, above = np.argmin(np.abs(grid.y + edge)), np.argmin(np.abs(grid.y - edge))
    assert flux[below] < 0 < flux[above]
    assert np.all(model.bz(g)[np.abs(grid.y + edge) < 2 * HEIGHT] < 0)


def test_current_along_plus_x_on_a_padded_grid():
    """A square of g = I on its upper half: Kx = dg/dy = +I on the middle line y = 0,
    returning round the edges; the flux next to the middle line has the same signs."""
    grid = Grid(64, 64, 0.25 * UM)
    x, y = grid.mesh()
    inside = (np.abs(x) < 6 * UM) & (np.abs(y) < 6 * UM)
    g = np.where(inside & (y > 0), STRIP_CURRENT, 0.0)
    flux = ForwardModel(grid, HEIGHT, PICKUP_RADIUS).flux(g)
    column = np.argmin(np.abs(grid.x))
    assert flux[np.argmin(np.abs(grid.y + 1 * UM)), column] < 0
    assert flux[np.argmin(np.abs(grid.y - 1 * UM)), column] > 0


def test_positive_g_bump_gives_positive_flux_above_it():
    grid = Grid(64, 64, 0.25 * UM)
    x, y = grid.mesh()
    g = 1e-3 * np.exp(-(x**2 + y**2) / (2 * (1 * UM) ** 2))
    flux = ForwardModel(grid, HEIGHT, PICKUP_RADIUS).flux(g)
    peak = np.unravel_index(np.argmax(flux), flux.shape)
    assert flux[peak] > 0
    assert abs(grid.x[peak[1]]) < grid.dx and abs(grid.y[peak[0]]) < grid.dx


# ---------------------------------------------------------------- check 4: point dipole
def test_point_dipole_on_axis_loop_flux():
    # dx = h/4 resolves exp(-k h) to 3e-6 at Nyquist; the 64 um period keeps the
    # periodic images' flux below 3e-5 (measured error -2.4e-5).
    grid = Grid(128, 128, HEIGHT / 4)
    moment = 1e-12  # A m^2
    g = np.zeros(grid.shape)
    centre = (grid.ny // 2, grid.nx // 2)
    g[centre] = moment / grid.dx**2
    flux = ForwardModel(grid, HEIGHT, PICKUP_RADIUS).flux(g)[centre]
    exact = MU0 * moment * PICKUP_RADIUS**2 / (2 * (PICKUP_RADIUS**2 + HEIGHT**2) ** 1.5) / PHI0
    assert abs(flux / exact - 1) < 1e-3


# ---------------------------------------------------------------- kernels and zero flux
def test_flux_over_the_whole_padded_plane_is_zero():
    grid = Grid(64, 48, 0.25 * UM, pad_factor=1.0)  # window = the whole periodic plane
    assert grid.padded_shape == grid.shape
    g = np.random.default_rng(0).normal(size=grid.shape) * 1e-3
    model = ForwardModel(grid, HEIGHT, PICKUP_RADIUS)
    for image in (model.flux(g), model.bz(g)):
        assert abs(image.sum()) < 1e-12 * np.abs(image).sum()
    assert model.flux_kernel[0, 0] == 0 and model.bz_kernel[0, 0] == 0


def test_loop_psf_is_the_disk_area_at_k_zero_and_vanishes_at_the_first_bessel_zero():
    grid = Grid(32, 32, 0.25 * UM)
    psf = loop_psf_spectrum(grid, PICKUP_RADIUS)
    assert psf[0, 0] == pytest.approx(np.pi * PICKUP_RADIUS**2, rel=1e-15)
    first_zero_of_j1 = 3.8317059702075125
    assert abs(disk_psf(np.array(first_zero_of_j1 / PICKUP_RADIUS), PICKUP_RADIUS)) < 1e-15 * PICKUP_RADIUS**2


def test_uniform_field_gives_field_times_loop_area():
    grid = Grid(32, 32, 0.25 * UM)
    model = ForwardModel(grid, HEIGHT, PICKUP_RADIUS)
    field = 1e-4  # T
    spectrum = np.zeros(grid.k.shape, dtype=complex)
    spectrum[0, 0] = field * grid.padded_shape[0] * grid.padded_shape[1]  # DFT of a uniform field
    flux = model.flux_from_sensor_bz_spectrum(spectrum)
    np.testing.assert_allclose(flux, field * np.pi * PICKUP_RADIUS**2 / PHI0, rtol=1e-12)


def test_fast_paths_agree_with_the_grid_transforms():
    grid = Grid(40, 24, 0.25 * UM, center=(3 * UM, -2 * UM))
    g = np.random.default_rng(1).normal(size=grid.shape) * 1e-3
    model = ForwardModel(grid, HEIGHT, PICKUP_RADIUS)
    bz = sheet_bz(grid, g, HEIGHT)
    np.testing.assert_allclose(model.bz(g), bz, atol=1e-12 * np.abs(bz).max())
    flux = model.flux(g)
    np.testing.assert_allclose(model.flux_from_g_spectrum(grid.to_k(g)), flux, atol=1e-12 * np.abs(flux).max())
    g_spectrum = grid.to_k(g)
    np.testing.assert_allclose(model.window_from_spectrum(g_spectrum), grid.from_k(g_spectrum), atol=1e-15)


def test_fft_field_agrees_with_direct_biot_savart_sum():
    """A smooth current (Gaussian g, analytic K) by FFT and by the O(N^4) direct sum.
    Padding 4 keeps the FFT's periodic images below ~3e-4 (measured 2.8e-4)."""
    grid = Grid(48, 48, 0.25 * UM, pad_factor=4.0)
    x, y = grid.mesh()
    width = 1 * UM
    g = 1e-3 * np.exp(-(x**2 + y**2) / (2 * width**2))
    sheet_kx, sheet_ky = -y / width**2 * g, x / width**2 * g  # (dg/dy, -dg/dx)
    direct = direct_biot_savart_bz(grid, sheet_kx, sheet_ky, HEIGHT)
    fft = ForwardModel(grid, HEIGHT, PICKUP_RADIUS).bz(g)
    assert np.max(np.abs(fft - direct)) < 5e-4 * np.max(np.abs(direct))


# ---------------------------------------------------------------- check 6: susceptometry
MAXWELL_LIMIT_PHI0_PER_A = 33.24


def test_maxwell_mutual_inductance_of_the_sensor_loops():
    mutual = maxwell_mutual_inductance(FIELD_COIL_RADIUS, PICKUP_RADIUS, 2 * HEIGHT) / PHI0
    assert mutual == pytest.approx(MAXWELL_LIMIT_PHI0_PER_A, abs=0.005)


def test_maxwell_formula_tends_to_the_dipole_limit_far_apart():
    r1, r2, distance = 1 * UM, 2 * UM, 400 * UM
    dipole = MU0 * np.pi * r1**2 * r2**2 / (2 * distance**3)
    assert maxwell_mutual_inductance(r1, r2, distance) == pytest.approx(dipole, rel=1e-4)


@pytest.mark.parametrize("height", [HEIGHT, 0.05 * UM])
def test_susceptometry_at_zero_pearl_length_is_minus_maxwell_at_twice_the_height(height):
    film = mutual_inductance_infinite_film(FIELD_COIL_RADIUS, PICKUP_RADIUS, height, 0.0)
    maxwell = maxwell_mutual_inductance(FIELD_COIL_RADIUS, PICKUP_RADIUS, 2 * height) / PHI0
    assert film == pytest.approx(-maxwell, rel=1e-8)
    if height == HEIGHT:
        assert film == pytest.approx(-MAXWELL_LIMIT_PHI0_PER_A, abs=0.005)


@pytest.mark.parametrize("pearl_um, fraction, tolerance", [(0.1, 0.84, 0.005), (1.0, 0.38, 0.005),
                                                           (10.0, 0.063, 0.0005)])
def test_susceptometry_fraction_of_the_maxwell_limit(pearl_um, fraction, tolerance):
    limit = mutual_inductance_infinite_film(FIELD_COIL_RADIUS, PICKUP_RADIUS, HEIGHT, 0.0)
    film = mutual_inductance_infinite_film(FIELD_COIL_RADIUS, PICKUP_RADIUS, HEIGHT, pearl_um * UM)
    assert film / limit == pytest.approx(fraction, abs=tolerance)


def test_susceptometry_weakens_monotonically_with_pearl_length():
    values = [mutual_inductance_infinite_film(FIELD_COIL_RADIUS, PICKUP_RADIUS, HEIGHT, pearl * UM)
              for pearl in (0, 0.01, 0.1, 1, 10, 100)]
    assert all(value < 0 for value in values)
    assert all(np.diff(values) > 0)


def test_field_coil_spectrum_gives_the_on_axis_biot_savart_field():
    grid = Grid(128, 128, 0.25 * UM)
    row, column = 80, 40  # off centre, to test the placement
    spectrum = field_coil_bz_spectrum(grid, grid.x[column], grid.y[row], FIELD_COIL_RADIUS, HEIGHT)
    bz = grid.from_k(spectrum)
    on_axis = MU0 * FIELD_COIL_RADIUS**2 / (2 * (FIELD_COIL_RADIUS**2 + HEIGHT**2) ** 1.5)  # 1 A
    assert np.unravel_index(np.argmax(bz), bz.shape) == (row, column)
    assert bz[row, column] == pytest.approx(on_axis, rel=5e-4)  # periodic images: ~1e-4
    assert spectrum[0, 0] == 0  # no net flux through the whole plane


@pytest.mark.parametrize("pearl_um", [0.0, 0.1, 1.0, 10.0])
def test_spectral_susceptometry_agrees_with_the_integral(pearl_um):
    """Coil field on the film -> infinite-film response -B_a exp(-k z)/(1 + 2 Lambda k)
    -> pickup flux over the coil's own position, on a 64 um periodic grid."""
    grid = Grid(128, 128, 0.25 * UM)
    row, column = 70, 57
    applied = field_coil_bz_spectrum(grid, grid.x[column], grid.y[row], FIELD_COIL_RADIUS, HEIGHT)
    response_on_film = infinite_film_response_spectrum(grid, applied, pearl_um * UM, z=0.0)
    model = ForwardModel(grid, HEIGHT, PICKUP_RADIUS)
    spectral = model.flux_from_film_bz_spectrum(response_on_film)[row, column]  # Phi0 per A
    integral = mutual_inductance_infinite_film(FIELD_COIL_RADIUS, PICKUP_RADIUS, HEIGHT, pearl_um * UM)
    assert spectral == pytest.approx(integral, rel=0.01)
