"""Fixtures shared by the driver tests: a simulated clock, a pacer on it (no sleeps), and a
hardware context on the test module's pyvisa-sim device file (its SIM_FILE)."""

import pytest

from sqm.clock import SimulatedClock
from sqm.drivers.base import HardwareContext
from sqm.pacing import CleanupPacer


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock()


@pytest.fixture
def pacer(clock) -> CleanupPacer:
    return CleanupPacer(clock)


@pytest.fixture
def sim_context(request, clock):
    context = HardwareContext(visa_library=f"{request.module.SIM_FILE}@sim", clock=clock)
    yield context
    context.close()
