"""The station's limits, and the one place setpoints are checked against them.

Rule: reject, never clamp. A setpoint outside its range raises LimitError before
any command is sent.

Also the plausibility check of station-file settings (PlausibleRange, read_setting),
shared by the limits, the interlocks and the backends' blocks: one-line errors naming
the dotted key and the value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import LimitError, UserInputError
from .units import SI_UNITS, format_si, to_si, to_unit


@dataclass(frozen=True)
class Range:
    """A closed interval [minimum, maximum] of one quantity, in SI units."""

    quantity: str  # what it limits, for messages ("bias current")
    dimension: str  # key of units.SI_UNITS
    minimum: float
    maximum: float

    def __post_init__(self) -> None:
        if not self.minimum <= self.maximum:
            raise UserInputError(f"{self.quantity} limits: minimum {self.minimum} above maximum {self.maximum}")

    def check(self, value: float) -> float:
        """Return `value` if inside the range; raise LimitError otherwise."""
        if not (self.minimum <= value <= self.maximum):
            unit = SI_UNITS[self.dimension]
            raise LimitError(
                f"{self.quantity} {format_si(value, unit)} is outside the station limits "
                f"[{format_si(self.minimum, unit)}, {format_si(self.maximum, unit)}]"
            )
        return value


@dataclass(frozen=True)
class Rate:
    """A ramp rate ceiling (SI units per second) and the rate used by default."""

    quantity: str
    dimension: str
    default: float
    maximum: float

    def check(self, rate: float) -> float:
        unit = SI_UNITS[self.dimension]
        if not (0 < rate <= self.maximum):
            raise LimitError(
                f"{self.quantity} {format_si(rate, unit)} is outside the station limits "
                f"(0, {format_si(self.maximum, unit)}]"
            )
        return rate


def read_quantity(value: object, unit: str) -> float:
    """`value` as a float in `unit`: a dimension of units.SI_UNITS ('time', read in SI)
    or a unit such as 'm/V' (a bare number is then already in it)."""
    return to_si(value, unit) if unit in SI_UNITS else to_unit(value, unit)


@dataclass(frozen=True)
class PlausibleRange:
    """What a station-file setting may sensibly be: a quantity in `unit` between `low`
    and `high` (in that unit). Anything else is refused with one line naming the value,
    so an absurd number (a 1e30 Hz mains, an interlock read once a day) never reaches a run."""

    what: str  # the quantity, for messages ("line frequency")
    unit: str  # a dimension of units.SI_UNITS, or a unit such as 'm/V'
    low: float
    high: float
    example: str  # how one is written, e.g. '50 Hz'
    above_low: bool = False  # `low` itself is refused: (low, high] (a time constant of 0 s)
    magnitude: bool = False  # the bounds hold for |value| (a calibration of either sign)
    why: str = ""  # why the bounds, added to the message
    alternative_unit: str = ""  # also read in this unit, as the same number (a density's implied /Hz^0.5)

    def read(self, value: object) -> float:
        """`value` converted with read_quantity and checked; UserInputError (no key) otherwise."""
        number = self._convert(value)
        size = abs(number) if self.magnitude else number
        above_low = self.low < size if self.above_low else self.low <= size
        if not (above_low and size <= self.high):
            why = f": {self.why}" if self.why else ""
            raise UserInputError(f"{shown(value)} is outside the plausible {self.what} {self.bounds()}{why}")
        return number

    def bounds(self) -> str:
        """The range as written in messages: '(0, 60] s', '|x| in (0, 1000] Phi0/V'."""
        unit = SI_UNITS.get(self.unit, self.unit)
        span = f"{'(' if self.above_low else '['}{self.low:g}, {self.high:g}] {unit}".strip()
        return f"|x| in {span}" if self.magnitude else span

    def _convert(self, value: object) -> float:
        if isinstance(value, float) and not math.isfinite(value):  # .nan, .inf in YAML
            raise UserInputError(f"{value!r} is not a finite {self.what}")
        for unit in filter(None, (self.unit, self.alternative_unit)):
            try:
                return read_quantity(value, unit)
            except UserInputError:
                continue
        article = "an" if self.what[:1] in "aeiou" else "a"
        raise UserInputError(f"cannot read {shown(value)} as {article} {self.what} (write e.g. '{self.example}')")


def shown(value: object) -> str:
    """`value` as a message shows it: its repr, cut short (a 400-digit number, a long list)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def read_setting(block: dict, where: str, key: str, plausible: PlausibleRange) -> float:
    """`block[key]` read with `plausible`; an error names the dotted key (`where.key: ...`)."""
    try:
        return plausible.read(block[key])
    except UserInputError as error:
        raise UserInputError(f"{where}.{key}: {error}") from None


@dataclass(frozen=True)
class LeadRouting:
    """The leads of the station's sample a current can be driven between: their names,
    the pair a step uses when it names none, and the file that declares them (for messages)."""

    names: tuple[str, ...]
    default: tuple[str, str]
    declared_in: str

    def check(self, pair: tuple[str, str]) -> None:
        for name in pair:
            if name not in self.names:
                raise UserInputError(
                    f"leads: {self.declared_in} has no lead {name!r} (it has {', '.join(self.names)})")


# m: the touchdown press a station file that gives none allows; half the compliance of
# the twin's sensor mount (0.3 um), a margin a real mount should also have.
DEFAULT_TOUCHDOWN_PRESS = 150e-9


@dataclass(frozen=True)
class StationLimits:
    """Everything a procedure may not exceed on this station. SI units."""

    bias_current: Range  # A
    bias_ramp: Rate  # A/s
    field: Range  # T
    field_ramp: Rate  # T/s
    temperature: Range  # K, heater setpoint
    scanner_x: Range  # m
    scanner_y: Range  # m
    scanner_z: Range  # m, height above the sample
    # m: how far past contact a touchdown may press the sensor before it stops (keep it
    # below the compliance of the sensor's mount: pressed further, the sensor breaks).
    touchdown_press: float = DEFAULT_TOUCHDOWN_PRESS
    # T: a ramp has arrived when the field reads within this of its target (or 0.1 %
    # of it); at least the supply's field readback resolution (1 mG by default).
    field_tolerance: float = 1e-7
    # The sample's leads a current may be driven between, when the backend knows them
    # (the twin: its sample file); None: the wiring is fixed and unknown to SQM.
    leads: LeadRouting | None = None
    # The roles the station fills (sqm.role_list); None: every role of the list.
    roles: frozenset[str] | None = None
    # A, A/s: the nano-SQUID's own bias (`limits.squid_bias`); None on a station that gives
    # none, and then nothing may drive a SQUID bias.
    squid_bias: Range | None = None
    squid_bias_ramp: Rate | None = None

    def squid_bias_limits(self, what: str) -> tuple[Range, Rate]:
        """The SQUID bias range and ramp; refused (one line) on a station without them."""
        if self.squid_bias is None or self.squid_bias_ramp is None:
            raise UserInputError(f"{what} needs limits.squid_bias (max_abs, ramp_rate, max_ramp_rate) in the "
                                 "station file")
        return self.squid_bias, self.squid_bias_ramp

    def require_role(self, name: str, what: str) -> None:
        """A step that needs an optional role is refused before anything moves on a station without it."""
        if self.roles is not None and name not in self.roles:
            raise UserInputError(f"{what} needs a {name} role, and this station file gives none")

    def check_leads(self, pair: tuple[str, str] | None) -> None:
        """A step's `leads` must name leads the station can route its current to."""
        if pair is None:
            return
        if self.leads is None:
            raise UserInputError(
                f"leads: {' -> '.join(pair)} cannot be chosen on this station: its backend declares no "
                "sample leads (a hardware current source is wired to one pair; leave 'leads' out)")
        self.leads.check(pair)

    @classmethod
    def from_mapping(cls, data: dict) -> "StationLimits":
        """Build from the `limits:` block of a station file (values may carry units).

        Errors are one line naming the dotted key (`limits.field.max_abs: ...`); the
        caller adds the file. Unknown keys are refused (a misspelt `tolerance` would
        leave the default in force without a word), and so is a limit beyond physical
        sense (_PLAUSIBLE: 1e30 A, a scan range in metres, a height below the surface).
        """
        if not isinstance(data, dict):
            raise UserInputError(f"limits: must be a mapping with {', '.join(_LIMIT_KEYS)}, got {data!r}")
        refuse_unknown_keys("limits", data, _LIMIT_KEYS)
        for name, known in _LIMIT_KEYS.items():
            if name in _OPTIONAL_SECTIONS and name not in data:
                continue
            refuse_unknown_keys(f"limits.{name}", _section(data, name), known)
        temperature = _span(data, "temperature", "temperature setpoint", _PLAUSIBLE["temperature"])
        if temperature.minimum < 0:  # max_abs: a span symmetric about 0 K
            raise UserInputError("limits.temperature: a setpoint span cannot reach below 0 K (give min and max)")
        return cls(
            bias_current=_holding_zero(data, "bias_current", "bias current", _PLAUSIBLE["bias_current"]),
            bias_ramp=_rate(data, "bias_current", "bias ramp rate", _PLAUSIBLE["bias_ramp"]),
            field=_holding_zero(data, "field", "field", _PLAUSIBLE["field"]),
            field_ramp=_rate(data, "field", "field ramp rate", _PLAUSIBLE["field_ramp"]),
            temperature=temperature,
            scanner_x=_axis(data, "x", "scanner x", _PLAUSIBLE["lateral"]),
            scanner_y=_axis(data, "y", "scanner y", _PLAUSIBLE["lateral"]),
            scanner_z=_axis(data, "z", "scanner height z", _PLAUSIBLE["height"]),
            field_tolerance=_field_tolerance(data),
            touchdown_press=_touchdown_press(data),
            squid_bias=_holding_zero(data, "squid_bias", "SQUID bias", _PLAUSIBLE["squid_bias"])
            if "squid_bias" in data else None,
            squid_bias_ramp=_rate(data, "squid_bias", "SQUID bias ramp rate", _PLAUSIBLE["squid_bias_ramp"])
            if "squid_bias" in data else None,
        )


# What each section of `limits:` may hold.
_SPAN_KEYS = ("max_abs", "min", "max")
_LIMIT_KEYS: dict[str, tuple[str, ...]] = {
    "bias_current": (*_SPAN_KEYS, "ramp_rate", "max_ramp_rate"),
    "field": (*_SPAN_KEYS, "ramp_rate", "max_ramp_rate", "tolerance"),
    "temperature": _SPAN_KEYS,
    "scanner": ("x", "y", "z", "press"),
    "squid_bias": (*_SPAN_KEYS, "ramp_rate", "max_ramp_rate"),
}
_OPTIONAL_SECTIONS = ("squid_bias",)  # only a station with a SQUID bias role gives them

# Physically sane bounds of what a station may allow, in SI units: a limit beyond them
# is a typo (1e30 A, a scan range in metres), refused before it could let anything through.
_PLAUSIBLE: dict[str, PlausibleRange] = {
    "bias_current": PlausibleRange("bias current", "current", 0.0, 1.0, "350 uA", magnitude=True),
    "bias_ramp": PlausibleRange("bias ramp rate", "current_rate", 0.0, 10.0, "20 uA/s", above_low=True),
    "field": PlausibleRange("field", "field", 0.0, 20.0, "20 G", magnitude=True),
    "field_ramp": PlausibleRange("field ramp rate", "field_rate", 0.0, 1.0, "2 G/s", above_low=True),
    "field_tolerance": PlausibleRange("field tolerance", "field", 0.0, 0.1, "1 mG", magnitude=True),
    "temperature": PlausibleRange("temperature", "temperature", 0.0, 400.0, "10 K"),
    "lateral": PlausibleRange("scanner position", "length", 0.0, 0.01, "50 um", magnitude=True),
    "height": PlausibleRange("height above the sample", "length", 0.0, 0.01, "10 um"),
    "press": PlausibleRange("touchdown press", "length", 0.0, 5e-6, "150 nm", above_low=True),
    "squid_bias": PlausibleRange("SQUID bias", "current", 0.0, 0.01, "150 uA", magnitude=True),
    "squid_bias_ramp": PlausibleRange("SQUID bias ramp rate", "current_rate", 0.0, 0.01, "10 uA/s", above_low=True),
}


def refuse_unknown_keys(where: str, block: dict, known) -> None:
    """UserInputError naming the keys of `block` (at dotted key `where`) not in `known`."""
    unknown = sorted(str(key) for key in set(block) - set(known))
    if unknown:
        raise UserInputError(f"{where}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(known)})")


def _section(data: dict, name: str) -> dict:
    block = data.get(name)
    if not isinstance(block, dict):
        raise UserInputError(f"limits.{name} is missing or not a mapping")
    return block


def _span(data: dict, name: str, quantity: str, plausible: PlausibleRange) -> Range:
    """`max_abs` (a span symmetric about 0) or `min` and `max`."""
    block, where = _section(data, name), f"limits.{name}"
    if "max_abs" in block and ("min" in block or "max" in block):
        raise UserInputError(f"{where}: give max_abs, or min and max, not both")
    try:
        if "max_abs" in block:
            top = read_setting(block, where, "max_abs", plausible)
            return _range(where, quantity, plausible.unit, -top, top)
        low, high = (read_setting(block, where, key, plausible) for key in ("min", "max"))
        return _range(where, quantity, plausible.unit, low, high)
    except KeyError as missing:
        raise UserInputError(f"{where} needs {missing} (or max_abs)") from None


def _range(where: str, quantity: str, dimension: str, low: float, high: float) -> Range:
    try:
        return Range(quantity, dimension, low, high)
    except UserInputError as error:
        raise UserInputError(f"{where}: {error}") from None


def _holding_zero(data: dict, name: str, quantity: str, plausible: PlausibleRange) -> Range:
    # the safe state ramps to zero: a span without it could never be made safe
    span = _span(data, name, quantity, plausible)
    if not span.minimum <= 0.0 <= span.maximum:
        raise UserInputError(f"limits.{name} must include 0 (the safe state ramps to it)")
    return span


def _rate(data: dict, name: str, quantity: str, plausible: PlausibleRange) -> Rate:
    block, where = _section(data, name), f"limits.{name}"
    if "max_ramp_rate" not in block:
        raise UserInputError(f"{where} needs 'max_ramp_rate'")
    maximum = read_setting(block, where, "max_ramp_rate", plausible)
    default = read_setting(block, where, "ramp_rate", plausible) if "ramp_rate" in block else maximum
    result = Rate(quantity, plausible.unit, default, maximum)
    try:
        result.check(default)
    except LimitError as error:
        raise UserInputError(f"{where}: default {error}") from None
    return result


def _field_tolerance(data: dict) -> float:
    block = {"tolerance": "1 mG", **_section(data, "field")}
    tolerance = read_setting(block, "limits.field", "tolerance", _PLAUSIBLE["field_tolerance"])
    if not tolerance > 0:
        raise UserInputError(f"limits.field.tolerance must be positive, got {block['tolerance']!r}")
    return tolerance


def _touchdown_press(data: dict) -> float:
    block = {"press": DEFAULT_TOUCHDOWN_PRESS, **_section(data, "scanner")}
    return read_setting(block, "limits.scanner", "press", _PLAUSIBLE["press"])


def _axis(data: dict, axis: str, quantity: str, plausible: PlausibleRange) -> Range:
    where = f"limits.scanner.{axis}"
    span = _section(data, "scanner").get(axis)
    if not (isinstance(span, list) and len(span) == 2):
        raise UserInputError(f"{where} must be [min, max], got {span!r}")
    low, high = (read_setting({axis: value}, "limits.scanner", axis, plausible) for value in span)
    return _range(where, quantity, plausible.unit, low, high)
