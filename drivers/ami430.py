"""American Magnetics Model 430 magnet power supply programmer as the station's `Magnet`.

The supply ramps the coil itself; SQM sets the target and rate, starts the ramp and
watches the state (the role's `ramp_to` polls until holding and pauses on any fault or
abort). Fields are in tesla and rates in tesla per second throughout: `connect` sets
the 430's field units to tesla (`CONF:FIELD:UNITS 1`) and its ramp-rate units to
seconds (`CONF:RAMP:RATE:UNITS 0`) and reads both back; every ramp reads them back
again before it configures anything, so a front-panel change of units is refused
instead of being misread by a factor of 10 (kG) or 60 (per minute). No unit
conversion is done in this module.

Station file block::

    magnet:
      driver: ami430
      address: "TCPIP::magnet.lab::7180::SOCKET"   # Ethernet port 7180 (or a serial resource)
      coil_constant: 0.118 T/A      # the magnet's; the 430's COIL? must agree within 1 %
      current_limit: 50 A           # the magnet's; the smaller of this and CURR:LIMIT? is enforced
      max_ramp_rate: 0.036 A/s      # the magnet's; a field rate ("4 mT/s") is converted with coil_constant
      switch_heater_wait: 10 s      # optional: wait after the persistent-switch heater changes state
      switch_current_tolerance: 5 mA  # optional: largest supply/coil current mismatch for heating the switch
      welcome_lines: 2              # optional: lines the 430 sends on connect (default 2 on a
                                    # TCPIP SOCKET, else 0); 0 for pyvisa-sim, which cannot send them
      timeout: 5 s                  # optional: VISA timeout

Wire commands (exact strings; `%s` is a plain decimal such as 0.0015, never an exponent):

* connect: [welcome lines read], `*IDN?`, `CONF:FIELD:UNITS 1`, `CONF:RAMP:RATE:UNITS 0`,
  `FIELD:UNITS?`, `RAMP:RATE:UNITS?`, `COIL?`, `CURR:LIMIT?`
* readings: `FIELD:MAG?` (T), `STATE?` then `QU?` (QU? is skipped when STATE? already
  says 7), `PERSistent?`, `PSwitch?`, `CURR:SUPP?`, `CURR:MAG?` (A), `COIL?` (T/A),
  `RAMP:RATE:FIELD:1?` (T/s, T)
* ramp: `FIELD:UNITS?`, `RAMP:RATE:UNITS?`, `*CLS`, `CONF:RAMP:RATE:SEG 1`,
  `CONF:RAMP:RATE:FIELD 1,<rate T/s>,<upper T>`, `CONF:FIELD:TARG <T>`, `SYST:ERR?`, `RAMP`;
  stop: `PAUSE`
* switch heater: `*CLS`, `PSwitch 0|1`, `SYST:ERR?`

Safety, beyond the role's (station limits, ramp from the measured field, refuse when
quenched, persistent or in an unexpected state, pause on abort):

* Refused before any command (LimitError): a target whose coil current (|B| / COIL?)
  exceeds the smaller of `current_limit` and the supply's `CURR:LIMIT?`, and a rate
  above `max_ramp_rate` (as T/s through COIL?).
* Refused at connect (InstrumentError): another model, units that do not stay tesla /
  seconds, and a COIL? more than 1 % from the station file (wrong magnet or file).
* The configuration is checked with `SYST:ERR?` after `*CLS` before `RAMP` is sent: a
  target or rate the supply rejected must not start a ramp to an older target.
* A quench is seen through `STATE?` 7 and through the latched `QU?` flag.
* The switch heater is switched only while holding, paused or at zero; it is switched
  on (leaving persistent mode) only when the lead current `CURR:SUPP?` matches the coil
  current `CURR:MAG?` within `switch_current_tolerance`, since heating the switch with
  a mismatch jolts the coil current. This relies on the 430 reporting the current held
  in the coil as `CURR:MAG?` while persistent; were it to report the lead current, the
  check would pass trivially (it can never refuse wrongly), so verify it on the bench.
* The single ramp segment's upper bound is the field at the current limit in force,
  so the configured rate applies to every target the adapter lets through.

`STATE?` 6 (zeroing current, a front-panel or remote ZERO) maps to MagnetState.OTHER,
not RAMPING: it is a ramp SQM did not command, towards zero rather than the target, so
the role must stop watching it (and pause) with a clear reason instead of waiting for
a target it will never reach; likewise manual ramping (4, 5). The AMI's own
description of the code is added to the role's error message.
"""

from __future__ import annotations

import logging
import math
import re
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from pymeasure.instruments import Instrument, SCPIMixin
from pymeasure.instruments.validators import strict_discrete_set

from sqm.errors import InstrumentError, LimitError, UserInputError
from sqm.pacing import Pacer
from sqm.roles import Magnet, MagnetState
from sqm.units import to_si

from .base import CAST_FLAG, CAST_NUMBER, HardwareContext, check_known_keys, checked_reply, guarded, setting
from .scpi import NamedExchanges, check_identity, error_entry, log_wire, query, read_identity, timeout_ms

logger = logging.getLogger(__name__)

# STATE? code -> (role state, the 430's own description).
STATE_CODES: dict[int, tuple[MagnetState, str]] = {
    1: (MagnetState.RAMPING, "ramping"),
    2: (MagnetState.HOLDING, "holding"),
    3: (MagnetState.PAUSED, "paused"),
    4: (MagnetState.OTHER, "manual ramping up"),
    5: (MagnetState.OTHER, "manual ramping down"),
    6: (MagnetState.OTHER, "zeroing current"),
    7: (MagnetState.QUENCH, "quench detected"),
    8: (MagnetState.AT_ZERO, "at zero current"),
    9: (MagnetState.HEATING_SWITCH, "heating persistent switch"),
    10: (MagnetState.COOLING_SWITCH, "cooling persistent switch"),
}
# States in which the persistent-switch heater may be switched.
SWITCHABLE_STATES = {MagnetState.HOLDING, MagnetState.PAUSED, MagnetState.AT_ZERO}

COIL_CONSTANT_TOLERANCE = 0.01  # relative: COIL? vs the station file
DEFAULT_SWITCH_HEATER_WAIT_S = 10.0
DEFAULT_SWITCH_CURRENT_TOLERANCE_A = 5e-3  # 0.6 G at 0.118 T/A
DEFAULT_TIMEOUT_S = 5.0
TCP_WELCOME_LINES = 2  # "American Magnetics Model 430 IP Interface", "Hello."
MODEL_PATTERN = re.compile(r"MODEL\s*430", re.IGNORECASE)
DECIMALS = 10  # plain decimals on the wire: 1e-10 T and 1e-10 T/s resolution


def plain_number(value: float) -> str:
    """`value` as a plain decimal with at least one digit after the point (0.0015, 5.9, 0.0).

    The 430 and the pyvisa-sim file both read this form; no exponent, no `-0.0`.
    """
    text = f"{value:.{DECIMALS}f}".rstrip("0")
    if text.endswith("."):
        text += "0"
    return "0.0" if text == "-0.0" else text


class AMI430Supply(SCPIMixin, Instrument):
    """The AMI Model 430 commands SQM uses, in pymeasure's declarative style.

    pymeasure's own `AMI430` reads two welcome lines in its `__init__` unconditionally
    (pyvisa-sim cannot send them, the serial port does not) and documents its values in
    kG. Here `welcome_lines` says how many lines to read and discard on connect (they
    are kept in `welcome`); units are whatever the 430 is set to (the adapter sets tesla
    and seconds).
    """

    def __init__(self, adapter, name: str = "American Magnetics Model 430", welcome_lines: int = 0, **kwargs):
        kwargs.setdefault("read_termination", "\r\n")
        kwargs.setdefault("write_termination", "\r\n")
        super().__init__(adapter, name, **kwargs)
        self.welcome = [self.read() for _ in range(welcome_lines)]

    field_units = Instrument.control(
        "FIELD:UNITS?",
        "CONF:FIELD:UNITS %d",
        """Control the field units: 'kilogauss' (0) or 'tesla' (1). Coil constant, field,
        target and ramp rates are all reported in these units.""",
        validator=strict_discrete_set,
        values={"kilogauss": 0, "tesla": 1},
        map_values=True,
        cast=int,
    )

    ramp_rate_units = Instrument.control(
        "RAMP:RATE:UNITS?",
        "CONF:RAMP:RATE:UNITS %d",
        """Control the time unit of ramp rates: 'seconds' (0) or 'minutes' (1).""",
        validator=strict_discrete_set,
        values={"seconds": 0, "minutes": 1},
        map_values=True,
        cast=int,
    )

    coil_constant = Instrument.measurement(
        "COIL?", """Get the coil constant (float, field units per A: T/A when the units are tesla)."""
    )

    current_limit = Instrument.measurement("CURR:LIMIT?", """Get the supply's current limit (float, A).""")

    field = Instrument.measurement("FIELD:MAG?", """Get the magnet's field (float, field units).""")

    magnet_current = Instrument.measurement(
        "CURR:MAG?", """Get the coil current (float, A); while persistent, the current the switch holds."""
    )

    supply_current = Instrument.measurement("CURR:SUPP?", """Get the current in the supply's leads (float, A).""")

    target_field = Instrument.control(
        "FIELD:TARG?",
        "CONF:FIELD:TARG %s",
        """Control the ramp target (float, field units). Sent as a plain decimal.""",
        set_process=plain_number,
    )

    ramp_segments = Instrument.control(
        "RAMP:RATE:SEG?", "CONF:RAMP:RATE:SEG %d", """Control the number of ramp-rate segments (int, 1-10).""", cast=int
    )

    ramp_rate_segment_1 = Instrument.control(
        "RAMP:RATE:FIELD:1?",
        "CONF:RAMP:RATE:FIELD 1,%s,%s",
        """Control segment 1 of the ramp: (rate in field units per second or minute, upper
        bound in field units). Read back as a list of two floats.""",
        set_process=lambda rate_and_upper: tuple(plain_number(value) for value in rate_and_upper),
    )

    state_code = Instrument.measurement(
        "STATE?",
        """Get the ramping state code (int): 1 ramping, 2 holding, 3 paused, 4 manual up,
        5 manual down, 6 zeroing current, 7 quench detected, 8 at zero current,
        9 heating switch, 10 cooling switch.""",
        cast=int,
    )

    quench_flag = Instrument.measurement("QU?", """Get the quench flag (int): 1 while a quench is latched.""", cast=int)

    persistent_flag = Instrument.measurement(
        "PERSistent?", """Get the persistent-mode flag (int): 1 while the switch is cold and holds the coil current.""",
        cast=int,
    )

    switch_heater = Instrument.control(
        "PSwitch?", "PSwitch %d", """Control the persistent-switch heater (int): 1 on, 0 off.""", cast=int
    )

    def ramp(self) -> None:
        """Start ramping to the target at the configured rate."""
        self.write("RAMP")

    def pause(self) -> None:
        """Stop ramping and hold the present field."""
        self.write("PAUSE")

    def read_error(self) -> tuple[int, str]:
        """The oldest entry of the error queue, as (code, text); (0, 'No errors') when empty."""
        code, text = error_entry(self.ask("SYST:ERR?"))
        return code, text.strip().strip('"')


# --------------------------------------------------------------------------- helpers


def _coil_constant_setting(config: dict) -> float:
    """T/A: a bare number, or '<number> <field unit>/A' ('0.118 T/A', '1180 G/A')."""
    value = setting(config, "coil_constant")
    try:
        if isinstance(value, str) and value.strip().endswith("/A"):
            return to_si(value.strip()[:-2], "field")
        return to_si(value, "dimensionless")
    except UserInputError as error:
        raise UserInputError(f"coil_constant: {error} (give T/A, e.g. '0.118 T/A')") from None


def _max_ramp_rate_setting(config: dict, coil_constant: float) -> float:
    """A/s: a bare number is A/s; a string may be a current rate ('0.036 A/s') or a field
    rate ('4 mT/s'), the latter converted with the station file's coil constant."""
    value = setting(config, "max_ramp_rate")
    try:
        return to_si(value, "current_rate")
    except UserInputError:
        pass
    try:
        return to_si(value, "field_rate") / coil_constant
    except UserInputError:
        raise UserInputError(
            f"max_ramp_rate: {value!r} is neither a current rate (A/s) nor a field rate (T/s)"
        ) from None


def check_settings(
    coil_constant: float,
    current_limit: float,
    max_ramp_rate: float,
    switch_heater_wait: float = DEFAULT_SWITCH_HEATER_WAIT_S,
    switch_current_tolerance: float = DEFAULT_SWITCH_CURRENT_TOLERANCE_A,
) -> None:
    """Refuse a station-file block the adapter cannot follow (UserInputError)."""

    def is_number(value: Any) -> bool:
        return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)

    for key, value, unit in (
        ("coil_constant", coil_constant, "T/A"),
        ("current_limit", current_limit, "A"),
        ("max_ramp_rate", max_ramp_rate, "A/s"),
        ("switch_current_tolerance", switch_current_tolerance, "A"),
    ):
        if not (is_number(value) and value > 0):
            raise UserInputError(f"{key} must be positive, got {value!r} {unit}")
    if not (is_number(switch_heater_wait) and switch_heater_wait >= 0):
        raise UserInputError(f"switch_heater_wait must be 0 s or more, got {switch_heater_wait!r} s")


class AMI430Magnet(NamedExchanges, Magnet):
    """The out-of-plane field (T) from an AMI 430 driving a superconducting coil.

    Build it around an open `AMI430Supply` (tests use pymeasure's protocol adapter) and
    call `connect()`, or from a station-file block with `from_config`. Nothing moves
    until `connect()` has checked the model, the units, the coil constant and the
    current limit; before that, ramps, switch-heater changes and field readings are
    refused.
    """

    def __init__(
        self,
        supply: AMI430Supply,
        coil_constant: float,
        current_limit: float,
        max_ramp_rate: float,
        switch_heater_wait: float = DEFAULT_SWITCH_HEATER_WAIT_S,
        switch_current_tolerance: float = DEFAULT_SWITCH_CURRENT_TOLERANCE_A,
        name: str = "AMI 430",
    ) -> None:
        """`coil_constant` T/A, `current_limit` A, `max_ramp_rate` A/s (the magnet's),
        `switch_heater_wait` s, `switch_current_tolerance` A. Sends nothing."""
        super().__init__()
        check_settings(coil_constant, current_limit, max_ramp_rate, switch_heater_wait, switch_current_tolerance)
        self.supply = supply
        self.name = name
        log_wire(supply, name, logger)
        self.coil_constant = float(coil_constant)  # T/A, station file
        self.current_limit = float(current_limit)  # A, station file
        self.max_ramp_rate = float(max_ramp_rate)  # A/s, station file
        self.switch_heater_wait_s = float(switch_heater_wait)
        self.switch_current_tolerance = float(switch_current_tolerance)
        # What the supply said at connect; None until then.
        self.supply_coil_constant: float | None = None  # T/A
        self.supply_current_limit: float | None = None  # A
        self._last_state_code: int | None = None

    # --- building and connecting

    @classmethod
    def from_config(cls, config: dict, context: HardwareContext) -> "AMI430Magnet":
        """Open the supply named in a station-file block (see the module docstring) and connect."""
        check_known_keys(
            config,
            {
                "address",
                "coil_constant",
                "current_limit",
                "max_ramp_rate",
                "switch_heater_wait",
                "switch_current_tolerance",
                "welcome_lines",
                "timeout",
            },
        )
        address = str(setting(config, "address"))
        coil_constant = _coil_constant_setting(config)
        if not coil_constant > 0:  # the ramp-rate conversion below divides by it
            raise UserInputError(f"coil_constant must be positive, got {coil_constant!r} T/A")
        settings = dict(
            coil_constant=coil_constant,
            current_limit=setting(config, "current_limit", "current"),
            max_ramp_rate=_max_ramp_rate_setting(config, coil_constant),
            switch_heater_wait=setting(config, "switch_heater_wait", "time", DEFAULT_SWITCH_HEATER_WAIT_S),
            switch_current_tolerance=setting(
                config, "switch_current_tolerance", "current", DEFAULT_SWITCH_CURRENT_TOLERANCE_A
            ),
        )
        # The Ethernet port greets each connection; the serial port does not.
        default_welcome_lines = TCP_WELCOME_LINES if "SOCKET" in address.upper() else 0
        welcome_lines = setting(config, "welcome_lines", default=default_welcome_lines)
        if isinstance(welcome_lines, bool) or not isinstance(welcome_lines, int) or welcome_lines < 0:
            raise UserInputError(f"welcome_lines must be a whole number of 0 or more, got {welcome_lines!r}")
        timeout = timeout_ms(config, DEFAULT_TIMEOUT_S)
        name = f"AMI 430 at {address}"
        check_settings(**settings)  # before anything is opened
        adapter = context.visa_adapter(address, timeout=timeout, read_termination="\r\n", write_termination="\r\n")
        supply = guarded(
            f"{name}: read the {welcome_lines} welcome line(s)",
            lambda: AMI430Supply(adapter, welcome_lines=welcome_lines),
        )
        magnet = cls(supply, name=name, **settings)
        magnet.connect()
        return magnet

    def connect(self) -> None:
        """Check the model, set and verify tesla / seconds, read the coil constant and the
        supply's current limit. InstrumentError if the supply is not what the station
        file describes; nothing moves."""
        check_identity(
            self.identity(),
            MODEL_PATTERN,
            lambda identity: f"{self.name}: answers as {identity!r}, not an AMI Model 430; check the address",
        )

        def set_units() -> None:
            self.supply.field_units = "tesla"
            self.supply.ramp_rate_units = "seconds"

        self._exchange("set tesla and seconds (CONF:FIELD:UNITS 1, CONF:RAMP:RATE:UNITS 0)", set_units)
        self._verify_units()
        coil = self._read_number("COIL?", lambda: self.supply.coil_constant)
        if not coil > 0 or abs(coil - self.coil_constant) > COIL_CONSTANT_TOLERANCE * self.coil_constant:
            raise InstrumentError(
                f"{self.name}: COIL? says {coil:g} T/A, the station file {self.coil_constant:g} T/A "
                f"(more than {COIL_CONSTANT_TOLERANCE:.0%} apart): wrong magnet or wrong station file; refusing it"
            )
        supply_limit = self._read_number("CURR:LIMIT?", lambda: self.supply.current_limit)
        if not supply_limit > 0:
            raise InstrumentError(f"{self.name}: CURR:LIMIT? says {supply_limit:g} A; a supply that cannot drive")
        self.supply_coil_constant = coil
        self.supply_current_limit = supply_limit

    def _verify_units(self) -> None:
        units = self._exchange("FIELD:UNITS?", lambda: self.supply.field_units)
        if units != "tesla":
            raise InstrumentError(f"{self.name}: field units are {units!r}, not tesla; refusing to drive it")
        rate_units = self._exchange("RAMP:RATE:UNITS?", lambda: self.supply.ramp_rate_units)
        if rate_units != "seconds":
            raise InstrumentError(
                f"{self.name}: ramp rates are per {rate_units!r}, not per second; refusing to drive it"
            )

    # --- limits that need the supply's numbers

    def _require_connected(self) -> tuple[float, float]:
        if self.supply_coil_constant is None or self.supply_current_limit is None:
            raise InstrumentError(f"{self.name}: not connected (units, coil constant and current limit unchecked)")
        return self.supply_coil_constant, self.supply_current_limit

    @property
    def current_limit_in_force(self) -> float:
        """The smaller of the station file's and the supply's current limits (A)."""
        _, supply_limit = self._require_connected()
        return min(self.current_limit, supply_limit)

    @property
    def field_limit(self) -> float:
        """The field (T) at the current limit in force, through the supply's coil constant."""
        coil, _ = self._require_connected()
        return coil * self.current_limit_in_force

    @property
    def max_field_ramp_rate(self) -> float:
        """The magnet's ramp limit as a field rate (T/s)."""
        coil, _ = self._require_connected()
        return coil * self.max_ramp_rate

    def _check_supply_limits(self, target: float, rate: float) -> None:
        """LimitError if `target` (T) needs more current than the limit in force, or
        `rate` (T/s) is above the magnet's ramp limit. Sends nothing."""
        coil, _ = self._require_connected()
        amps = abs(target) / coil
        if amps > self.current_limit_in_force:
            raise LimitError(
                f"field {target:.6g} T needs {amps:.6g} A at {coil:g} T/A, above the magnet current limit "
                f"{self.current_limit_in_force:g} A (station file {self.current_limit:g} A, supply "
                f"{self.supply_current_limit:g} A)"
            )
        if rate > self.max_field_ramp_rate:
            raise LimitError(
                f"field ramp rate {rate:.6g} T/s ({rate / coil:.6g} A/s) is above the magnet's ramp limit "
                f"{self.max_ramp_rate:g} A/s ({self.max_field_ramp_rate:.6g} T/s)"
            )
        if float(plain_number(rate)) <= 0:
            raise LimitError(f"field ramp rate {rate!r} T/s is too small to send")

    # --- the role's public operations, with the 430's preconditions first

    def check_target(self, target: float, rate: float | None = None) -> None:
        """The magnet current limit and the ramp limit on a ramp to `target` (T) at `rate`
        (T/s, default: the station's), LimitError before any command is sent. The role
        calls it after the station limits, whose reason comes first when both apply."""
        self._check_supply_limits(target, self.limits.field_ramp.default if rate is None else rate)

    def ramp_to(self, target: float, pacer: Pacer, rate: float | None = None) -> None:
        """The role's ramp (station limits, then `check_target`, then from the measured
        field until holding), its errors about an unexpected state in the 430's words."""
        with self._explaining_supply_state():
            super().ramp_to(target, pacer, rate)

    def enter_persistent(self, pacer: Pacer) -> None:
        with self._explaining_supply_state():
            super().enter_persistent(pacer)

    @contextmanager
    def _explaining_supply_state(self) -> Iterator[None]:
        """Add the 430's own words to an error about a state the role calls 'other'."""
        try:
            yield
        except InstrumentError as error:
            code = self._last_state_code
            if code is None or STATE_CODES[code][0] is not MagnetState.OTHER:
                raise
            raise InstrumentError(f"{error} (AMI 430 STATE? {code}: {STATE_CODES[code][1]})") from None

    # --- identity and snapshot

    def identity(self) -> str:
        return read_identity(self.supply, f"{self.name}: *IDN?")

    def snapshot(self) -> dict:
        """Role snapshot plus coil constant (T/A), segment-1 ramp rate (T/s) and upper bound
        (T), the supply's state in its own words, and the limits in force."""
        snapshot = super().snapshot()
        coil = self._read_number("COIL?", lambda: self.supply.coil_constant)
        segment = self._exchange("RAMP:RATE:FIELD:1?", lambda: self.supply.ramp_rate_segment_1)
        if not (isinstance(segment, list) and len(segment) == 2):
            raise InstrumentError(f"{self.name}: RAMP:RATE:FIELD:1?: the supply answered {segment!r}, not rate,upper")
        what = f"{self.name}: RAMP:RATE:FIELD:1?"
        rate, upper = (checked_reply(value, CAST_NUMBER, what, "supply") for value in segment)
        return {
            **snapshot,
            "supply_state": STATE_CODES[self._last_state_code][1] if self._last_state_code else None,
            "coil_constant_T_per_A": coil,
            "ramp_rate_T_per_s": rate,
            "ramp_upper_bound_T": upper,
            "current_limit_A": self.current_limit_in_force,
            "supply_current_limit_A": self.supply_current_limit,
            "max_ramp_rate_A_per_s": self.max_ramp_rate,
        }

    # --- the role's primitives

    def read_field(self) -> float:
        """The magnet's field (T), `FIELD:MAG?`."""
        self._require_connected()
        return self._read_number("FIELD:MAG?", lambda: self.supply.field)

    def state(self) -> MagnetState:
        """`STATE?` mapped to MagnetState; a latched quench (`QU?` 1) is QUENCH whatever STATE? says."""
        code = self._exchange("STATE?", lambda: self.supply.state_code)
        if isinstance(code, bool) or code not in STATE_CODES:
            raise InstrumentError(f"{self.name}: STATE?: the supply answered {code!r}, not a state code 1-10")
        self._last_state_code = code
        state = STATE_CODES[code][0]
        if state is MagnetState.QUENCH:
            return state
        if self._read_flag("QU?", lambda: self.supply.quench_flag):
            self._last_state_code = 7
            return MagnetState.QUENCH
        return state

    def is_persistent(self) -> bool:
        """`PERSistent?`: True while the switch is cold and holds the coil current."""
        return self._read_flag("PERSistent?", lambda: self.supply.persistent_flag)

    def switch_heater_on(self) -> bool:
        """`PSwitch?`: True while the persistent-switch heater is on."""
        return self._read_flag("PSwitch?", lambda: self.supply.switch_heater)

    def _start_ramp(self, target: float, rate: float) -> None:
        """Configure one ramp segment at `rate` (T/s) up to the field limit (T), set the
        target (T), check the supply accepted both, then `RAMP`."""
        self._check_supply_limits(target, rate)
        self._verify_units()  # a front-panel change since connect would scale everything

        def configure() -> None:
            self.supply.ramp_segments = 1
            self.supply.ramp_rate_segment_1 = (rate, self.field_limit)
            self.supply.target_field = target

        self._configure_checked(f"ramp to {plain_number(target)} T at {plain_number(rate)} T/s", configure)
        self._exchange("RAMP", self.supply.ramp)

    def _pause(self) -> None:
        self._exchange("PAUSE", self.supply.pause)

    def _set_switch_heater(self, on: bool) -> None:
        """`PSwitch 1|0`, only while holding, paused or at zero; switching on only when the
        supply current matches the coil current."""
        self._require_connected()
        word = "on" if on else "off"
        state = self.state()
        if state not in SWITCHABLE_STATES:
            detail = f" (AMI 430 STATE? {self._last_state_code}: {STATE_CODES[self._last_state_code][1]})"
            raise InstrumentError(
                f"magnet is {state.value}{detail}; refusing to switch the persistent-switch heater {word}"
            )
        if on:
            supply_amps = self._read_number("CURR:SUPP?", lambda: self.supply.supply_current)
            coil_amps = self._read_number("CURR:MAG?", lambda: self.supply.magnet_current)
            if abs(supply_amps - coil_amps) > self.switch_current_tolerance:
                raise InstrumentError(
                    f"{self.name}: the leads carry {supply_amps:.6g} A but the coil holds {coil_amps:.6g} A "
                    f"(more than {self.switch_current_tolerance:g} A apart); heating the switch now would jolt "
                    "the coil current: bring the supply to the coil current first"
                )

        def switch() -> None:
            self.supply.switch_heater = 1 if on else 0

        self._configure_checked(f"switch heater {word} (PSwitch {1 if on else 0})", switch)

    # --- exchanges

    def _read_number(self, command: str, call: Callable[[], Any]) -> float:
        """One query whose reply must be a finite number."""
        return query(f"{self.name}: {command}", call, CAST_NUMBER, source="supply")

    def _read_flag(self, command: str, call: Callable[[], Any]) -> bool:
        """One query whose reply must be 0 or 1."""
        return query(f"{self.name}: {command}", call, CAST_FLAG, source="supply")

    def _configure_checked(self, what: str, writes: Callable[[], None]) -> None:
        """`*CLS`, the writes, then `SYST:ERR?`: InstrumentError with the 430's own text
        if it rejected any of them (it keeps the old value and says so only there)."""
        self._exchange(f"{what}: clear the error queue (*CLS)", self.supply.clear)
        self._exchange(what, writes)
        code, text = self._exchange(f"{what}: read the error queue (SYST:ERR?)", self.supply.read_error)
        if code != 0:
            raise InstrumentError(f'{self.name}: {what} refused by the supply: {code},"{text}"')
