"""The `sim` backend: builds the twin's world, its simulated clock and instruments
from the `sim:` block of a station file.

    backend: sim
    sim:
      seed: 20231            # every random number of the twin derives from it
      pace: null             # simulated s per wall s; null = as fast as possible
      sample: configs/samples/fese_flake.yaml   # the sample file (docs/samples.md); default: the paper's flake
      model: film            # film: the spatial model of the sample; lumped: model R at the park point
      bias_leads: [source, drain]   # optional: a pair of the sample's leads other than its own default
      base_temperature: 1.5 K
      thermal_time_constant: 30 s
      flux_noise: 1 uPhi0/Hz^0.5   # white density ('1 uPhi0': per root hertz implied)
      flux_noise_corner: 0.1 Hz
      surface_distance: 0 um   # how far below z = 0 the surface starts; beyond the fine z's
                               # reach the station knows no surface until a coarse_approach
      squid:                   # the nano-SQUID itself (docs/squid.md); with it the twin fills
        effective_area: 1.2 um^2   # the squid_bias role (and needs limits.squid_bias)
        readout: fll           # or open_loop

`validate_config` checks the block as `build_backend` reads it (types, units and
physically sane ranges) without building the twin: `sqm check` runs it.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from pathlib import Path

from sqm.clock import SimulatedClock
from sqm.errors import UserInputError
from sqm.limits import LeadRouting, PlausibleRange, StationLimits, read_setting, shown
from sqm.role_list import ROLES
from sqm.station import Backend

from . import instruments
from .flux_locked_loop import FluxLockedLoopSettings
from .nano_squid import READOUTS, NanoSquidSettings
from .sample_file import check_lead_pair, load_sample
from .world import PAPER_SAMPLE, World, WorldSettings


def _positive(what: str, unit: str, high: float, example: str) -> PlausibleRange:
    return PlausibleRange(what, unit, 0.0, high, example, above_low=True)


# Station-file key -> (WorldSettings field, what it may be): physically sane bounds, so
# a typo (a negative time constant, a 1e30 K cryostat) is refused before any run.
_SETTINGS: dict[str, tuple[str, PlausibleRange]] = {
    "base_temperature": ("base_temperature", _positive("temperature", "temperature", 300.0, "1.5 K")),
    "start_temperature": ("start_temperature", _positive("temperature", "temperature", 300.0, "8 K")),
    "thermal_time_constant": ("thermal_time_constant", PlausibleRange("time constant", "time", 1e-3, 86400.0, "30 s")),
    "temperature_noise": ("temperature_noise", PlausibleRange("temperature noise", "temperature", 0.0, 1.0, "0.5 mK")),
    # a white density; '1 uPhi0' (per root hertz implied) is read as station files have written it
    "flux_noise": ("flux_noise_white", PlausibleRange(
        "flux noise density", "Phi0/Hz^0.5", 0.0, 1e-3, "1 uPhi0/Hz^0.5", alternative_unit="flux")),
    "flux_noise_corner": ("flux_noise_corner", PlausibleRange("corner frequency", "frequency", 0.0, 1e3, "0.1 Hz")),
    "scan_height": ("scan_height", _positive("scan height", "length", 100e-6, "1 um")),
    "surface_distance": ("surface_distance", PlausibleRange("surface distance", "length", 0.0, 10e-3, "200 um")),
}
# Simulated seconds per wall second: slower than 1/100 of the lab freezes the twin.
_PACE = PlausibleRange("pace", "dimensionless", 0.01, 1e6, "100")
_SAMPLE_MODELS = ("film", "lumped")
_KNOWN = ("pace", "seed", "sample", "model", "bias_leads", "squid", *_SETTINGS)
# `sim.squid` key -> (where it goes: sensor, the readout's settings or the loop's; what it may be)
_SQUID_SETTINGS: dict[str, tuple[str, str, PlausibleRange]] = {
    "junction_critical_current": ("sensor", "junction_critical_current",
                                  _positive("junction critical current", "current", 0.1, "50 uA")),
    "critical_current_asymmetry": ("sensor", "critical_current_asymmetry",
                                   PlausibleRange("critical current asymmetry", "dimensionless", 0.0, 0.99, "0.05")),
    "loop_inductance": ("sensor", "loop_inductance", PlausibleRange("loop inductance", "H", 0.0, 1e-9, "8 pH")),
    "inductance_asymmetry": ("sensor", "inductance_asymmetry",
                             PlausibleRange("inductance asymmetry", "dimensionless", -0.99, 0.99, "0.2")),
    "shunt_resistance": ("sensor", "shunt_resistance", _positive("shunt resistance", "ohm", 1e4, "10 ohm")),
    "effective_area": ("sensor", "effective_area", _positive("effective area", "m^2", 1e-6, "1.2 um^2")),
    "rounding_current": ("squid", "rounding_current", PlausibleRange("rounding current", "current", 0.0, 0.01, "1 uA")),
    "voltage_noise": ("squid", "voltage_noise", PlausibleRange("voltage noise", "V/Hz^0.5", 0.0, 1e-3, "2 nV/Hz^0.5")),
    "slew_rate": ("fll", "slew_rate", _positive("FLL slew rate", "Phi0/s", 1e9, "1e5 Phi0/s")),
    "relock_time": ("fll", "relock_time", PlausibleRange("relock time", "time", 0.0, 60.0, "1 ms")),
}
_CHECKOUT = PAPER_SAMPLE.parents[2]  # the folder holding configs/: sample paths are also read from here


def validate_config(config: dict, limits: StationLimits) -> None:
    """Check a station file's `sim:` block exactly as build_backend reads it, building nothing.

    Errors are one UserInputError naming the key (`sim.flux_noise: ...`); the station
    adds the file.
    """
    read_world_settings(config, limits)


def lead_routing(config: dict) -> LeadRouting:
    """The sample's leads a step may drive a current between (the station's `limits.leads`):
    every lead of the sample file; the pair used by default is `sim.bias_leads`, else the file's."""
    path, _ = _sample_and_model(config)
    description = load_sample(path)
    default = description.bias_leads
    if "bias_leads" in config:
        default = check_lead_pair(config["bias_leads"], description.leads, "sim.bias_leads")
    return LeadRouting(names=tuple(description.leads), default=default, declared_in=path.name)


def build_backend(config: dict, limits: StationLimits, tolerant: bool = False) -> Backend:
    """Make the twin from a station file's `sim:` block (every role always answers)."""
    settings, pace = read_world_settings(config, limits)
    clock = SimulatedClock(pace=pace)
    world = World(settings)
    clock.add_listener(world.advance)
    names = role_names(config)
    roles = {entry.name: _twin_instrument(entry.role_type)(world) for entry in ROLES if entry.name in names}
    sample = world.description
    return Backend(kind="sim", roles=roles, clock=clock, badge="TWIN", reads_beside_runs=True, state_in_process=True,
                   sample={"name": sample.name, "file": sample.path, "text": sample.text,
                           "model": settings.sample_model, "leads": " -> ".join(world.default_bias_leads())})


def read_world_settings(config: dict, limits: StationLimits) -> tuple[WorldSettings, float | None]:
    """The twin's settings and pace (simulated s per wall s, None: as fast as possible), from
    a `sim:` block (also the world of an emulated station's instruments, sqm.emulators)."""
    if not isinstance(config, dict):
        raise UserInputError(f"sim: must be a mapping of the twin's settings, got {shown(config)}")
    unknown = sorted(str(key) for key in set(config) - set(_KNOWN))
    if unknown:
        raise UserInputError(f"sim: unknown setting {unknown[0]!r} (known: {', '.join(_KNOWN)})")
    seed = config.get("seed", WorldSettings.seed)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UserInputError(f"sim.seed: must be a whole number, 0 or more, got {shown(seed)}")
    sample_path, sample_model = _sample_and_model(config)
    description = load_sample(sample_path)
    bias_leads = None
    if "bias_leads" in config:
        bias_leads = check_lead_pair(config["bias_leads"], description.leads, "sim.bias_leads")
    settings = WorldSettings(seed=seed, sample_model=sample_model, sample_file=str(sample_path), bias_leads=bias_leads)
    for key, (name, plausible) in _SETTINGS.items():
        if key in config:
            settings = replace(settings, **{name: read_setting(config, "sim", key, plausible)})
    if "squid" in config:
        settings = replace(settings, squid=_squid_settings(config["squid"]))
    pace = None if config.get("pace") is None else read_setting(config, "sim", "pace", _PACE)
    _check_field_below_vortex_entry(description.transport.vortex_entry_field, limits)
    return settings, pace


def role_names(config: dict) -> tuple[str, ...]:
    """The roles the twin fills: every role of the list; the SQUID's own bias only when
    the block describes the sensor (`sim.squid`)."""
    return tuple(entry.name for entry in ROLES
                 if entry.name != "squid_bias" or (isinstance(config, dict) and "squid" in config))


def _squid_settings(block: object) -> NanoSquidSettings:
    """`sim.squid`: the sensor's parameters and its readout, each checked."""
    if not isinstance(block, dict):
        raise UserInputError(f"sim.squid: must be a mapping of the sensor's parameters, got {shown(block)}")
    unknown = sorted(str(key) for key in set(block) - {*_SQUID_SETTINGS, "readout"})
    if unknown:
        known = ", ".join(("readout", *_SQUID_SETTINGS))
        raise UserInputError(f"sim.squid: unknown setting {unknown[0]!r} (known: {known})")
    readout = block.get("readout", "fll")
    if readout not in READOUTS:
        raise UserInputError(f"sim.squid.readout: 'fll' or 'open_loop', got {shown(readout)}")
    parts: dict[str, dict[str, float]] = {"sensor": {}, "squid": {}, "fll": {}}
    for key, (part, name, plausible) in _SQUID_SETTINGS.items():
        if key in block:
            parts[part][name] = read_setting(block, "sim.squid", key, plausible)
    defaults = NanoSquidSettings()
    try:
        return replace(defaults, sensor=replace(defaults.sensor, **parts["sensor"]), readout=readout,
                       fll=FluxLockedLoopSettings(**{**vars(defaults.fll), **parts["fll"]}), **parts["squid"])
    except ValueError as error:  # a combination the model refuses (screening too strong...)
        raise UserInputError(f"sim.squid: {error}") from None


def _sample_and_model(config: dict) -> tuple[Path, str]:
    """The sample file and the model. `sample: film` / `sample: lumped`, which older station
    files wrote for the model, still mean the model, on the paper's flake."""
    sample = config.get("sample", str(PAPER_SAMPLE))
    model = config.get("model", "film")
    if sample in _SAMPLE_MODELS:
        if "model" in config:
            raise UserInputError(f"sim.sample: {sample!r} names a model; with sim.model set, name a sample file")
        sample, model = str(PAPER_SAMPLE), sample
    if model not in _SAMPLE_MODELS:
        raise UserInputError(f"sim.model: must be 'film' or 'lumped', got {shown(model)}")
    if not isinstance(sample, str) or not sample.strip():
        raise UserInputError(f"sim.sample: must be the path of a sample file, got {shown(sample)}")
    path = Path(sample).expanduser()
    if not path.is_absolute() and not path.exists() and (_CHECKOUT / path).exists():
        path = _CHECKOUT / path
    if not path.exists():
        raise UserInputError(f"sim.sample: no sample file {sample!r} (looked in {Path.cwd()} and {_CHECKOUT})")
    return path.resolve(), model


def _check_field_below_vortex_entry(entry: float, limits: StationLimits) -> None:
    reach = max(abs(limits.field.minimum), abs(limits.field.maximum))
    if reach >= entry:
        raise UserInputError(
            f"limits.field reaches {reach * 1e4:.3g} G; the twin has no vortices, so its field "
            f"limit must stay below the entry field {entry * 1e4:.3g} G"
        )


def _twin_instrument(role_type: type) -> type:
    """The twin's instrument (a class of sims/instruments.py) for a role of the role list."""
    for candidate in vars(instruments).values():
        if (isinstance(candidate, type) and candidate.__module__ == instruments.__name__
                and issubclass(candidate, role_type) and not inspect.isabstract(candidate)):
            return candidate
    raise TypeError(f"the twin has no instrument for the {role_type.__name__} role (sims/instruments.py)")
