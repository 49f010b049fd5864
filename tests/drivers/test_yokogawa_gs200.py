"""Yokogawa GS200 DC source as the current source.

1. Exact wire traffic (pymeasure's expected_protocol: a pair left unused, or a message
   not in the list, fails the test): the connection, a ramp from zero with the output
   off, the safe state.
2. Refusals before any command: beyond the present current range (never clamped),
   the station's reason first when both apply, a compliance outside 1-30 V.
3. Refusals at connection: another model, voltage mode, an unknown range.
4. End to end through pyvisa-sim with drivers/sim/yokogawa_gs200.yaml, from a station
   file's block, and through the backend's registry.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from pymeasure.instruments.yokogawa import YokogawaGS200
from pymeasure.test import expected_protocol

from sqm.drivers.backend import DRIVER_SETTINGS, _adapter_class, validate_config
from sqm.drivers.yokogawa_gs200 import YokogawaGS200Source
from sqm.errors import InstrumentError, LimitError, UserInputError
from sqm.limits import StationLimits

pytestmark = pytest.mark.filterwarnings("ignore:It is not known whether this device support SCPI:FutureWarning")

REPO = Path(__file__).resolve().parents[2]
SIM_FILE = REPO / "drivers" / "sim" / "yokogawa_gs200.yaml"
SIM_ADDRESS = "GPIB0::1::INSTR"
UA, MA = 1e-6, 1e-3

IDN = "YOKOGAWA,GS211,91T123456,2.02"
NO_ERROR = ("SYST:ERR?", '0,"No error"')
CONNECT = [("*IDN?", IDN), NO_ERROR, (":SOURce:FUNCtion?", "CURR"), (":SOURce:RANGe?", "1E-3")]
GENEROUS = {"max_abs": "1 A", "ramp_rate": "100 mA/s", "max_ramp_rate": "1 A/s"}


def station_limits(**bias_override) -> StationLimits:
    """The default station file's limits (bias +-350 uA at 20 uA/s), the bias block optionally replaced."""
    limits = yaml.safe_load((REPO / "configs" / "stations" / "sim.yaml").read_text())["limits"]
    if bias_override:
        limits["bias_current"] = bias_override
    return StationLimits.from_mapping(limits)


@contextmanager
def source_on_wire(pairs, connect=CONNECT, compliance: float = 2.0, limits: StationLimits | None = None):
    with expected_protocol(YokogawaGS200, connect + list(pairs)) as instrument:
        source = YokogawaGS200Source(instrument, compliance=compliance)
        source.attach_limits(limits or station_limits())
        yield source


# --------------------------------------------------------------------------- wire traffic


def test_connection_identifies_reads_the_errors_the_mode_and_the_range():
    with source_on_wire([]) as source:
        assert source.identity() == IDN
        assert (source.current_range, source.max_current) == (1e-3, 1.2e-3)


def test_ramp_from_zero_with_output_off_sets_the_compliance_switches_on_then_steps(clock, pacer):
    # 5 uA at the station's 20 uA/s: steps of at most 2 uA every 0.1 s -> three equal steps.
    pairs = [
        (":SOURce:LEVel?", "+0.00000E+00"),
        ("OUTPut:STATe?", "0"),
        ("SOURce:PROTection:VOLTage 1.5", None),
        NO_ERROR,
        ("OUTPut:STATe 1", None),
        NO_ERROR,
        ("SOURce:LEVel 1.66667e-06", None),
        NO_ERROR,
        ("SOURce:LEVel 3.33333e-06", None),
        NO_ERROR,
        ("SOURce:LEVel 5e-06", None),
        NO_ERROR,
    ]
    with source_on_wire(pairs, compliance=1.5) as source:
        source.ramp_to(5 * UA, pacer)
    assert clock.now() == pytest.approx(0.25)


def test_safe_state_ramps_to_zero_from_the_measured_level_then_switches_off(pacer):
    pairs = [
        ("OUTPut:STATe?", "1"),
        (":SOURce:LEVel?", "+3.00000E-06"),
        ("OUTPut:STATe?", "1"),
        ("SOURce:LEVel 1.5e-06", None),
        NO_ERROR,
        ("SOURce:LEVel 0", None),
        NO_ERROR,
        ("OUTPut:STATe 0", None),
        ("SOURce:LEVel 0", None),
        NO_ERROR,
    ]
    with source_on_wire(pairs) as source:
        source.safe_state(pacer)


def test_safe_state_with_the_output_off_sends_only_the_query(pacer):
    with source_on_wire([("OUTPut:STATe?", "0")]) as source:
        source.safe_state(pacer)


def test_snapshot():
    pairs = [(":SOURce:LEVel?", "+5.00000E-06"), ("OUTPut:STATe?", "1"), ("SOURce:PROTection:VOLTage?", "2.000E+00")]
    with source_on_wire(pairs) as source:
        assert source.snapshot() == {
            "identity": IDN,
            "current_A": 5e-6,
            "output_enabled": True,
            "compliance_V": 2.0,
            "configured_compliance_V": 2.0,
            "current_range_A": 1e-3,
        }


# --------------------------------------------------------------------------- refusals before any command


@pytest.mark.parametrize("amps", [1.3 * MA, -5 * MA])
@pytest.mark.parametrize("call", ["ramp_to", "_apply_current"])
def test_beyond_the_range_is_refused_before_any_command_not_clamped(call, amps, pacer):
    # After the connection this wire expects nothing: any command at all fails the test.
    with expected_protocol(YokogawaGS200, CONNECT) as instrument:
        source = YokogawaGS200Source(instrument)
        source.attach_limits(station_limits(**GENEROUS))  # the GS200's range is the reason, not the station's
        with pytest.raises(InstrumentError, match=r"outside the GS200's range of \+-0.0012 A \(its 0.001 A range\)"):
            if call == "ramp_to":
                source.ramp_to(amps, pacer)
            else:
                source._apply_current(amps)
        assert instrument.adapter._index == len(CONNECT)


@pytest.mark.parametrize("amps", [float("inf"), float("nan")])
def test_the_level_primitive_refuses_what_is_no_current(amps):
    with expected_protocol(YokogawaGS200, CONNECT) as instrument:
        with pytest.raises(InstrumentError, match="outside the GS200's range"):
            YokogawaGS200Source(instrument)._apply_current(amps)


def test_the_station_limit_is_the_reason_when_both_apply(pacer):
    with expected_protocol(YokogawaGS200, CONNECT) as instrument:
        source = YokogawaGS200Source(instrument)
        source.attach_limits(station_limits())  # +-350 uA
        with pytest.raises(LimitError, match="outside the station limits"):
            source.ramp_to(5 * MA, pacer)
        assert instrument.adapter._index == len(CONNECT)


def test_the_whole_range_is_reachable(pacer):
    pairs = [(":SOURce:LEVel?", "+1.00000E-03"), ("OUTPut:STATe?", "1"), ("SOURce:LEVel 0.0012", None), NO_ERROR]
    with source_on_wire(pairs, limits=station_limits(**GENEROUS)) as source:
        source.ramp_to(1.2 * MA, pacer, rate=0.01)


@pytest.mark.parametrize("compliance", [0.5, 31.0, float("nan")])
def test_a_compliance_outside_the_instrument_range_is_refused_before_any_command(compliance):
    with expected_protocol(YokogawaGS200, []) as instrument:
        with pytest.raises(UserInputError, match="outside the GS200's range"):
            YokogawaGS200Source(instrument, compliance=compliance)


def test_an_instrument_error_stops_the_ramp_at_that_step(pacer):
    pairs = [
        (":SOURce:LEVel?", "+0.00000E+00"),
        ("OUTPut:STATe?", "1"),
        ("SOURce:LEVel 2e-06", None),
        ("SYST:ERR?", '-222,"Data out of range"'),
        NO_ERROR,
    ]
    with source_on_wire(pairs) as source:
        with pytest.raises(InstrumentError, match=r'reports: -222,"Data out of range"'):
            source.ramp_to(4 * UA, pacer)  # the second step, 4 uA, is never sent


@pytest.mark.parametrize("reply", ["abc", "nan", ""])
def test_a_reading_that_is_no_finite_number_is_an_instrument_error(reply):
    with source_on_wire([(":SOURce:LEVel?", reply)]) as source:
        with pytest.raises(InstrumentError, match=rf":SOURce:LEVel\? answered {reply!r}, expected a number"):
            source.read_current()


# --------------------------------------------------------------------------- refusals at connection


@pytest.mark.parametrize(
    "connect, message",
    [
        ([("*IDN?", "KEITHLEY INSTRUMENTS INC.,MODEL 6221,1,D04")], "not the expected model; check the address"),
        ([("*IDN?", IDN), NO_ERROR, (":SOURce:FUNCtion?", "VOLT")], r"sources 'VOLT', not current \(CURR\)"),
        (CONNECT[:3] + [(":SOURce:RANGe?", "10")], "not one of the GS200's current ranges"),
        ([("*IDN?", IDN), ("SYST:ERR?", '-113,"Undefined header"'), NO_ERROR], r'reports: -113,"Undefined header"'),
    ],
)
def test_connection_refuses_what_it_cannot_drive_as_a_current_source(connect, message):
    with expected_protocol(YokogawaGS200, connect) as instrument:
        with pytest.raises(InstrumentError, match=message):
            YokogawaGS200Source(instrument)


# --------------------------------------------------------------------------- pyvisa-sim, station file, registry


def test_sim_source_ramps_a_small_current_and_goes_safe(sim_context, pacer, clock):
    source = YokogawaGS200Source.from_config(
        {"driver": "yokogawa_gs200", "address": SIM_ADDRESS, "compliance": "1.5 V"}, sim_context
    )
    assert "GS211" in source.identity()
    source.attach_limits(station_limits())

    source.ramp_to(10 * UA, pacer)
    assert source.read_current() == pytest.approx(10 * UA)
    assert source.output_enabled()
    assert source.read_compliance() == 1.5
    assert clock.now() == pytest.approx(0.5)
    assert source.snapshot()["current_range_A"] == 1e-3

    source.safe_state(pacer)
    assert source.read_current() == 0.0
    assert not source.output_enabled()


def test_sim_instrument_error_queue_reaches_the_operator(sim_context):
    source = YokogawaGS200Source.from_config({"driver": "yokogawa_gs200", "address": SIM_ADDRESS}, sim_context)
    source.instrument.write("SOURce:LEVel 0.5")  # around the adapter: the instrument refuses and queues an error
    with pytest.raises(InstrumentError, match=rf'{SIM_ADDRESS} reports: -100,"Command error"'):
        source._apply_current(1 * UA)


@pytest.mark.parametrize(
    "config, message",
    [({"compliance": "40 V"}, "outside the GS200's range"), ({"timeout": "0 s"}, "timeout must be positive"),
     ({"range": "1 mA"}, "unknown setting")],
)
def test_bad_settings_are_user_errors(sim_context, config, message):
    with pytest.raises(UserInputError, match=message):
        YokogawaGS200Source.from_config({"driver": "yokogawa_gs200", "address": SIM_ADDRESS, **config}, sim_context)


def test_the_registry_builds_it_as_a_current_source_and_checks_its_block():
    assert _adapter_class("yokogawa_gs200") is YokogawaGS200Source
    assert DRIVER_SETTINGS["yokogawa_gs200"].role == "current_source"
    lab = yaml.safe_load((REPO / "configs" / "stations" / "lab-pyvisa-sim.yaml").read_text())
    hardware = dict(lab["hardware"], current_source={"driver": "yokogawa_gs200", "address": SIM_ADDRESS})
    validate_config(hardware, station_limits())
    hardware["current_source"]["compliance"] = "40 V"
    with pytest.raises(UserInputError, match="hardware.current_source.compliance"):
        validate_config(hardware, station_limits())
