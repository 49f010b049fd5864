"""Flux jumps of the flux-locked loop (FLL): find them and unwrap them. All flux in Phi0.

When the flux through the SQUID changes faster than the loop can follow, the FLL
unlocks and relocks an integer number n of flux quanta away. From then on the
recorded flux is off by exactly n Phi0 (plus noise); the sample has no part in
it. The sample's own signal changes slowly (milli-Phi0 per sample), so a jump
shows up as a difference between consecutive samples close to a non-zero integer.
The raw data are never changed: the functions here return new arrays.

How a jump is recognised
------------------------
For each difference d between consecutive finite samples:

1. The expected signal change p is predicted from the neighbouring differences,
   each taken modulo one flux quantum (so that other jumps do not disturb it):
   the median of the means of the symmetric pairs of neighbours (up to 4 on
   each side), or, at the two end differences, the mean of the linear
   extrapolations through the nearest neighbours (1st and 2nd, 2nd and 4th) on
   the one side there is. Both are exact for a signal whose rate of change varies
   linearly; in the interior the median keeps a lone outlier out.
2. n = round(d - p) and the residual r = d - p - n.
3. If n != 0 and |r| <= tolerance, the difference is a flux jump of n quanta.
4. If n != 0 and |r| > tolerance, the step is *unresolved*: at least half a
   flux quantum, but not an integer number of them away from what the
   neighbours lead one to expect. It is left in the data, not removed, and
   `find_unresolved_steps` lists it.

Why unresolved steps are left alone: an FLL relock is always an exact integer,
so a step that is not within noise of an integer is either a real flux change
(a vortex hopping under the pickup loop gives a fraction of Phi0 in one sample)
or a relock during a fast real change that the data cannot separate from it.
Subtracting round(d) would invent a correction the data do not justify and turn
a real 0.6 Phi0 step into a -0.4 Phi0 one. The caller sees the unresolved steps
and decides (mask them, rescan, or pass a larger tolerance: tolerance=0.5
accepts every step of half a quantum or more as a relock, like
``np.unwrap(x, period=1)``). A real change below half a quantum per sample
(e.g. 0.4 Phi0) rounds to n = 0 and is never a jump.

Default tolerance
-----------------
From the data: sigma = 1.4826 * the median of |r| over all differences. This is
the median absolute deviation taken about zero rather than about the median, so
that a prediction error common to all differences (e.g. of a steady curvature)
counts; it is robust, since jumps have a small residual like any other
difference and the rare unresolved steps are outliers the median ignores.
Tolerance = 6 sigma, capped at 0.25 Phi0 (beyond that an integer can no longer
be told from a real step) and at least 1e-9 Phi0 (noise-free data, where the
residuals are floating-point rounding). The residuals of noise-free smooth data
are the small errors of the prediction, so the default works there too; data
with few samples (fewer than about 10) give no useful estimate: pass a tolerance.
`estimate_tolerance` returns the default for a series.

Missing samples
---------------
NaN (and infinite) samples, e.g. points not taken, are skipped: the difference is
taken across them, a jump's index is the first finite sample after it, and they
stay NaN (or infinite) in the output. The prediction works on rates (change per
sample, at the middle of each difference), so the signal change expected across
a gap of g samples is g times the rate there; its error grows with the gap, so a
jump inside a long gap (or, in noise-free data, any gap) may come out unresolved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOLERANCE_SIGMAS = 6.0  # default tolerance in robust standard deviations of the residuals
MAX_TOLERANCE = 0.25  # Phi0: cap of the default tolerance
MIN_TOLERANCE = 1e-9  # Phi0: floor of the default tolerance, for noise-free data
_MAD_TO_SIGMA = 1.4826  # sigma of a normal distribution per median absolute deviation
_NEIGHBOURS = 4  # differences on each side used to predict the signal change
_END_NEIGHBOURS = 2  # extrapolations at the end differences (more would add curvature error)


@dataclass(frozen=True)
class FluxJump:
    """A relock of the flux-locked loop.

    `index`: the first sample after the jump (series index; for an image, index
    within the row). `quanta`: the jump n in Phi0 (signed): samples from `index`
    on read n Phi0 more than the sample gave.
    """

    index: int
    quanta: int


def _as_series(series) -> np.ndarray:
    values = np.asarray(series, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"a flux series must be 1-D, got shape {values.shape}")
    return values


def _check_tolerance(tolerance: float | None) -> None:
    if tolerance is not None and not 0 <= tolerance <= 0.5:
        raise ValueError(f"tolerance must be between 0 and 0.5 Phi0, got {tolerance}")


def _expected_change(wrapped: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Signal change predicted at each difference from its neighbours (see the module docstring).

    `wrapped`: the differences modulo one Phi0; `positions`: the sample indices they
    lie between (one more than the differences). Works on rates (change per
    sample) at the middle of each difference, so that gaps of missing samples count.
    """
    m = wrapped.size
    if m < 2:
        return np.zeros(m)
    spans = np.diff(positions).astype(float)
    pad = 2 * _NEIGHBOURS
    nans = np.full(pad, np.nan)
    rate = np.concatenate([nans, wrapped / spans, nans])
    middle = np.concatenate([nans, (positions[:-1] + positions[1:]) / 2.0, nans])
    at = np.arange(m) + pad

    def line_through(a: np.ndarray, b: np.ndarray, to: np.ndarray) -> np.ndarray:
        """The rate at the middle of `to` on the straight line through the rates at `a` and `b` (NaN if absent)."""
        return rate[a] + (rate[b] - rate[a]) * (middle[to] - middle[a]) / (middle[b] - middle[a])

    # symmetric pairs of neighbours (their mean, when the samples are evenly spaced)
    candidates = np.stack([line_through(at - k, at + k, at) for k in range(1, _NEIGHBOURS + 1)], axis=1)
    # the end differences: extrapolations through the nearest (1, 2) and (2, 4) neighbours
    candidates[[0, -1]] = np.nan
    for k in range(1, _END_NEIGHBOURS + 1):
        first, last = np.array([pad]), np.array([pad + m - 1])
        candidates[0, k - 1] = line_through(first + k, first + 2 * k, first)[0]
        candidates[-1, k - 1] = line_through(last - k, last - 2 * k, last)[0]
    predicted = np.empty(m)
    known = np.isfinite(candidates).any(axis=1)
    predicted[known] = np.nanmedian(candidates[known], axis=1)
    if not known[0]:  # two differences only: nothing to extrapolate from
        predicted[0] = rate[pad + 1]
    if not known[-1]:
        predicted[-1] = rate[pad + m - 2]
    return predicted * spans


def _quanta_and_residuals(differences: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """n = round(d - p) and r = d - p - n for each difference d (p: the predicted signal change)."""
    predicted = _expected_change(differences - np.round(differences), positions)
    quanta = np.round(differences - predicted)
    return quanta, differences - predicted - quanta


def _tolerance_from(residuals: np.ndarray) -> float:
    if residuals.size == 0:
        return MIN_TOLERANCE
    sigma = _MAD_TO_SIGMA * float(np.median(np.abs(residuals)))  # about zero: a common bias counts too
    return float(np.clip(TOLERANCE_SIGMAS * sigma, MIN_TOLERANCE, MAX_TOLERANCE))


@dataclass(frozen=True)
class _Steps:
    positions: np.ndarray  # indices of the finite samples
    quanta: np.ndarray  # n at each difference between consecutive finite samples
    residuals: np.ndarray  # r at each difference

    def jumps(self, tolerance: float) -> np.ndarray:
        return (self.quanta != 0) & (np.abs(self.residuals) <= tolerance)

    def unresolved(self, tolerance: float) -> np.ndarray:
        return (self.quanta != 0) & (np.abs(self.residuals) > tolerance)


def _steps(values: np.ndarray) -> _Steps:
    positions = np.flatnonzero(np.isfinite(values))
    quanta, residuals = _quanta_and_residuals(np.diff(values[positions]), positions)
    return _Steps(positions, quanta, residuals)


def _correction(length: int, steps: _Steps, tolerance: float) -> np.ndarray:
    """Quanta to subtract at each sample: the sum of the jumps before it."""
    step = np.zeros(length, dtype=np.int64)
    step[steps.positions[1:]] = np.where(steps.jumps(tolerance), steps.quanta, 0).astype(np.int64)
    return np.cumsum(step)


def estimate_tolerance(series) -> float:
    """The default tolerance (Phi0) for a 1-D flux series (Phi0): see the module docstring."""
    return _tolerance_from(_steps(_as_series(series)).residuals)


def find_flux_jumps(series, tolerance: float | None = None) -> list[FluxJump]:
    """The flux jumps of a 1-D flux series (Phi0), in order.

    A jump is a difference between consecutive finite samples that is a non-zero
    integer number of Phi0 away from the signal change its neighbours predict,
    to within `tolerance` (Phi0, 0 to 0.5; default from the data's noise, see the
    module docstring). NaN samples are skipped.
    """
    _check_tolerance(tolerance)
    steps = _steps(_as_series(series))
    tol = _tolerance_from(steps.residuals) if tolerance is None else tolerance
    found = np.flatnonzero(steps.jumps(tol))
    return [FluxJump(int(steps.positions[i + 1]), int(steps.quanta[i])) for i in found]


def find_unresolved_steps(series, tolerance: float | None = None) -> list[int]:
    """Indices (first sample after) of steps of half a Phi0 or more that are not flux jumps.

    Such a step is not within `tolerance` of an integer number of Phi0 (after the
    predicted signal change); `unwrap_flux_jumps` leaves it in the data. Flux in
    Phi0; same `tolerance` as `find_flux_jumps`.
    """
    _check_tolerance(tolerance)
    steps = _steps(_as_series(series))
    tol = _tolerance_from(steps.residuals) if tolerance is None else tolerance
    return [int(steps.positions[i + 1]) for i in np.flatnonzero(steps.unresolved(tol))]


def unwrap_flux_jumps(series, tolerance: float | None = None) -> np.ndarray:
    """A new float array: the flux series (Phi0) minus the cumulative flux jumps.

    The first finite sample keeps its value; NaN samples stay NaN; the input is
    not modified. Jumps as in `find_flux_jumps`; unresolved steps are kept.
    """
    _check_tolerance(tolerance)
    values = _as_series(series)
    steps = _steps(values)
    tol = _tolerance_from(steps.residuals) if tolerance is None else tolerance
    return values - _correction(values.size, steps, tol)


def _line_steps(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows with a finite sample, and the flux change (Phi0) from each such row to the next.

    The change is the median over the points of the difference between the two
    lines (the sample's structure along the line cancels), or, when the lines
    have no finite point in common, the difference of their medians.
    """
    taken = np.flatnonzero(np.isfinite(rows).any(axis=1))
    changes = np.empty(max(taken.size - 1, 0))
    for j, (before, after) in enumerate(zip(rows[taken[:-1]], rows[taken[1:]])):
        common = np.isfinite(before) & np.isfinite(after)
        if common.any():
            changes[j] = np.median(after[common] - before[common])
        else:
            changes[j] = np.median(after[np.isfinite(after)]) - np.median(before[np.isfinite(before)])
    return taken, changes


def unwrap_image(image, tolerance: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unwrap the flux jumps of a scan image (Phi0), shape (lines, points): rows are scan lines.

    First each line along the scan (as `unwrap_flux_jumps`; its first sample keeps
    its value). Then the lines relative to each other: a relock between lines (or
    one removed within a line) shifts the following lines by n Phi0, so the flux
    change from each line to the next (median over the points of their difference)
    is treated as a series of differences, and its flux jumps (same rule) are
    removed from that line on. The first line with data keeps its level.

    `tolerance` (Phi0, 0 to 0.5) is used for both steps. By default: within lines,
    estimated from the residuals of all lines together; between lines, the larger
    of that and the estimate from the line-to-line changes.

    Returns (unwrapped image, quanta): quanta is an int array of the image's shape,
    the number of Phi0 subtracted at each pixel (so unwrapped = image - quanta;
    where it changes along a row or between rows, a jump was removed). NaN pixels
    stay NaN. The input is not modified. Steps that are not within the tolerance
    of an integer (unresolved, see the module docstring) are kept, within lines
    and between them; `find_unresolved_steps` on a line lists those within it.
    """
    _check_tolerance(tolerance)
    values = np.asarray(image, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"a scan image must be 2-D (lines, points), got shape {values.shape}")
    lines, points = values.shape
    row_steps = [_steps(row) for row in values]
    if tolerance is None:
        tol = _tolerance_from(np.concatenate([s.residuals for s in row_steps] + [np.empty(0)]))
    else:
        tol = tolerance
    quanta = np.zeros((lines, points), dtype=np.int64)
    for line, steps in enumerate(row_steps):
        quanta[line] = _correction(points, steps, tol)
    taken, changes = _line_steps(values - quanta)
    line_quanta, line_residuals = _quanta_and_residuals(changes, taken)
    between = _Steps(taken, line_quanta, line_residuals)
    line_tol = max(tol, _tolerance_from(line_residuals)) if tolerance is None else tolerance
    quanta += _correction(lines, between, line_tol)[:, np.newaxis]
    return values - quanta, quanta
