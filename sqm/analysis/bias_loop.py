"""The features of a bias-current loop that the paper reports (Fig. 3a-b).

`summarize_bias_loop` takes a recorded sweep (virgin branch 0 -> +I_max, then the
major loop +I_max -> -I_max -> +I_max) and returns the numbers of PHYSICS.md golden
checks 8-11, so tests, the demo and people read the same definitions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.signal import savgol_filter

from .loops import (
    antisymmetry_error,
    first_minimum,
    merge_error,
    oersted_slope,
    split_branches,
    switching_point,
    value_at,
    zero_crossings,
)

LINEAR_RANGE_A = 100e-6  # the Oersted slope is fitted on |I| <= 100 uA of the virgin branch


@dataclass(frozen=True)
class BiasLoopSummary:
    """Loop features. Currents in A, flux in Phi0."""

    oersted_slope: float  # Phi0/A, from the virgin branch, |I| <= 100 uA
    max_linear_deviation: float  # max |Phi_v - slope I| / |slope I| for 20 uA <= I <= 100 uA
    virgin_minimum: float  # A
    virgin_zero_crossing: float  # A (first crossing after the minimum)
    virgin_flux_at_max: float  # Phi0
    descending_dips: bool  # flux first decreases when coming down from +I_max
    remanence: float  # Phi0, descending branch at I = 0
    switching_current: float  # A, descending branch (negative)
    flux_at_min: float  # Phi0, at -I_max
    antisymmetry_error: float  # Phi0, max |Phi_asc(I) + Phi_desc(-I)|
    merge_error_above_145uA: float  # Phi0, max |Phi_asc - Phi_v| for I >= 145 uA
    noise_rms: float  # Phi0, scatter of single readings about the smoothed virgin branch, 20-100 uA

    def as_dict(self) -> dict:
        return asdict(self)


def smooth_branch(flux: np.ndarray, window: int = 9) -> np.ndarray:
    """Local quadratic (Savitzky-Golay) smoothing of one branch: averages white sensor
    noise down without shifting the turning points (Phi0)."""
    window = min(window, len(flux) - (1 - len(flux) % 2))
    return savgol_filter(flux, window, 2) if window >= 5 else np.asarray(flux, dtype=float)


def summarize_bias_loop(current, flux, branch, noise_floor: float = 0.0) -> BiasLoopSummary:
    """Features of a sweep with branches 0 (virgin up), 1 (down), 2 (up).

    Every feature is read on branches smoothed by `smooth_branch`: near 160 uA the
    virgin curve is flat enough that single readings' noise would move the zero
    crossing by several uA, and point-by-point comparisons of branches would measure
    the noise rather than the loop.
    """
    branches = split_branches(current, flux, branch)
    if len(branches) < 3:
        raise ValueError("need the virgin branch and both branches of the major loop")
    raw_virgin, raw_descending, _ = branches[:3]
    # White sensor noise is averaged down locally before comparing branches point by point.
    virgin, descending, ascending = ((x, smooth_branch(y)) for x, y in branches[:3])
    slope = oersted_slope(*raw_virgin, max_abs_x=LINEAR_RANGE_A)
    v_current, v_flux = virgin
    linear_part = (v_current >= 20e-6) & (v_current <= LINEAR_RANGE_A)
    line = slope * v_current[linear_part]
    deviation = np.abs(v_flux[linear_part] - line) / np.abs(line)
    noise = np.std(raw_virgin[1][linear_part] - v_flux[linear_part]) if linear_part.sum() > 2 else float("nan")
    minimum = first_minimum(*raw_virgin)  # its own parabolic refinement; smoothing would round the corner
    after_minimum = v_current > minimum
    crossings = zero_crossings(v_current[after_minimum], v_flux[after_minimum], noise_floor)
    d_current, d_flux = descending
    start = d_flux[: max(3, len(d_flux) // 40)]
    return BiasLoopSummary(
        oersted_slope=slope,
        max_linear_deviation=float(deviation.max()) if deviation.size else float("nan"),
        virgin_minimum=minimum,
        virgin_zero_crossing=float(crossings[0]) if crossings.size else float("nan"),
        virgin_flux_at_max=float(v_flux[-1]),
        descending_dips=bool(start[-1] < start[0]),
        remanence=value_at(*descending, 0.0, half_width=2),
        switching_current=switching_point(*raw_descending),
        flux_at_min=float(d_flux[-1]),
        antisymmetry_error=antisymmetry_error(*descending, *ascending),
        merge_error_above_145uA=merge_error(ascending, virgin, 145e-6),
        noise_rms=float(noise),
    )
