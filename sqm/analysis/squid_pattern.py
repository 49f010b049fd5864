"""What a SQUID's characterisation data say: its critical current from an I-V, the period
of its interference pattern (hence its effective area) and where the pattern peaks.

Units: A, V, T; flux in Phi0. Nothing here knows the twin's model: the same functions read
a real SQUID's data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

PHI0 = 2.067833848e-15  # Wb
HARMONICS = 6  # a nano-SQUID's pattern is far from a sine near its minima: a few harmonics fit it


def threshold_crossing(biases, volts, threshold: float) -> float | None:
    """The bias (A) where |V| first reaches `threshold` (V), interpolated linearly between
    the two readings around it; None when it never does."""
    biases, volts = np.asarray(biases, dtype=float), np.abs(np.asarray(volts, dtype=float))
    above = np.flatnonzero(volts >= threshold)
    if above.size == 0:
        return None
    k = int(above[0])
    if k == 0:
        return float(biases[0])
    fraction = (threshold - volts[k - 1]) / (volts[k] - volts[k - 1])
    return float(biases[k - 1] + fraction * (biases[k] - biases[k - 1]))


def normal_resistance(biases, volts, fraction: float = 0.2) -> float:
    """dV/dI (ohm) over the readings with the largest |bias| (the top `fraction` of the
    span): the SQUID's resistance once both junctions are well past their critical current."""
    biases, volts = np.asarray(biases, dtype=float), np.asarray(volts, dtype=float)
    top = np.abs(biases) >= (1 - fraction) * np.abs(biases).max()
    if np.count_nonzero(top) < 2 or np.ptp(biases[top]) == 0:
        return float("nan")
    slopes = []
    for sign in (1, -1):
        side = top & (np.sign(biases) == sign)
        if np.count_nonzero(side) >= 2 and np.ptp(biases[side]) > 0:
            slopes.append(np.polyfit(biases[side], volts[side], 1)[0])
    return float(np.mean(slopes)) if slopes else float("nan")


def _fourier_design(fields: np.ndarray, period: float) -> np.ndarray:
    phase = 2 * np.pi * fields / period
    columns = [np.ones_like(fields)]
    for n in range(1, HARMONICS + 1):
        columns += [np.cos(n * phase), np.sin(n * phase)]
    return np.column_stack(columns)


def _residual(fields: np.ndarray, values: np.ndarray, period: float) -> float:
    design = _fourier_design(fields, period)
    coefficients, *_ = np.linalg.lstsq(design, values, rcond=None)
    return float(np.sum((design @ coefficients - values) ** 2))


@dataclass(frozen=True)
class PatternFit:
    """A periodic pattern fitted to readings against the applied field."""

    period: float  # T
    coefficients: np.ndarray  # of the Fourier series (constant, then cos/sin pairs)

    @property
    def effective_area(self) -> float:
        """m^2: one flux quantum per period."""
        return PHI0 / self.period

    def __call__(self, fields) -> np.ndarray:
        return _fourier_design(np.asarray(fields, dtype=float), self.period) @ self.coefficients

    def maximum_field(self) -> float:
        """The field (T) in [-period/2, period/2) where the fitted pattern peaks."""
        fields = np.linspace(-self.period / 2, self.period / 2, 4001)[:-1]
        best = fields[int(np.argmax(self(fields)))]
        step = fields[1] - fields[0]
        refined = minimize_scalar(lambda b: -float(self(np.array([b]))[0]), bounds=(best - step, best + step),
                                  method="bounded", options={"xatol": self.period * 1e-7})
        return float(refined.x)

    def maximum_flux(self) -> float:
        """Where the pattern peaks, in flux quanta of applied flux (Phi0, in [-1/2, 1/2))."""
        return self.maximum_field() / self.period


PEAK_WINDOW = 0.04  # of a period either side of the highest reading: the parabola through the top


def peak_flux(fields, values, period: float) -> float:
    """Where readings against the field (T) peak, in flux quanta of applied flux (Phi0, in
    [-1/2, 1/2)): the vertex of a parabola through the readings within PEAK_WINDOW of a
    period of the highest one (a Fourier series rings at the pattern's cusps; the top is smooth)."""
    fields, values = np.asarray(fields, dtype=float), np.asarray(values, dtype=float)
    keep = np.isfinite(values)
    fields, values = fields[keep], values[keep]
    top = fields[int(np.argmax(values))]
    near = np.abs(fields - top) <= PEAK_WINDOW * period
    if np.count_nonzero(near) < 3:
        raise ValueError(f"fewer than 3 readings within {PEAK_WINDOW:g} of a period of the peak: take smaller steps")
    curvature, slope, _ = np.polyfit(fields[near] - top, values[near], 2)
    vertex = top - slope / (2 * curvature) if curvature < 0 else top
    return float((vertex / period + 0.5) % 1.0 - 0.5)


def fit_pattern(fields, values) -> PatternFit:
    """The period (T) and shape of a pattern read at `fields` (T, at least about one and a
    half periods): the strongest Fourier component of the evenly spaced readings first,
    then the period that a Fourier series of HARMONICS harmonics fits best."""
    fields, values = np.asarray(fields, dtype=float), np.asarray(values, dtype=float)
    keep = np.isfinite(values)
    fields, values = fields[keep], values[keep]
    if fields.size < 8 * HARMONICS // 2:
        raise ValueError(f"{fields.size} readings are too few to fit an interference pattern")
    span = np.ptp(fields)
    spectrum = np.abs(np.fft.rfft(values - values.mean(), n=16 * fields.size))
    frequencies = np.fft.rfftfreq(16 * fields.size, d=span / (fields.size - 1))
    spectrum[frequencies < 1.0 / span] = 0  # less than one period in the range says nothing
    if not spectrum.any():
        raise ValueError("the readings hold less than one period of the pattern: sweep a wider field range")
    guess = 1.0 / frequencies[int(np.argmax(spectrum))]
    found = minimize_scalar(lambda period: _residual(fields, values, period), bounds=(0.8 * guess, 1.25 * guess),
                            method="bounded", options={"xatol": guess * 1e-7})
    period = float(found.x)
    coefficients, *_ = np.linalg.lstsq(_fourier_design(fields, period), values, rcond=None)
    return PatternFit(period, coefficients)
