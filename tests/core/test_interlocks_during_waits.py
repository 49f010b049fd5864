"""Interlocks are read on their interval during integrations and scan lines, not only
between them: a temperature excursion shorter than one integration is caught, and a
trip stops a scan line in progress, keeping the lines before it."""

from __future__ import annotations

import numpy as np
import pytest

from sqm.readback import find_step, read_steps

from ..conftest import run_on_station

CEILING_K = 12.0  # the twin station's interlocks.temperature_max


def spike_temperature_during(twin, monkeypatch, arm_on_call: int, start_after: float, lasting: float) -> dict:
    """At the `arm_on_call`-th SQUID reading, schedule a thermometer excursion to 15 K
    from `start_after` s to `start_after + lasting` s (station clock) after that moment."""
    world, squid = twin.squid.world, twin.squid
    original_thermometer, original_read = world.thermometer_reading, squid._read
    window = {"from": float("inf"), "to": float("-inf"), "calls": 0}

    def thermometer():
        if window["from"] <= twin.clock.now() < window["to"]:
            return 15.0
        return original_thermometer()

    def read(*args, **kwargs):
        window["calls"] += 1
        if window["calls"] == arm_on_call:
            window["from"] = twin.clock.now() + start_after
            window["to"] = window["from"] + lasting
        return original_read(*args, **kwargs)

    monkeypatch.setattr(world, "thermometer_reading", thermometer)
    monkeypatch.setattr(squid, "_read", read)
    return window


def test_an_excursion_shorter_than_one_integration_trips_the_interlock(twin, monkeypatch, tmp_path):
    # 5 s integrations, interlocks read every 1 s: a 2 s excursion inside the 3rd integration
    spike_temperature_during(twin, monkeypatch, arm_on_call=3, start_after=1.5, lasting=2.0)
    path, outcome = run_on_station(
        twin, "steps:\n  - bias_sweep: {points: [0, 10 uA], step: 1 uA, integration_time: 5 s, settle: 0 s}\n",
        tmp_path,
    )
    assert outcome.status == "aborted"
    sweep = find_step(read_steps(path), "bias_sweep")
    assert "interlock temperature_ceiling" in sweep.error and "15 K" in sweep.error
    assert len(sweep.data["flux"]) == 2  # the two readings before the excursion


def test_a_trip_stops_a_scan_line_in_progress_and_keeps_the_lines_before(twin, monkeypatch, tmp_path):
    lines_scanned = {"n": 0}
    world = twin.squid.world
    original_sensor = world.sensor_reading

    def sensor(xs, ys, signal, dwell, zs=None, times=None):
        if np.ndim(xs):  # a whole line
            lines_scanned["n"] += 1
        return original_sensor(xs, ys, signal, dwell, zs, times)

    monkeypatch.setattr(world, "sensor_reading", sensor)
    original_scan = twin.scanner._scan_line
    state = {"lines": 0}

    def scan_line(line, readout, signal, pacer):
        state["lines"] += 1
        if state["lines"] == 4:  # 3 s into this 10 s line the stage overheats for 2 s
            start = twin.clock.now() + 3.0
            original_thermometer = world.thermometer_reading
            monkeypatch.setattr(world, "thermometer_reading",
                                lambda: 15.0 if start <= twin.clock.now() < start + 2.0 else original_thermometer())
        return original_scan(line, readout, signal, pacer)

    monkeypatch.setattr(twin.scanner, "_scan_line", scan_line)
    path, outcome = run_on_station(
        twin, "steps:\n  - raster_scan: {x: [-5 um, 5 um], y: [-5 um, 5 um], pixel_size: 1 um, line_time: 10 s,"
              " reconstruct: false}\n", tmp_path,
    )
    assert outcome.status == "aborted"
    scan = find_step(read_steps(path), "raster_scan")
    assert "interlock temperature_ceiling" in scan.error
    image = scan.data["flux"]
    complete = [bool(np.isfinite(row).all()) for row in image]
    assert complete[:3] == [True, True, True]  # the lines before the trip are kept
    assert not any(complete[3:])  # the tripped line was not stored, nor anything after
    assert lines_scanned["n"] == 3  # the 4th line never got its readout: it stopped mid-line


def test_a_wait_reads_the_interlocks_once_per_interval_and_lasts_exactly_its_time():
    from types import SimpleNamespace

    from sqm.clock import SimulatedClock
    from sqm.interlocks import Interlock, InterlockSet
    from sqm.runner import RunControl, RunStepContext

    class Counting(Interlock):
        name = "counting"

        def __init__(self, clock):
            super().__init__("abort")
            self.clock, self.read_at = clock, []

        def check(self, station):
            self.read_at.append(self.clock.now())
            return None

    clock = SimulatedClock()
    watch = Counting(clock)
    context = RunStepContext(SimpleNamespace(clock=clock), RunControl(), InterlockSet([watch], 1.0), writer=None,
                          emit=lambda event: None, step_index=1)
    context.wait(5.5)
    assert clock.now() == pytest.approx(5.5, abs=1e-12)  # chunked, not lengthened
    assert watch.read_at == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
