"""What every real-instrument adapter shares: how it is built from a station file, how
it reaches its instrument, and how faults become clear reasons.

An adapter is a role (sqm.roles) implemented on a pymeasure driver. The station's
`hardware:` block names, per role, a `driver` (a key of sqm.drivers.backend.DRIVERS)
and its settings; the adapter class builds itself with `from_config(config, context)`.
Quantities in the settings may carry units (sqm.units).

Safety stays in the roles' base classes (limits before any command, ramps from the
measured value); adapters add the instrument's own preconditions (quench, persistent
switch, invalid sensor reading) and must never let a driver clamp a value: they check
the instrument's own range before sending and refuse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from sqm.clock import Clock
from sqm.errors import InstrumentError, UserInputError
from sqm.units import to_si, to_unit


@dataclass
class HardwareContext:
    """Shared by all adapters of one station: the VISA library, the clock, shared devices."""

    visa_library: str  # "" for pyvisa's default, "@py", or "path/to/devices.yaml@sim"
    clock: Clock
    shared: dict[str, Any] = field(default_factory=dict)  # e.g. one DAQ device used by two roles
    closers: list[Callable[[], None]] = field(default_factory=list)

    def visa_adapter(self, address: str, **settings):
        """A pymeasure VISAAdapter on `address` through this station's VISA library."""
        from pymeasure.adapters import VISAAdapter

        try:
            adapter = VISAAdapter(address, visa_library=self.visa_library, **settings)
        except Exception as error:  # pyvisa raises many kinds; the operator needs the address and why
            raise InstrumentError(f"cannot open {address}: {type(error).__name__}: {error}") from None
        self.closers.append(adapter.close)
        return adapter

    def close(self) -> None:
        for closer in reversed(self.closers):
            try:
                closer()
            except Exception:  # closing is best effort: never mask how the run ended
                pass


def setting(config: dict, key: str, dimension: str | None = None, default: Any = ...) -> Any:
    """One setting of a role's block, converted to SI if `dimension` is given."""
    if key not in config:
        if default is ...:
            raise UserInputError(f"missing setting '{key}'")
        return default
    value = config[key]
    if dimension is None:
        return value
    try:
        return to_si(value, dimension)
    except UserInputError as error:
        raise UserInputError(f"{key}: {error}") from None


def quantity_setting(config: dict, key: str, unit: str, default: Any = ...) -> float:
    """A setting in `unit` ('Phi0/V', 'm/V', 'degree'...): a bare number is taken as
    already in `unit`; a string may carry any convertible unit ('250 mPhi0/V')."""
    if key not in config and default is not ...:
        return default
    value = setting(config, key)
    try:
        return to_unit(value, unit)  # the strict reading of procedure files: no decimal commas, no junk
    except UserInputError as error:
        raise UserInputError(f"{key}: {error}") from None


def connected(role, address: str):
    """`role.connect()`, its InstrumentError prefixed with the instrument's address; returns the role."""
    try:
        role.connect()
    except InstrumentError as error:
        raise InstrumentError(f"{address}: {error}") from None
    return role


def check_known_keys(config: dict, known: set[str]) -> None:
    unknown = set(config) - known - {"driver"}
    if unknown:
        raise UserInputError(f"unknown setting(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")


def guarded(what: str, call: Callable[[], Any]) -> Any:
    """Run one instrument exchange; a timeout, garbage or a driver error becomes an
    InstrumentError naming `what` (the run then stops with that reason, station safe)."""
    try:
        return call()
    except InstrumentError:
        raise
    except Exception as error:
        raise InstrumentError(f"{what}: {type(error).__name__}: {error}") from None


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Expected:
    """What an instrument's reply must be (see `parsed_reply`): `text` says it in the
    error ("a number", "0 or 1"); `convert` turns a good reply into its value and raises
    ValueError or TypeError on any other."""

    text: str
    convert: Callable[[Any], Any]


def _finite_float(reply: Any) -> float:
    if isinstance(reply, bool):  # pymeasure's mapped values: True is not the number 1 here
        raise TypeError("a bool")
    value = float(reply)  # pymeasure hands a reply its cast failed on back as text; a list raises TypeError
    if not math.isfinite(value):
        raise ValueError("not finite")
    return value


def _flag(reply: Any) -> bool:
    value = _finite_float(reply)
    if value not in (0.0, 1.0):
        raise ValueError("not 0 or 1")
    return value == 1.0


def _error_entry(reply: Any) -> tuple[int, str]:
    """A SCPI error-queue entry `code,"text"` as (code, text as sent, quotes kept)."""
    code_text, _, message = str(reply).strip().partition(",")
    code = _finite_float(code_text)
    if code != int(code):
        raise ValueError("not a whole number")
    return int(code), message


NUMBER = Expected("a number", _finite_float)  # finite: NaN or inf from a reading is garbage too
FLAG = Expected("0 or 1", _flag)
ERROR_ENTRY = Expected('an error entry (code,"text")', _error_entry)


def parsed_reply(reply: Any, expected: Expected, what: str) -> Any:
    """`reply` (from pymeasure, or a raw `ask`) converted as `expected`; anything else is
    one InstrumentError line "<what> answered '<reply>', expected <...>". `what` names the
    instrument and the command, e.g. "Keithley 6221 at GPIB0::12: OUTPut?"."""
    try:
        return expected.convert(reply)
    except (TypeError, ValueError):
        raise InstrumentError(f"{what} answered {reply!r}, expected {expected.text}") from None
