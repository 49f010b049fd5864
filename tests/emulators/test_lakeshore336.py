"""The Lake Shore 336 driver against its emulator: the stage's temperature read through
the wire is the world's, with its thermometer noise, and follows the world's
first-order lag towards the setpoint the driver sends; refusals before any command;
an invalid reading and a heater fault as the 336 shows them; faults on the wire."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from sqm.emulators.faults import Fault
from sqm.errors import InstrumentError, LimitError
from sqm.pacing import CleanupPacer

BLOCK = {"input": "A", "loop": 1, "heater_range": 1}
BASE_K = 1.5  # the world's base temperature
NOISE_K = 0.5e-3  # the world's thermometer noise (rms)
TAU_S = 30.0  # the world's thermal time constant


def controller_bench(bench, speed: float = 100.0, block: dict | None = None, **world):
    return bench("lakeshore336", {**BLOCK, **(block or {})}, speed=speed, **world)


def heater_on_in_world(controller) -> bool:
    with controller.link.world() as world:
        return world.heater_on


def test_the_reading_is_the_worlds_temperature_with_the_thermometer_noise(bench):
    controller = controller_bench(bench, start_temperature=BASE_K)
    assert "MODEL336" in controller.role.identity()
    readings = np.array([controller.role.read_temperature() for _ in range(60)])
    assert abs(readings.mean() - BASE_K) < 0.3e-3
    assert 0.6 * NOISE_K < readings.std() < 1.5 * NOISE_K


def test_the_temperature_follows_the_worlds_lag_towards_a_new_setpoint(bench):
    controller = controller_bench(bench, speed=1000.0, start_temperature=BASE_K)
    role, clock = controller.role, controller.clock
    before = clock.now()
    role.set_setpoint(5.0)
    assert role.read_setpoint() == 5.0  # a query: the SETP before it has been taken
    after = clock.now()

    def expected(elapsed: float) -> float:
        return 5.0 - (5.0 - BASE_K) * math.exp(-max(elapsed, 0.0) / TAU_S)

    for _ in range(12):
        clock.sleep(10.0)
        start = clock.now()
        kelvin = role.read_temperature()
        end = clock.now()
        # the setpoint changed between `before` and `after`, the reading between `start` and `end`
        assert expected(start - after) - 4 * NOISE_K <= kelvin <= expected(end - before) + 4 * NOISE_K
    clock.sleep(8 * TAU_S)
    assert role.read_temperature() == pytest.approx(5.0, abs=4 * NOISE_K)
    snapshot = role.snapshot()
    assert snapshot["setpoint_K"] == 5.0 and snapshot["heater_range"] == 1
    assert snapshot["heater_output_percent"] == pytest.approx(100 * (5.0 - BASE_K) / 10.0)  # low range: 10 K at 100 %


@pytest.mark.parametrize(
    "kelvin, block, message",
    [
        (12.0, {}, "outside the station limits"),
        (1.0, {}, "outside the station limits"),
        (6.0, {"ceiling": "5 K"}, "above the controller's ceiling 5 K"),
    ],
)
def test_a_setpoint_beyond_the_limits_is_refused_before_any_command(bench, kelvin, block, message):
    controller = controller_bench(bench, block=block, start_temperature=BASE_K)
    sent = controller.server.messages
    with pytest.raises(LimitError, match=message):
        controller.role.set_setpoint(kelvin)
    assert controller.server.messages == sent
    with controller.link.world() as world:
        assert world.heater_setpoint == BASE_K


def test_an_invalid_reading_raises_switches_the_heater_off_and_reads_again_when_it_ends(bench):
    controller = controller_bench(bench, start_temperature=BASE_K)
    role = controller.role
    role.set_setpoint(4.0)
    controller.server.add_fault(Fault("invalid_reading", at=controller.clock.now(), lasts=50.0))
    with pytest.raises(InstrumentError, match="input A: reading status 129: invalid reading, sensor units over "
                                              "range; heater loop 1 switched off") as error:
        role.read_temperature()
    assert "\n" not in str(error.value)
    assert role.controller.input_A.kelvin == 0.0  # what the 336 reads for a sensor it cannot read
    assert not heater_on_in_world(controller) and role.controller.output_1.range == "off"
    controller.clock.sleep(50.0)
    assert role.read_temperature() == pytest.approx(BASE_K, abs=0.1)
    assert not heater_on_in_world(controller)  # the heater stays off until a setpoint is sent again


def world_temperature(controller) -> tuple[float, float]:
    """(lab s, K) of the world's stage now."""
    with controller.link.world() as world:
        return world.time, world.temperature


def test_a_heater_fault_turns_the_heater_off_the_stage_cools_and_readings_say_why(bench):
    controller = controller_bench(bench, speed=300.0, start_temperature=BASE_K)
    role, clock = controller.role, controller.clock
    role.set_setpoint(5.0)
    clock.sleep(TAU_S)
    controller.server.add_fault(Fault("heater_fault", at=clock.now(), lasts=100.0))
    with pytest.raises(InstrumentError, match="heater open load"):
        role.read_temperature()  # a number would hide that the setpoint can no longer be reached
    warm_at, warm = world_temperature(controller)
    assert role.controller.ask("HTRST? 1").strip() == "1"
    assert not heater_on_in_world(controller)
    clock.sleep(TAU_S)
    cooler_at, cooler = world_temperature(controller)  # the 336 keeps the faulty heater off: the stage cools
    assert cooler == pytest.approx(BASE_K + (warm - BASE_K) * math.exp(-(cooler_at - warm_at) / TAU_S), abs=0.05)
    assert cooler < warm - 0.5
    clock.sleep(100.0)  # the fault is cleared (the load reconnected)
    assert role.controller.ask("HTRST? 1").strip() == "0"
    role.set_setpoint(6.0)
    assert role.controller.output_1.range == "low" and heater_on_in_world(controller)


def test_the_driver_reports_a_heater_fault(bench):
    """Found by the emulator: the driver never read HTRST?, so a heater fault went unreported
    and a wait for the setpoint never ended. Now a setpoint and every reading check it."""
    controller = controller_bench(bench, start_temperature=BASE_K)
    controller.server.add_fault(Fault("heater_fault", at=controller.clock.now()))
    with pytest.raises(InstrumentError, match=r"heater open load \(HTRST\? 1 1\)"):
        controller.role.set_setpoint(5.0)
    with pytest.raises(InstrumentError, match="heater open load"):
        controller.role.read_temperature()


def test_safe_state_switches_the_heater_off_when_the_stage_reads_above_the_station_range(bench):
    controller = controller_bench(bench, start_temperature=11.0)  # the world's heater holds 11 K
    assert heater_on_in_world(controller)
    with pytest.raises(InstrumentError, match="outside the station's range: heater switched off"):
        controller.role.safe_state(CleanupPacer(controller.clock))
    assert controller.role.controller.output_1.range == "off"  # a query: the RANGE before it has been taken
    assert not heater_on_in_world(controller)


def test_no_reply_is_a_one_line_error_within_the_timeout(bench):
    controller = controller_bench(bench, start_temperature=BASE_K)
    # the driver takes no timeout setting: shorten its adapter's VISA timeout (ms) to keep the test fast
    controller.role.controller.adapter.connection.timeout = 200
    controller.server.add_fault(Fault("no_reply", at=controller.clock.now(), lasts=40.0))
    start = time.monotonic()
    with pytest.raises(InstrumentError, match=r"RDGST\? A: VisaIOError") as error:
        controller.role.read_temperature()
    assert time.monotonic() - start < 0.2 + 0.15
    assert "\n" not in str(error.value)
    controller.clock.sleep(40.0)
    assert controller.role.read_temperature() == pytest.approx(BASE_K, abs=5 * NOISE_K)


def test_garbage_is_a_one_line_error_and_the_next_reading_is_read(bench):
    controller = controller_bench(bench, start_temperature=BASE_K)
    controller.server.add_fault(Fault("garbage", at=controller.clock.now()))
    with pytest.raises(InstrumentError, match=r"RDGST\? A") as error:
        controller.role.read_temperature()
    assert "\n" not in str(error.value)
    assert controller.role.read_temperature() == pytest.approx(BASE_K, abs=5 * NOISE_K)
