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

The limits are in K, but the 336 takes `SETP` in the preferred units of the sensor
input its loop controls. So at connect, and again before every setpoint is sent, the
loop is checked (`check_control_loop`): `OUTMODE? <loop>` must say closed loop PID
(mode 1) on the configured input, and `INTYPE? <input>` must give kelvin as its
units (field 5: 1 kelvin, 2 celsius, 3 sensor units). Anything else is refused with
nothing further sent. Switching the heater off is never subject to this check.
"""

from __future__ import annotations

import logging

from pymeasure.instruments import Instrument
from pymeasure.instruments.lakeshore import LakeShore3xx
from pymeasure.instruments.lakeshore.lakeshore_base import (
    LakeShoreHeaterChannel,
    LakeShoreTemperatureChannel,
)

from sqm.errors import InstrumentError, LimitError, UserInputError
from sqm.roles import TemperatureController

from .base import CAST_NUMBER, NUMBER, HardwareContext, check_known_keys, connected, guarded, setting
from .scpi import check_identity, log_wire, query, read_identity, timeout_ms

logger = logging.getLogger(__name__)

INPUTS = ("A", "B", "C", "D")
HEATER_LOOPS = (1, 2)
# Heater range number (as in the station file and on the wire) -> pymeasure's name.
HEATER_RANGE_NAMES = {0: "off", 1: "low", 2: "medium", 3: "high"}
# HTRST? <loop> answers 0 (no error) or the heater fault the 336 found (it switches the
# heater off itself, and keeps it off until the range is set again).
HEATER_FAULTS = {1: "heater open load", 2: "heater short"}

# INTYPE? <input> answers "<sensor type>,<autorange>,<range>,<compensation>,<units>".
INTYPE_FIELDS = 5
UNITS_KELVIN = 1
UNITS_NAMES = {1: "kelvin", 2: "celsius", 3: "sensor units"}
# OUTMODE? <loop> answers "<mode>,<input>,<powerup enable>".
OUTMODE_FIELDS = 3
MODE_CLOSED_LOOP_PID = 1
OUTPUT_MODE_NAMES = {0: "off", 1: "closed loop PID", 2: "zone", 3: "open loop", 4: "monitor out", 5: "warmup supply"}
# OUTMODE's input field: 0 none, 1-4 inputs A-D (5-8: D2-D5 of the 3062 scanner option).
CONTROL_INPUT_NAMES = {0: "no input", 1: "A", 2: "B", 3: "C", 4: "D", 5: "D2", 6: "D3", 7: "D4", 8: "D5"}

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

    input_type = Instrument.measurement(
        "INTYPE? {ch}",
        """Get the input's configuration as whole numbers: sensor type, autorange,
        range, compensation, preferred units (1 kelvin, 2 celsius, 3 sensor units).
        The preferred units of a loop's control input are the units of its SETP.""",
        cast=int,
    )


class LakeShore336OutputChannel(LakeShoreHeaterChannel):
    """A 336 heater output: pymeasure's heater channel plus its output mode."""

    output_mode = Instrument.measurement(
        "OUTMODE? {ch}",
        """Get the output mode as whole numbers: mode (0 off, 1 closed loop PID, 2 zone,
        3 open loop), control input (0 none, 1 A, 2 B, 3 C, 4 D), powerup enable (0, 1).""",
        cast=int,
    )


class LakeShore336(LakeShore3xx):
    """Lake Shore Model 336: the shared 3xx driver with inputs A-D that report their
    reading status and configuration (`input_A.reading_status`, `input_A.input_type`)
    and heater outputs that report their mode (`output_1.output_mode`)."""

    input_A = Instrument.ChannelCreator(LakeShore336InputChannel, "A")
    input_B = Instrument.ChannelCreator(LakeShore336InputChannel, "B")
    input_C = Instrument.ChannelCreator(LakeShore336InputChannel, "C")
    input_D = Instrument.ChannelCreator(LakeShore336InputChannel, "D")
    output_1 = Instrument.ChannelCreator(LakeShore336OutputChannel, 1)
    output_2 = Instrument.ChannelCreator(LakeShore336OutputChannel, 2)

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


def _whole_numbers(value, count: int, what: str) -> list[int]:
    """`value` (what pymeasure parsed from a comma-separated reply) as `count` whole
    numbers, or InstrumentError (fields that are not integers come back as text)."""
    fields = value if isinstance(value, list) else [value]
    if len(fields) != count or any(isinstance(field, bool) or not isinstance(field, int) for field in fields):
        shown = ",".join(str(field) for field in fields)
        raise InstrumentError(f"{what}: the controller answered {shown!r}, not {count} whole numbers")
    return fields


def _read_number(command: str, call) -> float:
    """One query (`command`, sent by `call`) whose reply must be a finite number."""
    return query(command, call, CAST_NUMBER, source="controller")


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
        log_wire(controller, "Lake Shore 336", logger)

    @classmethod
    def from_config(cls, config: dict, context: HardwareContext) -> "LakeShore336Temperature":
        """Open the controller named in a station-file block, check it is a 336."""
        check_known_keys(config, {"address", "input", "loop", "heater_range", "ceiling", "timeout"})
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
        adapter = context.visa_adapter(address, timeout=timeout_ms(config), read_termination="\r\n",
                                       write_termination="\r\n")
        temperature = cls(LakeShore336(adapter), **settings)
        return connected(temperature, address)

    def connect(self) -> None:
        """Refuse an instrument that is not a Model 336 (the heater ranges would mean other powers),
        and a heater loop whose setpoint would not be in K on the configured input."""
        check_identity(
            self.identity(),
            lambda identity: "MODEL336" in identity.replace(" ", "").upper(),
            lambda identity: f"expected a Lake Shore Model 336, the instrument says {identity!r}",
        )
        self.check_control_loop()

    def check_control_loop(self) -> None:
        """Refuse (InstrumentError) unless the heater loop runs closed loop PID on the configured
        input and that input's preferred units are kelvin: `SETP` is sent in those units, and the
        limits were checked in K. Sends only the two queries, OUTMODE? then INTYPE?."""
        where = f"Lake Shore 336 heater loop {self.loop}"
        query = f"OUTMODE? {self.loop}"
        mode, control_input, _ = _whole_numbers(guarded(query, lambda: self._heater.output_mode), OUTMODE_FIELDS, query)
        if mode != MODE_CLOSED_LOOP_PID:
            name = OUTPUT_MODE_NAMES.get(mode, "an undocumented")
            raise InstrumentError(
                f"{where} is in {name} mode ({query} mode {mode}), not closed loop PID (1); "
                "refusing to send it setpoints"
            )
        if control_input != INPUTS.index(self.input_channel) + 1:
            name = CONTROL_INPUT_NAMES.get(control_input)
            controlled = {None: "an undocumented input", "no input": "no input"}.get(name, f"input {name}")
            raise InstrumentError(
                f"{where} controls {controlled} ({query} input {control_input}), not the configured "
                f"input {self.input_channel}; refusing to send it setpoints"
            )
        query = f"INTYPE? {self.input_channel}"
        fields = _whole_numbers(guarded(query, lambda: self._sensor.input_type), INTYPE_FIELDS, query)
        units = fields[-1]
        if units != UNITS_KELVIN:
            name = UNITS_NAMES.get(units, "undocumented units")
            raise InstrumentError(
                f"Lake Shore 336 input {self.input_channel} reports in {name} ({query} units {units}), not "
                f"kelvin (1): setpoints of heater loop {self.loop} would not be in K; refusing to send them"
            )

    # --- identity and snapshot

    def identity(self) -> str:
        return read_identity(self.controller, "Lake Shore 336 *IDN?")

    def snapshot(self) -> dict:
        base = super().snapshot()
        range_name = guarded(f"RANGE? {self.loop}", lambda: self._heater.range)
        ranges_by_name = {name: number for number, name in HEATER_RANGE_NAMES.items()}
        if range_name not in ranges_by_name:
            raise InstrumentError(f"RANGE? {self.loop}: the controller answered {range_name!r}")
        heater_output = _read_number(f"HTR? {self.loop}", lambda: self._heater.output)
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
        kelvin = _read_number(f"KRDG? {self.input_channel}", lambda: self._sensor.kelvin)
        if kelvin <= 0:
            # The status said valid, but 0 K or less is no temperature: treat it the same way.
            self._refuse_reading(f"the controller reports {kelvin:g} K")
        self._check_heater()
        return kelvin

    def _check_heater(self) -> None:
        """Raise InstrumentError when the loop's heater reports a fault (HTRST?): the 336 has
        switched it off, so a setpoint would never be reached and a wait for it never end."""
        command = f"HTRST? {self.loop}"
        code = int(query(command, lambda: self.controller.ask(command), NUMBER, source="controller"))
        if code:
            fault = HEATER_FAULTS.get(code, f"heater fault {code}")
            raise InstrumentError(f"Lake Shore 336 loop {self.loop}: {fault} ({command} {code}); the controller has "
                                  "switched the heater off")

    def _refuse_reading(self, reason: str) -> None:
        what = f"Lake Shore 336 input {self.input_channel}: {reason}"
        try:
            self.heater_off()
        except InstrumentError as error:
            raise InstrumentError(f"{what}; switching heater loop {self.loop} off FAILED: {error}") from None
        raise InstrumentError(f"{what}; heater loop {self.loop} switched off")

    def read_setpoint(self) -> float:
        """The loop's setpoint (K)."""
        return _read_number(f"SETP? {self.loop}", lambda: self._heater.setpoint)

    def _write_setpoint(self, kelvin: float) -> None:
        """Set the loop's setpoint (K), then switch its heater to the configured range; first
        check (again: the front panel may have changed it) that the loop's setpoint is in K."""
        if self.ceiling is not None and kelvin > self.ceiling:
            raise LimitError(f"setpoint {kelvin:g} K is above the controller's ceiling {self.ceiling:g} K")
        if not kelvin > 0:
            raise LimitError(f"setpoint {kelvin:g} K is not a temperature")
        self.check_control_loop()

        def send() -> None:
            self._heater.setpoint = kelvin
            self._heater.range = HEATER_RANGE_NAMES[self.heater_range]

        guarded(f"SETP {self.loop} / RANGE {self.loop}", send)
        self._check_heater()

    def heater_off(self) -> None:
        """Switch the loop's heater off (RANGE <loop>,0)."""

        def send() -> None:
            self._heater.range = HEATER_RANGE_NAMES[0]

        guarded(f"RANGE {self.loop},0", send)
