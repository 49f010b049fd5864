"""The Pearl film solver and the bias-current terminals (docs/physics.md, "Layer A"):
golden checks 3 and 5, the thin-strip crowding reference, the infinite-film limit,
the Meissner current's sense, two domains, and the analytic line-current fields."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.integrate

from sqm.sims.film.grid import MU0, Grid, sheet_bz, sheet_current
from sqm.sims.film.pearl import PearlSolver, SolverDidNotConverge
from sqm.sims.film.terminals import (
    BiasCurrent,
    Lead,
    Terminals,
    bias_stream_function,
    half_line_bz,
    segment_bz,
)

UM = 1e-6


# Helpers ----------------------------------------------------------------------------
def current_through_path(grid: Grid, kx: np.ndarray, ky: np.ndarray, corners) -> float:
    """Current (A) crossing an axis-aligned path through cell centres, from the path's
    left to its right: the integral of (Kx dy - Ky dx), trapezoid rule per segment.
    `corners` are (iy, ix) cell indices; for a path between regions of constant g it
    equals g(end) - g(start)."""
    total = 0.0
    for (iy0, ix0), (iy1, ix1) in zip(corners[:-1], corners[1:]):
        if iy0 == iy1:  # horizontal: dl = (+-dx, 0) contributes -Ky dx
            step = 1 if ix1 > ix0 else -1
            values = -step * ky[iy0, np.arange(ix0, ix1 + step, step)]
        else:  # vertical: dl = (0, +-dx) contributes Kx dy
            step = 1 if iy1 > iy0 else -1
            values = step * kx[np.arange(iy0, iy1 + step, step), ix0]
        total += grid.dx * (values.sum() - 0.5 * (values[0] + values[-1]))
    return total


def index_of(coordinates: np.ndarray, value: float) -> int:
    return int(np.argmin(np.abs(coordinates - value)))


# The paper's layout: an 80 x 50 um flake, both leads on its top edge ------------------
FLAKE_HALF_WIDTH, FLAKE_HALF_HEIGHT = 40 * UM, 25 * UM
PAPER_TERMINALS = Terminals(
    source=Lead("top", position=-30 * UM, width=10 * UM),
    drain=Lead("top", position=30 * UM, width=10 * UM),
)
BIAS = 100e-6  # A


def paper_bias(window_top: float = 45 * UM, pearl_length: float = 5 * UM) -> BiasCurrent:
    """The flake centred at the origin, 1 um cells, the window from y = -35 um to
    `window_top` and x = +-50 um; leads leave through the top of the window."""
    dx = 1 * UM
    bottom = -35 * UM
    grid = Grid(100, int(round((window_top - bottom) / dx)), dx,
                center=(0.0, (window_top + bottom) / 2))
    X, Y = grid.mesh()
    film = (np.abs(X) < FLAKE_HALF_WIDTH) & (np.abs(Y) < FLAKE_HALF_HEIGHT)
    return BiasCurrent(PearlSolver(grid, film, pearl_length), PAPER_TERMINALS)


@pytest.fixture(scope="module")
def bias() -> BiasCurrent:
    return paper_bias()


# Golden check 3 ----------------------------------------------------------------------
def test_raw_bias_field_sums_to_zero_over_the_padded_plane(bias):
    raw = bias.raw_bz_padded(1 * UM, BIAS)
    assert abs(raw.sum()) < 1e-10 * np.abs(raw).sum()
    assert np.abs(raw).max() > 1e-6  # a real field (T at 100 uA), not an empty one


def test_current_through_cuts_between_the_leads_equals_the_bias(bias):
    grid = bias.grid
    kx, ky = bias.sheet_current(BIAS)
    top, right = grid.ny - 1, grid.nx - 1
    middle_column = index_of(grid.x, 0.0)
    film_middle_row = index_of(grid.y, 0.0)
    cuts = {}
    for x in (-20 * UM, -5 * UM, 0.0, 12 * UM, 20 * UM):  # bottom edge -> between leads
        column = index_of(grid.x, x)
        cuts[f"vertical at x = {x / UM:g} um"] = ([(0, column), (top, column)], BIAS)
    for y in (30 * UM, 40 * UM):  # across each lead, above the flake
        row = index_of(grid.y, y)
        cuts[f"across the source lead at y = {y / UM:g} um"] = (
            [(row, 0), (row, middle_column)], BIAS)
        cuts[f"across the drain lead at y = {y / UM:g} um"] = (
            [(row, middle_column), (row, right)], -BIAS)
    for row in (film_middle_row, index_of(grid.y, 15 * UM)):  # L-shaped, through the film
        cuts[f"down to y = {grid.y[row] / UM:.1f} um, then to the left edge"] = (
            [(top, middle_column), (row, middle_column), (row, 0)], -BIAS)
        cuts[f"down to y = {grid.y[row] / UM:.1f} um, then to the right edge"] = (
            [(top, middle_column), (row, middle_column), (row, right)], -BIAS)
    for name, (corners, expected) in cuts.items():
        measured = current_through_path(grid, kx, ky, corners)
        assert measured == pytest.approx(expected, rel=0.005), name
    # A cut that does not separate the leads carries no net current.
    across_film = current_through_path(grid, kx, ky, [(film_middle_row, 0),
                                                      (film_middle_row, right)])
    assert abs(across_film) < 0.005 * BIAS


def test_bias_current_runs_from_source_to_drain_along_the_top(bias):
    grid = bias.grid
    kx, ky = bias.sheet_current(BIAS)
    column = index_of(grid.x, 0.0)
    in_film = bias.solver.film_mask[:, column]
    upper_half = in_film & (grid.y > 0)
    assert np.all(kx[in_film, column] > 0)  # +x everywhere under the top edge between leads
    assert kx[upper_half, column].sum() > 0.65 * kx[in_film, column].sum()  # mostly on top
    source_lead = index_of(grid.x, -30 * UM), index_of(grid.y, 35 * UM)
    drain_lead = index_of(grid.x, 30 * UM), index_of(grid.y, 35 * UM)
    assert ky[source_lead[1], source_lead[0]] < 0  # flows down into the flake
    assert ky[drain_lead[1], drain_lead[0]] > 0  # and up out of it
    # Twice the bias: twice the current through cuts between the leads (check 3 at 2I),
    # measured from the sheet current, straight down and through the film.
    kx2, ky2 = bias.sheet_current(2 * BIAS)
    film_row = index_of(grid.y, 0.0)
    for corners, expected in (
        ([(0, column), (grid.ny - 1, column)], 2 * BIAS),
        ([(grid.ny - 1, column), (film_row, column), (film_row, grid.nx - 1)], -2 * BIAS),
    ):
        assert current_through_path(grid, kx2, ky2, corners) == pytest.approx(expected, rel=0.005)
    # Swapping source and drain (one-off solve) reverses the flow: the same cut carries
    # -I, the current runs along -x under the top edge, down into the right-hand lead
    # (now the source) and up out of the left-hand one.
    swapped = Terminals(source=PAPER_TERMINALS.drain, drain=PAPER_TERMINALS.source)
    kx_r, ky_r = sheet_current(grid, bias_stream_function(bias.solver, swapped, BIAS))
    assert current_through_path(grid, kx_r, ky_r, [(0, column), (grid.ny - 1, column)]) \
        == pytest.approx(-BIAS, rel=0.005)
    assert np.all(kx_r[in_film, column] < 0)
    assert ky_r[drain_lead[1], drain_lead[0]] < 0
    assert ky_r[source_lead[1], source_lead[0]] > 0


def test_corrected_bias_field_does_not_depend_on_where_the_window_cuts_the_leads(bias):
    """The return path along the window edge is removed and the leads continue to
    infinity: the field over the flake is the same for a window 30 um taller."""
    taller = paper_bias(window_top=75 * UM)
    rows = bias.grid.ny  # both windows start at y = -35 um with the same cells
    film = bias.solver.film_mask
    z = 1 * UM
    corrected, corrected_taller = bias.bz(z, BIAS), taller.bz(z, BIAS)[:rows]
    raw = bias.grid.crop(bias.raw_bz_padded(z, BIAS))
    raw_taller = taller.grid.crop(taller.raw_bz_padded(z, BIAS))[:rows]
    scale = np.abs(corrected[film]).max()
    assert np.abs(corrected - corrected_taller)[film].max() < 0.005 * scale
    assert np.abs(raw - raw_taller)[film].max() > 0.03 * scale  # what the correction fixes


def test_bar_with_leads_at_both_ends():
    """Leads on the left and right edges: the g = I region reaches the window corners."""
    grid = Grid(100, 60, 1 * UM)
    X, Y = grid.mesh()
    film = (np.abs(X) < 30 * UM) & (np.abs(Y) < 10 * UM)
    bias = BiasCurrent(PearlSolver(grid, film, 2 * UM),
                       Terminals(Lead("left", 0.0, 10 * UM), Lead("right", 0.0, 10 * UM)))
    kx, ky = bias.sheet_current(BIAS)
    for x in (-20 * UM, 0.0, 25 * UM):
        column = index_of(grid.x, x)
        through = current_through_path(grid, kx, ky, [(0, column), (grid.ny - 1, column)])
        assert through == pytest.approx(BIAS, rel=0.005)
    assert np.all(kx[film & (np.abs(X) < 20 * UM)] > 0)


def test_leads_must_touch_the_film():
    grid = Grid(60, 60, 1 * UM)
    X, Y = grid.mesh()
    film = (np.abs(X) < 20 * UM) & (np.abs(Y) < 20 * UM)
    stray = Terminals(Lead("top", -25 * UM, 4 * UM), Lead("top", 10 * UM, 4 * UM))
    with pytest.raises(ValueError, match="does not touch the film"):
        BiasCurrent(PearlSolver(grid, film, 1 * UM), stray).unit_stream_function


# Golden check 5: Pearl screening of a disk ---------------------------------------------
DISK_RADIUS = 20 * UM
FIELD_H = 1.0  # A/m


@pytest.fixture(scope="module")
def disk_moments() -> dict[float, float]:
    """Moment (A m^2) of a disk in B_a = mu0 H per Lambda / R; R = 40 cells, window 3R,
    padding 3 (periodic images of the disk stay below 0.3 %)."""
    cells_per_radius = 40
    grid = Grid(3 * cells_per_radius, 3 * cells_per_radius, DISK_RADIUS / cells_per_radius,
                pad_factor=3)
    X, Y = grid.mesh()
    disk = X**2 + Y**2 < DISK_RADIUS**2
    moments = {}
    for ratio in (1e-4, 0.01, 0.1, 1.0, 10.0, 1000.0):
        solver = PearlSolver(grid, disk, ratio * DISK_RADIUS)
        g = solver.screen(MU0 * FIELD_H)
        assert np.all(g[disk] < 0)  # diamagnetic everywhere, not only on average
        moments[ratio] = solver.moment(g)
    return moments


def test_disk_moment_tends_to_the_thin_superconductor_limit(disk_moments):
    limit = -8 / 3 * FIELD_H * DISK_RADIUS**3
    assert disk_moments[1e-4] / limit == pytest.approx(1.0, abs=0.03)


def test_disk_moment_tends_to_the_weak_screening_limit(disk_moments):
    """Lambda >> R: mu0 Lambda lap g = B_a, so m = -pi H R^4 / (8 Lambda)."""
    weak = -np.pi * FIELD_H * DISK_RADIUS**4 / (8 * 1000.0 * DISK_RADIUS)
    assert disk_moments[1000.0] / weak == pytest.approx(1.0, abs=0.01)


def test_disk_is_diamagnetic_and_screens_less_as_lambda_grows(disk_moments):
    ratios = (0.01, 0.1, 1.0, 10.0)
    magnitudes = [abs(disk_moments[ratio]) for ratio in ratios]
    assert all(disk_moments[ratio] < 0 for ratio in ratios)
    assert all(a > b for a, b in zip(magnitudes, magnitudes[1:]))


# Thin-strip crowding (docs/physics.md, "Thin-strip crowding reference") ----------------
@pytest.mark.parametrize("width_over_lambda, expected", [(1000, 0.64), (10, 0.83), (1, 0.97)])
def test_long_strip_current_crowding(width_over_lambda, expected):
    """A strip W = 50 um wide, infinitely long: no padding along x (periodic FFT and
    stencil); g = I above it, the return path 400 um away at the window's y edge."""
    width, dx = 50 * UM, 1 * UM
    grid = Grid(8, 800, dx, pad_factor=1)
    assert grid.padded_shape == grid.shape
    low = grid.ny // 2 - 25
    strip = np.zeros(grid.shape, dtype=bool)
    strip[low : low + 50] = True
    above = np.zeros(grid.shape)
    above[low + 50 :] = 1.0  # 1 A
    solver = PearlSolver(grid, strip, width / width_over_lambda)
    g = solver.solve(0.0, fixed=above, tol=1e-9)
    centre = grid.ny // 2
    k_centre = (g[centre, 0] - g[centre - 1, 0]) / dx
    assert k_centre / (1.0 / width) == pytest.approx(expected, rel=0.01)


# Infinite-film limit ---------------------------------------------------------------------
@pytest.mark.parametrize("pearl_length", [0.2 * UM, 1 * UM, 5 * UM])
def test_large_film_matches_the_infinite_film_response(pearl_length):
    """A film over all but a 4-cell border, in a smooth zero-flux field bump (so the
    film's edges carry no net return current): at 1 um the response is
    -B_a(k) exp(-k z) / (1 + 2 Lambda k) over the centre."""
    grid = Grid(128, 128, 0.5 * UM)
    X, Y = grid.mesh()
    film = np.zeros(grid.shape, dtype=bool)
    film[4:-4, 4:-4] = True
    sigma, amplitude, z = 3 * UM, 1e-4, 1 * UM
    r2 = (X**2 + Y**2) / (2 * sigma**2)
    applied = amplitude * (1 - r2) * np.exp(-r2)  # integrates to zero
    response = sheet_bz(grid, PearlSolver(grid, film, pearl_length).screen(applied), z)
    expected = grid.from_k(
        -grid.to_k(applied) * np.exp(-grid.k * z) / (1 + 2 * pearl_length * grid.k)
    )
    centre = X**2 + Y**2 < (12 * UM) ** 2
    error = np.abs(response - expected)[centre].max()
    assert error < 0.005 * amplitude
    assert error < 0.02 * np.abs(expected).max()


# Meissner current of a rectangle ---------------------------------------------------------
def test_rectangle_meissner_current_circulates_diamagnetically():
    """B_a > 0: clockwise seen from +z (+x on top, -y on the right, ...), g < 0, m < 0."""
    grid = Grid(80, 60, 1 * UM)
    X, Y = grid.mesh()
    film = (np.abs(X) < 30 * UM) & (np.abs(Y) < 20 * UM)
    solver = PearlSolver(grid, film, 1 * UM)
    g = solver.screen(1e-4)
    kx, ky = np.gradient(g, grid.dx)[0], -np.gradient(g, grid.dx)[1]
    near = 3 * UM
    middle_x, middle_y = np.abs(X) < 15 * UM, np.abs(Y) < 10 * UM
    assert np.all(kx[film & (Y > 20 * UM - near) & middle_x] > 0)
    assert np.all(kx[film & (Y < -20 * UM + near) & middle_x] < 0)
    assert np.all(ky[film & (X > 30 * UM - near) & middle_y] < 0)
    assert np.all(ky[film & (X < -30 * UM + near) & middle_y] > 0)
    assert np.all(g[film] < 0)
    assert solver.moment(g) < 0


# Two domains ------------------------------------------------------------------------------
def test_two_domains_are_solvable_and_the_weaker_screens_less():
    """Lambda twice as large in the upper half: the operator stays symmetric positive
    definite, CG converges, and the upper (weaker) domain screens less, locally as its
    own uniform film would."""
    grid = Grid(120, 90, 1 * UM)
    X, Y = grid.mesh()
    film = (np.abs(X) < 50 * UM) & (np.abs(Y) < 35 * UM)
    strong, weak = 1 * UM, 2 * UM
    solver = PearlSolver(grid, film, np.where(Y > 0, weak, strong))

    rng = np.random.default_rng(7)
    u, v = rng.normal(size=(2, *grid.shape)) * film
    assert np.vdot(u, solver.apply(v)) == pytest.approx(np.vdot(v, solver.apply(u)), rel=1e-9)
    assert np.vdot(u, solver.apply(u)) > 0

    z, row_lower, row_upper = 1 * UM, index_of(grid.y, -17 * UM), index_of(grid.y, 17 * UM)
    column = index_of(grid.x, 0.0)
    total = 1e-4 + sheet_bz(grid, solver.screen(1e-4), z)
    assert total[row_upper, column] > 1.3 * total[row_lower, column] > 0  # more flux gets in

    def local_response(pearl, y_centre):
        """Response at 1 um to a 3 um field bump centred over (0, y_centre), / its peak."""
        bump = 1e-4 * np.exp(-(X**2 + (Y - y_centre) ** 2) / (2 * (3 * UM) ** 2))
        g = pearl.screen(bump)
        return -sheet_bz(grid, g, z)[index_of(grid.y, y_centre), column] / 1e-4

    over_strong, over_weak = local_response(solver, -17 * UM), local_response(solver, 17 * UM)
    assert over_weak < 0.85 * over_strong
    assert over_strong == pytest.approx(local_response(PearlSolver(grid, film, strong), -17 * UM),
                                        rel=0.01)
    assert over_weak == pytest.approx(local_response(PearlSolver(grid, film, weak), 17 * UM),
                                      rel=0.01)


def test_two_domains_in_parallel_share_a_current_as_one_over_lambda():
    """A long strip whose lower half has half the Lambda of its upper half, with
    Lambda >> W (self-field negligible): the same phase gradient drives K = Q/(mu0 Lambda)
    in both, so the lower half carries 2/3 of the current. With the interface on a cell
    face the harmonic-mean stencil makes this exact (an arithmetic mean misses by 0.2 %)."""
    width, dx = 50 * UM, 1 * UM
    grid = Grid(8, 800, dx, pad_factor=1)
    low, middle = grid.ny // 2 - 25, grid.ny // 2
    strip = np.zeros(grid.shape, dtype=bool)
    strip[low : low + 50] = True
    above = np.zeros(grid.shape)
    above[low + 50 :] = 1.0
    rows = np.arange(grid.ny)[:, np.newaxis] * np.ones(grid.shape)
    pearl = np.where(rows < middle, 1000 * width, 2000 * width)
    g = PearlSolver(grid, strip, pearl).solve(0.0, fixed=above, tol=1e-10)
    # g on the interface face (linear in the lower half) = current below it, of 1 A.
    lower_half_current = g[middle - 1, 0] + 0.5 * (g[middle - 1, 0] - g[middle - 2, 0])
    assert lower_half_current == pytest.approx(2 / 3, rel=5e-4)


# Solver mechanics -------------------------------------------------------------------------
def test_preconditioner_cuts_iterations_and_agrees():
    grid = Grid(120, 70, 1 * UM)
    X, Y = grid.mesh()
    film = (np.abs(X) < 50 * UM) & (np.abs(Y) < 25 * UM)
    plain = PearlSolver(grid, film, 5 * UM, preconditioned=False)
    preconditioned = PearlSolver(grid, film, 5 * UM)
    g_plain, g_fast = plain.screen(1e-4, tol=1e-9), preconditioned.screen(1e-4, tol=1e-9)
    assert preconditioned.last.iterations * 5 < plain.last.iterations
    assert np.allclose(g_fast, g_plain, rtol=0, atol=1e-6 * np.abs(g_plain).max())


def test_solve_raises_when_it_does_not_converge():
    grid = Grid(40, 40, 1 * UM)
    X, Y = grid.mesh()
    solver = PearlSolver(grid, X**2 + Y**2 < (15 * UM) ** 2, 1 * UM, preconditioned=False)
    with pytest.raises(SolverDidNotConverge) as raised:
        solver.screen(1e-4, tol=1e-12, max_iterations=2)
    assert raised.value.iterations == 2


# Analytic line-current fields -------------------------------------------------------------
def brute_force_bz(path, current, point, lower, upper):
    """Bz (T) of a wire along path(s) for s in [lower, upper] (m), by adaptive
    quadrature of Biot-Savart: dBz = mu0 I (dl x R)_z / (4 pi |R|^3)."""

    def integrand(s):
        (x, y), (tx, ty) = path(s)
        rx, ry, rz = point[0] - x, point[1] - y, point[2]
        return MU0 * current / (4 * np.pi) * (tx * ry - ty * rx) / (rx**2 + ry**2 + rz**2) ** 1.5

    value, _ = scipy.integrate.quad(integrand, lower, upper, limit=400, epsabs=0, epsrel=1e-11)
    return value


FIELD_POINTS = [(3e-6, 2e-6, 1e-6), (-4e-6, -1e-6, 0.5e-6), (12e-6, 0.3e-6, 2e-6),
                (1e-6, 5e-6, 0.0), (-8e-6, 7e-6, 3e-6), (20e-6, -15e-6, 1e-6)]


def test_segment_field_matches_brute_force_biot_savart():
    start, end, current = np.array([-2e-6, 1e-6]), np.array([6e-6, -3e-6]), 2.5e-3
    length = np.linalg.norm(end - start)
    direction = (end - start) / length

    def path(s):
        return start + s * direction, direction

    for point in FIELD_POINTS:
        analytic = segment_bz(start, end, current, point[0], point[1], point[2])
        assert analytic == pytest.approx(brute_force_bz(path, current, point, 0, length),
                                         rel=1e-7)
    # Current along +x: positive Bz on the +y side, negative on the -y side (check 2).
    assert segment_bz((-1, 0), (1, 0), 1.0, 0.0, 0.1, 0.05) > 0
    assert segment_bz((-1, 0), (1, 0), 1.0, 0.0, -0.1, 0.05) < 0
    # On the wire's own line, outside it, at z = 0: zero, not NaN.
    assert segment_bz((0, 0), (1, 0), 1.0, 2.0, 0.0, 0.0) == 0.0


def test_half_line_field_matches_brute_force_biot_savart():
    start, current = np.array([1e-6, -2e-6]), 1e-3
    direction = np.array([0.6, 0.8])

    def path(s):
        return start + s * direction, direction

    for point in FIELD_POINTS:
        analytic = half_line_bz(start, direction, current, point[0], point[1], point[2])
        # Quadrature to 1 m in pieces (the integrand peaks on the um scale); the tail
        # beyond 1 m is (distance / 1 m)^2 ~ 1e-10 of the field.
        numeric = sum(brute_force_bz(path, current, point, lower, upper)
                      for lower, upper in [(0, 1e-4), (1e-4, 1e-2), (1e-2, 1.0)])
        assert analytic == pytest.approx(numeric, rel=1e-6)
    # An infinite wire is two opposite half-lines: mu0 I / (2 pi d) at distance d.
    infinite = (half_line_bz((0, 0), (1, 0), 1.0, 0.0, 1.0, 0.0)
                + half_line_bz((0, 0), (-1, 0), -1.0, 0.0, 1.0, 0.0))
    assert infinite == pytest.approx(MU0 / (2 * np.pi), rel=1e-12)
