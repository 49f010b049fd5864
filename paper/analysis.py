"""The paper's analysis: its thresholds, and the features of the bias loop and of the
edge current that its Fig. 3 reports.

`summarize_bias_loop` takes a recorded sweep (virgin branch 0 -> +I_max, then the
major loop +I_max -> -I_max -> +I_max) and returns the numbers of golden checks
8-11 (docs/physics.md), so tests, the demo and people read the same definitions;
the reading itself is the core's generic loop analysis (sqm.analysis.bias_loop)
at the paper's currents.
"""

from __future__ import annotations

from sqm.analysis.bias_loop import BiasLoopFeatures, bias_loop_features
from sqm.analysis.edge_profile import EdgeCurrentJump
from sqm.analysis.edge_profile import edge_current_jump as _edge_current_jump

# The paper's currents (Fig. 3a-d).
LINEAR_RANGE_A = 100e-6  # "linear below 100 uA": the Oersted slope is fitted on |I| <= 100 uA of the virgin branch
LINEAR_FROM_A = 20e-6  # linearity and noise are judged from 20 uA up to LINEAR_RANGE_A
MERGE_ABOVE_A = 145e-6  # the ascending branch merges with the virgin one above 145 uA
EDGE_TREND_UP_TO_A = 100e-6  # the peak edge current grows on a straight line up to 100 uA (Fig. 3d)


# The name the demo's summary gives the merge error (Fig. 3a: "merge above 145 uA").
MERGE_ERROR_KEY = "merge_error_above_145uA"


def summarize_bias_loop(current, flux, branch, noise_floor: float = 0.0) -> BiasLoopFeatures:
    """Features of a sweep with branches 0 (virgin up), 1 (down), 2 (up), read at the
    paper's currents (see sqm.analysis.bias_loop.bias_loop_features)."""
    return bias_loop_features(current, flux, branch, linear_up_to=LINEAR_RANGE_A, linear_from=LINEAR_FROM_A,
                              merge_from=MERGE_ABOVE_A, noise_floor=noise_floor)


def summary_numbers(features: BiasLoopFeatures) -> dict:
    """The features as the demo's summary keeps them (the merge error named for 145 uA)."""
    return {(MERGE_ERROR_KEY if key == "merge_error" else key): value for key, value in features.as_dict().items()}


def edge_current_jump(bias_currents, peak_currents) -> EdgeCurrentJump | None:
    """Where the peak edge current of a virgin bias series leaves its straight line up to
    100 uA (Fig. 3d: the jump at 120 uA); see sqm.analysis.edge_profile.edge_current_jump."""
    return _edge_current_jump(bias_currents, peak_currents, trend_up_to=EDGE_TREND_UP_TO_A)
