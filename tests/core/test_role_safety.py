"""Safety rules of the roles: reject (never clamp) before any command, ramp from the
measured value at the configured rate, refuse unknown or unsafe states.

Every primitive an implementation exposes is wrapped with a recorder, so "no command
was sent" is observed, not assumed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sqm.errors import AbortRequested, InstrumentError, LimitError
from sqm.pacing import CleanupPacer
from sqm.roles import RAMP_STEP_INTERVAL_S, MagnetState

UA, GAUSS = 1e-6, 1e-4
PRIMITIVES = {
    "current_source": ["_apply_current", "_set_output"],
    "magnet": ["_start_ramp", "_pause"],
    "temperature": ["_write_setpoint"],
    "scanner": ["_move_xy", "_move_z"],
}


@pytest.fixture
def station(twin, monkeypatch):
    """The twin with every command primitive recorded in `station.sent`."""
    twin.sent = []
    for role_name, methods in PRIMITIVES.items():
        role = twin.backend.roles[role_name]
        for method in methods:
            original = getattr(role, method)

            def recorder(*args, _original=original, _name=f"{role_name}.{method}", **kwargs):
                twin.sent.append((_name, args))
                return _original(*args, **kwargs)

            monkeypatch.setattr(role, method, recorder)
    return twin


@pytest.fixture
def pacer(station):
    return CleanupPacer(station.clock)


BIAS_GRID = np.arange(-450, 451, 25) * UA


@pytest.mark.parametrize("target", BIAS_GRID, ids=lambda t: f"{t / UA:+.0f}uA")
def test_bias_grid_each_setpoint_ramps_within_limits_or_is_refused_before_any_command(station, pacer, target):
    source, limits = station.current_source, station.limits
    start = 60 * UA
    source.ramp_to(start, pacer)
    station.sent.clear()
    t0 = station.clock.now()
    if abs(target) > 350 * UA:
        with pytest.raises(LimitError, match="outside the station limits"):
            source.ramp_to(target, pacer)
        assert station.sent == []
        assert source.read_current() == start
        return
    source.ramp_to(target, pacer)
    levels = [args[0] for name, args in station.sent if name == "current_source._apply_current"]
    assert levels[-1] == pytest.approx(target, abs=1e-15)
    assert source.read_current() == pytest.approx(target, abs=1e-15)
    assert all(abs(level) <= 350 * UA for level in levels)
    steps = np.abs(np.diff([start, *levels]))
    assert steps.max() <= limits.bias_ramp.default * RAMP_STEP_INTERVAL_S * (1 + 1e-9)
    # ramp time follows the configured rate (20 uA/s)
    assert station.clock.now() - t0 == pytest.approx(abs(target - start) / limits.bias_ramp.default, rel=1e-9)


def test_bias_ramp_starts_from_the_measured_value_not_a_remembered_one(station, pacer):
    source = station.current_source
    source.ramp_to(10 * UA, pacer)
    source.world.set_bias_current(120 * UA)  # something else moved the output
    station.sent.clear()
    source.ramp_to(0.0, pacer)
    first = station.sent[0][1][0]
    assert first == pytest.approx(120 * UA - 2 * UA, abs=1e-12)  # one 2 uA step below the measured 120 uA


@pytest.mark.parametrize("rate", [0.0, -1e-6, 150e-6])
def test_bias_rates_outside_the_limits_are_refused(station, pacer, rate):
    with pytest.raises(LimitError):
        station.current_source.ramp_to(50 * UA, pacer, rate=rate)
    assert station.sent == []


def test_bias_ramp_refused_when_the_present_value_is_unknown(station, pacer, monkeypatch):
    monkeypatch.setattr(station.current_source, "read_current", lambda: math.nan)
    with pytest.raises(InstrumentError, match="unknown"):
        station.current_source.ramp_to(50 * UA, pacer)
    assert station.sent == []


def test_bias_output_is_not_switched_on_into_a_nonzero_reading(station, pacer, monkeypatch):
    monkeypatch.setattr(station.current_source, "read_current", lambda: 30 * UA)
    with pytest.raises(InstrumentError, match="refusing to switch it on"):
        station.current_source.ramp_to(50 * UA, pacer)
    assert station.sent == []


FIELD_GRID = np.arange(-30, 31, 5) * GAUSS


@pytest.mark.parametrize("target", FIELD_GRID, ids=lambda t: f"{t / GAUSS:+.0f}G")
def test_field_grid_each_setpoint_ramps_from_the_present_field_or_is_refused(station, pacer, target):
    magnet, limits = station.magnet, station.limits
    magnet.ramp_to(3 * GAUSS, pacer)
    station.sent.clear()
    t0 = station.clock.now()
    if abs(target) > 20 * GAUSS:
        with pytest.raises(LimitError):
            magnet.ramp_to(target, pacer)
        assert station.sent == []
        assert magnet.read_field() == pytest.approx(3 * GAUSS)
        return
    magnet.ramp_to(target, pacer)
    assert station.sent == [("magnet._start_ramp", (target, limits.field_ramp.default))]
    assert magnet.read_field() == pytest.approx(target, abs=1e-12)
    assert magnet.state() is MagnetState.HOLDING
    expected = abs(target - 3 * GAUSS) / limits.field_ramp.default
    assert expected <= station.clock.now() - t0 <= expected + magnet.poll_interval_s + 1e-9


@pytest.mark.parametrize(
    "state", [MagnetState.QUENCH, MagnetState.HEATING_SWITCH, MagnetState.RAMPING, MagnetState.OTHER]
)
def test_magnet_refuses_to_ramp_from_unsafe_states(station, pacer, state):
    station.magnet.world.magnet_state = state
    with pytest.raises(InstrumentError, match="refusing to ramp"):
        station.magnet.ramp_to(1 * GAUSS, pacer)
    assert station.sent == []


def test_magnet_refuses_to_ramp_while_persistent(station, pacer, monkeypatch):
    monkeypatch.setattr(station.magnet, "is_persistent", lambda: True)
    with pytest.raises(InstrumentError, match="persistent"):
        station.magnet.ramp_to(1 * GAUSS, pacer)
    assert station.sent == []


def test_magnet_pauses_when_a_ramp_is_aborted(station):
    class AbortingPacer(CleanupPacer):
        waits = 0

        def wait(self, seconds):
            super().wait(seconds)
            self.waits += 1
            if self.waits == 3:
                raise AbortRequested("test")

    with pytest.raises(AbortRequested):
        station.magnet.ramp_to(10 * GAUSS, AbortingPacer(station.clock))
    assert station.sent[-1][0] == "magnet._pause"
    assert station.magnet.state() is MagnetState.PAUSED
    assert 0 < station.magnet.read_field() < 10 * GAUSS  # stopped part-way, not stepped to the target


def test_temperature_setpoint_above_the_ceiling_is_refused(station):
    with pytest.raises(LimitError, match="temperature setpoint"):
        station.temperature.set_setpoint(11.0)
    with pytest.raises(LimitError):
        station.temperature.set_setpoint(1.0)
    assert station.sent == []
    station.temperature.set_setpoint(4.0)
    assert station.sent == [("temperature._write_setpoint", (4.0,))]


@pytest.mark.parametrize("x, y", [(60e-6, 0.0), (0.0, -45e-6), (-51e-6, 39e-6)])
def test_scanner_moves_outside_the_range_are_refused(station, pacer, x, y):
    with pytest.raises(LimitError, match="scanner"):
        station.scanner.move_to(x, y, pacer)
    assert station.sent == []


def test_scanner_height_below_the_range_is_refused_and_retract_goes_to_the_top(station, pacer):
    with pytest.raises(LimitError, match="height"):
        station.scanner.approach(0.1e-6, pacer)
    assert station.sent == []
    station.scanner.approach(1e-6, pacer)
    station.scanner.safe_state(pacer)
    assert station.scanner.position()[2] == station.limits.scanner_z.maximum


def test_safe_state_ramps_bias_and_field_to_zero_and_switches_the_output_off(station, pacer):
    station.current_source.ramp_to(-180 * UA, pacer)
    station.magnet.ramp_to(-5 * GAUSS, pacer)
    station.scanner.approach(1e-6, pacer)
    station.sent.clear()
    assert station.make_safe() == []
    levels = [args[0] for name, args in station.sent if name == "current_source._apply_current"]
    assert len(levels) == 90 and levels[-1] == 0.0  # ramped in 2 uA steps, not stepped
    assert station.current_source.read_current() == 0.0
    assert not station.current_source.output_enabled()
    assert station.magnet.read_field() == 0.0
    assert station.scanner.position()[2] == station.limits.scanner_z.maximum
