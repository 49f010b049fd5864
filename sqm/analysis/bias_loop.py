"""The features of a bias-current loop at a park point.

`bias_loop_features` takes a recorded sweep (virgin branch 0 -> +I_max, then the
major loop +I_max -> -I_max -> +I_max) and reads its features. Where the loop is
linear and where its branches merge belong to the sample and the experiment, not
to the analysis: the caller passes those currents (the paper's numbers are in
sqm_paper.analysis).
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


@dataclass(frozen=True)
class BiasLoopFeatures:
    """Loop features. Currents in A, flux in Phi0."""

    oersted_slope: float  # Phi0/A, from the virgin branch, |I| <= linear_up_to
    max_linear_deviation: float  # max |Phi_v - slope I| / |slope I| for linear_from <= I <= linear_up_to
    virgin_minimum: float  # A
    virgin_zero_crossing: float  # A (first crossing after the minimum)
    virgin_flux_at_max: float  # Phi0
    descending_dips: bool  # flux first decreases when coming down from +I_max
    remanence: float  # Phi0, descending branch at I = 0
    switching_current: float  # A, descending branch (negative)
    flux_at_min: float  # Phi0, at -I_max
    antisymmetry_error: float  # Phi0, max |Phi_asc(I) + Phi_desc(-I)|
    merge_error: float  # Phi0, max |Phi_asc - Phi_v| for I >= merge_from
    noise_rms: float  # Phi0, scatter of single readings about the smoothed virgin branch, linear part

    def as_dict(self) -> dict:
        return asdict(self)


def smooth_branch(flux: np.ndarray, window: int = 9) -> np.ndarray:
    """Local quadratic (Savitzky-Golay) smoothing of one branch: averages white sensor
    noise down without shifting the turning points (Phi0)."""
    window = min(window, len(flux) - (1 - len(flux) % 2))
    return savgol_filter(flux, window, 2) if window >= 5 else np.asarray(flux, dtype=float)


def bias_loop_features(current, flux, branch, *, linear_up_to: float, linear_from: float, merge_from: float,
                       noise_floor: float = 0.0) -> BiasLoopFeatures:
    """Features of a sweep with branches 0 (virgin up), 1 (down), 2 (up).

    `linear_up_to` (A): the Oersted slope is fitted on |I| <= linear_up_to of the raw
    virgin branch; the linearity and the noise are read on linear_from <= I <=
    linear_up_to. `merge_from` (A): the ascending branch is compared with the virgin
    one from there up. `noise_floor` (Phi0): readings within it have no sign when the
    virgin zero crossing is looked for.

    Every feature is read on branches smoothed by `smooth_branch`: where the virgin
    curve is flat, single readings' noise would move its zero crossing by several uA,
    and point-by-point comparisons of branches would measure the noise rather than
    the loop.
    """
    branches = split_branches(current, flux, branch)
    if len(branches) < 3:
        raise ValueError("need the virgin branch and both branches of the major loop")
    raw_virgin, raw_descending, _ = branches[:3]
    # White sensor noise is averaged down locally before comparing branches point by point.
    virgin, descending, ascending = ((x, smooth_branch(y)) for x, y in branches[:3])
    slope = oersted_slope(*raw_virgin, max_abs_x=linear_up_to)
    v_current, v_flux = virgin
    linear_part = (v_current >= linear_from) & (v_current <= linear_up_to)
    line = slope * v_current[linear_part]
    deviation = np.abs(v_flux[linear_part] - line) / np.abs(line)
    noise = np.std(raw_virgin[1][linear_part] - v_flux[linear_part]) if linear_part.sum() > 2 else float("nan")
    minimum = first_minimum(*raw_virgin)  # its own parabolic refinement; smoothing would round the corner
    after_minimum = v_current > minimum
    crossings = zero_crossings(v_current[after_minimum], v_flux[after_minimum], noise_floor)
    d_current, d_flux = descending
    start = d_flux[: max(3, len(d_flux) // 40)]
    return BiasLoopFeatures(
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
        merge_error=merge_error(ascending, virgin, merge_from),
        noise_rms=float(noise),
    )
