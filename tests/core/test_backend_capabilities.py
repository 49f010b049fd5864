"""What a backend tells the layers above it instead of its kind: the operator's label,
whether its roles may be read beside a run, and whether its clock can be paced."""

from __future__ import annotations

import pytest

from sqm.clock import SimulatedClock
from sqm.station import Station

from ..conftest import CONFIGS


def test_the_twin_is_labelled_twin_and_may_be_read_beside_a_run(twin):
    assert twin.backend.label == "TWIN"
    assert twin.backend.reads_beside_runs is True


def test_instruments_are_labelled_hardware_and_left_to_the_run():
    pytest.importorskip("pyvisa_sim")
    station = Station.from_file(CONFIGS / "stations" / "lab-pyvisa-sim.yaml")
    try:
        assert station.backend.label == "HARDWARE"
        assert station.backend.reads_beside_runs is False
    finally:
        station.close()


def test_an_unpaced_simulated_clock_takes_a_pace_and_a_paced_one_keeps_its_own():
    free, paced = SimulatedClock(), SimulatedClock(pace=5.0)
    free.pace_if_unpaced(20.0)
    paced.pace_if_unpaced(20.0)
    assert (free.pace, paced.pace) == (20.0, 5.0)


def test_a_paced_simulated_clock_takes_wall_time():
    import time

    clock = SimulatedClock()
    clock.pace_if_unpaced(100.0)
    started = time.monotonic()
    clock.sleep(5.0)  # 5 simulated s at 100x: 50 ms of wall time
    assert time.monotonic() - started >= 0.045
    assert clock.now() == pytest.approx(5.0)


@pytest.mark.parametrize("pace", [0.0, -1.0])
def test_a_pace_must_be_positive(pace):
    with pytest.raises(ValueError, match="positive"):
        SimulatedClock().pace_if_unpaced(pace)
