"""Meissner screening of a thin London (Pearl) film of arbitrary shape on the grid.

Physics (docs/physics.md, "Layer A"). The film carries a sheet current K = (dg/dy, -dg/dx)
from a stream function g (A). Inside the film the London equation reads

    mu0 div(Lambda grad g) = Bz_applied + Bz_self[g],     g = 0 outside,

with Lambda = lambda^2 / d the Pearl length (m, may vary in space) and
Bz_self(k) = (mu0/2) |k| g(k) the film's own field at z = 0. Moving everything to
one side gives the linear system solved here,

    A g = -mu0 div(Lambda grad g) + (mu0/2) |k| g = rhs     on film cells   (rhs in T),

with rhs = -Bz_applied for screening. A is symmetric positive-definite on the film
cells, so it is solved by preconditioned conjugate gradients.

Discretisation (labelled approximations):
- g lives at cell centres; a cell is film if `film_mask` is True there.
- -div(Lambda grad g): 5-point finite differences, flux Lambda_face (g_n - g_c) / dx^2
  per face. Between two film cells Lambda_face is the harmonic mean of their
  Lambda (the exact series value of two half cells, so domain walls on cell faces
  are exact in 1D). Non-film cells hold fixed values (0 for screening; the terminal
  values for a bias current), imposed on the film edge, i.e. the face, half a cell
  from the film cell's centre: Lambda_face = 2 Lambda there. (Putting them at the
  outside cell's centre instead would widen every film by one cell: -2 % of the
  centre current of a 50-cell strip.) Beyond the window g = 0, except along an
  axis where the grid has no padding (padded size == window size): there the FFT
  is periodic and so is the stencil, which lets a film be infinitely long.
- (mu0/2)|k| g: product in Fourier space on the grid's zero-padded array. The
  periodic images of the film are neglected: their dipole field is
  O((film size / padded size)^3) of the applied field; for a film filling most of
  its window that is ~0.6 % at pad_factor 2 and ~0.1 % at pad_factor 4.
- Preconditioner: the same operator for a uniform Lambda (the film mean) on the
  film's bounding box with g = 0 on its edges, which the type-II discrete sine
  transform (cell-centred values, zero on the faces) diagonalises exactly for the
  Laplacian term; |k| is taken as the continuous |k| of each sine mode
  (approximate). It is applied masked to the film, so it stays symmetric
  positive-definite. A rectangle converges in ~10 iterations at any size.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import scipy.fft

from sqm.sims.film.grid import MU0, Grid

FFT_WORKERS = max(1, min(4, os.cpu_count() or 1))


class SolverDidNotConverge(RuntimeError):
    """Conjugate gradients stopped at `iterations` with relative residual `residual`."""

    def __init__(self, iterations: int, residual: float, tolerance: float):
        super().__init__(
            f"film solve did not converge: relative residual {residual:.3g} after "
            f"{iterations} iterations (tolerance {tolerance:.3g})"
        )
        self.iterations = iterations
        self.residual = residual
        self.tolerance = tolerance


@dataclass(frozen=True)
class SolveStats:
    """Bookkeeping of the last solve: CG iterations, relative residual, wall seconds."""

    iterations: int
    residual: float
    seconds: float


class PearlSolver:
    """Masked Pearl-film solver on `grid`.

    film_mask: bool (ny, nx), True on film cells.
    pearl_length: Lambda = lambda^2 / d in m, a float or an (ny, nx) array (read on
    film cells only; must be > 0 there).
    """

    def __init__(
        self,
        grid: Grid,
        film_mask: np.ndarray,
        pearl_length: float | np.ndarray,
        *,
        preconditioned: bool = True,
    ):
        film_mask = np.asarray(film_mask, dtype=bool)
        if film_mask.shape != grid.shape:
            raise ValueError(f"film_mask has shape {film_mask.shape}, grid is {grid.shape}")
        if not film_mask.any():
            raise ValueError("film_mask has no film cell")
        pearl = np.broadcast_to(np.asarray(pearl_length, dtype=float), grid.shape)
        if not np.all(pearl[film_mask] > 0):
            raise ValueError("pearl_length must be > 0 on every film cell")
        self.grid = grid
        self.film_mask = film_mask
        self.pearl_length = np.where(film_mask, pearl, 0.0)
        self.preconditioned = preconditioned
        self.last = SolveStats(0, 0.0, 0.0)

        # Everything iterative works on the film's bounding box: film cells are all inside.
        rows = np.flatnonzero(film_mask.any(axis=1))
        cols = np.flatnonzero(film_mask.any(axis=0))
        self._box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        self._box_mask = film_mask[self._box]
        # Periodic axes: no padding, so the FFT wraps; the stencil must wrap too.
        self._periodic = tuple(p == n for p, n in zip(grid.padded_shape, grid.shape))
        self._box_wraps = tuple(
            periodic and box.stop - box.start == n
            for periodic, box, n in zip(self._periodic, self._box, grid.shape)
        )
        self._face_x, self._face_y = self._face_coefficients(
            self._with_halo(self.pearl_length[self._box])
        )

        # Self-field kernel on the grid's padded array; the box is written into `_padded`.
        self._half_mu0_k = 0.5 * MU0 * grid.k
        self._padded = np.zeros(grid.padded_shape)
        oy, ox = grid.offset
        self._box_in_padded = (
            slice(oy + self._box[0].start, oy + self._box[0].stop),
            slice(ox + self._box[1].start, ox + self._box[1].stop),
        )
        self._inverse_symbol = self._sine_preconditioner_symbol()

    # Operator ---------------------------------------------------------------------
    def _with_halo(self, box_array: np.ndarray) -> np.ndarray:
        """A box array with a one-cell halo: zeros, or the wrapped box along a periodic
        axis that the box spans entirely (otherwise the halo cells are non-film)."""
        result = box_array
        for axis, wraps in enumerate(self._box_wraps):
            widths = [(0, 0), (0, 0)]
            widths[axis] = (1, 1)
            result = np.pad(result, widths, mode="wrap" if wraps else "constant")
        return result

    @staticmethod
    def _face_coefficients(padded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lambda on cell faces (m): x-faces (by, bx+1) and y-faces (by+1, bx), from
        Lambda on the box with its halo (0 off the film).

        Harmonic mean between two film cells; twice the film cell's value between a
        film and a non-film cell (the fixed value sits on the face); 0 between two
        non-film cells.
        """

        def faces(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            both = (a > 0) & (b > 0)
            harmonic = np.divide(2 * a * b, a + b, out=np.zeros_like(a), where=both)
            # One side non-film: the fixed value sits on the film edge (the face),
            # half a cell from the film cell's centre, hence twice its Lambda.
            return np.where(both, harmonic, 2 * (a + b))

        face_x = faces(padded[1:-1, :-1], padded[1:-1, 1:])
        face_y = faces(padded[:-1, 1:-1], padded[1:, 1:-1])
        return face_x, face_y

    def _stiffness(self, haloed: np.ndarray) -> np.ndarray:
        """-mu0 div(Lambda grad g) (T) on the box, from g on the box plus a one-cell halo."""
        return stiffness(self._face_x, self._face_y, haloed, self.grid.dx)

    def _self_field_of_box(self, g_box: np.ndarray) -> np.ndarray:
        """(mu0/2)|k| g (T) on the box, for g supported on the box."""
        self._padded[self._box_in_padded] = g_box
        spectrum = scipy.fft.rfft2(self._padded, workers=FFT_WORKERS)
        spectrum *= self._half_mu0_k
        field = scipy.fft.irfft2(spectrum, s=self._padded.shape, workers=FFT_WORKERS)
        return field[self._box_in_padded]

    def _apply_box(self, g_box: np.ndarray) -> np.ndarray:
        """A g on the box for g that is zero off the film (T); zero off the film."""
        result = self._stiffness(self._with_halo(g_box)) + self._self_field_of_box(g_box)
        result[~self._box_mask] = 0.0
        return result

    def apply(self, g: np.ndarray) -> np.ndarray:
        """A g (T) on film cells, zero elsewhere, for a window array g (A).

        Values of g off the film are honoured: they act as the fixed (Dirichlet)
        neighbours of the stencil and their sheet field is part of Bz_self. This is
        what turns boundary values into a right-hand side (see `solve(fixed=...)`).
        """
        g = np.asarray(g, dtype=float)
        if g.shape != self.grid.shape:
            raise ValueError(f"expected shape {self.grid.shape}, got {g.shape}")
        window_with_halo = g
        for axis, periodic in enumerate(self._periodic):
            widths = [(0, 0), (0, 0)]
            widths[axis] = (1, 1)
            window_with_halo = np.pad(
                window_with_halo, widths, mode="wrap" if periodic else "constant"
            )
        haloed = window_with_halo[
            self._box[0].start : self._box[0].stop + 2, self._box[1].start : self._box[1].stop + 2
        ]
        self_field = self.grid.from_k(self._half_mu0_k * self.grid.to_k(g))[self._box]
        box_result = self._stiffness(haloed) + self_field
        result = np.zeros(self.grid.shape)
        result[self._box] = np.where(self._box_mask, box_result, 0.0)
        return result

    # Preconditioner ---------------------------------------------------------------
    def _sine_preconditioner_symbol(self) -> np.ndarray:
        """1 / (mu0 Lambda_mean lap_hat + (mu0/2) k) for the DST-II modes of the box (1/T):
        sin(pi m (j + 1/2) / n) vanishes on the box's outer faces, k_m = pi m / (n dx)."""
        by, bx = self._box_mask.shape
        dx = self.grid.dx
        ky = np.pi * np.arange(1, by + 1)[:, np.newaxis] / (by * dx)
        kx = np.pi * np.arange(1, bx + 1)[np.newaxis, :] / (bx * dx)
        laplacian = (4 / dx**2) * (
            np.sin(0.5 * ky * dx) ** 2 + np.sin(0.5 * kx * dx) ** 2
        )
        pearl_mean = float(self.pearl_length[self.film_mask].mean())
        symbol = MU0 * (pearl_mean * laplacian + 0.5 * np.hypot(kx, ky))
        return 1.0 / symbol

    def _precondition(self, residual_box: np.ndarray) -> np.ndarray:
        if not self.preconditioned:
            return residual_box.copy()
        return sine_precondition(self._inverse_symbol, self._box_mask, residual_box)

    # Solves -----------------------------------------------------------------------
    def solve(
        self,
        rhs: float | np.ndarray,
        *,
        fixed: np.ndarray | None = None,
        tol: float = 1e-7,
        max_iterations: int | None = None,
        initial: np.ndarray | None = None,
    ) -> np.ndarray:
        """g (A, window array) with A g = rhs (T) on the film.

        fixed: optional window array of g values (A) imposed off the film (terminal
        boundary values, leads); they enter as Dirichlet neighbours and through their
        sheet field, and are returned in the result off the film. Film entries of
        `fixed` are ignored.
        tol: relative residual |r| / |b| at which CG stops. max_iterations defaults to
        max(500, 10 * sqrt(film cells)). Raises SolverDidNotConverge otherwise.
        The iteration count and residual are in `self.last`.
        """
        started = time.perf_counter()
        rhs = np.broadcast_to(np.asarray(rhs, dtype=float), self.grid.shape)
        b = np.where(self.film_mask, rhs, 0.0)
        outside = np.zeros(self.grid.shape)
        if fixed is not None:
            outside = np.where(self.film_mask, 0.0, np.asarray(fixed, dtype=float))
            if np.any(outside):
                b = b - self.apply(outside)
        if max_iterations is None:
            # Preconditioned solves need tens; unpreconditioned ones ~2 sqrt(cells).
            max_iterations = max(500, int(10 * np.sqrt(self.film_mask.sum())))

        g_box, iterations, residual = self._conjugate_gradients(
            b[self._box],
            None if initial is None else np.where(self.film_mask, initial, 0.0)[self._box],
            tol,
            max_iterations,
        )
        self.last = SolveStats(iterations, residual, time.perf_counter() - started)
        if residual > tol:
            raise SolverDidNotConverge(iterations, residual, tol)
        g = outside.copy()
        g[self._box] += g_box
        return g

    def _conjugate_gradients(
        self, b: np.ndarray, initial: np.ndarray | None, tol: float, max_iterations: int
    ) -> tuple[np.ndarray, int, float]:
        """Preconditioned CG on box arrays; returns (x, iterations, relative residual)."""
        b_norm = float(np.linalg.norm(b))
        if b_norm == 0.0:
            return np.zeros_like(b), 0, 0.0
        if initial is None:
            x = np.zeros_like(b)
            r = b.copy()
        else:
            x = initial.copy()
            r = b - self._apply_box(x)
        z = self._precondition(r)
        p = z.copy()
        rz = float(np.vdot(r, z))
        residual = float(np.linalg.norm(r)) / b_norm
        iterations = 0
        while residual > tol and iterations < max_iterations:
            ap = self._apply_box(p)
            alpha = rz / float(np.vdot(p, ap))
            x += alpha * p
            r -= alpha * ap
            iterations += 1
            residual = float(np.linalg.norm(r)) / b_norm
            if residual <= tol:
                break
            z = self._precondition(r)
            rz_next = float(np.vdot(r, z))
            p *= rz_next / rz
            p += z
            rz = rz_next
        return x, iterations, residual

    def screen(self, applied_bz: float | np.ndarray, **solve_options) -> np.ndarray:
        """Meissner response g (A) to an applied out-of-plane field (T) on the window.

        applied_bz: Bz_applied at z = 0, a float (uniform) or an (ny, nx) array.
        Options are those of `solve`.
        """
        return self.solve(-np.asarray(applied_bz, dtype=float), **solve_options)

    def moment(self, g: np.ndarray) -> float:
        """Magnetic moment m_z = integral of g dA (A m^2)."""
        return float(np.sum(g) * self.grid.dx**2)


# The operator's pieces as functions of their coefficients, so that a batched solver
# (sims/film/susceptibility_map.py) can apply them to a stack of box arrays, in the
# precision of its choice. They work on the last two axes.


def stiffness(face_x: np.ndarray, face_y: np.ndarray, haloed: np.ndarray, dx: float) -> np.ndarray:
    """-mu0 div(Lambda grad g) (T) on the box, from g (A) on the box plus a one-cell halo,
    shape (..., by + 2, bx + 2), and Lambda on the faces (m, `PearlSolver._face_coefficients`)."""
    flux_x = face_x * (haloed[..., 1:-1, 1:] - haloed[..., 1:-1, :-1])
    flux_y = face_y * (haloed[..., 1:, 1:-1] - haloed[..., :-1, 1:-1])
    divergence = (flux_x[..., :, 1:] - flux_x[..., :, :-1]) + (flux_y[..., 1:, :] - flux_y[..., :-1, :])
    return (-MU0 / dx**2) * divergence


def sine_precondition(inverse_symbol: np.ndarray, box_mask: np.ndarray, residual_box: np.ndarray,
                      workers: int = FFT_WORKERS) -> np.ndarray:
    """The DST-II preconditioner (`PearlSolver._sine_preconditioner_symbol`, 1/T) applied
    to a residual (T) on the box, (..., by, bx); zero off the film (`box_mask`).
    `workers`: threads of the transforms."""
    modes = scipy.fft.dstn(residual_box, type=2, axes=(-2, -1), workers=workers)
    modes *= inverse_symbol
    result = scipy.fft.idstn(modes, type=2, axes=(-2, -1), workers=workers)
    result[..., ~box_mask] = 0.0
    return result
