"""Quantities in files: units converted to SI, wrong dimensions refused."""

import pytest

from sqm.errors import UserInputError
from sqm.units import to_si, to_unit


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


@pytest.mark.parametrize(
    "text, dimension, expected",
    [
        ("20 µm", "length", 2e-5),  # micro sign
        ("20 μm", "length", 2e-5),  # Greek mu
        ("20um", "length", 2e-5),
        ("+2 uA", "current", 2e-6),
        (".5 K", "temperature", 0.5),
        ("1.5e-3 K", "temperature", 1.5e-3),
        ("2 uA / s", "current_rate", 2e-6),
        ("4 mT/s", "field_rate", 4e-3),
        ("2 mPhi0", "flux", 2e-3),
        ("1/s", "frequency", 1.0),
        ("5 1/s", "frequency", 5.0),
        ("3 s^-1", "frequency", 3.0),
        ("3 s**-1", "frequency", 3.0),
        ("2 m^2 / m", "length", 2.0),
        ("5 min", "time", 300.0),
        ("5 %", "dimensionless", 0.05),
        ("1e-6", "flux", 1e-6),
    ],
)
def test_more_written_spellings_convert(text, dimension, expected):
    assert to_si(text, dimension) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("text, dimension", [("1,5 G", "field"), ("0,5 G", "field"), ("2,5 uA", "current"),
                                             ("1,000 uA", "current")])
def test_a_decimal_comma_is_refused_not_misread(text, dimension):
    # pint read '1,5 G' as 15 G, '0,5 G' as 0 and '2,5 uA' as 25 uA
    with pytest.raises(UserInputError, match="decimals with a point, not a comma") as raised:
        to_si(text, dimension)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "text, dimension",
    [
        ("1.5.3 K", "temperature"),  # was 0.45 K
        ("2 K 3", "temperature"),  # was 6 K
        ("K 2", "temperature"),  # was 2 K
        ("2 * K", "temperature"),
        ("30 um)", "length"),  # tokenize.TokenError
        ("(30 um", "length"),
        ("-", "current"),  # AssertionError
        ("3 * ", "current"),
        ("1 / 0 K", "temperature"),  # ZeroDivisionError
        ("10**400 K", "temperature"),  # OverflowError
        ("1" * 400, "temperature"),
        ("1" * 400 + " K", "temperature"),
        ("1 km**400", "length"),
        ("1e308 kA", "current"),
        ("1.5e", "dimensionless"),
        ("2 foo", "current"),
        ("", "current"),
        ("-270 degC", "temperature"),
    ],
)
def test_junk_and_typos_are_one_line_errors_never_other_values(text, dimension):
    with pytest.raises(UserInputError) as raised:
        to_si(text, dimension)
    assert "\n" not in str(raised.value)


def test_a_huge_integer_is_not_a_finite_number():
    with pytest.raises(UserInputError, match="not a finite number"):
        to_si(10**400, "current")


@pytest.mark.parametrize("text, dimension", [("5 %", "time"), ("3 ppm", "current"), ("2 rad", "length"),
                                             ("1 um/m", "length")])
def test_a_pure_number_unit_is_not_a_dimensioned_quantity(text, dimension):
    # was 5 s and 3 A: the unit was dropped and the number taken as SI
    with pytest.raises(UserInputError, match="is a pure number"):
        to_si(text, dimension)


def test_to_unit_reads_instrument_settings_with_the_same_rules():
    assert to_unit("5 um/V", "m/V") == 5e-6
    assert to_unit("250 mPhi0/V", "Phi0/V") == 0.25
    assert to_unit("0.25", "Phi0/V") == 0.25 and to_unit(3, "m/V") == 3.0
    for bad in ("1,5 um/V", "5 um/V)", "5 uA", True, "inf"):
        with pytest.raises(UserInputError):
            to_unit(bad, "m/V")
