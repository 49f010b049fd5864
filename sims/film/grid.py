"""A square-cell grid over the sample plane, zero-padded for FFTs, and the one
kernel everything else builds on: the out-of-plane field of a sheet current.

Conventions (docs/physics.md, "Conventions"): SI units; z up; film at z = 0. Arrays are indexed
[iy, ix] with y increasing with iy. A sheet current is described by its stream
function g (A): K = (dg/dy, -dg/dx); g > 0 is counter-clockwise current, a +z
moment. numpy FFT convention (d/dx <-> i kx), k = |k|.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.constants
import scipy.fft

MU0 = scipy.constants.mu_0  # T m / A
PHI0 = scipy.constants.physical_constants["mag. flux quantum"][0]  # Wb


@dataclass(frozen=True)
class Grid:
    """`nx` x `ny` cells of side `dx` (m) centred on `center` (m), padded by `pad_factor`.

    The window sits in the middle of the padded array; the padding keeps the
    periodic images of a finite sample away from it.
    """

    nx: int
    ny: int
    dx: float
    center: tuple[float, float] = (0.0, 0.0)
    pad_factor: float = 2.0

    def __post_init__(self) -> None:
        if self.nx < 2 or self.ny < 2:
            raise ValueError("a grid needs at least 2 x 2 cells")
        if not self.dx > 0:
            raise ValueError("cell size dx must be positive")
        if self.pad_factor < 1:
            raise ValueError("pad_factor must be >= 1")

    # Real space -------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return (self.ny, self.nx)

    @cached_property
    def x(self) -> np.ndarray:
        """Cell-centre x coordinates (m), shape (nx,)."""
        return self.center[0] + (np.arange(self.nx) - (self.nx - 1) / 2) * self.dx

    @cached_property
    def y(self) -> np.ndarray:
        """Cell-centre y coordinates (m), shape (ny,)."""
        return self.center[1] + (np.arange(self.ny) - (self.ny - 1) / 2) * self.dx

    def mesh(self) -> tuple[np.ndarray, np.ndarray]:
        """X, Y cell-centre coordinates (m), each shape (ny, nx)."""
        return np.meshgrid(self.x, self.y)

    # Padded FFT space -------------------------------------------------------------
    @cached_property
    def padded_shape(self) -> tuple[int, int]:
        return (
            scipy.fft.next_fast_len(int(np.ceil(self.ny * self.pad_factor)), real=True),
            scipy.fft.next_fast_len(int(np.ceil(self.nx * self.pad_factor)), real=True),
        )

    @cached_property
    def offset(self) -> tuple[int, int]:
        """Index of the window's first cell in the padded array (iy, ix)."""
        return ((self.padded_shape[0] - self.ny) // 2, (self.padded_shape[1] - self.nx) // 2)

    @cached_property
    def kx(self) -> np.ndarray:
        """Wave numbers (rad/m) along x for rfft2 of the padded array, shape (1, Px//2+1)."""
        return 2 * np.pi * scipy.fft.rfftfreq(self.padded_shape[1], self.dx)[np.newaxis, :]

    @cached_property
    def ky(self) -> np.ndarray:
        """Wave numbers (rad/m) along y, shape (Py, 1)."""
        return 2 * np.pi * scipy.fft.fftfreq(self.padded_shape[0], self.dx)[:, np.newaxis]

    @cached_property
    def k(self) -> np.ndarray:
        """|k| (rad/m), shape (Py, Px//2+1)."""
        return np.hypot(self.kx, self.ky)

    def embed(self, window: np.ndarray) -> np.ndarray:
        """A window-shaped array placed in a zero padded array."""
        if window.shape != self.shape:
            raise ValueError(f"expected shape {self.shape}, got {window.shape}")
        padded = np.zeros(self.padded_shape, dtype=float)
        oy, ox = self.offset
        padded[oy : oy + self.ny, ox : ox + self.nx] = window
        return padded

    def crop(self, padded: np.ndarray) -> np.ndarray:
        """The window part of a padded array."""
        oy, ox = self.offset
        return padded[oy : oy + self.ny, ox : ox + self.nx]

    def to_k(self, window: np.ndarray) -> np.ndarray:
        """rfft2 of the zero-padded window array."""
        return scipy.fft.rfft2(self.embed(window))

    def from_k(self, spectrum: np.ndarray) -> np.ndarray:
        """Inverse of to_k, cropped back to the window."""
        return self.crop(scipy.fft.irfft2(spectrum, s=self.padded_shape))


def sheet_bz_spectrum(grid: Grid, g_spectrum: np.ndarray, z: float) -> np.ndarray:
    """Bz(k, z) = (mu0/2) k exp(-k z) g(k) (T), for a sheet at z = 0 seen at height z >= 0."""
    return 0.5 * MU0 * grid.k * np.exp(-grid.k * z) * g_spectrum


def sheet_bz(grid: Grid, g: np.ndarray, z: float) -> np.ndarray:
    """Out-of-plane field (T) at height z (m) over the window, of stream function g (A)."""
    return grid.from_k(sheet_bz_spectrum(grid, grid.to_k(g), z))


def sheet_current(grid: Grid, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sheet current density (Kx, Ky) = (dg/dy, -dg/dx) in A/m, by central differences."""
    dg_dy, dg_dx = np.gradient(g, grid.dx)
    return dg_dy, -dg_dx
