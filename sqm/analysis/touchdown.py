"""Contact in a touchdown's approach curve: the touchdown sensor's signal against z.

While the sensor approaches, the bridge signal rises smoothly as the gap closes; at
contact the gap stops closing and the signal stops rising: its slope against z changes.
`contact_reached` tells, reading by reading, when the last readings have left the straight
line of the approach before them by many times the noise (so the approach stops a few
steps past contact); `locate_contact` then fits two lines, the approach and the contact,
and takes their crossing as the contact height, with its standard error. The labs'
touchdown codes fit two lines the same way.

z in m (the scanner's coordinate, decreasing as the sensor approaches), signal in V.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Readings past contact that must all fall below the approach line before contact is
# declared: one noisy reading never stops an approach, and three steps stay far inside
# a mount's compliance.
CONFIRM = 3
# Readings of the approach the straight line is fitted to (the curve is smooth over them).
WINDOW = 12
# Readings taken in contact after it is told, for the contact line (the two-line fit's
# error halves with them); with CONFIRM, the sensor is pressed at most about
# (CONFIRM + 1 + EXTRA_IN_CONTACT) steps past contact: 140 nm in 20 nm steps.
EXTRA_IN_CONTACT = 3
# How many standard errors below the approach line the mean of the last CONFIRM readings
# must be (each of them below it): 8, so that even a scatter underestimated by a quarter
# leaves a false contact at 6 sigma, once in ~1e9 readings.
THRESHOLD = 8.0


@dataclass(frozen=True)
class Contact:
    """Where the approach met the surface (m) and how well that is known."""

    z: float  # m, the crossing of the approach line and the contact line
    uncertainty: float  # m, its standard error from both fits
    approach_slope: float  # V/m of the approach line (negative: the signal rises as z falls)
    contact_slope: float  # V/m once in contact
    first_in_contact: int  # index of the first reading taken in contact


def _line(zs: np.ndarray, signals: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Least-squares line signal = a z + b: (a, b), their covariance, and the rms residual."""
    design = np.column_stack([zs, np.ones_like(zs)])
    coefficients, *_ = np.linalg.lstsq(design, signals, rcond=None)
    residuals = signals - design @ coefficients
    dof = max(zs.size - 2, 1)
    sigma2 = float(residuals @ residuals) / dof
    covariance = sigma2 * np.linalg.pinv(design.T @ design)
    return coefficients, covariance, float(np.sqrt(sigma2))


def _straight_line(zs: np.ndarray, signals: np.ndarray) -> tuple[float, float, float]:
    """Least-squares line signal = a z + b in closed form: (a, b, rms residual); fast, for
    the test made at every reading."""
    z_mean, s_mean = zs.mean(), signals.mean()
    dz = zs - z_mean
    slope = float(dz @ (signals - s_mean) / (dz @ dz))
    offset = float(s_mean - slope * z_mean)
    residuals = signals - (slope * zs + offset)
    return slope, offset, float(np.sqrt(residuals @ residuals / max(zs.size - 2, 1)))


def reading_noise(signals) -> float:
    """The scatter (V) of single readings, from all of an approach so far: the median
    absolute second difference, which a smooth approach curve hardly adds to (for white
    noise of sigma s it is 0.6745 sqrt(6) s). Far steadier than the scatter about a short
    line, which a run of lucky readings makes small."""
    signals = np.asarray(signals, dtype=float)
    if signals.size < 5:
        return 0.0
    second = signals[2:] - 2 * signals[1:-1] + signals[:-2]
    return float(np.median(np.abs(second - np.median(second))) / (0.6745 * np.sqrt(6.0)))


def contact_reached(zs, signals, noise: float) -> bool:
    """Whether the last CONFIRM readings have all fallen below the straight line of the
    WINDOW readings before them, their mean by more than THRESHOLD standard errors of a
    mean of CONFIRM readings: the signal has stopped rising with the approach. The
    readings' scatter is the larger of `noise` (V, what the caller expects), the scatter
    about the line, and that of the whole approach so far (`reading_noise`)."""
    zs, signals = np.asarray(zs, dtype=float), np.asarray(signals, dtype=float)
    if zs.size < CONFIRM + WINDOW:  # the approach's line and its scatter need a whole window first
        return False
    start = zs.size - CONFIRM - WINDOW
    slope, offset, scatter = _straight_line(zs[start:-CONFIRM], signals[start:-CONFIRM])
    expected = slope * zs[-CONFIRM:] + offset
    shortfall = expected - signals[-CONFIRM:]
    sigma = max(scatter, noise, reading_noise(signals[:-CONFIRM]))
    enough = THRESHOLD * sigma / np.sqrt(CONFIRM)
    # Contact leaves the signal where it was: the shortfall is the rise the approach line
    # expected. Far from the surface that rise is lost in the noise, and nothing is judged.
    expected_rise = float(np.mean(expected - (slope * zs[-CONFIRM - 1] + offset)))
    return bool(expected_rise > enough and np.all(shortfall > 0) and shortfall.mean() > enough)


def locate_contact(zs, signals, noise: float, trailing: int = CONFIRM) -> Contact:
    """The contact of an approach that `contact_reached` stopped: the approach line fitted
    to the readings before contact, the contact line to those after, and their crossing.
    `trailing`: the readings at the end from the first that confirmed contact on (CONFIRM,
    plus any taken in contact after it was told)."""
    zs, signals = np.asarray(zs, dtype=float), np.asarray(signals, dtype=float)
    if zs.size < trailing + 4:
        raise ValueError(f"an approach of {zs.size} readings is too short to locate a contact")
    # The first reading in contact: the earliest after which every reading lies below the
    # approach line (fitted to the readings before the confirming ones).
    end = zs.size - trailing
    start = max(0, end - WINDOW)
    (slope, offset), _, scatter = _line(zs[start:end], signals[start:end])
    below = (slope * zs + offset - signals) > 2.0 * max(scatter, noise)
    first = end
    while first > start + 2 and below[first - 1]:
        first -= 1
    approach = slice(max(0, first - WINDOW), first)
    (a1, b1), cov1, _ = _line(zs[approach], signals[approach])
    contact_z, contact_signal = zs[first:], signals[first:]
    if contact_z.size >= 2:
        (a2, b2), cov2, _ = _line(contact_z, contact_signal)
    else:  # one reading in contact: a flat line through it
        a2, b2, cov2 = 0.0, float(contact_signal[0]), np.diag([0.0, noise**2])
    z = (b2 - b1) / (a1 - a2)
    # standard error by the delta method: z depends on (a1, b1) and (a2, b2), fitted apart
    gradient1 = np.array([-z / (a1 - a2), -1.0 / (a1 - a2)])
    gradient2 = np.array([z / (a1 - a2), 1.0 / (a1 - a2)])
    variance = gradient1 @ cov1 @ gradient1 + gradient2 @ cov2 @ gradient2
    return Contact(float(z), float(np.sqrt(max(variance, 0.0))), float(a1), float(a2), int(first))
