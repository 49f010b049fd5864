"""Stanford SR830 lock-ins: the SQUID readout's and the touchdown bridge's.

Both speak the SR830's GPIB commands as sqm.drivers.sr830 sends them (line feed; one
reply line per query; several commands of one message separated by ';', as in
`OAUX?1;`): `*IDN?`; the settings `OFLT`, `SENS`, `FREQ`, `SLVL`, `PHAS`, remembered with
the SR830's ranges and resolutions (FREQ to 5 digits or 0.1 mHz, SLVL to 2 mV, PHAS to
0.01 degree wrapped into +-180); `OUTP? i`, `SNAP? i,j[,...]`, `OAUX? n`; the latched
status bytes `LIAS?` and `ERRS?` (read and cleared, also bit by bit: `LIAS? 2`); `*ESR?`
(command errors, bit 5; out-of-range parameters, ignored, bit 4), `*CLS`, `*RST`.

The lock-in's signal is a phasor in phase with its sine output, of signed amplitude S
(V rms); the reference phase shift PHAS rotates it: X = S cos(PHAS), Y = -S sin(PHAS).
Each sample (`SNAP?`, `OUTP?`) carries the noise of an average over one time constant
(OFLT). Not emulated: overloads against SENS, filter slopes, reserve, external
reference, the display and offset/expand settings.
"""

from __future__ import annotations

import math
import re
from abc import abstractmethod
from typing import Sequence

from sqm.drivers.base import quantity_setting, setting
from sqm.sims.world import World

from ..scpi import COMMAND_ERROR, DATA_OUT_OF_RANGE, ErrorQueue, Setting, Settings, number_in
from ..server import InstrumentEmulator

IDENTITY = "Stanford_Research_Systems,SR830,s/nSQM-EMULATOR,ver1.07"

# The SR830's tables (manual, "Reference and phase" and "Gain and time constant" commands).
TIME_CONSTANTS_S = [mantissa * 10.0**exponent for exponent in range(-5, 5) for mantissa in (1, 3)]  # OFLT 0-19
SENSITIVITIES_V = [mantissa * 10.0**exponent for exponent in range(-9, 0) for mantissa in (2, 5, 10)]  # SENS 0-26
AMPLITUDE_STEP_V = 0.002  # SLVL resolution
AUX_INPUT_RANGE_V = 10.5  # the aux inputs read +-10.5 V ...
AUX_INPUT_RESOLUTION_V = 1e-3 / 3  # ... with 1/3 mV resolution (16-bit A/D)

# LIAS? bits (latched until read)
INPUT_OVERLOAD, FILTER_OVERLOAD, OUTPUT_OVERLOAD, REF_UNLOCK, FREQ_RANGE_CHANGE, TC_CHANGE = 1, 2, 4, 8, 16, 32
# *ESR? bits
EXECUTION_ERROR, COMMAND_ERROR_BIT = 16, 32

_COMMAND = re.compile(r"(\*?[A-Z]+\??)\s*(.*)")


def _frequency_as_set(hertz: float) -> float:
    """FREQ as the SR830 takes it: 5 significant digits or 0.1 mHz, whichever is coarser."""
    step = max(10.0 ** (math.floor(math.log10(hertz)) - 4), 1e-4)
    return round(round(hertz / step) * step, 4)


def _phase_as_set(degrees: float) -> float:
    """PHAS to 0.01 degree, wrapped into [-180, 180)."""
    return round((degrees + 180.0) % 360.0 - 180.0, 2)


class SR830Emulator(InstrumentEmulator):
    """What both lock-ins share; subclasses give the signal S (V rms) and the aux inputs (V)."""

    read_termination = "\n"
    write_termination = "\n"
    instrument_faults: tuple[str, ...] = ("error_entry",)

    DEFAULTS = {"time_constant": 8, "sensitivity": 26, "frequency": 1000.0, "amplitude": 1.0, "phase": 0.0}  # *RST

    def __init__(self, block: dict, link) -> None:
        super().__init__(block, link)
        self.errors = ErrorQueue()
        self.settings = settings = Settings(self.errors)
        index = "{:d}".format
        settings.add("time_constant", Setting(8, int, index, number_in(0, len(TIME_CONSTANTS_S) - 1)),
                     r"OFLT\s*(\S+)", "OFLT?")
        settings.add("sensitivity", Setting(26, int, index, number_in(0, len(SENSITIVITIES_V) - 1)),
                     r"SENS\s*(\S+)", "SENS?")
        settings.add("frequency", Setting(1000.0, float, "{:.4f}".format, number_in(0.001, 102000.0)),
                     r"FREQ\s*(\S+)", "FREQ?")
        settings.add("amplitude", Setting(1.0, float, "{:.3f}".format, number_in(0.004, 5.0)),
                     r"SLVL\s*(\S+)", "SLVL?")
        settings.add("phase", Setting(0.0, float, "{:.2f}".format, number_in(-360.0, 729.99)),
                     r"PHAS\s*(\S+)", "PHAS?")
        self.lockin_status = 0  # LIAS?
        self.error_status = 0  # ERRS?

    # What the subclasses measure --------------------------------------------------------
    @abstractmethod
    def signal(self, world: World, time_constant: float) -> float:
        """The signed in-phase amplitude S (V rms) of one sample averaged over `time_constant` s."""

    def aux_input(self, world: World, number: int) -> float:
        """What aux input `number` (1-4) carries (V), before the A/D converter. Nothing wired: 0 V."""
        return 0.0

    # The protocol ----------------------------------------------------------------------
    def handle(self, message: str) -> Sequence[str]:
        replies: list[str] = []
        for command in message.split(";"):
            if command.strip():
                replies += self._command(command.strip())
        return replies

    def _command(self, command: str) -> list[str]:
        match = _COMMAND.fullmatch(command.upper())
        head, argument = match.groups() if match else ("", "")
        if head == "*IDN?":
            return [IDENTITY]
        if head in ("*CLS", "*RST"):
            self.errors.entries.clear()
            self.lockin_status = self.error_status = 0
            if head == "*RST":
                for name, value in self.DEFAULTS.items():
                    self.settings[name] = value
            return []
        if head == "*ESR?":
            return [str(self._event_status())]
        if head in ("LIAS?", "ERRS?"):
            return self._status_byte(head, argument)
        try:
            if head == "OUTP?":
                return [self._format(self._sample([int(argument)])[0])]
            if head == "SNAP?":
                parameters = [int(text) for text in argument.split(",")]
                if not 2 <= len(parameters) <= 6:
                    raise ValueError(argument)
                return [",".join(self._format(value) for value in self._sample(parameters))]
            if head == "OAUX?":
                return [f"{self._aux_reading(int(argument)):.4f}"]
        except (ValueError, KeyError):  # the SR830 answers nothing to a query it cannot take
            self.errors.push(DATA_OUT_OF_RANGE)
            return []
        handled, reply, written = self.settings.answer(command)
        if not handled:
            self.errors.push(COMMAND_ERROR)
        elif written is not None:
            self._as_set(written)
        return reply

    def _as_set(self, name: str) -> None:
        """A setting just written, at the SR830's resolution."""
        value = self.settings[name]
        if name == "frequency":
            self.settings[name] = _frequency_as_set(value)
        elif name == "amplitude":
            self.settings[name] = round(round(value / AMPLITUDE_STEP_V) * AMPLITUDE_STEP_V, 3)
        elif name == "phase":
            self.settings[name] = _phase_as_set(value)
        elif name == "time_constant":
            self.lockin_status |= TC_CHANGE

    def _event_status(self) -> int:
        """*ESR?: the errors since it was last read (read and cleared)."""
        bits = 0
        for code, _ in self.errors.entries:
            bits |= EXECUTION_ERROR if code == DATA_OUT_OF_RANGE[0] else COMMAND_ERROR_BIT
        self.errors.entries.clear()
        return bits

    def _status_byte(self, head: str, argument: str) -> list[str]:
        """LIAS? / ERRS?, whole (the byte) or one bit (`LIAS? 2`); what is read is cleared."""
        attribute = "lockin_status" if head == "LIAS?" else "error_status"
        value = getattr(self, attribute)
        mask = 0xFF
        if argument:
            if not argument.isdigit() or int(argument) > 7:
                self.errors.push(DATA_OUT_OF_RANGE)
                return []
            mask = 1 << int(argument)
        setattr(self, attribute, value & ~mask)
        return [str(int(bool(value & mask)) if argument else value & mask)]

    @staticmethod
    def _format(value: float) -> str:
        return f"{value + 0.0:.6e}"  # + 0.0: no "-0.000000e+00"

    def _aux_reading(self, number: int) -> float:
        """Aux input `number` as its A/D converter reads it (V): clipped to +-10.5 V, to 1/3 mV."""
        if number not in (1, 2, 3, 4):
            raise ValueError(number)
        with self.link.world() as world:
            volts = self.aux_input(world, number)
        volts = min(max(volts, -AUX_INPUT_RANGE_V), AUX_INPUT_RANGE_V)
        return round(volts / AUX_INPUT_RESOLUTION_V) * AUX_INPUT_RESOLUTION_V

    def _sample(self, parameters: list[int]) -> list[float]:
        """The SNAP? parameters at one instant: 1 X, 2 Y, 3 R, 4 theta (V rms, degrees),
        5-8 aux inputs 1-4 (V), 9 reference frequency (Hz), 10 and 11 the displays (X and Y)."""
        if any(not 1 <= parameter <= 11 for parameter in parameters):
            raise ValueError(parameters)
        x = y = 0.0
        if any(parameter in (1, 2, 3, 4, 10, 11) for parameter in parameters):
            time_constant = TIME_CONSTANTS_S[self.settings["time_constant"]]
            with self.link.world() as world:
                amplitude = self.signal(world, time_constant)
            phase = math.radians(self.settings["phase"])
            x, y = amplitude * math.cos(phase), -amplitude * math.sin(phase)
        values = {1: x, 2: y, 3: math.hypot(x, y), 4: math.degrees(math.atan2(y, x)), 9: self.settings["frequency"],
                  10: x, 11: y}
        return [values[parameter] if parameter in values else self._aux_reading(parameter - 4)
                for parameter in parameters]

    # Faults ----------------------------------------------------------------------------
    def start_fault(self, kind: str) -> None:
        if kind == "error_entry":  # a transient on the input: the overload flag latches until LIAS? is read
            self.lockin_status |= INPUT_OVERLOAD
        else:
            super().start_fault(kind)


class SR830SquidEmulator(SR830Emulator):
    """The SQUID readout: the flux-locked loop's output on aux input `flux_input` (the world's
    flux at the sensor / `phi0_per_volt`, railed while the SQUID is unlocked) and the
    susceptometry signal on the lock-in: S = susceptibility (Phi0/A) x field-coil current (A rms)
    / `phi0_per_volt_lockin`, which the driver turns back into Phi0/A. The field-coil current
    is the block's `field_coil_current` at its `amplitude`, in proportion to SLVL (without an
    `amplitude` in the block, whatever SLVL is)."""

    instrument_faults = ("error_entry", "squid_unlock")
    FLL_RAIL_V = 10.0  # where an unlocked FLL's integrator ends up (at least the block's unlock threshold)
    FLL_SAMPLE_S = 0.05  # the FLL output's filter: each aux sample averages the flux this long

    def __init__(self, block: dict, link) -> None:
        super().__init__(block, link)
        self.flux_input = int(setting(block, "flux_input", default=1))
        self.phi0_per_volt = quantity_setting(block, "phi0_per_volt", "Phi0/V")
        self.phi0_per_volt_lockin = quantity_setting(block, "phi0_per_volt_lockin", "Phi0/V")
        self.field_coil_current = setting(block, "field_coil_current", "current")
        self.nominal_amplitude = setting(block, "amplitude", "voltage", default=None)
        self.rail = max(self.FLL_RAIL_V, setting(block, "unlock_threshold", "voltage"))

    def aux_input(self, world: World, number: int) -> float:
        if number != self.flux_input:
            return 0.0
        if not world.squid_locked:
            return self.rail
        x, y, _ = world.position
        return float(world.sensor_reading(x, y, "flux", self.FLL_SAMPLE_S)) / self.phi0_per_volt

    def coil_current(self) -> float:
        """The field coil's current now (A rms), driven by the sine output."""
        if self.nominal_amplitude is None:
            return self.field_coil_current
        return self.field_coil_current * self.settings["amplitude"] / self.nominal_amplitude

    def signal(self, world: World, time_constant: float) -> float:
        if not world.squid_locked:  # a railed loop passes no modulation
            return 0.0
        x, y, _ = world.position
        susceptibility = float(world.sensor_reading(x, y, "susceptibility", time_constant))
        return susceptibility * self.coil_current() / self.phi0_per_volt_lockin

    def start_fault(self, kind: str) -> None:
        if kind == "squid_unlock":
            with self.link.world() as world:
                world.squid_locked = False
        else:
            super().start_fault(kind)

    def end_fault(self, kind: str) -> None:
        if kind == "squid_unlock":
            with self.link.world() as world:
                world.squid_locked = True


class SR830BridgeEmulator(SR830Emulator):
    """The touchdown capacitance bridge's lock-in: S is the bridge's out-of-balance signal (V)
    at the sensor's present position, averaged over the time constant (world.touchdown_reading)."""

    def signal(self, world: World, time_constant: float) -> float:
        return world.touchdown_reading(time_constant)
