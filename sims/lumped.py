"""Lumped reference model of the park-point loops (docs/physics.md, "Model R"), SI units.

Bias loop at the park point (lower-right domain):

    Phi_d(I) = k [ -I + A m(I) + B sgn(I) |I / I_ref|^5 ]          [Phi0]

Field loop of one domain D:

    Phi_D(H) = -chi_D H + A_D m_D(H)                                [Phi0]

m is the magnetisation of a `PreisachEnsemble` built in exact +-h pairs, so both
loops are exactly antisymmetric. The hysterons are rate-independent: `drive(x)`
at the end of a monotone ramp captures the whole ramp.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .preisach import PreisachEnsemble

GAUSS_T = 1e-4  # 1 G in tesla
DEFAULT_CRITICAL_TEMPERATURE_K = 6.0


@dataclass(frozen=True)
class BiasLoopParameters:
    """Lumped bias-current loop at the park point.

    flux_per_current: k, Oersted coupling [Phi0/A] (5.0 = 5 uPhi0 per uA).
    coercivity, sigma_coercivity: hysteron coercivity mean and spread [A].
    sigma_bias: spread of the interaction bias, h = |N(0, sigma_bias)| [A].
    amplitude: A, flux of the full magnetisation in units of k [A].
    quintic: B, coefficient of the phenomenological quintic term [A].
    reference_current: I_ref of the quintic term [A].
    n_pairs: number of +-h hysteron pairs.
    blocking_mean_K, blocking_sigma_K: blocking temperature distribution [K].
    """

    flux_per_current: float = 5.0
    coercivity: float = 140e-6
    sigma_coercivity: float = 2e-6
    sigma_bias: float = 8e-6
    amplitude: float = 128.9e-6
    quintic: float = 100e-6
    reference_current: float = 200e-6
    n_pairs: int = 20000
    blocking_mean_K: float = 4.0
    blocking_sigma_K: float = 0.45


@dataclass(frozen=True)
class FieldLoopParameters:
    """Lumped out-of-plane field loop of one domain.

    susceptibility: chi, Meissner (diamagnetic) coupling [Phi0/T]; the default
        10 Phi0/T gives -1 mPhi0 at 1 G.
    coercivity, sigma_bias: hysteron coercivity and bias spread [T].
    sigma_coercivity: coercivity spread [T]; not set by the paper, chosen small
        (0.02 G) so that the bias spread sets the width of the switching.
    amplitude_ratio: A_D / chi_D [T], i.e. the full-magnetisation flux expressed as
        the field whose Meissner flux it cancels.
    n_pairs: number of +-h hysteron pairs.
    blocking_mean_K, blocking_sigma_K: blocking temperature distribution [K].
    """

    susceptibility: float = 10.0
    coercivity: float = 1.00 * GAUSS_T
    sigma_bias: float = 0.10 * GAUSS_T
    sigma_coercivity: float = 0.02 * GAUSS_T
    amplitude_ratio: float = 1.875 * GAUSS_T
    n_pairs: int = 20000
    blocking_mean_K: float = 4.0
    blocking_sigma_K: float = 0.45

    @property
    def amplitude(self) -> float:
        """A_D, flux of the full magnetisation [Phi0]."""
        return self.amplitude_ratio * self.susceptibility


# The paper's two domains (Fig. 4b). Upper: chi_U = 0.5 chi_L, A_U = 2.0 chi_U.
LOWER_DOMAIN_FIELD_PARAMETERS = FieldLoopParameters()
UPPER_DOMAIN_FIELD_PARAMETERS = FieldLoopParameters(
    susceptibility=0.5 * LOWER_DOMAIN_FIELD_PARAMETERS.susceptibility,
    coercivity=1.45 * GAUSS_T,
    amplitude_ratio=2.0 * GAUSS_T,
)


class _LumpedLoop:
    """Shared hysteron bookkeeping of the bias and field loops."""

    def __init__(self, ensemble: PreisachEnsemble) -> None:
        self.ensemble = ensemble

    def drive(self, value: float) -> None:
        """Bring the hysterons to the drive value (A or T)."""
        self.ensemble.apply_drive(value)

    def magnetisation(self) -> float:
        """Mean hysteron state in [-1, 1]."""
        return self.ensemble.magnetisation()

    def reset_virgin(self) -> None:
        """Zero-field, zero-current cool from above T_c."""
        self.ensemble.reset_virgin()

    def anneal(self, temperature_K: float,
               critical_temperature_K: float = DEFAULT_CRITICAL_TEMPERATURE_K) -> None:
        """Excursion to temperature_K [K]: unblocked pairs return to virgin."""
        self.ensemble.anneal(temperature_K, critical_temperature_K)

    def reversible_flux(self, value: float) -> float:
        raise NotImplementedError

    def hysteretic_flux(self) -> float:
        raise NotImplementedError

    def flux(self, value: float) -> float:
        """Flux [Phi0] at drive value (A or T).

        The sample cannot be read at a drive it has not seen, so the hysterons are
        first driven to `value` (idempotent if `drive(value)` was just called).
        """
        self.drive(value)
        return float(self.reversible_flux(value) + self.hysteretic_flux())

    def sweep(self, values: np.ndarray) -> np.ndarray:
        """Flux [Phi0] at each drive value in turn (a point-by-point sweep)."""
        return np.array([self.flux(v) for v in np.asarray(values, dtype=float)])


class LumpedBiasLoop(_LumpedLoop):
    """Park-point flux versus bias current (Fig. 3a of the paper)."""

    def __init__(self, params: BiasLoopParameters, rng: np.random.Generator) -> None:
        self.params = params
        super().__init__(PreisachEnsemble(
            params.n_pairs, params.coercivity, params.sigma_coercivity,
            params.sigma_bias, rng, params.blocking_mean_K, params.blocking_sigma_K))

    def drive(self, current_A: float) -> None:
        """Bring the hysterons to bias current current_A [A]."""
        super().drive(current_A)

    def flux(self, current_A: float) -> float:
        """Park-point flux [Phi0] at bias current_A [A] (drives the hysterons first)."""
        return super().flux(current_A)

    def reversible_flux(self, current_A: float) -> float:
        p = self.params
        # Phenomenological quintic term: a reversible nonlinearity near I_c. With a
        # linear Oersted term and a symmetric Preisach ensemble alone, "zero crossing
        # at 160 uA" and "positive at 200 uA" cannot both hold; it also makes the
        # flux dip slightly when coming down from +200 uA.
        quintic = p.quintic * np.sign(current_A) * abs(current_A / p.reference_current) ** 5
        return p.flux_per_current * (-current_A + quintic)

    def hysteretic_flux(self) -> float:
        p = self.params
        return p.flux_per_current * p.amplitude * self.magnetisation()


class LumpedFieldLoop(_LumpedLoop):
    """Flux of one domain versus out-of-plane field (Fig. 4b of the paper)."""

    def __init__(self, params: FieldLoopParameters, rng: np.random.Generator) -> None:
        self.params = params
        super().__init__(PreisachEnsemble(
            params.n_pairs, params.coercivity, params.sigma_coercivity,
            params.sigma_bias, rng, params.blocking_mean_K, params.blocking_sigma_K))

    def drive(self, field_T: float) -> None:
        """Bring the hysterons to out-of-plane field_T [T]."""
        super().drive(field_T)

    def flux(self, field_T: float) -> float:
        """Domain flux [Phi0] at field_T [T] (drives the hysterons first)."""
        return super().flux(field_T)

    def reversible_flux(self, field_T: float) -> float:
        return -self.params.susceptibility * field_T

    def hysteretic_flux(self) -> float:
        return self.params.amplitude * self.magnetisation()
