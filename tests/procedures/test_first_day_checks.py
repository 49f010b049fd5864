"""What a first-day user is told about a step: only the step's own parameters, with their
values (raster_scan's reconstruction), the station limit before the size of a sweep to
it (200 A is beyond +-350 uA, not "200,000,001 points"), and a decimal comma inside
`{...}` for what it is."""

from __future__ import annotations

import pytest
import yaml

from sqm.cli import main
from sqm.errors import LimitError, UserInputError
from sqm.limits import StationLimits
from sqm.procedure_file import parse_procedure_text
from sqm.session import load, load_for_check
from sqm.station import DEFAULT_STATION

from ..core.test_role_safety import PRIMITIVES


def _parse_error(step: str) -> str:
    with pytest.raises(UserInputError) as raised:
        parse_procedure_text(f"steps:\n  - {step}\n", "proc.yaml")
    text = str(raised.value)
    assert "\n" not in text
    return text


def _twin_limits() -> StationLimits:
    return StationLimits.from_mapping(yaml.safe_load(DEFAULT_STATION.read_text())["limits"])


# --- 1: raster_scan's reconstruction is refused in the step's own terms ------------------

SCAN = "raster_scan: {{x: [-10 um, 10 um], y: [-10 um, 10 um], {extra}}}"


def test_coarse_pixels_name_pixel_size_and_height_with_values_that_work():
    text = _parse_error(SCAN.format(extra="pixel_size: 1 um"))
    assert "cutoff_wavelength" not in text and "cutoff" not in text  # not a parameter of raster_scan
    assert "step 1 (raster_scan): pixel_size 1 um: pixels too coarse to reconstruct currents at height 1 um" in text
    assert "use pixel_size <= 500 nm, or height >= 2 um (or set reconstruct: false)" in text
    # each way out it offers is accepted
    parse_procedure_text(f"steps:\n  - {SCAN.format(extra='pixel_size: 500 nm')}\n")
    parse_procedure_text(f"steps:\n  - {SCAN.format(extra='pixel_size: 1 um, height: 2 um')}\n")
    parse_procedure_text(f"steps:\n  - {SCAN.format(extra='pixel_size: 1 um, reconstruct: false')}\n")


def test_a_small_image_names_its_side_and_the_height_that_would_do():
    text = _parse_error("raster_scan: {x: [0, 4 um], y: [0, 20 um], pixel_size: 100 nm}")
    assert "cutoff" not in text
    assert "step 1 (raster_scan): x, y: image too small for the reconstruction window at height 1 um" in text
    assert "its shorter side, 4.1 um (41 pixels of 100 nm), must be at least 8 um" in text
    assert "scan a larger x or y range, or use height <= 512.5 nm (or set reconstruct: false)" in text
    parse_procedure_text("steps:\n  - raster_scan: {x: [0, 4 um], y: [0, 20 um], pixel_size: 100 nm, height: 500 nm}\n")
    parse_procedure_text("steps:\n  - raster_scan: {x: [0, 8 um], y: [0, 20 um], pixel_size: 100 nm}\n")


def test_a_small_image_offers_no_height_the_pickup_loop_cannot_take():
    text = _parse_error("raster_scan: {x: [0, 3 um], y: [0, 3 um], pixel_size: 250 nm}")
    assert "its shorter side, 3.25 um (13 pixels of 250 nm), must be at least 8 um" in text
    assert "scan a larger x or y range (or set reconstruct: false)" in text  # 406 nm would be below the 410 nm


def test_a_height_too_low_for_the_pickup_loop_says_how_high():
    text = _parse_error(SCAN.format(extra="pixel_size: 100 nm, height: 300 nm"))
    assert "cutoff" not in text
    assert "step 1 (raster_scan): height 300 nm: too low to reconstruct currents" in text
    assert "pickup loop of radius 500 nm; it must be above 409.9" in text
    assert "(raise height, or set reconstruct: false)" in text


# --- 2: a setpoint beyond the station limits is the reason, whatever the sweep's size -----

BEYOND_LIMITS = [
    ("bias_sweep: {points: [0, 200, 0]}", "bias current 200 A is outside the station limits [-350 uA, 350 uA]"),
    ("iv_curve: {points: [0, 200]}", "bias current 200 A is outside the station limits"),
    ("field_sweep: {points: [0, 1], step: 1e-10, probes: {a: [0, 0]}}", "field 1 T is outside the station limits"),
    ("raster_scan: {x: [-5 mm, 5 mm], y: [0, 1 mm], reconstruct: false}", "scanner x -5 mm is outside"),
    ("line_cut: {start: [0, 0], end: [0, 20 mm], bias_currents: [0], spacing: 1 nm}", "scanner y 20 mm is outside"),
]


@pytest.mark.parametrize("step, message", BEYOND_LIMITS)
def test_a_huge_sweep_to_a_setpoint_beyond_the_limits_is_refused_for_the_limit(twin, monkeypatch, step, message):
    text = f"steps:\n  - {step}\n"
    with pytest.raises(UserInputError) as raised:  # without a station, the size is all there is to say
        parse_procedure_text(text, "proc.yaml")
    assert "asked for" in str(raised.value)
    sent = []
    for role_name, methods in PRIMITIVES.items():
        for method in methods:
            monkeypatch.setattr(twin.backend.roles[role_name], method, lambda *a, _m=method: sent.append(_m))
    with pytest.raises(LimitError) as raised:
        load(text, twin)
    assert message in str(raised.value) and "asked for" not in str(raised.value)
    assert str(raised.value).startswith("<procedure>: step 1 (")
    assert sent == []
    with pytest.raises(LimitError) as raised:  # `sqm check`: the station file's limits, no backend
        load_for_check(text)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    "step, message",
    [
        ("resistance_vs_temperature: {temperatures: [2 K, 3 K, 4 K, 300 K]}", "temperature setpoint 300 K"),
        ("thermal_cycle: {anneal_temperature: [2 K, 3 K, 4 K, 300 K]}", "temperature setpoint 300 K"),
    ],
)
def test_lists_too_long_with_a_setpoint_beyond_the_limits_name_the_setpoint(monkeypatch, step, message):
    import sqm.procedures.base

    monkeypatch.setattr(sqm.procedures.base, "MAX_POINTS", 3)
    with pytest.raises(LimitError) as raised:
        load_for_check(f"steps:\n  - {step}\n")
    assert message in str(raised.value) and "asked for" not in str(raised.value)


def test_sqm_check_says_the_limit_in_one_line(tmp_path, capsys):
    path = tmp_path / "amps.yaml"
    path.write_text("steps:\n  - bias_sweep: {points: [0, 200, 0]}\n")
    assert main(["check", str(path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (f"sqm: error: {path}: step 1 (bias_sweep): bias current 200 A is outside the station limits "
                    "[-350 uA, 350 uA]")


def test_a_huge_sweep_inside_the_limits_is_still_refused_before_anything_runs(twin, monkeypatch):
    sent = []
    for role_name, methods in PRIMITIVES.items():
        for method in methods:
            monkeypatch.setattr(twin.backend.roles[role_name], method, lambda *a, _m=method: sent.append(_m))
    with pytest.raises(UserInputError) as raised:
        load("steps:\n  - bias_sweep: {points: [0, 200 uA, -200 uA, 200 uA], step: 1 pA}\n", twin)
    assert "1,000,000,001 points asked for; one step may take at most 10,000,000" in str(raised.value)
    assert sent == []


def test_steps_are_still_checked_in_file_order(twin):
    text = "steps:\n  - park: {x: 0, y: 0, colour: red}\n  - set: {bias_current: 1 A}\n"
    with pytest.raises(UserInputError) as raised:
        load(text, twin)
    assert "step 1 (park): unknown parameter(s) colour" in str(raised.value)


# --- 3: a decimal comma inside {...} ----------------------------------------------------


@pytest.mark.parametrize(
    "step, message",
    [
        ("zero_field_cool: {to_temperature: 1,5 K}",
         "step 1 (zero_field_cool): to_temperature: write decimals with a point: 1.5 K, not 1,5 K"),
        ("zero_field_cool: {to_temperature: 1,5 K, from_temperature: 8 K}",
         "to_temperature: write decimals with a point: 1.5 K"),
        ("park: {x: -1,25 um, y: 0}", "step 1 (park): x: write decimals with a point: -1.25 um"),
        ("bias_sweep: {points: [0, 100 uA], rate: 0,5 uA/s}", "rate: write decimals with a point: 0.5 uA/s"),
    ],
)
def test_a_decimal_comma_inline_is_named_as_one(step, message):
    text = _parse_error(step)
    assert message in text
    assert "unknown parameter" not in text


def test_the_block_style_wording_is_the_same():
    text = _parse_error("zero_field_cool:\n      to_temperature: 1,5 K")
    assert "to_temperature: '1,5 K': write decimals with a point" in text


def test_other_unknown_keys_are_still_unknown_parameters():
    assert "unknown parameter(s) 5 K" in _parse_error("zero_field_cool: {to_temperature: 1 K, 5 K: 3}")
    assert "unknown parameter(s) colour" in _parse_error("zero_field_cool: {to_temperature: 1, colour}")
