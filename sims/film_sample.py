"""The spatial twin of any sample file: a thin film on a grid whose currents,
magnetisation and stray field come from layers A-C of docs/physics.md, read by the
sensor anywhere.

Computed from physics, per sample (kept for the process and in the disk cache,
`solve_cache`):
- the bias current between a pair of the sample's leads (masked Pearl solve with
  terminal boundary conditions, leads continued beyond the window), per ampere;
- the Meissner screening current of an out-of-plane field, per tesla;
- for each magnetic region and each supercurrent that can polarise it, the anomalous
  currents of the magnetisation it leaves (`polarisation_pattern`): moments of unit
  size along z x K of that current (M_J ~ n x J_s), their anomalous currents solved
  by layer C over the whole film, per unit state of the region.

One mechanism for every drive (docs/physics.md, "One magnetisation mechanism"): the
supercurrent flowing in a region, the bias between the leads in use plus the
Meissner current of the field change since the cool-down (the latter counted
`meissner_drive_ratio` times), sets the easy axis of the pairs it switches and, by
its region mean projected on that axis, the drive of the region's hysterons
(`RegionMagnet`). The anomalous currents then follow from the magnetisation by
layer C, for bias and field alike. The sizes (coercivities in A/m, the Meissner
drive ratio, the anomalous sheet currents of a saturated region) are the sample's,
in its file; the phenomenological ones are labelled there and in docs/physics.md.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import scipy.interpolate
import yaml

from . import region_magnet, sample_file, solve_cache
from .film import anomalous as anomalous_module
from .film import pearl as pearl_module
from .film import susceptibility_map as susceptibility_module
from .film import terminals as terminals_module
from .film.anomalous import AnomalousCurrentSolver
from .film.forward import ForwardModel
from .film.grid import Grid, sheet_current
from .film.pearl import PearlSolver
from .film.susceptibility_map import SusceptometryGeometry, susceptibility_lattice_values
from .film.terminals import BiasCurrent, Lead, Terminals
from .region_magnet import RegionMagnet
from .sample import HystereticSample
from .sample_file import SampleDescription

BIAS_ANGLE, MEISSNER_ANGLE = 0, 900  # tenths of a degree in the (bias, Meissner) plane of drives
_SOLVER_MODULES = (anomalous_module, pearl_module, terminals_module, susceptibility_module)


def _fingerprint() -> str:
    """The code the cached solves depend on: a change of it makes new cache entries."""
    return solve_cache.code_fingerprint(*_SOLVER_MODULES, sys.modules[__name__], region_magnet, sample_file)


@dataclass(frozen=True)
class Polarisation:
    """An easy axis, named by the supercurrent that set it: the direction, in tenths of
    a degree, in the plane of (bias, Meissner) drive currents, each normalised to a
    region-mean size of 1 (0: the bias between `leads`; 900: the Meissner current, no
    leads), canonical in (-90, 90] degrees so that opposite drives share an axis."""

    leads: tuple[str, str] | None
    angle: int

    @property
    def radians(self) -> float:
        return math.radians(self.angle / 10)


# Geometry and linear responses --------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FilmGeometry:
    """The sample on its grid: film cells and the index of the region of each cell (-1: none)."""

    sample: SampleDescription
    grid: Grid
    mask: np.ndarray
    regions: np.ndarray

    def cells(self, region: str) -> np.ndarray:
        index = [r.name for r in self.sample.regions].index(region)
        return self.regions == index

    def anomalous(self, region: str) -> AnomalousCurrentSolver:
        """Layer C on one region's cells (factorised once per region): the anomalous
        currents of a region's magnetisation close within the region, its border being
        the edge of the magnetisation, where the edge current runs."""
        if region not in self._anomalous:
            self._anomalous[region] = AnomalousCurrentSolver(self.cells(region), self.grid.dx)
        return self._anomalous[region]

    @cached_property
    def _anomalous(self) -> dict[str, AnomalousCurrentSolver]:
        return {}

    def pearl_solver(self, temperature: float) -> PearlSolver:
        x, y = self.grid.mesh()
        pearl = np.where(self.mask, self.sample.pearl_length_at(x, y, temperature), 1.0)
        return PearlSolver(self.grid, self.mask, pearl)

    def terminals(self, leads: tuple[str, str]) -> Terminals:
        source, drain = (self.sample.leads[name].placement for name in leads)
        return Terminals(Lead(source.edge, source.position, source.width),
                         Lead(drain.edge, drain.position, drain.width))


@lru_cache(maxsize=8)
def film_geometry(sample: SampleDescription) -> FilmGeometry:
    half_x, half_y = sample.window()
    # pad 4: a strongly screening film filling the window otherwise sees ~1 % of its periodic images
    grid = Grid(int(round(2 * half_x / sample.cell)), int(round(2 * half_y / sample.cell)), sample.cell, pad_factor=4)
    x, y = grid.mesh()
    mask = sample.on_film(x, y)
    return FilmGeometry(sample, grid, mask, np.where(mask, sample.region_labels(x, y), -1))


def _cached(kind: str, sample: SampleDescription, compute, **key) -> dict[str, np.ndarray]:
    """Arrays of one solve, from the disk cache when it has them (keyed by the sample
    file's film, `film_key`, the grid, the code and `key`)."""
    cache_key = solve_cache.cache_key(kind=kind, sample=film_key(sample.text), cell=sample.cell,
                                      margin=sample.margin, code=_fingerprint(), **key)
    return solve_cache.SolveCache().get_or_compute(cache_key, compute)


@lru_cache(maxsize=32)
def film_key(text: str) -> str:
    """What the film's solves depend on: the sample file's text with the numbers of its
    regions' magnetism left out (which regions are magnetic is kept). The cached solves,
    the film's screening and the polarisation patterns per unit state, take only the
    outline, regions, Pearl lengths, transition and leads; so a batch or a fit that varies
    a coercivity or a drive scale reuses them (sqm sweep, sqm fit)."""
    data = yaml.safe_load(text)
    regions = data.get("regions") if isinstance(data, dict) else None
    for region in (regions or {}).values():
        if isinstance(region, dict) and "magnetism" in region:
            region["magnetism"] = "magnetic"
    return json.dumps(data, sort_keys=True, default=str)


@lru_cache(maxsize=16)
def bias_response(sample: SampleDescription, temperature: float, leads: tuple[str, str]) -> BiasCurrent:
    """The bias current between `leads` (source, drain) at `temperature` (K), per ampere."""
    geometry = film_geometry(sample)
    solver = geometry.pearl_solver(temperature)
    terminals = geometry.terminals(leads)
    arrays = _cached("bias response", sample,
                     lambda: {"g": BiasCurrent(solver, terminals).unit_stream_function},
                     temperature=temperature, leads=list(leads))
    return BiasCurrent.from_solution(solver, terminals, arrays["g"])


@lru_cache(maxsize=16)
def meissner_response(sample: SampleDescription, temperature: float) -> np.ndarray:
    """g (A per tesla of applied field) of the film's screening current at `temperature` (K)."""
    geometry = film_geometry(sample)
    return _cached("meissner response", sample, lambda: {"g": geometry.pearl_solver(temperature).screen(1.0)},
                   temperature=temperature)["g"]


def polarisation_pattern(geometry: FilmGeometry, region: str, kx: np.ndarray, ky: np.ndarray) -> np.ndarray:
    """Stream function (A) of both surfaces' anomalous currents when a region carries the
    magnetisation a supercurrent K = (kx, ky) polarises: M_J ~ n x J_s, so m = z x K
    divided by the region mean of |K| (a region-mean size of 1). Multiplied by kappa M_s
    (A/m) it is in A. The bottom surface carries -M_J, so the two surfaces' anomalous
    currents add (the factor 2) while their in-plane stray fields cancel."""
    cells = geometry.cells(region)
    mean = float(np.mean(np.hypot(kx, ky)[cells])) or 1.0
    return 2 * geometry.anomalous(region).stream_function(np.where(cells, -ky / mean, 0.0),
                                                          np.where(cells, kx / mean, 0.0))


def _magnetic_regions(sample: SampleDescription, geometry: FilmGeometry) -> list[str]:
    return [r.name for r in sample.regions if r.magnetism is not None and geometry.cells(r.name).any()]


def _patterns_of(sample: SampleDescription, g: np.ndarray) -> dict[str, np.ndarray]:
    """Per magnetic region: the polarisation pattern of the current of `g`, and its
    region-mean size (A/m per unit of what `g` is for)."""
    geometry = film_geometry(sample)
    kx, ky = sheet_current(geometry.grid, g)
    arrays = {}
    for name in _magnetic_regions(sample, geometry):
        cells = geometry.cells(name)
        arrays[f"pattern:{name}"] = polarisation_pattern(geometry, name, kx, ky)
        arrays[f"scale:{name}"] = np.array(np.mean(np.hypot(kx, ky)[cells]))
    return arrays


@lru_cache(maxsize=16)
def bias_patterns(sample: SampleDescription, leads: tuple[str, str], temperature: float) -> dict[str, np.ndarray]:
    """Polarisation patterns of the bias between `leads` ('pattern:<region>', A per unit
    state) and the region-mean bias sheet current ('scale:<region>', A/m per A)."""
    return _cached("bias polarisation", sample,
                   lambda: _patterns_of(sample, bias_response(sample, temperature, leads).unit_stream_function),
                   temperature=temperature, leads=list(leads))


@lru_cache(maxsize=8)
def meissner_patterns(sample: SampleDescription, temperature: float) -> dict[str, np.ndarray]:
    """As `bias_patterns`, for the Meissner current ('scale:<region>' in A/m per T)."""
    return _cached("meissner polarisation", sample,
                   lambda: _patterns_of(sample, meissner_response(sample, temperature)), temperature=temperature)


# The sample ----------------------------------------------------------------------------
class FilmSample(HystereticSample):
    """A sample file's film on a grid: flux and susceptibility at the sensor, hysteresis, erasure.

    Same interface as LumpedSample. Currents in A, fields in T, lengths in m, flux in Phi0.
    The magnetic state, the drives and the polarisation patterns are those of the base
    temperature; the bias and Meissner responses follow Lambda(T).
    """

    def __init__(self, rng: np.random.Generator, description: SampleDescription, scan_height: float,
                 pickup_radius: float, base_temperature: float = 1.5,
                 bias_leads: tuple[str, str] | None = None) -> None:
        self.description = description
        self.superconductor = description.transport
        self.scan_height = scan_height
        self.pickup_radius = pickup_radius
        self.base_temperature = base_temperature
        self.geometry = film_geometry(description)
        self.bias_leads: tuple[str, str] = tuple(bias_leads or description.bias_leads)  # type: ignore[assignment]
        self.magnets = [RegionMagnet(name, description.region_named(name).magnetism, rng)
                        for name in _magnetic_regions(description, self.geometry)]
        self.field_loops: dict = {}
        self._maps: dict[tuple, np.ndarray] = {}
        self._forward_models: dict[float, ForwardModel] = {}
        self._prepare_maps(scan_height)

    def _prepare_maps(self, z: float) -> None:
        """The maps every reading at height z (m) needs, made now rather than in the middle
        of a first scan line: the bias and Meissner responses and each region's patterns."""
        self._map("bias", z)
        self._map("meissner", z)
        for magnet in self.magnets:
            for kind in ("bias", "meissner"):
                self._map(magnet.name, z, kind=kind)

    # Leads -------------------------------------------------------------------------------
    def select_leads(self, leads: tuple[str, str]) -> None:
        """Route the bias between another pair of the sample's leads (no current flowing)."""
        self.bias_leads = (leads[0], leads[1])

    def _bias_patterns(self) -> dict[str, np.ndarray]:
        return bias_patterns(self.description, self.bias_leads, self.base_temperature)

    # Drives ------------------------------------------------------------------------------
    def drive(self, bias_current: float, field_change: float) -> None:
        """Bring every magnetic region to the supercurrents of a bias (A) and of a field
        change since the cool-down (T) flowing together (see the module docstring)."""
        for magnet in self.magnets:
            axis, drive = self._projected_drive(magnet, bias_current, field_change)
            magnet.drive(axis, drive)

    def drive_bias(self, current: float) -> None:
        self.drive(current, 0.0)

    def drive_field(self, field: float) -> None:
        self.drive(0.0, field)

    def _projected_drive(self, magnet: RegionMagnet, bias_current: float,
                         field_change: float) -> tuple[Polarisation | None, float]:
        """The easy axis the present supercurrent sets in a region, and the region-mean
        drive along it (A/m): D = I K_bias + r dB K_Meissner, r the region's
        meissner_drive_ratio (phenomenological, docs/physics.md "Open question")."""
        bias = bias_current * float(self._bias_patterns()[f"scale:{magnet.name}"])
        meissner = (magnet.magnetism.meissner_drive_ratio * field_change
                    * float(meissner_patterns(self.description, self.base_temperature)[f"scale:{magnet.name}"]))
        if bias == 0.0 and meissner == 0.0:
            return None, 0.0
        tenths = int(round(math.degrees(math.atan2(meissner, bias)) * 10))
        sign = 1.0
        if tenths > MEISSNER_ANGLE:
            tenths, sign = tenths - 1800, -1.0
        elif tenths <= -MEISSNER_ANGLE:
            tenths, sign = tenths + 1800, -1.0
        if tenths == BIAS_ANGLE:
            return Polarisation(self.bias_leads, BIAS_ANGLE), bias
        if tenths == MEISSNER_ANGLE:
            return Polarisation(None, MEISSNER_ANGLE), meissner
        axis = Polarisation(self.bias_leads, tenths)
        return axis, sign * math.hypot(bias, meissner) * self._mixture_mean_size(magnet.name, axis)

    def _normalised_currents(self, region: str, leads: tuple[str, str]) -> tuple[np.ndarray, ...]:
        """Bias and Meissner sheet currents on the region's cells, each divided by its region-mean size."""
        cells = self.geometry.cells(region)
        grid = self.geometry.grid
        arrays = []
        for g in (bias_response(self.description, self.base_temperature, leads).unit_stream_function,
                  meissner_response(self.description, self.base_temperature)):
            kx, ky = sheet_current(grid, g)
            mean = float(np.mean(np.hypot(kx, ky)[cells])) or 1.0
            arrays += [np.where(cells, kx / mean, 0.0), np.where(cells, ky / mean, 0.0)]
        return tuple(arrays)

    def _mixture_mean_size(self, region: str, axis: Polarisation) -> float:
        """Region mean of |cos a k_bias + sin a k_Meissner| for a mixed axis (normalised currents)."""
        bx, by, mx, my = self._normalised_currents(region, axis.leads or self.bias_leads)
        c, s = math.cos(axis.radians), math.sin(axis.radians)
        return float(np.mean(np.hypot(c * bx + s * mx, c * by + s * my)[self.geometry.cells(region)]))

    def bias_ensembles(self) -> list:
        return [magnet.ensemble for magnet in self.magnets]

    def anneal(self, temperature: float) -> None:
        for magnet in self.magnets:
            magnet.anneal(temperature, self.superconductor.critical_temperature)

    def magnetisation(self) -> dict[str, float]:
        """Mean state of each magnetic region, all axes together (for tests and people)."""
        return {magnet.name: magnet.total() for magnet in self.magnets}

    def magnetisation_by_axis(self) -> dict[str, dict[Polarisation, float]]:
        return {magnet.name: magnet.magnetisation() for magnet in self.magnets}

    # Patterns and maps ---------------------------------------------------------------------
    def pattern(self, region: str, kind: str, leads: tuple[str, str] | None = None) -> np.ndarray:
        """g (A) of a region's anomalous currents per unit state, magnetised by the bias
        between `leads` (default: the leads in use) or by the Meissner current."""
        if kind == "meissner":
            return meissner_patterns(self.description, self.base_temperature)[f"pattern:{region}"]
        return bias_patterns(self.description, leads or self.bias_leads, self.base_temperature)[f"pattern:{region}"]

    def _anomalous_map(self, magnet: RegionMagnet, axis: Polarisation, z: float) -> np.ndarray:
        """Flux (Phi0) over the grid at height z of a region's anomalous currents per unit
        state along `axis`, their size included (kappa M_s, A/m).

        A mixed axis is the magnetisation of the mixed current, m ~ z x (cos a k_bias + sin a
        k_Meissner) / <|...|>: by the linearity of layer C, the two pure patterns in those
        proportions, each with the sample's kappa M_s of its kind."""
        m = magnet.magnetism
        if axis.angle == MEISSNER_ANGLE:
            return m.anomalous_meissner * self._map(magnet.name, z, kind="meissner")
        if axis.angle == BIAS_ANGLE:
            return m.anomalous_bias * self._map(magnet.name, z, kind="bias", leads=axis.leads)
        c, s = math.cos(axis.radians), math.sin(axis.radians)
        size = self._mixture_mean_size(magnet.name, axis)
        return (c * m.anomalous_bias * self._map(magnet.name, z, kind="bias", leads=axis.leads)
                + s * m.anomalous_meissner * self._map(magnet.name, z, kind="meissner")) / size

    def _forward(self, z: float) -> ForwardModel:
        key = round(z, 12)
        if key not in self._forward_models:
            self._forward_models[key] = ForwardModel(self.geometry.grid, z, self.pickup_radius)
        return self._forward_models[key]

    def _solved_at(self, temperature: float | None) -> float:
        """The temperature (K) whose responses stand for `temperature`: to the nearest 0.1 K, not below base."""
        if temperature is None:
            return self.base_temperature
        solved_at = max(round(temperature, 1), self.base_temperature)
        return self.base_temperature if solved_at == self.base_temperature else solved_at

    def _map(self, name: str, z: float, temperature: float | None = None, kind: str | None = None,
             leads: tuple[str, str] | None = None) -> np.ndarray:
        """Flux (Phi0) over the grid at height z (m) of one linear response per unit drive:
        "bias" (per A, the leads in use), "meissner" (per T), or a region's name with the
        `kind` of current that magnetised it (its anomalous currents per unit state, without
        their size). The bias and Meissner responses follow Lambda(T) = Lambda_0 / rho_s(T),
        solved again to the nearest 0.1 K."""
        solved_at = self._solved_at(temperature)
        if name == "bias" or kind == "bias":
            leads = leads or self.bias_leads
        key = (name, round(z, 12), solved_at, leads, kind)
        if key not in self._maps:
            model = self._forward(z)
            if name == "bias":
                assert leads is not None
                bias = bias_response(self.description, solved_at, leads)
                self._maps[key] = model.flux_from_sensor_bz_spectrum(self.geometry.grid.to_k(bias.bz(z, 1.0)))
            elif name == "meissner":
                self._maps[key] = model.flux(meissner_response(self.description, solved_at))
            else:
                assert kind is not None
                self._maps[key] = model.flux(self.pattern(name, kind, leads))
        return self._maps[key]

    def map_value(self, name: str, point: tuple[float, float], z: float | None = None) -> float:
        """One response (Phi0 per unit drive) at a point (m), at height z (default: the scan
        height): "bias", "meissner", or "pattern:<region>:bias|meissner" (per unit state)."""
        z = self.scan_height if z is None else z
        kind = None
        if name.startswith("pattern:"):
            _, name, kind = name.split(":")
        return float(self._interpolate(self._map(name, z, kind=kind), [point[0]], [point[1]])[0])

    def probe(self, name: str) -> tuple[float, float]:
        """A probe point of the sample file (m)."""
        return self.description.probes[name]

    def _interpolate(self, image: np.ndarray, xs, ys) -> np.ndarray:
        grid = self.geometry.grid
        interpolator = scipy.interpolate.RegularGridInterpolator(
            (grid.y, grid.x), image, bounds_error=False, fill_value=0.0
        )
        return interpolator(np.column_stack([np.ravel(ys), np.ravel(xs)]))

    # Readings --------------------------------------------------------------------------
    def _terms(self, z: float, bias_current: float, field: float, temperature: float,
               field_at_cooldown: float) -> list[tuple[float, np.ndarray]]:
        """The flux at height z as (coefficient, flux map per unit) pairs to add up: the
        bias's own field, the screening of the field change since the film last became
        superconducting (`field_at_cooldown`, T: a field-cooled film holds the field it
        cooled in), and each region's anomalous currents along each of its axes."""
        if temperature >= self.superconductor.critical_temperature:
            # a normal film: no screening, no anomalous currents; the bias spreads as in a
            # film with no kinetic-inductance contrast (approximated by the base-T map)
            return [(bias_current, self._map("bias", z))]
        terms = [(bias_current, self._map("bias", z, temperature)),
                 (field - field_at_cooldown, self._map("meissner", z, temperature))]
        for magnet in self.magnets:
            states = magnet.magnetisation()
            m = magnet.magnetism
            if m.reversible_fraction:
                # Phenomenological reversible magnetisation along the bias axis (model R's quintic term).
                drive = bias_current * float(self._bias_patterns()[f"scale:{magnet.name}"])
                axis = Polarisation(self.bias_leads, BIAS_ANGLE)
                reversible = m.reversible_fraction * math.copysign(abs(drive / m.reversible_reference) ** 5, drive)
                states[axis] = states.get(axis, 0.0) + reversible
            terms += [(state, self._anomalous_map(magnet, axis, z)) for axis, state in states.items() if state]
        return terms

    def flux_image(self, z: float, bias_current: float, field: float, temperature: float,
                   field_at_cooldown: float = 0.0) -> np.ndarray:
        """Noise-free flux (Phi0) over the grid at height z (see `_terms`)."""
        image = np.zeros(self.geometry.grid.shape)
        for coefficient, flux_map in self._terms(z, bias_current, field, temperature, field_at_cooldown):
            if coefficient:
                image += coefficient * flux_map
        return image

    def flux(self, xs, ys, z, bias_current: float, field: float, temperature: float,
             field_at_cooldown: float = 0.0) -> np.ndarray:
        """Noise-free flux (Phi0) at the points (xs, ys) (m) with the sensor at height z (m,
        a number or one per point): each map read there (bilinear, zero beyond the window)
        and the readings added, not whole images."""
        xs, ys = np.broadcast_arrays(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))

        def at_height(height: float, where: np.ndarray) -> np.ndarray:
            read = _BilinearReader(self.geometry.grid, xs.ravel()[where], ys.ravel()[where])
            total = np.zeros(read.ix.size)
            for coefficient, flux_map in self._terms(height, bias_current, field, temperature, field_at_cooldown):
                if coefficient:
                    total += coefficient * read(flux_map)
            return total

        return _between_heights(np.broadcast_to(np.asarray(z, dtype=float), xs.shape), at_height)

    def susceptibility(self, xs, ys, z, temperature: float, coil) -> np.ndarray:
        """Susceptometry (Phi0/A) of the finite film at (xs, ys), height z (m, a number or
        one per point): the coil's field screened by the film, read by the pickup loop
        (sims.film.susceptibility_map). Independent of the magnetic state (golden check 6,
        docs/physics.md)."""
        xs, ys = np.broadcast_arrays(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        if temperature >= self.superconductor.critical_temperature:
            return np.zeros(xs.shape)

        def at_height(height: float, where: np.ndarray) -> np.ndarray:
            lattice = _susceptibility_lattice(self.description, round(max(temperature, self.base_temperature), 1),
                                              round(height, 9), coil.field_coil_radius, coil.pickup_radius)
            return lattice(np.column_stack([ys.ravel()[where], xs.ravel()[where]]))

        return _between_heights(np.broadcast_to(np.asarray(z, dtype=float), xs.shape), at_height)


HEIGHT_STEP = 0.05e-6  # m: readings at heights between these steps are interpolated linearly


def _between_heights(heights: np.ndarray, at_height) -> np.ndarray:
    """`at_height(h, where)` (values at the points `where` selects, for one height h, m) at
    every point's own height: at once when all share one; otherwise linearly between the
    multiples of HEIGHT_STEP around each (a tilted sample under a level scan). Each
    height's maps are made once (flux maps and lattices are kept per height)."""
    flat = heights.ravel()
    if flat.size and np.ptp(flat) < 1e-12:
        return at_height(float(flat[0]), np.ones(flat.size, dtype=bool)).reshape(heights.shape)
    position = flat / HEIGHT_STEP
    lower = np.floor(position)
    fraction = position - lower
    result = np.zeros(flat.size)
    for step in np.unique(lower):
        for offset, weight in ((0, 1.0 - fraction), (1, fraction)):
            where = (lower == step) & (weight > 0)
            if where.any():
                result[where] += weight[where] * at_height((step + offset) * HEIGHT_STEP, where)
    return result.reshape(heights.shape)


class _BilinearReader:
    """Reads grid images at fixed points (m): bilinear between cell centres, zero outside
    the span of the centres (as RegularGridInterpolator with fill_value 0). The weights
    are found once for all the images read at the same points."""

    def __init__(self, grid: Grid, xs: np.ndarray, ys: np.ndarray) -> None:
        fx = (xs - grid.x[0]) / grid.dx
        fy = (ys - grid.y[0]) / grid.dx
        self.inside = (fx >= 0) & (fx <= grid.nx - 1) & (fy >= 0) & (fy <= grid.ny - 1)
        ix = np.clip(np.floor(fx), 0, grid.nx - 2).astype(int)
        iy = np.clip(np.floor(fy), 0, grid.ny - 2).astype(int)
        self.ix, self.iy = ix, iy
        self.wx = np.clip(fx - ix, 0.0, 1.0)
        self.wy = np.clip(fy - iy, 0.0, 1.0)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        ix, iy, wx, wy = self.ix, self.iy, self.wx, self.wy
        values = ((1 - wy) * ((1 - wx) * image[iy, ix] + wx * image[iy, ix + 1])
                  + wy * ((1 - wx) * image[iy + 1, ix] + wx * image[iy + 1, ix + 1]))
        return np.where(self.inside, values, 0.0)


@lru_cache(maxsize=8)
def _susceptibility_lattice(sample: SampleDescription, temperature: float, z: float, field_coil_radius: float,
                            pickup_radius: float):
    """The film's susceptometry lattice (the longest of the solves), from the disk cache when it can be."""
    geometry = SusceptometryGeometry(field_coil_radius, pickup_radius, z)

    def solve() -> dict[str, np.ndarray]:
        ys, xs, values = susceptibility_lattice_values(
            mask_of=sample.on_film,
            pearl_length_of=lambda X, Y: sample.pearl_length_at(X, Y, temperature),
            window=sample.window(),
            geometry=geometry,
            domains_of=sample.domain_labels,
        )
        return {"ys": ys, "xs": xs, "values": values}

    arrays = _cached("susceptometry lattice", sample, solve, temperature=temperature, geometry=repr(geometry))
    return scipy.interpolate.RegularGridInterpolator((arrays["ys"], arrays["xs"]), arrays["values"],
                                                     bounds_error=False, fill_value=0.0)
