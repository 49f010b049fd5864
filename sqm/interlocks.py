"""Interlocks: small watchers that stop a run when a reading goes wrong.

Each interlock reads the station and returns a reason when it trips, or None. The
runner evaluates them at checkpoints (at most once per `interval` seconds of
station time) and aborts, or pauses, with the reason stored in the file.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from dataclasses import dataclass

from .errors import UserInputError
from .limits import PlausibleRange, StationLimits, read_setting, refuse_unknown_keys, shown
from .roles import MagnetState

ACTIONS = ("abort", "pause")


class Interlock(ABC):
    """Watch one condition. `action` is 'abort' or 'pause'."""

    name: str = "interlock"

    def __init__(self, action: str = "abort") -> None:
        if action not in ACTIONS:
            raise UserInputError(f"interlock {self.name}: action must be 'abort' or 'pause'")
        self.action = action

    @abstractmethod
    def check(self, station) -> str | None:
        """A reason if tripped, else None."""


class TemperatureCeiling(Interlock):
    """Trips when the sample is warmer than `maximum` (K)."""

    name = "temperature_ceiling"

    def __init__(self, maximum: float, action: str = "abort") -> None:
        super().__init__(action)
        self.maximum = maximum

    def check(self, station) -> str | None:
        temperature = station.temperature.read_temperature()
        if not temperature <= self.maximum:
            return f"sample temperature {temperature:.4g} K above the interlock ceiling {self.maximum:.4g} K"
        return None


class SquidLock(Interlock):
    """Trips when the SQUID's flux-locked loop reports unlocked."""

    name = "squid_lock"

    def check(self, station) -> str | None:
        return None if station.squid.is_locked() else "SQUID flux-locked loop lost lock"


class MagnetQuench(Interlock):
    """Trips when the magnet supply reports a quench."""

    name = "magnet_quench"

    def check(self, station) -> str | None:
        return "magnet quench reported by the supply" if station.magnet.state() is MagnetState.QUENCH else None


DEFAULT_INTERVAL_S = 1.0
# How often the interlocks may be read (s of station time): an interlock read once a
# minute is slow already; one read once a day protects nothing.
INTERVAL = PlausibleRange("interval", "time", 0.0, 60.0, "1 s", above_low=True,
                          why="one read less often than once a minute protects nothing")
TEMPERATURE_MAX = PlausibleRange("temperature", "temperature", 0.0, 400.0, "12 K", above_low=True)
SETTINGS = ("temperature_max", "squid_lock", "magnet_quench", "interval", "action")
EXAMPLE = "{temperature_max: 12 K, squid_lock: true, magnet_quench: true, interval: 1 s}"


@dataclass
class InterlockSet:
    """The interlocks of a station and how often they are read (`interval`, s of station time).

    A station file's `action: pause` stays valid, but a pause waits for an operator to
    resume: a run nobody watches (a script, `sqm run` without a terminal) must use
    `from_config(config, interactive=False)` or `without_pauses()`, which turn every
    pause into an abort, or it would hold bias and field forever.
    """

    interlocks: list[Interlock]
    interval: float = DEFAULT_INTERVAL_S

    @classmethod
    def from_config(
        cls, config: dict | None, limits: StationLimits | None = None, interactive: bool = True
    ) -> "InterlockSet":
        """From a station file's `interlocks:` block; the quench and lock watches are on by default.

        `limits`, if given, refuses a `temperature_max` (K) at or below the lowest setpoint
        (it would trip at once). `interactive=False`: pauses become aborts (see the class).
        Errors are one UserInputError naming the key (`interlocks.interval: ...`).
        """
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise UserInputError(f"interlocks: must be a mapping such as {EXAMPLE}, got {shown(config)}")
        refuse_unknown_keys("interlocks", config, SETTINGS)
        action = config.get("action", "abort")
        if action not in ACTIONS:
            raise UserInputError(f"interlocks.action: must be 'abort' or 'pause', got {shown(action)}")
        interval = DEFAULT_INTERVAL_S
        if "interval" in config:
            interval = read_setting(config, "interlocks", "interval", INTERVAL)
        interlocks: list[Interlock] = []
        if "temperature_max" in config:
            interlocks.append(TemperatureCeiling(_temperature_max(config, limits), action))
        if _switch(config, "squid_lock"):
            interlocks.append(SquidLock(action))
        if _switch(config, "magnet_quench"):
            interlocks.append(MagnetQuench("abort"))  # a quench never waits for an operator
        result = cls(interlocks, interval)
        return result if interactive else result.without_pauses()

    def without_pauses(self) -> "InterlockSet":
        """A copy in which every pause interlock aborts instead (for runs nobody can resume)."""
        return InterlockSet([_aborting(interlock) for interlock in self.interlocks], self.interval)

    def first_trip(self, station) -> tuple[Interlock, str] | None:
        for interlock in self.interlocks:
            reason = interlock.check(station)
            if reason:
                return interlock, reason
        return None


def _temperature_max(config: dict, limits: StationLimits | None) -> float:
    """The ceiling (K); refused at or below the lowest setpoint the station allows."""
    ceiling = read_setting(config, "interlocks", "temperature_max", TEMPERATURE_MAX)
    if limits is not None and ceiling <= limits.temperature.minimum:
        raise UserInputError(
            f"interlocks.temperature_max: {shown(config['temperature_max'])} is not above limits.temperature.min "
            f"({limits.temperature.minimum:g} K): the interlock would trip at once"
        )
    return ceiling


def _switch(config: dict, key: str) -> bool:
    """An on/off setting, on by default; only YAML true/false (a typo must not switch a watch off)."""
    value = config.get(key, True)
    if not isinstance(value, bool):
        raise UserInputError(f"interlocks.{key}: must be true or false, got {shown(value)}")
    return value


def _aborting(interlock: Interlock) -> Interlock:
    if interlock.action == "abort":
        return interlock
    changed = copy.copy(interlock)
    changed.action = "abort"
    return changed
