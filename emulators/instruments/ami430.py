"""American Magnetics Model 430 power supply programmer on its Ethernet port.

Each connection is greeted with the 430's two welcome lines; messages and replies end
in CR LF. Commands are SCPI-style (`CONFigure:FIELD:TARGet`: the lower-case letters may
be left out) and errors queue for `SYSTem:ERRor?` (`0,"No errors"` when empty).

Inside, fields are in T, currents in A and times in s; the wire uses the units the
430 is set to: field in kilogauss (0) or tesla (1) (`CONF:FIELD:UNITS`), ramp rates
per second (0) or per minute (1) (`CONF:RAMP:RATE:UNITS`). It comes up in kilogauss
per minute, so a driver must set its units. The coil constant (COIL?) and the current
limit are the station block's `coil_constant` and `current_limit`.

The coil is the world's: a RAMP starts the world's field ramp, which runs with lab
time; STATE? follows it (1 ramping, 2 holding, 3 paused, 6 zeroing, 7 quench, 8 at
zero, 9 heating switch, 10 cooling switch). A ramp runs at the slowest rate of the
rate segments it crosses (the world ramps at one rate).

The persistent switch: `PSwitch 0` detaches the coil from the supply at once and
cools the switch for the switch cooling time (STATE? 10), after which PERSistent? is
1. While detached, RAMP / ZERO / PAUSE act on the supply's lead current only
(CURR:SUPP?); the coil keeps its current (CURR:MAG?, FIELD:MAG?). `PSwitch 1` heats
the switch for the switch heating time (STATE? 9); then the coil carries the lead
current again, with a jump in field if the two differed. Both times are the block's
`switch_heater_wait` (the driver's default when absent): a 430 set up as the station
file expects (`CONF:PS:HTIME` / `CONF:PS:CTIME` change them, in s).

A quench (the world's, or the "quench" fault) latches QU? 1 and STATE? 7 until
`QU 0`; the world collapses the field.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from sqm.drivers.ami430 import DEFAULT_SWITCH_HEATER_WAIT_S, _coil_constant_setting
from sqm.drivers.base import setting
from sqm.roles import MagnetState
from sqm.sims.world import World

from ..scpi import ErrorQueue
from ..server import InstrumentEmulator

IDENTITY = "AMERICAN MAGNETICS INC.,MODEL 430,SQM-EMULATOR,2.01"
WELCOME = ("American Magnetics Model 430 IP Interface", "Hello.")
NO_ERRORS = (0, "No errors")
UNRECOGNIZED = (-101, "Unrecognized command")
INVALID_ARGUMENT = (-102, "Invalid argument")
OUT_OF_RANGE = (-105, "Out of range")
KILOGAUSS_PER_TESLA = 10.0
SEGMENTS = 10  # rate segments the 430 has
DEFAULT_RATE_A_PER_S = 0.01  # every segment's rate before a driver sets one
ZEROING, QUENCH, AT_ZERO, HEATING_SWITCH, COOLING_SWITCH = 6, 7, 8, 9, 10
STATE_CODES = {MagnetState.RAMPING: 1, MagnetState.HOLDING: 2, MagnetState.PAUSED: 3, MagnetState.AT_ZERO: AT_ZERO}


def _command(mnemonic: str, arguments: str = "") -> re.Pattern[str]:
    """A 430 command: `mnemonic` in SCPI form ('CONFigure:FIELD:TARGet', lower case optional),
    then the regex of its `arguments`, matched whole and in any case."""
    pattern = re.sub(r"([A-Z]+)([a-z]+)", lambda m: f"{m[1]}(?:{m[2].upper()})?", re.escape(mnemonic))
    return re.compile(pattern + arguments, re.IGNORECASE)


def _plain(value: float) -> str:
    """A reply number as the 430 writes it: a plain decimal."""
    return f"{value:.10f}"


def _flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError(text)
    return text == "1"


@dataclass
class _Leads:
    """The supply's output current (A) while the coil is detached: ramps at `rate` (A/s) on lab time (s)."""

    current: float = 0.0
    target: float = 0.0
    rate: float = 0.0
    state: MagnetState = MagnetState.HOLDING
    time: float = 0.0

    def advance(self, now: float) -> None:
        if self.state is MagnetState.RAMPING:
            reach = self.rate * (now - self.time)
            if abs(self.target - self.current) <= reach:
                self.current, self.state = self.target, MagnetState.HOLDING
            else:
                self.current += math.copysign(reach, self.target - self.current)
        self.time = now


class AMI430Emulator(InstrumentEmulator):
    read_termination = "\r\n"
    write_termination = "\r\n"
    instrument_faults = ("quench", "error_entry")

    def __init__(self, block, link) -> None:
        super().__init__(block, link)
        self.errors = ErrorQueue(no_error=NO_ERRORS)
        self.coil = _coil_constant_setting(block)  # T/A
        self.current_limit = setting(block, "current_limit", "current")  # A
        self.heating_time = self.cooling_time = setting(block, "switch_heater_wait", "time",
                                                        DEFAULT_SWITCH_HEATER_WAIT_S)  # s
        self.tesla = False  # field units: kilogauss (False) or tesla
        self.per_minute = True  # ramp-rate units: per minute (True) or per second
        self.target = 0.0  # A
        self.segment_count = 1
        self.segments = [(DEFAULT_RATE_A_PER_S, self.current_limit)] * SEGMENTS  # (rate A/s, upper bound A)
        self.quenched = False  # the latched quench flag, QU?
        self.zeroing = False  # the last ramp was a ZERO
        self.switch_change: tuple[bool, float] | None = None  # (heating?, lab s when it is done)
        self.leads = _Leads()
        q = _command
        self._commands: list[tuple[re.Pattern[str], Callable[..., Sequence[str] | None]]] = [
            (q("*IDN?"), lambda: [IDENTITY]),
            (q("*CLS"), self.errors.entries.clear),
            (q("SYSTem:ERRor?"), lambda: [self.errors.pop()]),
            (q("CONFigure:FIELD:UNITS", r" (\S+)"), self._set_field_units),
            (q("FIELD:UNITS?"), lambda: [str(int(self.tesla))]),
            (q("CONFigure:RAMP:RATE:UNITS", r" (\S+)"), self._set_rate_units),
            (q("RAMP:RATE:UNITS?"), lambda: [str(int(self.per_minute))]),
            (q("COILconst?"), lambda: [_plain(self.coil * self._field_scale)]),
            (q("CONFigure:COILconst", r" (\S+)"), self._set_coil),
            (q("CURRent:LIMit?"), lambda: [_plain(self.current_limit)]),
            (q("CONFigure:CURRent:LIMit", r" (\S+)"), self._set_current_limit),
            (q("RAMP:RATE:SEGments?"), lambda: [str(self.segment_count)]),
            (q("CONFigure:RAMP:RATE:SEGments", r" (\d+)"), self._set_segment_count),
            (q("RAMP:RATE:FIELD:", r"(\d+)\?"), lambda n: self._segment(n, self.coil * self._field_scale)),
            (q("RAMP:RATE:CURRent:", r"(\d+)\?"), lambda n: self._segment(n, 1.0)),
            (q("CONFigure:RAMP:RATE:FIELD", r" (\d+),([^,]+),(.+)"),
             lambda n, rate, upper: self._set_segment(n, rate, upper, self.coil * self._field_scale)),
            (q("CONFigure:RAMP:RATE:CURRent", r" (\d+),([^,]+),(.+)"),
             lambda n, rate, upper: self._set_segment(n, rate, upper, 1.0)),
            (q("FIELD:TARGet?"), lambda: [_plain(self.target * self.coil * self._field_scale)]),
            (q("CURRent:TARGet?"), lambda: [_plain(self.target)]),
            (q("CONFigure:FIELD:TARGet", r" (\S+)"),
             lambda value: self._set_target(value, self.coil * self._field_scale)),
            (q("CONFigure:CURRent:TARGet", r" (\S+)"), lambda value: self._set_target(value, 1.0)),
            (q("FIELD:MAGnet?"), lambda: [_plain(self._coil_amps() * self.coil * self._field_scale)]),
            (q("CURRent:MAGnet?"), lambda: [_plain(self._coil_amps())]),
            (q("CURRent:SUPPly?"), lambda: [_plain(self._supply_amps())]),
            (q("RAMP"), lambda: self._ramp(zero=False)),
            (q("ZERO"), lambda: self._ramp(zero=True)),
            (q("PAUSE"), self._pause),
            (q("STATE?"), lambda: [str(self._state_code())]),
            (q("QUench?"), self._quench_flag),
            (q("QUench", r" (\S+)"), self._set_quench),
            (q("PERSistent?"), self._persistent_flag),
            (q("PSwitch?"), self._switch_flag),
            (q("PSwitch", r" (\S+)"), self._set_switch),
            (q("PSwitch:HTIME?"), lambda: [_plain(self.heating_time)]),
            (q("PSwitch:CTIME?"), lambda: [_plain(self.cooling_time)]),
            (q("CONFigure:PSwitch:HTIME", r" (\S+)"), lambda value: self._set_switch_time("heating_time", value)),
            (q("CONFigure:PSwitch:CTIME", r" (\S+)"), lambda value: self._set_switch_time("cooling_time", value)),
        ]

    def connected(self) -> Sequence[str]:
        return WELCOME

    def handle(self, message: str) -> Sequence[str]:
        for pattern, answer in self._commands:
            match = pattern.fullmatch(message)
            if match:
                try:
                    return answer(*match.groups()) or []
                except ValueError:
                    self.errors.push(INVALID_ARGUMENT)
                    return []
        self.errors.push(UNRECOGNIZED)
        return []

    def start_fault(self, kind: str) -> None:
        if kind == "quench":
            self._set_quench("1")
        elif kind == "error_entry":
            self.errors.push(UNRECOGNIZED)  # as another client's mistyped command leaves it
        else:
            super().start_fault(kind)

    # Units ------------------------------------------------------------------------------
    @property
    def _field_scale(self) -> float:
        """Field units on the wire per T."""
        return 1.0 if self.tesla else KILOGAUSS_PER_TESLA

    @property
    def _time_scale(self) -> float:
        """Wire rate-time units per s (a rate per minute is 60 times the rate per second)."""
        return 60.0 if self.per_minute else 1.0

    def _set_field_units(self, value: str) -> None:
        self.tesla = _flag(value)

    def _set_rate_units(self, value: str) -> None:
        self.per_minute = _flag(value)

    # Configuration ---------------------------------------------------------------------------
    def _positive(self, text: str) -> float | None:
        """`text` as a positive number, else None with OUT_OF_RANGE queued (ValueError if no number)."""
        value = float(text)
        if not (math.isfinite(value) and value > 0):
            self.errors.push(OUT_OF_RANGE)
            return None
        return value

    def _set_coil(self, text: str) -> None:
        value = self._positive(text)
        if value is not None:
            self.coil = value / self._field_scale

    def _set_current_limit(self, text: str) -> None:
        value = self._positive(text)
        if value is not None:
            self.current_limit = value

    def _set_switch_time(self, name: str, text: str) -> None:
        value = self._positive(text)
        if value is not None:
            setattr(self, name, value)

    def _set_segment_count(self, text: str) -> None:
        if 1 <= int(text) <= SEGMENTS:
            self.segment_count = int(text)
        else:
            self.errors.push(OUT_OF_RANGE)

    def _segment(self, number: str, per_amp: float) -> list[str] | None:
        """Segment `number` as `rate,upper bound` in wire units (`per_amp`: wire units per A)."""
        if not 1 <= int(number) <= self.segment_count:
            self.errors.push(OUT_OF_RANGE)
            return None
        rate, upper = self.segments[int(number) - 1]
        return [f"{_plain(rate * per_amp * self._time_scale)},{_plain(upper * per_amp)}"]

    def _set_segment(self, number: str, rate: str, upper: str, per_amp: float) -> None:
        index = int(number) - 1
        rate_value, upper_value = self._positive(rate), self._positive(upper)
        if rate_value is None or upper_value is None:
            return
        if not 0 <= index < self.segment_count:
            self.errors.push(OUT_OF_RANGE)
            return
        self.segments[index] = (rate_value / per_amp / self._time_scale, upper_value / per_amp)

    def _set_target(self, text: str, per_amp: float) -> None:
        """A target beyond the current limit is refused (the old one stays)."""
        amps = float(text) / per_amp
        if not math.isfinite(amps) or abs(amps) > self.current_limit:
            self.errors.push(OUT_OF_RANGE)
            return
        self.target = amps

    def _rate(self, start: float, end: float) -> float:
        """The ramp rate (A/s) from `start` to `end` (A): the slowest of the segments crossed."""
        low = 0.0 if start * end <= 0 else min(abs(start), abs(end))
        high = max(abs(start), abs(end))
        segments = sorted(self.segments[: self.segment_count], key=lambda segment: segment[1])
        rates, below = [], 0.0
        for rate, upper in segments:
            if below <= high and upper >= low:
                rates.append(rate)
            below = upper
        return min(rates or [segments[-1][0]])

    # The coil and the leads ---------------------------------------------------------------
    @contextmanager
    def _present(self) -> Iterator[World]:
        """The world at the present lab time, with the supply's own state brought to it."""
        with self.link.world() as world:
            self._settle(world)
            yield world

    def _settle(self, world) -> None:
        """Bring the supply's own state (quench latch, switch, leads) to the world's lab time."""
        self.leads.advance(world.time)
        if world.magnet_state is MagnetState.QUENCH:
            self.quenched = True
        if self.switch_change is not None and world.time >= self.switch_change[1]:
            heating, self.switch_change = self.switch_change[0], None
            if heating and world.magnet_state is not MagnetState.QUENCH:
                self._attach(world)

    def _detached(self, world) -> bool:
        """The coil is closed on its switch (heater off, or not yet warm): the supply drives only its leads."""
        return not world.switch_heater_on or self.switch_change is not None

    def _attach(self, world) -> None:
        """The switch is warm: the coil takes the lead current again (a jump in field if they differed)."""
        world.field = world.field_target = self.leads.current * self.coil
        if self.leads.state is MagnetState.RAMPING:
            world.start_field_ramp(self.leads.target * self.coil, self.leads.rate * self.coil)
        else:
            world.magnet_state = self.leads.state

    def _coil_amps(self) -> float:
        with self._present() as world:
            return world.field / self.coil

    def _supply_amps(self) -> float:
        with self._present() as world:
            return self.leads.current if self._detached(world) else world.field / self.coil

    def _state_code(self) -> int:
        with self._present() as world:
            if self.quenched:
                return QUENCH
            if self.switch_change is not None:
                return HEATING_SWITCH if self.switch_change[0] else COOLING_SWITCH
            detached = self._detached(world)
            state = self.leads.state if detached else world.magnet_state
            amps = self.leads.current if detached else world.field / self.coil
            if self.zeroing and state is MagnetState.RAMPING:
                return ZEROING
            if self.zeroing and state is MagnetState.HOLDING and amps == 0.0:
                return AT_ZERO
            return STATE_CODES[state]

    def _ramp(self, zero: bool) -> None:
        """RAMP to the target, or ZERO, at the segments' rate; nothing while a quench is latched."""
        with self._present() as world:
            if self.quenched:
                return
            self.zeroing = zero
            target = 0.0 if zero else self.target
            if self._detached(world):
                leads = self.leads
                leads.target, leads.rate, leads.state = target, self._rate(leads.current, target), MagnetState.RAMPING
            else:
                present = world.field / self.coil
                world.start_field_ramp(target * self.coil, self._rate(present, target) * self.coil)

    def _pause(self) -> None:
        with self._present() as world:
            self.zeroing = False
            if self._detached(world):
                if self.leads.state is MagnetState.RAMPING:
                    self.leads.state = MagnetState.PAUSED
            else:
                world.pause_field_ramp()

    # Quench and the persistent switch ------------------------------------------------------
    def _quench_flag(self) -> list[str]:
        with self._present():
            return [str(int(self.quenched))]

    def _set_quench(self, value: str) -> None:
        """`QU 1` quenches the magnet (as the "quench" fault); `QU 0` resets the latch: the supply pauses."""
        quench = _flag(value)
        with self._present() as world:
            if quench:
                world.inject_quench()
                self.quenched = True
                return
            self.quenched = False
            if world.magnet_state is MagnetState.QUENCH:
                world.field_target = world.field
                world.magnet_state = MagnetState.PAUSED

    def _persistent_flag(self) -> list[str]:
        with self._present() as world:
            return [str(int(not world.switch_heater_on and self.switch_change is None))]

    def _switch_flag(self) -> list[str]:
        with self._present() as world:
            return [str(int(world.switch_heater_on))]

    def _set_switch(self, value: str) -> None:
        """`PSwitch 1|0`: heat or cool the switch for its heating or cooling time."""
        on = _flag(value)
        with self._present() as world:
            if on == world.switch_heater_on:
                return
            if not on and not self._detached(world):  # the supply keeps its output; the coil keeps its current
                ramping = world.magnet_state is MagnetState.RAMPING
                self.leads = _Leads(world.field / self.coil, world.field_target / self.coil,
                                    world.field_rate / self.coil,
                                    MagnetState.RAMPING if ramping else MagnetState.HOLDING, world.time)
                world.pause_field_ramp()
            world.switch_heater_on = on
            self.switch_change = (on, world.time + (self.heating_time if on else self.cooling_time))
