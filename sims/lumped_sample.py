"""The sample as the lumped model R sees it: one hysteretic loop per domain and drive,
read at the sensor position by a piecewise map of the flake (docs/physics.md, "The
lumped sample").

The lower domain carries the park-point bias loop and its field loop; the upper
domain its field loop and a larger Oersted coupling (it is nearer the current path
along the top edge); above the top edge the Oersted flux has the opposite sign.
Susceptometry uses the infinite-film mutual inductance of each domain's Pearl length.
"""

from __future__ import annotations

import numpy as np

from sqm.errors import UserInputError

from .lumped import (
    LOWER_DOMAIN_FIELD_PARAMETERS,
    UPPER_DOMAIN_FIELD_PARAMETERS,
    BiasLoopParameters,
    LumpedBiasLoop,
    LumpedFieldLoop,
)
from .sample import HystereticSample
from .sample_file import SampleDescription


class LumpedSample(HystereticSample):
    """Lumped two-domain sample. Currents in A, fields in T, lengths in m, flux in Phi0."""

    def __init__(
        self,
        rng: np.random.Generator,
        bias: BiasLoopParameters,
        description: SampleDescription,
        scan_height: float,
        upper_oersted_ratio: float = 2.0,
        above_edge_oersted_ratio: float = -1.5,
    ) -> None:
        self.bias = bias
        self.description = description
        self.superconductor = description.transport
        if {region.domain for region in description.regions} != {"lower", "upper"}:
            raise UserInputError(
                f"{description.path}: the lumped model R is the paper's two-domain flake: it needs regions "
                "in the domains 'lower' and 'upper' (use the film model for any other sample)")
        self.scan_height = scan_height
        # Phenomenological couplings of the piecewise map, relative to the park point's k.
        self.upper_oersted_ratio = upper_oersted_ratio
        self.above_edge_oersted_ratio = above_edge_oersted_ratio
        self.bias_loop = LumpedBiasLoop(bias, rng)
        self.field_loops = {
            "lower": LumpedFieldLoop(LOWER_DOMAIN_FIELD_PARAMETERS, rng),
            "upper": LumpedFieldLoop(UPPER_DOMAIN_FIELD_PARAMETERS, rng),
        }

    @property
    def oersted_coupling(self) -> float:
        """k: minus the flux per bias current at the park point (Phi0/A)."""
        return self.bias.flux_per_current

    def bias_ensembles(self) -> list:
        return [self.bias_loop.ensemble]

    # Readings -------------------------------------------------------------------------
    def _loop_flux(self, loop, drive: float, superconducting: bool) -> float:
        """Flux of one loop at its present drive, without driving it (a pure read).

        Above T_c the film neither screens nor carries anomalous currents: only the
        bias current's own field remains (and a field gives none).
        """
        if not superconducting:
            return -self.bias.flux_per_current * drive if loop is self.bias_loop else 0.0
        return loop.reversible_flux(drive) + loop.hysteretic_flux()

    def flux(self, xs, ys, z, bias_current: float, field: float, temperature: float,
             field_at_cooldown: float = 0.0) -> np.ndarray:
        """Noise-free flux (Phi0) through the pickup loop at positions (xs, ys), height z (m,
        a number or one per point).

        The film responds to the change of field since it became superconducting.
        """
        field = field - field_at_cooldown
        xs, ys = np.broadcast_arrays(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        superconducting = temperature < self.superconductor.critical_temperature
        k = self.bias.flux_per_current
        lower = self._loop_flux(self.bias_loop, bias_current, superconducting) + self._loop_flux(
            self.field_loops["lower"], field, superconducting
        )
        upper = -self.upper_oersted_ratio * k * bias_current + self._loop_flux(
            self.field_loops["upper"], field, superconducting
        )
        above_edge = self.above_edge_oersted_ratio * (-k) * bias_current
        on_flake = self.description.on_film(xs, ys)
        flux = np.where(on_flake, np.where(self._in_lower_domain(xs, ys), lower, upper), 0.0)
        xmin, xmax, _, ymax = self.description.outline.bounds()
        flux = np.where((ys > ymax) & (xs >= xmin) & (xs <= xmax), above_edge, flux)
        return flux * self._height_factor(z)

    def select_leads(self, leads: tuple[str, str]) -> None:
        """Model R is calibrated for the paper's leads only: any other pair is refused."""
        if tuple(leads) != tuple(self.description.bias_leads):
            raise UserInputError(
                f"the lumped model R knows only the paper's leads {' -> '.join(self.description.bias_leads)}; "
                "use the film model for other leads")

    def _in_lower_domain(self, xs, ys) -> np.ndarray:
        labels = self.description.region_labels(xs, ys)
        lower = [i for i, region in enumerate(self.description.regions) if region.domain == "lower"]
        return np.isin(labels, lower)

    def susceptibility(self, xs, ys, z, temperature: float, coil) -> np.ndarray:
        return infinite_film_susceptibility(self.description, xs, ys, z, temperature, coil)

    def _height_factor(self, z) -> np.ndarray:
        # Phenomenological fall-off: the lumped model is calibrated at the scan height only.
        return np.minimum(1.0, (self.scan_height / np.maximum(np.asarray(z, dtype=float), 1e-9)) ** 2)


def infinite_film_susceptibility(description: SampleDescription, xs, ys, z, temperature: float,
                                 coil) -> np.ndarray:
    """Susceptometry (Phi0/A) at (xs, ys): the infinite-film value of the film below.

    An approximation of the finite flake (no edge effects, labelled as such): `coil`
    gives field_coil_radius and pickup_radius (m). Off the flake or above T_c there
    is no screening. It does not depend on the magnetic state (golden check 6,
    docs/physics.md).
    """
    from .film.susceptometry import mutual_inductance_infinite_film

    xs, ys = np.broadcast_arrays(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
    if temperature >= description.critical_temperature:
        return np.zeros(xs.shape)
    pearl = description.pearl_length_at(xs, ys, temperature)
    heights = np.round(np.broadcast_to(np.asarray(z, dtype=float), xs.shape), 9)
    values = np.zeros(xs.shape)
    for length in np.unique(pearl):  # one closed-form value per Pearl length and height present
        for height in np.unique(heights[pearl == length]):
            where = (pearl == length) & (heights == height)
            values[where] = mutual_inductance_infinite_film(coil.field_coil_radius, coil.pickup_radius,
                                                            float(height), float(length))
    return np.where(description.on_film(xs, ys), values, 0.0)
