"""Keithley 2182A nanovoltmeter: channel 1 reads the sample's four-probe voltage.

A `:READ?` integrates over the NPLC set (at the line frequency the instrument measures,
50 Hz) and answers the world's voltage with the nanovoltmeter's noise for that time.
"""

from __future__ import annotations

from typing import Sequence

from ..scpi import COMMAND_ERROR, ErrorQueue, Setting, Settings, number_in
from ..server import InstrumentEmulator

IDENTITY = "KEITHLEY INSTRUMENTS INC.,MODEL 2182A,SQM-EMULATOR,C02 /A02"
LINE_FREQUENCY_HZ = 50.0


def _flag(text: str) -> int:
    value = {"1": 1, "0": 0, "ON": 1, "OFF": 0}.get(text.upper())
    if value is None:
        raise ValueError(text)
    return value


class Keithley2182Emulator(InstrumentEmulator):
    read_termination = "\n"
    write_termination = "\n"
    instrument_faults = ("error_entry",)

    def __init__(self, block, link) -> None:
        super().__init__(block, link)
        self.errors = ErrorQueue()
        self.settings = settings = Settings(self.errors)
        settings.add("channel", Setting(1, int, "{:d}".format, lambda v: v in (0, 1, 2)), r":?SENS:CHAN (\S+)",
                     ":SENS:CHAN?")
        settings.add("function", Setting('"VOLT:DC"', str.upper, str, lambda v: v in ('"VOLT:DC"', '"VOLT"', '"TEMP"')),
                     r":?SENS:FUNC (.+)", ":SENS:FUNC?")
        settings.add("nplc", Setting(5.0, float, "{:.6E}".format, number_in(0.01, 50.0)),
                     r":?SENS:VOLT:NPLC (\S+)", ":SENS:VOLT:NPLC?")
        settings.add("autorange", Setting(1, _flag, "{:d}".format), r":?SENS:VOLT:CHAN1:RANG:AUTO (\S+)",
                     ":SENS:VOLT:CHAN1:RANG:AUTO?")
        settings.add("range", Setting(120.0, float, "{:.6E}".format, number_in(0.0, 120.0)),
                     r":?SENS:VOLT:CHAN1:RANG (\S+)", ":SENS:VOLT:CHAN1:RANG?")

    def handle(self, message: str) -> Sequence[str]:
        command = message.upper()
        if command == "*IDN?":
            return [IDENTITY]
        if command in ("SYST:ERR?", ":SYST:ERR?"):
            return [self.errors.pop()]
        if command == ":SYST:LFR?":
            return [f"{LINE_FREQUENCY_HZ:+.6E}"]
        if command in ("*CLS", "*RST"):
            return []
        if command == ":READ?":
            seconds = self.settings["nplc"] / LINE_FREQUENCY_HZ
            with self.link.world() as world:
                return [f"{world.voltmeter_reading(seconds):+.6E}"]
        handled, reply, _ = self.settings.answer(message)
        if not handled:
            self.errors.push(COMMAND_ERROR)
        return reply

    def start_fault(self, kind: str) -> None:
        if kind == "error_entry":
            self.errors.push((-313, "Calibration memory lost"))
        else:
            super().start_fault(kind)
