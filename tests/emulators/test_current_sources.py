"""What the Keithley 6221 and the Yokogawa GS200 drivers do alike against their emulators,
each test run for both from the table of what differs between them: the role's ramps move
the world's bias current through the wire in steps no faster than the rate, from the level
the instrument holds; the output switches the world's bias on and off, and off programs
0 A; the station limits refuse before anything is sent; the instrument refuses what is
beyond its range (never clamping), and its errors, a hung instrument and a garbled reply
reach the operator as one InstrumentError."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from sqm.drivers.scpi import check_error_queue
from sqm.emulators.faults import Fault
from sqm.errors import InstrumentError, LimitError
from sqm.pacing import CleanupPacer

from .current_sources import FAST, RATE, UA, open_source, record_bias, visa_timeouts_ms, world_bias


@dataclass(frozen=True)
class CurrentSource:
    """What differs between the two sources, as the tests below meet it."""

    driver: str
    name: str  # the instrument's name in the driver's messages
    level_query: str  # the query the role reads the level with
    set_level: str  # the command that programs a level (A), as from the front panel
    reset_compliance: float  # V, the instrument's own after *RST
    error_entry: str  # what the instrument reports for the error_entry fault
    unknown: tuple[str, str]  # two commands it does not know
    out_of_range: tuple[str, ...]  # commands with a value beyond its range
    kept: tuple[tuple[str, str], ...] = ()  # (query, answer): what those commands must leave as it was

    def __str__(self) -> str:
        return self.driver


KEITHLEY_6221 = CurrentSource(
    driver="keithley6221", name="Keithley 6221", level_query=":SOUR:CURR?", set_level=":SOUR:CURR {:g}",
    reset_compliance=10.0, error_entry='-315,"Configuration memory lost"', unknown=(":SOUR:VOLT 1", ":SOUR:BOGUS 1"),
    out_of_range=(":SOUR:CURR 0.2", ":SOUR:CURR -0.11", ":SOUR:CURR nan", ":SOUR:CURR:COMP 0.05",
                  ":SOUR:CURR:COMP 200", "OUTPut 2"),
)
YOKOGAWA_GS200 = CurrentSource(
    driver="yokogawa_gs200", name="Yokogawa GS200", level_query=":SOURce:LEVel?", set_level="SOURce:LEVel {:g}",
    reset_compliance=30.0, error_entry='-314,"Save/recall memory lost"', unknown=("SOURce:BOGus 1", "SOURce:BOGus 1"),
    out_of_range=("SOURce:LEVel 1.3e-3", "SOURce:LEVel -0.005", "SOURce:LEVel inf", "SOURce:PROTection:VOLTage 0.5",
                  "SOURce:PROTection:VOLTage 31", "SOURce:RANGe 5e-3", "SOURce:FUNCtion VOLT", "OUTPut:STATe 2"),
    kept=((":SOURce:RANGe?", "1E-03"), (":SOURce:FUNCtion?", "CURR")),
)
SOURCES = [KEITHLEY_6221, YOKOGAWA_GS200]


@pytest.fixture(params=SOURCES, ids=str)
def instrument(request) -> CurrentSource:
    return request.param


@pytest.fixture
def source(bench, instrument):
    return open_source(bench, instrument.driver)


@pytest.mark.parametrize("target", [40 * UA, -40 * UA])
def test_a_ramp_switches_on_at_the_configured_compliance_and_steps_the_worlds_bias_to_the_target(source, target):
    given = record_bias(source)
    source.role.ramp_to(target, CleanupPacer(source.clock))
    assert world_bias(source) == (pytest.approx(target), True)
    assert source.role.read_compliance() == 1.5 and source.role.output_enabled() is True
    levels = [amps for _, amps in given]
    assert levels[0] == 0.0  # switched on at the programmed 0 A
    assert len(levels) == 21 and levels[-1] == pytest.approx(target)  # then steps of rate x 0.1 s = 2 uA
    toward = 1 if target > 0 else -1
    assert all(0 < (b - a) * toward <= 2 * UA * 1.000001 for a, b in zip(levels, levels[1:]))
    assert all(abs(b - a) <= RATE * (t2 - t1) * 1.001 for (t1, a), (t2, b) in zip(given, given[1:]))


def test_a_ramp_starts_from_the_level_the_instrument_holds(source, instrument):
    pacer = CleanupPacer(source.clock)
    source.role.ramp_to(40 * UA, pacer, FAST)
    source.role.instrument.write(instrument.set_level.format(30 * UA))  # changed behind the role's back (front panel)
    assert source.role.read_current() == pytest.approx(30 * UA)  # (answered after the write: in step)
    assert world_bias(source)[0] == pytest.approx(30 * UA)
    given = record_bias(source)
    source.role.ramp_to(-10 * UA, pacer)
    levels = [amps for _, amps in given]
    assert levels[0] == pytest.approx(28 * UA) and levels[-1] == pytest.approx(-10 * UA) and len(levels) == 20
    assert all(b < a for a, b in zip(levels, levels[1:]))
    assert world_bias(source) == (pytest.approx(-10 * UA), True)


@pytest.mark.parametrize("target", [400 * UA, -1e-3, 0.2, float("nan")])
def test_a_setpoint_outside_the_station_limits_is_refused_before_any_command(source, target):
    sent = source.server.messages
    with pytest.raises(LimitError):
        source.role.ramp_to(target, CleanupPacer(source.clock))
    assert source.server.messages == sent
    assert world_bias(source) == (0.0, False)


def test_after_an_emergency_stop_the_source_reads_zero_and_ramps_again_from_zero(source):
    """Found by the emulator: the 6221 (and the GS200 alike) keeps its programmed level with
    the output off, so after an emergency stop the role read 30 uA from a source delivering
    nothing and refused every ramp until someone zeroed it at the front panel. Switching off
    now programs 0 A too: the station is usable again, and switching on never sources the old level."""
    source.role.ramp_to(30 * UA, CleanupPacer(source.clock), FAST)
    source.role.emergency_stop()  # off without a ramp
    assert world_bias(source) == (0.0, False)
    assert source.role.read_current() == 0.0
    given = record_bias(source)
    source.role.ramp_to(10 * UA, CleanupPacer(source.clock))
    levels = [amps for _, amps in given]
    assert levels[0] == 0.0 and max(levels) == pytest.approx(10 * UA)  # from zero, never the old 30 uA
    assert world_bias(source) == (pytest.approx(10 * UA), True)


def test_safe_state_ramps_to_zero_then_switches_off(source):
    pacer = CleanupPacer(source.clock)
    source.role.ramp_to(-10 * UA, pacer, FAST)
    given = record_bias(source)
    source.role.safe_state(pacer)
    assert world_bias(source) == (0.0, False)
    assert source.role.read_current() == 0.0 and source.role.output_enabled() is False
    # the ramp, switched off, then 0 A programmed (the level is never left behind the output)
    assert [amps for _, amps in given] == pytest.approx([-8 * UA, -6 * UA, -4 * UA, -2 * UA, 0.0, 0.0, 0.0])


@pytest.mark.parametrize("instrument, command", [(each, command) for each in SOURCES for command in each.out_of_range],
                         ids=str, indirect=["instrument"])
def test_the_instrument_refuses_what_is_beyond_its_range_and_never_clamps(source, instrument, command):
    source.role.ramp_to(20 * UA, CleanupPacer(source.clock), FAST)
    source.role.instrument.write(command)
    with pytest.raises(InstrumentError, match=f'{instrument.name} .* reports: -222,"Data out of range"'):
        check_error_queue(source.role.instrument, source.role.name)
    assert source.role.read_current() == pytest.approx(20 * UA) and source.role.read_compliance() == 1.5
    for query, answer in instrument.kept:
        assert source.role.instrument.ask(query).strip() == answer
    assert source.role.output_enabled() is True and world_bias(source) == (pytest.approx(20 * UA), True)


def test_an_unknown_command_queues_an_error_and_cls_clears_the_queue(source, instrument):
    first, second = instrument.unknown
    source.role.instrument.write(first)
    with pytest.raises(InstrumentError, match='reports: -113,"Undefined header"'):
        check_error_queue(source.role.instrument, source.role.name)
    source.role.instrument.write(second)
    source.role.instrument.write("*CLS")
    check_error_queue(source.role.instrument, source.role.name)


def test_rst_switches_the_output_off_and_restores_the_reset_settings(source, instrument):
    source.role.ramp_to(20 * UA, CleanupPacer(source.clock), FAST)
    source.role.instrument.write("*RST")
    assert source.role.read_current() == 0.0 and source.role.read_compliance() == instrument.reset_compliance
    assert world_bias(source) == (0.0, False)


def test_an_error_the_instrument_queues_stops_the_ramp_before_the_output_is_on(source, instrument):
    source.server.add_fault(Fault("error_entry", at=0.0))
    with pytest.raises(InstrumentError, match=f"{instrument.name} .* reports: {instrument.error_entry}"):
        source.role.ramp_to(20 * UA, CleanupPacer(source.clock))
    assert world_bias(source) == (0.0, False)


def test_a_hung_instrument_is_a_timeout_within_the_drivers_timeout(bench, instrument):
    source = open_source(bench, instrument.driver, {"timeout": "0.3 s"})
    assert visa_timeouts_ms(source) == [300]  # the block's setting is the connection's VISA timeout
    source.server.add_fault(Fault("no_reply", at=0.0))
    told = rf"{instrument.name} .*\({re.escape(instrument.level_query)}\).*(?i:timeout)"  # naming the query
    with pytest.raises(InstrumentError, match=told):
        source.role.read_current()


def test_without_the_setting_the_timeout_is_the_drivers_default_of_5_s(source):
    assert visa_timeouts_ms(source) == [5000]


def test_a_garbled_reply_is_one_line_naming_the_command(source, instrument):
    source.server.add_fault(Fault("garbage", at=0.0))
    with pytest.raises(InstrumentError, match=f"{instrument.name} .*{re.escape(instrument.level_query)}") as raised:
        source.role.read_current()
    assert "\n" not in str(raised.value)
    assert source.role.read_current() == 0.0  # the next reply is the instrument's again
