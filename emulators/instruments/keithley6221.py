"""Keithley 6221 current source: its output is the bias current through the sample.

As on the instrument, the programmed level (A) is kept whether the output is on or off:
while the output is on, the world's bias current is that level; switching the output off
puts the world's bias to 0 A (`world.bias_output` False). A level beyond +-105 mA or a
compliance outside 0.1-105 V is refused with `-222,"Data out of range"` in the error
queue and the setting is left as it was (never clamped); an unknown command queues
`-113,"Undefined header"`.

The compliance (V) is kept and read back but never reached: the world knows the sample's
four-probe voltage (below a millivolt at the station's currents), not the voltage the
source sees across its leads and contacts; the driver asks for no compliance status.

`CurrentSourceEmulator` is what this source shares with the Yokogawa GS200's emulator.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..scpi import ErrorQueue, Setting, Settings, number_in
from ..server import InstrumentEmulator

UNDEFINED_HEADER = (-113, "Undefined header")  # what a SCPI instrument queues for a command it does not know


def flag(text: str) -> int:
    """An on/off argument ("1", "0", "ON", "OFF") as 1 or 0; ValueError for anything else."""
    value = {"1": 1, "0": 0, "ON": 1, "OFF": 0}.get(text.upper())
    if value is None:
        raise ValueError(text)
    return value


class CurrentSourceEmulator(InstrumentEmulator):
    """A SCPI current source whose output drives the world's bias current.

    Subclasses give `identity`, `fault_entry` (the error an `error_entry` fault queues)
    and `reset_values` (what `*RST` restores), and add to `self.settings` at least a
    "level" (A) and an "output" (0 or 1) setting; a leading colon is optional on every
    command.
    """

    identity = ""
    fault_entry: tuple[int, str] = (0, "")
    reset_values: dict[str, Any] = {}
    instrument_faults = ("error_entry",)

    def __init__(self, block: dict, link) -> None:
        super().__init__(block, link)
        self.errors = ErrorQueue()
        self.settings = Settings(self.errors)

    def handle(self, message: str) -> Sequence[str]:
        command = message.lstrip(":")
        upper = command.upper()
        if upper == "*IDN?":
            return [self.identity]
        if upper in ("SYST:ERR?", "SYSTEM:ERROR?"):
            return [self.errors.pop()]
        if upper == "*CLS":
            self.errors.entries.clear()
            return []
        if upper == "*RST":
            for name, value in self.reset_values.items():
                self.settings[name] = value
            self._drive_world()
            return []
        handled, reply, written = self.settings.answer(command)
        if not handled:
            self.errors.push(UNDEFINED_HEADER)
        elif written in ("level", "output"):
            self._drive_world()
        return reply

    def _drive_world(self) -> None:
        """The world's bias (A) follows the output: the programmed level while it is on, 0 A while off."""
        enabled = bool(self.settings["output"])
        with self.link.world() as world:
            world.bias_output = enabled
            world.set_bias_current(self.settings["level"] if enabled else 0.0)

    def start_fault(self, kind: str) -> None:
        if kind == "error_entry":
            self.errors.push(self.fault_entry)
        else:
            super().start_fault(kind)


MAX_CURRENT_A = 0.105
COMPLIANCE_RANGE_V = (0.1, 105.0)


class Keithley6221Emulator(CurrentSourceEmulator):
    """The 6221's commands the driver sends: `:SOUR:CURR` (A), `:SOUR:CURR:COMP` (V),
    `OUTPut 0|1` and their queries, `*IDN?`, `SYST:ERR?`, `*CLS`, `*RST`."""

    identity = "KEITHLEY INSTRUMENTS INC.,MODEL 6221,SQM-EMULATOR,D04 /700x"
    fault_entry = (-315, "Configuration memory lost")
    reset_values = {"level": 0.0, "compliance": 10.0, "output": 0}  # the 6221's *RST state

    def __init__(self, block: dict, link) -> None:
        super().__init__(block, link)
        reset = self.reset_values
        self.settings.add("level", Setting(reset["level"], float, "{:+.6E}".format,
                                           number_in(-MAX_CURRENT_A, MAX_CURRENT_A)),
                          r"SOUR:CURR (\S+)", "SOUR:CURR?")
        self.settings.add("compliance", Setting(reset["compliance"], float, "{:+.2E}".format,
                                                number_in(*COMPLIANCE_RANGE_V)),
                          r"SOUR:CURR:COMP (\S+)", "SOUR:CURR:COMP?")
        self.settings.add("output", Setting(reset["output"], flag, "{:d}".format), r"OUTPut (\S+)", "OUTPut?")
