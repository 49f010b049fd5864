"""Input a person can get wrong: repeated or odd YAML keys, files that are not UTF-8,
`sqm check` against a hardware station (offline, no instrument opened), probe currents
of both signs, and point counts no machine could hold. Each is one line, never a
traceback, and nothing moves."""

from __future__ import annotations

import dataclasses
import importlib.metadata

import pytest
import yaml

from sqm.cli import main
from sqm.errors import LimitError, UserInputError
from sqm.limits import Range, StationLimits
from sqm.procedure_file import load_procedure_file, parse_procedure_text
from sqm.station import DEFAULT_STATION, Station

from ..conftest import CONFIGS

LAB_EXAMPLE = CONFIGS / "stations" / "lab-example.yaml"
FIG3 = CONFIGS / "procedures" / "fig3_bias_loop.yaml"


def _one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


def _twin_limits(**changes) -> StationLimits:
    limits = StationLimits.from_mapping(yaml.safe_load(DEFAULT_STATION.read_text())["limits"])
    return dataclasses.replace(limits, **changes)


# --- 2, 4: repeated keys and keys that are not text -----------------------------------


def test_a_repeated_station_key_is_refused_with_its_line():
    text = DEFAULT_STATION.read_text().replace(
        "field: {max_abs: 20 G,", "field: {max_abs: 20 G, max_abs: 200 G,"
    )
    with pytest.raises(UserInputError) as raised:
        Station.from_text(text, source="twin.yaml")
    message = _one_line(raised)
    assert message.startswith("twin.yaml: line ") and "the key 'max_abs' is given twice" in message


@pytest.mark.parametrize(
    "replace, message",
    [
        ("backend: sim", "backend: sim\non: 3"),  # YAML 1.1: on is true
        ("temperature: {min: 1.4 K, max: 10 K}", "temperature: {min: 1.4 K, max: 10 K, 12: 3}"),
    ],
)
def test_station_keys_that_are_not_text_are_one_line_errors(replace, message):
    text = DEFAULT_STATION.read_text().replace(replace, message)
    with pytest.raises(UserInputError) as raised:
        Station.from_text(text, source="twin.yaml")
    assert "is read as" in _one_line(raised) and "not a name" in str(raised.value)


def test_merges_of_merged_anchors_are_not_taken_for_repeated_keys():
    from sqm.station import parse_yaml

    # &z (deep) is folded into c (shallow) before it is built itself: its own keys were
    # checked as written, before merging rewrote them
    text = "a: &a {k: 1, j: 2}\nb: {x: {y: {z: &z {<<: *a, k: 3}}}}\nc: {<<: [*z, *a], j: 5}\n"
    data = parse_yaml(text, "t.yaml")
    assert data["b"]["x"]["y"]["z"] == {"k": 3, "j": 2}
    assert data["c"] == {"k": 3, "j": 5}
    with pytest.raises(UserInputError, match="line 1, column 14: the key 'k' is given twice"):
        parse_yaml("a: &a {k: 1, k: 2}\nc: {<<: *a}\n", "t.yaml")


# --- 3: files that are not UTF-8 ------------------------------------------------------


def test_a_procedure_file_that_is_not_utf8_is_one_line_naming_it(tmp_path, capsys):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("steps:\n  - park: {x: 1 µm, y: 2 µm}\n".encode("latin-1"))
    with pytest.raises(UserInputError) as raised:
        load_procedure_file(path)
    assert _one_line(raised).startswith(f"{path}: the procedure file is not UTF-8 text")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not UTF-8" in err[0]


def test_a_station_file_that_is_not_utf8_is_one_line_naming_it(tmp_path):
    from sqm.station import read_station_limits

    path = tmp_path / "station.yaml"
    path.write_bytes(DEFAULT_STATION.read_bytes() + "# Ångström\n".encode("latin-1"))
    for load in (Station.from_file, read_station_limits):
        with pytest.raises(UserInputError) as raised:
            load(path)
        assert _one_line(raised).startswith(f"{path}: the station file is not UTF-8 text")


def test_utf8_files_with_micro_signs_still_load(tmp_path):
    path = tmp_path / "utf8.yaml"
    path.write_text("steps:\n  - park: {x: 1 µm, y: 2 μm}\n", encoding="utf-8")
    park = load_procedure_file(path).steps[0].procedure
    assert (park.x, park.y) == (1e-6, 2e-6)


# --- 5: checking against a hardware station builds no backend ---------------------------


@pytest.fixture
def no_backend(monkeypatch):
    """Loading a backend (and with it any driver) fails the test; so does opening VISA."""
    def refuse(self, *args, **kwargs):
        raise AssertionError(f"the backend {self.name!r} was loaded")

    monkeypatch.setattr(importlib.metadata.EntryPoint, "load", refuse)
    try:
        import pyvisa
    except ImportError:
        return
    monkeypatch.setattr(pyvisa, "ResourceManager", lambda *a, **k: pytest.fail("a VISA resource manager was opened"))


def test_load_for_check_reads_the_limits_of_a_hardware_station_without_opening_anything(no_backend):
    from sqm.session import load_for_check

    name, limits, procedure_file = load_for_check(FIG3, LAB_EXAMPLE)
    assert name == "lab-example"
    assert (limits.bias_current.minimum, limits.bias_current.maximum) == (-350e-6, 350e-6)
    assert limits.field.maximum == 2e-3 and limits.field_tolerance == 1e-6
    assert limits.scanner_y.maximum == 40e-6 and limits.temperature.minimum == 1.4
    assert [step.procedure.name for step in procedure_file.steps] == ["zero_field_cool", "park", "bias_sweep"]


def test_load_for_check_validates_against_those_limits(no_backend):
    from sqm.session import load_for_check

    with pytest.raises(LimitError) as raised:
        load_for_check("steps:\n  - set: {field: 25 G}\n", LAB_EXAMPLE)
    assert "step 1 (set): field 2.5 mT is outside the station limits" in _one_line(raised)


@pytest.mark.parametrize(
    "replace, message",
    [
        ("backend: hardware", "unknown backend 'hardwar'"),
        ("description:", "unknown key(s) colour"),
        ("temperature: {min: 1.4 K, max: 10 K}", "limits.temperature needs"),
    ],
)
def test_load_for_check_refuses_what_the_station_loader_refuses(no_backend, tmp_path, replace, message):
    from sqm.session import load_for_check

    broken = {
        "backend: hardware": "backend: hardwar",
        "description:": "colour: red\ndescription:",
        "temperature: {min: 1.4 K, max: 10 K}": "temperature: {min: 1.4 K}",
    }[replace]
    station = tmp_path / "lab.yaml"
    station.write_text(LAB_EXAMPLE.read_text().replace(replace, broken, 1))
    with pytest.raises(UserInputError) as raised:
        load_for_check(FIG3, station)
    assert _one_line(raised).startswith(str(station)) and message in str(raised.value)


def test_read_station_limits_agrees_with_the_built_station():
    from sqm.station import read_station_limits

    station = Station.from_file(DEFAULT_STATION)
    assert read_station_limits(DEFAULT_STATION) == (station.name, station.limits)


# --- 6: probe currents are applied with both signs ------------------------------------

ONE_SIDED = {"bias_current": Range("bias current", "current", -5e-6, 350e-6)}


@pytest.mark.parametrize(
    "step",
    [
        "resistance_vs_temperature: {temperatures: [2 K], current: 10 uA}",
        "thermal_cycle: {anneal_temperature: 3 K, resistance_current: 10 uA}",
    ],
)
def test_the_reversed_probe_current_is_checked_before_anything_moves(step):
    procedure_file = parse_procedure_text(f"steps:\n  - {step}\n", "proc.yaml")
    with pytest.raises(LimitError) as raised:
        procedure_file.validate(_twin_limits(**ONE_SIDED))
    assert "bias current -10 uA is outside the station limits [-5 uA, 350 uA]" in _one_line(raised)
    procedure_file.validate(_twin_limits())  # symmetric limits: both signs allowed


# --- 7: point counts ------------------------------------------------------------------


@pytest.mark.parametrize(
    "step, noun",
    [
        ("resistance_vs_temperature: {temperatures: [2 K, 3 K, 4 K, 5 K]}", "4 temperatures asked for"),
        ("thermal_cycle: {anneal_temperature: [2 K, 3 K, 4 K, 5 K]}", "4 anneal temperatures asked for"),
        ("bias_sweep: {points: [0, 8 uA], step: 2 uA}", "5 points asked for"),
        ("raster_scan: {x: [0, 1 um], y: [0, 1 um], reconstruct: false}", "9 pixels asked for"),
    ],
)
def test_every_procedure_caps_its_points(monkeypatch, step, noun):
    import sqm.procedures.base

    monkeypatch.setattr(sqm.procedures.base, "MAX_POINTS", 3)
    with pytest.raises(UserInputError) as raised:
        parse_procedure_text(f"steps:\n  - {step}\n", "proc.yaml")
    assert noun in _one_line(raised) and "at most 3" in str(raised.value)


@pytest.mark.parametrize(
    "step, message",
    [
        ("bias_sweep: {points: [0, 200 uA, -200 uA, 200 uA], step: 1 pA}", "1,000,000,001 points asked for"),
        ("raster_scan: {x: [-50 um, 50 um], y: [-38 um, 38 um], pixel_size: 1 nm}", "7,600,176,001 pixels"),
    ],
)
def test_sqm_check_refuses_huge_steps_in_one_line(tmp_path, capsys, step, message):
    # was a MemoryError traceback (sweep) and a 60 GiB allocation after validation (image)
    path = tmp_path / "huge.yaml"
    path.write_text(f"steps:\n  - {step}\n")
    assert main(["check", str(path)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "at most 10,000,000" in lines[0]
    assert "Traceback" not in captured.err + captured.out


# --- every file shipped still reads under the stricter rules ---------------------------


@pytest.mark.parametrize("station", sorted((CONFIGS / "stations").glob("*.yaml")), ids=lambda path: path.name)
@pytest.mark.parametrize("procedure", sorted((CONFIGS / "procedures").glob("*.yaml")), ids=lambda path: path.name)
def test_every_shipped_procedure_is_valid_for_every_shipped_station(no_backend, station, procedure):
    from sqm.session import load_for_check

    data = yaml.safe_load(station.read_text())
    if procedure.name == "squid_characterisation.yaml" and "squid_bias" not in data.get("limits", {}):
        # the sensor's own bias is optional: a station without one refuses the SQUID's steps, in one line
        with pytest.raises(UserInputError, match="needs a squid_bias role|needs limits.squid_bias"):
            load_for_check(procedure, station)
        return
    name, _, procedure_file = load_for_check(procedure, station)
    assert name == data["name"] and procedure_file.steps
