"""What every sample model shares: the film's transport and temperature scales
(docs/physics.md, "Layer D"), and the bookkeeping of hysterons driven by supercurrents.
The numbers of one sample come from its file (`sample_file.load_sample`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

UM = 1e-6


@dataclass(frozen=True)
class SuperconductorParameters:
    """Temperature scales of the film (docs/physics.md, "Layer D")."""

    critical_temperature: float  # K
    critical_current_zero_t: float  # A, I_c at T = 0
    normal_resistance: float  # ohm, four-probe, above T_c (phenomenological value)
    # Vortex entry into a thin film in perpendicular field: H_c1 (d / W)^(1/2). The twin has no vortices.
    lower_critical_field: float  # T (mu0 H_c1)
    thickness: float  # m
    width: float  # m, the film's narrow side
    # Phenomenological width of the resistive transition: a spread of local T_c, as the
    # fraction of the four-probe path that is normal (midpoint and width in K).
    transition_midpoint: float
    transition_width: float

    @property
    def vortex_entry_field(self) -> float:
        """Field (T) above which vortices would enter the flake (not modelled by the twin)."""
        return self.lower_critical_field * math.sqrt(self.thickness / self.width)

    def superfluid_fraction(self, temperature: float) -> float:
        """rho_s = 1 - (T/T_c)^2, zero at and above T_c."""
        t = temperature / self.critical_temperature
        return max(0.0, 1.0 - t * t)

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

    def drive(self, bias_current: float, field_change: float) -> None:
        """The supercurrents of a bias (A) and of the field change since the cool-down (T)."""
        self.drive_bias(bias_current)
        self.drive_field(field_change)

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
