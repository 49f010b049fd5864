"""Safety paths a review found open: Ctrl-C in a script, a pause that shortened waits
and hid the interlocks, limits without zero, the safe-state order, a NaN field, the
heater of a runaway loop, and temperature changes with the sensor near the surface."""

from __future__ import annotations

import _thread
import threading
import time
from types import SimpleNamespace

import h5py
import pytest
import yaml

from sqm.clock import RealClock
from sqm.errors import AbortRequested, InstrumentError, InterlockTripped, UserInputError
from sqm.events import PointRecorded, StepFinished
from sqm.interlocks import Interlock, InterlockSet
from sqm.pacing import CleanupPacer
from sqm.readback import find_step, read_steps
from sqm.roles import MagnetState
from sqm.runner import RunControl, RunStepContext
from sqm.session import load, run_procedure, start_run
from sqm.station import Station

from ..conftest import run_on_station, twin_station_text

UA, UM = 1e-6, 1e-6
PARKED = """
steps:
  - zero_field_cool: {from_temperature: 8 K, to_temperature: 1.5 K}
  - park: {x: 30 um, y: -15 um}
"""


# Ctrl-C in a script ---------------------------------------------------------------
def test_ctrl_c_in_a_script_aborts_the_run_and_waits_for_the_safe_state(tmp_path):
    station = Station.from_text(twin_station_text(pace=400.0))
    procedure = PARKED + "  - bias_sweep: {points: [0, 200 uA, 0], step: 2 uA, integration_time: 1 s}\n"

    def interrupt_when_sweeping(event):
        if isinstance(event, PointRecorded) and event.step == 3 and event.count == 5:
            _thread.interrupt_main()  # what Ctrl-C does to a script's main thread

    with pytest.raises(KeyboardInterrupt):
        run_procedure(procedure, station, tmp_path, on_event=interrupt_when_sweeping)
    assert not [t for t in threading.enumerate() if t.name == "sqm-runner" and t.is_alive()]
    assert station.current_source.read_current() == 0.0 and not station.current_source.output_enabled()
    assert station.scanner.position()[2] == station.limits.scanner_z.maximum
    (path,) = tmp_path.glob("*.h5")
    with h5py.File(path, "r") as h5:
        assert h5.attrs["status"] == "aborted" and h5.attrs["safe_state"] == "safe"
        assert "KeyboardInterrupt" in h5.attrs["error"]


# Pauses ---------------------------------------------------------------------------
def _context(control: RunControl, interlocks: list[Interlock], interval: float = 0.02) -> RunStepContext:
    station = SimpleNamespace(clock=RealClock())
    return RunStepContext(station, control, InterlockSet(interlocks, interval), writer=None,
                       emit=lambda event: None, step_index=1)


def test_a_pause_does_not_shorten_a_wait():
    control = RunControl()
    context = _context(control, [])
    threading.Timer(0.05, control.pause).start()
    threading.Timer(0.15, control.resume).start()
    started = time.monotonic()
    context.wait(0.3)  # e.g. a persistent-switch heater's settling time
    assert time.monotonic() - started >= 0.3


class _TripsAfter(Interlock):
    name = "late_trip"

    def __init__(self, seconds: float, action: str) -> None:
        super().__init__(action)
        self.at = time.monotonic() + seconds

    def check(self, station) -> str | None:
        return "it tripped" if time.monotonic() >= self.at else None


def test_abort_interlocks_are_still_read_while_paused():
    control = RunControl()
    context = _context(control, [_TripsAfter(0.1, "abort")])
    control.pause()
    started = time.monotonic()
    with pytest.raises(InterlockTripped, match="while paused.*it tripped"):
        context.checkpoint()
    assert time.monotonic() - started < 1.0


def test_a_pause_interlock_does_not_end_a_paused_run():
    control = RunControl()
    context = _context(control, [_TripsAfter(0.0, "pause")], interval=0.0)  # read at every checkpoint
    control.pause()
    ended = []

    def checkpoint():
        try:
            context.checkpoint()
        except AbortRequested as stop:
            ended.append(str(stop))

    worker = threading.Thread(target=checkpoint)
    worker.start()
    time.sleep(0.1)
    control.resume()  # the condition persists: the interlock pauses the run again
    time.sleep(0.2)
    assert worker.is_alive() and control.paused and ended == []
    control.abort("operator")
    worker.join(2)
    assert ended == ["operator"]


# Station limits and the safe state -------------------------------------------------
@pytest.mark.parametrize("quantity, span", [
    ("field", {"min": "2 G", "max": "20 G", "ramp_rate": "0.5 G/s", "max_ramp_rate": "2 G/s"}),
    ("bias_current", {"min": "-350 uA", "max": "-10 uA", "ramp_rate": "20 uA/s", "max_ramp_rate": "100 uA/s"}),
])
def test_limits_that_exclude_zero_are_refused(quantity, span):
    data = yaml.safe_load(twin_station_text())
    data["limits"][quantity] = span
    with pytest.raises(UserInputError, match=f"limits.{quantity} must include 0"):
        Station.from_text(yaml.safe_dump(data))


def test_the_safe_state_retracts_the_scanner_before_the_magnet_ramps(twin, monkeypatch):
    order = []
    for name in ("current_source", "scanner", "magnet", "temperature"):
        role = twin.backend.roles[name]
        original = role.safe_state
        monkeypatch.setattr(role, "safe_state", lambda pacer, name=name, original=original: (order.append(name),
                                                                                              original(pacer)))
    assert twin.make_safe() == []
    assert order == ["current_source", "scanner", "magnet", "temperature"]


def test_a_field_that_reads_nan_is_not_taken_for_zero(twin, monkeypatch):
    monkeypatch.setattr(twin.magnet, "read_field", lambda: float("nan"))
    with pytest.raises(InstrumentError, match="present field is unknown"):
        twin.magnet.safe_state(CleanupPacer(twin.clock))


def test_leaving_persistent_mode_is_refused_while_the_supply_ramps(twin, monkeypatch):
    monkeypatch.setattr(twin.magnet, "switch_heater_on", lambda: False)
    monkeypatch.setattr(twin.magnet, "state", lambda: MagnetState.RAMPING)
    heated = []
    monkeypatch.setattr(twin.magnet, "_set_switch_heater", heated.append)
    with pytest.raises(InstrumentError, match="must be holding"):
        twin.magnet.leave_persistent(CleanupPacer(twin.clock))
    assert heated == []


def test_a_stage_above_the_range_gets_its_heater_switched_off(twin):
    world = twin.squid.world
    world.temperature = 14.0  # a runaway loop: above the station's 10 K
    failures = twin.make_safe()
    assert world.heater_on is False
    assert any("heater switched off" in failure for failure in failures)


def test_a_stage_within_the_range_keeps_its_setpoint(twin):
    world = twin.squid.world
    world.temperature = world.heater_setpoint = 4.0
    assert twin.make_safe() == []
    assert world.heater_on is True and world.heater_setpoint == 4.0


# Temperature changes with the sensor near the surface ------------------------------
def _height_after_step(station, text: str, tmp_path, step: int) -> float:
    """The sensor height when step `step` has finished (the run's safe state retracts later)."""
    heights = []

    def on_event(event):
        if isinstance(event, StepFinished) and event.step == step:
            heights.append(station.scanner.position()[2])

    station, procedure_file = load(text, station)
    runner, store = start_run(station, procedure_file, tmp_path / "run.h5", on_event)
    outcome = runner.join()
    store.close()
    assert outcome.status == "completed", outcome.error
    return heights[0]


def test_set_temperature_retracts_before_changing_it_and_not_when_it_stays(twin, tmp_path):
    (tmp_path / "same").mkdir()
    (tmp_path / "warmer").mkdir()
    same = _height_after_step(twin, PARKED + "  - set: {temperature: 1.5 K}\n", tmp_path / "same", 3)
    assert same == pytest.approx(1 * UM)  # nothing to contract: still parked
    warmer = _height_after_step(twin, PARKED + "  - set: {temperature: 3 K}\n", tmp_path / "warmer", 3)
    assert warmer == twin.limits.scanner_z.maximum


def test_resistance_versus_temperature_retracts_first(twin, tmp_path):
    text = PARKED + "  - resistance_vs_temperature: {temperatures: [2 K], current: 10 uA}\n"
    assert _height_after_step(twin, text, tmp_path, 3) == twin.limits.scanner_z.maximum


def test_a_thermal_cycle_refuses_its_resistance_current_before_warming(twin, tmp_path):
    text = PARKED + ("  - set: {bias_current: 340 uA}\n"
                     "  - thermal_cycle: {anneal_temperature: 4 K, resistance_current: 20 uA}\n")
    path, outcome = run_on_station(twin, text, tmp_path)
    assert outcome.status == "failed"
    step = find_step(read_steps(path), "thermal_cycle")
    assert step.status == "failed" and "bias current" in step.error
    assert twin.temperature.read_temperature() < 2.0  # it never warmed


# When a magnet ramp has arrived ----------------------------------------------------
def _twin_with_field_tolerance(tolerance: str | None) -> Station:
    data = yaml.safe_load(twin_station_text())
    if tolerance is not None:
        data["limits"]["field"]["tolerance"] = tolerance
    return Station.from_text(yaml.safe_dump(data))


@pytest.mark.parametrize("tolerance, arrives", [(None, False), ("10 mG", True)])
def test_a_ramp_arrives_within_the_stations_field_tolerance(tolerance, arrives, monkeypatch):
    # a supply whose readback sits 5 mG off the target (its resolution)
    station = _twin_with_field_tolerance(tolerance)
    world = station.squid.world
    monkeypatch.setattr(station.magnet, "read_field", lambda: world.field + 5e-7)
    pacer = CleanupPacer(station.clock)
    if arrives:
        station.magnet.ramp_to(1e-4, pacer)
        assert world.field == pytest.approx(1e-4)
    else:
        with pytest.raises(InstrumentError, match="did not reach"):
            station.magnet.ramp_to(1e-4, pacer)


def test_the_field_tolerance_must_be_a_positive_field():
    with pytest.raises(UserInputError, match="limits.field.tolerance"):
        _twin_with_field_tolerance("1 K")
    with pytest.raises(UserInputError, match="tolerance must be positive"):
        _twin_with_field_tolerance("0 G")
