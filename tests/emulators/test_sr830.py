"""The SR830 drivers against their emulators: the SQUID readout's flux (the FLL output on an
aux input) and susceptibility (the lock-in's X) are the twin's at the sensor, through the
station file's calibrations; an unlocked SQUID rails the FLL; the touchdown bridge's signal
is the world's and rises as the sensor nears the surface; faults reach the driver."""

from __future__ import annotations

import math

import pytest

from sqm.emulators.faults import Fault
from sqm.emulators.instruments.sr830 import AUX_INPUT_RESOLUTION_V
from sqm.errors import InstrumentError
from sqm.pacing import CleanupPacer

UM = 1e-6
SQUID = {
    "flux_input": 2,
    "phi0_per_volt": "1 mPhi0/V",  # fine enough for the aux input's 1/3 mV to resolve 0.3 uPhi0
    "phi0_per_volt_lockin": "0.5 Phi0/V",
    "field_coil_current": "2 mA",
    "pickup_radius": "0.5 um",
    "unlock_threshold": "9.5 V",
    "time_constant": "100 ms",
    "sensitivity": "1 V",
    "amplitude": "100 mV",
}
BRIDGE = {"output": "X", "frequency": "5 kHz", "amplitude": "100 mV", "phase": 0, "sensitivity": "1 mV",
          "time_constant": "30 ms"}


def squid_bench(bench, speed=100.0, **block):
    return bench("sr830_squid", {**SQUID, **block}, speed=speed, start_temperature=1.5)


def test_the_flux_read_is_the_worlds_at_the_sensor(bench):
    squid = squid_bench(bench)
    pacer = CleanupPacer(squid.clock)
    assert "SR830" in squid.role.identity() and "SQM-EMULATOR" in squid.role.identity()
    with squid.link.world() as world:
        world.position[:] = [0.0, 0.0, 0.3 * UM]
        world.bias_output = True
    assert abs(squid.role.read_flux(1.0, pacer)) < 5e-6  # virgin film, no bias: no flux
    with squid.link.world() as world:
        world.set_bias_current(100e-6)  # below I_c: the bias current's own field at the pickup loop
        expected = world.sensor_flux()
    assert expected > 100e-6
    assert squid.role.read_flux(1.0, pacer) == pytest.approx(expected, abs=5e-6)  # white + 1/f noise: ~1 uPhi0
    assert squid.role.is_locked()


def test_the_aux_input_resolves_a_third_of_a_millivolt(bench):
    squid = squid_bench(bench, phi0_per_volt="0.25 Phi0/V")
    with squid.link.world() as world:
        world.position[:] = [0.0, 0.0, 0.3 * UM]
        world.bias_output = True
        world.set_bias_current(100e-6)
        expected = world.sensor_flux() / 0.25
    volts = squid.role.read_fll_volts()
    assert volts == pytest.approx(round(volts / AUX_INPUT_RESOLUTION_V) * AUX_INPUT_RESOLUTION_V, abs=5.1e-5)
    assert volts == pytest.approx(expected, abs=AUX_INPUT_RESOLUTION_V)


@pytest.mark.parametrize("phase", [0.0, 60.0])
def test_the_susceptibility_read_is_the_worlds_at_the_sensor(bench, phase):
    squid = squid_bench(bench, phase=phase)
    pacer = CleanupPacer(squid.clock)
    with squid.link.world() as world:
        world.position[:] = [0.0, 0.0, 0.3 * UM]
        expected = float(world.sensor_signal(0.0, 0.0, "susceptibility"))
    assert expected < -1.0  # the film screens the coil's field
    # X is the in-phase part: the signal times cos(phase); noise 0.02 Phi0/A/sqrt(Hz) over tau = 100 ms
    reading = squid.role.read_susceptibility(1.0, pacer)
    assert reading == pytest.approx(expected * math.cos(math.radians(phase)), abs=0.05)
    signal = expected * 2e-3 / 0.5  # V rms: susceptibility x coil current / phi0_per_volt_lockin
    x, y = squid.role.read_lockin_xy()  # PHAS rotates the signal: X = S cos(phase), Y = -S sin(phase)
    assert (x, y) == pytest.approx((signal * math.cos(math.radians(phase)), -signal * math.sin(math.radians(phase))),
                                   abs=1e-3)


def test_the_coil_current_follows_the_sine_output(bench):
    squid = squid_bench(bench)
    pacer = CleanupPacer(squid.clock)
    with squid.link.world() as world:
        world.position[:] = [0.0, 0.0, 0.3 * UM]
        expected = float(world.sensor_signal(0.0, 0.0, "susceptibility"))
    squid.role.lockin.sine_voltage = 0.2  # twice the block's amplitude: twice the coil current
    assert squid.role.read_susceptibility(1.0, pacer) == pytest.approx(2 * expected, abs=0.05)


def test_settings_are_remembered_at_the_sr830s_resolution_and_ranges(bench):
    squid = squid_bench(bench)
    lockin = squid.role.lockin
    assert (lockin.ask("OFLT?"), lockin.ask("SENS?"), lockin.ask("SLVL?")) == ("8", "26", "0.100")
    lockin.write("FREQ 1234.567")
    lockin.write("PHAS 541")
    lockin.write("SLVL 0.1011")
    assert (lockin.frequency, lockin.phase, lockin.sine_voltage) == (1234.6, -179.0, 0.102)
    assert int(lockin.ask("*ESR?")) == 0
    lockin.write("FREQ 200000")  # beyond 102 kHz: ignored, an execution error
    lockin.write("OFLT 20")
    assert (lockin.frequency, lockin.ask("OFLT?")) == (1234.6, "8")
    assert int(lockin.ask("*ESR?")) == 16
    lockin.write("BOGUS 1")
    assert int(lockin.ask("*ESR?")) == 32 and int(lockin.ask("*ESR?")) == 0


def test_an_unlocked_squid_rails_the_flux_locked_loop(bench):
    squid = squid_bench(bench)
    pacer = CleanupPacer(squid.clock)
    squid.server.add_fault(Fault("squid_unlock", at=squid.clock.now(), lasts=30.0))
    assert not squid.role.is_locked()
    assert squid.role.read_fll_volts() >= 9.5
    with pytest.raises(InstrumentError, match="unlocked"):
        squid.role.read_flux(0.1, pacer)
    with squid.link.world() as world:
        assert world.squid_locked is False
    squid.clock.sleep(35.0)
    assert squid.role.is_locked()
    with squid.link.world() as world:
        assert world.squid_locked is True


def test_an_overload_during_a_susceptibility_reading_refuses_it(bench):
    squid = squid_bench(bench)
    pacer = CleanupPacer(squid.clock)
    squid.server.add_fault(Fault("error_entry", at=squid.clock.now() + 10.0))  # mid-way through 20 s
    with pytest.raises(InstrumentError, match="input overload"):
        squid.role.read_susceptibility(20.0, pacer)
    squid.role.read_susceptibility(1.0, pacer)  # latched once: the next reading is clean


def test_the_bridge_signal_is_the_worlds_and_rises_towards_the_surface(bench):
    bridge = bench("sr830_touchdown", BRIDGE, speed=100.0)
    pacer = CleanupPacer(bridge.clock)
    signals = []
    for z in (10 * UM, 3 * UM, 1 * UM, 0.2 * UM):
        with bridge.link.world() as world:
            world.position[2] = z
            model = world.contact.model
            expected = model.signal(world.contact.gap(0.0, 0.0, z)) + model.drift_rate * world.time
        signals.append(bridge.role.read_signal(0.5, pacer))
        assert signals[-1] == pytest.approx(expected, abs=5e-6)  # 1 uV/sqrt(Hz) over tau = 30 ms, 10 samples
    assert signals == sorted(signals) and signals[-1] - signals[0] > 0.5e-3


def test_the_bridge_magnitude_does_not_depend_on_the_phase(bench):
    bridge = bench("sr830_touchdown", {**BRIDGE, "output": "R", "phase": 90}, speed=100.0)
    with bridge.link.world() as world:
        world.position[2] = 1 * UM
        expected = world.contact.model.signal(world.contact.gap(0.0, 0.0, 1 * UM))
    x, y = bridge.role.lockin.snap("X", "Y")
    assert abs(x) < 2e-5 and y == pytest.approx(-expected, abs=2e-5)
    assert bridge.role.read_signal(0.5, CleanupPacer(bridge.clock)) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("driver, block", [("sr830_squid", SQUID), ("sr830_touchdown", BRIDGE)])
def test_wire_faults_are_one_line_instrument_errors(bench, driver, block):
    lockin = bench(driver, {**block, "timeout": "0.5 s"}, speed=100.0)
    pacer = CleanupPacer(lockin.clock)
    read = lockin.role.read_flux if driver == "sr830_squid" else lockin.role.read_signal
    lockin.server.add_fault(Fault("garbage", at=lockin.clock.now()))
    with pytest.raises(InstrumentError) as garbage:
        read(0.1, pacer)
    assert "\n" not in str(garbage.value)
    lockin.server.add_fault(Fault("no_reply", at=lockin.clock.now(), lasts=1000.0))
    with pytest.raises(InstrumentError, match="(?i)timeout|timed out") as silence:
        read(0.1, pacer)
    assert "\n" not in str(silence.value)
