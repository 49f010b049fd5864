"""The station's limits, and the one place setpoints are checked against them.

Rule: reject, never clamp. A setpoint outside its range raises LimitError before
any command is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import LimitError, UserInputError
from .units import SI_UNITS, format_si, to_si


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
    # T: a ramp has arrived when the field reads within this of its target (or 0.1 %
    # of it); at least the supply's field readback resolution (1 mG by default).
    field_tolerance: float = 1e-7

    @classmethod
    def from_mapping(cls, data: dict) -> "StationLimits":
        """Build from the `limits:` block of a station file (values may carry units)."""
        if not isinstance(data, dict):
            raise UserInputError("station file: 'limits' must be a mapping")

        def section(name: str) -> dict:
            block = data.get(name)
            if not isinstance(block, dict):
                raise UserInputError(f"station file: limits.{name} is missing or not a mapping")
            return block

        def symmetric_or_span(name: str, quantity: str, dimension: str) -> Range:
            block = section(name)
            try:
                if "max_abs" in block:
                    top = to_si(block["max_abs"], dimension)
                    return Range(quantity, dimension, -top, top)
                return Range(quantity, dimension, to_si(block["min"], dimension), to_si(block["max"], dimension))
            except KeyError as missing:
                raise UserInputError(f"station file: limits.{name} needs {missing} (or max_abs)") from None
            except UserInputError as error:
                raise UserInputError(f"station file: limits.{name}: {error}") from None

        def rate(name: str, quantity: str, dimension: str) -> Rate:
            block = section(name)
            try:
                maximum = to_si(block["max_ramp_rate"], dimension)
                default = to_si(block.get("ramp_rate", block["max_ramp_rate"]), dimension)
            except KeyError as missing:
                raise UserInputError(f"station file: limits.{name} needs {missing}") from None
            result = Rate(quantity, dimension, default, maximum)
            try:
                result.check(default)
            except LimitError as error:
                raise UserInputError(f"station file: limits.{name}: default {error}") from None
            return result

        def holding_zero(name: str, quantity: str, dimension: str) -> Range:
            # the safe state ramps to zero: a span without it could never be made safe
            span = symmetric_or_span(name, quantity, dimension)
            if not span.minimum <= 0.0 <= span.maximum:
                raise UserInputError(f"station file: limits.{name} must include 0 (the safe state ramps to it)")
            return span

        def field_tolerance() -> float:
            value = section("field").get("tolerance", "1 mG")
            try:
                tolerance = to_si(value, "field")
            except UserInputError as error:
                raise UserInputError(f"station file: limits.field.tolerance: {error}") from None
            if not tolerance > 0:
                raise UserInputError("station file: limits.field.tolerance must be positive")
            return tolerance

        scanner = section("scanner")
        return cls(
            bias_current=holding_zero("bias_current", "bias current", "current"),
            bias_ramp=rate("bias_current", "bias ramp rate", "current_rate"),
            field=holding_zero("field", "field", "field"),
            field_ramp=rate("field", "field ramp rate", "field_rate"),
            temperature=symmetric_or_span("temperature", "temperature setpoint", "temperature"),
            scanner_x=_axis(scanner, "x", "scanner x"),
            scanner_y=_axis(scanner, "y", "scanner y"),
            scanner_z=_axis(scanner, "z", "scanner height z"),
            field_tolerance=field_tolerance(),
        )


def _axis(block: dict, axis: str, quantity: str) -> Range:
    span = block.get(axis)
    if not (isinstance(span, list) and len(span) == 2):
        raise UserInputError(f"station file: limits.scanner.{axis} must be [min, max]")
    try:
        return Range(quantity, "length", to_si(span[0], "length"), to_si(span[1], "length"))
    except UserInputError as error:
        raise UserInputError(f"station file: limits.scanner.{axis}: {error}") from None
