"""AMI 430 magnet power-supply adapter.

1. Exact wire traffic of every command the adapter sends (expected_protocol: a pair left
   unused, or a message not in the list, fails the test).
2. The grid (after QCoDeS's AMI430 test): field targets from -30 G to +30 G against the
   default station's limits and the magnet's current limit; each target either ramps
   (state, present field, then the ramp commands with that target) or is refused with
   nothing sent. Refusals when quenched, persistent or in an unexpected state.
3. Abort and faults during a ramp send PAUSE; faults are InstrumentErrors with a reason.
4. Persistent switch: preconditions and wire.
5. Smoke through pyvisa-sim (drivers/sim/ami430.yaml).
6. The real instrument (read-only), only when SQM_AMI430_ADDRESS is set.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import yaml
from pymeasure.adapters.protocol import ProtocolAdapter
from pymeasure.test import expected_protocol
from pyvisa.constants import StatusCode
from pyvisa.errors import VisaIOError

from sqm.clock import RealClock, SimulatedClock
from sqm.drivers.ami430 import AMI430Magnet, AMI430Supply
from sqm.drivers.backend import _adapter_class
from sqm.drivers.base import HardwareContext
from sqm.errors import AbortRequested, InstrumentError, LimitError, UserInputError
from sqm.limits import StationLimits
from sqm.pacing import CleanupPacer
from sqm.roles import MagnetState

REPO = Path(__file__).resolve().parents[2]
SIM_FILE = REPO / "drivers" / "sim" / "ami430.yaml"
SIM_ADDRESS = "TCPIP::localhost::7180::SOCKET"
GAUSS = 1e-4  # T

IDN = "AMERICAN MAGNETICS INC.,MODEL 430,1234-5,2.01"
COIL_T_PER_A = 0.118
STATION_RATE = "0.00005"  # the default station's field ramp rate, 0.5 G/s, in T/s on the wire
NO_ERRORS = ("SYST:ERR?", '0,"No errors"')
HOLDING = [("STATE?", "2"), ("QU?", "0")]
RAMPING = [("STATE?", "1"), ("QU?", "0")]


def station_limits() -> StationLimits:
    """The limits of the default station file (|B| <= 20 G, 0.5 G/s by default, 2 G/s at most)."""
    data = yaml.safe_load((REPO / "configs" / "stations" / "sim.yaml").read_text())
    return StationLimits.from_mapping(data["limits"])


def tesla_on_wire(gauss: float) -> str:
    """How a field in G is written to the 430, in T: a plain decimal (computed independently of the driver)."""
    text = format((Decimal(repr(float(gauss))) / 10000).normalize(), "f")
    return text if "." in text else text + ".0"


def connect_pairs(coil: str = "0.118", supply_limit: str = "50.0") -> list:
    return [
        ("*IDN?", IDN),
        ("CONF:FIELD:UNITS 1", None),
        ("CONF:RAMP:RATE:UNITS 0", None),
        ("FIELD:UNITS?", "1"),
        ("RAMP:RATE:UNITS?", "0"),
        ("COIL?", coil),
        ("CURR:LIMIT?", supply_limit),
    ]


def before_ramp(present: str = "0.0", state: str = "2") -> list:
    """What the role reads before it commands a ramp: state, quench flag, persistence, present field."""
    return [("STATE?", state), ("QU?", "0"), ("PERSistent?", "0"), ("FIELD:MAG?", present)]


def ramp_commands(target: str, rate: str = STATION_RATE, upper: str = "5.9") -> list:
    return [
        ("FIELD:UNITS?", "1"),
        ("RAMP:RATE:UNITS?", "0"),
        ("*CLS", None),
        ("CONF:RAMP:RATE:SEG 1", None),
        (f"CONF:RAMP:RATE:FIELD 1,{rate},{upper}", None),
        (f"CONF:FIELD:TARG {target}", None),
        NO_ERRORS,
        ("RAMP", None),
    ]


def arrives(target: str) -> list:
    """The poll that ends a ramp: holding, and the field reads the target."""
    return HOLDING + [("FIELD:MAG?", target)]


def in_state(code: str) -> list:
    """The reads before a ramp that the state then refuses: state, quench flag, persistence."""
    return [("STATE?", code), ("QU?", "0"), ("PERSistent?", "0")]


def magnet_on_wire(instrument, connect: bool = True, **settings) -> AMI430Magnet:
    settings = {"coil_constant": COIL_T_PER_A, "current_limit": 50.0, "max_ramp_rate": 0.036, **settings}
    magnet = AMI430Magnet(instrument, **settings)
    magnet.attach_limits(station_limits())
    if connect:
        magnet.connect()
    return magnet


def pacer() -> CleanupPacer:
    return CleanupPacer(SimulatedClock())


class AbortOnWait:
    """A pacer on a simulated clock whose `abort_at`-th wait raises AbortRequested (the operator's stop)."""

    def __init__(self, abort_at: int) -> None:
        self.clock = SimulatedClock()
        self.abort_at = abort_at
        self.waits = 0

    def now(self) -> float:
        return self.clock.now()

    def wait(self, seconds: float) -> None:
        self.waits += 1
        if self.waits == self.abort_at:
            raise AbortRequested("operator pressed stop")
        self.clock.sleep(seconds)


def nothing_sent_since(instrument, index: int) -> bool:
    wire = instrument.adapter
    return wire._index == index and wire._write_buffer is None and wire._read_buffer is None


# --------------------------------------------------------------------------- connect


def test_the_welcome_lines_are_read_only_when_asked_for():
    welcome = [(None, "American Magnetics Model 430 IP Interface"), (None, "Hello.")]
    with expected_protocol(AMI430Supply, welcome, welcome_lines=2) as supply:
        assert supply.welcome == ["American Magnetics Model 430 IP Interface", "Hello."]
    with expected_protocol(AMI430Supply, [], welcome_lines=0) as supply:
        assert supply.welcome == []


def test_connect_sets_and_verifies_tesla_and_seconds_then_reads_coil_and_limit():
    with expected_protocol(AMI430Supply, connect_pairs(coil="0.1185", supply_limit="45.0")) as instrument:
        magnet = magnet_on_wire(instrument)
    assert magnet.supply_coil_constant == 0.1185
    assert magnet.supply_current_limit == 45.0
    assert magnet.current_limit_in_force == 45.0  # the smaller of station file (50 A) and supply
    assert magnet.field_limit == pytest.approx(0.1185 * 45.0)
    assert magnet.max_field_ramp_rate == pytest.approx(0.1185 * 0.036)


@pytest.mark.parametrize(
    "replace, message",
    [
        ({0: ("*IDN?", "AMERICAN MAGNETICS INC.,MODEL 420,1,1.0")}, "not an AMI Model 430"),
        ({3: ("FIELD:UNITS?", "0")}, "field units are 'kilogauss', not tesla"),
        ({4: ("RAMP:RATE:UNITS?", "1")}, "ramp rates are per 'minutes', not per second"),
        ({5: ("COIL?", "0.12")}, r"COIL\? says 0.12 T/A, the station file 0.118 T/A \(more than 1% apart\)"),
        ({5: ("COIL?", "0.1168")}, "more than 1% apart"),
        ({5: ("COIL?", "-0.118")}, "COIL"),
        ({6: ("CURR:LIMIT?", "0.0")}, r"CURR:LIMIT\? says 0 A"),
    ],
)
def test_connect_refuses_a_supply_unlike_the_station_file(replace, message):
    pairs = connect_pairs()
    for index, pair in replace.items():
        pairs[index] = pair
    (last,) = [index for index in replace]
    with expected_protocol(AMI430Supply, pairs[: last + 1]) as instrument:
        with pytest.raises(InstrumentError, match=message):
            magnet_on_wire(instrument)


def test_nothing_moves_before_connect():
    with expected_protocol(AMI430Supply, []) as instrument:
        magnet = magnet_on_wire(instrument, connect=False)
        with pytest.raises(InstrumentError, match="not connected"):
            magnet.ramp_to(5 * GAUSS, pacer())
        with pytest.raises(InstrumentError, match="not connected"):
            magnet.read_field()


# --------------------------------------------------------------------------- readings


def test_readings_and_their_wire():
    pairs = connect_pairs() + [
        ("FIELD:MAG?", "0.0012345"),
        ("PERSistent?", "1"),
        ("PSwitch?", "0"),
        ("*IDN?", IDN),
    ]
    with expected_protocol(AMI430Supply, pairs) as instrument:
        magnet = magnet_on_wire(instrument)
        assert magnet.read_field() == 0.0012345
        assert magnet.is_persistent() is True
        assert magnet.switch_heater_on() is False
        assert magnet.identity() == IDN


@pytest.mark.parametrize(
    "code, state",
    [
        (1, MagnetState.RAMPING),
        (2, MagnetState.HOLDING),
        (3, MagnetState.PAUSED),
        (4, MagnetState.OTHER),
        (5, MagnetState.OTHER),
        (6, MagnetState.OTHER),
        (8, MagnetState.AT_ZERO),
        (9, MagnetState.HEATING_SWITCH),
        (10, MagnetState.COOLING_SWITCH),
    ],
)
def test_state_codes_map_to_the_role_states_after_the_quench_flag(code, state):
    with expected_protocol(AMI430Supply, [("STATE?", str(code)), ("QU?", "0")]) as instrument:
        assert magnet_on_wire(instrument, connect=False).state() is state


def test_state_7_is_a_quench_without_asking_qu():
    with expected_protocol(AMI430Supply, [("STATE?", "7")]) as instrument:
        assert magnet_on_wire(instrument, connect=False).state() is MagnetState.QUENCH


def test_a_latched_quench_flag_is_a_quench_whatever_the_state_says():
    with expected_protocol(AMI430Supply, [("STATE?", "2"), ("QU?", "1")]) as instrument:
        assert magnet_on_wire(instrument, connect=False).state() is MagnetState.QUENCH


def test_snapshot():
    pairs = connect_pairs() + [
        ("*IDN?", IDN),
        ("FIELD:MAG?", "0.0015"),
        *HOLDING,
        ("PERSistent?", "0"),
        ("PSwitch?", "1"),
        ("COIL?", "0.118"),
        ("RAMP:RATE:FIELD:1?", "0.00005,5.9"),
    ]
    with expected_protocol(AMI430Supply, pairs) as instrument:
        snapshot = magnet_on_wire(instrument).snapshot()
    assert snapshot == {
        "identity": IDN,
        "field_T": 0.0015,
        "state": "holding",
        "persistent": False,
        "switch_heater_on": True,
        "supply_state": "holding",
        "coil_constant_T_per_A": 0.118,
        "ramp_rate_T_per_s": 5e-5,
        "ramp_upper_bound_T": 5.9,
        "current_limit_A": 50.0,
        "supply_current_limit_A": 50.0,
        "max_ramp_rate_A_per_s": 0.036,
    }


# --------------------------------------------------------------------------- ramps on the wire


def test_a_ramp_reads_state_and_field_then_configures_checks_and_ramps_then_waits_for_holding():
    pairs = (
        connect_pairs()
        + before_ramp(present="0.0005")
        + ramp_commands("0.0015")
        + RAMPING
        + RAMPING
        + HOLDING
        + [("FIELD:MAG?", "0.0015")]
    )
    clock_pacer = pacer()
    with expected_protocol(AMI430Supply, pairs) as instrument:
        magnet_on_wire(instrument).ramp_to(15 * GAUSS, clock_pacer)
    assert clock_pacer.now() == pytest.approx(1.5)  # three polls, 0.5 s apart


@pytest.mark.parametrize("state", ["3", "8"], ids=["paused", "at-zero"])
def test_a_ramp_may_start_from_paused_or_at_zero(state):
    pairs = connect_pairs() + before_ramp(state=state) + ramp_commands("-0.0002") + arrives("-0.0002")
    with expected_protocol(AMI430Supply, pairs) as instrument:
        magnet_on_wire(instrument).ramp_to(-2 * GAUSS, pacer())


def test_a_ramp_at_an_explicit_rate_sends_that_rate():
    pairs = connect_pairs() + before_ramp() + ramp_commands("0.001", rate="0.00015") + arrives("0.001")
    with expected_protocol(AMI430Supply, pairs) as instrument:
        magnet_on_wire(instrument).ramp_to(10 * GAUSS, pacer(), rate=1.5 * GAUSS)


def test_the_segment_upper_bound_is_the_field_at_the_current_limit_in_force():
    ramp = ramp_commands("0.001", upper="0.00118")  # 0.118 T/A * 10 mA
    pairs = connect_pairs(supply_limit="0.01") + before_ramp() + ramp + arrives("0.001")
    with expected_protocol(AMI430Supply, pairs) as instrument:
        magnet_on_wire(instrument).ramp_to(10 * GAUSS, pacer())


# --------------------------------------------------------------------------- the grid

FIELD_GRID_G = np.round(np.arange(-30.0, 30.01, 2.5), 2)
STATION_MAX_G = 20.0  # configs/stations/sim.yaml: field max_abs


@pytest.mark.parametrize(
    "supply_limit_A, upper", [(50.0, "5.9"), (0.01, "0.00118")], ids=["supply-50A", "supply-10mA"]
)  # upper: the segment bound on the wire, the field at the supply's limit (T)
@pytest.mark.parametrize("gauss", FIELD_GRID_G, ids=lambda g: f"{g:+g}G")
def test_field_grid_either_ramps_or_is_refused_before_any_command(gauss, supply_limit_A, upper):
    target = float(gauss) * GAUSS
    inside_station = abs(gauss) <= STATION_MAX_G
    inside_current = abs(target) / COIL_T_PER_A <= supply_limit_A  # 10 mA at 0.118 T/A is 11.8 G
    connect = connect_pairs(supply_limit=repr(supply_limit_A))
    ramp = before_ramp() + ramp_commands(tesla_on_wire(gauss), upper=upper) + arrives(tesla_on_wire(gauss))
    accepted = inside_station and inside_current
    with expected_protocol(AMI430Supply, connect + (ramp if accepted else [])) as instrument:
        magnet = magnet_on_wire(instrument)
        sent_at_connect = instrument.adapter._index
        if accepted:
            magnet.ramp_to(target, pacer())
        else:
            message = "outside the station limits" if not inside_station else "above the magnet current limit"
            with pytest.raises(LimitError, match=message):
                magnet.ramp_to(target, pacer())
            assert nothing_sent_since(instrument, sent_at_connect)


def test_the_grid_covers_both_outcomes():
    # Guard against a grid that silently stops testing one side.
    accepted = [g for g in FIELD_GRID_G if abs(g) <= STATION_MAX_G]
    assert 0 < len(accepted) < len(FIELD_GRID_G)
    assert any(abs(g) * GAUSS / COIL_T_PER_A > 0.01 for g in accepted)


def test_a_station_file_current_limit_below_the_supplys_is_enforced_with_nothing_sent():
    with expected_protocol(AMI430Supply, connect_pairs()) as instrument:
        magnet = magnet_on_wire(instrument, current_limit=0.005)  # 5.9 G
        index = instrument.adapter._index
        with pytest.raises(LimitError, match=r"needs 0.00508\d* A .* above the magnet current limit 0.005 A"):
            magnet.ramp_to(6 * GAUSS, pacer())
        assert nothing_sent_since(instrument, index)


@pytest.mark.parametrize(
    "rate_gauss_per_s, message",
    [
        (1.5, "above the magnet's ramp limit 0.001 A/s"),
        (2.5, "outside the station limits"),
        (0.0, "outside the station limits"),
    ],
)
def test_a_rate_above_the_magnets_or_the_stations_limit_is_refused_with_nothing_sent(rate_gauss_per_s, message):
    with expected_protocol(AMI430Supply, connect_pairs()) as instrument:
        magnet = magnet_on_wire(instrument, max_ramp_rate=0.001)  # 1.18 G/s at 0.118 T/A
        index = instrument.adapter._index
        with pytest.raises(LimitError, match=message):
            magnet.ramp_to(5 * GAUSS, pacer(), rate=rate_gauss_per_s * GAUSS)
        assert nothing_sent_since(instrument, index)


# --------------------------------------------------------------------------- refusals by state


@pytest.mark.parametrize(
    "reads, message",
    [
        ([("STATE?", "7")], "quenched; refusing to ramp"),
        ([("STATE?", "2"), ("QU?", "1")], "quenched; refusing to ramp"),
        ([("STATE?", "8"), ("QU?", "1")], "quenched; refusing to ramp"),
        (HOLDING + [("PERSistent?", "1")], "persistent; refusing to ramp"),
        (RAMPING + [("PERSistent?", "0")], "magnet is ramping; refusing to ramp"),
        (in_state("4"), r"refusing to ramp \(AMI 430 STATE\? 4: manual ramping up\)"),
        (in_state("5"), r"STATE\? 5: manual ramping down"),
        (in_state("6"), r"magnet is other; refusing to ramp .*zeroing current"),
        (in_state("9"), "magnet is heating switch; refusing to ramp"),
        (in_state("10"), "magnet is cooling switch; refusing to ramp"),
    ],
)
def test_refused_when_quenched_persistent_or_in_an_unexpected_state_with_nothing_written(reads, message):
    with expected_protocol(AMI430Supply, connect_pairs() + reads) as instrument:
        with pytest.raises(InstrumentError, match=message):
            magnet_on_wire(instrument).ramp_to(5 * GAUSS, pacer())
    # expected_protocol checked that only the reads were exchanged: no write followed them.


def test_a_ramp_the_supply_rejects_is_not_started():
    pairs = connect_pairs() + before_ramp() + ramp_commands("0.0005")[:-2] + [("SYST:ERR?", '-105,"Out of range"')]
    with expected_protocol(AMI430Supply, pairs) as instrument:
        with pytest.raises(InstrumentError, match=r'refused by the supply: -105,"Out of range"'):
            magnet_on_wire(instrument).ramp_to(5 * GAUSS, pacer())
    # no RAMP and no PAUSE: nothing was moving


@pytest.mark.parametrize(
    "units_pair, message", [(("FIELD:UNITS?", "0"), "kilogauss"), (("RAMP:RATE:UNITS?", "1"), "minutes")]
)
def test_units_changed_on_the_front_panel_since_connect_refuse_the_ramp(units_pair, message):
    checks = [("FIELD:UNITS?", "1"), ("RAMP:RATE:UNITS?", "0")]
    checks = checks[: [pair[0] for pair in checks].index(units_pair[0])] + [units_pair]
    with expected_protocol(AMI430Supply, connect_pairs() + before_ramp() + checks) as instrument:
        with pytest.raises(InstrumentError, match=message):
            magnet_on_wire(instrument).ramp_to(5 * GAUSS, pacer())


# --------------------------------------------------------------------------- abort and faults during a ramp


@pytest.mark.parametrize("abort_at", [1, 3])
def test_abort_during_a_ramp_sends_pause(abort_at):
    polls = RAMPING * (abort_at - 1)
    pairs = connect_pairs() + before_ramp() + ramp_commands("0.001") + polls + [("PAUSE", None)]
    abort_pacer = AbortOnWait(abort_at)
    with expected_protocol(AMI430Supply, pairs) as instrument:
        with pytest.raises(AbortRequested):
            magnet_on_wire(instrument).ramp_to(10 * GAUSS, abort_pacer)
    assert abort_pacer.waits == abort_at


@pytest.mark.parametrize(
    "poll, message",
    [
        ([("STATE?", "7")], "magnet quenched during the ramp to 0.001 T"),
        ([("STATE?", "1"), ("QU?", "1")], "magnet quenched during the ramp to 0.001 T"),
        ([("STATE?", "3"), ("QU?", "0")], "went to state 'paused' during a ramp"),
        ([("STATE?", "6"), ("QU?", "0")], r"state 'other' during a ramp \(AMI 430 STATE\? 6: zeroing current\)"),
        ([("STATE?", "10"), ("QU?", "0")], "went to state 'cooling switch' during a ramp"),
    ],
)
def test_a_quench_or_foreign_state_mid_ramp_pauses_and_says_why(poll, message):
    pairs = connect_pairs() + before_ramp() + ramp_commands("0.001") + RAMPING + poll + [("PAUSE", None)]
    with expected_protocol(AMI430Supply, pairs) as instrument:
        with pytest.raises(InstrumentError, match=message):
            magnet_on_wire(instrument).ramp_to(10 * GAUSS, pacer())


def test_a_ramp_that_never_arrives_times_out_and_pauses():
    # 10 G at 0.5 G/s is 20 s; the role gives up after 1.5 * 20 s + 10 polls = 35 s.
    polls = RAMPING * 71  # one poll every 0.5 s; the 71st is past the deadline
    pairs = connect_pairs() + before_ramp() + ramp_commands("0.001") + polls + [("PAUSE", None)]
    with expected_protocol(AMI430Supply, pairs) as instrument:
        with pytest.raises(InstrumentError, match="did not reach 0.001 T in 30 s"):
            magnet_on_wire(instrument).ramp_to(10 * GAUSS, pacer())


TIMEOUT = "<no reply: VISA timeout>"


class WireWithTimeouts(ProtocolAdapter):
    """pymeasure's protocol adapter, where the reply TIMEOUT raises a VISA timeout instead."""

    def _read(self, **kwargs) -> str:
        reply = super()._read(**kwargs)
        if reply == TIMEOUT:
            raise VisaIOError(StatusCode.error_timeout)
        return reply


@contextmanager
def supply_with_timeouts(pairs):
    wire = WireWithTimeouts(pairs)
    yield AMI430Supply(wire)
    assert wire._index == len(pairs), f"unused pairs: {pairs[wire._index:]}"
    assert wire._write_buffer is None and wire._read_buffer is None


def test_a_timeout_mid_ramp_is_an_instrument_error_and_pauses():
    pairs = connect_pairs() + before_ramp() + ramp_commands("0.001") + RAMPING + [("STATE?", TIMEOUT), ("PAUSE", None)]
    with supply_with_timeouts(pairs) as supply:
        with pytest.raises(InstrumentError, match=r"AMI 430: STATE\?: VisaIOError: .*Timeout"):
            magnet_on_wire(supply).ramp_to(10 * GAUSS, pacer())


@pytest.mark.parametrize(
    "reads, message",
    [
        ([("STATE?", TIMEOUT)], r"STATE\?: VisaIOError"),
        (HOLDING + [("PERSistent?", "0"), ("FIELD:MAG?", TIMEOUT)], r"FIELD:MAG\?: VisaIOError"),
    ],
)
def test_a_timeout_before_the_ramp_refuses_with_nothing_written(reads, message):
    with supply_with_timeouts(connect_pairs() + reads) as supply:
        with pytest.raises(InstrumentError, match=message):
            magnet_on_wire(supply).ramp_to(10 * GAUSS, pacer())


def test_a_timeout_at_connect_names_the_exchange():
    with supply_with_timeouts([("*IDN?", TIMEOUT)]) as supply:
        with pytest.raises(InstrumentError, match=r"\*IDN\?: VisaIOError"):
            magnet_on_wire(supply)


@pytest.mark.parametrize(
    "reads, message",
    [
        ([("STATE?", "HOLDING")], r"STATE\?: the supply answered 'HOLDING', not a state code"),
        ([("STATE?", "11")], r"STATE\?: the supply answered 11, not a state code"),
        ([("STATE?", "")], r"STATE\?"),
        ([("STATE?", "2"), ("QU?", "yes")], r"QU\?: the supply answered 'yes', not 0 or 1"),
        (HOLDING + [("PERSistent?", "2")], r"PERSistent\?: the supply answered 2, not 0 or 1"),
        (HOLDING + [("PERSistent?", "0"), ("FIELD:MAG?", "-.--")], r"FIELD:MAG\?: the supply answered '-.--'"),
        (HOLDING + [("PERSistent?", "0"), ("FIELD:MAG?", "nan")], "not a number"),
        (HOLDING + [("PERSistent?", "0"), ("FIELD:MAG?", "0.1,0.2")], "not a number"),
    ],
)
def test_garbage_before_a_ramp_refuses_it_with_nothing_written(reads, message):
    with expected_protocol(AMI430Supply, connect_pairs() + reads) as instrument:
        with pytest.raises(InstrumentError, match=message):
            magnet_on_wire(instrument).ramp_to(5 * GAUSS, pacer())


def test_garbage_mid_ramp_pauses():
    pairs = connect_pairs() + before_ramp() + ramp_commands("0.001") + [("STATE?", "??"), ("PAUSE", None)]
    with expected_protocol(AMI430Supply, pairs) as instrument:
        with pytest.raises(InstrumentError, match=r"STATE\?: the supply answered '\?\?'"):
            magnet_on_wire(instrument).ramp_to(10 * GAUSS, pacer())


@pytest.mark.parametrize("reply", ["ERROR", "", "no errors"])
def test_an_unreadable_error_queue_refuses_the_ramp(reply):
    pairs = connect_pairs() + before_ramp() + ramp_commands("0.0005")[:-2] + [("SYST:ERR?", reply)]
    with expected_protocol(AMI430Supply, pairs) as instrument:
        with pytest.raises(InstrumentError, match=r"SYST:ERR\?"):
            magnet_on_wire(instrument).ramp_to(5 * GAUSS, pacer())


def test_garbage_in_the_snapshot_is_an_instrument_error():
    pairs = connect_pairs() + [
        ("*IDN?", IDN),
        ("FIELD:MAG?", "0.0"),
        *HOLDING,
        ("PERSistent?", "0"),
        ("PSwitch?", "1"),
        ("COIL?", "0.118"),
        ("RAMP:RATE:FIELD:1?", "0.00005"),
    ]
    with expected_protocol(AMI430Supply, pairs) as instrument:
        with pytest.raises(InstrumentError, match=r"RAMP:RATE:FIELD:1\?: the supply answered 5e-05, not rate,upper"):
            magnet_on_wire(instrument).snapshot()


# --------------------------------------------------------------------------- persistent switch


def test_enter_persistent_switches_the_heater_off_while_holding_and_waits():
    pairs = connect_pairs() + HOLDING + [("PSwitch?", "1")] + HOLDING + [("*CLS", None), ("PSwitch 0", None), NO_ERRORS]
    clock_pacer = pacer()
    with expected_protocol(AMI430Supply, pairs) as instrument:
        magnet_on_wire(instrument, switch_heater_wait=12.0).enter_persistent(clock_pacer)
    assert clock_pacer.now() == 12.0


def test_leave_persistent_switches_the_heater_on_when_the_leads_match_the_coil():
    pairs = (
        connect_pairs()
        + [("PSwitch?", "0")]
        + HOLDING  # the role: the supply must hold
        + HOLDING  # the driver, again, beside the current match
        + [("CURR:SUPP?", "0.01271"), ("CURR:MAG?", "0.01270"), ("*CLS", None), ("PSwitch 1", None), NO_ERRORS]
    )
    clock_pacer = pacer()
    with expected_protocol(AMI430Supply, pairs) as instrument:
        magnet_on_wire(instrument).leave_persistent(clock_pacer)
    assert clock_pacer.now() == 10.0


def test_leave_persistent_when_the_heater_is_already_on_sends_nothing_more():
    with expected_protocol(AMI430Supply, connect_pairs() + [("PSwitch?", "1")]) as instrument:
        magnet_on_wire(instrument).leave_persistent(pacer())


def test_leave_persistent_refuses_when_the_leads_do_not_carry_the_coil_current():
    pairs = connect_pairs() + [("PSwitch?", "0")] + HOLDING + HOLDING + [("CURR:SUPP?", "0.0"), ("CURR:MAG?", "0.0127")]
    with expected_protocol(AMI430Supply, pairs) as instrument:
        with pytest.raises(InstrumentError, match="leads carry 0 A but the coil holds 0.0127 A"):
            magnet_on_wire(instrument).leave_persistent(pacer())


@pytest.mark.parametrize(
    "state_reads, message",
    [
        ([("STATE?", "7")], "magnet is quench"),
        (RAMPING, "magnet is ramping"),
        ([("STATE?", "10"), ("QU?", "0")], r"cooling switch \(AMI 430 STATE\? 10: cooling persistent switch\)"),
    ],
)
def test_the_heater_is_not_switched_on_while_quenched_ramping_or_switching(state_reads, message):
    # the driver's own check (the role checks the state first too, below)
    with expected_protocol(AMI430Supply, connect_pairs() + state_reads) as instrument:
        with pytest.raises(InstrumentError, match=message + ".*refusing to switch the persistent-switch heater on"):
            magnet_on_wire(instrument)._set_switch_heater(True)


@pytest.mark.parametrize("state_reads, state", [([("STATE?", "7")], "quench"), (RAMPING, "ramping")])
def test_leave_persistent_is_refused_by_the_role_unless_the_supply_holds(state_reads, state):
    with expected_protocol(AMI430Supply, connect_pairs() + [("PSwitch?", "0")] + state_reads) as instrument:
        with pytest.raises(InstrumentError, match=f"magnet is {state}; it must be holding to leave persistent mode"):
            magnet_on_wire(instrument).leave_persistent(pacer())


@pytest.mark.parametrize(
    "state_reads, message",
    [
        (RAMPING, "magnet is ramping; it must be holding"),
        ([("STATE?", "4"), ("QU?", "0")], r"magnet is other; it must be holding .*STATE\? 4: manual ramping up"),
        ([("STATE?", "2"), ("QU?", "1")], "magnet is quench"),
    ],
)
def test_enter_persistent_is_refused_unless_holding(state_reads, message):
    with expected_protocol(AMI430Supply, connect_pairs() + state_reads) as instrument:
        with pytest.raises(InstrumentError, match=message):
            magnet_on_wire(instrument).enter_persistent(pacer())


def test_a_switch_heater_command_the_supply_rejects_is_an_instrument_error():
    pairs = (
        connect_pairs()
        + HOLDING
        + [("PSwitch?", "1")]
        + HOLDING
        + [("*CLS", None), ("PSwitch 0", None), ("SYST:ERR?", '-250,"Switch heater not installed"')]
    )
    with expected_protocol(AMI430Supply, pairs) as instrument:
        with pytest.raises(InstrumentError, match="PSwitch 0.*refused by the supply: -250"):
            magnet_on_wire(instrument).enter_persistent(pacer())


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "config, message",
    [
        ({"coil_constant": "0.118 T"}, "coil_constant"),
        ({"coil_constant": "-0.118 T/A"}, "coil_constant must be positive"),
        ({"coil_constant": "1.18 kg/A"}, "coil_constant"),  # a kilogram per ampere is no coil constant
        ({"current_limit": "50 V"}, "current_limit"),
        ({"current_limit": 0}, "current_limit must be positive"),
        ({"max_ramp_rate": "0.036 A"}, "neither a current rate"),
        ({"max_ramp_rate": -0.036}, "max_ramp_rate must be positive"),
        ({"switch_heater_wait": "-1 s"}, "switch_heater_wait must be 0 s or more"),
        ({"switch_current_tolerance": "0 A"}, "switch_current_tolerance must be positive"),
        ({"welcome_lines": -1}, "welcome_lines"),
        ({"welcome_lines": True}, "welcome_lines"),
        ({"timeout": "0 s"}, "timeout must be positive"),
        ({"heater": 1}, "unknown setting"),
        ({"coil_constant": None}, "missing setting 'coil_constant'"),
    ],
)
def test_bad_settings_are_user_errors_before_anything_is_opened(config, message):
    context = HardwareContext(visa_library=f"{SIM_FILE}@sim", clock=SimulatedClock())
    block = {**SIM_BLOCK, **config}
    block = {key: value for key, value in block.items() if value is not None}
    with pytest.raises(UserInputError, match=message):
        AMI430Magnet.from_config(block, context)
    assert context.closers == []  # nothing was opened


def test_the_registry_names_this_adapter():
    assert _adapter_class("ami430") is AMI430Magnet


# --------------------------------------------------------------------------- pyvisa-sim smoke

SIM_BLOCK = {
    "driver": "ami430",
    "address": SIM_ADDRESS,
    "coil_constant": "0.118 T/A",
    "current_limit": "50 A",
    "max_ramp_rate": "0.036 A/s",
    "welcome_lines": 0,  # pyvisa-sim cannot send the 430's greeting
}


def test_sim_magnet_identifies_ramps_and_goes_persistent_and_back(sim_context):
    magnet = AMI430Magnet.from_config(dict(SIM_BLOCK), sim_context)
    magnet.attach_limits(station_limits())
    cleanup = CleanupPacer(sim_context.clock)
    assert "MODEL 430" in magnet.identity()
    # The sim starts in kG and per minute: connect must have set tesla and seconds.
    assert magnet.supply.field_units == "tesla" and magnet.supply.ramp_rate_units == "seconds"
    assert magnet.read_field() == 0.0

    magnet.ramp_to(5 * GAUSS, cleanup)
    assert magnet.read_field() == pytest.approx(5 * GAUSS)
    assert magnet.state() is MagnetState.HOLDING
    snapshot = magnet.snapshot()
    assert snapshot["ramp_rate_T_per_s"] == pytest.approx(0.5 * GAUSS)
    assert snapshot["ramp_upper_bound_T"] == pytest.approx(5.9)
    assert snapshot["field_T"] == pytest.approx(5 * GAUSS)

    magnet.enter_persistent(cleanup)
    assert magnet.switch_heater_on() is False
    magnet.leave_persistent(cleanup)
    assert magnet.switch_heater_on() is True

    with pytest.raises(LimitError):
        magnet.ramp_to(25 * GAUSS, cleanup)
    assert magnet.read_field() == pytest.approx(5 * GAUSS)

    magnet.safe_state(cleanup)
    assert magnet.read_field() == 0.0


def test_sim_accepts_units_in_the_settings(sim_context):
    block = {**SIM_BLOCK, "coil_constant": "1180 G/A", "max_ramp_rate": "4.248 mT/s"}
    magnet = AMI430Magnet.from_config(block, sim_context)
    assert magnet.coil_constant == pytest.approx(0.118)
    assert magnet.max_ramp_rate == pytest.approx(0.036)


def test_sim_refuses_a_coil_constant_the_supply_disagrees_with(sim_context):
    with pytest.raises(InstrumentError, match="more than 1% apart"):
        AMI430Magnet.from_config({**SIM_BLOCK, "coil_constant": "0.1195 T/A"}, sim_context)


def test_the_tcp_greeting_is_expected_by_default_and_its_absence_is_a_clear_error(sim_context):
    block = {key: value for key, value in SIM_BLOCK.items() if key != "welcome_lines"}
    with pytest.raises(InstrumentError, match=r"read the 2 welcome line\(s\): VisaIOError"):
        AMI430Magnet.from_config({**block, "timeout": "0.05 s"}, sim_context)


@pytest.mark.filterwarnings("ignore:read string doesn.t end with termination characters")
def test_nothing_at_the_address_is_an_instrument_error(sim_context):
    with pytest.raises(InstrumentError, match="TCPIP::localhost::7181::SOCKET"):
        AMI430Magnet.from_config({**SIM_BLOCK, "address": "TCPIP::localhost::7181::SOCKET"}, sim_context)


# --------------------------------------------------------------------------- real instrument

REAL_ADDRESS = os.environ.get("SQM_AMI430_ADDRESS")


@pytest.mark.skipif(not REAL_ADDRESS, reason="set SQM_AMI430_ADDRESS to test a real AMI 430 (read-only)")
def test_real_430_identifies_and_reads_without_moving_anything():
    """Connects (which sets tesla and seconds) and reads; never ramps or switches the heater.
    SQM_AMI430_COIL_CONSTANT and SQM_AMI430_CURRENT_LIMIT describe the magnet (defaults:
    the example station's 0.118 T/A and 50 A)."""
    context = HardwareContext(visa_library=os.environ.get("SQM_VISA_LIBRARY", ""), clock=RealClock())
    try:
        magnet = AMI430Magnet.from_config(
            {
                "driver": "ami430",
                "address": REAL_ADDRESS,
                "coil_constant": os.environ.get("SQM_AMI430_COIL_CONSTANT", "0.118 T/A"),
                "current_limit": os.environ.get("SQM_AMI430_CURRENT_LIMIT", "50 A"),
                "max_ramp_rate": os.environ.get("SQM_AMI430_MAX_RAMP_RATE", "0.036 A/s"),
            },
            context,
        )
        assert "430" in magnet.identity()
        assert np.isfinite(magnet.read_field())
        assert isinstance(magnet.state(), MagnetState)
        snapshot = magnet.snapshot()
        assert snapshot["coil_constant_T_per_A"] > 0
    finally:
        context.close()



@pytest.mark.parametrize("text", ["0.118 T/A", "1180 G/A", "1.18 kG/A", 0.118])
def test_the_coil_constant_may_be_written_in_tesla_gauss_or_kilogauss_per_ampere(text):
    # labs quote magnets in kG; here G is always 1e-4 T, with or without a prefix
    from sqm.drivers.ami430 import _coil_constant_setting

    assert _coil_constant_setting({"coil_constant": text}) == pytest.approx(0.118)
