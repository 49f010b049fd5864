"""The twin's nano-SQUID as a sensor: its bias, its voltage, and the readout of its flux.

The SQUID sees the total flux: the applied field through its effective area plus the
sample's flux through the pickup loop (and the sensor's flux noise). Its voltage at a
bias is that of the two-junction model (sims.squid_sensor) with the I-V rounded by noise.
The flux readout is either

- the flux-locked loop (sims.flux_locked_loop): linear in flux within its slew, integer
  flux jumps beyond it; or
- open loop at a working point: the voltage there, converted to flux with the transfer
  measured at the working point (nonlinear for anything beyond a fraction of Phi0).

Either way the readout's offset removes the applied field's flux through the effective
area (the background a lab subtracts with the area it calibrated from the interference
pattern), so the flux reported is the sample's, as the paper's figures show it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sqm.errors import InstrumentError

from .flux_locked_loop import FluxLockedLoop, FluxLockedLoopSettings
from .squid_sensor import SquidSensorParameters, critical_current_table, flux_transfer, voltage

PHI0 = 2.067833848e-15  # Wb
READOUTS = ("fll", "open_loop")
# Gauss-Legendre nodes for the Gaussian average of the RSJ voltage over the bias noise
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(96)
SPREAD = 7.0  # the bias noise is integrated over +-SPREAD standard deviations


def _default_sensor() -> SquidSensorParameters:
    # a ~1 um nano-bridge SQUID: Ic ~ 100 uA, beta_L ~ 0.4, an asymmetric loop (skewed
    # pattern), flux focusing giving A_eff ~ 1.5x the pickup loop: period 1.7 mT (17 G)
    return SquidSensorParameters(junction_critical_current=50e-6, critical_current_asymmetry=0.05,
                                 loop_inductance=8e-12, inductance_asymmetry=0.2, shunt_resistance=10.0,
                                 effective_area=1.2e-12)


@dataclass(frozen=True)
class NanoSquidSettings:
    """The sensor and its readout (SI units, flux in Phi0)."""

    sensor: SquidSensorParameters = field(default_factory=_default_sensor)
    # A rms: the bias noise (source and thermal) that rounds the I-V near Ic
    # (phenomenological: without it the RSJ transfer diverges at Ic)
    rounding_current: float = 1e-6
    voltage_noise: float = 2e-9  # V/sqrt(Hz): the room-temperature preamplifier
    readout: str = "fll"  # "fll" or "open_loop"
    fll: FluxLockedLoopSettings = field(default_factory=FluxLockedLoopSettings)

    def __post_init__(self) -> None:
        if self.readout not in READOUTS:
            raise ValueError(f"readout: 'fll' or 'open_loop', got {self.readout!r}")
        if self.rounding_current < 0 or self.voltage_noise < 0:
            raise ValueError("rounding_current and voltage_noise must not be negative")


def _branch_integrals(bias: np.ndarray, critical: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """For one polarity (bias taken positive towards it): the Gaussian averages over the
    bias noise of sqrt(I'^2 - Ic^2) and of Ic / sqrt(I'^2 - Ic^2) beyond Ic. With
    I' = Ic cosh(u) both integrands are smooth in u (the square-root edge at Ic leaves no
    trace of the quadrature), integrated over the u that the noise reaches."""
    critical = np.maximum(critical, 1e-9 * sigma)
    top = np.maximum(bias + SPREAD * sigma, critical)
    bottom = np.clip(bias - SPREAD * sigma, critical, None)
    u_low, u_high = np.arccosh(bottom / critical), np.arccosh(top / critical)
    half = (u_high - u_low) / 2
    u = (u_low + u_high)[..., None] / 2 + half[..., None] * _NODES
    density = np.exp(-0.5 * ((critical[..., None] * np.cosh(u) - bias[..., None]) / sigma) ** 2) / (
        sigma * math.sqrt(2 * math.pi))
    weights = half[..., None] * _WEIGHTS
    sinh = np.sinh(u)
    mean_sqrt = np.sum(weights * density * critical[..., None] ** 2 * sinh**2, axis=-1)
    mean_inverse = np.sum(weights * density * critical[..., None], axis=-1)
    return mean_sqrt, mean_inverse


def _rounded(settings: NanoSquidSettings, bias, flux) -> tuple[np.ndarray, np.ndarray]:
    """Voltage (V) and dV/dPhi (V/Phi0) at bias (A) and total flux (Phi0), averaged over a
    Gaussian bias noise of `rounding_current` rms (phenomenological rounding of the I-V)."""
    bias, flux = np.broadcast_arrays(np.asarray(bias, dtype=float), np.asarray(flux, dtype=float))
    sensor = settings.sensor
    if settings.rounding_current == 0:
        return (np.asarray(voltage(sensor, bias, flux), dtype=float),
                np.asarray(flux_transfer(sensor, bias, flux), dtype=float))
    (plus, minus), (plus_slope, minus_slope) = critical_current_table(sensor)(flux)
    half_resistance = sensor.shunt_resistance / 2
    sigma = settings.rounding_current
    forward_sqrt, forward_inverse = _branch_integrals(bias, plus, sigma)
    backward_sqrt, backward_inverse = _branch_integrals(-bias, minus, sigma)
    volts = half_resistance * (forward_sqrt - backward_sqrt)
    # d/dIc of the mean of sqrt(I'^2 - Ic^2) is -Ic times the mean of 1/sqrt(...)
    transfer = half_resistance * (-forward_inverse * plus_slope + backward_inverse * minus_slope)
    return volts, transfer


def rounded_voltage(settings: NanoSquidSettings, bias, flux) -> np.ndarray:
    """Mean voltage (V) at bias (A) and total flux (Phi0): the two-junction model's RSJ
    voltage averaged over a Gaussian bias noise of `rounding_current` rms."""
    return _rounded(settings, bias, flux)[0]


def rounded_transfer(settings: NanoSquidSettings, bias, flux) -> np.ndarray:
    """dV/dPhi (V/Phi0) of `rounded_voltage`."""
    return _rounded(settings, bias, flux)[1]


@dataclass(frozen=True)
class OpenLoopPoint:
    """Where an open-loop readout was set up: its bias (A), applied flux (Phi0), the
    voltage there (V) and the transfer (V/Phi0) it converts with."""

    bias: float
    applied_flux: float
    voltage: float
    transfer: float


class NanoSquid:
    """The sensor's state: its bias output, its readout."""

    def __init__(self, settings: NanoSquidSettings, rng: np.random.Generator) -> None:
        self.settings = settings
        self.bias_current = 0.0  # A
        self.bias_output = False
        self.loop = FluxLockedLoop(settings.fll)
        self.open_loop_point: OpenLoopPoint | None = None
        self._rng = rng

    def applied_flux(self, field: float) -> float:
        """The applied field's (T) flux through the effective area (Phi0)."""
        return field * self.settings.sensor.effective_area / PHI0

    def voltage_reading(self, total_flux: float, integration_time: float) -> float:
        """The SQUID's voltage (V) at its bias and `total_flux` (Phi0), averaged over
        `integration_time` s, with the preamplifier's noise."""
        bias = self.bias_current if self.bias_output else 0.0
        clean = float(rounded_voltage(self.settings, bias, total_flux))
        sigma = self.settings.voltage_noise / math.sqrt(2.0 * integration_time)
        return clean + float(self._rng.normal(0.0, sigma))

    def lock(self, total_flux: float, field: float, time: float, voltage_there: float, transfer: float) -> None:
        """Lock at the working point: the loop locks afresh there; an open-loop readout
        converts about that voltage with that transfer (V/Phi0)."""
        self.loop.relock(total_flux, time)
        self.open_loop_point = OpenLoopPoint(self.bias_current, self.applied_flux(field), voltage_there, transfer)

    def read_flux(self, sample_flux: np.ndarray, field: float, times: np.ndarray, integration_time: float):
        """The flux (Phi0) the readout reports for the sample's flux (with the sensor's flux
        noise) at `times` (s), each averaged `integration_time` s."""
        applied = self.applied_flux(field)
        if self.settings.readout == "fll":
            # the loop follows the total flux; its output less the applied flux is the sample's
            # flux less the quanta slipped (subtracted as integers: nothing else changes)
            return sample_flux - self.loop.observe(sample_flux + applied, times)
        point = self.open_loop_point
        if point is None:
            raise InstrumentError("the open-loop readout has no working point to convert its voltage at: run a "
                                  "working_point step first")
        bias = self.bias_current if self.bias_output else 0.0
        sigma = self.settings.voltage_noise / math.sqrt(2.0 * integration_time)
        volts = rounded_voltage(self.settings, bias, sample_flux + applied)
        volts = volts + self._rng.normal(0.0, sigma, np.shape(volts))
        return (volts - point.voltage) / point.transfer - (applied - point.applied_flux)

    def is_locked(self, time: float) -> bool:
        """The loop's lock at `time` (s); an open-loop readout has none to lose."""
        return self.settings.readout != "fll" or self.loop.is_locked(time)
