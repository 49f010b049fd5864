"""The safe state does not give up after one fault: each role is retried with back-off,
escalated when it never answers sensibly, and what was not confirmed is said; and a
reading that is not a finite number is an instrument fault, never data."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest

from sqm.errors import InstrumentError
from sqm.events import StepFinished
from sqm.pacing import CleanupPacer
from sqm.readback import find_step, read_steps
from sqm.safe_state import SAFE_STATE_ATTEMPTS
from sqm.station import Station

from ..conftest import run_on_station, twin_station_text

UA = 1e-6


def fail_first(calls: int, original, error=InstrumentError("Keithley 6221: no answer within 5 s (VI_ERROR_TMO)")):
    """`original`, except that its first `calls` calls raise `error` (a read timeout)."""
    left = {"calls": calls}

    def flaky(*args, **kwargs):
        if left["calls"] > 0:
            left["calls"] -= 1
            raise error
        return original(*args, **kwargs)

    return flaky


def biased(station: Station, amps: float) -> Station:
    station.current_source.ramp_to(amps, CleanupPacer(station.clock))
    return station


def test_three_read_timeouts_in_a_row_during_the_safe_state_still_end_with_the_output_off(twin, monkeypatch):
    source = biased(twin, -16 * UA).current_source
    monkeypatch.setattr(source, "read_current", fail_first(3, source.read_current))
    assert twin.make_safe() == []
    assert not source.output_enabled() and source.read_current() == 0.0


def test_a_magnet_and_a_scanner_that_time_out_three_times_are_still_made_safe(twin, monkeypatch):
    world = twin.squid.world
    twin.magnet.ramp_to(1e-4, CleanupPacer(twin.clock))
    monkeypatch.setattr(twin.magnet, "read_field", fail_first(3, twin.magnet.read_field))
    monkeypatch.setattr(twin.scanner, "_move_z", fail_first(3, twin.scanner._move_z))
    assert twin.make_safe() == []
    assert world.field == 0.0
    assert twin.scanner.position()[2] == twin.limits.scanner_z.maximum


def test_a_current_read_back_that_stays_nan_switches_the_output_off_and_says_so(twin, monkeypatch):
    source = biased(twin, 40 * UA).current_source
    monkeypatch.setattr(source, "read_current", lambda: float("nan"))
    failures = twin.make_safe()
    assert not twin.squid.world.bias_output  # no current left flowing (it was before: 16-134 uA)
    (failure,) = failures
    assert failure.startswith("current_source: NOT confirmed safe after 4 attempts")
    assert "present bias current is unknown" in failure and "output switched off without a ramp" in failure


def test_a_field_that_cannot_be_read_gets_the_supply_ramping_itself_to_zero(twin, monkeypatch):
    twin.magnet.ramp_to(1e-4, CleanupPacer(twin.clock))
    monkeypatch.setattr(twin.magnet, "read_field", lambda: math.nan)
    (failure,) = twin.make_safe()
    assert failure.startswith("magnet: NOT confirmed safe") and "supply told to ramp to zero" in failure
    twin.clock.sleep(60.0)  # the supply ramps on its own
    assert twin.squid.world.field == 0.0


def test_the_retries_wait_between_attempts_on_the_station_clock(twin, monkeypatch):
    source = biased(twin, 10 * UA).current_source
    monkeypatch.setattr(source, "read_current", lambda: math.nan)
    started = twin.clock.now()
    twin.make_safe()
    assert twin.clock.now() - started >= 7.5  # 0.5 + 2 + 5 s of back-off for the one role
    assert SAFE_STATE_ATTEMPTS == 4


def test_a_run_whose_safe_state_sees_timeouts_records_the_station_safe(twin, tmp_path, monkeypatch):
    source = twin.current_source
    original = source.read_current
    armed = {"timeouts": 0}

    def read_current():
        if armed["timeouts"] > 0:
            armed["timeouts"] -= 1
            raise InstrumentError("Keithley 6221: no answer within 5 s")
        return original()

    monkeypatch.setattr(source, "read_current", read_current)
    # the last step leaves 50 uA flowing; then the next three reads (the cleanup's) time out
    monkeypatch.setattr(twin.voltmeter, "safe_state", lambda pacer: None)
    text = "steps:\n  - set: {bias_current: 50 uA}\n"
    from sqm.session import load, new_run_path, start_run

    station, procedure_file = load(text, twin)
    path = new_run_path(tmp_path, "test")
    runner, store = start_run(station, procedure_file, path,
                              on_event=lambda e: isinstance(e, StepFinished) and armed.update(timeouts=3))
    outcome = runner.join()
    store.close()
    assert outcome.status == "completed" and outcome.safe_state_failures == []
    assert armed["timeouts"] == 0  # the cleanup did meet the three timeouts
    with h5py.File(path, "r") as h5:
        assert h5.attrs["safe_state"] == "safe"
    assert not twin.squid.world.bias_output


# Non-finite readings are faults ------------------------------------------------------
@pytest.mark.parametrize("reading", [float("nan"), float("inf"), None, "1.0e-3"])
def test_a_squid_reading_that_is_not_a_finite_number_fails_the_step(twin, tmp_path, monkeypatch, reading):
    original = twin.squid._read  # what the implementation hands the role base
    calls = {"n": 0}

    def sometimes_bad(*args, **kwargs):
        calls["n"] += 1
        return reading if calls["n"] == 7 else original(*args, **kwargs)

    monkeypatch.setattr(twin.squid, "_read", sometimes_bad)
    path, outcome = run_on_station(
        twin, "steps:\n  - bias_sweep: {points: [0, 20 uA], step: 1 uA, integration_time: 0.1 s}\n", tmp_path
    )
    assert outcome.status == "failed"
    sweep = find_step(read_steps(path), "bias_sweep")
    assert sweep.status == "failed" and "not a finite number" in sweep.error
    assert np.isfinite(sweep.data["flux"]).all() and len(sweep.data["flux"]) == 6  # the six good points, kept


def test_a_scan_line_with_a_nan_sample_is_a_fault(twin, monkeypatch):
    from sqm.roles import ScanLine

    world = twin.squid.world
    monkeypatch.setattr(world, "sensor_reading", lambda xs, ys, signal, dwell, zs=None, times=None: np.where(
        np.arange(len(xs)) == 3, np.nan, 0.0))
    line = ScanLine((0.0, 0.0), (10e-6, 0.0), 8, 1.0)
    with pytest.raises(InstrumentError, match="1 of 8 samples of the line are not finite"):
        twin.scanner.scan_line(line, twin.squid, "flux", CleanupPacer(twin.clock))


def test_finite_readings_pass_unchanged(twin):
    pacer = CleanupPacer(twin.clock)
    assert isinstance(twin.squid.read_flux(0.1, pacer), float)
    assert twin.temperature.read_temperature() == pytest.approx(twin.squid.world.thermometer_reading(), abs=1e-3)


def test_a_station_built_from_text_gets_the_checks_too():
    station = Station.from_text(twin_station_text())
    assert getattr(type(station.squid).read_flux, "__wrapped__", None) is not None


def test_a_step_whose_traceback_cannot_be_stored_still_records_its_end(twin, tmp_path, monkeypatch):
    # a nearly full disk refuses the (large) traceback attribute: the step's end must still be written
    from sqm.store import StepWriter, StoreError

    original = StepWriter.set_attribute

    def refuse_tracebacks(self, key, value):
        if key == "traceback":
            raise StoreError("disk full: the attribute 'traceback' needs 81 kB")
        return original(self, key, value)

    monkeypatch.setattr(StepWriter, "set_attribute", refuse_tracebacks)
    monkeypatch.setattr(twin.squid, "_read", lambda *args: (_ for _ in ()).throw(RuntimeError("driver bug")))
    path, outcome = run_on_station(
        twin, "steps:\n  - bias_sweep: {points: [0, 2 uA], step: 1 uA, integration_time: 0.1 s}\n", tmp_path)
    sweep = find_step(read_steps(path), "bias_sweep")
    assert sweep.status == "failed" and "driver bug" in sweep.error
