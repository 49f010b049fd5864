"""The spatial twin of the flake: a thin film on a grid whose currents, magnetisation
and stray field come from layers A-C of docs/physics.md, read by the sensor anywhere.

What is computed from physics (once per sample, cached):
- the bias-current distribution between the two top leads (masked Pearl solve with
  terminal boundary conditions, leads continued beyond the window), per ampere;
- the Meissner screening current of an out-of-plane field, per tesla;
- the anomalous currents of an in-plane surface magnetisation pointing along
  z x K_s (M_J ~ n x J_s, easy axis perpendicular to the local supercurrent), for each
  population of cells below, per unit magnetisation; the bottom surface carries
  -M_J, so the two surfaces' anomalous currents add (factor 2) and their in-plane
  stray fields cancel.

Phenomenological (labelled as such; docs/physics.md, "Phenomenological terms" and
"Open question"): the hysterons are grouped in populations that see one drive each,
the bias current itself (in A, the park-point calibration of model R), not the local
phase gradient (the local |K| varies 0.7-2.4x over the lower domain, which would
smear the sharp switching the paper reports). The lower domain is one superconductor
(one Lambda) with two magnetic regions, split at x = `lower_split_x`:
- `lower_right`: the park point's region (the paper's "lower-right domain", Fig. 3a);
  coercivity 140 uA, its virgin onset is the upturn at ~140 uA;
- `lower_left`: coercivity 0.86 of that: its virgin onset is the edge-current jump at
  120 uA of Fig. 3c-d, measured by line cuts across its lower edge.
Why not a 2 um edge band at 0.86 c (docs/physics.md, "Edge band"): layer C puts the
counterflow of a switched band inside the band, so a 2 um band is a current pair 2 um
apart; at 1 um height its reconstructed peak current *falls* by 16 % (the counterflow
lobe wins), and only a region several um wide gives a visible edge current, which
seen from the park point 10 um away is a 5-15 % remanence after 135 uA (golden
check 8 forbids it). The edge current that jumps is that of a whole region (the
paper's Fig. 1d, 3e). The split is placed where the lower-left region's saturated
anomalous currents leave < 1 % of the major remanence at the park point, as the
paper's virgin sweep requires (no remanence after 135 uA there while the edge already
switched at 120 uA); the paper's susceptometry covers the right half only, so nothing
else pins it.
The upper domain carries no bias-driven magnetisation (model R has none, and the
paper reports the bias loop of the lower domain only). The local current sets only
the easy axis. The amplitude kappa M_s is fixed so that
the saturated magnetisation gives the model-R remanence A k at the park point, with k
the film's own Oersted coupling there; the reversible quintic term of model R is a
reversible magnetisation of the same pattern.

Field-driven hysteresis (Fig. 4), also phenomenological: each domain keeps model R's
field loop, and its flux is spread uniformly over the domain (blurred over the
sensor height), with amplitude A_D = model R's A_D/chi_D times the film's own
Meissner coupling chi_D at the domain's probe point. Layer C's anomalous currents
would couple the two domains' loops through the film's zero-mean stream function;
with the field calibrated separately from the bias (the open question of docs/physics.md)
that coupling is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.interpolate
import scipy.ndimage

from .film.anomalous import AnomalousCurrentSolver
from .film.forward import ForwardModel
from .film.grid import Grid
from .film.pearl import PearlSolver
from .film.susceptibility_map import SusceptometryGeometry, susceptibility_lattice
from .film.terminals import BiasCurrent, Lead, Terminals
from .lumped import (
    LOWER_DOMAIN_FIELD_PARAMETERS,
    UPPER_DOMAIN_FIELD_PARAMETERS,
    BiasLoopParameters,
    LumpedFieldLoop,
)
from .preisach import PreisachEnsemble
from .sample import FlakeGeometry, HystereticSample, SuperconductorParameters

UM = 1e-6


@dataclass(frozen=True)
class FilmLayout:
    """Grid and leads of the spatial model (m)."""

    cell: float = 0.5 * UM
    margin: float = 15 * UM  # film to window edge: the window covers the whole scan range
    lead_width: float = 4 * UM
    lead_inset: float = 5 * UM  # lead centre from the flake's left/right end
    park_point: tuple[float, float] = (30 * UM, -15 * UM)
    upper_probe: tuple[float, float] = (-20 * UM, 12 * UM)
    lower_split_x: float = 5 * UM  # lower-left | lower-right magnetic regions (module docstring)
    lower_left_coercivity_ratio: float = 0.86


@dataclass
class _Population:
    name: str
    ensemble: PreisachEnsemble
    drive: str  # "bias" or "field"
    g_unit: np.ndarray  # stream function (A) of both surfaces' anomalous currents, unit amplitude
    scale: float = 1.0  # amplitude (kappa M_s) per unit pattern, set by the calibration


@dataclass(frozen=True)
class FilmFields:
    """The sample's linear responses on the grid, computed once (see module docstring)."""

    grid: Grid
    mask: np.ndarray
    domain_lower: np.ndarray
    lower_left: np.ndarray
    bias: BiasCurrent
    g_meissner: np.ndarray  # A per T of applied field
    g_patterns: dict = field(default_factory=dict)  # population -> g (A) per unit magnetisation


@lru_cache(maxsize=16)
def film_fields(geometry: FlakeGeometry, superconductor: SuperconductorParameters, layout: FilmLayout,
                temperature: float) -> FilmFields:
    """Solve the film once for these parameters (a few seconds); cached for the process."""
    width = 2 * (geometry.half_width + layout.margin)
    height = 2 * (geometry.half_height + layout.margin)
    # pad 4: a strongly screening film filling the window otherwise sees ~1 % of its periodic images
    grid = Grid(int(round(width / layout.cell)), int(round(height / layout.cell)), layout.cell, pad_factor=4)
    x, y = grid.mesh()
    mask = (np.abs(x) < geometry.half_width) & (np.abs(y) < geometry.half_height)
    lower = mask & (y < geometry.domain_boundary_y)
    rho = superconductor.superfluid_fraction(temperature)
    pearl = np.where(lower, superconductor.pearl_length("lower"), superconductor.pearl_length("upper")) / rho
    solver = PearlSolver(grid, mask, pearl)
    terminals = Terminals(
        source=Lead("top", -geometry.half_width + layout.lead_inset, layout.lead_width),
        drain=Lead("top", geometry.half_width - layout.lead_inset, layout.lead_width),
    )
    bias = BiasCurrent(solver, terminals)
    g_meissner = solver.screen(1.0)
    lower_left = lower & (x < layout.lower_split_x)
    anomalous = AnomalousCurrentSolver(mask, layout.cell)
    patterns = {
        "lower_right": magnetisation_pattern(anomalous, lower & ~lower_left, bias),
        "lower_left": magnetisation_pattern(anomalous, lower_left, bias),
    }
    return FilmFields(grid, mask, lower, lower_left, bias, g_meissner, patterns)


def magnetisation_pattern(anomalous: AnomalousCurrentSolver, cells: np.ndarray, bias: BiasCurrent) -> np.ndarray:
    """Stream function (A) of both surfaces' anomalous currents when `cells` carry a unit
    magnetisation along z x K of the bias current (M_J ~ n x J_s); the two surfaces add."""
    kx, ky = bias.sheet_current(1.0)
    norm = np.hypot(kx, ky)
    norm = np.where(norm > 0, norm, 1.0)
    return 2 * anomalous.stream_function(np.where(cells, -ky / norm, 0), np.where(cells, kx / norm, 0))


class FilmSample(HystereticSample):
    """The flake on a grid: flux and susceptibility at the sensor, hysteresis, erasure.

    Same interface as LumpedSample. Currents in A, fields in T, lengths in m, flux in Phi0.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        bias: BiasLoopParameters,
        superconductor: SuperconductorParameters,
        geometry: FlakeGeometry,
        scan_height: float,
        pickup_radius: float,
        layout: FilmLayout = FilmLayout(),
        base_temperature: float = 1.5,
    ) -> None:
        self.bias = bias
        self.superconductor = superconductor
        self.geometry = geometry
        self.scan_height = scan_height
        self.pickup_radius = pickup_radius
        self.layout = layout
        self.base_temperature = base_temperature
        self.fields = film_fields(geometry, superconductor, layout, base_temperature)
        self._maps: dict[tuple, np.ndarray] = {}
        self.populations = self._make_populations(rng)
        self.field_loops = {
            "lower": LumpedFieldLoop(LOWER_DOMAIN_FIELD_PARAMETERS, rng),
            "upper": LumpedFieldLoop(UPPER_DOMAIN_FIELD_PARAMETERS, rng),
        }
        self._calibrate()

    # Set-up ----------------------------------------------------------------------------
    def _make_populations(self, rng: np.random.Generator) -> list[_Population]:
        b, layout = self.bias, self.layout

        def ensemble(coercivity: float) -> PreisachEnsemble:
            return PreisachEnsemble(
                b.n_pairs, coercivity, b.sigma_coercivity, b.sigma_bias, rng, b.blocking_mean_K, b.blocking_sigma_K
            )

        patterns = self.fields.g_patterns
        return [
            _Population("lower_right", ensemble(b.coercivity), "bias", patterns["lower_right"]),
            _Population("lower_left", ensemble(layout.lower_left_coercivity_ratio * b.coercivity), "bias",
                        patterns["lower_left"]),
        ]

    def _calibrate(self) -> None:
        """kappa M_s such that the saturated lower domain gives the model-R remanence at the park point."""
        park = self.layout.park_point
        self.oersted_coupling = -float(self._map_value("bias", park))  # k (Phi0/A), > 0
        saturated = sum(self._map_value(f"pattern:{p.name}", park) for p in self.populations)
        scale = self.oersted_coupling * self.bias.amplitude / saturated
        for population in self.populations:
            population.scale = scale
        probes = {"lower": park, "upper": self.layout.upper_probe}
        # chi_D (Phi0/T): the film's Meissner flux at each domain's probe point, diamagnetic (> 0 here)
        self.meissner_coupling = {domain: -self._map_value("meissner", probe) for domain, probe in probes.items()}
        # A_D (Phi0): model R's A_D / chi_D times the film's own chi_D
        self._field_amplitudes = {
            domain: self.field_loops[domain].params.amplitude_ratio * self.meissner_coupling[domain]
            for domain in probes
        }

    # Maps ------------------------------------------------------------------------------
    def _g(self, name: str) -> np.ndarray:
        return self.fields.g_patterns[name.split(":", 1)[1]]

    def _map(self, name: str, z: float, temperature: float | None = None) -> np.ndarray:
        """Flux (Phi0) over the grid at height z of one linear response, per unit drive.

        The bias and Meissner responses depend on Lambda(T) = Lambda_0 / rho_s(T): with a
        `temperature` (K) they are solved again for it, to the nearest 0.1 K.
        """
        fields, solved_at = self.fields, self.base_temperature
        if temperature is not None and name in ("bias", "meissner"):
            solved_at = max(round(temperature, 1), self.base_temperature)
            if solved_at != self.base_temperature:
                fields = film_fields(self.geometry, self.superconductor, self.layout, solved_at)
        key = (name, round(z, 12), solved_at)
        if key not in self._maps:
            grid = fields.grid
            model = ForwardModel(grid, z, self.pickup_radius)
            if name == "bias":
                self._maps[key] = model.flux_from_sensor_bz_spectrum(grid.to_k(fields.bias.bz(z, 1.0)))
            elif name == "meissner":
                self._maps[key] = model.flux(fields.g_meissner)
            else:
                self._maps[key] = model.flux(self._g(name))
        return self._maps[key]

    def _domain_map(self, domain: str, z: float) -> np.ndarray:
        """1 over the domain, 0 elsewhere, blurred over the sensor's reach (~ z): the
        phenomenological shape of the field-induced flux (see the module docstring)."""
        key = (f"domain:{domain}", round(z, 12))
        if key not in self._maps:
            cells = self.fields.domain_lower if domain == "lower" else self.fields.mask & ~self.fields.domain_lower
            self._maps[key] = scipy.ndimage.gaussian_filter(cells.astype(float), sigma=max(z, 1e-9) / self.layout.cell)
        return self._maps[key]

    def _map_value(self, name: str, point: tuple[float, float]) -> float:
        return float(self._interpolate(self._map(name, self.scan_height), [point[0]], [point[1]])[0])

    def _interpolate(self, image: np.ndarray, xs, ys) -> np.ndarray:
        grid = self.fields.grid
        interpolator = scipy.interpolate.RegularGridInterpolator(
            (grid.y, grid.x), image, bounds_error=False, fill_value=0.0
        )
        return interpolator(np.column_stack([np.ravel(ys), np.ravel(xs)]))

    def bias_ensembles(self) -> list:
        return [population.ensemble for population in self.populations]

    def magnetisation(self) -> dict[str, float]:
        """Mean hysteron state of each population (for tests and people)."""
        return {p.name: p.ensemble.magnetisation() for p in self.populations}

    # Readings --------------------------------------------------------------------------
    def flux_image(
        self, z: float, bias_current: float, field: float, temperature: float, field_at_cooldown: float = 0.0
    ) -> np.ndarray:
        """Noise-free flux (Phi0) over the grid at height z.

        The film screens the change of field since it last became superconducting
        (`field_at_cooldown`, T): a field-cooled film holds the field it cooled in.
        """
        if temperature >= self.superconductor.critical_temperature:
            # a normal film: no screening, no anomalous currents; the bias spreads as in a
            # film with no kinetic-inductance contrast (approximated by the base-T map)
            return bias_current * self._map("bias", z)
        image = bias_current * self._map("bias", z, temperature)
        # Phenomenological reversible magnetisation (model R's quintic term), same pattern.
        b = self.bias
        reversible = b.quintic / b.amplitude * np.sign(bias_current) * abs(bias_current / b.reference_current) ** 5
        for population in self.populations:
            amplitude = population.scale * (population.ensemble.magnetisation() + reversible)
            if amplitude:
                image = image + amplitude * self._map(f"pattern:{population.name}", z)
        image = image + (field - field_at_cooldown) * self._map("meissner", z, temperature)
        for domain, loop in self.field_loops.items():
            amplitude = self._field_amplitudes[domain] * loop.magnetisation()
            if amplitude:
                image = image + amplitude * self._domain_map(domain, z)
        return image

    def flux(self, xs, ys, z: float, bias_current: float, field: float, temperature: float,
             field_at_cooldown: float = 0.0) -> np.ndarray:
        xs, ys = np.broadcast_arrays(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        image = self.flux_image(z, bias_current, field, temperature, field_at_cooldown)
        return self._interpolate(image, xs, ys).reshape(xs.shape)

    def susceptibility(self, xs, ys, z: float, temperature: float, coil) -> np.ndarray:
        """Susceptometry (Phi0/A) of the finite flake at (xs, ys), height z (m): the coil's
        field screened by the film, read by the pickup loop (sims.film.susceptibility_map).
        Independent of the magnetic state (golden check 6, docs/physics.md)."""
        xs, ys = np.broadcast_arrays(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        if temperature >= self.superconductor.critical_temperature:
            return np.zeros(xs.shape)
        lattice = self._susceptibility_lattice(round(max(temperature, self.base_temperature), 1), round(z, 9), coil)
        return lattice(np.column_stack([ys.ravel(), xs.ravel()])).reshape(xs.shape)

    def _susceptibility_lattice(self, temperature: float, z: float, coil):
        return _susceptibility_lattice(
            self.geometry, self.superconductor, self.layout.margin, temperature, z,
            coil.field_coil_radius, coil.pickup_radius,
        )


@lru_cache(maxsize=8)
def _susceptibility_lattice(geometry: FlakeGeometry, superconductor: SuperconductorParameters, margin: float,
                            temperature: float, z: float, field_coil_radius: float, pickup_radius: float):
    """The flake's susceptometry lattice (a few seconds of solves), cached for the process."""
    g, sc = geometry, superconductor
    rho = sc.superfluid_fraction(temperature)
    return susceptibility_lattice(
        mask_of=lambda X, Y: (np.abs(X) < g.half_width) & (np.abs(Y) < g.half_height),
        pearl_length_of=lambda X, Y: np.where(Y < g.domain_boundary_y, sc.pearl_length("lower"),
                                              sc.pearl_length("upper")) / rho,
        window=(g.half_width + margin, g.half_height + margin),
        geometry=SusceptometryGeometry(field_coil_radius, pickup_radius, z),
        domains_of=lambda X, Y: (Y < g.domain_boundary_y).astype(int),
    )
