"""Quantities in files: units converted to SI, wrong dimensions refused."""

import pytest

from sqm.errors import UserInputError
from sqm.units import to_si


@pytest.mark.parametrize(
    "text, dimension, expected",
    [
        ("200 uA", "current", 2e-4),
        ("-200 uA", "current", -2e-4),
        ("1.51 G", "field", 1.51e-4),
        ("500 Oe", "field", 0.05),
        ("10 mG", "field", 1e-6),
        ("2 kG", "field", 0.2),
        ("3 gauss", "field", 3e-4),
        ("5 mOe", "field", 5e-7),
        ("2 mT", "field", 2e-3),
        ("1.5 K", "temperature", 1.5),
        ("20 um", "length", 2e-5),
        ("2 uA/s", "current_rate", 2e-6),
        ("0.5 G/s", "field_rate", 5e-5),
        ("2 h", "time", 7200.0),
        ("1 Phi0", "flux", 1.0),
        (3e-5, "length", 3e-5),
        ("5", "current", 5.0),
    ],
)
def test_quantities_convert_to_si(text, dimension, expected):
    assert to_si(text, dimension) == pytest.approx(expected, rel=1e-12)


def test_written_values_round_trip_exactly():
    # '200 uA' must compare equal to a limit written as '200 uA'
    assert to_si("200 uA", "current") == 2e-4
    assert to_si("250 uA", "current") == to_si("0.25 mA", "current")


@pytest.mark.parametrize(
    "value, dimension, fragment",
    [
        ("200 K", "current", "is not a current"),
        ("1.5 uA", "temperature", "is not a temperature"),
        ("lots", "current", "cannot read"),
        ("1 G", "length", "is not a length"),
        (True, "current", "expected a current"),
        ([1, 2], "current", "expected a current"),
        ("nan A", "current", "not a finite number"),
    ],
)
def test_wrong_units_are_refused_with_a_reason(value, dimension, fragment):
    with pytest.raises(UserInputError, match=fragment):
        to_si(value, dimension)
