"""Clocks: the simulated one advances at once and notifies; the real one sleeps interruptibly."""

import time

import numpy as np
import pytest
import yaml

from sqm.clock import RealClock, SimulatedClock


def test_simulated_clock_advances_without_waiting_and_notifies_in_order():
    clock = SimulatedClock()
    seen = []
    clock.add_listener(lambda dt: seen.append(("a", dt)))
    clock.add_listener(lambda dt: seen.append(("b", dt)))
    started = time.perf_counter()
    clock.sleep(6 * 3600)
    assert time.perf_counter() - started < 0.5  # six hours, not waited
    assert clock.now() == 6 * 3600
    assert seen == [("a", 6 * 3600), ("b", 6 * 3600)]
    clock.sleep(0)
    clock.sleep(-1)
    assert len(seen) == 2  # zero and negative sleeps are no-ops


def test_simulated_time_stays_a_python_float_when_a_step_sleeps_a_numpy_interval():
    # Lab seconds go into run summaries and station files (YAML, JSON): a numpy scalar there
    # cannot be written by yaml.safe_dump.
    clock = SimulatedClock()
    clock.sleep(np.float64(2.5))
    assert type(clock.now()) is float
    assert yaml.safe_dump({"pace": clock.now() / 2}) == "pace: 1.25\n"


def test_paced_simulated_clock_takes_wall_time_in_proportion():
    clock = SimulatedClock(pace=100.0)
    started = time.perf_counter()
    clock.sleep(20.0)  # 0.2 s of wall time
    elapsed = time.perf_counter() - started
    assert 0.15 < elapsed < 2.0
    assert clock.now() == 20.0


def test_real_clock_sleep_returns_early_on_stop_request():
    clock = RealClock()
    started = time.monotonic()
    deadline = started + 0.1
    clock.sleep(30.0, should_stop=lambda: time.monotonic() > deadline)
    elapsed = time.monotonic() - started
    assert 0.1 <= elapsed < 1.0  # not before the stop request, and soon after it


def test_real_clock_sleep_waits_the_time_asked():
    clock = RealClock()
    started = time.monotonic()
    clock.sleep(0.05)
    elapsed = time.monotonic() - started
    assert 0.05 <= elapsed < 1.0


def test_real_clock_now_counts_wall_seconds_since_it_was_made():
    before = time.monotonic()
    clock = RealClock()
    first = clock.now()
    assert 0.0 <= first <= time.monotonic() - before + 1e-6  # zero when made
    wall_start = time.monotonic()
    start = clock.now()
    time.sleep(0.05)
    advanced = clock.now() - start
    wall = time.monotonic() - wall_start
    assert 0.05 <= advanced <= wall + 1e-6  # advances with real time, in seconds


def test_a_scaled_clock_runs_lab_time_faster_than_the_wall_by_its_speed():
    from sqm.clock import ScaledClock

    clock = ScaledClock(speed=200.0)
    started, lab_start = time.perf_counter(), clock.now()
    clock.sleep(20.0)  # 20 lab seconds: 0.1 s of wall time
    wall = time.perf_counter() - started
    assert 0.09 < wall < 0.5
    assert clock.now() - lab_start == pytest.approx(wall * 200.0, rel=0.2)
    stopped = time.perf_counter()
    clock.sleep(1000.0, should_stop=lambda: True)  # a stop request ends the wait at once
    assert time.perf_counter() - stopped < 0.05
