"""SR830 SQUID-readout adapter: FLL output on an aux input, susceptometry on the lock-in.

1. Exact wire traffic of every command the adapter sends (expected_protocol).
2. Lock-in settings outside what the SR830 offers are refused, never clamped or rounded.
3. Readings: averaged over the integration time through the pacer; a railed FLL output
   (unlocked) or a lock-in overload refuses the reading instead of returning a number.
4. Smoke through pyvisa-sim (drivers/sim/sr830.yaml).
5. Faults: timeouts and garbage replies become InstrumentError.
6. The real instrument, only when SQM_SR830_ADDRESS is set.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
from pymeasure.adapters import ProtocolAdapter
from pymeasure.test import expected_protocol

from sqm.clock import RealClock, SimulatedClock
from sqm.drivers.base import HardwareContext
from sqm.drivers.sr830 import LockinSettings, SR830SquidReadout, StrictSR830, sample_count
from sqm.errors import InstrumentError, UserInputError

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


@pytest.mark.parametrize(
    "status, fault",
    [
        ("1", "input overload"),
        ("2", "time-constant filter overload"),
        ("4", "output overload"),
        ("8", "reference unlocked"),
    ],
)
def test_read_susceptibility_after_a_lockin_fault_is_refused(status, fault, pacer):
    pairs = [("LIAS?", "0"), ("SNAP? 1,2", "1.0e-4,0"), ("LIAS?", status)]
    with expected_protocol(StrictSR830, pairs) as instrument:
        with pytest.raises(InstrumentError, match=f"SR830 reported {fault} during the reading"):
            readout_on(instrument).read_susceptibility(0.05, pacer)


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
    context = HardwareContext(visa_library=f"{SIM_FILE}@sim", clock=SimulatedClock())
    block = {key: value for key, value in {**BLOCK, **change}.items() if value is not None}
    with pytest.raises(UserInputError, match=message):
        SR830SquidReadout.from_config(block, context)
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
    with pytest.raises(InstrumentError, match="GPIB0::9::INSTR"):
        SR830SquidReadout.from_config({**BLOCK, "address": "GPIB0::9::INSTR"}, sim_context)


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
