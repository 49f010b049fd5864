"""Lake Shore 336 temperature-controller adapter.

1. Exact wire traffic of every command the adapter sends (expected_protocol: a pair
   left unused, or a message not in the list, fails the test).
2. Station limits and the controller's own ceiling: a grid of setpoints is either sent
   exactly or refused with nothing sent.
2b. The heater loop's setpoint must be in K on the configured input: OUTMODE? (closed
   loop PID on that input) and INTYPE? (units kelvin) at connect and before every
   setpoint; any other answer is refused with nothing further sent.
3. An invalid reading (RDGST? non-zero) switches the heater off and raises the decoded
   reason; no temperature is returned for it.
4. Smoke through pyvisa-sim (drivers/sim/lakeshore336.yaml).
5. Faults: timeouts and garbage replies become InstrumentError.
6. The real instrument, only when SQM_LAKESHORE336_ADDRESS is set.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from pymeasure.test import expected_protocol

from sqm.clock import RealClock, SimulatedClock
from sqm.drivers.base import HardwareContext
from sqm.drivers.lakeshore336 import LakeShore336, LakeShore336Temperature, describe_reading_status
from sqm.errors import InstrumentError, LimitError, UserInputError
from sqm.limits import StationLimits

from .wire import VISA_TIMEOUT, SilentAfterPairs

REPO = Path(__file__).resolve().parents[2]
SIM_FILE = REPO / "drivers" / "sim" / "lakeshore336.yaml"
SIM_ADDRESS = "GPIB0::13::INSTR"
IDN = "LSCI,MODEL336,1234567/1234567,2.9"


def station_limits() -> StationLimits:
    """The limits of the default station file (temperature setpoints 1.4-10 K)."""
    station = yaml.safe_load((REPO / "configs" / "stations" / "sim.yaml").read_text())
    return StationLimits.from_mapping(station["limits"])


def loop_checks(loop: int = 1, input_channel: str = "A") -> list:
    """What the adapter asks before trusting the loop's setpoint to be in K: the loop's mode
    (closed loop PID on the configured input, power-up enable off) and the input's units (kelvin)."""
    number = "ABCD".index(input_channel) + 1
    return [(f"OUTMODE? {loop}", f"1,{number},0"), (f"INTYPE? {input_channel}", "3,1,0,1,1")]


def controller_on_wire(instrument, **settings) -> LakeShore336Temperature:
    temperature = LakeShore336Temperature(instrument, **settings)
    temperature.attach_limits(station_limits())
    return temperature


# --------------------------------------------------------------------------- wire traffic


@pytest.mark.parametrize("loop, input_channel", [(1, "A"), (2, "B"), (1, "D"), (2, "C")])
def test_connect_reads_the_identity_then_checks_the_loop_controls_the_input_in_kelvin(loop, input_channel):
    pairs = [("*IDN?", IDN)] + loop_checks(loop, input_channel)
    with expected_protocol(LakeShore336, pairs) as instrument:
        controller_on_wire(instrument, loop=loop, input_channel=input_channel).connect()


@pytest.mark.parametrize("identity", ["LSCI,MODEL350,1234567/1234567,1.0", "LSCI,MODEL340,123,1.0", "KEITHLEY,2182A"])
def test_connect_refuses_another_model_whose_heater_ranges_mean_other_powers(identity):
    with expected_protocol(LakeShore336, [("*IDN?", identity)]) as instrument:
        with pytest.raises(InstrumentError, match="expected a Lake Shore Model 336"):
            controller_on_wire(instrument).connect()


@pytest.mark.parametrize("input_channel", ["A", "B", "C", "D"])
def test_read_temperature_checks_the_reading_status_first(input_channel):
    pairs = [(f"RDGST? {input_channel}", "000"), (f"KRDG? {input_channel}", "+4.2310"), ("HTRST? 1", "0")]
    with expected_protocol(LakeShore336, pairs) as instrument:
        assert controller_on_wire(instrument, input_channel=input_channel).read_temperature() == 4.231


@pytest.mark.parametrize("loop", [1, 2])
def test_read_setpoint(loop):
    with expected_protocol(LakeShore336, [(f"SETP? {loop}", "+6.5000")]) as instrument:
        assert controller_on_wire(instrument, loop=loop).read_setpoint() == 6.5


@pytest.mark.parametrize("loop, heater_range", [(1, 1), (1, 3), (2, 2), (2, 0)])
def test_set_setpoint_sends_the_setpoint_then_the_configured_heater_range(loop, heater_range):
    pairs = loop_checks(loop) + [(f"SETP {loop},5.250000", None), (f"RANGE {loop},{heater_range}", None),
                                 (f"HTRST? {loop}", "0")]
    with expected_protocol(LakeShore336, pairs) as instrument:
        controller_on_wire(instrument, loop=loop, heater_range=heater_range).set_setpoint(5.25)


def test_set_setpoint_checks_the_loop_before_every_setpoint():
    pairs = loop_checks(2, "C") + [("SETP 2,5.000000", None), ("RANGE 2,1", None), ("HTRST? 2", "0")]
    pairs += loop_checks(2, "C") + [("SETP 2,6.000000", None), ("RANGE 2,1", None), ("HTRST? 2", "0")]
    with expected_protocol(LakeShore336, pairs) as instrument:
        temperature = controller_on_wire(instrument, loop=2, input_channel="C")
        temperature.set_setpoint(5.0)
        temperature.set_setpoint(6.0)


# --------------------------------------------------------------------------- the loop's units and input

# (exchanges up to the refusal, the refusal). Each must end the conversation there.
LOOP_REFUSALS = {
    "off": ([("OUTMODE? 1", "0,1,0")], r"heater loop 1 is in off mode \(OUTMODE\? 1 mode 0\), not closed loop PID"),
    "zone": ([("OUTMODE? 1", "2,1,1")], r"heater loop 1 is in zone mode \(OUTMODE\? 1 mode 2\)"),
    "open-loop": ([("OUTMODE? 1", "3,1,0")], r"heater loop 1 is in open loop mode \(OUTMODE\? 1 mode 3\)"),
    "undocumented-mode": ([("OUTMODE? 1", "9,1,0")], r"is in an undocumented mode \(OUTMODE\? 1 mode 9\)"),
    "input-B": (
        [("OUTMODE? 1", "1,2,0")],
        r"heater loop 1 controls input B \(OUTMODE\? 1 input 2\), not the configured input A",
    ),
    "input-D": ([("OUTMODE? 1", "1,4,1")], r"controls input D \(OUTMODE\? 1 input 4\)"),
    "no-input": ([("OUTMODE? 1", "1,0,0")], r"heater loop 1 controls no input \(OUTMODE\? 1 input 0\)"),
    "undocumented-input": ([("OUTMODE? 1", "1,12,0")], r"controls an undocumented input \(OUTMODE\? 1 input 12\)"),
    "celsius": (
        [("OUTMODE? 1", "1,1,0"), ("INTYPE? A", "3,1,0,1,2")],
        (
            r"input A reports in celsius \(INTYPE\? A units 2\), not kelvin \(1\): setpoints of heater loop 1 "
            r"would not be in K"
        ),
    ),
    "sensor-units": (
        [("OUTMODE? 1", "1,1,0"), ("INTYPE? A", "1,0,0,0,3")],
        r"input A reports in sensor units \(INTYPE\? A units 3\), not kelvin",
    ),
    "undocumented-units": (
        [("OUTMODE? 1", "1,1,0"), ("INTYPE? A", "1,0,0,0,0")],
        r"input A reports in undocumented units \(INTYPE\? A units 0\), not kelvin",
    ),
}


@pytest.mark.parametrize("pairs, message", LOOP_REFUSALS.values(), ids=LOOP_REFUSALS.keys())
def test_connect_refuses_a_loop_whose_setpoint_would_not_be_kelvin_on_the_input(pairs, message):
    with expected_protocol(LakeShore336, [("*IDN?", IDN)] + pairs) as instrument:
        with pytest.raises(InstrumentError, match=message) as error:
            controller_on_wire(instrument).connect()
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("pairs, message", LOOP_REFUSALS.values(), ids=LOOP_REFUSALS.keys())
def test_a_setpoint_is_refused_with_no_setpoint_and_no_heater_range_sent(pairs, message):
    # the front panel changed the loop after connect: no SETP, no RANGE (expected_protocol fails on any)
    with expected_protocol(LakeShore336, pairs) as instrument:
        with pytest.raises(InstrumentError, match=message) as error:
            controller_on_wire(instrument).set_setpoint(5.0)
    assert "\n" not in str(error.value)


def test_the_loop_check_is_against_the_configured_input_and_loop():
    # loop 2 on input A: right for input A, wrong for the configured input C
    pairs = [("OUTMODE? 2", "1,1,0")]
    with expected_protocol(LakeShore336, pairs) as instrument:
        with pytest.raises(InstrumentError, match="heater loop 2 controls input A .* not the configured input C"):
            controller_on_wire(instrument, loop=2, input_channel="C").set_setpoint(5.0)


@pytest.mark.parametrize("loop", [1, 2])
def test_heater_off(loop):  # never behind the loop check: the safe direction is always open
    with expected_protocol(LakeShore336, [(f"RANGE {loop},0", None)]) as instrument:
        controller_on_wire(instrument, loop=loop).heater_off()


def test_identity_and_snapshot():
    pairs = [
        ("*IDN?", IDN),
        ("RDGST? B", "000"),
        ("KRDG? B", "+1.5020"),
        ("HTRST? 2", "0"),
        ("SETP? 2", "+1.5000"),
        ("RANGE? 2", "1"),
        ("HTR? 2", "+12.500"),
    ]
    with expected_protocol(LakeShore336, pairs) as instrument:
        snapshot = controller_on_wire(instrument, input_channel="B", loop=2, heater_range=2, ceiling=8.0).snapshot()
    assert snapshot == {
        "identity": IDN,
        "temperature_K": 1.502,
        "setpoint_K": 1.5,
        "input": "B",
        "loop": 2,
        "heater_range": 1,
        "heater_range_when_on": 2,
        "heater_output_percent": 12.5,
        "ceiling_K": 8.0,
    }


def test_safe_state_reads_the_stage_and_holds_the_setpoint_when_it_is_in_range():
    # nothing but the reading: the setpoint in force stays (the limits allowed it)
    pairs = [("RDGST? A", "000"), ("KRDG? A", "+4.2000"), ("HTRST? 1", "0")]
    with expected_protocol(LakeShore336, pairs) as instrument:
        controller_on_wire(instrument).safe_state(pacer=None)


def test_safe_state_switches_the_heater_off_above_the_range():
    # a runaway or wrong-sensor loop: the stage reads above the station's range
    pairs = [("RDGST? A", "000"), ("KRDG? A", "+14.000"), ("HTRST? 1", "0"), ("RANGE 1,0", None)]
    with expected_protocol(LakeShore336, pairs) as instrument:
        with pytest.raises(InstrumentError, match="heater switched off"):
            controller_on_wire(instrument).safe_state(pacer=None)


# --------------------------------------------------------------------------- limits

SETPOINT_GRID = np.round(np.arange(0.5, 15.01, 0.5), 3)


@pytest.mark.parametrize("kelvin", SETPOINT_GRID, ids=lambda k: f"{k:g}K")
def test_setpoint_grid_is_sent_exactly_or_refused_with_nothing_sent(kelvin):
    inside = 1.4 <= kelvin <= 10.0  # the station file's temperature limits
    pairs = loop_checks() + [(f"SETP 1,{kelvin:f}", None), ("RANGE 1,1", None), ("HTRST? 1", "0")] if inside else []
    with expected_protocol(LakeShore336, pairs) as instrument:
        temperature = controller_on_wire(instrument)
        if inside:
            temperature.set_setpoint(float(kelvin))
        else:
            with pytest.raises(LimitError, match="outside the station limits"):
                temperature.set_setpoint(float(kelvin))


@pytest.mark.parametrize("kelvin", [8.5, 10.0])
def test_ceiling_below_the_station_limit_refuses_with_nothing_sent(kelvin):
    with expected_protocol(LakeShore336, []) as instrument:
        with pytest.raises(LimitError, match="above the controller's ceiling 8 K"):
            controller_on_wire(instrument, ceiling=8.0).set_setpoint(kelvin)


def test_without_station_limits_nothing_is_sent():
    with expected_protocol(LakeShore336, []) as instrument:
        with pytest.raises(InstrumentError, match="no station limits attached"):
            LakeShore336Temperature(instrument).set_setpoint(4.0)


# --------------------------------------------------------------------------- invalid readings


@pytest.mark.parametrize(
    "status, reason",
    [
        (1, "invalid reading"),
        (16, "temperature under range"),
        (32, "temperature over range"),
        (64, "sensor units zero"),
        (128, "sensor units over range"),
        (17, "invalid reading, temperature under range"),
        (129, "invalid reading, sensor units over range"),
        (2, "undocumented status bits 2"),
    ],
)
def test_invalid_reading_switches_the_heater_off_and_raises_the_reason(status, reason):
    # No KRDG? is sent: the protocol would fail on it.
    pairs = [("RDGST? A", f"{status:03d}"), ("RANGE 1,0", None)]
    with expected_protocol(LakeShore336, pairs) as instrument:
        with pytest.raises(InstrumentError) as error:
            controller_on_wire(instrument).read_temperature()
    message = str(error.value)
    assert f"reading status {status}: {reason}" in message
    assert "heater loop 1 switched off" in message


def test_invalid_reading_on_loop_2_switches_loop_2_off():
    pairs = [("RDGST? C", "064"), ("RANGE 2,0", None)]
    with expected_protocol(LakeShore336, pairs) as instrument:
        with pytest.raises(InstrumentError, match="input C: reading status 64: sensor units zero; heater loop 2"):
            controller_on_wire(instrument, input_channel="C", loop=2).read_temperature()


@pytest.mark.parametrize("reply", ["+0.0000", "-1.0000"])
def test_a_valid_status_with_no_temperature_is_treated_as_invalid(reply):
    pairs = [("RDGST? A", "000"), ("KRDG? A", reply), ("RANGE 1,0", None)]
    with expected_protocol(LakeShore336, pairs) as instrument:
        with pytest.raises(InstrumentError, match="heater loop 1 switched off"):
            controller_on_wire(instrument).read_temperature()


def test_invalid_reading_when_the_heater_does_not_answer_says_so():
    wire = SilentAfterPairs([("RDGST? A", "001")], VISA_TIMEOUT)
    wire.fail_writes = True
    temperature = controller_on_wire(LakeShore336(wire))
    with pytest.raises(InstrumentError, match="invalid reading; switching heater loop 1 off FAILED"):
        temperature.read_temperature()


def test_describe_reading_status():
    assert describe_reading_status(0) == "no fault"
    assert describe_reading_status(48) == "temperature under range, temperature over range"


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "config, message",
    [
        ({"input": "E"}, "input must be one of"),
        ({"loop": 3}, "loop must be 1 or 2"),
        ({"heater_range": 4}, "heater_range must be 0, 1, 2 or 3"),
        ({"heater_range": True}, "heater_range must be"),
        ({"ceiling": "-2 K"}, "ceiling must be a positive temperature"),
        ({"ceiling": "2 A"}, "ceiling"),
        ({"heater": 1}, "unknown setting"),
        ({"address": None}, "missing setting 'address'"),
    ],
)
def test_bad_settings_are_user_errors_before_anything_is_opened(config, message):
    context = HardwareContext(visa_library=f"{SIM_FILE}@sim", clock=SimulatedClock())
    block = {"driver": "lakeshore336", "address": SIM_ADDRESS, **config}
    block = {key: value for key, value in block.items() if value is not None}
    with pytest.raises(UserInputError, match=message):
        LakeShore336Temperature.from_config(block, context)
    assert context.closers == []  # nothing was opened


# --------------------------------------------------------------------------- pyvisa-sim smoke


def test_sim_controller_reads_sets_and_switches_off(sim_context):
    temperature = LakeShore336Temperature.from_config(
        {
            "driver": "lakeshore336",
            "address": SIM_ADDRESS,
            "input": "A",
            "loop": 1,
            "heater_range": 2,
            "ceiling": "9 K",
        },
        sim_context,
    )
    temperature.attach_limits(station_limits())
    assert "MODEL336" in temperature.identity()
    assert temperature.read_temperature() == 4.2
    temperature.set_setpoint(5.5)
    assert temperature.read_setpoint() == 5.5
    assert temperature.snapshot()["heater_range"] == 2
    temperature.heater_off()
    assert temperature.snapshot()["heater_range"] == 0
    with pytest.raises(LimitError):
        temperature.set_setpoint(9.5)
    assert temperature.read_setpoint() == 5.5


@pytest.mark.parametrize(
    "reply, message",
    [
        ("3,1,0", "heater loop 1 is in open loop mode"),
        ("1,2,1", "heater loop 1 controls input B"),
    ],
)
def test_sim_controller_whose_loop_is_not_set_up_is_refused_at_connect(tmp_path, clock, reply, message):
    device_file = tmp_path / "lakeshore336.yaml"
    sim_text = SIM_FILE.read_text()
    device_file.write_text(sim_text.replace('{q: "OUTMODE? 1", r: "1,1,1"}', f'{{q: "OUTMODE? 1", r: "{reply}"}}'))
    assert device_file.read_text() != sim_text
    context = HardwareContext(visa_library=f"{device_file}@sim", clock=clock)
    try:
        with pytest.raises(InstrumentError, match=f"^{SIM_ADDRESS}: Lake Shore 336 {message}"):
            LakeShore336Temperature.from_config({"driver": "lakeshore336", "address": SIM_ADDRESS}, context)
    finally:
        context.close()


@pytest.mark.filterwarnings("ignore:read string doesn.t end with termination characters")
def test_nothing_at_the_address_is_an_instrument_error(sim_context):
    with pytest.raises(InstrumentError, match="GPIB0::14::INSTR"):
        LakeShore336Temperature.from_config({"driver": "lakeshore336", "address": "GPIB0::14::INSTR"}, sim_context)


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "pairs, call, message",
    [
        ([("RDGST? A", None)], "read_temperature", r"RDGST\? A: VisaIOError: .*Timeout"),
        ([("RDGST? A", "000"), ("KRDG? A", None)], "read_temperature", r"KRDG\? A: VisaIOError"),
        ([("SETP? 1", None)], "read_setpoint", r"SETP\? 1: VisaIOError"),
        ([("*IDN?", None)], "identity", r"\*IDN\?: VisaIOError"),
        ([("OUTMODE? 1", None)], "check_control_loop", r"OUTMODE\? 1: VisaIOError"),
        ([("OUTMODE? 1", "1,1,0"), ("INTYPE? A", None)], "check_control_loop", r"INTYPE\? A: VisaIOError"),
    ],
)
def test_timeouts_are_instrument_errors_naming_the_exchange(pairs, call, message):
    temperature = controller_on_wire(LakeShore336(SilentAfterPairs(pairs, VISA_TIMEOUT)))
    with pytest.raises(InstrumentError, match=message):
        getattr(temperature, call)()


def test_a_write_that_fails_is_an_instrument_error():
    wire = SilentAfterPairs(loop_checks(), VISA_TIMEOUT)
    wire.fail_writes = True
    with pytest.raises(InstrumentError, match=r"SETP 1 / RANGE 1: VisaIOError"):
        controller_on_wire(LakeShore336(wire)).set_setpoint(4.0)


@pytest.mark.parametrize(
    "pairs, call, message",
    [
        (
            [("RDGST? A", "000"), ("KRDG? A", "T_OVER")],
            "read_temperature",
            "KRDG\\? A: the controller answered 'T_OVER'",
        ),
        ([("RDGST? A", "000"), ("KRDG? A", "+4.2,+4.3")], "read_temperature", "not a number"),
        ([("RDGST? A", "ok")], "read_temperature", "RDGST\\? A"),
        ([("SETP? 1", "")], "read_setpoint", "SETP\\? 1"),
        ([("SETP? 1", "nan")], "read_setpoint", "not a number"),
        ([("OUTMODE? 1", "1,1")], "check_control_loop", "OUTMODE\\? 1: the controller answered '1,1', not 3 whole"),
        ([("OUTMODE? 1", "1,A,0")], "check_control_loop", "OUTMODE\\? 1: the controller answered '1,A,0'"),
        ([("OUTMODE? 1", "")], "check_control_loop", "OUTMODE\\? 1: the controller answered '', not 3"),
        (
            [("OUTMODE? 1", "1,1,0"), ("INTYPE? A", "3,1,0,1,K")],
            "check_control_loop",
            "INTYPE\\? A: the controller answered '3,1,0,1,K', not 5 whole numbers",
        ),
        ([("OUTMODE? 1", "1,1,0"), ("INTYPE? A", "1.0")], "check_control_loop", "INTYPE\\? A"),
    ],
)
def test_garbage_replies_are_instrument_errors(pairs, call, message):
    with expected_protocol(LakeShore336, pairs) as instrument:
        with pytest.raises(InstrumentError, match=message):
            getattr(controller_on_wire(instrument), call)()


def test_garbage_heater_range_in_the_snapshot_is_an_instrument_error():
    pairs = [("*IDN?", IDN), ("RDGST? A", "000"), ("KRDG? A", "+4.2000"), ("HTRST? 1", "0"), ("SETP? 1", "+4.0000"),
             ("RANGE? 1", "7")]
    with expected_protocol(LakeShore336, pairs) as instrument:
        temperature = controller_on_wire(instrument)
        with pytest.raises(InstrumentError, match="RANGE\\? 1"):
            temperature.snapshot()


# --------------------------------------------------------------------------- real instrument

REAL_ADDRESS = os.environ.get("SQM_LAKESHORE336_ADDRESS")


@pytest.mark.skipif(not REAL_ADDRESS, reason="set SQM_LAKESHORE336_ADDRESS to test a real Lake Shore 336")
def test_real_336_identifies_and_reads_without_changing_anything():
    context = HardwareContext(visa_library=os.environ.get("SQM_VISA_LIBRARY", ""), clock=RealClock())
    try:
        temperature = LakeShore336Temperature.from_config(
            {
                "driver": "lakeshore336",
                "address": REAL_ADDRESS,
                "input": os.environ.get("SQM_LAKESHORE336_INPUT", "A"),
                "loop": int(os.environ.get("SQM_LAKESHORE336_LOOP", "1")),
            },
            context,
        )
        assert "MODEL336" in temperature.identity().replace(" ", "")
        assert temperature.read_temperature() > 0
        assert np.isfinite(temperature.read_setpoint())
    finally:
        context.close()
