"""What can go wrong with an emulated instrument, when, and for how long.

A fault starts at a lab time (s, the station clock) and lasts for a lab duration, or to
the end. At the wire (every instrument):

- `no_reply`: the instrument hangs: messages are swallowed, nothing is answered (the
  driver's read times out);
- `garbage`: the next reply is garbled (one reply);
- `drop`: the connection is closed and new ones are refused; with `lasts`, the
  instrument takes connections again afterwards (it came back).

In the instrument (those its emulator supports, `InstrumentEmulator.instrument_faults`):

- `error_entry`: an entry in its error queue (once);
- `quench`: the magnet quenches (once);
- `invalid_reading`: the thermometer reads invalid while it lasts;
- `heater_fault`: the heater reports a fault while it lasts;
- `squid_unlock`: the SQUID's flux-locked loop loses lock while it lasts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqm.errors import UserInputError
from sqm.limits import PlausibleRange, read_setting, shown

WIRE_FAULTS = ("no_reply", "garbage", "drop")
INSTRUMENT_FAULTS = ("error_entry", "quench", "invalid_reading", "heater_fault", "squid_unlock")
ONCE = ("garbage", "error_entry", "quench")  # happen once, at their time; `lasts` means nothing for them
_LAB_TIME = PlausibleRange("lab time", "time", 0.0, 1e7, "30 s")


@dataclass(frozen=True)
class Fault:
    """`kind` from `at` (lab s) for `lasts` lab s (None: to the end)."""

    kind: str
    at: float = 0.0
    lasts: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in WIRE_FAULTS + INSTRUMENT_FAULTS:
            raise UserInputError(f"unknown fault {self.kind!r} (known: {', '.join(WIRE_FAULTS + INSTRUMENT_FAULTS)})")

    @property
    def ends(self) -> float:
        return math.inf if self.lasts is None else self.at + self.lasts

    @classmethod
    def from_mapping(cls, entry: object, where: str) -> tuple[str, "Fault"]:
        """(role name, fault) from a fault plan's entry `{instrument: magnet, fault: quench,
        at: 2 min, lasts: 30 s}`; one UserInputError naming `where` otherwise."""
        if not isinstance(entry, dict) or set(entry) - {"instrument", "fault", "at", "lasts"}:
            raise UserInputError(f"{where}: give {{instrument: <role>, fault: <kind>, at: <lab time>, lasts: "
                                 f"<lab time>}}, got {shown(entry)}")
        role, kind = entry.get("instrument"), entry.get("fault")
        if not isinstance(role, str) or not isinstance(kind, str):
            raise UserInputError(f"{where}: 'instrument' (a role) and 'fault' (a kind) are text, got {shown(entry)}")
        try:
            at = read_setting({"at": 0.0, **entry}, where, "at", _LAB_TIME)
            lasts = None if entry.get("lasts") is None else read_setting(entry, where, "lasts", _LAB_TIME)
            return role, cls(kind, at, lasts)
        except UserInputError as error:
            raise UserInputError(f"{where}: {error}") from None


class FaultPlan:
    """The faults of one instrument, told apart into those starting and ending as lab time passes."""

    def __init__(self) -> None:
        self._pending: list[Fault] = []
        self._active: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._pending.append(fault)

    def update(self, now: float) -> tuple[list[Fault], list[Fault]]:
        """(started, ended) since the last update, at lab time `now` (s)."""
        started = [fault for fault in self._pending if fault.at <= now]
        self._pending = [fault for fault in self._pending if fault.at > now]
        self._active += [fault for fault in started if fault.kind not in ONCE]
        ended = [fault for fault in self._active if fault.ends <= now]
        self._active = [fault for fault in self._active if fault.ends > now]
        return started, ended

    def active(self, kind: str) -> bool:
        return any(fault.kind == kind for fault in self._active)
