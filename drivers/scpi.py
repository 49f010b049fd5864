"""What the VISA instruments' adapters share: one home for each SCPI-style convention.

* `timeout_ms`: the `timeout` setting of a station-file block, as the VISA timeout.
* `query`: one guarded exchange (a timeout or a driver error becomes an InstrumentError
  naming the instrument and what was being done, see `base.guarded`) whose reply is
  converted as expected (a finite number, 0 or 1, an error entry: `base.Expected`), a
  bad reply being one InstrumentError line naming the command and the reply.
* `identify` (or `read_identity` then `check_identity`): `*IDN?`, checked against the
  expected model so a wrong address is caught before anything is driven.
* `check_error_queue` / `error_entry`: `SYST:ERR?` drained (or one entry read) and
  parsed, the instrument's own words reaching the operator.
* `log_wire`: every message written to the instrument and every reply read from it
  logged at DEBUG on the driver's logger, "<name> -> ':SOUR:CURR 1e-06'" and
  "<name> <- '0,\"No error\"'".
* `NamedExchanges`: the exchanges of an adapter whose every message starts with its
  instrument's name ("Keithley 6221 at GPIB0::12::INSTR: ...").

Nothing here imports pymeasure: the instruments are handed in.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable

from sqm.errors import InstrumentError, UserInputError

from .base import ERROR_ENTRY, NUMBER, Expected, checked_reply, guarded, log_exchanges, parsed_reply, setting

DEFAULT_TIMEOUT_S = 5.0  # VISA timeout of the drivers that take a `timeout` setting

# A SCPI error queue holds at most a few tens of entries; stop draining after this many
# so an instrument that keeps answering with errors cannot hang the run.
MAX_ERRORS_READ = 32


def timeout_ms(config: dict, default: float = DEFAULT_TIMEOUT_S) -> int:
    """The block's `timeout` (s, with units, default `default` s) in ms for pyvisa; UserInputError unless positive."""
    seconds = setting(config, "timeout", "time", default)
    if not seconds > 0:
        raise UserInputError(f"timeout must be positive, got {config.get('timeout')!r}")
    return round(seconds * 1000)


def query(
    what: str,
    call: Callable[[], Any],
    expected: Expected = NUMBER,
    *,
    reply_of: str | None = None,
    source: str | None = None,
) -> Any:
    """`call` (one query) run as `guarded(what, call)`, its reply converted as `expected`.

    A bad reply is one InstrumentError about `reply_of` (default `what`): "<reply_of>
    answered '<reply>', expected <...>", or, given the `source` that answered
    ("supply", "controller"), "<reply_of>: the <source> answered '<reply>', not <...>".
    """
    reply = guarded(what, call)
    if source is None:
        return parsed_reply(reply, expected, what if reply_of is None else reply_of)
    return checked_reply(reply, expected, what if reply_of is None else reply_of, source)


def read_identity(instrument: Any, what: str) -> str:
    """`*IDN?` (pymeasure's `id`), guarded as `what`, stripped."""
    return str(guarded(what, lambda: instrument.id)).strip()


def check_identity(
    identity: str, model: str | re.Pattern | Callable[[str], bool], refusal: Callable[[str], str]
) -> str:
    """`identity` if it is the expected `model` (a regular expression searched in it, or a
    test), else InstrumentError(`refusal(identity)`)."""
    if not (model(identity) if callable(model) else re.search(model, identity)):
        raise InstrumentError(refusal(identity))
    return identity


def identify(instrument: Any, name: str, model: str | re.Pattern | Callable[[str], bool]) -> str:
    """The identity of instrument `name`: `*IDN?` guarded as "<name>: identify (*IDN?)", refused
    unless it is the expected `model`, as "<name>: answers as '<identity>', not the expected
    model; check the address"."""
    identity = read_identity(instrument, f"{name}: identify (*IDN?)")
    return check_identity(
        identity, model, lambda found: f"{name}: answers as {found!r}, not the expected model; check the address"
    )


def error_entry(reply: Any) -> tuple[int, str]:
    """One `SYST:ERR?` reply `code,"text"` as (code, text as sent, quotes kept);
    ValueError or TypeError for anything else."""
    return ERROR_ENTRY.convert(reply)


def check_error_queue(instrument: Any, name: str) -> None:
    """Read `SYST:ERR?` until the instrument says `0,"No error"`; any error it reported
    becomes an InstrumentError "<name> reports: <code>,<text>; ..." in its own words."""
    errors: list[str] = []
    for _ in range(MAX_ERRORS_READ):
        code, message = query(
            f"{name}: read the error queue (SYST:ERR?)",
            lambda: instrument.ask("SYST:ERR?"),
            ERROR_ENTRY,
            reply_of=f"{name}: SYST:ERR?",
        )
        if code == 0:
            break
        errors.append(f"{code},{message}")
    else:
        errors.append(f"(more than {MAX_ERRORS_READ} errors queued)")
    if errors:
        raise InstrumentError(f"{name} reports: {'; '.join(errors)}")


def log_wire(instrument: Any, name: str, log: logging.Logger) -> None:
    """Log every message to and reply from `instrument` (a pymeasure instrument, or None
    while a block is only being checked) at DEBUG on `log`, as "<name> -> <message>" /
    "<name> <- <reply>"; the VISA resource is added to `name` when it does not hold it.

    Called when an adapter takes its instrument, so what the instrument's constructor
    sent before (a login, welcome lines) is not logged, and a later login is sent inside
    `base.unlogged`: a password never reaches the log."""
    adapter = getattr(instrument, "adapter", None)
    if adapter is None:
        return
    resource = getattr(getattr(adapter, "connection", None), "resource_name", None)
    if isinstance(resource, str) and resource not in name:
        name = f"{name} at {resource}"
    log_exchanges(adapter, name, log)


class NamedExchanges:
    """Mixin of the adapters that start every message with their `name` ("Keithley 6221
    at GPIB0::12::INSTR"): `_exchange` guards one exchange as "<name>: <what>", `_query`
    one query as "<name>: <what> (<command>)", its reply parsed as "<name>: <command>"."""

    name: str

    def _exchange(self, what: str, call: Callable[[], Any]) -> Any:
        return guarded(f"{self.name}: {what}", call)

    def _query(self, command: str, what: str, call: Callable[[], Any], expected: Expected = NUMBER) -> Any:
        return query(f"{self.name}: {what} ({command})", call, expected, reply_of=f"{self.name}: {command}")
