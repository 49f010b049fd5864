"""Yokogawa GS200 DC source in current mode: its output is the bias current through the sample.

As on the instrument, the level (A) is kept whether the output is on or off: while the
output is on, the world's bias current is that level; switching the output off puts the
world's bias to 0 A (`world.bias_output` False). The source starts on its 1 mA range; a
level beyond what the present range takes (120 % of it, 200 mA on the 200 mA range), a
range that is not one of 1, 10, 100, 200 mA or would not hold the present level, or a
voltage limit outside 1-30 V is refused with `-222,"Data out of range"` in the error
queue and the setting is left as it was (never clamped). An unknown command queues
`-113,"Undefined header"`.

It sources current only: `:SOURce:FUNCtion?` answers CURR and a switch to VOLT is refused
(-222). The voltage limit (V) is kept and read back but never reached: the world knows
the sample's four-probe voltage, not the voltage across the source's leads.
"""

from __future__ import annotations

import math

from ..scpi import Setting, number_in
from .keithley6221 import CurrentSourceEmulator, flag

# The current ranges (A) and the largest level each takes.
RANGES_A = {1e-3: 1.2e-3, 10e-3: 12e-3, 100e-3: 120e-3, 200e-3: 200e-3}
COMPLIANCE_RANGE_V = (1.0, 30.0)


def _range_of(amps: float) -> float | None:
    """The current range (A) `amps` names, None if it names none."""
    return next((known for known in RANGES_A if math.isclose(amps, known, rel_tol=1e-6)), None)


def _mode(text: str) -> str:
    """A source mode as the GS200 answers it: CURR or VOLT."""
    return {"CURRENT": "CURR", "VOLTAGE": "VOLT"}.get(text.upper(), text.upper())


class GS200Emulator(CurrentSourceEmulator):
    """The GS200's commands the driver sends: `SOURce:LEVel` (A), `SOURce:PROTection:VOLTage`
    (V), `OUTPut:STATe 0|1` and their queries, `:SOURce:FUNCtion?`, `:SOURce:RANGe?` (also
    settable), `*IDN?`, `SYST:ERR?`, `*CLS`, `*RST`."""

    identity = "YOKOGAWA,GS211,SQM-EMULATOR,2.02"
    fault_entry = (-314, "Save/recall memory lost")
    reset_values = {"level": 0.0, "compliance": 30.0, "output": 0}

    def __init__(self, block: dict, link) -> None:
        super().__init__(block, link)
        reset, settings = self.reset_values, self.settings
        settings.add("function", Setting("CURR", _mode, str, lambda mode: mode == "CURR"),
                     r"SOURce:FUNCtion (\S+)", "SOURce:FUNCtion?")
        settings.add("range", Setting(1e-3, float, "{:.0E}".format, self._range_holds_level),
                     r"SOURce:RANGe (\S+)", "SOURce:RANGe?")
        settings.add("level", Setting(reset["level"], float, "{:+.5E}".format, self._in_range),
                     r"SOURce:LEVel (\S+)", "SOURce:LEVel?")
        settings.add("compliance", Setting(reset["compliance"], float, "{:.3E}".format,
                                           number_in(*COMPLIANCE_RANGE_V)),
                     r"SOURce:PROTection:VOLTage (\S+)", "SOURce:PROTection:VOLTage?")
        settings.add("output", Setting(reset["output"], flag, "{:d}".format), r"OUTPut:STATe (\S+)", "OUTPut:STATe?")

    def _in_range(self, amps: float) -> bool:
        """Whether the present range takes the level `amps` (A)."""
        return abs(amps) <= RANGES_A[_range_of(self.settings["range"])]

    def _range_holds_level(self, amps: float) -> bool:
        """Whether `amps` (A) is a range that holds the present level."""
        known = _range_of(amps)
        return known is not None and abs(self.settings["level"]) <= RANGES_A[known]
