"""The `sim` backend: builds the twin's world, its simulated clock and instruments
from the `sim:` block of a station file.

    backend: sim
    sim:
      seed: 20231            # every random number of the twin derives from it
      pace: null             # simulated s per wall s; null = as fast as possible
      sample: film           # film: the spatial model; lumped: model R at the park point
      base_temperature: 1.5 K
      thermal_time_constant: 30 s
      flux_noise: 1 uPhi0    # white density, per sqrt(Hz)
      flux_noise_corner: 0.1 Hz
"""

from __future__ import annotations

from dataclasses import replace

from sqm.clock import SimulatedClock
from sqm.errors import UserInputError
from sqm.limits import StationLimits
from sqm.station import Backend
from sqm.units import to_si

from .instruments import (
    SimCurrentSource,
    SimMagnet,
    SimScanner,
    SimSquidReadout,
    SimTemperatureController,
    SimVoltmeter,
)
from .world import World, WorldSettings

# station-file key -> (WorldSettings field, dimension)
_SETTINGS = {
    "base_temperature": ("base_temperature", "temperature"),
    "start_temperature": ("start_temperature", "temperature"),
    "thermal_time_constant": ("thermal_time_constant", "time"),
    "temperature_noise": ("temperature_noise", "temperature"),
    "flux_noise": ("flux_noise_white", "flux"),
    "flux_noise_corner": ("flux_noise_corner", "frequency"),
    "scan_height": ("scan_height", "length"),
}


def build_backend(config: dict, limits: StationLimits, tolerant: bool = False) -> Backend:
    """Make the twin from a station file's `sim:` block (every role always answers)."""
    if not isinstance(config, dict):
        raise UserInputError("'sim' must be a mapping")
    config = dict(config)
    pace = config.pop("pace", None)
    seed = config.pop("seed", WorldSettings.seed)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UserInputError(f"sim.seed must be an integer, got {seed!r}")
    sample_model = config.pop("sample", WorldSettings.sample_model)
    if sample_model not in ("film", "lumped"):
        raise UserInputError(f"sim.sample must be 'film' or 'lumped', got {sample_model!r}")
    settings = WorldSettings(seed=seed, sample_model=sample_model)
    for key in list(config):
        if key not in _SETTINGS:
            raise UserInputError(f"sim: unknown setting {key!r} (known: pace, seed, sample, {', '.join(_SETTINGS)})")
        name, dimension = _SETTINGS[key]
        try:
            settings = replace(settings, **{name: to_si(config.pop(key), dimension)})
        except UserInputError as error:
            raise UserInputError(f"sim.{key}: {error}") from None
    try:
        clock = SimulatedClock(pace=None if pace is None else to_si(pace, "dimensionless"))
    except ValueError as error:
        raise UserInputError(f"sim.pace: {error}") from None
    entry = settings.superconductor.vortex_entry_field
    if max(abs(limits.field.minimum), abs(limits.field.maximum)) >= entry:
        raise UserInputError(
            f"limits.field reaches {max(abs(limits.field.minimum), abs(limits.field.maximum)) * 1e4:.3g} G; the "
            f"twin has no vortices, so its field limit must stay below the entry field {entry * 1e4:.3g} G"
        )
    world = World(settings)
    clock.add_listener(world.advance)
    roles = {
        "current_source": SimCurrentSource(world),
        "magnet": SimMagnet(world),
        "temperature": SimTemperatureController(world),
        "scanner": SimScanner(world),
        "squid": SimSquidReadout(world),
        "voltmeter": SimVoltmeter(world),
    }
    return Backend(kind="sim", roles=roles, clock=clock, badge="TWIN", reads_beside_runs=True)
