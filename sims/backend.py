"""The `sim` backend: builds the twin's world, its simulated clock and instruments
from the `sim:` block of a station file.

    backend: sim
    sim:
      seed: 20231            # every random number of the twin derives from it
      pace: null             # simulated s per wall s; null = as fast as possible
      sample: film           # film: the spatial model; lumped: model R at the park point (docs/physics.md)
      base_temperature: 1.5 K
      thermal_time_constant: 30 s
      flux_noise: 1 uPhi0/Hz^0.5   # white density ('1 uPhi0': per root hertz implied)
      flux_noise_corner: 0.1 Hz

`validate_config` checks the block as `build_backend` reads it (types, units and
physically sane ranges) without building the twin: `sqm check` runs it.
"""

from __future__ import annotations

import inspect
from dataclasses import replace

from sqm.clock import SimulatedClock
from sqm.errors import UserInputError
from sqm.limits import PlausibleRange, StationLimits, read_setting, shown
from sqm.role_list import ROLES
from sqm.station import Backend

from . import instruments
from .world import World, WorldSettings


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
}
# Simulated seconds per wall second: slower than 1/100 of the lab freezes the twin.
_PACE = PlausibleRange("pace", "dimensionless", 0.01, 1e6, "100")
_SAMPLE_MODELS = ("film", "lumped")
_KNOWN = ("pace", "seed", "sample", *_SETTINGS)


def validate_config(config: dict, limits: StationLimits) -> None:
    """Check a station file's `sim:` block exactly as build_backend reads it, building nothing.

    Errors are one UserInputError naming the key (`sim.flux_noise: ...`); the station
    adds the file.
    """
    _read_config(config, limits)


def build_backend(config: dict, limits: StationLimits, tolerant: bool = False) -> Backend:
    """Make the twin from a station file's `sim:` block (every role always answers)."""
    settings, pace = _read_config(config, limits)
    clock = SimulatedClock(pace=pace)
    world = World(settings)
    clock.add_listener(world.advance)
    roles = {entry.name: _twin_instrument(entry.role_type)(world) for entry in ROLES}
    return Backend(kind="sim", roles=roles, clock=clock, badge="TWIN", reads_beside_runs=True)


def _read_config(config: dict, limits: StationLimits) -> tuple[WorldSettings, float | None]:
    """The twin's settings and pace (simulated s per wall s, None: as fast as possible)."""
    if not isinstance(config, dict):
        raise UserInputError(f"sim: must be a mapping of the twin's settings, got {shown(config)}")
    unknown = sorted(str(key) for key in set(config) - set(_KNOWN))
    if unknown:
        raise UserInputError(f"sim: unknown setting {unknown[0]!r} (known: {', '.join(_KNOWN)})")
    seed = config.get("seed", WorldSettings.seed)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UserInputError(f"sim.seed: must be a whole number, 0 or more, got {shown(seed)}")
    sample_model = config.get("sample", WorldSettings.sample_model)
    if sample_model not in _SAMPLE_MODELS:
        raise UserInputError(f"sim.sample: must be 'film' or 'lumped', got {shown(sample_model)}")
    settings = WorldSettings(seed=seed, sample_model=sample_model)
    for key, (name, plausible) in _SETTINGS.items():
        if key in config:
            settings = replace(settings, **{name: read_setting(config, "sim", key, plausible)})
    pace = None if config.get("pace") is None else read_setting(config, "sim", "pace", _PACE)
    _check_field_below_vortex_entry(settings, limits)
    return settings, pace


def _check_field_below_vortex_entry(settings: WorldSettings, limits: StationLimits) -> None:
    entry = settings.superconductor.vortex_entry_field
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
