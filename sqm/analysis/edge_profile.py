"""Sheet current across a long straight edge from a 1-D flux line cut (paper Fig. 3c-d).

Assumes the current flows along the edge and does not change along it over a few
scan heights, so the flux profile across the edge is a 1-D problem: with s the
coordinate along the cut and g(s) the stream function, Bz(k) = (mu0/2) |k|
exp(-|k| h) g(k), and the disk pickup loop multiplies by pi R^2 2 J1(kR)/(kR).
The inversion is windowed (Hann, up to the cutoff wave number) because it
amplifies noise as exp(k h). The profile is extended by its end values before the
FFT, which keeps the implied periodic jump away; readings within one cutoff
wavelength of either end are not trustworthy and `peak_current_across_edge` ignores them.

`edge_current_jump` finds where the peak edge current of a bias series leaves its
slow low-bias growth (e.g. a jump at the switching current); up to which bias that
growth is a straight line is the caller's to say.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.constants
import scipy.special

MU0 = scipy.constants.mu_0
PHI0 = scipy.constants.physical_constants["mag. flux quantum"][0]


def _validate(flux: np.ndarray, spacing: float, height: float, pickup_radius: float, cutoff: float) -> None:
    if flux.ndim != 1 or flux.size < 8:
        raise ValueError("a line cut needs at least 8 samples")
    if not np.all(np.isfinite(flux)):
        raise ValueError("the line cut contains NaN or infinite values")
    for name, value in (("spacing", spacing), ("height", height), ("pickup_radius", pickup_radius)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value}")
    if flux.size * spacing < 2 * cutoff:
        raise ValueError(
            f"the line cut ({flux.size * spacing:.3g} m) is shorter than two cutoff wavelengths ({cutoff:.3g} m)"
        )


def sheet_current_from_profile(
    flux, spacing: float, height: float, pickup_radius: float, cutoff_wavelength: float | None = None
) -> np.ndarray:
    """Sheet current density (A/m) along the edge at each sample of a flux cut (Phi0).

    `spacing` between samples, `height` of the sensor, `pickup_radius`, and the
    window's `cutoff_wavelength` (default 2 * height): all in m. Positive values
    mean current flowing to the left of the cut's direction (for a cut along +y,
    current along +x: K_x = dg/dy).
    """
    flux = np.asarray(flux, dtype=float)
    cutoff = 2.0 * height if cutoff_wavelength is None else cutoff_wavelength
    _validate(flux, spacing, height, pickup_radius, cutoff)
    pad = 4 * flux.size
    extended = np.concatenate([np.full(pad, flux[0]), flux, np.full(pad, flux[-1])])
    k = 2 * np.pi * np.fft.rfftfreq(extended.size, spacing)
    kr = k * pickup_radius
    psf = np.pi * pickup_radius**2 * np.where(kr > 0, 2 * scipy.special.j1(kr) / np.where(kr > 0, kr, 1), 1.0)
    transfer = 0.5 * MU0 * k * np.exp(-k * height) * psf / PHI0  # Phi0 per A of g
    k_cut = 2 * np.pi / cutoff
    window = np.where(k < k_cut, 0.5 * (1 + np.cos(np.pi * k / k_cut)), 0.0)
    spectrum = np.fft.rfft(extended - extended.mean())
    with np.errstate(divide="ignore", invalid="ignore"):
        g_spectrum = np.where(k > 0, spectrum * window / transfer, 0.0)
    # K = dg/ds, taken in k space: i k g(k)
    current = np.fft.irfft(1j * k * g_spectrum, n=extended.size)
    return current[pad : pad + flux.size]


def peak_current_across_edge(
    flux, spacing: float, height: float, pickup_radius: float, cutoff_wavelength: float | None = None
) -> float:
    """The largest |K| (A/m) along the cut, ignoring one cutoff wavelength at each end."""
    current = sheet_current_from_profile(flux, spacing, height, pickup_radius, cutoff_wavelength)
    cutoff = 2.0 * height if cutoff_wavelength is None else cutoff_wavelength
    margin = int(np.ceil(cutoff / spacing))
    interior = current[margin:-margin] if current.size > 2 * margin + 1 else current
    return float(np.max(np.abs(interior)))


@dataclass(frozen=True)
class EdgeCurrentJump:
    """Where a peak edge current series leaves its low-bias linear trend.

    Currents in A, sheet currents in A/m. The jump lies between `last_on_trend` and
    `first_off_trend`; `onset` is their midpoint.
    """

    last_on_trend: float
    first_off_trend: float
    trend_slope: float  # A/m per A
    trend_offset: float  # A/m
    trend_rms: float  # A/m, residual of the trend fit
    excess_after: float  # A/m above the trend at `first_off_trend`

    @property
    def onset(self) -> float:
        return 0.5 * (self.last_on_trend + self.first_off_trend)

    def trend(self, current) -> np.ndarray:
        return self.trend_offset + self.trend_slope * np.asarray(current, dtype=float)


def edge_current_jump(
    bias_currents, peak_currents, trend_up_to: float, relative_threshold: float = 0.25,
    noise_threshold: float = 5.0,
) -> EdgeCurrentJump | None:
    """Find the first bias current (A) above `trend_up_to` at which the peak edge current
    (A/m) exceeds the straight line fitted to the points at |I| <= `trend_up_to` by more
    than `relative_threshold` of the line's value and `noise_threshold` times its
    residual rms. The currents must increase (a virgin sweep). None if it never does.
    """
    currents = np.asarray(bias_currents, dtype=float)
    peaks = np.asarray(peak_currents, dtype=float)
    if currents.shape != peaks.shape or currents.ndim != 1:
        raise ValueError("bias currents and peak edge currents must be 1-D arrays of one length")
    if np.any(np.diff(currents) <= 0):
        raise ValueError("the bias currents of a jump search must increase")
    on_trend = np.abs(currents) <= trend_up_to
    if on_trend.sum() < 3:
        raise ValueError(f"at least 3 bias currents up to {trend_up_to:g} A are needed to fit the trend")
    slope, offset = np.polyfit(currents[on_trend], peaks[on_trend], 1)
    expected = offset + slope * currents
    excess = peaks - expected
    rms = float(np.sqrt(np.mean(excess[on_trend] ** 2)))
    for index in np.flatnonzero(currents > trend_up_to):
        if excess[index] > relative_threshold * abs(expected[index]) and excess[index] > noise_threshold * rms:
            return EdgeCurrentJump(float(currents[index - 1]), float(currents[index]), float(slope), float(offset),
                                   rms, float(excess[index]))
    return None
