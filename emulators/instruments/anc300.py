"""attocube ANC300 piezo controller: the scanner's fine x, y, z offsets and its coarse positioners.

The console of TCP port 7230, as sqm.drivers.anc300 (through pymeasure's ANC300Controller)
talks to it: CR LF both ways, every reply ending in a line `OK` or `ERROR` (after a line
saying what went wrong). With a `password` in the block a connection is greeted with
telnet negotiation bytes and the prompt `Authorization code: `; the password is echoed as
stars, then `Authorization success` (or `Authorization failed`, and the next line is taken
as another password). The console then echoes each command (`> <command>`) until `echo
off`. Without a password in the block there is no login and no echo (as the drivers'
pyvisa-sim model). Commands: `ver`, `echo on|off`, `getm|setm <axis> [gnd|inp|cap|stp|off|
stp+|stp-]`, `geta|seta <axis> [V]` (offset, 0-150 V), `geto <axis>` (output, V),
`getf|setf <axis> [Hz]` (1-10000 Hz), `getv|setv <axis> [V]` (step amplitude, 0-150 V),
`stepu|stepd <axis> <n>` (mode stp), `stepw <axis>`, `stop <axis>`. Axes are the slots of
the block's `axes` and `coarse_axes`; any other slot is empty.

Physics. A fine axis's piezo gets its offset in the modes off, stp+ and stp-, and 0 V in
the others; the world's sensor sits where the driver's calibration puts that voltage:
x = (V - center_volts) * meters_per_volt, likewise y, z = (V - V_0) * meters_per_volt with
V_0 the z block's zero_volts, else its surface_volts, else 0 V. Every change is applied
to `world.position` at once and checked for a crash (recorded by the world, as the real
controller knows nothing of the sample). The offsets start where the world's sensor is.
Stick-slip steps take 1 / frequency lab seconds each; the steps made are applied when the
batch ends (or is stopped, or the mode changed), to the coarse z only: the sample moves
towards the sensor by `world.coarse.travel(n)` for the direction the block's
`coarse_z_towards_sample` names. `stepw` answers when the batch has ended, in lab time.
Not emulated: continuous stepping (`stepu <axis> c`), capacitance measurement, patterns,
lateral coarse positioners moving the sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from sqm.drivers.anc300 import SCAN_AXES, PiezoAxis
from sqm.drivers.base import setting

from ..server import InstrumentEmulator

IDENTITY = "attocube ANC300 controller version 1.1.0-1304 2013-10-17 08:16 SQM-EMULATOR"
TELNET_NEGOTIATION = "\xff\xfb\x01\xff\xfb\x03"  # IAC WILL ECHO, IAC WILL SUPPRESS-GO-AHEAD
MODES = ("gnd", "inp", "cap", "stp", "off", "stp+", "stp-")
OFFSET_TO_PIEZO = ("off", "stp+", "stp-")  # modes in which a fine axis's piezo gets its offset
STEPPING = ("stp", "stp+", "stp-")
VOLTAGE_RANGE = (0.0, 150.0)  # V, offsets and step amplitudes
FREQUENCY_RANGE = (1, 10000)  # Hz, stepping


class _Refused(Exception):
    """A command the controller answers with `<reason>` and ERROR."""


@dataclass
class _Fine:
    """A fine axis: its coordinate in world.position (0, 1, 2 for x, y, z), calibration (m/V)
    and the offset (V) at coordinate zero."""

    index: int
    meters_per_volt: float
    zero_volts: float


@dataclass
class _Batch:
    """Stick-slip steps under way: `steps` in `direction` (+1 up, -1 down) from lab time `start` (s)."""

    direction: int
    steps: int
    start: float
    frequency: float

    @property
    def end(self) -> float:
        return self.start + self.steps / self.frequency

    def made(self, now: float) -> int:
        return min(self.steps, math.floor((now - self.start) * self.frequency + 1e-9))


def _number(text: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _Refused(f"Invalid number {text!r}") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise _Refused(f"Value {text} out of range [{low:g}, {high:g}]")
    return value


class ANC300Emulator(InstrumentEmulator):
    """The ANC300's console over the world's scanner (see the module): offsets in V, positions in
    m, lab time in s. The session (login, echo) starts again with each connection."""

    read_termination = "\r\n"
    write_termination = "\r\n"

    def __init__(self, block: dict, link) -> None:
        super().__init__(block, link)
        password = block.get("password")
        self.password = None if password is None else str(password)
        self.fine: dict[int, _Fine] = {}
        axes = setting(block, "axes")
        for index, name in enumerate(SCAN_AXES):
            axis, references = PiezoAxis.from_config(name, axes[name])
            if name == "z":
                zero = next((volts for volts in (references["zero_volts"], references["surface_volts"])
                             if volts is not None), 0.0)
            else:
                zero = references["center_volts"]
            self.fine[axis.number] = _Fine(index, axis.meters_per_volt, float(zero))
        coarse = setting(block, "coarse_axes", default={}) or {}
        self.coarse_z = coarse.get("z")
        # the sample nears the sensor on stepu (+1) or stepd (-1)
        self.towards_sample = 1 if setting(block, "coarse_z_towards_sample", default="up") == "up" else -1
        slots = [*self.fine, *coarse.values()]
        self.modes = {slot: "off" if slot in self.fine else "gnd" for slot in slots}
        self.step_volts = {slot: 30.0 for slot in slots}
        self.batches: dict[int, _Batch] = {}
        with self.link.world() as world:
            rate = round(world.settings.approach.coarse_step_rate)
            self.frequency = {slot: min(max(rate, FREQUENCY_RANGE[0]), FREQUENCY_RANGE[1]) for slot in slots}
            self.offsets = {slot: 0.0 for slot in slots}
            for slot, fine in self.fine.items():  # where the world's sensor is, within what the controller can give
                volts = round(fine.zero_volts + world.position[fine.index] / fine.meters_per_volt, 3)
                self.offsets[slot] = min(max(volts, VOLTAGE_RANGE[0]), VOLTAGE_RANGE[1])
                world.position[fine.index] = self._coordinate(slot)
        self.logged_in = self.password is None
        self.echo = False

    # Session -----------------------------------------------------------------------------
    def connected(self) -> Sequence[str]:
        """A new console: the login prompt when there is a password (echo on after it)."""
        self.logged_in = self.password is None
        self.echo = False
        return () if self.password is None else (TELNET_NEGOTIATION + "Authorization code: ",)

    def _login(self, attempt: str) -> list[str]:
        stars = "*" * len(attempt)
        if attempt != self.password:
            return [stars, "Authorization failed"]
        self.logged_in = self.echo = True
        return [stars, "Authorization success"]

    def handle(self, message: str) -> Sequence[str]:
        if not self.logged_in:
            return self._login(message)
        echoed = [f"> {message}"] if self.echo else []
        self._settle(self.link.clock.now())
        try:
            lines = self._command(message.split())
        except _Refused as refusal:
            return [*echoed, str(refusal), "ERROR"]
        return [*echoed, *lines, "OK"]

    # Commands ---------------------------------------------------------------------------
    def _command(self, words: list[str]) -> list[str]:
        """The reply lines before `OK` (_Refused: the reason before `ERROR`)."""
        if words == ["ver"]:
            return [IDENTITY]
        if len(words) == 2 and words[0] == "echo" and words[1] in ("on", "off"):
            self.echo = words[1] == "on"
            return []
        if not words or words[0] not in self._AXIS_COMMANDS:
            raise _Refused(f"Unknown command {' '.join(words)!r}")
        name, arity = words[0], self._AXIS_COMMANDS[words[0]]
        if len(words) != arity + 2:
            raise _Refused(f"{name}: expected {arity + 1} argument(s)")
        slot = self._slot(words[1])
        return getattr(self, f"_{name}")(slot, *words[2:])

    _AXIS_COMMANDS = {"getm": 0, "setm": 1, "geta": 0, "seta": 1, "geto": 0, "getf": 0, "setf": 1, "getv": 0,
                      "setv": 1, "stepu": 1, "stepd": 1, "stepw": 0, "stop": 0}

    def _slot(self, text: str) -> int:
        if not text.isdigit() or int(text) not in self.modes:
            raise _Refused(f"Axis {text} not present")
        return int(text)

    def _getm(self, slot: int) -> list[str]:
        return [f"mode = {self.modes[slot]}"]

    def _setm(self, slot: int, mode: str) -> list[str]:
        if mode not in MODES:
            raise _Refused(f"Wrong mode {mode!r}")
        self._stop(slot)
        self.modes[slot] = mode
        self._drive_piezo(slot)
        return []

    def _geta(self, slot: int) -> list[str]:
        return [f"voltage = {self.offsets[slot]:.6f} V"]

    def _seta(self, slot: int, volts: str) -> list[str]:
        self.offsets[slot] = _number(volts, *VOLTAGE_RANGE)
        self._drive_piezo(slot)
        return []

    def _geto(self, slot: int) -> list[str]:
        return [f"voltage = {self._output_volts(slot):.6f} V"]

    def _getf(self, slot: int) -> list[str]:
        return [f"frequency = {self.frequency[slot]} Hz"]

    def _setf(self, slot: int, hertz: str) -> list[str]:
        self.frequency[slot] = round(_number(hertz, *FREQUENCY_RANGE))
        return []

    def _getv(self, slot: int) -> list[str]:
        return [f"voltage = {self.step_volts[slot]:.6f} V"]

    def _setv(self, slot: int, volts: str) -> list[str]:
        self.step_volts[slot] = _number(volts, *VOLTAGE_RANGE)
        return []

    def _stepu(self, slot: int, count: str) -> list[str]:
        return self._start_steps(slot, 1, count)

    def _stepd(self, slot: int, count: str) -> list[str]:
        return self._start_steps(slot, -1, count)

    def _start_steps(self, slot: int, direction: int, count: str) -> list[str]:
        if self.modes[slot] not in STEPPING:
            raise _Refused("Axis in wrong mode")
        if not count.isdigit() or int(count) == 0:  # 0 and `c` step continuously: not emulated
            raise _Refused(f"Invalid step count {count!r}")
        self._stop(slot)
        self.batches[slot] = _Batch(direction, int(count), self.link.clock.now(), self.frequency[slot])
        return []

    def _stepw(self, slot: int) -> list[str]:
        """Answer when the batch under way has ended (lab time)."""
        batch = self.batches.get(slot)
        if batch is not None:
            self.link.clock.sleep(batch.end - self.link.clock.now())
            self._stop(slot, finished=True)
        return []

    def _stop(self, slot: int, finished: bool = False) -> list[str]:
        """End the batch under way on `slot`: its steps made so far (all, when `finished`) move the sample."""
        batch = self.batches.pop(slot, None)
        if batch is not None:
            made = batch.steps if finished else batch.made(self.link.clock.now())
            self._move_sample(slot, batch.direction * made)
        return []

    def _settle(self, now: float) -> None:
        """Batches that have ended by lab time `now` (s) have moved the sample."""
        for slot, batch in list(self.batches.items()):
            if batch.end <= now:
                self._stop(slot, finished=True)

    # Physics ------------------------------------------------------------------------------
    def _output_volts(self, slot: int) -> float:
        """What the piezo gets (V): the offset in the offset modes, else (grounded, stepping) 0 V."""
        return self.offsets[slot] if self.modes[slot] in OFFSET_TO_PIEZO else 0.0

    def _coordinate(self, slot: int) -> float:
        """The world coordinate (m) the fine axis in `slot` puts the sensor at."""
        fine = self.fine[slot]
        return (self._output_volts(slot) - fine.zero_volts) * fine.meters_per_volt

    def _drive_piezo(self, slot: int) -> None:
        """A fine axis's output changed: the sensor moves (a crash is the world's to record)."""
        if slot in self.fine:
            with self.link.world() as world:
                world.position[self.fine[slot].index] = self._coordinate(slot)
                world.check_crash()

    def _move_sample(self, slot: int, steps: int) -> None:
        """`steps` stick-slip steps made on `slot` (positive: up); only the coarse z moves the sample."""
        if slot == self.coarse_z and steps:
            with self.link.world() as world:
                world.contact.raise_surface(world.coarse.travel(self.towards_sample * steps))
                world.check_crash()
