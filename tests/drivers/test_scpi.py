"""The helpers every VISA adapter shares (sqm.drivers.scpi, and the wire log of sqm.drivers.base).

1. The wire log: every message written and every reply read is a DEBUG record on the
   driver module's logger, "<instrument> -> <message>" / "<instrument> <- <reply>";
   the VISA resource is named; a password is never logged; nothing is formatted while
   DEBUG is off.
2. The shared conventions: the timeout setting, the identity check, the error-entry
   parser and the two wordings of a bad reply.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pymeasure.instruments.keithley import Keithley6221
from pymeasure.test import expected_protocol

from sqm.clock import SimulatedClock
from sqm.drivers.anc300 import ANC300Console
from sqm.drivers.base import CAST_NUMBER, NUMBER, HardwareContext, log_exchanges
from sqm.drivers.keithley import Keithley6221Source
from sqm.drivers.lakeshore336 import LakeShore336Temperature
from sqm.drivers.scpi import check_identity, error_entry, query, timeout_ms
from sqm.errors import InstrumentError, UserInputError

from .test_anc300 import AXES, LOGIN, scanner_on

REPO = Path(__file__).resolve().parents[2]
IDN_6221 = "KEITHLEY INSTRUMENTS INC.,MODEL 6221,4143210,D04 /700x"
NO_ERROR = ("SYST:ERR?", '0,"No error"')


def wire_lines(caplog, logger: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == logger]


# --------------------------------------------------------------------------- the wire log


def test_every_message_and_reply_of_an_exchange_is_logged_at_debug(caplog):
    caplog.set_level(logging.DEBUG, logger="sqm.drivers")
    pairs = [("*IDN?", IDN_6221), NO_ERROR, (":SOUR:CURR 1e-06", None), NO_ERROR]
    with expected_protocol(Keithley6221, pairs) as instrument:
        source = Keithley6221Source(instrument)
        caplog.clear()
        source._apply_current(1e-6)
    assert wire_lines(caplog, "sqm.drivers.keithley") == [
        "Keithley 6221 -> ':SOUR:CURR 1e-06'",
        "Keithley 6221 -> 'SYST:ERR?'",
        "Keithley 6221 <- '0,\"No error\"'",
    ]
    assert {record.levelno for record in caplog.records} == {logging.DEBUG}


def test_the_connection_exchanges_are_logged_too(caplog):
    caplog.set_level(logging.DEBUG, logger="sqm.drivers")
    with expected_protocol(Keithley6221, [("*IDN?", IDN_6221), NO_ERROR]) as instrument:
        Keithley6221Source(instrument)
    assert wire_lines(caplog, "sqm.drivers.keithley") == [
        "Keithley 6221 -> '*IDN?'",
        f"Keithley 6221 <- {IDN_6221!r}",
        "Keithley 6221 -> 'SYST:ERR?'",
        "Keithley 6221 <- '0,\"No error\"'",
    ]


def test_nothing_is_logged_while_debug_is_off(caplog):
    caplog.set_level(logging.INFO, logger="sqm.drivers")
    with expected_protocol(Keithley6221, [("*IDN?", IDN_6221), NO_ERROR]) as instrument:
        Keithley6221Source(instrument)
    assert wire_lines(caplog, "sqm.drivers.keithley") == []


def test_the_log_names_the_visa_resource_of_an_adapter_built_from_a_station_file(caplog):
    caplog.set_level(logging.DEBUG, logger="sqm.drivers")
    sim_file = REPO / "drivers" / "sim" / "lakeshore336.yaml"
    context = HardwareContext(visa_library=f"{sim_file}@sim", clock=SimulatedClock())
    try:
        temperature = LakeShore336Temperature.from_config(
            {"driver": "lakeshore336", "address": "GPIB0::13::INSTR"}, context
        )
        caplog.clear()
        temperature.identity()
    finally:
        context.close()
    lines = wire_lines(caplog, "sqm.drivers.lakeshore336")
    assert lines[0] == "Lake Shore 336 at GPIB0::13::INSTR -> '*IDN?'"
    assert lines[1].startswith("Lake Shore 336 at GPIB0::13::INSTR <- 'LSCI,MODEL336")


def test_a_password_is_never_logged(caplog):
    caplog.set_level(logging.DEBUG, logger="sqm.drivers")
    with expected_protocol(ANC300Console, LOGIN, query_delay=0) as console:
        scanner_on(console, axes=AXES)  # the scanner logs its console's wire from now on
        console.login("secret")
    lines = wire_lines(caplog, "sqm.drivers.anc300")
    assert lines == ["ANC300 <- 'Authorization success'", "ANC300 -> 'echo off'", "ANC300 <- '> echo off'",
                     "ANC300 <- 'OK'"]
    assert not any("secret" in line or "******" in line for line in lines)


class FakeTask:
    """Stands in for an NI-DAQmx task: what the wire log sees of one."""

    def __init__(self) -> None:
        self.written = []

    def write(self, data, auto_start=False):
        self.written.append(data)

    def read(self, number_of_samples_per_channel=1):
        return [0.5] * number_of_samples_per_channel


def test_a_task_is_logged_with_long_data_shortened(caplog):
    caplog.set_level(logging.DEBUG, logger="sqm.drivers")
    task = FakeTask()
    log_exchanges(task, "NI-DAQ Dev1 move x", logging.getLogger("sqm.drivers.nidaq"))
    task.write([1.0, 2.0], auto_start=True)
    assert task.read(number_of_samples_per_channel=1000) == [0.5] * 1000  # the reply itself is untouched
    assert task.written == [[1.0, 2.0]]
    first, second = wire_lines(caplog, "sqm.drivers.nidaq")
    assert first == "NI-DAQ Dev1 move x -> [1.0, 2.0]"
    assert second.startswith("NI-DAQ Dev1 move x <- [0.5, 0.5") and second.endswith("...]") and len(second) < 100


def test_logging_twice_renames_without_logging_each_message_twice(caplog):
    caplog.set_level(logging.DEBUG, logger="sqm.drivers")
    task = FakeTask()
    log_exchanges(task, "first", logging.getLogger("sqm.drivers.nidaq"))
    log_exchanges(task, "second", logging.getLogger("sqm.drivers.nidaq"))
    task.write(1.0)
    assert wire_lines(caplog, "sqm.drivers.nidaq") == ["second -> 1.0"]


# --------------------------------------------------------------------------- the shared conventions


@pytest.mark.parametrize("config, expected", [({}, 5000), ({"timeout": "250 ms"}, 250), ({"timeout": 2}, 2000)])
def test_the_timeout_setting_in_ms(config, expected):
    assert timeout_ms(config) == expected


@pytest.mark.parametrize("value", [0, "-1 s"])
def test_a_timeout_that_is_not_positive_is_refused(value):
    with pytest.raises(UserInputError, match="timeout must be positive"):
        timeout_ms({"timeout": value})


def test_the_identity_check_takes_a_pattern_or_a_test():
    identity = "LSCI,MODEL 336,1234567,2.9"
    assert check_identity(identity, r"MODEL\s*336", lambda found: "no") == identity
    assert check_identity(identity, lambda found: "336" in found, lambda found: "no") == identity
    with pytest.raises(InstrumentError, match=r"^wrong: 'LSCI,MODEL 336,1234567,2.9'$"):
        check_identity(identity, "MODEL350", lambda found: f"wrong: {found!r}")


@pytest.mark.parametrize(
    "reply, entry",
    [('0,"No error"', (0, '"No error"')), ('-222,"Data out of range"\n', (-222, '"Data out of range"')),
     ("+0,No error", (0, "No error"))],
)
def test_the_error_entry_parser(reply, entry):
    assert error_entry(reply) == entry


@pytest.mark.parametrize("reply", ["", "ERROR", '1.5,"half"', 'nan,"x"'])
def test_the_error_entry_parser_refuses_anything_else(reply):
    with pytest.raises(ValueError):
        error_entry(reply)


def test_a_bad_reply_is_worded_after_who_answered():
    with pytest.raises(InstrumentError, match=r"^X: COIL\? answered 'abc', expected a number$"):
        query("X: read it (COIL?)", lambda: "abc", NUMBER, reply_of="X: COIL?")
    with pytest.raises(InstrumentError, match=r"^X: COIL\?: the supply answered 'abc', not a number$"):
        query("X: COIL?", lambda: "abc", CAST_NUMBER, source="supply")


def test_a_failing_exchange_names_what_was_being_done():
    def timeout():
        raise TimeoutError("no reply")

    with pytest.raises(InstrumentError, match=r"^X: read it \(COIL\?\): TimeoutError: no reply$"):
        query("X: read it (COIL?)", timeout)
