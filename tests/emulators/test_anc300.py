"""The ANC300 driver against its emulator: the console login, fine offsets that put the
world's sensor where the driver's calibrations say, coarse z batches that move the world's
sample by about n of its true steps in lab time, and wire faults that reach the driver."""

from __future__ import annotations

import pytest

from sqm.drivers.anc300 import ANC300Scanner
from sqm.emulators.faults import Fault
from sqm.errors import InstrumentError
from sqm.pacing import CleanupPacer

UM = 1e-6
MV = 1e-3  # V: the resolution of `seta`
SCANNER = {
    "password": "123456",
    "cold": True,
    "piezo_speed": "100 um/s",
    "query_delay": "0 s",
    "axes": {
        "x": {"axis": 4, "meters_per_volt": "1 um/V", "center_volts": 70, "warm_volts": [40, 100],
              "cold_volts": [10, 130]},
        "y": {"axis": 5, "meters_per_volt": "-1 um/V", "center_volts": 70, "warm_volts": [40, 100],
              "cold_volts": [20, 120]},
        "z": {"axis": 6, "meters_per_volt": "0.1 um/V", "surface_volts": 20, "warm_volts": [0, 60],
              "cold_volts": [0, 140]},
    },
    "coarse_axes": {"z": 3},
    "coarse_z_step": "30 nm",
    "coarse_z_towards_sample": "up",
}


def scanner_bench(bench, **block):
    return bench("anc300_scanner", {**SCANNER, **block}, speed=1000.0)


def world_position(scanner) -> list[float]:
    with scanner.link.world() as world:
        return list(world.position)


def test_fine_moves_put_the_worlds_sensor_where_the_driver_says(bench):
    scanner = scanner_bench(bench)
    pacer = CleanupPacer(scanner.clock)
    assert "ANC300" in scanner.role.identity() and "SQM-EMULATOR" in scanner.role.identity()
    assert world_position(scanner) == pytest.approx([0.0, 0.0, 10 * UM], abs=1e-12)  # where the world starts
    assert scanner.role.position() == pytest.approx((0.0, 0.0, 10 * UM), abs=1e-12)
    scanner.role.move_to(12 * UM, -7.5 * UM, pacer)
    scanner.role.approach(2 * UM, pacer)
    assert world_position(scanner) == pytest.approx([12 * UM, -7.5 * UM, 2 * UM], abs=MV * 1 * UM)
    assert scanner.role.offset_volts("y") == pytest.approx(77.5)  # -1 um/V: y below zero is above the centre
    assert scanner.role.position() == pytest.approx(world_position(scanner), abs=1e-12)
    scanner.role.retract(pacer)
    assert world_position(scanner)[2] == pytest.approx(10 * UM, abs=MV * 0.1 * UM)  # the station's top: 10 um
    with scanner.link.world() as world:
        assert world.contact.crashes == []


def test_a_command_that_crashes_is_obeyed_and_the_world_records_the_crash(bench):
    scanner = scanner_bench(bench)
    controller = scanner.role.controller
    controller.axis(6).offset_voltage = 0.0  # z = -2 um: 2 um into the sample (the role would refuse it)
    assert world_position(scanner)[2] == pytest.approx(-2 * UM)
    with scanner.link.world() as world:
        assert len(world.contact.crashes) == 1 and "crash" in world.contact.crashes[0]


def test_a_grounded_fine_axis_puts_zero_volts_on_its_piezo(bench):
    scanner = scanner_bench(bench)
    controller = scanner.role.controller
    controller.axis(4).mode = "gnd"
    assert world_position(scanner)[0] == pytest.approx(-70 * UM)  # 0 V, 70 V below the centre
    assert controller.axis(4).offset_voltage == pytest.approx(70.0)  # the offset is kept ...
    controller.axis(4).mode = "off"
    assert world_position(scanner)[0] == pytest.approx(0.0, abs=1e-12)  # ... and applied again


@pytest.mark.parametrize("towards_sample", ["up", "down"])
def test_a_coarse_batch_moves_the_sample_by_its_true_steps_in_lab_time(bench, towards_sample):
    scanner = scanner_bench(bench, coarse_z_towards_sample=towards_sample)
    pacer = CleanupPacer(scanner.clock)
    with scanner.link.world() as world:
        before, mean_step = world.contact.height_offset, world.coarse.mean_step
    started = scanner.clock.now()
    scanner.role.coarse_z_steps(400, pacer)  # 400 steps at 200 Hz: 2 lab s
    assert scanner.clock.now() - started >= 400 / 200
    with scanner.link.world() as world:
        travel = world.contact.height_offset - before
    assert travel == pytest.approx(400 * mean_step, rel=0.05)  # 0.2 rms per step: 1 % over 400 steps
    assert world_position(scanner)[2] == pytest.approx(12 * UM)  # the fine z withdrawn first (140 V)
    assert scanner.role.controller.axis(3).mode == "gnd"
    scanner.role.coarse_z_steps(-400, pacer)  # and back
    with scanner.link.world() as world:
        assert world.contact.height_offset - before == pytest.approx(0.0, abs=0.1 * travel)


def test_stepw_answers_when_the_batch_has_ended_and_stop_ends_it_early(bench):
    scanner = scanner_bench(bench)
    positioner = scanner.role.controller.axis(3)
    with scanner.link.world() as world:
        before, mean_step = world.contact.height_offset, world.coarse.mean_step
    positioner.mode = "stp"
    assert positioner.frequency == 200
    positioner.frequency = 100
    started = scanner.clock.now()
    positioner.move_raw(1000)  # 10 lab s
    positioner.ask("stepw")
    assert scanner.clock.now() - started >= 10.0
    with scanner.link.world() as world:
        assert world.contact.height_offset - before == pytest.approx(1000 * mean_step, rel=0.05)
        before = world.contact.height_offset
    positioner.move_raw(-100000)  # 1000 lab s, one wall second
    positioner.stop()
    with scanner.link.world() as world:
        assert -0.2 * 100000 * mean_step < world.contact.height_offset - before <= 0.0


def test_the_console_refuses_what_the_controller_would(bench):
    scanner = scanner_bench(bench)
    controller = scanner.role.controller
    with pytest.raises(ValueError, match="out of range"):
        controller.ask("seta 4 150.5")
    with pytest.raises(ValueError, match="wrong mode"):
        controller.ask("stepu 3 10")  # grounded
    with pytest.raises(ValueError, match="not present"):
        controller.ask("geta 7")
    with pytest.raises(ValueError, match="Unknown command"):
        controller.ask("frobnicate 4")
    assert controller.axis(4).offset_voltage == pytest.approx(70.0)


def test_the_login_wants_the_blocks_password(bench):
    scanner = scanner_bench(bench)
    with pytest.raises(InstrumentError, match="authorization failed"):
        ANC300Scanner.from_config({**SCANNER, "password": "654321", "address": scanner.server.address},
                                  scanner.context)
    again = ANC300Scanner.from_config({**SCANNER, "address": scanner.server.address}, scanner.context)
    assert "ANC300" in again.identity()


def test_no_password_no_prompt(bench):
    block = {key: value for key, value in SCANNER.items() if key != "password"}
    scanner = bench("anc300_scanner", block, speed=1000.0)
    assert scanner.role.position() == pytest.approx((0.0, 0.0, 10 * UM), abs=1e-12)


def test_wire_faults_are_one_line_instrument_errors(bench):
    scanner = scanner_bench(bench, timeout="0.5 s")
    # A garbled reply: its first line garbled, its `OK` as sent; the driver says what it got at once.
    scanner.server.add_fault(Fault("garbage", at=scanner.clock.now()))
    with pytest.raises(InstrumentError) as garbage:
        scanner.role.position()
    assert "timeout" not in str(garbage.value).lower() and "\n" not in str(garbage.value)  # told at once
    scanner.server.add_fault(Fault("no_reply", at=scanner.clock.now(), lasts=10000.0))
    with pytest.raises(InstrumentError, match="(?i)timeout|timed out") as silence:
        scanner.role.position()
    assert "\n" not in str(silence.value)
