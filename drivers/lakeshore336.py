"""Lake Shore 336 temperature controller as the station's `TemperatureController`.

Built on pymeasure's shared `LakeShore3xx` class (its heater-range mapping, off/low/
medium/high = 0/1/2/3, is the 335/336 one; it is wrong for the 340 and 350, so
`connect` refuses any other model). pymeasure has no reading-status query, so
`LakeShore336` below adds `RDGST?` to the input channels, in pymeasure's style.

Station file block::

    temperature:
      driver: lakeshore336
      address: "GPIB0::13::INSTR"
      input: A            # sensor input read as the sample temperature (A-D)
      loop: 1             # heater loop (1 or 2: the 336's two heater outputs)
      heater_range: 1     # 0 off, 1 low, 2 medium, 3 high: the lowest range that works
      ceiling: 12 K       # optional: the heater loop's own setpoint ceiling

Safety: the station limits are checked by the role before any command; `ceiling`
is a second, controller-specific bound. A reading the controller flags as invalid
(RDGST? non-zero) switches the heater off and raises: a wrong number on a heater
loop heats without bound, and a made-up number in the file hides the fault.
"""

from __future__ import annotations

import math

from pymeasure.instruments import Instrument
from pymeasure.instruments.lakeshore import LakeShore3xx
from pymeasure.instruments.lakeshore.lakeshore_base import LakeShoreTemperatureChannel

from sqm.errors import InstrumentError, LimitError, UserInputError
from sqm.roles import TemperatureController

from .base import HardwareContext, check_known_keys, guarded, setting

INPUTS = ("A", "B", "C", "D")
HEATER_LOOPS = (1, 2)
# Heater range number (as in the station file and on the wire) -> pymeasure's name.
HEATER_RANGE_NAMES = {0: "off", 1: "low", 2: "medium", 3: "high"}

# RDGST? answers a bit sum; these are the bits the 336 defines.
READING_STATUS_BITS = {
    1: "invalid reading",
    16: "temperature under range",
    32: "temperature over range",
    64: "sensor units zero",
    128: "sensor units over range",
}


def describe_reading_status(status: int) -> str:
    """The RDGST? bit sum in words, e.g. 48 -> 'temperature under range, temperature over range'."""
    reasons = [text for bit, text in READING_STATUS_BITS.items() if status & bit]
    unknown = status & ~sum(READING_STATUS_BITS)
    if unknown:
        reasons.append(f"undocumented status bits {unknown}")
    return ", ".join(reasons) or "no fault"


class LakeShore336InputChannel(LakeShoreTemperatureChannel):
    """A 336 sensor input: pymeasure's temperature channel plus the reading status."""

    reading_status = Instrument.measurement(
        "RDGST? {ch}",
        """Get the reading status as a bit sum (int): 1 invalid reading, 16 temperature
        under range, 32 temperature over range, 64 sensor units zero, 128 sensor units
        over range. Zero means the reading is valid.""",
        cast=int,
    )


class LakeShore336(LakeShore3xx):
    """Lake Shore Model 336: the shared 3xx driver with inputs A-D that report their
    reading status (`input_A.reading_status`)."""

    input_A = Instrument.ChannelCreator(LakeShore336InputChannel, "A")
    input_B = Instrument.ChannelCreator(LakeShore336InputChannel, "B")
    input_C = Instrument.ChannelCreator(LakeShore336InputChannel, "C")
    input_D = Instrument.ChannelCreator(LakeShore336InputChannel, "D")

    def __init__(self, adapter, name="Lake Shore Model 336 Temperature Controller", **kwargs):
        super().__init__(adapter, name, **kwargs)


def check_settings(input_channel: str, loop: int, heater_range: int, ceiling: float | None) -> None:
    """Refuse a station-file block the 336 cannot follow (UserInputError)."""
    if input_channel not in INPUTS:
        raise UserInputError(f"input must be one of {', '.join(INPUTS)}, got {input_channel!r}")
    if isinstance(loop, bool) or loop not in HEATER_LOOPS:
        raise UserInputError(f"loop must be 1 or 2 (the 336's heater outputs), got {loop!r}")
    if isinstance(heater_range, bool) or heater_range not in HEATER_RANGE_NAMES:
        raise UserInputError(f"heater_range must be 0, 1, 2 or 3, got {heater_range!r}")
    if ceiling is not None and not ceiling > 0:
        raise UserInputError(f"ceiling must be a positive temperature, got {ceiling!r} K")


def _number(value, what: str) -> float:
    """`value` as a finite float, or InstrumentError (pymeasure hands garbage back as text)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InstrumentError(f"{what}: the controller answered {value!r}, not a number")
    return float(value)


class LakeShore336Temperature(TemperatureController):
    """The sample temperature (K) from one 336 input, and one heater loop driving it.

    Build it around an open `LakeShore336` (tests use pymeasure's protocol adapter) or
    from a station-file block with `from_config`. Sends nothing until asked.
    """

    def __init__(
        self,
        controller: LakeShore336,
        input_channel: str = "A",
        loop: int = 1,
        heater_range: int = 1,
        ceiling: float | None = None,
    ) -> None:
        super().__init__()
        check_settings(input_channel, loop, heater_range, ceiling)
        self.controller = controller
        self.input_channel = input_channel
        self.loop = loop
        self.heater_range = heater_range
        self.ceiling = ceiling
        self._sensor = getattr(controller, f"input_{input_channel}")
        self._heater = getattr(controller, f"output_{loop}")

    @classmethod
    def from_config(cls, config: dict, context: HardwareContext) -> "LakeShore336Temperature":
        """Open the controller named in a station-file block, check it is a 336."""
        check_known_keys(config, {"address", "input", "loop", "heater_range", "ceiling"})
        address = str(setting(config, "address"))
        ceiling = setting(config, "ceiling", "temperature", default=None)
        # Check the whole block before the instrument is opened.
        settings = dict(
            input_channel=str(setting(config, "input", default="A")),
            loop=setting(config, "loop", default=1),
            heater_range=setting(config, "heater_range", default=1),
            ceiling=ceiling,
        )
        check_settings(**settings)
        # The 336 terminates with CR LF in both directions (manual, section 6.3).
        adapter = context.visa_adapter(address, read_termination="\r\n", write_termination="\r\n")
        temperature = cls(LakeShore336(adapter), **settings)
        try:
            temperature.connect()
        except InstrumentError as error:
            raise InstrumentError(f"{address}: {error}") from None
        return temperature

    def connect(self) -> None:
        """Refuse an instrument that is not a Model 336 (the heater ranges would mean other powers)."""
        identity = self.identity()
        if "MODEL336" not in identity.replace(" ", "").upper():
            raise InstrumentError(f"expected a Lake Shore Model 336, the instrument says {identity!r}")

    # --- identity and snapshot

    def identity(self) -> str:
        return str(guarded("Lake Shore 336 *IDN?", lambda: self.controller.id)).strip()

    def snapshot(self) -> dict:
        base = super().snapshot()
        range_name = guarded(f"RANGE? {self.loop}", lambda: self._heater.range)
        ranges_by_name = {name: number for number, name in HEATER_RANGE_NAMES.items()}
        if range_name not in ranges_by_name:
            raise InstrumentError(f"RANGE? {self.loop}: the controller answered {range_name!r}")
        heater_output = _number(guarded(f"HTR? {self.loop}", lambda: self._heater.output), f"HTR? {self.loop}")
        return {
            **base,
            "input": self.input_channel,
            "loop": self.loop,
            "heater_range": ranges_by_name[range_name],
            "heater_range_when_on": self.heater_range,
            "heater_output_percent": heater_output,
            "ceiling_K": self.ceiling,
        }

    # --- the role's primitives

    def read_temperature(self) -> float:
        """The input's temperature (K), only if the controller calls the reading valid.

        An invalid reading switches the heater off, then raises InstrumentError with the
        decoded reason; no number is returned for it.
        """
        status = guarded(f"RDGST? {self.input_channel}", lambda: self._sensor.reading_status)
        if isinstance(status, bool) or not isinstance(status, int):
            raise InstrumentError(f"RDGST? {self.input_channel}: the controller answered {status!r}")
        if status != 0:
            self._refuse_reading(f"reading status {status}: {describe_reading_status(status)}")
        kelvin = _number(
            guarded(f"KRDG? {self.input_channel}", lambda: self._sensor.kelvin), f"KRDG? {self.input_channel}"
        )
        if kelvin <= 0:
            # The status said valid, but 0 K or less is no temperature: treat it the same way.
            self._refuse_reading(f"the controller reports {kelvin:g} K")
        return kelvin

    def _refuse_reading(self, reason: str) -> None:
        what = f"Lake Shore 336 input {self.input_channel}: {reason}"
        try:
            self.heater_off()
        except InstrumentError as error:
            raise InstrumentError(f"{what}; switching heater loop {self.loop} off FAILED: {error}") from None
        raise InstrumentError(f"{what}; heater loop {self.loop} switched off")

    def read_setpoint(self) -> float:
        """The loop's setpoint (K)."""
        return _number(guarded(f"SETP? {self.loop}", lambda: self._heater.setpoint), f"SETP? {self.loop}")

    def _write_setpoint(self, kelvin: float) -> None:
        """Set the loop's setpoint (K), then switch its heater to the configured range."""
        if self.ceiling is not None and kelvin > self.ceiling:
            raise LimitError(f"setpoint {kelvin:g} K is above the controller's ceiling {self.ceiling:g} K")
        if not kelvin > 0:
            raise LimitError(f"setpoint {kelvin:g} K is not a temperature")

        def send() -> None:
            self._heater.setpoint = kelvin
            self._heater.range = HEATER_RANGE_NAMES[self.heater_range]

        guarded(f"SETP {self.loop} / RANGE {self.loop}", send)

    def heater_off(self) -> None:
        """Switch the loop's heater off (RANGE <loop>,0)."""

        def send() -> None:
            self._heater.range = HEATER_RANGE_NAMES[0]

        guarded(f"RANGE {self.loop},0", send)
