"""Bias current through the film between two leads (docs/physics.md, "Bias current").

Model (stream function g, K = (dg/dy, -dg/dx), current through a path from point a
to point b = g(b) - g(a), crossing the path from its left to its right):

- Each lead is a straight strip of `width` attached to one film edge and leaving the
  window along that edge's outward normal. Inside the window its cells hold a
  prescribed linear ramp of g across the width: a uniform current density in the
  lead (approximation: a real lead also crowds its current to its edges).
- The non-film, non-lead cells of the window split into regions separated by the
  film and the leads. The region between the leads on the side where the current
  flows from source to drain holds g = I, the others g = 0. So g is constant on each
  film boundary segment between terminals and steps by I across each terminal; for
  the paper's layout (both leads on the top edge, source left, drain right) g = I on
  the top edge between the leads, and the current runs along +x under it for I > 0.
- Inside the film g solves the Pearl equation with no applied field (PearlSolver,
  `fixed` = the values above): the film's own self-field and the field of the leads
  and of the region between them are included.

Fields. In the padded FFT array g stops at the window edge. Where a lead or the g = I
region reaches the window edge, that truncation is a spurious return path: a line
current along the window border carrying, at each border cell, that cell's g
(clockwise around the window). The physical leads instead continue straight out to
infinity. Both are fixed analytically: g_ext, the continuation of the border values
of g straight out of the window (the value of the nearest border cell), has exactly
the currents "+ leads beyond the window - return path along the border"; its field
(Biot-Savart of straight line segments and half-lines) is added to the FFT field.
It is also part of the field the film screens. Away from the window border (a few
cells, and a few z) the corrected field is that of leads running to infinity.
Periodic images of the padded array are neglected (O((window / padded)^3)).

Everything is linear in I: the 1 A solution is solved once and scaled.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.fft
import scipy.ndimage

from sqm.sims.film.grid import MU0, Grid, sheet_current
from sqm.sims.film.pearl import PearlSolver, SolveStats

EDGE_NORMALS = {"top": (0, 1), "bottom": (0, -1), "left": (-1, 0), "right": (1, 0)}


# Analytic fields of straight line currents in the plane z = 0 -----------------------
def segment_bz(start, end, current: float, x, y, z: float) -> np.ndarray:
    """Bz (T) at (x, y, z) of a straight wire in the plane z = 0 from `start` to `end`
    ((x, y) in m) carrying `current` (A) from start to end. Biot-Savart:
    Bz = mu0 I c (cos1 - cos2) / (4 pi (c^2 + z^2)), with c = (u x r1)_z the signed
    in-plane distance to the line and cos_i = (r_i . u) / |r_i|.
    Returns 0 on the wire's own line (z = 0, c = 0), its limit outside the wire."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    (x1, y1), (x2, y2) = start, end
    length = np.hypot(x2 - x1, y2 - y1)
    ux, uy = (x2 - x1) / length, (y2 - y1) / length
    r1x, r1y = x - x1, y - y1
    r2x, r2y = x - x2, y - y2
    c = ux * r1y - uy * r1x
    cos1 = (r1x * ux + r1y * uy) / np.sqrt(r1x**2 + r1y**2 + z**2)
    cos2 = (r2x * ux + r2y * uy) / np.sqrt(r2x**2 + r2y**2 + z**2)
    rho2 = c**2 + z**2
    safe = np.where(rho2 > 0, rho2, 1.0)
    return np.where(rho2 > 0, MU0 * current / (4 * np.pi) * c * (cos1 - cos2) / safe, 0.0)


def half_line_bz(start, direction, current: float, x, y, z: float) -> np.ndarray:
    """Bz (T) at (x, y, z) of a semi-infinite wire in the plane z = 0 from `start` (m)
    to infinity along `direction`, carrying `current` (A) outward (away from start).
    Uses (1 + cos1) / (c^2 + z^2) = 1 / (|r1| (|r1| - r1.u)), which has no
    cancellation behind the start point: Bz = mu0 I c / (4 pi |r1| (|r1| - r1.u))."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    dx_, dy_ = direction
    norm = np.hypot(dx_, dy_)
    ux, uy = dx_ / norm, dy_ / norm
    r1x, r1y = x - start[0], y - start[1]
    c = ux * r1y - uy * r1x
    r1 = np.sqrt(r1x**2 + r1y**2 + z**2)
    behind = r1 - (r1x * ux + r1y * uy)
    safe = np.where(behind > 0, behind * r1, 1.0)
    return np.where(behind > 0, MU0 * current / (4 * np.pi) * c / safe, 0.0)


# Terminals ------------------------------------------------------------------------
@dataclass(frozen=True)
class Lead:
    """A straight lead `width` (m) wide, attached to the film's `edge` ("top", "bottom",
    "left", "right") and leaving the window along that edge's outward normal.
    `position` (m) is its centre line: x for top/bottom leads, y for left/right."""

    edge: str
    position: float
    width: float

    def __post_init__(self) -> None:
        if self.edge not in EDGE_NORMALS:
            raise ValueError(f"edge must be one of {sorted(EDGE_NORMALS)}, got {self.edge!r}")
        if not self.width > 0:
            raise ValueError("lead width must be positive")


@dataclass(frozen=True)
class Terminals:
    """Source and drain leads; a positive current flows in at the source, out at the drain."""

    source: Lead
    drain: Lead


def _lead_cells(grid: Grid, film_mask: np.ndarray, lead: Lead) -> tuple[np.ndarray, np.ndarray]:
    """(cells, across): bool mask of the lead's cells between the film and the window
    edge, and the index (0..n-1) of each cell across the lead, increasing with the
    coordinate along the edge (-1 off the lead)."""
    vertical = lead.edge in ("top", "bottom")  # the lead runs along y
    # Work in a frame where the lead runs along axis 0 and leaves towards high index.
    mask = film_mask if vertical else film_mask.T
    along = grid.x if vertical else grid.y
    if lead.edge in ("bottom", "left"):
        mask = mask[::-1]
    selected = np.flatnonzero(np.abs(along - lead.position) < lead.width / 2 + 1e-6 * grid.dx)
    if selected.size == 0:
        raise ValueError(f"lead {lead} is narrower than one cell or outside the window")
    cells = np.zeros(mask.shape, dtype=bool)
    across = np.full(mask.shape, -1)
    for index, column in enumerate(selected):
        film_rows = np.flatnonzero(mask[:, column])
        if film_rows.size == 0:
            raise ValueError(f"lead {lead} does not touch the film at {along[column]:.3g} m")
        if film_rows[-1] == mask.shape[0] - 1:
            raise ValueError(f"lead {lead}: the film reaches the window edge; no room for the lead")
        cells[film_rows[-1] + 1 :, column] = True
        across[film_rows[-1] + 1 :, column] = index
    if lead.edge in ("bottom", "left"):
        cells, across = cells[::-1], across[::-1]
    if not vertical:
        cells, across = cells.T, across.T
    return cells, across


def _ramp_sign(lead: Lead, is_source: bool) -> int:
    """+1 if g rises with the along-edge coordinate across this lead, else -1.

    K = (dg/dy, -dg/dx) means grad g is K turned by +90 degrees. The source current
    flows along -n (into the film), the drain current along +n, with n the edge's
    outward normal: grad g points along (n_y, -n_x) at the source, opposite at the
    drain; its along-edge component gives the sign."""
    nx, ny = EDGE_NORMALS[lead.edge]
    along_component = ny if lead.edge in ("top", "bottom") else -nx
    return along_component if is_source else -along_component


def terminal_values(grid: Grid, film_mask: np.ndarray, terminals: Terminals) -> np.ndarray:
    """g (A) off the film for a 1 A bias: lead ramps, 1 on the region between the leads
    on the source-to-drain side, 0 elsewhere; zero on the film (window array)."""
    values = np.zeros(grid.shape)
    lead_cells = np.zeros(grid.shape, dtype=bool)
    high_neighbours = []
    low_neighbours = []
    for lead, is_source in ((terminals.source, True), (terminals.drain, False)):
        cells, across = _lead_cells(grid, film_mask, lead)
        if np.any(cells & lead_cells):
            raise ValueError("source and drain leads overlap")
        width_cells = across.max() + 1
        sign = _ramp_sign(lead, is_source)
        fraction = (across + 0.5) / width_cells
        values[cells] = (fraction if sign > 0 else 1 - fraction)[cells]
        lead_cells |= cells
        axis = 1 if lead.edge in ("top", "bottom") else 0  # along-edge array axis
        high_neighbours.append(_shifted(cells, axis, sign))
        low_neighbours.append(_shifted(cells, axis, -sign))

    vacuum = ~film_mask & ~lead_cells
    labels, _ = scipy.ndimage.label(vacuum)  # 4-connected regions between film and leads
    high_labels = [_dominant_label(labels, neighbours) for neighbours in high_neighbours]
    low_labels = {_dominant_label(labels, neighbours) for neighbours in low_neighbours}
    if high_labels[0] != high_labels[1] or high_labels[0] in low_labels:
        raise ValueError(
            "the leads do not enclose a region between them: source and drain must "
            "both leave the window so that they separate its vacuum into two sides"
        )
    values[labels == high_labels[0]] = 1.0
    return values


def _shifted(cells: np.ndarray, axis: int, step: int) -> np.ndarray:
    """Cells one step along `axis` from `cells` (no wrap-around)."""
    result = np.zeros_like(cells)
    if axis == 1:
        if step > 0:
            result[:, 1:] = cells[:, :-1]
        else:
            result[:, :-1] = cells[:, 1:]
    elif step > 0:
        result[1:, :] = cells[:-1, :]
    else:
        result[:-1, :] = cells[1:, :]
    return result & ~cells


def _dominant_label(labels: np.ndarray, neighbours: np.ndarray) -> int:
    counts = Counter(int(label) for label in labels[neighbours] if label > 0)
    if not counts:
        raise ValueError("a lead has no vacuum beside it: it must run beside the film edge")
    return counts.most_common(1)[0][0]


# Continuation beyond the window ------------------------------------------------------
def window_border_currents(grid: Grid, g: np.ndarray) -> tuple[list, list]:
    """Line currents of g_ext, the continuation of g's border values out of the window.

    Returns (segments, half_lines):
    segments: [(start, end, current)] along the window border, clockwise, each carrying
      its border cell's g (merged where neighbours are equal) - minus the FFT's
      return path;
    half_lines: [(start, outward_direction, current)] from each step of g between
      neighbouring border cells out to infinity, `current` flowing outward (it is
      minus the step, i.e. the leads' current flowing into the window).
    """
    half = grid.dx / 2
    x, y = grid.x, grid.y
    x_left, x_right, y_bottom, y_top = x[0] - half, x[-1] + half, y[0] - half, y[-1] + half
    # Each edge, clockwise: border values, cell-face end points, outward normal.
    edges = [
        (g[-1, :], [(xi - half, y_top) for xi in x], [(xi + half, y_top) for xi in x], (0, 1)),
        (g[::-1, -1], [(x_right, yi + half) for yi in y[::-1]],
         [(x_right, yi - half) for yi in y[::-1]], (1, 0)),
        (g[0, ::-1], [(xi + half, y_bottom) for xi in x[::-1]],
         [(xi - half, y_bottom) for xi in x[::-1]], (0, -1)),
        (g[:, 0], [(x_left, yi - half) for yi in y], [(x_left, yi + half) for yi in y], (-1, 0)),
    ]
    segments, half_lines = [], []
    for values, starts, ends, normal in edges:
        run_start = 0
        for index in range(1, len(values) + 1):
            if index == len(values) or values[index] != values[run_start]:
                if values[run_start] != 0:
                    segments.append((starts[run_start], ends[index - 1], float(values[run_start])))
                if index < len(values):
                    step = float(values[index] - values[index - 1])
                    half_lines.append((starts[index], normal, -step))
                run_start = index
    return segments, half_lines


def continuation_bz(grid: Grid, g: np.ndarray, x, y, z: float) -> np.ndarray:
    """Bz (T) at (x, y, z) of g_ext: leads continued to infinity minus the return path
    that truncating g at the window edge creates (see `window_border_currents`)."""
    segments, half_lines = window_border_currents(grid, g)
    field = np.zeros(np.broadcast(np.asarray(x), np.asarray(y)).shape)
    for start, end, current in segments:
        field += segment_bz(start, end, current, x, y, z)
    for start, direction, current in half_lines:
        field += half_line_bz(start, direction, current, x, y, z)
    return field


# The bias solution ------------------------------------------------------------------
class BiasCurrent:
    """Transport current through `solver`'s film between `terminals`.

    Solved once for 1 A (CG options as PearlSolver.solve) and scaled by `current` (A).
    """

    def __init__(self, solver: PearlSolver, terminals: Terminals, *, tol: float = 1e-9,
                 max_iterations: int | None = None):
        self.solver = solver
        self.grid = solver.grid
        self.terminals = terminals
        self.tol = tol
        self.max_iterations = max_iterations
        self._bz_cache: dict[float, np.ndarray] = {}

    @classmethod
    def from_solution(cls, solver: PearlSolver, terminals: Terminals,
                      unit_stream_function: np.ndarray) -> "BiasCurrent":
        """A bias current whose 1 A solution is already known (read from a cache): no solve."""
        bias = cls(solver, terminals)
        bias.__dict__["unit_stream_function"] = unit_stream_function  # what the cached_property would hold
        return bias

    @cached_property
    def boundary_values(self) -> np.ndarray:
        """g (A) off the film for 1 A: leads, the region between them, zeros."""
        return terminal_values(self.grid, self.solver.film_mask, self.terminals)

    @cached_property
    def unit_stream_function(self) -> np.ndarray:
        """g (A) over the window for 1 A, film solution and terminal values together."""
        fixed = self.boundary_values
        X, Y = self.grid.mesh()
        film = self.solver.film_mask
        # The leads beyond the window, minus the FFT return path, also act on the film.
        external = np.zeros(self.grid.shape)
        external[film] = continuation_bz(self.grid, fixed, X[film], Y[film], 0.0)
        g = self.solver.solve(-external, fixed=fixed, tol=self.tol,
                              max_iterations=self.max_iterations)
        self._stats = self.solver.last
        return g

    @property
    def stats(self) -> SolveStats:
        """CG iterations, residual and seconds of the 1 A solve (solves it if needed)."""
        self.unit_stream_function
        return self._stats

    @property
    def iterations(self) -> int:
        """CG iterations of the 1 A solve."""
        return self.stats.iterations

    def stream_function(self, current: float) -> np.ndarray:
        """g (A) over the window for a bias `current` (A)."""
        return current * self.unit_stream_function

    def sheet_current(self, current: float) -> tuple[np.ndarray, np.ndarray]:
        """(Kx, Ky) in A/m over the window, central differences of g."""
        return sheet_current(self.grid, self.stream_function(current))

    def raw_bz_padded(self, z: float, current: float) -> np.ndarray:
        """Bz (T) at height z over the whole padded FFT plane, uncorrected: g truncated
        at the window edge (periodic, with the spurious return path)."""
        grid = self.grid
        spectrum = 0.5 * MU0 * grid.k * np.exp(-grid.k * z) * grid.to_k(
            self.stream_function(current)
        )
        return scipy.fft.irfft2(spectrum, s=grid.padded_shape)

    def bz(self, z: float, current: float) -> np.ndarray:
        """Total Bz (T) at height z (m) over the window for a bias `current` (A): film,
        leads and the region between them, with the leads continued to infinity."""
        if z not in self._bz_cache:
            X, Y = self.grid.mesh()
            raw = self.grid.crop(self.raw_bz_padded(z, 1.0))
            # Border values off the film only: a film touching the window border ends there.
            self._bz_cache[z] = raw + continuation_bz(self.grid, self.boundary_values, X, Y, z)
        return current * self._bz_cache[z]


def bias_stream_function(solver: PearlSolver, terminals: Terminals, current: float) -> np.ndarray:
    """g (A) over the window for a bias `current` (A) between `terminals` (one-off)."""
    return BiasCurrent(solver, terminals).stream_function(current)
