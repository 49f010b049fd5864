"""The runner: every exit path leaves the station safe and the file readable with its status."""

from __future__ import annotations

import threading
import time

import h5py
import numpy as np
import pytest

from sqm.errors import InstrumentError
from sqm.events import Paused, PointRecorded
from sqm.readback import find_step, read_steps
from sqm.session import load, new_run_path, start_run
from sqm.station import Station

from ..conftest import twin_station_text

UA = 1e-6
SWEEP = """
steps:
  - zero_field_cool: {from_temperature: 8 K, to_temperature: 1.5 K}
  - park: {x: 30 um, y: -15 um}
  - bias_sweep: {points: [0, 200 uA, -200 uA, 200 uA], step: 2 uA, integration_time: 1 s}
  - set: {bias_current: 50 uA}
"""


def _start(station, tmp_path, on_event=None, text=SWEEP):
    station, procedure_file = load(text, station)
    path = new_run_path(tmp_path, "runner")
    runner, store = start_run(station, procedure_file, path, on_event)
    return runner, store, path


def _finish(runner, store):
    outcome = runner.join(30)
    store.close()
    return outcome


def _assert_safe(station):
    assert station.current_source.read_current() == 0.0
    assert not station.current_source.output_enabled()
    assert station.magnet.read_field() == 0.0
    assert station.scanner.position()[2] == station.limits.scanner_z.maximum


def _abort_at_point(runner_box, count):
    def on_event(event):
        if isinstance(event, PointRecorded) and event.step == 3 and event.count == count:
            runner_box[0].abort("test abort")

    return on_event


def test_abort_in_the_middle_of_a_sweep_leaves_bias_at_zero_and_the_step_aborted(twin, tmp_path):
    box = []
    runner, store, path = _start(twin, tmp_path, _abort_at_point(box, 150))
    box.append(runner)
    outcome = _finish(runner, store)
    assert outcome.status == "aborted" and outcome.error == "test abort"
    _assert_safe(twin)
    steps = read_steps(path)
    assert [step.status for step in steps] == ["completed", "completed", "aborted"]  # step 4 never started
    sweep = steps[2]
    assert sweep.error == "test abort"
    assert len(sweep.data["flux"]) == 150  # every completed point is in the file
    assert sweep.data["bias_current"][-1] > 100 * UA  # it was aborted with a large bias on
    with h5py.File(path, "r") as h5:
        assert h5.attrs["status"] == "aborted" and h5.attrs["safe_state"] == "safe"


def test_abort_from_another_thread_reaches_a_running_sweep_promptly(tmp_path):
    station = Station.from_text(twin_station_text(pace=400.0))  # the sweep takes ~1.5 s of wall time
    sweeping = threading.Event()

    def on_event(event):
        if isinstance(event, PointRecorded) and event.step == 3 and event.count >= 5:
            sweeping.set()

    runner, store, path = _start(station, tmp_path, on_event)
    assert sweeping.wait(20), "the bias sweep never started"
    requested = time.perf_counter()
    runner.abort("abort from the test thread")
    outcome = _finish(runner, store)
    assert time.perf_counter() - requested < 1.0
    assert outcome.status == "aborted" and outcome.error == "abort from the test thread"
    _assert_safe(station)  # bias back at zero, output off
    steps = read_steps(path)
    assert [step.status for step in steps] == ["completed", "completed", "aborted"]  # step 4 never started
    sweep = find_step(steps, "bias_sweep")
    assert sweep.status == "aborted" and sweep.error == "abort from the test thread"
    assert 5 <= len(sweep.data["flux"]) < 501  # the abort reached the sweep part way through
    with h5py.File(path, "r") as h5:
        assert h5.attrs["status"] == "aborted" and h5.attrs["safe_state"] == "safe"


def test_an_instrument_failure_marks_the_step_failed_and_still_makes_the_station_safe(twin, tmp_path, monkeypatch):
    squid = twin.squid
    original = squid.read_flux
    calls = {"n": 0}

    def failing_read(integration_time, pacer):
        calls["n"] += 1
        if calls["n"] == 80:
            raise InstrumentError("readout timed out")
        return original(integration_time, pacer)

    monkeypatch.setattr(squid, "read_flux", failing_read)
    runner, store, path = _start(twin, tmp_path)
    outcome = _finish(runner, store)
    assert outcome.status == "failed"
    assert outcome.error == "InstrumentError: readout timed out"
    _assert_safe(twin)
    sweep = find_step(read_steps(path), "bias_sweep")
    assert sweep.status == "failed" and "readout timed out" in sweep.error
    assert len(sweep.data["flux"]) == 78  # park read once; the 80th read failed


def test_an_interlock_aborts_with_its_reason_in_the_file(twin, tmp_path):
    def unlock_squid(event):
        if isinstance(event, PointRecorded) and event.step == 3 and event.count == 40:
            twin.squid.world.squid_locked = False

    runner, store, path = _start(twin, tmp_path, unlock_squid)
    outcome = _finish(runner, store)
    assert outcome.status == "aborted"
    assert "interlock squid_lock: SQUID flux-locked loop lost lock" in outcome.error
    sweep = find_step(read_steps(path), "bias_sweep")
    assert sweep.status == "aborted" and "lost lock" in sweep.error
    assert 40 <= len(sweep.data["flux"]) <= 42  # stopped within a checkpoint or two
    _assert_safe(twin)


def test_pause_holds_the_run_and_resume_finishes_it(tmp_path):
    station = Station.from_text(twin_station_text(pace=2000.0))
    points = []
    runner, store, path = _start(station, tmp_path, lambda e: isinstance(e, PointRecorded) and points.append(e))
    while len(points) < 30 and runner.is_alive():
        time.sleep(0.005)
    runner.pause()
    time.sleep(0.3)
    held = len(points)
    lab_time = station.clock.now()
    time.sleep(0.4)
    assert len(points) == held  # nothing recorded while paused
    assert station.clock.now() == lab_time  # and no simulated time passed
    runner.resume()
    outcome = _finish(runner, store)
    assert outcome.status == "completed"
    assert len(find_step(read_steps(path), "bias_sweep").data["flux"]) == 501


def test_abort_while_paused_wakes_the_run_and_stops_it(tmp_path):
    station = Station.from_text(twin_station_text(pace=2000.0))
    box, points, paused = [], [], threading.Event()

    def on_event(event):
        if isinstance(event, PointRecorded):
            points.append(event)
            if event.step == 3 and event.count == 10:
                box[0].pause()  # pause part way through the sweep
        elif isinstance(event, Paused):
            paused.set()

    runner, store, path = _start(station, tmp_path, on_event)
    box.append(runner)
    assert paused.wait(10), "the run never reported being paused"
    held, lab_time = len(points), station.clock.now()
    time.sleep(0.25)
    assert runner.is_alive()  # it waits, paused
    assert len(points) == held  # nothing recorded while paused
    assert station.clock.now() == lab_time  # and no simulated time passed
    requested = time.perf_counter()
    runner.abort("stop while paused")
    outcome = _finish(runner, store)
    assert time.perf_counter() - requested < 1.0  # the abort woke the paused run
    assert outcome.status == "aborted" and outcome.error == "stop while paused"
    _assert_safe(station)
    sweep = find_step(read_steps(path), "bias_sweep")
    assert sweep.status == "aborted" and sweep.error == "stop while paused"
    assert len(sweep.data["flux"]) == 10  # held at the next checkpoint, before another point


def test_run_status_and_snapshots_are_recorded_for_every_step(twin, tmp_path):
    runner, store, path = _start(twin, tmp_path)
    outcome = _finish(runner, store)
    assert outcome.status == "completed"
    with h5py.File(path, "r") as h5:
        assert list(h5) == ["001_zero_field_cool", "002_park", "003_bias_sweep", "004_set"]
        for name, group in h5.items():
            assert group.attrs["NX_class"] == "NXentry"
            assert group.attrs["status"] == "completed"
            assert set(group["snapshot"]) == {"current_source", "magnet", "temperature", "scanner", "squid",
                                              "voltmeter", "touchdown", "squid_bias"}  # the twin fills every role
            assert group["data"].attrs["NX_class"] == "NXdata"
            for dataset in group["data"].values():
                assert "units" in dataset.attrs
        # step 4 set 50 uA, then the cleanup ramped it back to zero
        assert h5["004_set/data/bias_current"][-1] == pytest.approx(50 * UA)
    _assert_safe(twin)
    assert np.isclose(outcome.station_seconds, twin.clock.now())


def test_a_run_file_that_cannot_be_written_ends_the_run_failed_with_the_station_safe(tmp_path, monkeypatch):
    # a full disk: appending points and recording the end both fail
    from sqm.store import RunStore, StepWriter

    station = Station.from_text(twin_station_text())
    appended = {"n": 0}
    original_append = StepWriter.append

    def append(self, **values):
        appended["n"] += 1
        if appended["n"] > 3:
            raise RuntimeError("Unable to flush file's cached information (errno 27, File too large)")
        return original_append(self, **values)

    def set_run_status(self, status, **details):
        raise RuntimeError("Unable to flush file's cached information (errno 27, File too large)")

    monkeypatch.setattr(StepWriter, "append", append)
    monkeypatch.setattr(RunStore, "set_run_status", set_run_status)
    runner, store, path = _start(station, tmp_path)
    outcome = runner.join(30)
    assert outcome is not None and not runner.is_alive()  # join returns: nothing hangs
    assert outcome.status == "failed"
    assert "File too large" in outcome.error and "could not record the end" in outcome.error
    _assert_safe(station)
    store.close()
