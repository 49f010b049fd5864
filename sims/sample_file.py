"""Sample files: everything the twin knows about one sample, read strictly from YAML.

A sample file (`configs/samples/*.yaml`, docs/samples.md) describes a film by its
outline (a polygon, or a two-colour PNG mask with its pixel size), the regions inside
it (Pearl length, critical temperature, and the magnetic parameters of the region),
its leads (any number, each attached to a point of the outline with a width), the
pair of leads a bias current uses by default, named probe points, the surface
(height offset and tilt, for scanning work) and its transport. Every number about a
sample lives in its file; the code holds only numerical choices (the grid) and
physical constants.

`load_sample(path)` returns a `SampleDescription`; any mistake is one UserInputError
naming the file, the key and the value (`fese_flake.yaml: leads.drain.at: ...`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from sqm.errors import UserInputError
from sqm.limits import PlausibleRange, shown

from .sample import SuperconductorParameters
from .sample_outline import LeadPlacement, Mask, Polygon, leads_overlap, mask_from_png, place_lead, polygon_from_points

UM = 1e-6
DEFAULT_CELL = 0.5 * UM  # m: grid of the film solves (a numerical choice, not the sample's)
DEFAULT_MARGIN = 15 * UM  # m: window beyond the outline, so the window covers a scan around it


@dataclass(frozen=True)
class Magnetism:
    """A magnetic region's hysterons and how supercurrents polarise them (docs/physics.md,
    "One magnetisation mechanism"). Sheet current densities in A/m, temperatures in K.

    coercivity, coercivity_spread, interaction_spread: the Preisach thresholds, in the
        region-mean sheet current density along the easy axis (A/m).
    meissner_drive_ratio: how much a Meissner current counts against those thresholds
        relative to a bias current of the same density (phenomenological; the open
        question of one threshold for bias and field).
    anomalous_bias, anomalous_meissner: kappa M_s of a saturated region magnetised by a
        bias or a Meissner current, the anomalous sheet current where |m| = 1 (A/m).
    reversible_fraction, reversible_reference: the reversible quintic magnetisation
        (model R's term, phenomenological): fraction * sgn(u) |u / reference|^5 along
        the bias axis, u the bias drive (A/m).
    """

    coercivity: float
    coercivity_spread: float
    interaction_spread: float
    blocking_temperature: float
    blocking_spread: float
    meissner_drive_ratio: float
    anomalous_bias: float
    anomalous_meissner: float
    reversible_fraction: float = 0.0
    reversible_reference: float = 1.0
    pairs: int = 20000


@dataclass(frozen=True)
class Region:
    """A named part of the film: its shape, the superconducting domain it belongs to
    (regions of one domain share their anomalous-current solve), Lambda(0) (m), T_c (K)."""

    name: str
    shape: Polygon | Mask
    domain: str
    pearl_length: float
    critical_temperature: float
    magnetism: Magnetism | None


@dataclass(frozen=True)
class LeadSpec:
    """A lead attached to the outline at `at` (m), `width` (m) wide."""

    name: str
    at: tuple[float, float]
    width: float
    placement: LeadPlacement


@dataclass(frozen=True)
class Surface:
    """The sample surface: height offset (m) and tilt (dz/dx, dz/dy), for scanning work."""

    height_offset: float = 0.0
    tilt: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True, eq=False)
class SampleDescription:
    """One sample, as its file describes it (SI units). `text` is the file's own text,
    stored with every run made on it; two descriptions are the same sample when their
    texts and grids are (what the solve caches key on)."""

    name: str
    path: str
    text: str
    outline: Polygon | Mask
    pearl_length: float  # m, Lambda(0) of film outside every region
    regions: tuple[Region, ...]
    leads: dict[str, LeadSpec]
    bias_leads: tuple[str, str]
    probes: dict[str, tuple[float, float]]
    surface: Surface
    transport: SuperconductorParameters
    cell: float = DEFAULT_CELL
    margin: float = DEFAULT_MARGIN
    extra: dict = field(default_factory=dict, compare=False)

    def _identity(self) -> tuple:
        return self.text, self.path, self.cell, self.margin

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SampleDescription) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    @property
    def critical_temperature(self) -> float:
        return self.transport.critical_temperature

    def region_named(self, name: str) -> Region:
        return next(region for region in self.regions if region.name == name)

    def window(self) -> tuple[float, float]:
        """Half-sizes (m) of the computed window, centred on the origin: the outline plus the margin."""
        xmin, xmax, ymin, ymax = self.outline.bounds()
        return max(abs(xmin), abs(xmax)) + self.margin, max(abs(ymin), abs(ymax)) + self.margin

    def region_labels(self, xs, ys) -> np.ndarray:
        """Index of the region at each point (-1: film outside every region, or off the film).
        Later regions win where regions overlap."""
        xs, ys = np.broadcast_arrays(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        labels = np.full(xs.shape, -1)
        for index, region in enumerate(self.regions):
            labels[region.shape.contains(xs, ys)] = index
        return labels

    def domain_labels(self, xs, ys) -> np.ndarray:
        """An integer per superconducting domain at each point (film outside regions: 0)."""
        names = [""] + sorted({region.domain for region in self.regions})
        regions = self.region_labels(xs, ys)
        labels = np.zeros(regions.shape, dtype=int)
        for index, region in enumerate(self.regions):
            labels[regions == index] = names.index(region.domain)
        return labels

    def pearl_length_at(self, xs, ys, temperature: float) -> np.ndarray:
        """Lambda(T) (m) at each point: Lambda(0) / rho_s(T) with each region's own T_c.
        A region above its T_c gets a Pearl length 1e3 times its Lambda(0): it no longer screens."""
        regions = self.region_labels(xs, ys)
        values = np.full(regions.shape, self.pearl_length / _superfluid(temperature, self.critical_temperature))
        for index, region in enumerate(self.regions):
            rho = _superfluid(temperature, region.critical_temperature)
            values[regions == index] = region.pearl_length / rho
        return values

    def on_film(self, xs, ys) -> np.ndarray:
        return self.outline.contains(xs, ys)


def _superfluid(temperature: float, critical_temperature: float) -> float:
    t = temperature / critical_temperature
    return max(1e-3, 1.0 - t * t)


# Reading ------------------------------------------------------------------------------
_LENGTH = PlausibleRange("length", "length", -1e-2, 1e-2, "20 um")
_POSITIVE_LENGTH = PlausibleRange("length", "length", 0.0, 1e-2, "4 um", above_low=True)
_PEARL = PlausibleRange("Pearl length", "length", 0.0, 1.0, "5 um", above_low=True,
                        why="Lambda = lambda^2 / d must be positive")
_TEMPERATURE = PlausibleRange("temperature", "temperature", 0.0, 300.0, "6 K", above_low=True)
_SPREAD_T = PlausibleRange("temperature spread", "temperature", 0.0, 100.0, "0.45 K", above_low=True)
_CURRENT = PlausibleRange("current", "current", 0.0, 10.0, "264 uA", above_low=True)
_RESISTANCE = PlausibleRange("resistance", "ohm", 0.0, 1e9, "2 ohm", above_low=True)
_SHEET = PlausibleRange("sheet current density", "A/m", 0.0, 1e9, "1.86 A/m", above_low=True)
_SHEET_OR_ZERO = PlausibleRange("sheet current density", "A/m", 0.0, 1e9, "0.3 A/m")
_RATIO = PlausibleRange("ratio", "dimensionless", 0.0, 1e6, "0.03", above_low=True)
_FRACTION = PlausibleRange("fraction", "dimensionless", 0.0, 100.0, "0.78")
_FIELD = PlausibleRange("field", "field", 0.0, 10.0, "500 G", above_low=True)
_TILT = PlausibleRange("tilt", "dimensionless", -0.5, 0.5, "0.01")
_PIXEL = PlausibleRange("pixel size", "length", 0.0, 1e-3, "0.5 um", above_low=True)

_TOP_KEYS = ("name", "description", "outline", "superconductor", "transport", "regions", "leads",
             "bias_leads", "probes", "surface", "grid")


class _Reader:
    """Reads one sample file; every error names the file and the dotted key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> UserInputError:
        return UserInputError(f"{self.path.name}: {key}: {message}")

    def mapping(self, value, key: str, known: tuple[str, ...] | None = None, required=()) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a mapping, got {shown(value)}")
        if known is not None:
            unknown = sorted(str(k) for k in set(value) - set(known))
            if unknown:
                raise self.fail(f"{key}.{unknown[0]}" if key else unknown[0],
                                f"unknown key (known: {', '.join(known)})")
        for name in required:
            if name not in value:
                raise self.fail(f"{key}.{name}" if key else name, "is missing")
        return value

    def quantity(self, block: dict, key: str, where: str, plausible: PlausibleRange, default=None) -> float:
        if key not in block:
            if default is None:
                raise self.fail(f"{where}.{key}", f"is missing (e.g. {plausible.example})")
            return default
        try:
            return plausible.read(block[key])
        except UserInputError as error:
            raise self.fail(f"{where}.{key}", str(error)) from None

    def point(self, value, key: str) -> tuple[float, float]:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise self.fail(key, f"must be a point [x, y] with units, got {shown(value)}")
        try:
            return _LENGTH.read(value[0]), _LENGTH.read(value[1])
        except UserInputError as error:
            raise self.fail(key, str(error)) from None

    def shape(self, block: dict, key: str) -> Polygon | Mask:
        """A polygon (`polygon: [[x, y], ...]`) or a mask (`mask: file.png, pixel_size: ...`)."""
        if ("polygon" in block) == ("mask" in block):
            raise self.fail(key, "give either a polygon or a mask image, not both or neither")
        try:
            if "polygon" in block:
                points = block["polygon"]
                if not isinstance(points, list):
                    raise UserInputError(f"must be a list of points [x, y], got {shown(points)}")
                return polygon_from_points([self.point(p, f"{key}.polygon[{i}]") for i, p in enumerate(points)])
            pixel = self.quantity(block, "pixel_size", key, _PIXEL)
            centre = self.point(block.get("centre", [0, 0]), f"{key}.centre")
            image = self.path.parent / str(block["mask"])
            return mask_from_png(image, pixel, centre)
        except UserInputError as error:
            if str(error).startswith(self.path.name):
                raise
            where = f"{key}.polygon" if "polygon" in block else f"{key}.mask"
            raise self.fail(where, str(error)) from None


def load_sample(path: str | Path) -> SampleDescription:
    """Read and check a sample file (SI units inside). UserInputError on any mistake."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UserInputError(f"{path}: cannot read the sample file ({error.strerror or error})") from None
    return _parse_sample(str(path), text)


@lru_cache(maxsize=32)
def _parse_sample(path_text: str, text: str) -> SampleDescription:
    """The sample of a file's text (kept: a station is checked and built from the same file
    several times; the same path and text is the same sample)."""
    path = Path(path_text)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserInputError(f"{path.name}: not valid YAML{where}") from None
    reader = _Reader(path)
    data = reader.mapping(data, "", _TOP_KEYS, required=("name", "outline", "superconductor", "leads"))
    name = data["name"]
    if not isinstance(name, str) or not name.strip():
        raise reader.fail("name", f"must be a non-empty text, got {shown(name)}")

    outline_block = reader.mapping(data["outline"], "outline", ("polygon", "mask", "pixel_size", "centre"))
    outline = reader.shape(outline_block, "outline")

    grid = reader.mapping(data.get("grid", {}), "grid", ("cell", "margin"))
    cell = reader.quantity(grid, "cell", "grid", _POSITIVE_LENGTH, DEFAULT_CELL)
    margin = reader.quantity(grid, "margin", "grid", _POSITIVE_LENGTH, DEFAULT_MARGIN)
    tolerance = max(cell, getattr(outline, "pixel_size", 0.0))

    superconductor = reader.mapping(data["superconductor"], "superconductor",
                                    ("pearl_length", "critical_temperature", "lower_critical_field", "thickness"),
                                    required=("pearl_length", "critical_temperature"))
    pearl = reader.quantity(superconductor, "pearl_length", "superconductor", _PEARL)
    critical_temperature = reader.quantity(superconductor, "critical_temperature", "superconductor", _TEMPERATURE)
    transport = _read_transport(reader, data.get("transport", {}), superconductor, critical_temperature, outline)

    regions = _read_regions(reader, data.get("regions", {}), outline, pearl, critical_temperature, cell)
    leads = _read_leads(reader, data["leads"], outline, tolerance)
    bias_leads = _read_bias_leads(reader, data.get("bias_leads"), leads)
    probes = {}
    for probe_name, value in reader.mapping(data.get("probes", {}), "probes").items():
        point = reader.point(value, f"probes.{probe_name}")
        if not bool(outline.contains(point[0], point[1])):
            raise reader.fail(f"probes.{probe_name}",
                              f"({point[0] / UM:.3g}, {point[1] / UM:.3g}) um is off the sample")
        probes[str(probe_name)] = point
    surface_block = reader.mapping(data.get("surface", {}), "surface", ("height_offset", "tilt"))
    tilt = surface_block.get("tilt", [0, 0])
    if not isinstance(tilt, (list, tuple)) or len(tilt) != 2:
        raise reader.fail("surface.tilt", f"must be [dz/dx, dz/dy], got {shown(tilt)}")
    surface = Surface(
        reader.quantity(surface_block, "height_offset", "surface", _LENGTH, 0.0),
        (reader.quantity({"x": tilt[0]}, "x", "surface.tilt", _TILT),
         reader.quantity({"y": tilt[1]}, "y", "surface.tilt", _TILT)),
    )
    return SampleDescription(
        name=name.strip(), path=str(path), text=text, outline=outline, pearl_length=pearl,
        regions=regions, leads=leads, bias_leads=bias_leads, probes=probes, surface=surface,
        transport=transport, cell=cell, margin=margin,
    )


def _read_transport(reader: _Reader, block, superconductor: dict, critical_temperature: float,
                    outline: Polygon | Mask) -> SuperconductorParameters:
    block = reader.mapping(block, "transport", ("critical_current", "normal_resistance", "transition"),
                           required=("critical_current", "normal_resistance"))
    transition = reader.mapping(block.get("transition", {}), "transport.transition", ("midpoint", "width"))
    xmin, xmax, ymin, ymax = outline.bounds()
    midpoint = reader.quantity(transition, "midpoint", "transport.transition", _TEMPERATURE,
                               0.93 * critical_temperature)
    if midpoint > critical_temperature:
        raise reader.fail("transport.transition.midpoint",
                          f"{midpoint:g} K lies above the critical temperature {critical_temperature:g} K")
    return SuperconductorParameters(
        critical_temperature=critical_temperature,
        critical_current_zero_t=reader.quantity(block, "critical_current", "transport", _CURRENT),
        normal_resistance=reader.quantity(block, "normal_resistance", "transport", _RESISTANCE),
        lower_critical_field=reader.quantity(superconductor, "lower_critical_field", "superconductor", _FIELD, 0.05),
        thickness=reader.quantity(superconductor, "thickness", "superconductor", _POSITIVE_LENGTH, 0.3 * UM),
        # the film's narrow side sets the vortex-entry field (thin film in perpendicular field)
        width=min(xmax - xmin, ymax - ymin),
        transition_midpoint=midpoint,
        transition_width=reader.quantity(transition, "width", "transport.transition", _SPREAD_T,
                                         0.05 * critical_temperature),
    )


_REGION_KEYS = ("polygon", "mask", "pixel_size", "centre", "domain", "pearl_length", "critical_temperature",
                "magnetism")
_MAGNETISM_KEYS = ("coercivity", "coercivity_spread", "interaction_spread", "blocking_temperature",
                   "blocking_spread", "meissner_drive_ratio", "anomalous_current", "reversible", "pairs")


def _read_regions(reader: _Reader, block, outline, pearl: float, critical_temperature: float,
                  cell: float) -> tuple[Region, ...]:
    regions = []
    for name, value in reader.mapping(block, "regions").items():
        key = f"regions.{name}"
        value = reader.mapping(value, key, _REGION_KEYS)
        shape = reader.shape(value, key)
        _require_inside(reader, key, shape, outline, cell)
        region_tc = reader.quantity(value, "critical_temperature", key, _TEMPERATURE, critical_temperature)
        if region_tc > critical_temperature:
            raise reader.fail(f"{key}.critical_temperature",
                              f"{region_tc:g} K is above the sample's {critical_temperature:g} K")
        domain = value.get("domain", name)
        if not isinstance(domain, str):
            raise reader.fail(f"{key}.domain", f"must be a name, got {shown(domain)}")
        magnetism = None
        if "magnetism" in value:
            magnetism = _read_magnetism(reader, value["magnetism"], f"{key}.magnetism")
        regions.append(Region(str(name), shape, domain,
                              reader.quantity(value, "pearl_length", key, _PEARL, pearl), region_tc, magnetism))
    return tuple(regions)


def _require_inside(reader: _Reader, key: str, shape, outline, cell: float) -> None:
    """A region must lie inside the outline (to within one cell)."""
    xmin, xmax, ymin, ymax = shape.bounds()
    xs, ys = np.meshgrid(np.arange(xmin + cell / 2, xmax, cell / 2), np.arange(ymin + cell / 2, ymax, cell / 2))
    inside_region = shape.contains(xs, ys)
    if not inside_region.any():
        raise reader.fail(key, "the region is smaller than one grid cell")
    outside = inside_region & ~outline.contains(xs, ys)
    if outside.any():
        # points at the region's own border may fall either way: a real overhang is wider than a cell
        if _overhang(outline, xs[outside], ys[outside]) > cell:
            x, y = xs[outside][0], ys[outside][0]
            raise reader.fail(key, f"reaches outside the outline, at ({x / UM:.3g}, {y / UM:.3g}) um")


def _overhang(outline, xs, ys) -> float:
    """How far (m) points outside the outline lie from it (a sample of them: enough to tell a cell from more)."""
    step = max(1, xs.size // 200)
    return max(outline.distance_to_boundary(x, y) for x, y in zip(xs[::step], ys[::step]))


def _read_magnetism(reader: _Reader, block, key: str) -> Magnetism:
    block = reader.mapping(block, key, _MAGNETISM_KEYS,
                           required=("coercivity", "meissner_drive_ratio", "anomalous_current"))
    coercivity = reader.quantity(block, "coercivity", key, _SHEET)
    anomalous = reader.mapping(block["anomalous_current"], f"{key}.anomalous_current", ("bias", "meissner"),
                               required=("bias", "meissner"))
    reversible = reader.mapping(block.get("reversible", {}), f"{key}.reversible", ("fraction", "reference"))
    pairs = block.get("pairs", 20000)
    if not isinstance(pairs, int) or isinstance(pairs, bool) or not 1 <= pairs <= 10_000_000:
        raise reader.fail(f"{key}.pairs", f"must be a whole number from 1 to 10000000, got {shown(pairs)}")
    return Magnetism(
        coercivity=coercivity,
        coercivity_spread=reader.quantity(block, "coercivity_spread", key, _SHEET, 0.014 * coercivity),
        interaction_spread=reader.quantity(block, "interaction_spread", key, _SHEET, 0.057 * coercivity),
        blocking_temperature=reader.quantity(block, "blocking_temperature", key, _TEMPERATURE, 4.0),
        blocking_spread=reader.quantity(block, "blocking_spread", key, _SPREAD_T, 0.45),
        meissner_drive_ratio=reader.quantity(block, "meissner_drive_ratio", key, _RATIO),
        anomalous_bias=reader.quantity(anomalous, "bias", f"{key}.anomalous_current", _SHEET_OR_ZERO),
        anomalous_meissner=reader.quantity(anomalous, "meissner", f"{key}.anomalous_current", _SHEET_OR_ZERO),
        reversible_fraction=reader.quantity(reversible, "fraction", f"{key}.reversible", _FRACTION, 0.0),
        reversible_reference=reader.quantity(reversible, "reference", f"{key}.reversible", _SHEET, 1.0),
        pairs=pairs,
    )


def _read_leads(reader: _Reader, block, outline, tolerance: float) -> dict[str, LeadSpec]:
    block = reader.mapping(block, "leads")
    if len(block) < 2:
        raise reader.fail("leads", f"a sample needs at least two leads to carry a current, got {len(block)}")
    leads: dict[str, LeadSpec] = {}
    for name, value in block.items():
        key = f"leads.{name}"
        value = reader.mapping(value, key, ("at", "width"), required=("at", "width"))
        at = reader.point(value["at"], f"{key}.at")
        width = reader.quantity(value, "width", key, _POSITIVE_LENGTH)
        try:
            placement = place_lead(outline, at, width, tolerance)
        except UserInputError as error:
            raise reader.fail(f"{key}.at", str(error)) from None
        for other in leads.values():
            if leads_overlap(placement, other.placement):
                raise reader.fail(key, f"at ({at[0] / UM:.3g}, {at[1] / UM:.3g}) um, {width / UM:.3g} um wide, "
                                       f"overlaps lead {other.name!r}")
        leads[str(name)] = LeadSpec(str(name), at, width, placement)
    return leads


def _read_bias_leads(reader: _Reader, value, leads: dict[str, LeadSpec]) -> tuple[str, str]:
    if value is None:
        if len(leads) != 2:
            raise reader.fail("bias_leads", f"is missing: name the source and drain among {', '.join(leads)}")
        source, drain = leads
        return source, drain
    return check_lead_pair(value, leads, f"{reader.path.name}: bias_leads")


def check_lead_pair(value, leads: dict, where: str) -> tuple[str, str]:
    """A [source, drain] pair of lead names the sample has; UserInputError naming `where` otherwise."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise UserInputError(f"{where}: must be [source, drain], got {shown(value)}")
    for name in value:
        if name not in leads:
            raise UserInputError(f"{where}: the sample has no lead {name!r} (it has {', '.join(leads)})")
    if value[0] == value[1]:
        raise UserInputError(f"{where}: source and drain are the same lead {value[0]!r}")
    return str(value[0]), str(value[1])


def describe(sample: SampleDescription) -> str:
    """One line for people: name, size, regions, leads."""
    xmin, xmax, ymin, ymax = sample.outline.bounds()
    return (f"{sample.name}: {(xmax - xmin) / UM:.3g} x {(ymax - ymin) / UM:.3g} um, "
            f"regions {', '.join(r.name for r in sample.regions) or 'none'}, "
            f"bias {sample.bias_leads[0]} -> {sample.bias_leads[1]}")

