"""Two-junction (dc) nano-SQUID sensor: critical current and voltage versus flux, SI units.

Model. Junction k = 1, 2 has a sinusoidal current-phase relation, critical current I_k and arm
inductance L_k: I1 = I0 (1 + alpha_I), I2 = I0 (1 - alpha_I), L1 = L (1 + alpha_L) / 2,
L2 = L (1 - alpha_L) / 2. Sign convention: both arm currents J_k = I_k sin d_k flow along the
bias, I = J1 + J2, the loop holds the flux phi + (L1 J1 - L2 J2) / Phi0 (phi: applied flux in
Phi0), and the fluxoid condition is

    d2 - d1 = 2 pi (phi + (L1 J1 - L2 J2) / Phi0)        (mod 2 pi),

which screens at I = 0 (loop flux below phi), as it must. With b_k = 2 pi L_k I_k / Phi0 it reads
d2 + b2 sin d2 = d1 + b1 sin d1 + 2 pi phi: if one arm has b < 1 its phase is a single-valued
function of the other's, and the stationary states form one closed curve. Ic+ (Ic-) is the
largest positive (negative) current on it, found exactly (no expansion in L). Approximation: this
envelope over all fluxoid states ignores which state the SQUID was left in. Screening with b >= 1
in both arms (symmetric SQUID: beta_L >= 2/pi) is refused.

Ic+- have period 1 in phi and Ic+(phi) = Ic-(-phi). Ic+- reaches I1 + I2 at d1 = d2 = +-pi/2,
i.e. at phi = -+(L1 I1 - L2 I2) / Phi0 = -+ beta_L (alpha_I + alpha_L) / 2: asymmetry skews the
pattern, Ic+ and Ic- shifting oppositely. Where two states carry the same current the envelope
has a kink (a symmetric SQUID at phi = 1/2).

Table. Ic+- and dIc+-/dphi (envelope theorem) are solved at TABLE_POINTS knots once per parameter
set and interpolated (`CriticalCurrentTable`). Measured against the direct solution for beta_L
1e-4..0.6, alpha_I 0..0.3, alpha_L -0.5..0.6: Ic within 2e-6 of I1 + I2, dIc/dphi within 1e-6 of
2 pi (I1 + I2). Exceptions: a symmetric SQUID with beta_L < ~1e-2, whose minimum is rounded on a
flux scale below the knot spacing (Ic within 3e-5 there), and the knot interval holding a kink,
where the slope is that of the larger of the two knots' tangents.

Voltage: one overdamped RSJ junction with critical current Ic+-(phi) and resistance R/2 (see
`voltage`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import scipy.constants

PHI0 = scipy.constants.physical_constants["mag. flux quantum"][0]  # Wb, 2.067833848e-15

TABLE_POINTS = 2048  # knots of the Ic table over one flux period
PHASE_POINTS = 256  # coarse phase grid on which the largest supercurrent is first located
GOLDEN_STEPS = 32  # shrink the bracket of each maximum by 0.618**32 ~ 2e-7
KINK_RATIO = 3.0  # a slope jump this many times the neighbours' marks a kinked interval


@dataclass(frozen=True)
class SquidSensorParameters:
    """A dc SQUID with two junctions; defaults are a 60 uA, 10 pH nano-SQUID (beta_L ~ 0.58)."""

    junction_critical_current: float = 60e-6  # A, mean critical current I0 of the two junctions
    critical_current_asymmetry: float = 0.0  # alpha_I = (I1 - I2) / (I1 + I2), in [0, 1)
    loop_inductance: float = 10e-12  # H, L = L1 + L2
    inductance_asymmetry: float = 0.0  # alpha_L = (L1 - L2) / (L1 + L2), in (-1, 1)
    shunt_resistance: float = 20.0  # ohm, each junction's resistance in the RSJ model
    effective_area: float = 0.79e-12  # m^2: applied field B (T) gives B * A_eff / Phi0 flux quanta

    def __post_init__(self) -> None:
        requirements = {  # field: (holds, what it must be)
            "junction_critical_current": (self.junction_critical_current > 0, "> 0"),
            "critical_current_asymmetry": (0 <= self.critical_current_asymmetry < 1, "in [0, 1)"),
            "loop_inductance": (self.loop_inductance >= 0, ">= 0"),
            "inductance_asymmetry": (-1 < self.inductance_asymmetry < 1, "in (-1, 1)"),
            "shunt_resistance": (self.shunt_resistance > 0, "> 0"),
            "effective_area": (self.effective_area > 0, "> 0"),
        }
        for name, (holds, requirement) in requirements.items():
            value = getattr(self, name)
            if not (holds and math.isfinite(value)):
                raise ValueError(f"{name} must be finite and {requirement}, got {value!r}")

    @property
    def junction_currents(self) -> tuple[float, float]:
        """(I1, I2) in A."""
        i0, alpha = self.junction_critical_current, self.critical_current_asymmetry
        return i0 * (1 + alpha), i0 * (1 - alpha)

    @property
    def arm_inductances(self) -> tuple[float, float]:
        """(L1, L2) in H."""
        half, alpha = 0.5 * self.loop_inductance, self.inductance_asymmetry
        return half * (1 + alpha), half * (1 - alpha)

    @property
    def arm_screening(self) -> tuple[float, float]:
        """(b1, b2) = 2 pi L_k I_k / Phi0, dimensionless."""
        (l1, l2), (i1, i2) = self.arm_inductances, self.junction_currents
        return 2 * np.pi * l1 * i1 / PHI0, 2 * np.pi * l2 * i2 / PHI0

    @property
    def beta_L(self) -> float:
        """Screening parameter 2 L I0 / Phi0, dimensionless."""
        return 2 * self.loop_inductance * self.junction_critical_current / PHI0

    @property
    def period_field(self) -> float:
        """Applied field (T) that adds one flux quantum to the loop."""
        return PHI0 / self.effective_area


def critical_current_small_inductance(params: SquidSensorParameters, phi) -> np.ndarray:
    """Ic (A) in the limit beta_L -> 0, the same for both bias signs; phi in Phi0."""
    angle = np.pi * np.asarray(phi, dtype=float)
    alpha = params.critical_current_asymmetry
    return 2 * params.junction_critical_current * np.sqrt(np.cos(angle) ** 2 + alpha**2 * np.sin(angle) ** 2)


def maximum_flux(params: SquidSensorParameters, sign: int = +1) -> float:
    """Flux (Phi0, in [-0.5, 0.5)) where Ic+ (sign +1) or Ic- (sign -1) reaches I1 + I2; exact for any L."""
    if sign not in (+1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign!r}")
    (l1, l2), (i1, i2) = params.arm_inductances, params.junction_currents
    shift = -sign * (l1 * i1 - l2 * i2) / PHI0  # fluxoid condition with d1 = d2 = sign * pi / 2
    return float((shift + 0.5) % 1.0 - 0.5)


def _solve_phase(rhs: np.ndarray, screening: float) -> np.ndarray:
    """Solve d + screening sin d = rhs for d (rad); unique because screening < 1.

    Newton steps, safeguarded by bisection inside the bracket |d - rhs| < 1 (wider than the
    bound |d - rhs| <= screening, whose ends can be roots and would reject every Newton step)."""
    phase, low, high = rhs.copy(), rhs - 1.0, rhs + 1.0
    for _ in range(100):
        residual = phase + screening * np.sin(phase) - rhs
        low, high = np.where(residual < 0, phase, low), np.where(residual > 0, phase, high)
        stepped = phase - residual / (1 + screening * np.cos(phase))
        stepped = np.where((stepped < low) | (stepped > high), 0.5 * (low + high), stepped)
        converged = np.max(np.abs(stepped - phase), initial=0.0) < 1e-12
        phase = stepped
        if converged:
            break
    return phase


class _StationaryStates:
    """The curve of stationary states, parametrised by the phase of the arm with the larger screening."""

    def __init__(self, params: SquidSensorParameters) -> None:
        (b1, b2), (i1, i2) = params.arm_screening, params.junction_currents
        if min(b1, b2) >= 1:
            raise ValueError(f"screening too strong for this solver: 2 pi L_k I_k / Phi0 = {b1:.3g}, {b2:.3g}; "
                             f"one arm must be below 1 (beta_L = {params.beta_L:.3g}; < 2/pi when symmetric)")
        # Fluxoid condition solved for the inner arm: d_in + b_in sin d_in = d_out + b_out sin d_out + sign 2 pi phi
        outer_is_first = b1 >= b2
        self.outer_current, self.inner_current = (i1, i2) if outer_is_first else (i2, i1)
        self.outer_screening, self.inner_screening = (b1, b2) if outer_is_first else (b2, b1)
        self.flux_sign = 1.0 if outer_is_first else -1.0

    def supercurrent(self, outer_phase: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bias current I (A) of the state, and dI/dphi (A per Phi0) at fixed outer phase."""
        rhs = outer_phase + self.outer_screening * np.sin(outer_phase) + self.flux_sign * 2 * np.pi * phi
        inner_phase = _solve_phase(rhs, self.inner_screening)
        current = self.outer_current * np.sin(outer_phase) + self.inner_current * np.sin(inner_phase)
        inner_per_flux = self.flux_sign * 2 * np.pi / (1 + self.inner_screening * np.cos(inner_phase))
        return current, self.inner_current * np.cos(inner_phase) * inner_per_flux


def _golden_maximum(function, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Argument of the maximum of `function` in [low, high] (elementwise), assumed unimodal there."""
    ratio = (math.sqrt(5) - 1) / 2
    left, right = high - ratio * (high - low), low + ratio * (high - low)
    f_left, f_right = function(left), function(right)
    for _ in range(GOLDEN_STEPS):
        keep_left = f_left >= f_right
        low, high = np.where(keep_left, low, left), np.where(keep_left, right, high)
        new = np.where(keep_left, high - ratio * (high - low), low + ratio * (high - low))
        f_new = function(new)
        left, right = np.where(keep_left, new, right), np.where(keep_left, left, new)
        f_left, f_right = np.where(keep_left, f_new, f_right), np.where(keep_left, f_left, f_new)
    return np.where(f_left >= f_right, left, right)


def _exact_envelope(params: SquidSensorParameters, phi) -> tuple[np.ndarray, np.ndarray]:
    """Ic+ and Ic- (A, shape (2, n)) and their flux derivatives (A per Phi0) at the flat array phi."""
    states = _StationaryStates(params)
    flux = np.asarray(phi, dtype=float).reshape(-1, 1)
    spacing = 2 * np.pi / PHASE_POINTS
    grid = spacing * np.arange(PHASE_POINTS)
    current_on_grid = states.supercurrent(grid[None, :], flux)[0]
    critical, slope = np.empty((2, flux.size)), np.empty((2, flux.size))
    for row, direction in enumerate((1.0, -1.0)):
        signed = direction * current_on_grid
        is_peak = (signed >= np.roll(signed, 1, axis=1)) & (signed > np.roll(signed, -1, axis=1))
        # Refine the two highest grid peaks: where two states compete, the grid may rank them wrongly.
        peaks = np.argsort(np.where(is_peak, signed, -np.inf), axis=1)[:, -2:]
        phase = _golden_maximum(lambda p: direction * states.supercurrent(p, flux)[0],
                                grid[peaks] - spacing, grid[peaks] + spacing)
        current, current_per_flux = states.supercurrent(phase, flux)
        best = np.argmax(direction * current, axis=1)[:, None]
        critical[row] = np.take_along_axis(direction * current, best, axis=1)[:, 0]
        # Envelope theorem: dIc/dphi is the partial derivative at the maximising state.
        slope[row] = np.take_along_axis(direction * current_per_flux, best, axis=1)[:, 0]
    return critical, slope


def exact_critical_currents(params: SquidSensorParameters, phi) -> tuple[np.ndarray, np.ndarray]:
    """(Ic+, Ic-) in A, both positive, computed directly (no table, slow); phi in Phi0."""
    phi = np.asarray(phi, dtype=float)
    critical = _exact_envelope(params, phi.ravel())[0]
    return critical[0].reshape(phi.shape), critical[1].reshape(phi.shape)


@dataclass(frozen=True, eq=False)
class CriticalCurrentTable:
    """Ic+- (A) and dIc+-/dphi (A per Phi0) at TABLE_POINTS knots over one flux period.

    Between knots: cubic Hermite through the exact values and slopes; on an interval that holds a
    kink of the envelope (a slope jump much larger than the neighbours'), the larger of the two
    knots' tangent lines instead, which keeps the kink sharp."""

    critical: np.ndarray  # (2, M): Ic+, Ic-
    slope: np.ndarray  # (2, M)
    kinked: np.ndarray  # (2, M) bool: interval [j, j + 1] holds a kink

    def __call__(self, phi) -> tuple[np.ndarray, np.ndarray]:
        """(Ic, dIc/dphi), each of shape (2, *phi.shape): row 0 for Ic+, row 1 for Ic-."""
        points = self.critical.shape[1]
        position = np.mod(np.asarray(phi, dtype=float), 1.0) * points
        start = np.minimum(position.astype(int), points - 1)
        t = position - start
        end = (start + 1) % points
        y0, y1 = self.critical[:, start], self.critical[:, end]
        s0, s1 = self.slope[:, start] / points, self.slope[:, end] / points  # per unit t
        t2 = t * t
        t3 = t2 * t
        rise = 3 * t2 - 2 * t3  # Hermite basis: weight of y1 (of y0: 1 - rise)
        value = y0 + rise * (y1 - y0) + (t3 - 2 * t2 + t) * s0 + (t3 - t2) * s1
        per_t = 6 * (t - t2) * (y1 - y0) + (3 * t2 - 4 * t + 1) * s0 + (3 * t2 - 2 * t) * s1
        left_line, right_line = y0 + s0 * t, y1 + s1 * (t - 1)
        kink_value = np.maximum(left_line, right_line)
        kink_per_t = np.where(left_line >= right_line, s0, s1)
        kinked = self.kinked[:, start]
        return np.where(kinked, kink_value, value), np.where(kinked, kink_per_t, per_t) * points


@functools.lru_cache(maxsize=32)
def critical_current_table(params: SquidSensorParameters) -> CriticalCurrentTable:
    """The Ic table of `params`, built once per parameter set (cached)."""
    critical, slope = _exact_envelope(params, np.arange(TABLE_POINTS) / TABLE_POINTS)
    jump = np.abs(np.roll(slope, -1, axis=1) - slope)  # across interval [j, j + 1]
    neighbours = np.maximum(np.roll(jump, 1, axis=1), np.roll(jump, -1, axis=1))
    kinked = (jump > KINK_RATIO * neighbours) & (jump > 1e-6 * np.sum(params.junction_currents))
    return CriticalCurrentTable(critical, slope, kinked)


def critical_currents(params: SquidSensorParameters, phi) -> tuple[np.ndarray, np.ndarray]:
    """(Ic+, Ic-) in A, both positive: the largest positive and negative supercurrent at flux phi (Phi0)."""
    critical = critical_current_table(params)(phi)[0]
    return critical[0], critical[1]


def _bias_state(params: SquidSensorParameters, bias, phi):
    """Broadcast bias (A) and phi (Phi0); Ic and dIc/dphi of the bias's sign; (R/2) sqrt(I^2 - Ic^2), 0 below Ic."""
    bias, phi = np.broadcast_arrays(np.asarray(bias, dtype=float), np.asarray(phi, dtype=float))
    critical, slope = critical_current_table(params)(phi)
    positive = bias >= 0
    ic, ic_slope = np.where(positive, critical[0], critical[1]), np.where(positive, slope[0], slope[1])
    half_resistance = 0.5 * params.shunt_resistance
    return bias, ic, ic_slope, half_resistance * np.sqrt(np.maximum(bias**2 - ic**2, 0.0))


def voltage(params: SquidSensorParameters, bias, phi) -> np.ndarray:
    """Time-averaged voltage (V) at bias current `bias` (A) and flux phi (Phi0), broadcast.

    Overdamped RSJ: V = sign(I) (R/2) sqrt(I^2 - Ic^2) above Ic, 0 below, with Ic = Ic+(phi) for
    positive bias and Ic-(phi) for negative. Exact for L -> 0 with equal shunts (the two junctions
    then share one phase and act as one junction with Ic(phi) and R/2). Approximation for finite L:
    it ignores the loop's own dynamics in the running state, keeping only its static Ic."""
    bias, _, _, magnitude = _bias_state(params, bias, phi)
    return np.sign(bias) * magnitude


def flux_transfer(params: SquidSensorParameters, bias, phi) -> np.ndarray:
    """dV/dphi (V per Phi0) of `voltage`, from dIc/dphi of the table; 0 in the superconducting state.

    It diverges as I -> Ic from above where dIc/dphi != 0 (a property of the noiseless RSJ model)."""
    bias, ic, ic_slope, magnitude = _bias_state(params, bias, phi)
    running = magnitude > 0
    # d/dphi (R/2) sqrt(I^2 - Ic^2) = -(R/2)^2 Ic dIc/dphi / ((R/2) sqrt(I^2 - Ic^2))
    half_resistance = 0.5 * params.shunt_resistance
    transfer = -np.sign(bias) * half_resistance**2 * ic * ic_slope / np.where(running, magnitude, 1.0)
    return np.where(running, transfer, 0.0)


def best_working_point(params: SquidSensorParameters, bias_values, phi_values) -> tuple[float, float, float]:
    """(bias A, phi Phi0, dV/dphi V per Phi0) where |dV/dphi| is largest on the grid bias_values x phi_values."""
    bias = np.asarray(bias_values, dtype=float).reshape(-1, 1)
    phi = np.asarray(phi_values, dtype=float).reshape(1, -1)
    transfer = flux_transfer(params, bias, phi)
    row, column = np.unravel_index(np.argmax(np.abs(transfer)), transfer.shape)
    return float(bias[row, 0]), float(phi[0, column]), float(transfer[row, column])
