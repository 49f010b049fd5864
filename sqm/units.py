"""Quantities with units in procedure and station files, converted to SI floats.

Bare numbers are SI. Strings carry a unit (`200 uA`, `1.51 G`, `1.5 K`, `20 um`).
A string is read strictly (reject, never guess): one number with a decimal point (a
comma is refused: pint read `1,5 G` as 15 G), then unit names joined by spaces, `*`,
`/` with powers after `^` or `**`; a pure-number unit (`%`, `ppm`) is no time or
current; anything else is one UserInputError, never pint's own exception.
Pint does the unit arithmetic; this module pins down the few units a SQUID lab writes
that pint reads differently: `G`/`gauss` and `Oe` mean 1e-4 T here (pint's own
gauss is the Gaussian-CGS unit, which does not convert to tesla), and `Phi0` is the
flux quantum.
"""

from __future__ import annotations

import functools
import math
import re
from functools import lru_cache

import pint

from .errors import UserInputError

# The physical dimensions a parameter may have, with the SI unit we convert to.
SI_UNITS: dict[str, str] = {
    "current": "A",
    "current_rate": "A/s",
    "field": "T",
    "field_rate": "T/s",
    "temperature": "K",
    "temperature_rate": "K/s",
    "length": "m",
    "time": "s",
    "frequency": "Hz",
    "voltage": "V",
    "flux": "Phi0",
    "dimensionless": "",
}

# Whole-word unit names that we map to our own definitions before pint sees them.
_LAB_ALIASES = {
    "G": "lab_gauss",
    "gauss": "lab_gauss",
    "Oe": "lab_oersted",
    "oersted": "lab_oersted",
}
# with an optional SI prefix in front of the symbols (mG, uG, kG, mOe)
_ALIAS_PATTERN = re.compile(r"(?<![A-Za-z_])([umk]?)(G|Oe)(?![A-Za-z_])|(?<![A-Za-z_])(gauss|oersted)(?![A-Za-z_])")


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    """The unit registry shared by the whole program."""
    ureg: pint.UnitRegistry = pint.UnitRegistry()
    ureg.define("lab_gauss = 1e-4 * tesla")
    # In this field H is quoted as mu0*H: 1 Oe of applied field is 1e-4 T.
    ureg.define("lab_oersted = 1e-4 * tesla")
    ureg.define("Phi0 = magnetic_flux_quantum")
    return ureg


def _to_pint_text(text: str) -> str:
    def alias(match: re.Match) -> str:
        if match.group(3):
            return _LAB_ALIASES[match.group(3)]
        return match.group(1) + _LAB_ALIASES[match.group(2)]

    return _ALIAS_PATTERN.sub(alias, text)


def to_si(value: object, dimension: str) -> float:
    """Convert `value` (a number, or a string with a unit) to a float in SI units.

    `dimension` is a key of SI_UNITS. Raises UserInputError with a short reason
    (the caller adds where the value came from).
    """
    if dimension not in SI_UNITS:
        raise ValueError(f"unknown dimension {dimension!r}")
    if isinstance(value, bool):
        raise UserInputError(f"expected a {dimension.replace('_', ' ')}, got {value!r}")
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            raise UserInputError(f"{value!r} is not a finite number") from None
    elif isinstance(value, str):
        number = _parse_string(value, dimension)
    else:
        raise UserInputError(f"expected a {dimension.replace('_', ' ')}, got {value!r}")
    if not math.isfinite(number):
        raise UserInputError(f"{value!r} is not a finite number")
    return number


def to_unit(value: object, unit: str) -> float:
    """Convert `value` to a float in `unit` (e.g. 'm/V', 'Phi0/V'), with the same
    strict reading as to_si: a bare number is already in `unit`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UserInputError(f"expected a number in {unit}, got {value!r}")
    if isinstance(value, str):
        number, units = _split(value)
        if units:
            number = _convert(value, number, units, unit, f"a quantity in {unit}")
    else:
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
    if not math.isfinite(number):
        raise UserInputError(f"{value!r} is not a finite number")
    return number


# What a written quantity may look like: one number, then an optional unit expression
# made of unit names joined by spaces, '*' or '/', each with an optional integer (or
# decimal) power after '^' or '**'; '/s' and '1/s' may open it ('5/s', '5 1/s').
_NUMBER = r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|(?i:nan|inf(?:inity)?))"
_NAME = r"(?:[^\W\d]\w*|%)"  # letters (µ, Ω included), then letters, digits, _ ('Phi0')
_FACTOR = rf"{_NAME}(?:\s*(?:\^|\*\*)\s*[+-]?\d+(?:\.\d+)?)?"
_UNIT = rf"(?:(?:1\s*)?/\s*)?{_FACTOR}(?:\s*[*/]\s*{_FACTOR}|\s+{_FACTOR})*"
_QUANTITY = re.compile(rf"(?P<number>{_NUMBER})(?:(?P<space>\s*)(?P<unit>{_UNIT}))?")
_LONGEST = 200  # characters: far more than any quantity needs


def _split(text: str) -> tuple[float, str]:
    """The number and the unit expression ('' if none) of a written quantity."""
    if len(text) > _LONGEST:
        raise UserInputError(f"cannot read {text[:20]!r}... ({len(text)} characters) as a quantity")
    if "," in text:
        raise UserInputError(
            f"{text!r}: write decimals with a point, not a comma (1.5, not 1,5), and no thousands separators"
        )
    match = _QUANTITY.fullmatch(text.strip())
    if match is None:
        raise UserInputError(f"cannot read {text!r} as a quantity (write a number and a unit, e.g. '200 uA')")
    units = match.group("unit") or ""
    if units[:1] in ("e", "E") and not match.group("space"):
        # '1.5e' or '2E3x': an exponent typo as much as a unit
        raise UserInputError(f"cannot read {text!r} as a quantity (put a space between the number and the unit)")
    return float(match.group("number")), units


def _convert(text: str, number: float, units: str, target: str, wanted: str) -> float:
    """`number` `units` in `target` units; every failure of pint is one UserInputError."""
    ureg = registry()
    try:
        unit = ureg.parse_units(_to_pint_text("1" + units if units.startswith("/") else units))
        target_unit = ureg.parse_units(target) if target else ureg.dimensionless
    except Exception:  # pint raises many kinds (and tokenize/overflow errors) on odd input
        raise UserInputError(f"cannot read {text!r} as a quantity (unknown unit {units!r})") from None
    try:
        quantity = number * ureg.Quantity(1.0, unit)
    except pint.errors.OffsetUnitCalculusError:
        raise UserInputError(
            f"{text!r}: offset temperature units (degC, degF) are not accepted; write kelvin") from None
    except Exception:
        raise UserInputError(f"cannot read {text!r} as a quantity") from None
    try:
        pure_number = quantity.dimensionless and not ureg.Quantity(1.0, target_unit).dimensionless
        magnitude = None if pure_number else float(quantity.to(target_unit).magnitude)
    except pint.errors.DimensionalityError:
        expected = f"a unit convertible to {target}" if target else "no unit, or %, ppm"
        raise UserInputError(f"{text!r} is not {wanted} (expected {expected})") from None
    except Exception:  # overflow in a conversion factor ('1 km**400')
        raise UserInputError(f"{text!r} is not a finite number") from None
    if magnitude is None:
        # '5 %' or '3 ppm' is a pure number: never take it as seconds or amperes
        raise UserInputError(
            f"{text!r} is not {wanted} ({units!r} is a pure number; expected a unit convertible to {target})"
        )
    if not math.isfinite(magnitude):
        raise UserInputError(f"{text!r} is not a finite number")
    return _tidy(magnitude)


def _parse_string(text: str, dimension: str) -> float:
    number, units = _split(text)
    if not units:
        return number  # a bare number written as a string ("5") is SI, like an unquoted one
    target = SI_UNITS[dimension]
    factor = _unit_factor(units, target)
    if factor is not None:
        return _tidy(number * factor)
    wanted = "a pure number" if dimension == "dimensionless" else f"a {dimension.replace('_', ' ')}"
    return _convert(text, number, units, target, wanted)  # says what is wrong with it


@functools.lru_cache(maxsize=1024)
def _unit_factor(units: str, target: str) -> float | None:
    """What one of `units` is in `target`, kept: a station or sample file writes the same few
    units hundreds of times, and pint takes a quarter of a millisecond per reading. None when
    pint refuses (an unknown unit, an offset temperature, a pure number for a dimension):
    the full reading then gives the message."""
    try:
        return _convert("1 " + units, 1.0, units, target, "")
    except UserInputError:
        return None


def _tidy(number: float) -> float:
    """Drop the last-bit noise of unit conversion, so '200 uA' is 2e-4 exactly as written."""
    return float(f"{number:.12g}")


_PREFIXES = [(1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, ""), (1e3, "k")]


def format_si(value: float, unit: str) -> str:
    """A short human reading with an SI prefix: 0.0003, 'A' -> '300 uA'."""
    if not unit or value == 0 or not math.isfinite(value) or unit == "K":
        return f"{value:.6g} {unit}".strip()
    magnitude = abs(value)
    scale, prefix = _PREFIXES[0]
    for candidate, candidate_prefix in _PREFIXES:
        if magnitude >= candidate * 0.9999999:
            scale, prefix = candidate, candidate_prefix
    return f"{value / scale:.6g} {prefix}{unit}"
