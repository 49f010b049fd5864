"""Lake Shore 336 temperature-controller adapter.

1. Exact wire traffic of every command the adapter sends (expected_protocol: a pair
   left unused, or a message not in the list, fails the test).
2. Station limits and the controller's own ceiling: a grid of setpoints is either sent
   exactly or refused with nothing sent.
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


def controller_on_wire(instrument, **settings) -> LakeShore336Temperature:
    temperature = LakeShore336Temperature(instrument, **settings)
    temperature.attach_limits(station_limits())
    return temperature


# --------------------------------------------------------------------------- wire traffic


def test_connect_reads_the_identity():
    with expected_protocol(LakeShore336, [("*IDN?", IDN)]) as instrument:
        controller_on_wire(instrument).connect()


@pytest.mark.parametrize("identity", ["LSCI,MODEL350,1234567/1234567,1.0", "LSCI,MODEL340,123,1.0", "KEITHLEY,2182A"])
def test_connect_refuses_another_model_whose_heater_ranges_mean_other_powers(identity):
    with expected_protocol(LakeShore336, [("*IDN?", identity)]) as instrument:
        with pytest.raises(InstrumentError, match="expected a Lake Shore Model 336"):
            controller_on_wire(instrument).connect()


@pytest.mark.parametrize("input_channel", ["A", "B", "C", "D"])
def test_read_temperature_checks_the_reading_status_first(input_channel):
    pairs = [(f"RDGST? {input_channel}", "000"), (f"KRDG? {input_channel}", "+4.2310")]
    with expected_protocol(LakeShore336, pairs) as instrument:
        assert controller_on_wire(instrument, input_channel=input_channel).read_temperature() == 4.231


@pytest.mark.parametrize("loop", [1, 2])
def test_read_setpoint(loop):
    with expected_protocol(LakeShore336, [(f"SETP? {loop}", "+6.5000")]) as instrument:
        assert controller_on_wire(instrument, loop=loop).read_setpoint() == 6.5


@pytest.mark.parametrize("loop, heater_range", [(1, 1), (1, 3), (2, 2), (2, 0)])
def test_set_setpoint_sends_the_setpoint_then_the_configured_heater_range(loop, heater_range):
    pairs = [(f"SETP {loop},5.250000", None), (f"RANGE {loop},{heater_range}", None)]
    with expected_protocol(LakeShore336, pairs) as instrument:
        controller_on_wire(instrument, loop=loop, heater_range=heater_range).set_setpoint(5.25)


@pytest.mark.parametrize("loop", [1, 2])
def test_heater_off(loop):
    with expected_protocol(LakeShore336, [(f"RANGE {loop},0", None)]) as instrument:
        controller_on_wire(instrument, loop=loop).heater_off()


def test_identity_and_snapshot():
    pairs = [
        ("*IDN?", IDN),
        ("RDGST? B", "000"),
        ("KRDG? B", "+1.5020"),
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


def test_safe_state_sends_nothing():
    with expected_protocol(LakeShore336, []) as instrument:
        controller_on_wire(instrument).safe_state(pacer=None)


# --------------------------------------------------------------------------- limits

SETPOINT_GRID = np.round(np.arange(0.5, 15.01, 0.5), 3)


@pytest.mark.parametrize("kelvin", SETPOINT_GRID, ids=lambda k: f"{k:g}K")
def test_setpoint_grid_is_sent_exactly_or_refused_with_nothing_sent(kelvin):
    inside = 1.4 <= kelvin <= 10.0  # the station file's temperature limits
    pairs = [(f"SETP 1,{kelvin:f}", None), ("RANGE 1,1", None)] if inside else []
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
    ],
)
def test_timeouts_are_instrument_errors_naming_the_exchange(pairs, call, message):
    temperature = controller_on_wire(LakeShore336(SilentAfterPairs(pairs, VISA_TIMEOUT)))
    with pytest.raises(InstrumentError, match=message):
        getattr(temperature, call)()


def test_a_write_that_fails_is_an_instrument_error():
    wire = SilentAfterPairs([], VISA_TIMEOUT)
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
    ],
)
def test_garbage_replies_are_instrument_errors(pairs, call, message):
    with expected_protocol(LakeShore336, pairs) as instrument:
        with pytest.raises(InstrumentError, match=message):
            getattr(controller_on_wire(instrument), call)()


def test_garbage_heater_range_in_the_snapshot_is_an_instrument_error():
    pairs = [("*IDN?", IDN), ("RDGST? A", "000"), ("KRDG? A", "+4.2000"), ("SETP? 1", "+4.0000"), ("RANGE? 1", "7")]
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
