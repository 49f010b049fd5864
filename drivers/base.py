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

import logging
import math
import re
import reprlib
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator

from sqm.clock import Clock
from sqm.errors import InstrumentError, UserInputError
from sqm.units import to_si, to_unit


class VisaPackageMissing(UserInputError):
    """The station's `visa_library` needs a pyvisa backend package that is not installed
    (pyvisa says "Wrapper not found: No package named pyvisa_py")."""


_MISSING_VISA_PACKAGE = re.compile(r"No package named pyvisa_(\w+)")
_VISA_PACKAGE_INSTALL = {"pyvisa-py": "pip install -e '.[hardware]'", "pyvisa-sim": "pip install -e '.[dev]'"}


@dataclass
class HardwareContext:
    """Shared by all adapters of one station: the VISA library, the clock, shared devices."""

    visa_library: str  # "" for pyvisa's default, "@py", or "path/to/devices.yaml@sim"
    clock: Clock
    shared: dict[str, Any] = field(default_factory=dict)  # e.g. one DAQ device used by two roles
    closers: list[Callable[[], None]] = field(default_factory=list)
    remote: Any = None  # a RemoteSpec (sqm.drivers.leco) for a role whose instrument is on another PC

    def for_remote(self, remote: Any) -> "HardwareContext":
        """The same context (its clock, shared devices, closers) for a role reached through a LECO Actor."""
        return replace(self, remote=remote)

    def visa_adapter(self, address: str, **settings):
        """A pymeasure adapter on `address`: a VISAAdapter through this station's VISA library,
        or, for a remote role, one that reaches the resource through its LECO Actor."""
        if self.remote is not None:
            from .leco import leco_adapter

            timeout_s = float(settings.get("timeout", 5000)) / 1000.0
            adapter = leco_adapter(self.remote, address, timeout_s=2 * timeout_s + 1.0, **settings)
            self.closers.append(adapter.close)
            return adapter
        from pymeasure.adapters import VISAAdapter

        try:
            adapter = VISAAdapter(address, visa_library=self.visa_library, **settings)
        except Exception as error:  # pyvisa raises many kinds; the operator needs the address and why
            missing = _MISSING_VISA_PACKAGE.search(str(error))
            if missing:  # the library the station names is a package not installed: not the instrument's fault
                package = f"pyvisa-{missing.group(1)}"
                install = _VISA_PACKAGE_INSTALL.get(package, f"pip install {package}")
                raise VisaPackageMissing(
                    f"{self.visa_library!r} needs the package {package}, which is not installed ({install})"
                ) from None
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


# --------------------------------------------------------------------------- the wire log


class _Shown:
    """A value for the log, shortened when printed (a DAQ line holds thousands of samples)."""

    __slots__ = ("value",)
    _repr = reprlib.Repr()
    _repr.maxlist = _repr.maxtuple = 8
    _repr.maxother = 200

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return self._repr.repr(self.value)


def _for_log(value: Any) -> Any:
    return value if isinstance(value, (str, bytes)) else _Shown(value)  # commands and replies in full


def log_exchanges(target: Any, name: str, log: logging.Logger) -> None:
    """Log at DEBUG every message `target` writes and every reply it reads, as
    "<name> -> <message>" and "<name> <- <reply>" on `log` (the driver module's logger).

    `target` is what every exchange of a driver goes through: the pymeasure adapter of a
    VISA instrument (see sqm.drivers.scpi.log_wire), an NI-DAQmx task. Its `write(message,
    ...)` and `read(...)` are wrapped on the object itself, so every caller is logged,
    pymeasure's properties as well as raw writes. Calling it again only renames. A
    secret (a password) is sent inside `unlogged(target)`.
    """
    state = getattr(target, "_sqm_wire_log", None)
    if state is not None:
        state.name, state.log = name, log
        return
    state = _WireLog(name, log)
    try:
        write, read = _weak(target.write), _weak(target.read)
    except AttributeError:  # nothing to log on
        return

    def logged_write(message: Any, *args: Any, **kwargs: Any) -> Any:
        if state.enabled():
            state.log.debug("%s -> %r", state.name, _for_log(message))
        return write()(message, *args, **kwargs)

    def logged_read(*args: Any, **kwargs: Any) -> Any:
        reply = read()(*args, **kwargs)
        if state.enabled():
            state.log.debug("%s <- %r", state.name, _for_log(reply))
        return reply

    try:
        target.write, target.read = logged_write, logged_read
        target._sqm_wire_log = state
    except (AttributeError, TypeError):  # an object that takes no attributes: unlogged, never unusable
        log.debug("%s: its exchanges cannot be logged", name)


@dataclass
class _WireLog:
    name: str
    log: logging.Logger
    paused: bool = False

    def enabled(self) -> bool:
        return not self.paused and self.log.isEnabledFor(logging.DEBUG)


@contextmanager
def unlogged(target: Any) -> Iterator[None]:
    """Nothing `target` writes or reads in the block is logged (a password and its echo)."""
    state = getattr(target, "_sqm_wire_log", None)
    if state is None:
        yield
        return
    paused, state.paused = state.paused, True
    try:
        yield
    finally:
        state.paused = paused


def _weak(method: Callable) -> Callable[[], Callable]:
    """`method` without a reference cycle through its object (which closes its connection when freed)."""
    try:
        return weakref.WeakMethod(method)
    except TypeError:  # not a bound method (already replaced on the object): keep it
        return lambda: method


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


def _cast_float(reply: Any) -> float:
    """A value pymeasure has already cast: text here is a reply its cast failed on."""
    if isinstance(reply, str):
        raise TypeError("text pymeasure could not cast")
    return _finite_float(reply)


def _cast_flag(reply: Any) -> bool:
    value = _cast_float(reply)
    if value not in (0.0, 1.0):
        raise ValueError("not 0 or 1")
    return value == 1.0


NUMBER = Expected("a number", _finite_float)  # finite: NaN or inf from a reading is garbage too
FLAG = Expected("0 or 1", _flag)
ERROR_ENTRY = Expected('an error entry (code,"text")', _error_entry)
# The same for what a pymeasure property returns (its cast done): a text reply is garbage.
CAST_NUMBER = Expected("a number", _cast_float)
CAST_FLAG = Expected("0 or 1", _cast_flag)


def parsed_reply(reply: Any, expected: Expected, what: str) -> Any:
    """`reply` (from pymeasure, or a raw `ask`) converted as `expected`; anything else is
    one InstrumentError line "<what> answered '<reply>', expected <...>". `what` names the
    instrument and the command, e.g. "Keithley 6221 at GPIB0::12: OUTPut?"."""
    return _converted(reply, expected, f"{what} answered {reply!r}, expected {expected.text}")


def checked_reply(reply: Any, expected: Expected, what: str, source: str) -> Any:
    """As `parsed_reply`, worded after the `source` that answered ("supply", "controller"):
    "<what>: the <source> answered '<reply>', not <...>"."""
    return _converted(reply, expected, f"{what}: the {source} answered {reply!r}, not {expected.text}")


def _converted(reply: Any, expected: Expected, refusal: str) -> Any:
    try:
        return expected.convert(reply)
    except (TypeError, ValueError):
        raise InstrumentError(refusal) from None
