"""Layer C (docs/physics.md): anomalous currents of a surface magnetisation (edge current vs
bulk counter-flow)."""

import numpy as np
import pytest

from sqm.sims.film.anomalous import AnomalousCurrentSolver

DX = 1e-6


@pytest.fixture
def rectangle():
    mask = np.zeros((40, 70), bool)
    mask[5:35, 5:65] = True
    return mask, AnomalousCurrentSolver(mask, DX)


def _coordinates(mask):
    ny, nx = mask.shape
    return np.meshgrid((np.arange(nx) - (nx - 1) / 2) * DX, (np.arange(ny) - (ny - 1) / 2) * DX)


@pytest.mark.parametrize("angle", [0.0, np.pi / 2, 2.0])
def test_uniform_magnetisation_gives_a_linear_stream_function_and_zero_outside(rectangle, angle):
    mask, solver = rectangle
    mx, my = np.full(mask.shape, np.cos(angle)), np.full(mask.shape, np.sin(angle))
    g = solver.stream_function(mx, my, kappa=2.0)
    x, y = _coordinates(mask)
    expected = -2.0 * (np.cos(angle) * x + np.sin(angle) * y)
    expected -= expected[mask].mean()
    np.testing.assert_allclose(g[mask], expected[mask], atol=1e-12 * np.abs(expected).max() + 1e-20)
    assert np.all(g[~mask] == 0) and abs(g[mask].mean()) < 1e-18


def test_with_positive_kappa_m_along_y_the_lower_half_is_positive(rectangle):
    mask, solver = rectangle
    g = solver.stream_function(np.zeros(mask.shape), np.ones(mask.shape), kappa=1.0)
    assert g[5:20, 5:65].min() > 0 > g[20:35, 5:65].max()


def test_edge_current_carries_back_the_bulk_counterflow(rectangle):
    mask, solver = rectangle
    kappa = 1.0
    g = solver.stream_function(np.zeros(mask.shape), np.ones(mask.shape), kappa=kappa)
    # Sheet current K_x = dg/dy. Uniform m along +y gives g_a = -kappa y + const in the
    # film: the bulk between the centres of its 30 rows of cells (29 faces) carries
    # -kappa * 29 dx, and by symmetry (zero mean) each edge jump, the boundary value of
    # g, carries back half of it along +x. Checked on every column across the film.
    rows = 35 - 5
    bulk = g[34, 5:65] - g[5, 5:65]  # counter-flow inside the film (A), per column
    lower_edge = g[5, 5:65] - g[4, 5:65]  # jump from outside (g = 0) onto the film
    upper_edge = g[35, 5:65] - g[34, 5:65]  # jump from the film to outside
    np.testing.assert_allclose(bulk, -kappa * (rows - 1) * DX, rtol=1e-9)
    np.testing.assert_allclose(lower_edge, kappa * (rows - 1) * DX / 2, rtol=1e-9)
    np.testing.assert_allclose(upper_edge, kappa * (rows - 1) * DX / 2, rtol=1e-9)


def test_a_divergence_free_field_tangent_to_the_edges_needs_no_current_in_a_disk():
    n = 61
    mask = np.zeros((n, n), bool)
    x, y = _coordinates(mask)
    mask = np.hypot(x, y) < 25 * DX
    solver = AnomalousCurrentSolver(mask, DX)
    r = np.hypot(x, y) + 1e-30
    # azimuthal unit field: div m = 0 and m.n = 0 at the circle, so g_a is ~0 (up to staircase edges)
    g = solver.stream_function(-y / r, x / r, kappa=1.0)
    radial = solver.stream_function(x / r, y / r, kappa=1.0)
    assert np.abs(g).max() < 0.05 * np.abs(radial).max()  # 0.03 measured
