"""Forward model (layers A and E of docs/physics.md): from a sheet current, given by its
stream function g (A) on a Grid, to what the nano-SQUID measures.

    Bz(k, h) = (mu0/2) k exp(-k h) g(k)                      (T)
    Phi(k)   = Bz(k, h) * psf(k),  psf = pi R^2 2 J1(kR)/(kR)  (Wb)

The pickup loop is a disk of radius R seen as a point-spread function; a keyhole
or a measured PSF may replace it. Fluxes are returned in units of Phi0.

Spectra passed in or out follow the convention of `Grid.to_k`: the rfft2 (DFT, no
1/N) of the samples on the zero-padded array, i.e. the continuous 2-D Fourier
transform divided by dx^2, with the window in the middle of the padded array.

Speed: ForwardModel does the 2-D transforms one axis at a time so it can skip
work on the zero padding: the forward x transform runs over the ny window rows
only, and the inverse x transform only over the ny rows that are kept. This is
exact (the skipped rows are zeros in, or discarded out). The y transforms run in
place in a per-thread work buffer kept by the model: on this kind of machine a
fresh multi-MB array costs about as much in page faults as the FFT itself.
"""

from __future__ import annotations

import threading
from functools import cached_property

import numpy as np
import scipy.fft
import scipy.special

from .grid import MU0, PHI0, Grid

FFT_WORKERS = -1  # scipy.fft threads: all cores


def disk_psf(k: np.ndarray, radius: float) -> np.ndarray:
    """Fourier transform of a uniform disk of radius R (m): pi R^2 2 J1(kR)/(kR), in m^2.

    Tends to pi R^2 at k = 0 (flux of a uniform field through the loop)."""
    kr = np.asarray(k, dtype=float) * radius
    ratio = np.ones_like(kr)  # 2 J1(x)/x -> 1 as x -> 0
    np.divide(2 * scipy.special.j1(kr), kr, out=ratio, where=kr > 0)
    return np.pi * radius**2 * ratio


def loop_psf_spectrum(grid: Grid, radius: float) -> np.ndarray:
    """The pickup loop (disk of radius `radius`, m) as a point-spread function on the
    grid's k array: pi R^2 2 J1(kR)/(kR) in m^2, shape of `grid.k`."""
    return disk_psf(grid.k, radius)


def _inverse_transform(spectrum: np.ndarray, padded_shape: tuple[int, int], start: tuple[int, int],
                       shape: tuple[int, int], overwrite: bool = False) -> np.ndarray:
    """irfft2 of `spectrum` cropped to `shape` rows x columns from `start` (iy, ix).

    Only the kept rows go through the inverse x transform."""
    (row, column), (ny, nx) = start, shape
    columns = scipy.fft.ifft(spectrum, axis=0, workers=FFT_WORKERS, overwrite_x=overwrite)
    rows = scipy.fft.irfft(columns[row : row + ny], n=padded_shape[1], axis=1, workers=FFT_WORKERS)
    return np.ascontiguousarray(rows[:, column : column + nx])


class ForwardModel:
    """Sheet current -> pickup-loop flux (Phi0) and Bz (T) at height `height` (m).

    `loop_radius` (m) is the pickup disk; `psf_spectrum` (m^2, shape of grid.k)
    replaces the disk by any other point-spread function (keyhole, measured).
    The kernels are computed once, here, and reused for every image.
    """

    def __init__(self, grid: Grid, height: float, loop_radius: float,
                 psf_spectrum: np.ndarray | None = None) -> None:
        if not height >= 0:
            raise ValueError("height must be >= 0")
        if psf_spectrum is None and not loop_radius > 0:
            raise ValueError("loop_radius must be positive")
        self.grid = grid
        self.height = float(height)
        self.loop_radius = float(loop_radius)
        self.psf = loop_psf_spectrum(grid, loop_radius) if psf_spectrum is None else np.asarray(psf_spectrum, float)
        if self.psf.shape != grid.k.shape:
            raise ValueError(f"psf_spectrum must have shape {grid.k.shape}")
        self.upward = np.exp(-grid.k * self.height)  # exp(-k h): film plane -> sensor plane
        # Phi0 per A of g: (mu0/2) k exp(-k h) psf / Phi0
        self.flux_kernel = (0.5 * MU0 / PHI0) * grid.k * self.upward * self.psf
        self._thread_local = threading.local()  # work buffers: flux() may run in several threads

    @cached_property
    def bz_kernel(self) -> np.ndarray:
        """(mu0/2) k exp(-k h), T per A of g."""
        return 0.5 * MU0 * self.grid.k * self.upward

    # Real-space stream function in, window image out -------------------------------
    def flux(self, g: np.ndarray) -> np.ndarray:
        """Flux (Phi0) through the loop centred over each cell at height h, shape (ny, nx),
        of the stream function g (A) on the window."""
        return self._apply(self.flux_kernel, g)

    def bz(self, g: np.ndarray) -> np.ndarray:
        """Bz (T) at height h over each cell (a point sensor, no loop), shape (ny, nx)."""
        return self._apply(self.bz_kernel, g)

    def _apply(self, kernel: np.ndarray, g: np.ndarray) -> np.ndarray:
        grid = self.grid
        if g.shape != grid.shape:
            raise ValueError(f"expected shape {grid.shape}, got {g.shape}")
        padded_columns = grid.padded_shape[1]
        # The kernel is translation invariant, so padding at the end (not centred as
        # in Grid.embed) gives the same window image.
        spectrum = self._work_buffer()
        spectrum[: grid.ny] = scipy.fft.rfft(g, n=padded_columns, axis=1, workers=FFT_WORKERS)
        spectrum[grid.ny :] = 0
        spectrum = scipy.fft.fft(spectrum, axis=0, workers=FFT_WORKERS, overwrite_x=True)
        spectrum *= kernel
        return _inverse_transform(spectrum, grid.padded_shape, (0, 0), grid.shape, overwrite=True)

    def _work_buffer(self) -> np.ndarray:
        """A padded complex spectrum array, one per thread, reused between calls."""
        buffer = getattr(self._thread_local, "buffer", None)
        if buffer is None:
            buffer = self._thread_local.buffer = np.empty(self.grid.k.shape, dtype=complex)
        return buffer

    # Spectra in (Grid.to_k convention), window image out --------------------------
    def window_from_spectrum(self, spectrum: np.ndarray) -> np.ndarray:
        """Same as `grid.from_k(spectrum)`, faster (skips rows that are cropped away)."""
        return self._window(spectrum, overwrite=False)

    def _window(self, spectrum: np.ndarray, overwrite: bool) -> np.ndarray:
        return _inverse_transform(spectrum, self.grid.padded_shape, self.grid.offset, self.grid.shape, overwrite)

    def flux_from_g_spectrum(self, g_spectrum: np.ndarray) -> np.ndarray:
        """Flux image (Phi0) of a stream-function spectrum (A, from grid.to_k)."""
        return self._window(self.flux_kernel * g_spectrum, overwrite=True)

    def flux_from_sensor_bz_spectrum(self, bz_spectrum: np.ndarray) -> np.ndarray:
        """Flux image (Phi0) of a Bz spectrum (T) given on the loop's plane z = h.

        E.g. a uniform applied field B: spectrum B * Py * Px at [0, 0] -> B pi R^2 / Phi0."""
        return self._window(self.sensor_flux_spectrum(bz_spectrum), overwrite=True)

    def flux_from_film_bz_spectrum(self, bz_spectrum: np.ndarray) -> np.ndarray:
        """Flux image (Phi0) of a Bz spectrum (T) given on the film plane z = 0, for fields
        whose sources lie at or below the film (sheet currents, dipoles in the film,
        the film's screening response): it is carried up to z = h by exp(-k h)."""
        return self._window(self.sensor_flux_spectrum(bz_spectrum * self.upward), overwrite=True)

    def sensor_flux_spectrum(self, bz_spectrum_at_sensor: np.ndarray) -> np.ndarray:
        """Spectrum of the flux image (Phi0) from Bz (T) on the loop's plane."""
        return bz_spectrum_at_sensor * (self.psf / PHI0)


def direct_biot_savart_bz(grid: Grid, sheet_kx: np.ndarray, sheet_ky: np.ndarray, height: float,
                          chunk: int = 256) -> np.ndarray:
    """Bz (T) at height (m) over each window cell by the direct Biot-Savart sum over
    the cells' sheet current (Kx, Ky) (A/m), midpoint rule, no periodic images:

        Bz(r) = mu0/(4 pi) sum_r' [Kx (y - y') - Ky (x - x')] / (|r - r'|^2 + h^2)^(3/2) dx^2.

    O(N^4): a test oracle for small grids only (0.1-0.4 s at 64^2 on 2 cores)."""
    xs, ys = (axis.ravel() for axis in grid.mesh())
    kx, ky = np.ravel(sheet_kx), np.ravel(sheet_ky)
    bz = np.empty(xs.size)
    for start in range(0, xs.size, chunk):  # chunks keep the pair arrays small
        sep_x = xs[start : start + chunk, None] - xs[None, :]
        sep_y = ys[start : start + chunk, None] - ys[None, :]
        inverse_cube = (sep_x**2 + sep_y**2 + height**2) ** -1.5
        bz[start : start + chunk] = ((sep_y * inverse_cube) @ kx - (sep_x * inverse_cube) @ ky)
    return (MU0 / (4 * np.pi) * grid.dx**2) * bz.reshape(grid.shape)
