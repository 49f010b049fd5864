"""Lake Shore Model 336 temperature controller: the sample-stage thermometer and its heater loop.

Messages and replies end in CR LF; a message is `NAME[?] [arg,arg...]`. The 336 has no
error queue: a command it does not know, or one with a parameter out of range, is
ignored, and such a query is not answered (the driver's read times out).

The station block's `input` (default A) is the sample-stage thermometer: KRDG? reads
the world's temperature (K) with the thermometer noise the world gives, RDGST? 000. Its
`loop` (default 1) runs closed loop PID on that input (OUTMODE?), which reports in
kelvin (INTYPE?). The other inputs have no sensor (an invalid reading, 0 K), the other
outputs are off.

The loop's heater: SETP (K) and RANGE (0 off, 1 low, 2 medium, 3 high: 1 %, 10 %,
100 % of the full power). RANGE 0 switches the world's heater off; otherwise the stage
relaxes towards the setpoint with the world's lag, but no higher than the range can
hold it (HEATER_REACH_K above base at full output). HTR? is the output (% of the
range's power) the world's first-order model needs for that: proportional to the
temperature above base it holds the stage at.

Faults: "invalid_reading" (while it lasts, RDGST? 129, an open sensor: invalid reading
and sensor units over range, and KRDG? +0.0000, as the 336 reads a sensor it cannot
read); "heater_fault" (while it lasts, HTRST? 1, heater open load: the 336 turns the
output off, RANGE? 0, and keeps it off whatever RANGE is sent; when the fault ends
HTRST? is 0 again, the output stays off until a RANGE turns it on).
"""

from __future__ import annotations

import re
from typing import Sequence

from ..server import InstrumentEmulator

IDENTITY = "LSCI,MODEL336,SQM-EMULATOR,2.9"
INPUTS = ("A", "B", "C", "D")
RANGES = {"1": 3, "2": 3, "3": 1, "4": 1}  # output -> its highest range (3 and 4 are analog outputs)
HEATER_REACH_K = {1: 10.0, 2: 100.0, 3: 1000.0}  # K above base held at 100 % output in each range (phenomenological)
OPEN_SENSOR = 1 | 128  # RDGST?: invalid reading, sensor units over range
HEATER_OPEN_LOAD = 1  # HTRST?
_MESSAGE = re.compile(r"(\*?[A-Z]+\??)\s*(.*)", re.IGNORECASE)


def _output(output: str) -> str:
    """`output` if the 336 has it (KeyError otherwise: the message is ignored)."""
    if output not in RANGES:
        raise KeyError(output)
    return output


class LakeShore336Emulator(InstrumentEmulator):
    read_termination = "\r\n"
    write_termination = "\r\n"
    instrument_faults = ("invalid_reading", "heater_fault")

    def __init__(self, block, link) -> None:
        super().__init__(block, link)
        self.input = str(block.get("input", "A"))
        self.loop = str(block.get("loop", 1))
        self.invalid_reading = False
        self.heater_error = 0  # HTRST? of the loop: 0 none, 1 open load, 2 short
        with link.world() as world:
            self.setpoints = {output: world.heater_setpoint if output == self.loop else 0.0 for output in RANGES}  # K
            self.ranges = dict.fromkeys(RANGES, 0)
            if world.heater_on:
                self.ranges[self.loop] = int(block.get("heater_range", 1)) or 1
        self._drive_world()
        self._messages = {
            "*IDN?": lambda: [IDENTITY], "*CLS": lambda: None,
            "KRDG?": self._reading, "RDGST?": self._reading_status, "INTYPE?": self._input_type,
            "OUTMODE?": self._output_mode, "SETP?": self._setpoint, "SETP": self._set_setpoint,
            "RANGE?": self._range, "RANGE": self._set_range, "HTR?": self._heater_output, "HTRST?": self._heater_status,
        }

    def handle(self, message: str) -> Sequence[str]:
        match = _MESSAGE.fullmatch(message)
        if not match:
            return []
        name, rest = match[1].upper(), match[2]
        arguments = [argument.strip().upper() for argument in rest.split(",")] if rest else []
        answer = self._messages.get(name)
        try:
            return (answer(*arguments) or []) if answer else []
        except (TypeError, ValueError, KeyError):  # wrong count, no number, unknown input or output: ignored
            return []

    def start_fault(self, kind: str) -> None:
        if kind == "invalid_reading":
            self.invalid_reading = True
        elif kind == "heater_fault":
            self.heater_error = HEATER_OPEN_LOAD
            self.ranges[self.loop] = 0
            self._drive_world()
        else:
            super().start_fault(kind)

    def end_fault(self, kind: str) -> None:
        if kind == "invalid_reading":
            self.invalid_reading = False
        elif kind == "heater_fault":
            self.heater_error = 0

    # The world ------------------------------------------------------------------------------
    def _drive_world(self) -> None:
        """The loop's heater in the world: off at range 0, else towards the setpoint the range can hold."""
        level = self.ranges[self.loop]
        with self.link.world() as world:
            world.heater_on = level > 0
            if level:
                base = world.settings.base_temperature
                world.heater_setpoint = min(self.setpoints[self.loop], base + HEATER_REACH_K[level])

    def _output_percent(self, output: str) -> float:
        level = self.ranges[output]
        if output != self.loop or level == 0:
            return 0.0
        with self.link.world() as world:
            above_base = max(world.heater_setpoint - world.settings.base_temperature, 0.0)
        return min(100.0, 100.0 * above_base / HEATER_REACH_K[level])

    # Messages ------------------------------------------------------------------------------------
    def _status(self, channel: str) -> int:
        """RDGST? of `channel` as a number (KeyError for no input of the 336)."""
        if channel not in INPUTS:
            raise KeyError(channel)
        return OPEN_SENSOR if self.invalid_reading or channel != self.input else 0

    def _reading(self, channel: str) -> list[str]:
        """KRDG? (K)."""
        if self._status(channel):
            return ["+0.0000"]
        with self.link.world() as world:
            return [f"{world.thermometer_reading():+.4f}"]

    def _reading_status(self, channel: str) -> list[str]:
        return [f"{self._status(channel):03d}"]

    def _input_type(self, channel: str) -> list[str]:
        """INTYPE?: sensor type (3 NTC RTD, 0 none), autorange, range, compensation, units (1 kelvin)."""
        self._status(channel)
        return ["3,1,0,1,1" if channel == self.input else "0,0,0,0,1"]

    def _output_mode(self, output: str) -> list[str]:
        """OUTMODE?: mode (1 closed loop PID, 0 off), control input (1-4 for A-D), power-up enable."""
        return [f"1,{INPUTS.index(self.input) + 1},0" if _output(output) == self.loop else "0,0,0"]

    def _setpoint(self, output: str) -> list[str]:
        return [f"{self.setpoints[output]:+.4f}"]

    def _set_setpoint(self, output: str, kelvin: str) -> None:
        value = float(kelvin)
        if output in RANGES and 0.0 <= value <= 1500.0:
            self.setpoints[output] = value
            self._drive_world()

    def _range(self, output: str) -> list[str]:
        return [str(self.ranges[output])]

    def _set_range(self, output: str, level: str) -> None:
        if 0 <= int(level) <= RANGES[output]:
            heater_off = output == self.loop and self.heater_error  # the 336 turns a faulty heater off at once
            self.ranges[output] = 0 if heater_off else int(level)
            self._drive_world()

    def _heater_output(self, output: str) -> list[str]:
        """HTR? (% of the range's power)."""
        return [f"{self._output_percent(output):+.3f}"]

    def _heater_status(self, output: str) -> list[str]:
        """HTRST?: 0 no error, 1 heater open load, 2 heater short."""
        return [str(self.heater_error if _output(output) == self.loop else 0)]
