"""The twin's world, shared by the emulated instruments on the station's lab time."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from sqm.clock import Clock
from sqm.sims.world import World


class WorldLink:
    """The world every emulator of a station reads and commands. Before each use it is
    advanced to the clock's present lab time (s), under one lock, so the instruments see
    one consistent world: a field ramping while the temperature lags."""

    def __init__(self, world: World, clock: Clock) -> None:
        self._world = world
        self.clock = clock
        self._lock = threading.RLock()
        self._time = clock.now()

    @contextmanager
    def world(self) -> Iterator[World]:
        """The world at the present lab time, held while the block runs."""
        with self._lock:
            now = self.clock.now()
            if now > self._time:
                self._world.advance(now - self._time)
                self._time = now
            yield self._world
