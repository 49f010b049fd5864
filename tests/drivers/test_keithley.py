"""Keithley 6221 current source and 2182A nanovoltmeter adapters.

1. Exact wire traffic of every command each adapter sends (pymeasure's expected_protocol:
   a pair left unused, or a message not in the list, fails the test).
2. Role-level safety on a stateful stand-in of the 6221's wire: a grid of bias setpoints
   either ramps in small `:SOUR:CURR` steps from the present value or is refused with
   nothing sent; beyond the 6221's own +-105 mA it is refused, never clamped.
3. Smoke through pyvisa-sim with the device files in drivers/sim/.
4. Faults: timeouts, garbage replies and instrument-reported errors become InstrumentError.
5. The real instruments, only when their addresses are given in the environment.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import yaml
from pymeasure.adapters import Adapter
from pymeasure.instruments.keithley import Keithley2182, Keithley6221
from pymeasure.test import expected_protocol

from sqm.clock import RealClock
from sqm.drivers.base import ERROR_ENTRY, FLAG, NUMBER, HardwareContext, parsed_reply
from sqm.drivers.keithley import Keithley2182Voltmeter, Keithley6221Source
from sqm.errors import AbortRequested, InstrumentError, LimitError, UserInputError
from sqm.limits import StationLimits
from sqm.pacing import CleanupPacer
from sqm.roles import RAMP_STEP_INTERVAL_S

from .wire import VISA_TIMEOUT, SilentAfterPairs

REPO = Path(__file__).resolve().parents[2]
SIM_FOLDER = REPO / "drivers" / "sim"
SIM_FILES = {"keithley6221": SIM_FOLDER / "keithley6221.yaml", "keithley2182": SIM_FOLDER / "keithley2182.yaml"}
UA, MA = 1e-6, 1e-3

IDN_6221 = "KEITHLEY INSTRUMENTS INC.,MODEL 6221,4143210,D04 /700x"
IDN_2182 = "KEITHLEY INSTRUMENTS INC.,MODEL 2182A,1234567,C02 /A02"
NO_ERROR = ("SYST:ERR?", '0,"No error"')
CONNECT_6221 = [("*IDN?", IDN_6221), NO_ERROR]
CONNECT_2182 = [
    ("*IDN?", IDN_2182),
    NO_ERROR,
    (":SYST:LFR?", "+5.000000E+01"),
    (":SENS:CHAN 1", None),
    ('SENS:FUNC "VOLT:DC"', None),
    (":SENS:VOLT:CHAN1:RANG:AUTO 1", None),
    NO_ERROR,
]


def station_limits(**bias_override) -> StationLimits:
    """The limits of the default station file, with the bias_current block optionally replaced."""
    limits = yaml.safe_load((REPO / "configs" / "stations" / "sim.yaml").read_text())["limits"]
    if bias_override:
        limits["bias_current"] = bias_override
    return StationLimits.from_mapping(limits)




@contextmanager
def source_on_wire(pairs, compliance: float = 2.0):
    """A Keithley6221Source on an expected_protocol wire that first expects the connection."""
    with expected_protocol(Keithley6221, CONNECT_6221 + list(pairs)) as instrument:
        source = Keithley6221Source(instrument, compliance=compliance)
        source.attach_limits(station_limits())
        yield source


@contextmanager
def voltmeter_on_wire(pairs, line_frequency: float = 50.0, connect=None):
    with expected_protocol(Keithley2182, (connect or CONNECT_2182) + list(pairs)) as instrument:
        yield Keithley2182Voltmeter(instrument, line_frequency=line_frequency)


# --------------------------------------------------------------------------- 6221 wire


def test_6221_connection_reads_identity_and_error_queue():
    with source_on_wire([]) as source:
        assert source.identity() == IDN_6221


def test_6221_read_current_queries_the_source_level():
    with source_on_wire([(":SOUR:CURR?", "+1.250000E-04")]) as source:
        assert source.read_current() == 1.25e-4


@pytest.mark.parametrize("reply, expected", [("1", True), ("0", False)])
def test_6221_output_enabled_queries_output(reply, expected):
    with source_on_wire([("OUTPut?", reply)]) as source:
        assert source.output_enabled() is expected


def test_6221_read_compliance():
    with source_on_wire([(":SOUR:CURR:COMP?", "+2.00E+00")]) as source:
        assert source.read_compliance() == 2.0


def test_6221_apply_current_sends_the_exact_scpi_then_checks_errors():
    with source_on_wire([(":SOUR:CURR -2.5e-05", None), NO_ERROR]) as source:
        source._apply_current(-25 * UA)


def test_6221_switch_on_sets_the_low_compliance_first():
    pairs = [(":SOUR:CURR:COMP 1.5", None), NO_ERROR, ("OUTPut 1", None), NO_ERROR]
    with source_on_wire(pairs, compliance=1.5) as source:
        source._set_output(True)


def test_6221_switch_off_then_programs_zero_amps():
    # the 6221 keeps its level with the output off: zeroed, so the next switch-on sources nothing
    with source_on_wire([("OUTPut 0", None), (":SOUR:CURR 0", None), NO_ERROR]) as source:
        source._set_output(False)


def test_6221_snapshot():
    pairs = [(":SOUR:CURR?", "+5.000000E-06"), ("OUTPut?", "1"), (":SOUR:CURR:COMP?", "+2.00E+00")]
    with source_on_wire(pairs) as source:
        assert source.snapshot() == {
            "identity": IDN_6221,
            "current_A": 5e-6,
            "output_enabled": True,
            "compliance_V": 2.0,
            "configured_compliance_V": 2.0,
        }


def test_6221_ramp_from_zero_with_output_off_switches_on_then_steps(clock, pacer):
    # 5 uA at the station's 20 uA/s: steps of at most 2 uA every 0.1 s -> three equal steps.
    pairs = [
        (":SOUR:CURR?", "+0.000000E+00"),
        ("OUTPut?", "0"),
        (":SOUR:CURR:COMP 2", None),
        NO_ERROR,
        ("OUTPut 1", None),
        NO_ERROR,
        (":SOUR:CURR 1.66667e-06", None),
        NO_ERROR,
        (":SOUR:CURR 3.33333e-06", None),
        NO_ERROR,
        (":SOUR:CURR 5e-06", None),
        NO_ERROR,
    ]
    with source_on_wire(pairs) as source:
        source.ramp_to(5 * UA, pacer)
    assert clock.now() == pytest.approx(0.25)


def test_6221_safe_state_ramps_to_zero_then_switches_off(pacer):
    pairs = [
        ("OUTPut?", "1"),
        (":SOUR:CURR?", "+3.000000E-06"),
        ("OUTPut?", "1"),
        (":SOUR:CURR 1.5e-06", None),
        NO_ERROR,
        (":SOUR:CURR 0", None),
        NO_ERROR,
        ("OUTPut 0", None),
        (":SOUR:CURR 0", None),
        NO_ERROR,
    ]
    with source_on_wire(pairs) as source:
        source.safe_state(pacer)


@pytest.mark.parametrize("amps", [0.2, -0.2])
@pytest.mark.parametrize("call", ["ramp_to", "_apply_current"])
def test_6221_setpoint_beyond_its_range_is_refused_before_any_command_not_clamped(call, amps, pacer):
    # pymeasure's source_current setter would send ':SOUR:CURR 0.105' for 0.2 A without a word.
    # After the connection this wire expects nothing: any command at all fails the test.
    with expected_protocol(Keithley6221, CONNECT_6221) as instrument:
        source = Keithley6221Source(instrument)
        source.attach_limits(station_limits(**GENEROUS))  # the 6221's range is the reason, not the station's
        with pytest.raises(InstrumentError, match=r"outside the 6221's range of \+-0.105 A; refusing"):
            if call == "ramp_to":
                source.ramp_to(amps, pacer)
            else:
                source._apply_current(amps)
        assert instrument.adapter._index == len(CONNECT_6221)  # nothing sent after the connection


@pytest.mark.parametrize("compliance", [0.05, 106.0, float("nan")])
def test_6221_compliance_outside_the_instrument_range_is_refused_before_any_command(compliance):
    with expected_protocol(Keithley6221, []) as instrument:
        with pytest.raises(UserInputError, match="outside the 6221's range"):
            Keithley6221Source(instrument, compliance=compliance)


# --------------------------------------------------------------------------- 2182A wire


def test_2182_connection_identifies_checks_line_frequency_and_selects_channel_1_dc_volts():
    with voltmeter_on_wire([]) as voltmeter:
        assert voltmeter.identity() == IDN_2182


def test_2182_fixed_range_is_sent_instead_of_autorange():
    connect = CONNECT_2182[:5] + [(":SENS:VOLT:CHAN1:RANG 0.01", None), NO_ERROR]
    with expected_protocol(Keithley2182, connect) as instrument:
        Keithley2182Voltmeter(instrument, voltage_range=0.01)


def test_2182_read_voltage_sets_nplc_and_paces_one_reading(clock, pacer):
    pairs = [(":SENS:VOLT:NPLC 5", None), NO_ERROR, (":READ?", "+1.234000E-06")]
    with voltmeter_on_wire(pairs) as voltmeter:
        assert voltmeter.read_voltage(0.1, pacer) == 1.234e-6
    assert clock.now() == pytest.approx(0.1)


def test_2182_long_integration_is_split_into_equal_readings_and_averaged(clock, pacer):
    # 2.5 s at 50 Hz: three readings of 41.6667 PLC (each at most 50 PLC = 1 s).
    pairs = [(":SENS:VOLT:NPLC 41.6667", None), NO_ERROR]
    pairs += [(":READ?", "+1.000000E-06"), (":READ?", "+2.000000E-06"), (":READ?", "+6.000000E-06")]
    with voltmeter_on_wire(pairs) as voltmeter:
        assert voltmeter.read_voltage(2.5, pacer) == pytest.approx(3e-6)
    assert clock.now() == pytest.approx(2.5, rel=1e-5)


def test_2182_at_60_hz_one_second_is_60_plc(clock, pacer):
    connect = [CONNECT_2182[0], NO_ERROR, (":SYST:LFR?", "+6.000000E+01")] + CONNECT_2182[3:]
    pairs = [(":SENS:VOLT:NPLC 60", None), NO_ERROR, (":READ?", "-4.200000E-09")]
    with voltmeter_on_wire(pairs, line_frequency=60.0, connect=connect) as voltmeter:
        assert voltmeter.read_voltage(1.0, pacer) == -4.2e-9


def test_2182_overflow_is_passed_on_not_clipped(pacer):
    pairs = [(":SENS:VOLT:NPLC 5", None), NO_ERROR, (":READ?", "+9.900000E+37")]
    with voltmeter_on_wire(pairs) as voltmeter:
        assert voltmeter.read_voltage(0.1, pacer) == 9.9e37


def test_2182_snapshot():
    pairs = [
        (":SENS:VOLT:NPLC?", "+5.000000E+00"),
        (":SENS:VOLT:CHAN1:RANG:AUTO?", "1"),
        (":SENS:VOLT:CHAN1:RANG?", "+1.000000E-01"),
    ]
    with voltmeter_on_wire(pairs) as voltmeter:
        assert voltmeter.snapshot() == {
            "identity": IDN_2182,
            "line_frequency_Hz": 50.0,
            "nplc": 5.0,
            "autorange": True,
            "voltage_range_V": 0.1,
        }


@pytest.mark.parametrize("integration_time", [0.0, 1e-4, -1.0, float("nan")])
def test_2182_integration_time_below_the_shortest_reading_is_refused_before_any_command(integration_time, pacer):
    with voltmeter_on_wire([]) as voltmeter:
        with pytest.raises(UserInputError, match="shortest reading"):
            voltmeter.read_voltage(integration_time, pacer)


def test_2182_abort_during_the_integration_still_collects_the_pending_reply(clock):
    class AbortingPacer(CleanupPacer):
        def wait(self, seconds):
            raise AbortRequested("operator pressed abort")

    pairs = [(":SENS:VOLT:NPLC 5", None), NO_ERROR, (":READ?", "+1.000000E-06")]
    # expected_protocol fails on exit if the reply to :READ? were left unread.
    with voltmeter_on_wire(pairs) as voltmeter:
        with pytest.raises(AbortRequested):
            voltmeter.read_voltage(0.1, AbortingPacer(clock))


@pytest.mark.parametrize("line_frequency", [45.0, 400.0])
def test_2182_line_frequency_other_than_50_or_60_is_refused(line_frequency):
    with expected_protocol(Keithley2182, []) as instrument:
        with pytest.raises(UserInputError, match="50 or 60"):
            Keithley2182Voltmeter(instrument, line_frequency=line_frequency)


# --------------------------------------------------------------------------- role-level safety


class Stateful6221Wire(Adapter):
    """A stand-in for the 6221 at the wire: remembers level, output and compliance,
    records every message, and fails on any message the adapter is not meant to send."""

    def __init__(self, level: float = 0.0, output: bool = False) -> None:
        super().__init__()
        self.level, self.output, self.compliance = level, output, 10.0
        self.sent: list[str] = []
        self._reply: str | None = None

    def _write(self, command: str, **kwargs) -> None:
        self.sent.append(command)
        replies = {
            "*IDN?": IDN_6221,
            "SYST:ERR?": '0,"No error"',
            ":SOUR:CURR?": f"{self.level:+.6E}",
            "OUTPut?": str(int(self.output)),
            ":SOUR:CURR:COMP?": f"{self.compliance:+.2E}",
        }
        if command in replies:
            self._reply = replies[command]
        elif command.startswith(":SOUR:CURR:COMP "):
            self.compliance = float(command.split()[1])
        elif command.startswith(":SOUR:CURR "):
            self.level = float(command.split()[1])
        elif command in ("OUTPut 0", "OUTPut 1"):
            self.output = command.endswith("1")
        else:
            raise AssertionError(f"unexpected message to the 6221: {command!r}")

    def _read(self, **kwargs) -> str:
        assert self._reply is not None, "read without a query"
        reply, self._reply = self._reply, None
        return reply


def source_on_stateful_wire(limits: StationLimits, level: float = 0.0, output: bool = False):
    wire = Stateful6221Wire(level, output)
    source = Keithley6221Source(Keithley6221(wire), compliance=2.0)
    source.attach_limits(limits)
    wire.sent.clear()
    return source, wire


def current_levels(sent: list[str]) -> list[float]:
    return [float(message.split()[1]) for message in sent if message.startswith(":SOUR:CURR ")]


BIAS_GRID = np.arange(-450, 451, 50) * UA
START = 60 * UA


@pytest.mark.parametrize("target", BIAS_GRID, ids=lambda t: f"{t / UA:+.0f}uA")
def test_bias_grid_ramps_in_small_steps_from_the_present_value_or_is_refused_with_nothing_sent(target, clock, pacer):
    limits = station_limits()
    source, wire = source_on_stateful_wire(limits, level=START, output=True)
    if abs(target) > limits.bias_current.maximum:
        with pytest.raises(LimitError, match="outside the station limits"):
            source.ramp_to(target, pacer)
        assert wire.sent == []
        assert wire.level == START
        return
    source.ramp_to(target, pacer)
    assert wire.sent[0] == ":SOUR:CURR?"  # the ramp starts from the measured level
    levels = current_levels(wire.sent)
    max_step = limits.bias_ramp.default * RAMP_STEP_INTERVAL_S
    steps = np.diff([START, *levels])
    assert np.all(np.abs(steps) <= max_step * (1 + 1e-5))
    assert np.all(np.sign(steps) == np.sign(target - START))  # one direction, no overshoot
    assert levels[-1] == pytest.approx(target, abs=1e-12)
    assert wire.level == pytest.approx(target, abs=1e-12)
    assert all(abs(level) <= limits.bias_current.maximum for level in levels)
    assert clock.now() == pytest.approx(abs(target - START) / limits.bias_ramp.default)


def test_ramp_starts_from_the_instrument_level_not_a_remembered_one(pacer):
    source, wire = source_on_stateful_wire(station_limits(), level=0.0, output=True)
    source.ramp_to(10 * UA, pacer)
    wire.level = 120 * UA  # someone turned the knob
    wire.sent.clear()
    source.ramp_to(124 * UA, pacer)
    assert current_levels(wire.sent) == pytest.approx([122 * UA, 124 * UA])


def test_switch_on_happens_only_at_zero_with_the_low_compliance(pacer):
    source, wire = source_on_stateful_wire(station_limits(), level=0.0, output=False)
    source.ramp_to(2 * UA, pacer)
    assert wire.sent[:6] == [":SOUR:CURR?", "OUTPut?", ":SOUR:CURR:COMP 2", "SYST:ERR?", "OUTPut 1", "SYST:ERR?"]
    assert wire.compliance == 2.0 and wire.output


def test_output_off_with_a_nonzero_level_is_not_switched_on(pacer):
    source, wire = source_on_stateful_wire(station_limits(), level=50 * UA, output=False)
    with pytest.raises(InstrumentError, match="refusing to switch it on"):
        source.ramp_to(0.0, pacer)
    assert not any(message.startswith(("OUTPut ", ":SOUR:CURR ")) for message in wire.sent)


GENEROUS = {"max_abs": "1 A", "ramp_rate": "100 mA/s", "max_ramp_rate": "1 A/s"}


@pytest.mark.parametrize("target", [106 * MA, -106 * MA, 200 * MA, -1.0])
def test_beyond_the_6221_range_is_refused_not_clamped_even_with_generous_station_limits(target, pacer):
    source, wire = source_on_stateful_wire(station_limits(**GENEROUS), level=0.0, output=True)
    with pytest.raises(InstrumentError, match=r"outside the 6221's range of \+-0.105 A"):
        source.ramp_to(target, pacer)
    assert wire.sent == []  # not even the first step towards it
    assert wire.level == 0.0


@pytest.mark.parametrize("amps", [0.1051, -0.2, float("inf"), float("nan")])
def test_apply_current_primitive_checks_the_6221_range_itself(amps):
    source, wire = source_on_stateful_wire(station_limits(**GENEROUS), level=0.0, output=True)
    with pytest.raises(InstrumentError, match="outside the 6221's range"):
        source._apply_current(amps)
    assert wire.sent == []


def test_the_full_6221_range_is_reachable_with_generous_limits(pacer):
    source, wire = source_on_stateful_wire(station_limits(**GENEROUS), level=0.0, output=True)
    source.ramp_to(-105 * MA, pacer, rate=1.0)
    assert current_levels(wire.sent)[-1] == -0.105
    assert wire.level == -0.105


# --------------------------------------------------------------------------- pyvisa-sim smoke


@pytest.fixture
def sim_context(tmp_path, clock):
    """Both device files merged into one lab file (as the station's will be), via pyvisa-sim."""
    merged = {"spec": "1.0", "devices": {}, "resources": {}}
    for path in SIM_FILES.values():
        data = yaml.safe_load(path.read_text())
        assert data["spec"] == "1.0"
        assert not set(data["devices"]) & set(merged["devices"]), "device names must be unique"
        assert not set(data["resources"]) & set(merged["resources"]), "resources must be unique"
        merged["devices"].update(data["devices"])
        merged["resources"].update(data["resources"])
    lab = tmp_path / "lab.yaml"
    lab.write_text(yaml.safe_dump(merged, sort_keys=False))
    context = HardwareContext(visa_library=f"{lab}@sim", clock=clock)
    yield context
    context.close()


@pytest.mark.parametrize("driver", sorted(SIM_FILES))
def test_each_sim_file_stands_alone(driver, clock):
    context = HardwareContext(visa_library=f"{SIM_FILES[driver]}@sim", clock=clock)
    adapter_class = {"keithley6221": Keithley6221Source, "keithley2182": Keithley2182Voltmeter}[driver]
    address = {"keithley6221": "GPIB0::12::INSTR", "keithley2182": "GPIB0::7::INSTR"}[driver]
    try:
        role = adapter_class.from_config({"driver": driver, "address": address}, context)
        assert "KEITHLEY" in role.identity()
    finally:
        context.close()


def test_sim_station_identifies_ramps_a_small_current_and_reads_a_voltage(sim_context, pacer, clock):
    source = Keithley6221Source.from_config(
        {"driver": "keithley6221", "address": "GPIB0::12::INSTR", "compliance": "1.5 V"}, sim_context
    )
    voltmeter = Keithley2182Voltmeter.from_config(
        {"driver": "keithley2182", "address": "GPIB0::7::INSTR", "line_frequency": "50 Hz"}, sim_context
    )
    assert "MODEL 6221" in source.identity()
    assert "MODEL 2182A" in voltmeter.identity()
    source.attach_limits(station_limits())

    source.ramp_to(10 * UA, pacer)
    assert source.read_current() == pytest.approx(10 * UA)
    assert source.output_enabled()
    assert source.read_compliance() == 1.5
    assert clock.now() == pytest.approx(0.5)

    assert voltmeter.read_voltage(0.2, pacer) == pytest.approx(1.234e-6)
    assert voltmeter.snapshot()["nplc"] == 10.0

    source.safe_state(pacer)
    assert source.read_current() == 0.0
    assert not source.output_enabled()


def test_sim_instrument_error_queue_reaches_the_operator(sim_context):
    source = Keithley6221Source.from_config({"driver": "keithley6221", "address": "GPIB0::12::INSTR"}, sim_context)
    source.instrument.write(":SOUR:CURR 0.5")  # around the adapter: the instrument refuses and queues an error
    with pytest.raises(InstrumentError, match=r'GPIB0::12::INSTR reports: -100,"Command error"'):
        source._apply_current(1 * UA)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"compliance": "200 V"}, "outside the 6221's range"),
        ({"compliance": "2 A"}, "compliance"),
        ({"complience": "2 V"}, "unknown setting"),
    ],
)
def test_6221_bad_settings_are_user_errors(sim_context, config, message):
    with pytest.raises(UserInputError, match=message):
        Keithley6221Source.from_config(
            {"driver": "keithley6221", "address": "GPIB0::12::INSTR", **config}, sim_context
        )


@pytest.mark.parametrize(
    "config, message",
    [
        ({"line_frequency": "55 Hz"}, "50 or 60"),
        ({"voltage_range": "200 V"}, "voltage_range"),
        ({"nplc": 5}, "unknown setting"),
    ],
)
def test_2182_bad_settings_are_user_errors(sim_context, config, message):
    with pytest.raises(UserInputError, match=message):
        Keithley2182Voltmeter.from_config(
            {"driver": "keithley2182", "address": "GPIB0::7::INSTR", **config}, sim_context
        )


def test_sim_voltmeter_with_a_fixed_range(sim_context):
    voltmeter = Keithley2182Voltmeter.from_config(
        {"driver": "keithley2182", "address": "GPIB0::7::INSTR", "voltage_range": "10 mV"}, sim_context
    )
    # (On the instrument, setting a range also ends autorange; pyvisa-sim does not couple the two.)
    assert voltmeter.snapshot()["voltage_range_V"] == pytest.approx(0.01)


def test_line_frequency_mismatch_with_the_instrument_is_refused(sim_context):
    with pytest.raises(InstrumentError, match="measures a 50 Hz line but the station file says 60 Hz"):
        Keithley2182Voltmeter.from_config(
            {"driver": "keithley2182", "address": "GPIB0::7::INSTR", "line_frequency": 60}, sim_context
        )


@pytest.mark.filterwarnings("ignore:read string doesn.t end with termination characters")
def test_nothing_answering_at_the_address_is_an_instrument_error(sim_context):
    with pytest.raises(InstrumentError, match="GPIB0::3::INSTR"):
        Keithley6221Source.from_config({"driver": "keithley6221", "address": "GPIB0::3::INSTR"}, sim_context)


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("error", [VISA_TIMEOUT, TimeoutError("no reply")], ids=["VisaIOError", "TimeoutError"])
def test_6221_timeout_is_an_instrument_error_naming_the_exchange(error):
    wire = SilentAfterPairs(CONNECT_6221 + [(":SOUR:CURR?", None)], error)
    source = Keithley6221Source(Keithley6221(wire))
    with pytest.raises(InstrumentError, match=rf"read the current \(:SOUR:CURR\?\): {type(error).__name__}"):
        source.read_current()


def test_6221_timeout_at_connection_is_an_instrument_error():
    wire = SilentAfterPairs([("*IDN?", None)], VISA_TIMEOUT)
    with pytest.raises(InstrumentError, match=r"identify \(\*IDN\?\): VisaIOError: .*Timeout"):
        Keithley6221Source(Keithley6221(wire), name="Keithley 6221 at GPIB0::12::INSTR")


def test_2182_timeout_during_a_reading_is_an_instrument_error(pacer):
    pairs = CONNECT_2182 + [(":SENS:VOLT:NPLC 5", None), NO_ERROR, (":READ?", None)]
    voltmeter = Keithley2182Voltmeter(Keithley2182(SilentAfterPairs(pairs, VISA_TIMEOUT)))
    with pytest.raises(InstrumentError, match=r"read the voltage \(:READ\?\): VisaIOError"):
        voltmeter.read_voltage(0.1, pacer)


@pytest.mark.parametrize(
    "pairs, call, message",
    [
        ([(":SOUR:CURR?", "garbage")], "read_current", r":SOUR:CURR\? answered 'garbage', expected a number"),
        ([(":SOUR:CURR?", "nan")], "read_current", r":SOUR:CURR\? answered nan, expected a number"),
        ([("OUTPut?", "maybe")], "output_enabled", r"OUTPut\? answered 'maybe', expected 0 or 1"),
        ([(":SOUR:CURR:COMP?", "")], "read_compliance", "expected a number"),
        ([(":SOUR:CURR 1e-06", None), ("SYST:ERR?", "??")], "step", r"SYST:ERR\? answered '\?\?', expected an error"),
    ],
)
def test_6221_garbage_replies_are_instrument_errors(pairs, call, message):
    with source_on_wire(pairs) as source:
        action = {
            "read_current": source.read_current,
            "output_enabled": source.output_enabled,
            "read_compliance": source.read_compliance,
            "step": lambda: source._apply_current(1 * UA),
        }[call]
        with pytest.raises(InstrumentError, match=message):
            action()


ADDRESS = "GPIB0::12"


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("#?!", "'#?!', expected 0 or 1"),  # was KeyError: 'Value #?! not found in mapped values'
        ("", "'', expected 0 or 1"),
        ("2", "'2', expected 0 or 1"),
        ("ON", "'ON', expected 0 or 1"),
    ],
)
def test_6221_garbage_output_state_is_one_line_naming_instrument_command_and_reply(reply, expected):
    pairs = CONNECT_6221 + [("OUTPut?", reply)]
    with expected_protocol(Keithley6221, pairs) as instrument:
        source = Keithley6221Source(instrument, name=f"Keithley 6221 at {ADDRESS}")
        with pytest.raises(InstrumentError) as raised:
            source.output_enabled()
    assert str(raised.value) == f"Keithley 6221 at {ADDRESS}: OUTPut? answered {expected}"


@pytest.mark.parametrize("reply, expected", [("1", True), ("0", False), ("+1", True)])
def test_2182_snapshot_reads_autorange_as_0_or_1(reply, expected):
    pairs = [(":SENS:VOLT:NPLC?", "5"), (":SENS:VOLT:CHAN1:RANG:AUTO?", reply), (":SENS:VOLT:CHAN1:RANG?", "0.1")]
    with voltmeter_on_wire(pairs) as voltmeter:
        assert voltmeter.snapshot()["autorange"] is expected


def test_2182_garbage_autorange_is_one_line_naming_the_command_and_reply():
    pairs = [(":SENS:VOLT:NPLC?", "5"), (":SENS:VOLT:CHAN1:RANG:AUTO?", "#?!")]
    with voltmeter_on_wire(pairs) as voltmeter:
        with pytest.raises(InstrumentError) as raised:
            voltmeter.snapshot()
    assert str(raised.value) == "Keithley 2182A: :SENS:VOLT:CHAN1:RANG:AUTO? answered '#?!', expected 0 or 1"


@pytest.mark.parametrize(
    "pairs, call",
    [
        ([(":SOUR:CURR?", "+1.0E-06,+2.0E-06")], "read_current"),  # pymeasure splits it into a list
        ([(":SOUR:CURR?", "inf")], "read_current"),
        ([(":SOUR:CURR:COMP?", "two volts")], "read_compliance"),
        ([(":SOUR:CURR 1e-06", None), ("SYST:ERR?", '0.5,"No error"')], "step"),
        ([(":SOUR:CURR 1e-06", None), ("SYST:ERR?", "")], "step"),
    ],
)
def test_6221_no_garbage_reply_escapes_as_a_python_error(pairs, call):
    """Every reply goes through one parser: never a KeyError, TypeError or ValueError of
    pymeasure's or ours, always one line with the instrument, the command and the reply."""
    with source_on_wire(pairs) as source:
        action = {"read_current": source.read_current, "read_compliance": source.read_compliance,
                  "step": lambda: source._apply_current(1 * UA)}[call]
        with pytest.raises(InstrumentError) as raised:
            action()
    message = str(raised.value)
    assert message.startswith("Keithley 6221: ") and " answered " in message and ", expected " in message
    assert "Error" not in message and "\n" not in message


def test_6221_timeout_on_output_state_still_names_the_exchange():
    wire = SilentAfterPairs(CONNECT_6221 + [("OUTPut?", None)], VISA_TIMEOUT)
    source = Keithley6221Source(Keithley6221(wire))
    with pytest.raises(InstrumentError, match=r"read the output state \(OUTPut\?\): VisaIOError"):
        source.output_enabled()


@pytest.mark.parametrize(
    "reply, expected, value",
    [
        ("1", FLAG, True), (0, FLAG, False), (" +2.5E-03 ", NUMBER, 2.5e-3), (7, NUMBER, 7.0),
        ('-222,"Data out of range"', ERROR_ENTRY, (-222, '"Data out of range"')),
        ('+0,"No error"', ERROR_ENTRY, (0, '"No error"')),
    ],
)
def test_the_shared_reply_parser_converts_good_replies(reply, expected, value):
    assert parsed_reply(reply, expected, "X: Q?") == value


@pytest.mark.parametrize(
    "reply, expected",
    [(True, NUMBER), ("nan", NUMBER), ([1.0, 2.0], NUMBER), (None, NUMBER), ("0.5", FLAG), ("x,y", ERROR_ENTRY)],
)
def test_the_shared_reply_parser_refuses_anything_else_on_one_line(reply, expected):
    with pytest.raises(InstrumentError) as raised:
        parsed_reply(reply, expected, "X: Q?")
    assert str(raised.value) == f"X: Q? answered {reply!r}, expected {expected.text}"


def test_2182_garbage_reading_is_an_instrument_error(pacer):
    pairs = [(":SENS:VOLT:NPLC 5", None), NO_ERROR, (":READ?", "#OVRFLW")]
    with voltmeter_on_wire(pairs) as voltmeter:
        with pytest.raises(InstrumentError, match=r":READ\? answered '#OVRFLW', expected a number"):
            voltmeter.read_voltage(0.1, pacer)


def test_2182_garbage_line_frequency_is_an_instrument_error():
    with expected_protocol(Keithley2182, CONNECT_2182[:2] + [(":SYST:LFR?", "fifty")]) as instrument:
        with pytest.raises(InstrumentError, match=r":SYST:LFR\? answered 'fifty', expected a number"):
            Keithley2182Voltmeter(instrument)


def test_6221_error_queued_before_connection_is_reported_with_its_text():
    pairs = [("*IDN?", IDN_6221), ("SYST:ERR?", '-222,"Data out of range"'), NO_ERROR]
    with expected_protocol(Keithley6221, pairs) as instrument:
        with pytest.raises(InstrumentError, match=r'Keithley 6221 reports: -222,"Data out of range"'):
            Keithley6221Source(instrument)


def test_6221_refused_compliance_stops_the_switch_on(pacer):
    # The output must not be switched on when the compliance was not taken: no "OUTPut 1" on the wire.
    pairs = [(":SOUR:CURR:COMP 2", None), ("SYST:ERR?", '-221,"Settings conflict"'), NO_ERROR]
    with source_on_wire(pairs) as source:
        with pytest.raises(InstrumentError, match='-221,"Settings conflict"'):
            source._set_output(True)


def test_6221_interlock_error_on_switch_on_is_reported():
    pairs = [
        (":SOUR:CURR:COMP 2", None),
        NO_ERROR,
        ("OUTPut 1", None),
        ("SYST:ERR?", '+803,"Output interlock asserted"'),
        NO_ERROR,
    ]
    with source_on_wire(pairs) as source:
        with pytest.raises(InstrumentError, match="Output interlock asserted"):
            source._set_output(True)


def test_6221_error_during_a_ramp_stops_it_at_that_step(pacer):
    pairs = [
        (":SOUR:CURR?", "+0.000000E+00"),
        ("OUTPut?", "1"),
        (":SOUR:CURR 2e-06", None),
        ("SYST:ERR?", '-222,"Data out of range"'),
        NO_ERROR,
    ]  # the remaining steps towards 4 uA are never sent
    with source_on_wire(pairs) as source:
        with pytest.raises(InstrumentError, match="Data out of range"):
            source.ramp_to(4 * UA, pacer)


def test_2182_error_after_nplc_stops_before_any_reading(pacer):
    pairs = [(":SENS:VOLT:NPLC 5", None), ("SYST:ERR?", '-113,"Undefined header"'), NO_ERROR]
    with voltmeter_on_wire(pairs) as voltmeter:
        with pytest.raises(InstrumentError, match='Keithley 2182A reports: -113,"Undefined header"'):
            voltmeter.read_voltage(0.1, pacer)


def test_an_endless_error_queue_does_not_hang():
    pairs = [("*IDN?", IDN_6221)] + [("SYST:ERR?", '-350,"Queue overflow"')] * 32
    with expected_protocol(Keithley6221, pairs) as instrument:
        with pytest.raises(InstrumentError, match="more than 32 errors queued"):
            Keithley6221Source(instrument)


@pytest.mark.parametrize(
    "instrument_class, adapter_class, identity",
    [(Keithley6221, Keithley6221Source, IDN_2182), (Keithley2182, Keithley2182Voltmeter, IDN_6221)],
)
def test_wrong_instrument_at_the_address_is_refused(instrument_class, adapter_class, identity):
    with expected_protocol(instrument_class, [("*IDN?", identity)]) as instrument:
        with pytest.raises(InstrumentError, match="not the expected model; check the address"):
            adapter_class(instrument)


# --------------------------------------------------------------------------- real instruments

REAL_6221 = os.environ.get("SQM_KEITHLEY6221_ADDRESS")
REAL_2182 = os.environ.get("SQM_KEITHLEY2182_ADDRESS")


@pytest.mark.skipif(not REAL_6221, reason="set SQM_KEITHLEY6221_ADDRESS (and connect a dummy load, e.g. 1 kOhm)")
def test_real_6221_identifies_and_ramps_one_microamp_and_back():
    context = HardwareContext(visa_library=os.environ.get("SQM_VISA_LIBRARY", ""), clock=RealClock())
    try:
        source = Keithley6221Source.from_config({"driver": "keithley6221", "address": REAL_6221}, context)
        source.attach_limits(station_limits())
        pacer = CleanupPacer(context.clock)
        assert "6221" in source.identity()
        source.ramp_to(1 * UA, pacer)
        assert source.read_current() == pytest.approx(1 * UA)
        source.safe_state(pacer)
        assert not source.output_enabled()
    finally:
        context.close()


@pytest.mark.skipif(not REAL_2182, reason="set SQM_KEITHLEY2182_ADDRESS")
def test_real_2182_reads_a_voltage():
    context = HardwareContext(visa_library=os.environ.get("SQM_VISA_LIBRARY", ""), clock=RealClock())
    try:
        voltmeter = Keithley2182Voltmeter.from_config(
            {
                "driver": "keithley2182",
                "address": REAL_2182,
                "line_frequency": os.environ.get("SQM_LINE_FREQUENCY", 50),
            },
            context,
        )
        assert "2182" in voltmeter.identity()
        assert np.isfinite(voltmeter.read_voltage(0.1, CleanupPacer(context.clock)))
    finally:
        context.close()
