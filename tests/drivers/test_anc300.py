"""ANC300 scanner adapter: fine x, y, z through DC offsets; coarse stick-slip steps.

1. Exact wire traffic of every command the adapter sends (expected_protocol), including
   the optional login of the console.
2. Station limits (x, y, z) and the piezo voltage limits, cold and warm: a move is either
   stepped exactly or refused before its first command.
3. z's zero is fixed (zero_volts, else surface_volts); the known surface is the core's.
   Coarse steps withdraw the fine z fully first, ground the positioner after (also on
   abort), and leave the surface unknown: approaches are refused until a touchdown has
   found it again, which the fine z can still do (z_range answers).
4. Smoke through pyvisa-sim (drivers/sim/anc300.yaml), including a grid of positions.
5. Faults: timeouts, garbage replies and ERROR replies become InstrumentError.
6. The real instrument, only when SQM_ANC300_ADDRESS is set.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from pymeasure.test import expected_protocol

from sqm.clock import RealClock, SimulatedClock
from sqm.drivers.anc300 import ANC300Console, ANC300Scanner, PiezoAxis
from sqm.drivers.base import HardwareContext
from sqm.errors import AbortRequested, InstrumentError, LimitError, UserInputError
from sqm.limits import StationLimits
from sqm.procedures.coarse_approach import steps_per_batch
from sqm.roles import ScanLine, fence_thread, unfence_thread
from sqm.surface import SurfacePlane

from .wire import VISA_TIMEOUT, SilentAfterPairs

REPO = Path(__file__).resolve().parents[2]
SIM_FOLDER = REPO / "drivers" / "sim"
SIM_FILE = SIM_FOLDER / "anc300.yaml"
SIM_ADDRESS = "TCPIP::localhost::7230::SOCKET"
UM = 1e-6
VERSION = "attocube ANC300 controller version 1.1.0-1304 2013-10-17 08:16"

# Slots 4-6 scan (offset mode), 1-3 step. x, y: 1 um/V around 50 V; z: 0.2 um/V above a surface at 40 V.
AXES = {
    "x": PiezoAxis("x", 4, 1 * UM, warm_volts=(30.0, 70.0), cold_volts=(0.0, 100.0)),
    "y": PiezoAxis("y", 5, 1 * UM, warm_volts=(30.0, 70.0), cold_volts=(0.0, 100.0)),
    "z": PiezoAxis("z", 6, 0.2 * UM, warm_volts=(0.0, 60.0), cold_volts=(0.0, 100.0)),
}
FAST = 100 * UM  # m/s: a 5 um step per 50 ms, so protocol lists stay short


def station_limits() -> StationLimits:
    """The default station file's limits: x +-50 um, y +-40 um, z 0.5-10 um."""
    station = yaml.safe_load((REPO / "configs" / "stations" / "sim.yaml").read_text())
    return StationLimits.from_mapping(station["limits"])


def scanner_on(console, cold=True, surface_volts=40.0, piezo_speed=FAST, axes=AXES, **settings) -> ANC300Scanner:
    settings.setdefault("coarse_axes", {"x": 1, "y": 2, "z": 3})
    scanner = ANC300Scanner(
        console,
        axes,
        center_volts={"x": 50.0, "y": 50.0},
        cold=cold,
        piezo_speed=piezo_speed,
        surface_volts=surface_volts,
        **settings,
    )
    scanner.attach_limits(station_limits())
    return scanner


def geta(slot: int, volts: float) -> list:
    return [(f"geta {slot}", f"voltage = {volts:.6f} V"), (None, "OK")]


def seta(slot: int, volts: float) -> list:
    return [(f"seta {slot} {volts:.3f}", "OK")]


def on_wire(pairs):
    """An ANC300Console on an expected_protocol wire, without login and without query delays."""
    return expected_protocol(ANC300Console, pairs, query_delay=0)




# --------------------------------------------------------------------------- console and connection

LOGIN = [("secret", "******"), (None, "Authorization success"), ("echo off", "> echo off"), (None, "OK")]


def test_console_without_a_password_sends_nothing():
    with on_wire([]):
        pass


def test_console_with_a_password_logs_in_and_switches_echo_off():
    with expected_protocol(ANC300Console, LOGIN, passwd="secret", query_delay=0):
        pass


def test_console_refuses_a_failed_login():
    pairs = [("wrong", "*****"), (None, "Authorization failed")]
    with pytest.raises(ConnectionError, match="authorization failed"):
        with expected_protocol(ANC300Console, pairs, passwd="wrong", query_delay=0):
            pass


def test_connect_reads_the_version_and_checks_the_fine_axes_are_in_offset_mode():
    pairs = [("ver", VERSION), (None, "OK")]
    for slot in (4, 5, 6):
        pairs += [(f"getm {slot}", "mode = off"), (None, "OK")]
    with on_wire(pairs) as console:
        scanner_on(console).connect()


@pytest.mark.parametrize("mode", ["gnd", "stp", "inp", "cap"])
def test_connect_refuses_a_fine_axis_whose_offset_does_not_reach_the_piezo(mode):
    pairs = [("ver", VERSION), (None, "OK"), ("getm 4", "mode = off"), (None, "OK")]
    pairs += [("getm 5", f"mode = {mode}"), (None, "OK")]
    with on_wire(pairs) as console:
        with pytest.raises(InstrumentError, match=f"ANC300 axis 5 \\(y\\) is in mode '{mode}'"):
            scanner_on(console).connect()


def test_identity_is_the_first_line_of_ver():
    with on_wire([("ver", VERSION + "\r\nANC150 compatibility console"), (None, "OK")]) as console:
        assert scanner_on(console).identity() == VERSION


# --------------------------------------------------------------------------- positions and fine moves


def test_position_from_the_reported_offsets():
    with on_wire(geta(4, 60.0) + geta(5, 45.5) + geta(6, 45.0)) as console:
        x, y, z = scanner_on(console).position()
    assert (x, y, z) == pytest.approx((10 * UM, -4.5 * UM, 1 * UM))


def test_move_steps_both_axes_together_from_the_reported_offsets_at_the_piezo_speed(clock, pacer):
    # 11.18 um at 100 um/s: 0.112 s in 3 steps of 50 ms at most
    pairs = geta(4, 50.0) + geta(5, 50.0)
    pairs += seta(4, 53.333) + seta(5, 48.333) + seta(4, 56.667) + seta(5, 46.667) + seta(4, 60.0) + seta(5, 45.0)
    with on_wire(pairs) as console:
        scanner_on(console).move_to(10 * UM, -5 * UM, pacer)
    assert clock.now() == pytest.approx(math.hypot(10, 5) * UM / FAST)


def test_an_axis_that_does_not_move_is_not_sent(clock, pacer):
    pairs = geta(4, 50.0) + geta(5, 52.0) + seta(4, 51.0)
    with on_wire(pairs) as console:
        scanner_on(console).move_to(1 * UM, 2 * UM, pacer)
    assert clock.now() == pytest.approx(1 * UM / FAST)


def test_a_slow_piezo_takes_many_small_steps(clock, pacer):
    # 2 um at 10 um/s: 0.2 s in 4 steps
    pairs = geta(4, 50.0) + geta(5, 50.0) + seta(4, 50.5) + seta(4, 51.0) + seta(4, 51.5) + seta(4, 52.0)
    with on_wire(pairs) as console:
        scanner_on(console, piezo_speed=10 * UM).move_to(2 * UM, 0.0, pacer)
    assert clock.now() == pytest.approx(0.2)


def test_approach_and_retract_relative_to_the_surface(clock, pacer):
    pairs = geta(6, 90.0) + seta(6, 67.5) + seta(6, 45.0)  # 10 um -> 1 um above the surface at 40 V
    pairs += geta(6, 45.0) + seta(6, 67.5) + seta(6, 90.0)  # retract to the top of the z range, 10 um
    with on_wire(pairs) as console:
        scanner = scanner_on(console)
        scanner.approach(1 * UM, pacer)
        scanner.retract(pacer)
    assert clock.now() == pytest.approx(2 * 9 * UM / FAST)


@pytest.mark.parametrize(
    "move",
    [
        lambda scanner, pacer: scanner.move_to(51 * UM, 0.0, pacer),
        lambda scanner, pacer: scanner.move_to(0.0, -41 * UM, pacer),
        lambda scanner, pacer: scanner.approach(0.2 * UM, pacer),
        lambda scanner, pacer: scanner.approach(11 * UM, pacer),
    ],
    ids=["x", "y", "z low", "z high"],
)
def test_outside_the_station_limits_nothing_is_sent(move, pacer):
    with on_wire([]) as console:
        with pytest.raises(LimitError, match="outside the station limits"):
            move(scanner_on(console), pacer)


def test_without_station_limits_nothing_is_sent(pacer):
    with on_wire([]) as console:
        scanner = ANC300Scanner(console, AXES, {"x": 50.0, "y": 50.0}, cold=True, piezo_speed=FAST, surface_volts=40.0)
        with pytest.raises(InstrumentError, match="no station limits attached"):
            scanner.move_to(0.0, 0.0, pacer)


@pytest.mark.parametrize("x_um, volts", [(30, 80.0), (-25, 25.0), (49, 99.0)])
def test_a_position_the_warm_limits_forbid_is_refused_before_any_command_but_allowed_cold(x_um, volts, pacer):
    with on_wire([]) as console:
        with pytest.raises(LimitError, match=rf"x piezo offset {volts:.3f} V is outside the warm limits \[30, 70\] V"):
            scanner_on(console, cold=False).move_to(x_um * UM, 0.0, pacer)
    steps = math.ceil(abs(x_um) * UM / FAST / 0.05 - 1e-9)
    pairs = geta(4, 50.0) + geta(5, 50.0)
    for index in range(1, steps + 1):
        pairs += seta(4, round(50.0 + (volts - 50.0) * index / steps, 3))
    with on_wire(pairs) as console:
        scanner_on(console, cold=True).move_to(x_um * UM, 0.0, pacer)


def test_a_move_from_outside_the_warm_limits_is_refused_before_its_first_step(pacer):
    # x stands at 80 V (fine cold, not warm): the first step, 75 V, is outside [30, 70] V.
    with on_wire(geta(4, 80.0) + geta(5, 50.0)) as console:
        with pytest.raises(LimitError, match="x piezo offset 75.000 V is outside the warm limits"):
            scanner_on(console, cold=False).move_to(0.0, 0.0, pacer)


# z with the other sign: more voltage brings the sensor down, so it withdraws towards 0 V.
AXES_Z_DOWN = {**AXES, "z": PiezoAxis("z", 6, -0.2 * UM, warm_volts=(0.0, 60.0), cold_volts=(0.0, 100.0))}


@pytest.mark.parametrize(
    "axes, cold, height_um",
    [
        (AXES, True, 12.0),  # 100 V: above the top of the station's z range (10 um)
        (AXES, False, 4.0),  # 60 V
        (AXES_Z_DOWN, False, 8.0),  # 0 V
        (AXES_Z_DOWN, True, 8.0),  # 0 V
    ],
    ids=["up-cold", "up-warm", "down-warm", "down-cold"],
)
def test_the_highest_reachable_z_is_the_height_at_the_withdrawn_end_of_the_active_limits(axes, cold, height_um):
    with on_wire([]) as console:
        assert scanner_on(console, cold=cold, axes=axes).highest_reachable_z() == pytest.approx(height_um * UM)


def test_without_surface_volts_z_is_zero_at_zero_volts_and_the_surface_is_unknown():
    with on_wire([]) as console:
        scanner = scanner_on(console, surface_volts=None)  # zero_volts defaults to 0 V
        assert scanner.surface is None
        assert scanner.z_range() == pytest.approx((0.0, 20 * UM))  # 0-100 V cold at 0.2 um/V
        assert scanner.highest_reachable_z() == pytest.approx(20 * UM)
        scanner = scanner_on(console, surface_volts=None, zero_volts=40.0)
        assert scanner.surface is None
        assert scanner.z_range() == pytest.approx((-8 * UM, 12 * UM))


def test_surface_volts_alone_is_z_zero_and_the_station_file_surface():
    with on_wire([]) as console:
        scanner = scanner_on(console)
        assert scanner.surface == SurfacePlane(z0=0.0, source="station file")
        assert scanner.z_range() == pytest.approx((-8 * UM, 12 * UM))  # 0 and 100 V about 40 V


def test_with_zero_volts_and_surface_volts_the_known_surface_is_a_plane_at_their_difference(clock, pacer):
    # z = 0 at 10 V; the station file's surface at 40 V is z = 30 V * 0.2 um/V = 6 um
    pairs = geta(4, 50.0) + geta(5, 50.0) + geta(6, 45.0)  # position: z = 7 um
    pairs += geta(6, 45.0) + seta(6, 67.5) + seta(6, 90.0)  # retract: 10 um above the surface at 6 um, 16 um
    pairs += geta(6, 90.0) + seta(6, 67.5) + seta(6, 45.0)  # approach to 1 um above it, 7 um
    with on_wire(pairs) as console:
        scanner = scanner_on(console, zero_volts=10.0)
        assert scanner.surface.z0 == pytest.approx(6 * UM) and scanner.surface.source == "station file"
        assert scanner.surface.slope_x == scanner.surface.slope_y == 0.0
        assert scanner.position() == pytest.approx((0.0, 0.0, 7 * UM))
        assert scanner.z_range() == pytest.approx((-2 * UM, 18 * UM))
        scanner.retract(pacer)
        scanner.approach(1 * UM, pacer)


def test_a_warm_retract_stops_at_the_warm_z_limit_instead_of_being_refused(clock, pacer):
    # The reported case: 1 um (45 V) is allowed warm; 10 um would be 90 V, beyond the warm 60 V.
    pairs = geta(6, 55.0) + seta(6, 45.0)  # approach to 1 um
    pairs += geta(6, 45.0) + seta(6, 60.0)  # retract: to 60 V (4 um), no further
    with on_wire(pairs) as console:
        scanner = scanner_on(console, cold=False)
        scanner.approach(1 * UM, pacer)
        scanner.retract(pacer)
    assert clock.now() == pytest.approx((2 + 3) * UM / FAST)


def test_a_warm_retract_with_the_calibration_reversed_withdraws_towards_zero_volts(clock, pacer):
    # 1 um above a surface at 40 V is 35 V; the warm limit away from the sample is 0 V (8 um).
    pairs = geta(6, 35.0) + seta(6, 17.5) + seta(6, 0.0)
    with on_wire(pairs) as console:
        scanner_on(console, cold=False, axes=AXES_Z_DOWN).retract(pacer)
    assert clock.now() == pytest.approx(7 * UM / FAST)


def test_a_retract_to_a_limit_between_millivolts_stops_at_the_last_millivolt_inside(pacer):
    axes = {**AXES, "z": PiezoAxis("z", 6, 0.2 * UM, warm_volts=(0.0, 59.9996), cold_volts=(0.0, 100.0))}
    with on_wire(geta(6, 59.0) + seta(6, 59.999)) as console:  # 60.000 V would be beyond the limit
        scanner_on(console, cold=False, axes=axes).retract(pacer)


@pytest.mark.parametrize(
    "cold, steps",
    [(False, seta(6, 45.0) + seta(6, 60.0)), (True, seta(6, 53.333) + seta(6, 76.667) + seta(6, 100.0))],
    ids=["warm", "cold"],
)
def test_a_retract_with_the_surface_unknown_withdraws_fully(cold, steps, pacer):
    # z = 0 at 0 V: cold, the top of the station's z range (10 um) would be 50 V, short of the
    # withdrawn end of the limits (100 V); with nothing known of the sample it goes all the way.
    with on_wire(geta(6, 30.0) + steps) as console:
        scanner_on(console, cold=cold, surface_volts=None).retract(pacer)


@pytest.mark.parametrize(
    "axes, height_um, reach, volts",
    [(AXES, 4.5, "-8.000, 4.000", 62.5), (AXES, 9.0, "-8.000, 4.000", 85.0), (AXES_Z_DOWN, 9.0, "-4.000, 8.000", -5.0)],
    ids=["up-4.5um", "up-9um", "down-9um"],
)
def test_a_warm_approach_beyond_the_warm_z_limit_is_still_refused_before_any_command(
    axes, height_um, reach, volts, pacer
):
    with on_wire([]) as console:  # inside the station's z range (0.5-10 um), outside the warm piezo limits
        scanner = scanner_on(console, cold=False, axes=axes)
        # the role refuses it from z_range() ...
        refusal = rf"z = {height_um:.3f} um is outside the z piezo's reach \[{reach}\]"
        with pytest.raises(InstrumentError, match=refusal):
            scanner.approach(height_um * UM, pacer)
        # ... and the driver's own check of the offset stands behind it
        with pytest.raises(LimitError, match=rf"z piezo offset {volts:.3f} V is outside the warm limits \[0, 60\] V"):
            scanner._move_z(height_um * UM, pacer)


def test_identity_and_snapshot():
    pairs = geta(4, 60.0) + geta(5, 50.0) + geta(6, 45.0) + [("ver", VERSION), (None, "OK")]
    pairs += geta(4, 60.0) + geta(5, 50.0) + geta(6, 45.0)
    with on_wire(pairs) as console:
        snapshot = scanner_on(console, zero_volts=30.0, coarse_z_step=30e-9).snapshot()
    assert snapshot["identity"] == VERSION
    assert (snapshot["x_m"], snapshot["y_m"], snapshot["z_m"]) == pytest.approx((10 * UM, 0.0, 3 * UM))
    assert snapshot["offset_volts"] == {"x": 60.0, "y": 50.0, "z": 45.0}
    assert snapshot["cold"] is True
    assert snapshot["voltage_limits"] == {"x": [0.0, 100.0], "y": [0.0, 100.0], "z": [0.0, 100.0]}
    assert snapshot["zero_volts"] == {"x": 50.0, "y": 50.0, "z": 30.0}
    assert snapshot["surface_source"] == "station file"
    assert snapshot["surface_z0_m"] == pytest.approx(2 * UM)  # surface_volts 40 V, 10 V above z's zero
    assert snapshot["coarse_axes"] == {"x": 1, "y": 2, "z": 3}
    assert snapshot["coarse_z_step_m"] == 30e-9
    assert snapshot["coarse_z_towards_sample"] == "up"
    assert "approach_required" not in snapshot and "surface_volts" not in snapshot


def test_the_snapshot_says_when_the_surface_is_unknown():
    pairs = geta(4, 50.0) + geta(5, 50.0) + geta(6, 45.0) + [("ver", VERSION), (None, "OK")]
    pairs += geta(4, 50.0) + geta(5, 50.0) + geta(6, 45.0)
    with on_wire(pairs) as console:
        snapshot = scanner_on(console, surface_volts=None).snapshot()
    assert snapshot["surface_source"] == "unknown"
    assert snapshot["z_m"] == pytest.approx(9 * UM)  # z has its zero (0 V) all the same


# --------------------------------------------------------------------------- scanning


class RecordingReadout:
    """Stands in for the SQUID readout: returns 1, 2, 3... and records what it was asked."""

    def __init__(self) -> None:
        self.calls = []

    def read(self, signal, integration_time, pacer):
        self.calls.append((signal, integration_time))
        return float(len(self.calls))


def test_scan_line_moves_point_by_point_and_reads_at_each_point(clock, pacer):
    pairs = geta(4, 50.0) + geta(5, 50.0)  # the first point is where it stands: nothing sent
    pairs += geta(4, 50.0) + geta(5, 50.0) + seta(4, 51.0)
    pairs += geta(4, 51.0) + geta(5, 50.0) + seta(4, 52.0)
    readout = RecordingReadout()
    with on_wire(pairs) as console:
        line = ScanLine((0.0, 0.0), (2 * UM, 0.0), 3, 0.3)
        values = scanner_on(console).scan_line(line, readout, "susceptibility", pacer)
    assert values.tolist() == [1.0, 2.0, 3.0]
    assert readout.calls == [("susceptibility", pytest.approx(0.1))] * 3
    assert clock.now() == pytest.approx(2 * UM / FAST)  # the stand-in readout does not wait


def test_scan_line_outside_the_station_limits_sends_nothing(pacer):
    with on_wire([]) as console:
        with pytest.raises(LimitError):
            line = ScanLine((0.0, 0.0), (60 * UM, 0.0), 3, 0.3)
            scanner_on(console).scan_line(line, RecordingReadout(), "flux", pacer)


def test_with_the_surface_unknown_lateral_moves_and_lines_are_refused_below_the_full_withdrawal(pacer):
    # 95 V is 19 um above z's zero (0 V), but nothing is known of the sample: only the fully
    # withdrawn fine z (100 V cold) moves laterally. The role reads the position, nothing is sent.
    with on_wire(at(50.0, 95.0) + at(50.0, 95.0)) as console:
        scanner = scanner_on(console, surface_volts=None)
        with pytest.raises(InstrumentError, match="surface is unknown.*fully withdrawn.*retract first"):
            scanner.move_to(1 * UM, 0.0, pacer)
        with pytest.raises(InstrumentError, match="surface is unknown.*fully withdrawn.*retract first"):
            scanner.scan_line(ScanLine((0.0, 0.0), (2 * UM, 0.0), 3, 0.3), RecordingReadout(), "flux", pacer)


def test_with_the_surface_unknown_a_fully_withdrawn_fine_z_moves_and_scans_laterally(pacer):
    pairs = at(50.0, 100.0) + geta(4, 50.0) + geta(5, 50.0) + seta(4, 51.0)
    pairs += at(51.0, 100.0) + geta(4, 51.0) + geta(5, 50.0) + geta(4, 51.0) + geta(5, 50.0) + seta(4, 52.0)
    with on_wire(pairs) as console:
        scanner = scanner_on(console, surface_volts=None)
        scanner.move_to(1 * UM, 0.0, pacer)
        line = ScanLine((1 * UM, 0.0), (2 * UM, 0.0), 2, 0.2)
        assert scanner.scan_line(line, RecordingReadout(), "flux", pacer).tolist() == [1.0, 2.0]


def test_a_line_past_the_warm_limits_is_refused_before_its_first_point(pacer):
    # inside the station's x range, but 25 um is 75 V, beyond the warm [30, 70] V: no point is scanned
    with on_wire([]) as console:
        with pytest.raises(LimitError, match=r"x piezo offset 75\.000 V is outside the warm limits"):
            line = ScanLine((0.0, 0.0), (25 * UM, 0.0), 6, 0.6)
            scanner_on(console, cold=False).scan_line(line, RecordingReadout(), "flux", pacer)


# A surface tilted 10 % along x through z = 0 at x = 0: a line 1 um above it from x = 0 to 2 um
# rises from z = 1 um (45 V) to 1.2 um (46 V); the other way it falls.
TILTED = SurfacePlane(slope_x=0.1, source="plane fit of 3 touchdowns")


def at(x_volts: float, z_volts: float) -> list:
    """The offsets a move reads first: x, y (50 V) and z."""
    return geta(4, x_volts) + geta(5, 50.0) + geta(6, z_volts)


@pytest.mark.parametrize(
    "start_um, end_um, moves",
    [
        (0.0, 2.0,  # rising: z goes out before x at each point
         at(50.0, 45.0) + seta(6, 45.5) + seta(4, 51.0) + at(51.0, 45.5) + seta(6, 46.0) + seta(4, 52.0)),
        (2.0, 0.0,  # falling: x goes out before z
         at(52.0, 46.0) + seta(4, 51.0) + seta(6, 45.5) + at(51.0, 45.5) + seta(4, 50.0) + seta(6, 45.0)),
    ],
    ids=["rising", "falling"],
)
def test_a_line_with_z_sets_z_with_x_and_y_at_each_point(start_um, end_um, moves, clock, pacer):
    pairs = at(50.0 + start_um, 45.0 + start_um / 2) + moves  # at the first point already: nothing sent there
    z = tuple(float(TILTED.height_at(x_um * UM, 0.0)) + 1 * UM for x_um in (start_um, end_um))
    line = ScanLine((start_um * UM, 0.0), (end_um * UM, 0.0), 3, 0.3, z=z)
    with on_wire(pairs) as console:
        scanner = scanner_on(console)
        scanner.record_surface(TILTED)
        values = scanner.scan_line(line, RecordingReadout(), "susceptibility", pacer)
    assert values.tolist() == [1.0, 2.0, 3.0]
    assert clock.now() == pytest.approx(2 * math.hypot(1, 0.1) * UM / FAST)


def test_a_line_whose_z_leaves_the_warm_limits_is_refused_with_nothing_sent(pacer):
    # warm z reaches [-8, 4] um (0-60 V about the surface at 40 V): a line climbing to 5 um cannot be done
    line = ScanLine((0.0, 0.0), (2 * UM, 0.0), 3, 0.3, z=(1 * UM, 5 * UM))
    with on_wire([]) as console:
        scanner = scanner_on(console, cold=False)
        with pytest.raises(InstrumentError, match=r"z = 5\.000 um is outside the z piezo's reach \[-8\.000, 4\.000\]"):
            scanner.scan_line(line, RecordingReadout(), "flux", pacer)  # the role, from z_range()
        with pytest.raises(LimitError, match=r"z piezo offset 65\.000 V is outside the warm limits \[0, 60\] V"):
            scanner._scan_line(line, RecordingReadout(), "flux", pacer)  # the driver's own check of every offset


@pytest.mark.parametrize(
    "axes, cold, reach_um",
    [
        (AXES, True, (-8.0, 12.0)),  # 0 and 100 V about the surface at 40 V, 0.2 um/V
        (AXES, False, (-8.0, 4.0)),  # 0 and 60 V
        (AXES_Z_DOWN, False, (-4.0, 8.0)),  # 60 V is the low end
        (AXES_Z_DOWN, True, (-12.0, 8.0)),
    ],
    ids=["up-cold", "up-warm", "down-warm", "down-cold"],
)
def test_z_range_is_the_active_z_voltage_limits_in_z(axes, cold, reach_um):
    with on_wire([]) as console:
        scanner = scanner_on(console, cold=cold, axes=axes)
        assert scanner.z_range() == pytest.approx((reach_um[0] * UM, reach_um[1] * UM))
        assert scanner.highest_reachable_z() == scanner.z_range()[1]


def test_z_range_ends_at_the_last_millivolt_inside_the_limits():
    axes = {**AXES, "z": PiezoAxis("z", 6, 0.2 * UM, warm_volts=(0.0004, 59.9996), cold_volts=(0.0, 100.0))}
    with on_wire([]) as console:
        low, high = scanner_on(console, cold=False, axes=axes).z_range()
    assert (low, high) == pytest.approx(((0.001 - 40) * 0.2 * UM, (59.999 - 40) * 0.2 * UM))


def test_with_the_surface_unknown_z_range_answers_and_a_line_with_z_is_refused_by_the_role(pacer):
    with on_wire([]) as console:
        scanner = scanner_on(console, surface_volts=None, zero_volts=40.0)
        assert scanner.z_range() == pytest.approx((-8 * UM, 12 * UM))
        line = ScanLine((0.0, 0.0), (2 * UM, 0.0), 3, 0.3, z=(1 * UM, 1 * UM))
        with pytest.raises(InstrumentError, match="surface is unknown"):
            scanner.scan_line(line, RecordingReadout(), "flux", pacer)


# --------------------------------------------------------------------------- coarse steps


def coarse_pairs(slot: int, command: str, frequency: int = 200) -> list:
    return [
        (f"setm {slot} stp", "OK"),
        (f"getf {slot}", f"frequency = {frequency} Hz"),
        (None, "OK"),
        (command, "OK"),
        (f"stepw {slot}", "OK"),
        (f"setm {slot} gnd", "OK"),
    ]


@pytest.mark.parametrize("axis, slot, steps, command", [("z", 3, -10, "stepd 3 10"), ("x", 1, 25, "stepu 1 25")])
def test_coarse_step_withdraws_z_fully_steps_then_grounds_and_forgets_the_surface(
    axis, slot, steps, command, clock, pacer
):
    # the fine z goes to 100 V (the withdrawn end of the cold limits) before the first stepping command
    pairs = geta(6, 90.0) + seta(6, 100.0) + coarse_pairs(slot, command)
    with on_wire(pairs) as console:
        scanner = scanner_on(console)
        assert scanner.surface is not None
        scanner.coarse_step(axis, steps, pacer)
    assert clock.now() == pytest.approx(2 * UM / FAST + abs(steps) / 200)
    assert scanner.surface is None  # a lateral coarse step too: another part of the sample is under the sensor


@pytest.mark.parametrize(
    "towards, steps, command",
    [("up", 4, "stepu 3 4"), ("up", -4, "stepd 3 4"), ("down", 4, "stepd 3 4"), ("down", -4, "stepu 3 4")],
)
def test_coarse_z_steps_towards_the_sample_go_the_configured_way(towards, steps, command, clock, pacer):
    pairs = geta(6, 90.0) + seta(6, 100.0) + coarse_pairs(3, command)
    with on_wire(pairs) as console:
        scanner = scanner_on(console, coarse_z_step=30e-9, coarse_z_towards_sample=towards)
        scanner.coarse_z_steps(steps, pacer)
    assert scanner.surface is None
    assert clock.now() == pytest.approx(2 * UM / FAST + 4 / 200)


def test_coarse_z_step_is_the_setting_and_none_without_it():
    with on_wire([]) as console:
        assert scanner_on(console, coarse_z_step=30e-9).coarse_z_step() == 30e-9
        assert scanner_on(console).coarse_z_step() is None  # coarse_axes.z alone: no nominal step
        assert scanner_on(console, coarse_axes={}).coarse_z_step() is None
        with pytest.raises(UserInputError, match="coarse_z_step needs coarse_axes.z"):
            scanner_on(console, coarse_z_step=30e-9, coarse_axes={"x": 1})


def test_coarse_z_steps_without_a_coarse_z_step_send_nothing(pacer):
    with on_wire([]) as console:
        scanner = scanner_on(console)
        with pytest.raises(InstrumentError, match="no coarse z positioner"):
            scanner.coarse_z_steps(5, pacer)
    assert scanner.surface is not None


def test_after_coarse_steps_a_touchdown_finds_the_surface_and_approaches_work_again(clock, pacer):
    pairs = geta(6, 90.0) + seta(6, 100.0) + coarse_pairs(3, "stepu 3 5")  # withdrawn fully, then stepped
    pairs += geta(6, 100.0)  # the retract of a touchdown: already fully withdrawn, nothing sent
    pairs += at(50.0, 100.0) + geta(4, 50.0) + geta(5, 50.0) + seta(4, 51.0)  # to where it touches down
    pairs += geta(4, 51.0) + geta(5, 50.0) + geta(6, 100.0) + geta(6, 100.0) + seta(6, 99.5)  # a 100 nm step
    pairs += geta(4, 51.0) + geta(5, 50.0) + geta(6, 99.5) + geta(6, 99.5) + seta(6, 99.0)  # and another
    pairs += geta(6, 99.0) + seta(6, 84.5) + seta(6, 70.0)  # approach to 1 um above the surface at 5 um
    with on_wire(pairs) as console:
        scanner = scanner_on(console, coarse_z_step=30e-9)
        scanner.coarse_z_steps(5, pacer)
        assert scanner.surface is None
        with pytest.raises(InstrumentError, match="the surface is unknown"):
            scanner.approach(2 * UM, pacer)  # refused by the role: nothing sent
        assert scanner.z_range() == pytest.approx((-8 * UM, 12 * UM))  # the fine z still has its reach
        scanner.retract(pacer)
        scanner.move_to(1 * UM, 0.0, pacer)
        scanner.touchdown_step(11.9 * UM, pacer)
        scanner.touchdown_step(11.8 * UM, pacer)
        scanner.record_surface(SurfacePlane(z0=5 * UM, source="touchdown at (1.00, 0.00) um"))
        scanner.approach(1 * UM, pacer)


class AbortOnWait:
    """A pacer whose wait of `seconds` raises AbortRequested (the operator pressed Abort)."""

    def __init__(self, clock, seconds: float) -> None:
        self.clock, self.seconds = clock, seconds

    def now(self) -> float:
        return self.clock.now()

    def wait(self, seconds: float) -> None:
        if math.isclose(seconds, self.seconds):
            raise AbortRequested("abort")
        self.clock.sleep(seconds)


@pytest.mark.parametrize("how", ["coarse_step", "coarse_z_steps"])
def test_an_abort_during_coarse_steps_stops_and_grounds_the_positioner(how, clock):
    pairs = geta(6, 100.0)
    pairs += [("setm 3 stp", "OK"), ("getf 3", "frequency = 100 Hz"), (None, "OK"), ("stepu 3 50", "OK")]
    pairs += [("stop 3", "OK"), ("setm 3 gnd", "OK")]
    with on_wire(pairs) as console:
        scanner = scanner_on(console, coarse_z_step=30e-9)
        with pytest.raises(AbortRequested):
            if how == "coarse_step":
                scanner.coarse_step("z", 50, AbortOnWait(clock, 0.5))
            else:
                scanner.coarse_z_steps(50, AbortOnWait(clock, 0.5))
    assert scanner.surface is None


def test_a_fenced_run_thread_cannot_step_a_coarse_positioner(pacer):
    fence_thread(threading.get_ident())  # the watchdog gave up on this thread
    try:
        with on_wire([]) as console:
            scanner = scanner_on(console, coarse_z_step=30e-9)
            with pytest.raises(AbortRequested, match="this run was ended"):
                scanner._coarse_steps(3, 5, pacer)
            with pytest.raises(AbortRequested, match="this run was ended"):
                scanner.coarse_z_steps(5, pacer)
    finally:
        unfence_thread(threading.get_ident())


@pytest.mark.parametrize(
    "axis, steps, message", [("w", 3, "no coarse positioner configured for axis 'w'"), ("z", 2.5, "whole number")]
)
def test_coarse_step_misuse_sends_nothing(axis, steps, message, pacer):
    with on_wire([]) as console:
        with pytest.raises(UserInputError, match=message):
            scanner_on(console).coarse_step(axis, steps, pacer)


def test_coarse_step_without_coarse_axes_configured_sends_nothing(pacer):
    with on_wire([]) as console:
        scanner = ANC300Scanner(console, AXES, {"x": 50.0, "y": 50.0}, cold=True, piezo_speed=FAST, surface_volts=40.0)
        with pytest.raises(UserInputError, match="no coarse positioner"):
            scanner.coarse_step("z", 1, pacer)


def test_zero_coarse_steps_do_nothing(pacer):
    with on_wire([]) as console:
        scanner = scanner_on(console, coarse_z_step=30e-9)
        scanner.coarse_step("z", 0, pacer)
        scanner.coarse_z_steps(0, pacer)
    assert scanner.surface == SurfacePlane()  # still the station file's


# --------------------------------------------------------------------------- settings

BLOCK = {
    "driver": "anc300_scanner",
    "address": SIM_ADDRESS,
    "cold": True,
    "piezo_speed": "100 um/s",
    "query_delay": 0,
    "axes": {
        # units as a station file writes them, or bare SI numbers
        "x": {"axis": 4, "meters_per_volt": "1 um/V", "center_volts": 50,
              "warm_volts": [30, 70], "cold_volts": [0, 100]},
        "y": {"axis": 5, "meters_per_volt": 1e-6, "center_volts": "50 V",
              "warm_volts": [30, 70], "cold_volts": [0, 100]},
        "z": {"axis": 6, "meters_per_volt": "0.2 um/V", "surface_volts": 40,
              "warm_volts": [0, 60], "cold_volts": [0, 100]},
    },
    "coarse_axes": {"x": 1, "y": 2, "z": 3},
    "coarse_z_step": "30 nm",
    "coarse_z_towards_sample": "down",
}


def block_with(path: str, value) -> dict:
    """BLOCK with one entry replaced (path 'axes.z.axis'); value None removes it."""
    block = yaml.safe_load(yaml.safe_dump(BLOCK))
    *parents, leaf = path.split(".")
    target = block
    for key in parents:
        target = target[key]
    if value is None:
        del target[leaf]
    else:
        target[leaf] = value
    return block


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("cold", None, "missing setting 'cold'"),
        ("cold", "yes", "cold must be true or false"),
        ("piezo_speed", "1 V", "piezo_speed: '1 V' is not a quantity in m/s"),
        ("piezo_speed", 0, "piezo_speed must be positive"),
        ("axes.z.axis", 4, "each fine and coarse axis needs its own ANC300 slot"),
        ("coarse_axes.z", 6, "each fine and coarse axis needs its own ANC300 slot"),
        ("axes.x.axis", 8, "axes.x: axis must be an ANC300 slot 1-7"),
        ("axes.y.meters_per_volt", 0, "axes.y: meters_per_volt must not be zero"),
        ("axes.x.warm_volts", [70, 30], r"axes.x: warm_volts \[70, 30\] V must be an interval"),
        ("axes.z.cold_volts", [-10, 100], "inside the ANC300 offset range"),
        ("axes.z.cold_volts", [0, 200], "inside the ANC300 offset range"),
        ("axes.x.center_volts", None, "axes.x: missing setting 'center_volts'"),
        ("axes.z.surface_volts", 160, "surface_volts 160 V is outside the ANC300 offset range"),
        ("axes.z.center_volts", 50, "axes.z: unknown setting"),
        ("axes.z", None, "axes.z is missing"),
        ("axes.w", {"axis": 7}, "axes: unknown axis names w"),
        ("coarse_axes.w", 7, "coarse_axes: unknown axis names w"),
        ("speed", 1, "unknown setting"),
        ("axes.z.zero_volts", 160, "zero_volts 160 V is outside the ANC300 offset range"),
        ("axes.z.zero_volts", "5 um", "axes.z: zero_volts: '5 um' is not"),
        ("axes.x.zero_volts", 50, "axes.x: unknown setting"),
        ("coarse_z_step", "20 um", r"coarse_z_step 20 um is outside \(0, 10\] um"),
        ("coarse_z_step", 0, r"coarse_z_step 0 um is outside \(0, 10\] um"),
        ("coarse_z_step", "30 V", "coarse_z_step: '30 V' is not"),
        ("coarse_axes.z", None, "coarse_z_step needs coarse_axes.z"),
        ("coarse_z_towards_sample", "sideways", "coarse_z_towards_sample must be up or down, got 'sideways'"),
    ],
)
def test_bad_settings_are_user_errors_before_anything_is_opened(path, value, message):
    context = HardwareContext(visa_library=f"{SIM_FILE}@sim", clock=SimulatedClock())
    with pytest.raises(UserInputError, match=message):
        ANC300Scanner.from_config(block_with(path, value), context)
    assert context.closers == []  # nothing was opened
    error = pytest.raises(UserInputError, ANC300Scanner.from_config, block_with(path, value), context).value
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    "path, value, message",
    [
        ("axes.z.zero_volts", 160, "hardware.scanner.axes.z.zero_volts"),
        ("axes.x.zero_volts", 50, "hardware.scanner.axes.x: unknown setting"),
        ("coarse_z_step", "20 um", "hardware.scanner.coarse_z_step"),
        ("coarse_z_step", "30 V", "hardware.scanner.coarse_z_step"),
        ("coarse_axes.z", None, "hardware.scanner.coarse_z_step: needs coarse_axes.z"),
        ("coarse_z_towards_sample", "sideways", "hardware.scanner.coarse_z_towards_sample: must be one of up, down"),
    ],
)
def test_the_station_check_refuses_the_same_new_settings(path, value, message):
    from sqm.drivers.backend import validate_config

    station = yaml.safe_load((REPO / "configs" / "stations" / "lab-pyvisa-sim.yaml").read_text())
    hardware = station["hardware"]
    hardware["scanner"] = {key: value for key, value in block_with(path, value).items()}
    with pytest.raises(UserInputError, match=message):
        validate_config(hardware, StationLimits.from_mapping(station["limits"]))
    hardware["scanner"] = BLOCK
    validate_config(hardware, StationLimits.from_mapping(station["limits"]))  # the block itself passes


# --------------------------------------------------------------------------- pyvisa-sim smoke


def test_the_three_sim_files_merge_without_clashes():
    devices, resources = [], []
    for name in ("lakeshore336", "sr830", "anc300"):
        data = yaml.safe_load((SIM_FOLDER / f"{name}.yaml").read_text())
        assert data["spec"] == "1.0"
        devices += list(data["devices"])
        resources += list(data["resources"])
    assert len(set(devices)) == len(devices) == 3
    assert len(set(resources)) == len(resources) == 4  # the SR830's file holds two lock-ins


def test_sim_scanner_parks_scans_steps_and_then_needs_a_new_surface(sim_context, pacer):
    scanner = ANC300Scanner.from_config(BLOCK, sim_context)
    scanner.attach_limits(station_limits())
    assert "ANC300" in scanner.identity()
    assert scanner.position() == pytest.approx((0.0, 0.0, 6 * UM))  # z starts at 70 V
    scanner.retract(pacer)
    scanner.move_to(10 * UM, -5 * UM, pacer)
    scanner.approach(1 * UM, pacer)
    assert scanner.position() == pytest.approx((10 * UM, -5 * UM, 1 * UM))
    readout = RecordingReadout()
    values = scanner.scan_line(ScanLine((10 * UM, -5 * UM), (14 * UM, -5 * UM), 5, 1.0), readout, "flux", pacer)
    assert values.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert scanner.position() == pytest.approx((14 * UM, -5 * UM, 1 * UM))

    scanner.coarse_z_steps(20, pacer)  # towards the sample: stepd (coarse_z_towards_sample: down)
    assert scanner.offset_volts("z") == 100.0  # withdrawn fully before stepping
    assert scanner.controller.axis(3).mode == "gnd"
    assert scanner.surface is None
    with pytest.raises(InstrumentError, match="surface is unknown"):
        scanner.approach(1 * UM, pacer)
    scanner.retract(pacer)
    scanner.move_to(0.0, 0.0, pacer)  # fully withdrawn: allowed with the surface unknown
    scanner.touchdown_step(11.9 * UM, pacer)
    scanner.record_surface(SurfacePlane(z0=2 * UM, source="touchdown at (0.00, 0.00) um"))
    scanner.approach(1 * UM, pacer)
    assert scanner.offset_volts("z") == 55.0  # 3 um above z's zero at 40 V
    scanner.safe_state(pacer)
    snapshot = scanner.snapshot()
    assert (snapshot["x_m"], snapshot["y_m"], snapshot["z_m"]) == pytest.approx((0.0, 0.0, 12 * UM))
    assert snapshot["surface_source"] == "touchdown at (0.00, 0.00) um"


def test_the_lab_pyvisa_sim_scanner_has_a_coarse_z(sim_context, pacer):
    station = yaml.safe_load((REPO / "configs" / "stations" / "lab-pyvisa-sim.yaml").read_text())
    scanner = ANC300Scanner.from_config(station["hardware"]["scanner"], sim_context)
    scanner.attach_limits(StationLimits.from_mapping(station["limits"]))
    assert scanner.coarse_z_step() == pytest.approx(30e-9)
    assert scanner.surface == SurfacePlane()  # z's zero is the station file's surface_volts
    assert scanner.z_range() == pytest.approx((-2 * UM, 12 * UM))  # 0-140 V cold about 20 V, 0.1 um/V
    assert steps_per_batch(scanner, 20e-9) >= 100  # coarse_approach can sweep the fine z between batches
    scanner.coarse_z_steps(3, pacer)
    low, high = scanner.voltage_limits("z")
    assert scanner.offset_volts("z") == high  # withdrawn fully first (0.1 um/V: up is away)
    assert scanner.controller.axis(scanner.coarse_axes["z"]).mode == "gnd"
    assert scanner.surface is None


X_GRID_UM = np.arange(-60, 61, 10)


@pytest.mark.parametrize("cold", [True, False], ids=["cold", "warm"])
@pytest.mark.parametrize("x_um", X_GRID_UM, ids=lambda x: f"{x:+d}um")
def test_sim_grid_each_x_is_reached_or_refused_with_the_offset_unchanged(sim_context, pacer, x_um, cold):
    scanner = ANC300Scanner.from_config({**BLOCK, "cold": cold}, sim_context)
    scanner.attach_limits(station_limits())
    before = scanner.offset_volts("x")
    allowed_um = 50 if cold else 20  # station limit +-50 um; warm piezo limit [30, 70] V = +-20 um
    if abs(x_um) <= allowed_um:
        scanner.move_to(x_um * UM, 0.0, pacer)
        assert scanner.offset_volts("x") == pytest.approx(50.0 + x_um)
    else:
        with pytest.raises(LimitError):
            scanner.move_to(x_um * UM, 0.0, pacer)
        assert scanner.offset_volts("x") == before


def test_sim_controller_refuses_an_offset_beyond_150_volts_with_error(sim_context):
    scanner = ANC300Scanner.from_config(BLOCK, sim_context)
    scanner.controller.write("seta 4 151.000")  # around the adapter: the simulated controller answers ERROR
    with pytest.raises(ValueError, match="Error after previous command"):
        scanner.controller.check_set_errors()


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "pairs, call, message",
    [
        ([("geta 4", None)], lambda scanner, pacer: scanner.position(), r"ANC300 geta 4: VisaIOError: .*Timeout"),
        (
            geta(4, 50.0) + geta(5, 50.0) + [("seta 4 51.000", None)],
            lambda scanner, pacer: scanner.move_to(1 * UM, 0.0, pacer),
            r"ANC300 seta 4 51.000: VisaIOError",
        ),
        ([("ver", None)], lambda scanner, pacer: scanner.identity(), r"ANC300 ver: VisaIOError"),
    ],
)
def test_timeouts_are_instrument_errors_naming_the_exchange(pairs, call, message, pacer):
    scanner = scanner_on(ANC300Console(SilentAfterPairs(pairs, VISA_TIMEOUT), query_delay=0))
    with pytest.raises(InstrumentError, match=message):
        call(scanner, pacer)


@pytest.mark.parametrize(
    "pairs, call, message",
    [
        (
            [("geta 4", "voltage = ?? V"), (None, "OK")],
            lambda scanner, pacer: scanner.position(),
            "ANC300 geta 4: the controller answered 'voltage = \\?\\? V', not a voltage",
        ),
        (
            [("geta 4", "Axis not in computer control mode"), (None, "ERROR")],
            lambda scanner, pacer: scanner.position(),
            "ANC300 geta 4: ValueError: .*Axis not in computer control mode",
        ),
        (
            geta(4, 50.0) + geta(5, 50.0) + [("seta 4 51.000", "Axis in wrong mode"), (None, "ERROR")],
            lambda scanner, pacer: scanner.move_to(1 * UM, 0.0, pacer),
            "ANC300 seta 4 51.000: ValueError: .*Axis in wrong mode",
        ),
        (
            geta(6, 100.0) + [("setm 3 stp", "OK"), ("getf 3", "frequency = fast"), (None, "OK"), ("setm 3 gnd", "OK")],
            lambda scanner, pacer: scanner.coarse_step("z", 3, pacer),
            "ANC300 getf 3: the controller answered 'fast', not a frequency",
        ),
    ],
)
def test_garbage_and_error_replies_are_instrument_errors(pairs, call, message, pacer):
    with on_wire(pairs) as console:
        with pytest.raises(InstrumentError, match=message):
            call(scanner_on(console), pacer)


# --------------------------------------------------------------------------- real instrument

REAL_ADDRESS = os.environ.get("SQM_ANC300_ADDRESS")


@pytest.mark.skipif(
    not REAL_ADDRESS, reason="set SQM_ANC300_ADDRESS (and SQM_ANC300_PASSWORD for TCP) to test a real ANC300"
)
def test_real_anc300_identifies_and_reads_an_offset_without_moving():
    context = HardwareContext(visa_library=os.environ.get("SQM_VISA_LIBRARY", ""), clock=RealClock())
    try:
        adapter = context.visa_adapter(REAL_ADDRESS, read_termination="\r\n", write_termination="\r\n")
        console = ANC300Console(adapter, passwd=os.environ.get("SQM_ANC300_PASSWORD"))
        assert "ANC300" in str(console.version)
        slot = int(os.environ.get("SQM_ANC300_SCAN_AXIS", "4"))
        assert console.axis(slot).mode in ("gnd", "inp", "cap", "stp", "off", "stp+", "stp-")
    finally:
        context.close()
