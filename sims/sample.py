"""The sample of the paper as the twin's lumped model sees it: an Fe(Se,Te) flake,
~80 x 50 um, two domains of different superfluid density, leads on the top edge.

Coordinates in m, origin at the flake centre, y up. The lower domain (y below the
boundary) is the stronger superconductor and holds the park point of Fig. 3a.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

UM = 1e-6


@dataclass(frozen=True)
class FlakeGeometry:
    """Rectangular flake split into an upper and a lower domain (m)."""

    half_width: float = 40 * UM
    half_height: float = 25 * UM
    domain_boundary_y: float = 0.0

    def domain_at(self, x: float, y: float) -> str | None:
        """'lower', 'upper', or None when (x, y) is off the flake."""
        if abs(x) > self.half_width or abs(y) > self.half_height:
            return None
        return "lower" if y < self.domain_boundary_y else "upper"


@dataclass(frozen=True)
class SuperconductorParameters:
    """Temperature scales of the film (docs/physics.md, "Layer D")."""

    critical_temperature: float = 6.0  # K
    critical_current_zero_t: float = 264e-6  # A; I_c(1.5 K) = 240 uA
    normal_resistance: float = 2.0  # ohm, four-probe, above T_c (phenomenological value)
    # Pearl lengths Lambda = lambda^2 / d at T = 0 (m): the lower domain has the larger
    # superfluid density (lambda 1.22 um, d 0.3 um gives 5 um); the upper one half of it.
    pearl_length_lower: float = 5e-6
    pearl_length_upper: float = 10e-6

    # Vortex entry into a thin film in perpendicular field: H_c1 (d / W)^(1/2), with
    # H_c1 ~ 500 Oe (paper), d = 0.3 um, W = 50 um: ~39 G. The twin has no vortices.
    lower_critical_field: float = 0.05  # T (500 Oe as mu0 H)
    thickness: float = 0.3e-6  # m
    width: float = 50e-6  # m

    @property
    def vortex_entry_field(self) -> float:
        """Field (T) above which vortices would enter the flake (not modelled by the twin)."""
        return self.lower_critical_field * math.sqrt(self.thickness / self.width)

    def pearl_length(self, domain: str) -> float:
        """Lambda(T = 0) of 'lower' or 'upper' (m)."""
        return {"lower": self.pearl_length_lower, "upper": self.pearl_length_upper}[domain]

    def superfluid_fraction(self, temperature: float) -> float:
        """rho_s = 1 - (T/T_c)^2, zero at and above T_c."""
        t = temperature / self.critical_temperature
        return max(0.0, 1.0 - t * t)

    # Phenomenological width of the resistive transition (paper Fig. 3f, S1a: zero below
    # ~4.5 K, an order of magnitude below R_n at 5 K, most of R_n by 6 K): a spread of
    # local T_c, as the fraction of the four-probe path that is normal.
    transition_midpoint: float = 5.6  # K
    transition_width: float = 0.45  # K

    def critical_current(self, temperature: float) -> float:
        """I_c(T) = I_c0 (1 - t^2)^(3/2) (A)."""
        return self.critical_current_zero_t * self.superfluid_fraction(temperature) ** 1.5

    def normal_fraction(self, temperature: float) -> float:
        """Share of the voltage path that is normal at `temperature` (K): 1 above T_c."""
        if temperature >= self.critical_temperature:
            return 1.0
        z = (temperature - self.transition_midpoint) / self.transition_width
        return 0.5 * math.erfc(-z / math.sqrt(2))

    def voltage(self, current: float, temperature: float) -> float:
        """Four-probe voltage (V) at bias `current` (A): the normal share is ohmic; the rest
        has zero voltage below I_c(T) and a smooth flux-flow onset above it,
        R_n sqrt(I^2 - I_c^2), which tends to R_n I (phenomenological, RSJ-like)."""
        normal = self.normal_fraction(temperature)
        critical = self.critical_current(temperature)
        flux_flow = math.copysign(math.sqrt(max(current * current - critical * critical, 0.0)), current)
        return self.normal_resistance * (normal * current + (1.0 - normal) * flux_flow)


class HystereticSample:
    """What both sample models do with their hysterons: drive them with the bias
    current (A) or the field (T), and erase them on warming.

    Subclasses set `superconductor`, `field_loops` (domain -> LumpedFieldLoop) and
    `bias_ensembles()` (the PreisachEnsembles the bias drives).
    """

    superconductor: SuperconductorParameters
    field_loops: dict

    def bias_ensembles(self) -> list:
        raise NotImplementedError

    def drive_bias(self, current: float) -> None:
        for ensemble in self.bias_ensembles():
            ensemble.apply_drive(current)

    def drive_field(self, field: float) -> None:
        for loop in self.field_loops.values():
            loop.drive(field)

    def anneal(self, temperature: float) -> None:
        """Units whose blocking temperature is reached return to virgin; T >= T_c erases all."""
        critical = self.superconductor.critical_temperature
        for ensemble in self.bias_ensembles():
            ensemble.anneal(temperature, critical)
        for loop in self.field_loops.values():
            loop.anneal(temperature, critical)
