"""Fixtures shared by the driver tests: a simulated clock and a pacer on it (no sleeps)."""

import pytest

from sqm.clock import SimulatedClock
from sqm.pacing import CleanupPacer


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock()


@pytest.fixture
def pacer(clock) -> CleanupPacer:
    return CleanupPacer(clock)
