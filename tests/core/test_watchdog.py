"""An instrument call that blocks does not hold the station: an abort takes effect
within the grace time, a call with no progress past the deadline fails the run, and
the blocked thread, when its call returns, can no longer command anything."""

from __future__ import annotations

import threading
import time

import h5py
import pytest

from sqm.readback import find_step, read_steps
from sqm.runner import Runner
from sqm.session import load, new_run_path
from sqm.store import RunStore

SWEEP = "steps:\n  - bias_sweep: {points: [0, 100 uA], step: 2 uA, integration_time: 0.1 s}\n"


def start(station, text, tmp_path, **watchdog):
    station, procedure_file = load(text, station)
    path = new_run_path(tmp_path, "watchdog")
    store = RunStore(path, backend="sim", station_text=station.text, procedure_text=text)
    runner = Runner(station, procedure_file.steps, store, **watchdog)
    runner.start()
    return runner, store, path


def block_on_call(obj, name: str, call_number: int) -> tuple[threading.Event, threading.Event]:
    """Make the `call_number`-th call of obj.name block (in wall time) until released."""
    original, calls = getattr(obj, name), {"n": 0}
    blocked, release = threading.Event(), threading.Event()

    def blocking(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call_number:
            blocked.set()
            release.wait(25)  # an instrument that does not answer for 25 s
        return original(*args, **kwargs)

    setattr(obj, name, blocking)
    return blocked, release


def test_an_abort_during_a_blocked_read_takes_effect_within_the_grace_time(twin, tmp_path):
    blocked, release = block_on_call(twin.squid, "_read", 10)
    runner, store, path = start(twin, SWEEP, tmp_path, abort_grace_s=0.5)
    assert blocked.wait(30)
    asked = time.monotonic()
    runner.abort("operator")
    outcome = runner.join(10)
    ended_after = time.monotonic() - asked
    try:
        assert outcome is not None and ended_after < 2.0  # not the 25 s the read blocks
        assert outcome.status == "aborted" and outcome.taken_over
        assert not twin.squid.world.bias_output and twin.squid.world.bias_current == 0.0  # safe while still blocked
        assert twin.scanner.position()[2] == twin.limits.scanner_z.maximum
        store.close()
        with h5py.File(path, "r") as h5:
            assert h5.attrs["status"] == "aborted" and h5.attrs["safe_state"] == "safe"
        sweep = find_step(read_steps(path), "bias_sweep")
        assert sweep.status == "aborted" and "blocked in an instrument call" in sweep.error
        assert len(sweep.data["flux"]) >= 8  # the points before the blocked read were kept
    finally:
        release.set()
    runner._thread.join(10)  # its read returns; its next command is refused: nothing moves
    assert not runner._thread.is_alive()
    assert not twin.squid.world.bias_output and twin.squid.world.bias_current == 0.0


def test_a_call_with_no_progress_past_the_deadline_fails_the_run_safely(twin, tmp_path):
    blocked, release = block_on_call(twin.squid, "_read", 5)
    runner, store, path = start(twin, SWEEP, tmp_path, call_deadline_s=1.0, abort_grace_s=0.5)
    try:
        outcome = runner.join(15)
        assert outcome is not None and outcome.status == "failed"
        assert "watchdog: no progress" in outcome.error
        assert not twin.squid.world.bias_output
    finally:
        release.set()
        runner._thread.join(10)
        store.close()


def test_a_command_that_lands_after_the_safe_state_is_undone_by_the_thread_that_sent_it(twin, tmp_path):
    # the supply does not answer the ramp command; the watchdog makes the station safe
    # (nothing to ramp down yet); then the command goes through and the coil starts to ramp
    world = twin.squid.world
    blocked, release = block_on_call(world, "start_field_ramp", 1)
    runner, store, path = start(twin, "steps:\n  - set: {field: 10 G}\n", tmp_path, abort_grace_s=0.5)
    assert blocked.wait(30)
    runner.abort("operator")
    assert runner.join(10).taken_over
    release.set()  # the late ramp command reaches the supply ...
    runner._thread.join(30)
    assert not runner._thread.is_alive()
    twin.clock.sleep(120.0)
    assert world.field == 0.0  # ... and the thread that sent it ramped the field back to zero
    store.close()


def test_a_pause_longer_than_the_deadline_is_not_taken_for_a_hung_call(twin, tmp_path):
    runner, store, path = start(twin, SWEEP, tmp_path, call_deadline_s=0.5)
    runner.pause()
    time.sleep(1.5)
    assert runner.is_alive()
    runner.resume()
    outcome = runner.join(30)
    store.close()
    assert outcome.status == "completed" and not outcome.taken_over


@pytest.mark.parametrize("deadline", [0.3])
def test_a_healthy_paced_run_touches_the_watchdog_often_enough(tmp_path, deadline):
    from sqm.station import Station

    from ..conftest import twin_station_text

    paced = Station.from_text(twin_station_text(pace=20.0))  # 20 lab s per wall s: 1 s slices last 50 ms
    runner, store, path = start(paced, "steps:\n  - bias_sweep: {points: [0, 4 uA], step: 2 uA,"
                                       " integration_time: 5 s}\n", tmp_path, call_deadline_s=deadline)
    outcome = runner.join(60)
    store.close()
    assert outcome.status == "completed", outcome.error
