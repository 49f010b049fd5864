"""Susceptometry of the finite flake (docs/physics.md, "Layer E"): for each position of the
sensor, the field coil's field is screened by the film (the masked Pearl solve of
layer A) and the pickup loop reads the film's response. One solve per position.

To keep it to seconds, positions are solved on a lattice only where the film's edges
or its domain boundary are within reach of the coil (`reach`); deeper inside a domain
the film looks infinite and the value is that domain's, taken from one solve in its
interior, and far outside the film there is no response. The lattice is interpolated
(bilinear) to the requested positions.

How the solves are done. The discretisation is `PearlSolver`'s at `cell` over the window,
and a solved lattice point agrees with one full-window `PearlSolver.screen` at its
position to 6e-5 of the largest value on the paper's flake, 2e-4 on a disk
(tests/physics/test_susceptibility_lattice.py). The paper's lattice takes 0.3 s, not ~5 s:
- On the film's bounding box only. The sheet's self-field needs the box zero-padded to
  about twice its size, not the whole window (film plus margin) padded twice; the coil
  may sit outside the box: only its field on film cells enters.
- Readout by reciprocity: the flux through the pickup loop from a sheet current of
  stream function g is sum over cells of g Bz_pl dx^2, Bz_pl the field on the film plane
  of the pickup loop carrying 1 A. Its spectrum, mu0 pi R J1(kR) exp(-kh), is the
  forward model's pickup kernel, (mu0/2) k exp(-kh) pi R^2 2 J1(kR)/(kR), so both rings
  come from `field_coil_bz_spectrum`. No flux image and no interpolation per position:
  the flux is read at the position itself. (A bilinear reading of the flux image
  between cell centres, as before, misses up to 10 % of the value halfway between them,
  where 3/4 of the 2.5 um lattice's points are: the flux peaks sharply at the sensor.)
- The ring fields are translations: the box's cell centres and the sensor positions
  differ by a whole number of cells plus one of a few sub-cell offsets (four on a
  2.5 um lattice of 1 um cells), so each ring's field is computed once per offset, on
  the window's zero-padded array as the full-window solve computed the coil's, and each
  position takes a slice of it.
- Positions are solved in batches: preconditioned conjugate gradients on a stack of
  right-hand sides, each with its own step sizes and its own stopping test, so the
  Python overhead is paid once per iteration of a batch. Batches run side by side, one
  thread per core (`THREADS`). The operator is applied in float32 (`BoxScreening`),
  which moves the values by ~1e-7 of their range.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.interpolate
import scipy.ndimage

from .grid import PHI0, Grid
from .pearl import PearlSolver, SolverDidNotConverge, sine_precondition, stiffness
from .susceptometry import field_coil_bz_spectrum

# CG stops at this relative residual: the values move by < 1e-5 of their range (1e-7
# costs twice the time), far below what the lattice's bilinear interpolation leaves.
TOLERANCE = 1e-4
# Positions per batch: enough that the Python overhead of an iteration is shared (8: 25 %
# slower on the paper's flake), few enough that a batch's work arrays (~0.3 MB a position)
# stay small and the threads share the batches out evenly (96: 30 % slower, 340: 2x).
BATCH = 32
# Batches solved side by side, one thread each, every transform in the thread of its
# batch: the elementwise numpy work (a third of the time) then runs on every core too, and
# a second FFT thread gains little on arrays this small. On 2 cores, the paper's lattice
# in 0.3 s against 0.55 s with one batch at a time and two threads per transform.
THREADS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class SusceptometryGeometry:
    """The sensor's two loops and height (m), and the lattice of solved positions (m).

    The lattice need not fall on the solve's cell centres: each sub-cell offset between
    them costs one more precomputed ring field (a few ms)."""

    field_coil_radius: float
    pickup_radius: float
    height: float
    lattice: float = 2.5e-6
    reach: float = 6e-6  # the coil's field matters this far from an edge (a few coil radii)
    cell: float = 1e-6  # film grid of the solves


def susceptibility_lattice(
    mask_of, pearl_length_of, window: tuple[float, float], geometry: SusceptometryGeometry, domains_of
) -> scipy.interpolate.RegularGridInterpolator:
    """An interpolator (y, x) -> Phi0/A over a window of half-sizes `window` (m).

    `mask_of(X, Y)` gives the film, `pearl_length_of(X, Y)` the Pearl length (m) and
    `domains_of(X, Y)` an integer label per domain (its interior value is solved once).
    """
    ys, xs, values = susceptibility_lattice_values(mask_of, pearl_length_of, window, geometry, domains_of)
    return scipy.interpolate.RegularGridInterpolator((ys, xs), values, bounds_error=False, fill_value=0.0)


def susceptibility_lattice_values(
    mask_of, pearl_length_of, window: tuple[float, float], geometry: SusceptometryGeometry, domains_of
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lattice behind `susceptibility_lattice`: (ys, xs, values in Phi0/A), arrays a cache can store."""
    half_x, half_y = window
    grid = Grid(int(round(2 * half_x / geometry.cell)), int(round(2 * half_y / geometry.cell)), geometry.cell)
    X, Y = grid.mesh()
    mask = mask_of(X, Y)
    film = FilmSusceptometry(grid, mask, np.where(mask, pearl_length_of(X, Y), 1.0), geometry)

    xs = np.arange(-half_x, half_x + 1e-12, geometry.lattice)
    ys = np.arange(-half_y, half_y + 1e-12, geometry.lattice)
    LX, LY = np.meshgrid(xs, ys)
    on_film = mask_of(LX, LY)
    labels = domains_of(LX, LY)
    # distance (m) from each lattice point to the nearest edge or domain boundary
    boundaries = np.zeros(LX.shape, bool)
    for label in np.unique(labels[on_film]):
        region = on_film & (labels == label)
        boundaries |= region & ~scipy.ndimage.binary_erosion(region, border_value=0)
    distance = scipy.ndimage.distance_transform_edt(~boundaries) * geometry.lattice

    # Lattice points to solve: the deepest point of each domain, then every point in reach.
    interior = []
    for label in np.unique(labels[on_film]):
        region = on_film & (labels == label)
        interior.append(np.unravel_index(np.argmax(np.where(region, distance, -1)), region.shape))
    near = list(zip(*np.nonzero(distance <= geometry.reach)))
    rows, columns = np.array(interior + near, dtype=int).reshape(-1, 2).T
    fluxes = film.flux(LX[rows, columns], LY[rows, columns])

    values = np.zeros(LX.shape)
    for label, value in zip(np.unique(labels[on_film]), fluxes[: len(interior)]):
        values[on_film & (labels == label)] = value  # the domain's interior value
    values[rows[len(interior) :], columns[len(interior) :]] = fluxes[len(interior) :]
    return ys, xs, values


class FilmSusceptometry:
    """Susceptometry (Phi0 per A of field-coil current) of a film on `grid` at any sensor
    position: the coil's field screened by the film, read by the pickup loop.

    film_mask: bool (ny, nx) on the grid; pearl_length: Lambda (m), (ny, nx), > 0 on the film.
    """

    def __init__(self, grid: Grid, film_mask: np.ndarray, pearl_length: np.ndarray,
                 geometry: SusceptometryGeometry) -> None:
        if not film_mask.any():
            raise ValueError("film_mask has no film cell")
        rows = np.flatnonzero(film_mask.any(axis=1))
        columns = np.flatnonzero(film_mask.any(axis=0))
        box = (slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1))
        self.screening = BoxScreening(film_mask[box], pearl_length[box], grid.dx)
        self.geometry = geometry
        self.grid = grid
        self.first_centre = (grid.x[box[1].start], grid.y[box[0].start])  # (x, y) of the box's first cell, m

    def flux(self, x0: np.ndarray, y0: np.ndarray) -> np.ndarray:
        """Flux (Phi0 per A of coil current) through the pickup loop with the sensor at
        each (x0, y0) (m) in the window: the film's response to the coil only, not the
        coil's own field. (Beyond the window the periodic images of the full-window solve
        would show: the ring fields are periodic with the window's padded array.)"""
        x0, y0 = (np.atleast_1d(np.asarray(values, dtype=float)) for values in (x0, y0))
        geometry = self.geometry
        shifts = _RingShifts(self.grid, self.first_centre, self.screening.shape, x0, y0)
        coil = shifts.ring_fields(geometry.field_coil_radius, geometry.height)
        pickup = shifts.ring_fields(geometry.pickup_radius, geometry.height)
        fluxes = np.empty(x0.size)

        def solve_batch(start: int) -> None:
            batch = range(start, min(start + BATCH, x0.size))
            g = self.screening.screen(np.stack([shifts.take(coil, i) for i in batch]))
            readout = np.stack([shifts.take(pickup, i) for i in batch])
            # reciprocity: sum of g Bz_pl dx^2, Bz_pl the field of the pickup loop carrying 1 A
            fluxes[batch.start : batch.stop] = np.einsum("nij,nij->n", g, readout) * (self.grid.dx**2 / PHI0)

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(solve_batch, range(0, x0.size, BATCH)))  # list(): re-raises a batch's error
        return fluxes


class _RingShifts:
    """Bz (T per A) on the box's cells of a ring at each sensor position, as slices of one
    array per sub-cell offset.

    The ring's field is made as the full-window solve made the coil's: spectrally on the
    window's zero-padded array (`field_coil_bz_spectrum`), so it is periodic with that
    array's period P. (The period matters at the 1e-3 level: the spectrum is cut at the
    Nyquist wave number. The flux image of `ForwardModel` on the window has the same
    period, so this is its readout too.) A sensor at x0 is m + f cells before the box's
    first cell, m whole and -1/2 <= f < 1/2; the field at the box's cell i is then the
    field at the offset (m + i + f) dx from the ring: element (m + i) mod P of the
    period computed with the ring f cells before the array's first sample. Two periods
    along each axis make every such run of cells one slice.
    """

    def __init__(self, grid: Grid, first_centre: tuple[float, float], box_shape: tuple[int, int],
                 x0: np.ndarray, y0: np.ndarray) -> None:
        self.grid = grid
        self.box_shape = box_shape
        cells = np.stack([first_centre[1] - y0, first_centre[0] - x0], axis=1) / grid.dx  # (n, 2): y, x
        # (rounded first, so that offsets of half a cell give one phase, not +-1/2 by round-off)
        self.whole = np.floor(np.round(cells, 6) + 0.5).astype(int)  # m_y, m_x
        fraction = cells - self.whole  # f_y, f_x
        # positions whose sub-cell offsets agree to 1e-6 of a cell share one array
        keys, phase = np.unique(np.round(fraction, 6), axis=0, return_inverse=True)
        self.phase = phase.ravel()  # the array of each position
        self.fractions = np.array([fraction[np.argmax(self.phase == p)] for p in range(len(keys))])

    def ring_fields(self, radius: float, height: float) -> list[np.ndarray]:
        """The ring's Bz (T per A) on the film plane, two periods along each axis, one
        array per sub-cell offset."""
        grid, dx = self.grid, self.grid.dx
        offset_y, offset_x = grid.offset
        first_x, first_y = grid.x[0] - offset_x * dx, grid.y[0] - offset_y * dx  # the padded array's first sample
        fields = []
        for f_y, f_x in self.fractions:
            spectrum = field_coil_bz_spectrum(grid, first_x - f_x * dx, first_y - f_y * dx, radius, height)
            fields.append(np.tile(scipy.fft.irfft2(spectrum, s=grid.padded_shape), (2, 2)))
        return fields

    def take(self, fields: list[np.ndarray], position: int) -> np.ndarray:
        """The ring's field on the box (T per A) with the sensor at `position`."""
        (start_y, start_x), (by, bx) = self.whole[position] % self.grid.padded_shape, self.box_shape
        return fields[self.phase[position]][start_y : start_y + by, start_x : start_x + bx]


class BoxScreening:
    """Meissner response g (A) of a film on its bounding box to a stack of applied fields
    at once: the discretisation of `PearlSolver` (its stencil, face coefficients and
    preconditioner), the self-field on the box zero-padded to about twice its size.

    The conjugate-gradient recurrences run in float64; the operator and the
    preconditioner are applied in float32 (4-5x faster here: half the memory traffic).
    That perturbs the operator by ~1e-7 of itself, far below the tolerance 1e-4 (the
    values move by ~1e-8 of their range).

    film_mask: bool (by, bx) with film on every edge row and column; pearl_length (m), > 0
    on the film; dx: cell side (m).
    """

    def __init__(self, film_mask: np.ndarray, pearl_length: np.ndarray, dx: float) -> None:
        self.shape = film_mask.shape
        self.grid = Grid(self.shape[1], self.shape[0], dx, pad_factor=2.0)  # the box; where it is does not matter
        solver = PearlSolver(self.grid, film_mask, pearl_length)
        self.film = film_mask
        self.film_cells = int(film_mask.sum())
        self._face_x, self._face_y, self._inverse_symbol, self._half_mu0_k = (
            array.astype(np.float32)
            for array in (solver._face_x, solver._face_y, solver._inverse_symbol, solver._half_mu0_k)
        )
        self._thread_local = threading.local()  # work buffers: batches are screened in several threads

    def _buffer(self, name: str, count: int, shape: tuple[int, ...], dtype) -> np.ndarray:
        """A zeroed work array (count, *shape) of this thread, kept between calls: a fresh
        multi-MB array costs about as much in page faults as the FFTs on it. Only regions
        that are written every call may be non-zero after the first."""
        buffers = self._thread_local.__dict__.setdefault("buffers", {})
        buffer = buffers.get(name)
        if buffer is None or len(buffer) < count:
            buffer = buffers[name] = np.zeros((count, *shape), dtype=dtype)
        return buffer[:count]

    def _self_field(self, g: np.ndarray) -> np.ndarray:
        """(mu0/2)|k| g (T, float32) on the box, for a stack g (n, by, bx) (A).

        The box is padded at the end (the kernel is translation invariant), and the x
        transforms run only over the box's rows: the other rows are zeros going in and
        are discarded coming out."""
        (by, bx), padded_x = self.shape, self.grid.padded_shape[1]
        rows = self._buffer("rows", len(g), (by, padded_x), np.float32)
        rows[:, :, :bx] = g  # the columns beyond bx stay zero
        spectrum = self._buffer("spectrum", len(g), self._half_mu0_k.shape, np.complex64)
        spectrum[:, :by] = scipy.fft.rfft(rows, axis=-1)
        spectrum[:, by:] = 0.0
        spectrum = scipy.fft.fft(spectrum, axis=-2, overwrite_x=True)
        spectrum *= self._half_mu0_k
        spectrum = scipy.fft.ifft(spectrum, axis=-2, overwrite_x=True)
        return scipy.fft.irfft(spectrum[:, :by], n=padded_x, axis=-1)[..., :bx]

    def _apply(self, g: np.ndarray) -> np.ndarray:
        """A g (T, float32) for a stack g (n, by, bx) that is zero off the film; zero off the film."""
        by, bx = self.shape
        haloed = self._buffer("haloed", len(g), (by + 2, bx + 2), np.float32)
        haloed[:, 1:-1, 1:-1] = g  # the halo stays zero: beyond the box is not film
        result = stiffness(self._face_x, self._face_y, haloed, self.grid.dx)
        result += self._self_field(g)
        result[:, ~self.film] = 0.0
        return result

    def _precondition(self, residual: np.ndarray) -> np.ndarray:
        return sine_precondition(self._inverse_symbol, self.film, residual.astype(np.float32), workers=1)

    def screen(self, applied_bz: np.ndarray, tol: float = TOLERANCE) -> np.ndarray:
        """g (A), shape (n, by, bx), for applied Bz (T) at z = 0 on the box, shape (n, by, bx).

        Preconditioned conjugate gradients on the whole stack, each item with its own
        step sizes, stopped when its own relative residual reaches `tol` (as
        `PearlSolver.solve` does for one item). Raises SolverDidNotConverge after
        max(500, 10 sqrt(film cells)) iterations."""

        def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # one per item, float64
            return np.einsum("nij,nij->n", a, b, dtype=np.float64)

        b = np.where(self.film, -np.asarray(applied_bz, dtype=float), 0.0)
        g = np.zeros_like(b)
        b_norm = np.sqrt(dot(b, b))
        active = np.flatnonzero(b_norm > 0)  # items still iterating
        r = b[active]
        x = np.zeros_like(r)
        z = self._precondition(r)
        p = z.astype(float)
        rz = dot(r, z)
        residual = np.ones(active.size)  # relative, of the items in the stack
        max_iterations = max(500, int(10 * np.sqrt(self.film_cells)))
        iterations = 0
        while active.size:
            if iterations == max_iterations:
                raise SolverDidNotConverge(iterations, float(residual.max()), tol)
            ap = self._apply(p)
            alpha = (rz / dot(p, ap))[:, np.newaxis, np.newaxis]
            x += alpha * p
            r -= alpha * ap
            iterations += 1
            residual = np.sqrt(dot(r, r)) / b_norm[active]
            done = residual <= tol
            if done.any():  # store the converged items and drop them from the stack
                g[active[done]] = x[done]
                going_on = ~done
                active, x, r, p, rz = active[going_on], x[going_on], r[going_on], p[going_on], rz[going_on]
                residual = residual[going_on]
                if not active.size:
                    break
            z = self._precondition(r)
            rz_next = dot(r, z)
            p *= (rz_next / rz)[:, np.newaxis, np.newaxis]
            p += z
            rz = rz_next
        return g
