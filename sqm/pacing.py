"""Pacers: how a blocking wait inside a role or procedure passes time.

A pacer's `wait` sleeps on the station clock and then gives the run a chance to
stop (pause, abort, interlock). Roles take a pacer for every wait, so an abort
reaches a ramp within one step. Cleanup uses `CleanupPacer`, which cannot be
aborted: a safe-state ramp must finish.
"""

from __future__ import annotations

from typing import Protocol

from .clock import Clock


class Pacer(Protocol):
    def now(self) -> float:
        """Station clock time in seconds."""

    def wait(self, seconds: float) -> None:
        """Let `seconds` pass; may raise AbortRequested or InterlockTripped."""


class CleanupPacer:
    """A pacer that only sleeps: used while bringing the station to its safe state."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock.now()

    def wait(self, seconds: float) -> None:
        self._clock.sleep(seconds)
