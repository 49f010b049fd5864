"""SR830 adapters: the SQUID readout (FLL output on an aux input, susceptometry on the
lock-in) and the touchdown sensor (a second SR830 on the capacitance bridge).

1. Exact wire traffic of every command the adapters send (expected_protocol); the
   touchdown sensor reads back every setting it applied and refuses one that did not take.
2. Lock-in settings outside what the SR830 offers are refused, never clamped or rounded,
   by the adapters and (offline) by the registry.
3. Readings: averaged over the integration time through the pacer; a railed FLL output
   (unlocked) or a lock-in overload refuses the reading instead of returning a number.
4. Smoke through pyvisa-sim (drivers/sim/sr830.yaml: two lock-ins, GPIB0::8 and ::9).
5. Faults: timeouts and garbage replies become InstrumentError.
6. The real instruments, only when SQM_SR830_ADDRESS or SQM_SR830_TOUCHDOWN_ADDRESS is set.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import yaml
from pymeasure.adapters import ProtocolAdapter
from pymeasure.test import expected_protocol

from sqm.clock import RealClock, SimulatedClock
from sqm.drivers import backend
from sqm.drivers.base import HardwareContext
from sqm.drivers.sr830 import LockinSettings, SR830SquidReadout, SR830TouchdownSensor, StrictSR830, sample_count
from sqm.errors import InstrumentError, UserInputError
from sqm.limits import StationLimits
from sqm.pacing import CleanupPacer

from .wire import VISA_TIMEOUT, SilentAfterPairs

REPO = Path(__file__).resolve().parents[2]
SIM_FILE = REPO / "drivers" / "sim" / "sr830.yaml"
SIM_ADDRESS = "GPIB0::8::INSTR"
IDN = "Stanford_Research_Systems,SR830,s/n48152,ver1.07"

CALIBRATION = dict(
    phi0_per_volt=0.25,  # Phi0/V
    phi0_per_volt_lockin=0.5,  # Phi0/V
    field_coil_current=2e-3,  # A rms
    pickup_radius=0.1e-6,  # m
    unlock_threshold=9.5,  # V
)


def readout_on(instrument, **overrides) -> SR830SquidReadout:
    return SR830SquidReadout(instrument, **{**CALIBRATION, **overrides})




# --------------------------------------------------------------------------- connection and settings


def test_connect_identifies_then_applies_every_lockin_setting():
    pairs = [
        ("*IDN?", IDN),
        ("OFLT8", None),  # 100 ms
        ("SENS17", None),  # 1 mV
        ("FREQ1.10000e+03", None),
        ("SLVL0.100", None),
        ("PHAS-12.50", None),
    ]
    settings = LockinSettings(time_constant=0.1, sensitivity=1e-3, frequency=1100.0, amplitude=0.1, phase=-12.5)
    with expected_protocol(StrictSR830, pairs) as instrument:
        readout_on(instrument, lockin_settings=settings).connect()


def test_connect_without_lockin_settings_only_identifies():
    with expected_protocol(StrictSR830, [("*IDN?", IDN)]) as instrument:
        readout_on(instrument).connect()


def test_connect_refuses_another_instrument_before_setting_anything():
    settings = LockinSettings(time_constant=0.1)
    with expected_protocol(StrictSR830, [("*IDN?", "Stanford_Research_Systems,SR850,s/n1,ver1.0")]) as instrument:
        with pytest.raises(InstrumentError, match="expected a Stanford Research SR830"):
            readout_on(instrument, lockin_settings=settings).connect()


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"time_constant": 0.2}, "time_constant 0.2 s is not one the SR830 offers"),
        ({"time_constant": 1e5}, "time_constant"),
        ({"sensitivity": 3e-3}, "sensitivity 0.003 V is not one the SR830 offers"),
        ({"sensitivity": 2.0}, "sensitivity"),
        ({"frequency": 5e-4}, r"frequency 0.0005 Hz is outside the SR830's range \[0.001, 102000\] Hz"),
        ({"frequency": 2e5}, "frequency"),
        ({"amplitude": 0.001}, "amplitude 0.001 V is outside"),
        ({"amplitude": 6.0}, "amplitude 6 V is outside"),
        ({"phase": -400.0}, "phase -400 deg is outside"),
        ({"phase": 730.0}, "phase 730 deg is outside"),
    ],
)
def test_lockin_settings_outside_the_sr830_are_refused_not_clamped(settings, message):
    with pytest.raises(UserInputError, match=message):
        LockinSettings(**settings)


def test_lockin_settings_from_a_station_block_with_units():
    settings = LockinSettings.from_config(
        {
            "time_constant": "300 ms",
            "sensitivity": "200 uV",
            "frequency": "1.1 kHz",
            "amplitude": "40 mV",
            "phase": "90 deg",
        }
    )
    assert settings == LockinSettings(
        time_constant=0.3, sensitivity=200e-6, frequency=1100.0, amplitude=0.04, phase=90.0
    )
    assert LockinSettings.from_config({"phase": 12.5}).phase == 12.5


# Values pymeasure's own SR830 would clamp or round (6 V would go out as SLVL5.000).
BEYOND_THE_SR830 = [
    ("sine_voltage", 6.0), ("frequency", 2e5), ("phase", 800.0), ("time_constant", 0.2), ("sensitivity", 3e-3),
]


@pytest.mark.parametrize("attribute, value", BEYOND_THE_SR830)
def test_the_strict_driver_refuses_what_pymeasure_would_clamp_or_round(attribute, value):
    with expected_protocol(StrictSR830, []) as instrument:
        with pytest.raises(ValueError):
            setattr(instrument, attribute, value)


@pytest.mark.parametrize("attribute, value", BEYOND_THE_SR830)
def test_the_lockin_of_a_readout_from_a_station_block_refuses_before_sending(attribute, value, monkeypatch):
    wire = ProtocolAdapter([("*IDN?", IDN)])  # the connection, then nothing
    context = HardwareContext(visa_library="", clock=SimulatedClock())
    monkeypatch.setattr(context, "visa_adapter", lambda address, **settings: wire)
    readout = SR830SquidReadout.from_config(BLOCK, context)
    # the validator's own refusal, not the wire's "No communication pair left" (also a ValueError)
    with pytest.raises(ValueError, match=r"is not in (range|the discrete set)"):
        setattr(readout.lockin, attribute, value)
    assert wire._index == 1 and wire._write_buffer is None  # nothing sent after *IDN?


# --------------------------------------------------------------------------- readings


@pytest.mark.parametrize("flux_input", [1, 2, 3, 4])
def test_read_flux_averages_the_fll_output_over_the_integration_time(flux_input, clock, pacer):
    replies = ["1.0000", "1.1000", "0.9000", "1.2000"]  # 0.2 s -> 4 samples 50 ms apart
    pairs = [(f"OAUX?{flux_input};", reply) for reply in replies]
    with expected_protocol(StrictSR830, pairs) as instrument:
        flux = readout_on(instrument, flux_input=flux_input).read_flux(0.2, pacer)
    assert flux == pytest.approx(1.05 * 0.25)
    assert clock.now() == pytest.approx(0.2)


def test_a_short_reading_is_one_sample_after_the_full_integration_time(clock, pacer):
    with expected_protocol(StrictSR830, [("OAUX?1;", "-2.0000")]) as instrument:
        assert readout_on(instrument).read_flux(0.01, pacer) == pytest.approx(-0.5)
    assert clock.now() == pytest.approx(0.01)


@pytest.mark.parametrize(
    "integration_time, samples", [(0.0, 1), (0.01, 1), (0.05, 1), (0.5, 10), (1.0, 20), (60.0, 20)]
)
def test_sample_count(integration_time, samples):
    assert sample_count(integration_time) == samples


@pytest.mark.parametrize("railed", ["9.5000", "-9.5000", "10.4997"])
def test_read_flux_with_the_fll_railed_is_refused_at_that_sample(railed, pacer):
    pairs = [("OAUX?1;", "1.0000"), ("OAUX?1;", railed)]  # the remaining two samples are never read
    with expected_protocol(StrictSR830, pairs) as instrument:
        with pytest.raises(InstrumentError, match="flux-locked loop unlocked"):
            readout_on(instrument).read_flux(0.2, pacer)


@pytest.mark.parametrize(
    "volts, locked",
    [("0.0000", True), ("9.4997", True), ("-9.4997", True), ("9.5000", False), ("-9.5000", False), ("10.5000", False)],
)
def test_is_locked_means_the_fll_output_is_inside_the_unlock_threshold(volts, locked):
    with expected_protocol(StrictSR830, [("OAUX?1;", volts)]) as instrument:
        assert readout_on(instrument).is_locked() is locked


def test_read_susceptibility_clears_status_samples_x_then_checks_overloads_and_lock(clock, pacer):
    pairs = [
        ("LIAS?", "32"),  # a time-constant change latched before this reading: cleared, not a fault
        ("SNAP? 1,2", "1.000000e-04,5.000000e-06"),
        ("SNAP? 1,2", "3.000000e-04,-5.000000e-06"),
        ("LIAS?", "0"),
        ("OAUX?1;", "0.5000"),
    ]
    with expected_protocol(StrictSR830, pairs) as instrument:
        susceptibility = readout_on(instrument).read_susceptibility(0.1, pacer)
    assert susceptibility == pytest.approx(2e-4 * 0.5 / 2e-3)  # Phi0/A
    assert clock.now() == pytest.approx(0.1)


def test_read_via_the_role_dispatches_by_signal(pacer):
    pairs = [("OAUX?1;", "2.0000"), ("LIAS?", "0"), ("SNAP? 1,2", "4.0e-4,0"), ("LIAS?", "0"), ("OAUX?1;", "2.0000")]
    with expected_protocol(StrictSR830, pairs) as instrument:
        readout = readout_on(instrument)
        assert readout.read("flux", 0.05, pacer) == pytest.approx(0.5)
        assert readout.read("susceptibility", 0.05, pacer) == pytest.approx(4e-4 * 0.5 / 2e-3)


def test_read_susceptibility_with_the_fll_railed_is_refused(pacer):
    pairs = [("LIAS?", "0"), ("SNAP? 1,2", "1.0e-4,0"), ("LIAS?", "0"), ("OAUX?3;", "-9.9000")]
    with expected_protocol(StrictSR830, pairs) as instrument:
        with pytest.raises(InstrumentError, match="flux-locked loop unlocked: output -9.9000 V"):
            readout_on(instrument, flux_input=3).read_susceptibility(0.05, pacer)


def test_identity_and_snapshot():
    pairs = [
        ("*IDN?", IDN),
        ("OAUX?1;", "1.0000"),
        ("OFLT?", "9"),
        ("SENS?", "20"),
        ("FREQ?", "1100.0"),
        ("SLVL?", "0.100"),
        ("PHAS?", "-12.50"),
    ]
    with expected_protocol(StrictSR830, pairs) as instrument:
        snapshot = readout_on(instrument).snapshot()
    assert snapshot == {
        "identity": IDN,
        "locked": True,
        "pickup_radius_m": 0.1e-6,
        "flux_input": 1,
        "phi0_per_volt": 0.25,
        "phi0_per_volt_lockin": 0.5,
        "field_coil_current_A": 2e-3,
        "unlock_threshold_V": 9.5,
        "lockin": {
            "time_constant_s": 0.3,
            "sensitivity_V": 10e-3,
            "frequency_Hz": 1100.0,
            "amplitude_V": 0.1,
            "phase_deg": -12.5,
        },
    }


def test_safe_state_sends_nothing(pacer):
    with expected_protocol(StrictSR830, []) as instrument:
        readout_on(instrument).safe_state(pacer)


# --------------------------------------------------------------------------- settings


BLOCK = {
    "driver": "sr830_squid",
    "address": SIM_ADDRESS,
    "flux_input": 1,
    "phi0_per_volt": "0.25 Phi0/V",
    "phi0_per_volt_lockin": 0.5,
    "field_coil_current": "2 mA",
    "pickup_radius": "0.1 um",
    "unlock_threshold": "9.5 V",
}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"flux_input": 5}, "flux_input must be an SR830 aux input 1-4"),
        ({"phi0_per_volt": 0}, "phi0_per_volt must be a non-zero calibration"),
        ({"phi0_per_volt": "0.25 V"}, "phi0_per_volt: '0.25 V' is not a quantity in Phi0/V"),
        ({"field_coil_current": "-1 mA"}, "field_coil_current must be positive"),
        ({"field_coil_current": "1 V"}, "field_coil_current"),
        ({"pickup_radius": 0}, "pickup_radius must be positive"),
        ({"unlock_threshold": "11 V"}, r"unlock_threshold must be in \(0, 10.5\] V"),
        ({"time_constant": "0.2 s"}, "not one the SR830 offers"),
        ({"amplitude": "10 V"}, "outside the SR830's range"),
        ({"gain": 3}, "unknown setting"),
        ({"phi0_per_volt_lockin": None}, "missing setting 'phi0_per_volt_lockin'"),
    ],
)
def test_bad_settings_are_user_errors_before_anything_is_opened(change, message):
    assert_refused_before_opening(SR830SquidReadout, BLOCK, change, message)


def assert_refused_before_opening(adapter_class, block: dict, change: dict, message: str) -> None:
    """`adapter_class.from_config` refuses `block` with `change` made (None removes a key) with a
    UserInputError matching `message`, before it opens anything."""
    context = HardwareContext(visa_library=f"{SIM_FILE}@sim", clock=SimulatedClock())
    changed = {key: value for key, value in {**block, **change}.items() if value is not None}
    with pytest.raises(UserInputError, match=message):
        adapter_class.from_config(changed, context)
    assert context.closers == []  # nothing was opened


# --------------------------------------------------------------------------- pyvisa-sim smoke


def test_sim_readout_connects_applies_settings_and_reads(sim_context, pacer, clock):
    block = {
        **BLOCK,
        "flux_input": 2,
        "time_constant": "300 ms",
        "sensitivity": "2 mV",
        "frequency": "1.1 kHz",
        "amplitude": "200 mV",
        "phase": -12.5,
    }
    readout = SR830SquidReadout.from_config(block, sim_context)
    assert "SR830" in readout.identity()
    assert readout.is_locked()  # the simulated FLL sits at mid-range
    assert readout.read_flux(0.5, pacer) == pytest.approx(1.234 * 0.25)
    assert readout.read_susceptibility(0.2, pacer) == pytest.approx(2.5e-4 * 0.5 / 2e-3)
    assert clock.now() == pytest.approx(0.7)
    snapshot = readout.snapshot()
    assert snapshot["lockin"] == {
        "time_constant_s": 0.3,
        "sensitivity_V": 2e-3,
        "frequency_Hz": 1100.0,
        "amplitude_V": 0.2,
        "phase_deg": -12.5,
    }
    assert snapshot["locked"] is True


@pytest.mark.filterwarnings("ignore:read string doesn.t end with termination characters")
def test_nothing_at_the_address_is_an_instrument_error(sim_context):
    with pytest.raises(InstrumentError, match="GPIB0::29::INSTR"):
        SR830SquidReadout.from_config({**BLOCK, "address": "GPIB0::29::INSTR"}, sim_context)


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "pairs, call, message",
    [
        (
            [("OAUX?1;", None)],
            lambda readout, pacer: readout.read_flux(0.05, pacer),
            r"OAUX\? 1: VisaIOError: .*Timeout",
        ),
        ([("OAUX?1;", None)], lambda readout, pacer: readout.is_locked(), r"OAUX\? 1: VisaIOError"),
        (
            [("LIAS?", "0"), ("SNAP? 1,2", None)],
            lambda readout, pacer: readout.read_susceptibility(0.05, pacer),
            r"SNAP\? 1,2: VisaIOError",
        ),
        ([("*IDN?", None)], lambda readout, pacer: readout.connect(), r"\*IDN\?: VisaIOError"),
    ],
)
def test_timeouts_are_instrument_errors_naming_the_exchange(pairs, call, message, pacer):
    readout = readout_on(StrictSR830(SilentAfterPairs(pairs, VISA_TIMEOUT)))
    with pytest.raises(InstrumentError, match=message):
        call(readout, pacer)


@pytest.mark.parametrize(
    "pairs, call, message",
    [
        ([("OAUX?1;", "OVLD")], lambda readout, pacer: readout.read_flux(0.05, pacer), "answered 'OVLD', not a number"),
        ([("OAUX?1;", "")], lambda readout, pacer: readout.is_locked(), r"OAUX\? 1"),
        (
            [("LIAS?", "0"), ("SNAP? 1,2", "1.0e-4")],
            lambda readout, pacer: readout.read_susceptibility(0.05, pacer),
            "not X,Y",
        ),
        (
            [("LIAS?", "0"), ("SNAP? 1,2", "1.0e-4,abc")],
            lambda readout, pacer: readout.read_susceptibility(0.05, pacer),
            r"SNAP\? 1,2 \(Y\): the lock-in answered 'abc'",
        ),
        ([("LIAS?", "busy")], lambda readout, pacer: readout.read_susceptibility(0.05, pacer), r"LIAS\?"),
    ],
)
def test_garbage_replies_are_instrument_errors(pairs, call, message, pacer):
    with expected_protocol(StrictSR830, pairs) as instrument:
        with pytest.raises(InstrumentError, match=message):
            call(readout_on(instrument), pacer)


# =========================================================================== the touchdown sensor
#
# SR830TouchdownSensor: a second SR830 on the capacitance bridge between the sensor chip and
# the sample. Its connection applies the lock-in settings and reads each back; its reading
# is the chosen output (X or R) averaged over the integration time, refused on an overload.

TOUCHDOWN_ADDRESS = "GPIB0::9::INSTR"  # the second lock-in of drivers/sim/sr830.yaml
TOUCHDOWN_IDN = "Stanford_Research_Systems,SR830,s/n48153,ver1.07"
TOUCHDOWN_IDENTIFIES = ("*IDN?", TOUCHDOWN_IDN)

# 30 ms (OFLT7), 1 mV (SENS17), 5 kHz, 100 mV rms, 0 degrees
TOUCHDOWN_SETTINGS = LockinSettings(
    time_constant=0.03, sensitivity=1e-3, frequency=5000.0, amplitude=0.1, phase=0.0
)
TOUCHDOWN_APPLIED = [
    ("OFLT7", None), ("SENS17", None), ("FREQ5.00000e+03", None), ("SLVL0.100", None), ("PHAS0.00", None),
]
TOUCHDOWN_READ_BACK = [("OFLT?", "7"), ("SENS?", "17"), ("FREQ?", "5000.0"), ("SLVL?", "0.100"), ("PHAS?", "0.00")]


def sensor_on(instrument, **arguments) -> SR830TouchdownSensor:
    return SR830TouchdownSensor(instrument, **arguments)


# --------------------------------------------------------------------------- touchdown: connection and settings


def test_touchdown_connect_applies_every_setting_then_reads_each_back():
    pairs = [TOUCHDOWN_IDENTIFIES, *TOUCHDOWN_APPLIED, *TOUCHDOWN_READ_BACK]
    with expected_protocol(StrictSR830, pairs) as instrument:
        sensor_on(instrument, lockin_settings=TOUCHDOWN_SETTINGS).connect()


def test_touchdown_connect_reads_back_only_the_settings_it_applied():
    settings = LockinSettings(frequency=5000.0, amplitude=0.1)
    pairs = [TOUCHDOWN_IDENTIFIES, ("FREQ5.00000e+03", None), ("SLVL0.100", None)]
    pairs += [("FREQ?", "5000.0"), ("SLVL?", "0.100")]
    with expected_protocol(StrictSR830, pairs) as instrument:
        sensor_on(instrument, lockin_settings=settings).connect()


def test_touchdown_connect_without_lockin_settings_only_identifies():
    with expected_protocol(StrictSR830, [TOUCHDOWN_IDENTIFIES]) as instrument:
        sensor_on(instrument).connect()


def test_touchdown_connect_refuses_another_instrument_before_setting_anything():
    pairs = [("*IDN?", "Stanford_Research_Systems,SR850,s/n1,ver1.0")]
    with expected_protocol(StrictSR830, pairs) as instrument:
        with pytest.raises(InstrumentError, match="expected a Stanford Research SR830"):
            sensor_on(instrument, lockin_settings=TOUCHDOWN_SETTINGS).connect()


@pytest.mark.parametrize(
    "reply, message",
    [
        (("FREQ?", "1000.0"), r"FREQ\?: the lock-in reads frequency 1000 Hz after being set to 5000 Hz; the setting "
                              r"did not take \(an external reference ignores FREQ"),
        (("OFLT?", "8"), r"OFLT\?: the lock-in reads time_constant 0.1 s after being set to 0.03 s"),
        (("SENS?", "18"), r"SENS\?: the lock-in reads sensitivity 0.002 V after being set to 0.001 V"),
        (("SLVL?", "0.104"), r"SLVL\?: the lock-in reads amplitude 0.104 V after being set to 0.1 V"),
        (("PHAS?", "0.50"), r"PHAS\?: the lock-in reads phase 0.5 deg after being set to 0 deg"),
    ],
    ids=["external-reference", "time-constant", "sensitivity", "amplitude", "phase"],
)
def test_a_setting_the_sr830_did_not_take_refuses_the_connection(reply, message):
    read_back = [reply if command == reply[0] else (command, answer) for command, answer in TOUCHDOWN_READ_BACK]
    read_back = read_back[: read_back.index(reply) + 1]  # nothing is read after the refusal
    with expected_protocol(StrictSR830, [TOUCHDOWN_IDENTIFIES, *TOUCHDOWN_APPLIED, *read_back]) as instrument:
        with pytest.raises(InstrumentError, match=message):
            sensor_on(instrument, lockin_settings=TOUCHDOWN_SETTINGS).connect()


@pytest.mark.parametrize(
    "settings, sent, read_back",
    [
        ({"phase": 270.0}, "PHAS270.00", "-90.00"),  # the SR830 wraps the phase into +-180 degrees
        ({"phase": -12.345}, "PHAS-12.35", "-12.35"),  # to 0.01 degree
        ({"amplitude": 0.101}, "SLVL0.101", "0.102"),  # the sine output's 2 mV steps
        ({"frequency": 12345.6}, "FREQ1.23456e+04", "12346"),  # 4 1/2 digits
    ],
)
def test_a_read_back_within_the_sr830_resolution_is_accepted(settings, sent, read_back):
    command = sent[:4]
    pairs = [TOUCHDOWN_IDENTIFIES, (sent, None), (f"{command}?", read_back)]
    with expected_protocol(StrictSR830, pairs) as instrument:
        sensor_on(instrument, lockin_settings=LockinSettings(**settings)).connect()


def test_touchdown_identity_and_snapshot_give_the_output_and_every_setting():
    with expected_protocol(StrictSR830, [TOUCHDOWN_IDENTIFIES, *TOUCHDOWN_READ_BACK]) as instrument:
        snapshot = sensor_on(instrument, output="R").snapshot()
    assert snapshot == {
        "identity": TOUCHDOWN_IDN,
        "output": "R",
        "lockin": {
            "time_constant_s": 0.03,
            "sensitivity_V": 1e-3,
            "frequency_Hz": 5000.0,
            "amplitude_V": 0.1,
            "phase_deg": 0.0,
        },
    }


def test_touchdown_safe_state_sends_nothing(pacer):
    with expected_protocol(StrictSR830, []) as instrument:
        sensor_on(instrument).safe_state(pacer)


# --------------------------------------------------------------------------- touchdown: readings


def test_read_signal_clears_the_status_averages_x_over_the_integration_time_then_checks_it(clock, pacer):
    pairs = [
        ("LIAS?", "32"),  # a time-constant change latched before this reading: cleared, not a fault
        ("SNAP? 1,2", "1.000000e-04,5.000000e-06"),
        ("SNAP? 1,2", "2.000000e-04,-5.000000e-06"),
        ("SNAP? 1,2", "3.000000e-04,0.000000e+00"),
        ("SNAP? 1,2", "4.000000e-04,1.000000e-06"),
        ("LIAS?", "0"),
    ]
    with expected_protocol(StrictSR830, pairs) as instrument:
        signal = sensor_on(instrument).read_signal(0.2, pacer)  # 4 samples 50 ms apart
    assert signal == pytest.approx(2.5e-4)  # V
    assert clock.now() == pytest.approx(0.2)  # waited on the pacer


def test_read_signal_of_r_is_the_magnitude_of_each_sample(pacer):
    pairs = [("LIAS?", "0"), ("SNAP? 1,2", "3.0e-4,4.0e-4"), ("SNAP? 1,2", "-6.0e-4,8.0e-4"), ("LIAS?", "0")]
    with expected_protocol(StrictSR830, pairs) as instrument:
        assert sensor_on(instrument, output="R").read_signal(0.1, pacer) == pytest.approx(7.5e-4)


def test_a_short_touchdown_reading_is_one_sample_after_the_full_integration_time(clock, pacer):
    pairs = [("LIAS?", "0"), ("SNAP? 1,2", "2.0e-4,0"), ("LIAS?", "0")]
    with expected_protocol(StrictSR830, pairs) as instrument:
        assert sensor_on(instrument).read_signal(0.01, pacer) == pytest.approx(2e-4)
    assert clock.now() == pytest.approx(0.01)


@pytest.mark.parametrize(
    "status, fault",
    [
        ("1", "input overload"),
        ("2", "time-constant filter overload"),
        ("4", "output overload"),
        ("8", "reference unlocked"),
        ("5", "input overload, output overload"),
    ],
)
@pytest.mark.parametrize(
    "reading, refusal",
    [
        (lambda instrument, pacer: readout_on(instrument).read_susceptibility(0.05, pacer), "no susceptibility"),
        (lambda instrument, pacer: sensor_on(instrument).read_signal(0.05, pacer), "no touchdown signal"),
    ],
    ids=["susceptibility", "touchdown"],
)
def test_a_lockin_reading_during_an_overload_is_refused_as_an_instrument_fault(status, fault, reading, refusal, pacer):
    pairs = [("LIAS?", "0"), ("SNAP? 1,2", "1.0e-4,0"), ("LIAS?", status)]
    with expected_protocol(StrictSR830, pairs) as instrument:
        with pytest.raises(InstrumentError, match=f"SR830 reported {fault} during the reading; {refusal}"):
            reading(instrument, pacer)


# --------------------------------------------------------------------------- touchdown: settings

TOUCHDOWN_BLOCK = {"driver": "sr830_touchdown", "address": TOUCHDOWN_ADDRESS}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"output": "Y"}, "output must be one of X, R, got 'Y'"),
        ({"output": "x"}, "output must be one of X, R"),
        ({"time_constant": "0.2 s"}, "not one the SR830 offers"),
        ({"sensitivity": "3 mV"}, "not one the SR830 offers"),
        ({"amplitude": "10 V"}, "outside the SR830's range"),
        ({"frequency": "200 kHz"}, "outside the SR830's range"),
        ({"phase": "800 deg"}, "outside the SR830's range"),
        ({"gain": 3}, "unknown setting"),
        ({"address": None}, "missing setting 'address'"),
    ],
)
def test_bad_touchdown_settings_are_user_errors_before_anything_is_opened(change, message):
    assert_refused_before_opening(SR830TouchdownSensor, TOUCHDOWN_BLOCK, change, message)


def test_the_registry_names_this_class_for_the_touchdown_role():
    assert backend._adapter_class("sr830_touchdown") is SR830TouchdownSensor
    assert backend.DRIVER_SETTINGS["sr830_touchdown"].role == "touchdown"


LAB_SIM = yaml.safe_load((REPO / "configs" / "stations" / "lab-pyvisa-sim.yaml").read_text())
LAB_SIM_LIMITS = StationLimits.from_mapping(LAB_SIM["limits"])


def lab_sim_hardware(touchdown_change: dict | None) -> dict:
    """The pyvisa-sim lab station's hardware block, with `touchdown_change` made to its
    touchdown block; None: without a touchdown block."""
    hardware = yaml.safe_load(yaml.safe_dump(LAB_SIM["hardware"]))  # a copy to change
    if touchdown_change is None:
        del hardware["touchdown"]
    else:
        hardware["touchdown"].update(touchdown_change)
    return hardware


@pytest.mark.parametrize(
    "change, message",
    [
        ({"output": "THETA"}, r"hardware\.touchdown\.output: must be one of X, R, got 'THETA'"),
        ({"amplitude": "6 V"}, r"hardware\.touchdown\.amplitude"),
        ({"frequency": "1 MHz"}, r"hardware\.touchdown\.frequency"),
        ({"address": 9}, r"hardware\.touchdown\.address: must be text"),
        ({"flux_input": 1}, r"hardware\.touchdown: unknown"),
        ({"driver": "sr830_squid"}, r"hardware\.touchdown: the driver 'sr830_squid' fills the squid role"),
    ],
)
def test_the_station_check_refuses_a_bad_touchdown_block_offline(change, message):
    with pytest.raises(UserInputError, match=message):
        backend.validate_config(lab_sim_hardware(change), LAB_SIM_LIMITS)


def test_a_station_without_a_touchdown_block_is_valid():
    hardware = lab_sim_hardware(None)
    backend.validate_config(hardware, LAB_SIM_LIMITS)
    assert "touchdown" not in backend.role_names(hardware)
    assert "touchdown" in backend.role_names(lab_sim_hardware({}))


# --------------------------------------------------------------------------- touchdown: pyvisa-sim smoke


def test_sim_touchdown_sensor_connects_reads_back_its_settings_and_reads(sim_context, pacer, clock):
    block = {**TOUCHDOWN_BLOCK, "output": "R", "time_constant": "30 ms", "sensitivity": "1 mV", "frequency": "5 kHz",
             "amplitude": "100 mV", "phase": 270}
    sensor = SR830TouchdownSensor.from_config(block, sim_context)
    assert "SR830" in sensor.identity()
    assert sensor.read_signal(0.2, pacer) == pytest.approx(math.hypot(2.5e-4, 1e-6))
    assert clock.now() == pytest.approx(0.2)
    assert sensor.snapshot()["lockin"] == {
        "time_constant_s": 0.03, "sensitivity_V": 1e-3, "frequency_Hz": 5000.0, "amplitude_V": 0.1,
        "phase_deg": 270.0,
    }


def test_the_two_simulated_lock_ins_keep_their_own_settings(sim_context):
    # pyvisa keeps one simulated library per file for the whole session, so compare the SQUID
    # lock-in with itself before and after the bridge's is set, not with a default.
    squid = SR830SquidReadout.from_config(
        {"address": "GPIB0::8::INSTR", "phi0_per_volt": 0.25, "phi0_per_volt_lockin": 0.5,
         "field_coil_current": "2 mA", "pickup_radius": "0.1 um", "unlock_threshold": "9.5 V"},
        sim_context,
    )
    squid_frequency = squid.snapshot()["lockin"]["frequency_Hz"]
    assert squid_frequency != 5000.0
    SR830TouchdownSensor.from_config({**TOUCHDOWN_BLOCK, "frequency": "5 kHz"}, sim_context)
    assert squid.snapshot()["lockin"]["frequency_Hz"] == squid_frequency  # not the bridge's 5 kHz


# --------------------------------------------------------------------------- touchdown: faults


@pytest.mark.parametrize(
    "pairs, call, message",
    [
        ([("*IDN?", None)], lambda sensor, pacer: sensor.connect(), r"\*IDN\?: VisaIOError"),
        ([("LIAS?", None)], lambda sensor, pacer: sensor.read_signal(0.05, pacer), r"LIAS\?: VisaIOError"),
        (
            [("LIAS?", "0"), ("SNAP? 1,2", None)],
            lambda sensor, pacer: sensor.read_signal(0.05, pacer),
            r"SNAP\? 1,2: VisaIOError: .*Timeout",
        ),
        (
            [TOUCHDOWN_IDENTIFIES, ("FREQ5.00000e+03", None), ("FREQ?", None)],
            lambda sensor, pacer: sensor.connect(),
            r"FREQ\?: VisaIOError",
        ),
    ],
)
def test_touchdown_timeouts_are_instrument_errors_naming_the_exchange(pairs, call, message, pacer):
    sensor = sensor_on(
        StrictSR830(SilentAfterPairs(pairs, VISA_TIMEOUT)), lockin_settings=LockinSettings(frequency=5000.0)
    )
    with pytest.raises(InstrumentError, match=message):
        call(sensor, pacer)


@pytest.mark.parametrize(
    "pairs, message",
    [
        ([("LIAS?", "0"), ("SNAP? 1,2", "1.0e-4")], "not X,Y"),
        ([("LIAS?", "0"), ("SNAP? 1,2", "OVLD,0")], r"SNAP\? 1,2 \(X\): the lock-in answered 'OVLD'"),
        ([("LIAS?", "0"), ("SNAP? 1,2", "1.0e-4,abc")], r"SNAP\? 1,2 \(Y\): the lock-in answered 'abc'"),
        ([("LIAS?", "busy")], r"LIAS\?"),
    ],
)
def test_touchdown_garbage_replies_are_instrument_errors(pairs, message, pacer):
    with expected_protocol(StrictSR830, pairs) as instrument:
        with pytest.raises(InstrumentError, match=message):
            sensor_on(instrument).read_signal(0.05, pacer)


# --------------------------------------------------------------------------- real instrument

REAL_ADDRESS = os.environ.get("SQM_SR830_ADDRESS")


@pytest.mark.skipif(not REAL_ADDRESS, reason="set SQM_SR830_ADDRESS to test a real SR830")
def test_real_sr830_identifies_and_reads_without_changing_settings():
    context = HardwareContext(visa_library=os.environ.get("SQM_VISA_LIBRARY", ""), clock=RealClock())
    try:
        readout = SR830SquidReadout.from_config(
            {**BLOCK, "address": REAL_ADDRESS, "flux_input": int(os.environ.get("SQM_SR830_FLUX_INPUT", "1"))}, context
        )
        assert "SR830" in readout.identity()
        assert math.isfinite(readout.read_fll_volts())
        assert all(math.isfinite(value) for value in readout.read_lockin_xy())
        assert readout.snapshot()["lockin"]["time_constant_s"] > 0
        assert isinstance(readout.is_locked(), bool)
    finally:
        context.close()


TOUCHDOWN_REAL_ADDRESS = os.environ.get("SQM_SR830_TOUCHDOWN_ADDRESS")


@pytest.mark.skipif(
    not TOUCHDOWN_REAL_ADDRESS, reason="set SQM_SR830_TOUCHDOWN_ADDRESS to test a real SR830 on the touchdown bridge"
)
def test_real_sr830_reads_the_touchdown_bridge_without_changing_settings():
    context = HardwareContext(visa_library=os.environ.get("SQM_VISA_LIBRARY", ""), clock=RealClock())
    try:
        sensor = SR830TouchdownSensor.from_config({**TOUCHDOWN_BLOCK, "address": TOUCHDOWN_REAL_ADDRESS}, context)
        assert "SR830" in sensor.identity()
        assert sensor.snapshot()["lockin"]["time_constant_s"] > 0
        assert math.isfinite(sensor.read_signal(0.1, CleanupPacer(context.clock)))
    finally:
        context.close()
