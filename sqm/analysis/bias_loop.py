"""The features of a bias-current loop that the paper reports (Fig. 3a-b).

`summarize_bias_loop` takes a recorded sweep (virgin branch 0 -> +I_max, then the
major loop +I_max -> -I_max -> +I_max) and returns the numbers of PHYSICS.md golden
checks 8-11, so tests, the demo and people read the same definitions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

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

    def as_dict(self) -> dict:
        return asdict(self)


def summarize_bias_loop(current, flux, branch, noise_floor: float = 5e-6) -> BiasLoopSummary:
    """Features of a sweep with branches 0 (virgin up), 1 (down), 2 (up)."""
    branches = split_branches(current, flux, branch)
    if len(branches) < 3:
        raise ValueError("need the virgin branch and both branches of the major loop")
    virgin, descending, ascending = branches[:3]
    slope = oersted_slope(*virgin, max_abs_x=LINEAR_RANGE_A)
    v_current, v_flux = virgin
    linear_part = (v_current >= 20e-6) & (v_current <= LINEAR_RANGE_A)
    deviation = np.abs(v_flux[linear_part] - slope * v_current[linear_part]) / np.abs(slope * v_current[linear_part])
    minimum = first_minimum(*virgin)
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
        switching_current=switching_point(*descending),
        flux_at_min=float(d_flux[-1]),
        antisymmetry_error=antisymmetry_error(*descending, *ascending),
        merge_error_above_145uA=merge_error(ascending, virgin, 145e-6),
    )
