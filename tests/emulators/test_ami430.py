"""The AMI 430 driver against its emulator: ramps that take the lab time the world's
magnet takes, at the rate the driver sent; the persistent switch with its heating and
cooling times and the supply's lead current; a quench; front-panel changes the driver
must refuse; faults on the wire."""

from __future__ import annotations

import time

import numpy as np
import pytest

from sqm.emulators.faults import Fault
from sqm.emulators.instruments.ami430 import WELCOME
from sqm.errors import InstrumentError, LimitError
from sqm.pacing import CleanupPacer
from sqm.roles import MagnetState

GAUSS = 1e-4  # T
COIL = 0.118  # T/A
BLOCK = {"coil_constant": f"{COIL} T/A", "current_limit": "50 A", "max_ramp_rate": "0.036 A/s", "timeout": "0.2 s"}
STATION_RATE = 0.5 * GAUSS  # T/s, the default station's field ramp rate
# lab s a ramp may take beyond its distance / rate: the last poll, and the wall time of the exchanges. A write
# followed within 40 ms by another message waits for the emulator's delayed TCP ACK (pyvisa-py does not set
# TCP_NODELAY): 40 ms of wall, 4 lab s at speed 100. A rate misread as per minute or in kG would be 10-60 times off.
SLACK = 12.0


class WatchingPacer(CleanupPacer):
    """A pacer on the lab clock that, as each wait begins (between the driver's exchanges),
    records (lab s, `look()`): what the driver sees while it waits."""

    def __init__(self, clock, look) -> None:
        super().__init__(clock)
        self.look = look
        self.seen: list[tuple[float, object]] = []

    def wait(self, seconds: float) -> None:
        before = self.now()
        value = self.look()
        self.seen.append(((before + self.now()) / 2, value))
        super().wait(seconds)


def magnet_bench(bench, **block):
    return bench("ami430", {**BLOCK, **block}, speed=100.0)


def test_connect_reads_the_welcome_and_sets_tesla_and_seconds_on_a_430_in_kilogauss_per_minute(bench):
    magnet = magnet_bench(bench)
    emulator = magnet.server.emulator
    assert magnet.role.supply.welcome == list(WELCOME)
    assert emulator.tesla and not emulator.per_minute  # it came up in kG per minute
    assert magnet.role.supply_coil_constant == pytest.approx(COIL)
    assert magnet.role.supply_current_limit == pytest.approx(50.0)
    assert magnet.role.state() is MagnetState.AT_ZERO and magnet.role.read_field() == 0.0


def test_a_ramp_takes_the_lab_time_of_its_rate_and_ends_holding_at_the_target(bench):
    magnet = magnet_bench(bench)
    pacer = WatchingPacer(magnet.clock, magnet.role.read_field)
    target = 15 * GAUSS
    start = magnet.clock.now()
    magnet.role.ramp_to(target, pacer)
    elapsed = magnet.clock.now() - start
    # 30 lab s, then the polls' slack (and up to 4 lab s per stall of the TCP stack, see SLACK)
    assert target / STATION_RATE <= elapsed < target / STATION_RATE + SLACK
    times, fields = np.array([seen[0] for seen in pacer.seen]), np.array([seen[1] for seen in pacer.seen])
    assert len(fields) > 20  # a poll every 0.5 lab s for 30 lab s: the driver really waited
    assert np.all((fields >= 0.0) & (fields <= target)) and np.all(np.diff(fields) >= 0.0)
    ramping = (fields > 0.05 * target) & (fields < 0.95 * target)
    slope = np.polyfit(times[ramping], fields[ramping], 1)[0]
    assert slope == pytest.approx(STATION_RATE, rel=0.05)  # the field grows at the rate the driver sent
    assert magnet.role.state() is MagnetState.HOLDING and magnet.role.read_field() == pytest.approx(target)
    amps = target / COIL
    assert magnet.role.supply.magnet_current == pytest.approx(amps) and magnet.role.supply.supply_current == (
        pytest.approx(amps))


def test_a_ramp_at_an_explicit_rate_runs_at_that_rate(bench):
    magnet = magnet_bench(bench)
    rate = 2 * GAUSS  # the station's highest
    start = magnet.clock.now()
    magnet.role.ramp_to(-12 * GAUSS, CleanupPacer(magnet.clock), rate=rate)
    assert 6.0 <= magnet.clock.now() - start < 6.0 + SLACK
    assert magnet.role.read_field() == pytest.approx(-12 * GAUSS)


@pytest.mark.parametrize(
    "target, rate, message",
    [
        (25 * GAUSS, None, "outside the station limits"),
        (5 * GAUSS, 3 * GAUSS, "outside the station limits"),
        (15 * GAUSS, None, "above the magnet current limit"),  # 15 G needs 12.7 mA, the block allows 10 mA
    ],
)
def test_a_target_or_rate_beyond_the_limits_is_refused_before_any_command(bench, target, rate, message):
    magnet = magnet_bench(bench, current_limit="10 mA")
    sent = magnet.server.messages
    with pytest.raises(LimitError, match=message):
        magnet.role.ramp_to(target, CleanupPacer(magnet.clock), rate=rate)
    assert magnet.server.messages == sent
    with magnet.link.world() as world:
        assert world.field == 0.0 and world.magnet_state is MagnetState.AT_ZERO


def test_a_quench_during_a_ramp_is_reported_and_the_field_collapses(bench):
    magnet = magnet_bench(bench)
    magnet.server.add_fault(Fault("quench", at=magnet.clock.now() + 15.0))
    with pytest.raises(InstrumentError, match="magnet quenched during the ramp to 0.0015 T") as error:
        magnet.role.ramp_to(15 * GAUSS, CleanupPacer(magnet.clock))
    assert "\n" not in str(error.value)
    assert magnet.role.state() is MagnetState.QUENCH
    assert magnet.role.supply.state_code == 7 and magnet.role.supply.quench_flag == 1
    magnet.clock.sleep(10.0)  # 20 decay times of the world's quench
    assert abs(magnet.role.read_field()) < 1e-3 * GAUSS
    sent = magnet.server.messages
    with pytest.raises(InstrumentError, match="quenched; refusing to ramp"):
        magnet.role.ramp_to(0.0, CleanupPacer(magnet.clock))
    magnet.role.safe_state(CleanupPacer(magnet.clock))  # nothing to drive: it only reads
    assert magnet.server.messages - sent == 3  # STATE? (7) for the ramp, then PERSistent?, STATE? for the safe state
    # the latch holds until reset; then the supply is paused and can ramp again
    assert magnet.role.state() is MagnetState.QUENCH
    magnet.role.supply.write("QU 0")
    assert magnet.role.state() is MagnetState.PAUSED
    magnet.role.ramp_to(0.0, CleanupPacer(magnet.clock))
    assert magnet.role.read_field() == 0.0


def test_the_persistent_switch_cools_and_heats_for_its_times_while_the_coil_keeps_its_field(bench):
    magnet = magnet_bench(bench)
    role = magnet.role
    role.ramp_to(10 * GAUSS, CleanupPacer(magnet.clock))
    pacer = WatchingPacer(magnet.clock, role.state)
    start = magnet.clock.now()
    role.enter_persistent(pacer)
    assert magnet.clock.now() - start >= 10.0  # the driver's switch_heater_wait
    assert [seen[1] for seen in pacer.seen] == [MagnetState.COOLING_SWITCH]
    assert role.is_persistent() and not role.switch_heater_on() and role.state() is MagnetState.HOLDING
    assert role.read_field() == pytest.approx(10 * GAUSS)
    sent = magnet.server.messages
    with pytest.raises(InstrumentError, match="persistent; refusing to ramp"):
        role.ramp_to(0.0, CleanupPacer(magnet.clock))
    assert magnet.server.messages - sent == 3  # STATE?, QU?, PERSistent?: nothing written
    pacer = WatchingPacer(magnet.clock, role.state)
    role.leave_persistent(pacer)
    assert [seen[1] for seen in pacer.seen] == [MagnetState.HEATING_SWITCH]
    assert not role.is_persistent() and role.switch_heater_on()
    assert role.read_field() == pytest.approx(10 * GAUSS)
    role.ramp_to(0.0, CleanupPacer(magnet.clock))
    assert role.read_field() == 0.0


def test_leaving_persistent_mode_is_refused_while_the_leads_do_not_carry_the_coil_current(bench):
    magnet = magnet_bench(bench)
    role, supply = magnet.role, magnet.role.supply
    role.ramp_to(10 * GAUSS, CleanupPacer(magnet.clock))
    role.enter_persistent(CleanupPacer(magnet.clock))
    supply.write("ZERO")  # the operator runs the leads down, as one does in persistent mode
    assert supply.state_code == 6  # zeroing current
    magnet.clock.sleep(25.0)  # 8.5 mA at the segment's 0.42 mA/s: 20 lab s
    assert supply.state_code == 8  # at zero current
    assert supply.supply_current == 0.0 and supply.magnet_current == pytest.approx(10 * GAUSS / COIL)
    with pytest.raises(InstrumentError, match=r"leads carry 0 A but the coil holds 0.00847\d* A"):
        role.leave_persistent(CleanupPacer(magnet.clock))
    assert not role.switch_heater_on() and role.read_field() == pytest.approx(10 * GAUSS)
    supply.write("RAMP")  # back to the target the coil holds
    magnet.clock.sleep(25.0)
    role.leave_persistent(CleanupPacer(magnet.clock))
    assert role.switch_heater_on() and role.read_field() == pytest.approx(10 * GAUSS)


def test_a_switch_that_heats_longer_than_the_driver_waits_refuses_the_next_ramp(bench):
    magnet = magnet_bench(bench)
    role = magnet.role
    role.enter_persistent(CleanupPacer(magnet.clock))  # at zero field
    role.supply.write("CONF:PS:HTIME 30")  # set on the front panel: 30 s, the driver waits 10 s
    role.leave_persistent(CleanupPacer(magnet.clock))
    with pytest.raises(InstrumentError, match="magnet is heating switch; refusing to ramp"):
        role.ramp_to(5 * GAUSS, CleanupPacer(magnet.clock))
    magnet.clock.sleep(25.0)
    role.ramp_to(5 * GAUSS, CleanupPacer(magnet.clock))
    assert role.read_field() == pytest.approx(5 * GAUSS)


def test_units_changed_on_the_front_panel_are_read_in_those_units_and_refuse_the_next_ramp(bench):
    magnet = magnet_bench(bench)
    role, supply = magnet.role, magnet.role.supply
    role.ramp_to(10 * GAUSS, CleanupPacer(magnet.clock))
    supply.write("CONF:FIELD:UNITS 0")
    supply.write("CONF:RAMP:RATE:UNITS 1")
    assert supply.field == pytest.approx(10 * GAUSS * 10)  # kG
    assert supply.coil_constant == pytest.approx(COIL * 10)  # kG/A
    rate, upper = supply.ramp_rate_segment_1
    assert rate == pytest.approx(STATION_RATE * 10 * 60) and upper == pytest.approx(COIL * 50 * 10)  # kG/min, kG
    assert supply.magnet_current == pytest.approx(10 * GAUSS / COIL)  # amperes whatever the units
    with pytest.raises(InstrumentError, match="field units are 'kilogauss', not tesla"):
        role.ramp_to(0.0, CleanupPacer(magnet.clock))
    assert role.state() is MagnetState.HOLDING and supply.field == pytest.approx(10 * GAUSS * 10)


def test_a_target_the_supply_refuses_is_not_ramped_to(bench):
    magnet = magnet_bench(bench)
    magnet.role.supply.write("CONF:CURR:LIMIT 0.005")  # lowered on the front panel after connect
    with pytest.raises(InstrumentError, match=r'refused by the supply: -105,"Out of range"'):
        magnet.role.ramp_to(10 * GAUSS, CleanupPacer(magnet.clock))  # 8.5 mA
    magnet.clock.sleep(5.0)
    assert magnet.role.state() is MagnetState.AT_ZERO and magnet.role.read_field() == 0.0


def test_an_error_left_in_the_queue_is_cleared_before_a_ramp_and_reads_when_asked(bench):
    magnet = magnet_bench(bench)
    magnet.server.add_fault(Fault("error_entry", at=0.0))
    magnet.role.ramp_to(5 * GAUSS, CleanupPacer(magnet.clock))  # *CLS before its configuration
    assert magnet.role.supply.read_error() == (0, "No errors")
    magnet.server.add_fault(Fault("error_entry", at=magnet.clock.now()))
    assert magnet.role.supply.read_error() == (-101, "Unrecognized command")


def test_garbage_mid_ramp_pauses_the_supply(bench):
    magnet = magnet_bench(bench)
    magnet.server.add_fault(Fault("garbage", at=magnet.clock.now() + 15.0))
    with pytest.raises(InstrumentError, match=r"STATE\?|QU\?") as error:
        magnet.role.ramp_to(15 * GAUSS, CleanupPacer(magnet.clock))
    assert "\n" not in str(error.value)
    assert magnet.role.state() is MagnetState.PAUSED  # the driver's PAUSE reached the supply
    field = magnet.role.read_field()
    assert 0.0 < field < 15 * GAUSS
    magnet.clock.sleep(10.0)
    assert magnet.role.read_field() == field


def test_no_reply_is_a_one_line_error_within_the_timeout_and_the_supply_answers_again_after(bench):
    magnet = magnet_bench(bench)
    magnet.server.add_fault(Fault("no_reply", at=magnet.clock.now(), lasts=40.0))  # 0.4 s of wall
    start = time.monotonic()
    with pytest.raises(InstrumentError, match=r"FIELD:MAG\?: VisaIOError") as error:
        magnet.role.read_field()
    assert time.monotonic() - start < 0.2 + 0.15  # the block's 0.2 s timeout
    assert "\n" not in str(error.value)
    magnet.clock.sleep(40.0)
    assert magnet.role.read_field() == 0.0


def test_garbage_is_a_one_line_error_and_the_next_reply_is_read(bench):
    magnet = magnet_bench(bench)
    magnet.server.add_fault(Fault("garbage", at=magnet.clock.now()))
    with pytest.raises(InstrumentError, match=r"FIELD:MAG\?: the supply answered") as error:
        magnet.role.read_field()
    assert "\n" not in str(error.value)
    assert magnet.role.read_field() == 0.0
