"""Hysteresis-loop analysis of a park-point sweep.

A sweep is stored as three 1-D arrays of equal length, in acquisition order:
x (bias current [A] or field [T]), flux [Phi0], and an integer branch index per
point: 0 = the virgin branch from 0, then 1, 2, ... one per monotone segment.
A branch is passed around as a tuple (x, flux). The functions tolerate white flux
noise of ~1 uPhi0 on signals of ~1 mPhi0: extrema are located on a window and
refined by a least-squares parabola, and zero crossings can ignore points
inside a noise floor.
"""

from __future__ import annotations

import numpy as np

Branch = tuple[np.ndarray, np.ndarray]


def _as_branch(x, flux) -> Branch:
    x = np.asarray(x, dtype=float)
    flux = np.asarray(flux, dtype=float)
    if x.ndim != 1 or x.shape != flux.shape or x.size == 0:
        raise ValueError("x and flux must be non-empty 1-D arrays of equal length")
    return x, flux


def _sorted_by_x(x: np.ndarray, flux: np.ndarray) -> Branch:
    order = np.argsort(x, kind="stable")
    return x[order], flux[order]


def split_branches(x, flux, branch) -> list[Branch]:
    """Split a sweep into its branches.

    x [A or T], flux [Phi0], branch (int per point). Returns one (x, flux) tuple per
    distinct branch index, in increasing index order, points in acquisition order.
    """
    x, flux = _as_branch(x, flux)
    branch = np.asarray(branch)
    if branch.shape != x.shape:
        raise ValueError("branch must have one index per point")
    return [(x[branch == b], flux[branch == b]) for b in np.unique(branch)]


def oersted_slope(x, flux, max_abs_x: float) -> float:
    """Least-squares slope through the origin [Phi0 per unit of x].

    Uses the points with |x| <= max_abs_x (the linear, reversible part of the
    virgin branch: below the switching onset, before any remanence).
    """
    x, flux = _as_branch(x, flux)
    used = np.abs(x) <= max_abs_x
    denominator = float(np.sum(x[used] ** 2))
    if denominator == 0.0:
        raise ValueError("no points with 0 < |x| <= max_abs_x")
    return float(np.sum(x[used] * flux[used]) / denominator)


def remove_linear(x, flux, slope: float) -> np.ndarray:
    """Flux [Phi0] minus slope * x (e.g. removes the Oersted contribution)."""
    x, flux = _as_branch(x, flux)
    return flux - slope * x


def _parabolic_vertex(x: np.ndarray, y: np.ndarray, index: int, half_width: int,
                      want_minimum: bool) -> float:
    """Vertex of a least-squares parabola through points index +- half_width.

    Falls back to x[index] when the fit has the wrong curvature; the result is
    clamped to the span of the fitted points.
    """
    lo, hi = max(index - half_width, 0), min(index + half_width + 1, x.size)
    if hi - lo < 3:
        return float(x[index])
    xs, ys = x[lo:hi], y[lo:hi]
    scale = float(np.max(np.abs(xs - x[index])))
    if scale == 0.0:
        return float(x[index])
    # Centre and scale so the normal equations are well conditioned.
    t = (xs - x[index]) / scale
    a, b, _ = np.polyfit(t, ys, 2)
    if (a > 0.0) != want_minimum or a == 0.0:
        return float(x[index])
    vertex = x[index] - b / (2.0 * a) * scale
    return float(np.clip(vertex, np.min(xs), np.max(xs)))


def first_minimum(x, flux, window: int = 5, refine_half_width: int = 2) -> float:
    """Location [units of x] of the first interior minimum along a branch.

    Walking in acquisition order, the first point that is the lowest of the
    2 * window + 1 points centred on it (and not within `window` points of an
    end) is taken; a least-squares parabola through +- refine_half_width points
    refines it. The window makes single noisy points irrelevant. Raises
    ValueError if the branch has no interior minimum.
    """
    x, flux = _as_branch(x, flux)
    for i in range(window, x.size - window):
        if flux[i] <= np.min(flux[i - window:i + window + 1]):
            return _parabolic_vertex(x, flux, i, refine_half_width, want_minimum=True)
    raise ValueError("branch has no interior minimum")


def zero_crossings(x, flux, noise_floor: float = 0.0) -> np.ndarray:
    """x values [units of x] where the flux changes sign, by linear interpolation.

    Points with |flux| <= noise_floor [Phi0] have no sign; a crossing is recorded
    between consecutive signed points of opposite sign, so noise around a slow
    crossing (or an exact zero at the start of a virgin branch) is not counted.
    """
    x, flux = _as_branch(x, flux)
    signed = np.flatnonzero(np.abs(flux) > noise_floor)
    crossings = []
    for i, j in zip(signed[:-1], signed[1:]):
        if np.sign(flux[i]) != np.sign(flux[j]):
            crossings.append(x[i] - flux[i] * (x[j] - x[i]) / (flux[j] - flux[i]))
    return np.asarray(crossings, dtype=float)


def switching_point(x, flux, refine_half_width: int = 2) -> float:
    """Switching drive [units of x] of a branch.

    Definition: on a descending branch (x decreasing) the flux rises as the
    Oersted term grows until the hysterons switch and the flux drops sharply;
    the switching point is the x of the flux maximum (argmax), refined by a
    least-squares parabola through +- refine_half_width points. On an
    ascending branch the mirror definition (argmin) is used.
    """
    x, flux = _as_branch(x, flux)
    if x.size < 2:
        raise ValueError("a branch needs at least two points")
    descending = x[-1] < x[0]
    index = int(np.argmax(flux) if descending else np.argmin(flux))
    return _parabolic_vertex(x, flux, index, refine_half_width, want_minimum=not descending)


def value_at(x, flux, x0: float, half_width: int = 0) -> float:
    """Flux [Phi0] of a branch at x0 [units of x].

    half_width = 0: linear interpolation between the neighbouring points.
    half_width > 0: least-squares line through the 2 * half_width + 1 points
    nearest x0, which averages white noise down. Raises ValueError outside the
    range of x.
    """
    x, flux = _as_branch(x, flux)
    xs, ys = _sorted_by_x(x, flux)
    if not xs[0] <= x0 <= xs[-1]:
        raise ValueError(f"x0 = {x0!r} is outside the branch range [{xs[0]}, {xs[-1]}]")
    if half_width <= 0 or xs.size < 2:
        return float(np.interp(x0, xs, ys))
    nearest = np.sort(np.argsort(np.abs(xs - x0), kind="stable")[:2 * half_width + 1])
    slope, intercept = np.polyfit(xs[nearest] - x0, ys[nearest], 1)
    return float(intercept)


def _overlap_difference(x_a, flux_a, x_b, flux_b) -> np.ndarray:
    """flux_a - flux_b on the points of a inside the x range of b (b interpolated)."""
    xs_b, ys_b = _sorted_by_x(x_b, flux_b)
    inside = (x_a >= xs_b[0]) & (x_a <= xs_b[-1])
    if not np.any(inside):
        raise ValueError("the branches do not overlap")
    return flux_a[inside] - np.interp(x_a[inside], xs_b, ys_b)


def antisymmetry_error(desc_x, desc_flux, asc_x, asc_flux) -> float:
    """max |Phi_asc(x) + Phi_desc(-x)| [Phi0] over the ascending branch's points.

    The descending branch is mirrored (x -> -x, flux -> -flux) and interpolated
    onto the ascending points; 0 for an exactly antisymmetric loop.
    """
    desc_x, desc_flux = _as_branch(desc_x, desc_flux)
    asc_x, asc_flux = _as_branch(asc_x, asc_flux)
    return float(np.max(np.abs(_overlap_difference(asc_x, asc_flux, -desc_x, -desc_flux))))


def merge_error(branch_a: Branch, branch_b: Branch, x_min: float) -> float:
    """max |Phi_a(x) - Phi_b(x)| [Phi0] for x >= x_min [units of x].

    Evaluated on branch a's points, branch b interpolated (e.g. a = ascending
    major-loop branch, b = virgin branch).
    """
    x_a, flux_a = _as_branch(*branch_a)
    x_b, flux_b = _as_branch(*branch_b)
    above = x_a >= x_min
    if not np.any(above):
        raise ValueError("branch a has no points with x >= x_min")
    return float(np.max(np.abs(_overlap_difference(x_a[above], flux_a[above], x_b, flux_b))))
