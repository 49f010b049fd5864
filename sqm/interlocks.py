"""Interlocks: small watchers that stop a run when a reading goes wrong.

Each interlock reads the station and returns a reason when it trips, or None. The
runner evaluates them at checkpoints (at most once per `interval` seconds of
station time) and aborts, or pauses, with the reason stored in the file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from .errors import UserInputError
from .roles import MagnetState
from .units import to_si


class Interlock(ABC):
    """Watch one condition. `action` is 'abort' or 'pause'."""

    name: str = "interlock"

    def __init__(self, action: str = "abort") -> None:
        if action not in ("abort", "pause"):
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


@dataclass
class InterlockSet:
    """The interlocks of a station and how often they are read (s of station time)."""

    interlocks: list[Interlock]
    interval: float = 1.0

    @classmethod
    def from_config(cls, config: dict) -> "InterlockSet":
        """From a station file's `interlocks:` block; the quench and lock watches are on by default."""
        config = dict(config or {})
        action = config.pop("action", "abort")
        interval = to_si(config.pop("interval", 1.0), "time")
        interlocks: list[Interlock] = []
        if "temperature_max" in config:
            interlocks.append(TemperatureCeiling(to_si(config.pop("temperature_max"), "temperature"), action))
        if config.pop("squid_lock", True):
            interlocks.append(SquidLock(action))
        if config.pop("magnet_quench", True):
            interlocks.append(MagnetQuench("abort"))
        if config:
            raise UserInputError(f"station file: unknown interlock setting(s) {', '.join(sorted(config))}")
        return cls(interlocks, interval)

    def first_trip(self, station) -> tuple[Interlock, str] | None:
        for interlock in self.interlocks:
            reason = interlock.check(station)
            if reason:
                return interlock, reason
        return None
