"""Clocks: the only things in SQM that sleep.

`RealClock` sleeps on the wall clock, in short slices, so a stop request is seen
promptly. `SimulatedClock` advances simulated time at once and tells its listeners
(the twin's world) how far it moved, so a six-hour thermal cycle runs in seconds and
deterministically. With `pace` set, the simulated clock also sleeps wall time in
proportion, which lets a person watch a twin run fill in (GUI, crash tests).
`ScaledClock` is wall time run `speed` times faster, shared by a station of real drivers
and the instrument emulators they talk to (sqm.emulators): both see the same lab time.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from typing import Callable

StopCheck = Callable[[], bool]

# A wall-clock sleep is cut into slices this long, so a stop request is seen within it.
_SLEEP_SLICE_S = 0.05


def _never() -> bool:
    return False


class Clock(ABC):
    """Time source of a station. Times in seconds."""

    @abstractmethod
    def now(self) -> float:
        """Seconds since the clock was made."""

    @abstractmethod
    def sleep(self, seconds: float, should_stop: StopCheck = _never) -> None:
        """Wait `seconds`, returning early (without error) once `should_stop()` is true."""

    def pace_if_unpaced(self, pace: float) -> None:
        """Run no faster than `pace` simulated s per wall s, so people can watch (a
        window); a clock that already keeps a pace, e.g. wall time, is unchanged."""


def _wall_sleep(seconds: float, should_stop: StopCheck) -> None:
    deadline = time.monotonic() + seconds
    event = threading.Event()  # Event.wait is an interruptible sleep
    while not should_stop():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        event.wait(min(remaining, _SLEEP_SLICE_S))


class RealClock(Clock):
    """Wall-clock time, for real instruments."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._start

    def sleep(self, seconds: float, should_stop: StopCheck = _never) -> None:
        if seconds > 0:
            _wall_sleep(seconds, should_stop)


class ScaledClock(Clock):
    """Wall time run `speed` times faster: `now()` is the wall seconds since the clock was
    made times `speed`, and `sleep(s)` waits s / speed wall seconds. The lab time of an
    emulated station, whose instruments' world runs on the same clock."""

    def __init__(self, speed: float) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive (lab seconds per wall second)")
        self.speed = float(speed)
        self._start = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._start) * self.speed

    def sleep(self, seconds: float, should_stop: StopCheck = _never) -> None:
        if seconds > 0:
            _wall_sleep(seconds / self.speed, should_stop)


class SimulatedClock(Clock):
    """Simulated time: `sleep` advances `now()` at once and notifies listeners.

    Listeners are called as `listener(dt)` with the simulated seconds that passed,
    in the order they were added; the twin's world integrates its dynamics there.
    `pace` (simulated seconds per wall second), if given, makes each sleep also
    take dt / pace of wall time.
    """

    def __init__(self, pace: float | None = None) -> None:
        if pace is not None and pace <= 0:
            raise ValueError("pace must be positive (simulated seconds per wall second)")
        self._now = 0.0
        self._pace = pace
        self._listeners: list[Callable[[float], None]] = []
        self._lock = threading.Lock()

    @property
    def pace(self) -> float | None:
        return self._pace

    def pace_if_unpaced(self, pace: float) -> None:
        """Take `pace` (simulated s per wall s) unless one was set; call it before runs start."""
        if pace <= 0:
            raise ValueError("pace must be positive (simulated seconds per wall second)")
        if self._pace is None:
            self._pace = pace

    def add_listener(self, listener: Callable[[float], None]) -> None:
        self._listeners.append(listener)

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float, should_stop: StopCheck = _never) -> None:
        if seconds <= 0:
            return
        seconds = float(seconds)  # a numpy interval would turn the lab time into a numpy scalar
        if self._pace is not None:
            _wall_sleep(seconds / self._pace, should_stop)
        with self._lock:
            self._now += seconds
            for listener in self._listeners:
                listener(seconds)
