"""Quantities with units in procedure and station files, converted to SI floats.

Bare numbers are SI. Strings carry a unit (`200 uA`, `1.51 G`, `1.5 K`, `20 um`).
Pint does the parsing; this module pins down the few units a SQUID lab writes
that pint reads differently: `G`/`gauss` and `Oe` mean 1e-4 T here (pint's own
gauss is the Gaussian-CGS unit, which does not convert to tesla), and `Phi0` is the
flux quantum.
"""

from __future__ import annotations

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
    ureg = pint.UnitRegistry()
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
        number = float(value)
    elif isinstance(value, str):
        number = _parse_string(value, dimension)
    else:
        raise UserInputError(f"expected a {dimension.replace('_', ' ')}, got {value!r}")
    if not math.isfinite(number):
        raise UserInputError(f"{value!r} is not a finite number")
    return number


def _parse_string(text: str, dimension: str) -> float:
    ureg = registry()
    try:
        quantity = ureg.Quantity(_to_pint_text(text.strip()))
    except (pint.errors.PintError, ValueError, TypeError, AttributeError, SyntaxError):
        raise UserInputError(f"cannot read {text!r} as a quantity") from None
    target = SI_UNITS[dimension]
    if not isinstance(quantity, pint.Quantity) or quantity.dimensionless:
        # A bare number written as a string ("5") is SI, like an unquoted one.
        magnitude = quantity.magnitude if isinstance(quantity, pint.Quantity) else quantity
        return _tidy(float(magnitude))
    try:
        return _tidy(float(quantity.to(target or "dimensionless").magnitude))
    except pint.errors.DimensionalityError:
        raise UserInputError(
            f"{text!r} is not a {dimension.replace('_', ' ')} (expected a unit convertible to {target})"
        ) from None


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
