"""The procedure reference (sqm.procedure_reference, `sqm procedures`, docs/procedures.md)
and the command line's own flags: `--version`, argparse errors said once."""

from __future__ import annotations

import pytest
import yaml

from sqm import __version__
from sqm.cli import main
from sqm.errors import LimitError, UserInputError
from sqm.limits import Range, Rate
from sqm.procedure_reference import REGENERATE, default_text, describe, limit_text, markdown, summary_table
from sqm.procedures import PROCEDURES
from sqm.procedures.base import REQUIRED
from sqm.procedures.bias_sweep import BiasSweep
from sqm.station import DEFAULT_STATION, read_station_limits

from ..conftest import REPO, twin_station_text


def test_docs_procedures_md_is_the_generated_reference():
    checked_in = (REPO / "docs" / "procedures.md").read_text()
    assert checked_in == markdown(), f"docs/procedures.md is out of date: regenerate it with `{REGENERATE}`"


def test_the_markdown_has_a_section_and_a_row_per_parameter_of_every_procedure():
    text = markdown()
    assert text == markdown()  # deterministic
    for name, cls in PROCEDURES.items():
        assert f"| [`{name}`](#{name}) | {cls.summary} |" in text
        section = text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        assert cls.summary in section
        for param in cls.params:
            (row,) = [line for line in section.splitlines() if line.startswith(f"| `{param.name}` |")]
            assert f"| {param.dimension} |" in row and param.doc in row


def test_sqm_procedures_prints_every_procedure_with_its_summary(capsys):
    assert main(["procedures"]) == 0
    out = capsys.readouterr().out
    assert summary_table() in out
    for name, cls in PROCEDURES.items():
        (line,) = [line for line in out.splitlines() if line.split(" ", 1)[0] == name]
        assert line.split(None, 1)[1] == cls.summary


def _parameter_lines(out: str, name: str) -> str:
    """The lines describing one parameter: its own and the indented ones under it."""
    lines = out.splitlines()
    (start,) = [i for i, line in enumerate(lines) if line.startswith(f"  {name} ")]
    end = start + 1
    while end < len(lines) and lines[end].startswith("   "):
        end += 1
    return "\n".join(lines[start:end])


def test_sqm_procedures_bias_sweep_lists_every_parameter_with_its_unit_and_default(capsys):
    assert main(["procedures", "bias_sweep"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"bias_sweep: {BiasSweep.summary}\n")
    for param in BiasSweep.params:
        shown = _parameter_lines(out, param.name)
        assert param.dimension in shown and param.doc in shown
        if param.units:
            assert f"({param.units})" in shown
        assert ("required" if param.default is REQUIRED else f"default: {default_text(param)}") in shown
    expected = {  # as written in the declarations
        "points": "current (A); one value or a list; required",
        "step": "current (A); positive; default: 2 uA",
        "rate": "current_rate (A/s); positive; default: station's default",
        "settle": "time (s); default: 0.1 s",
        "integration_time": "time (s); positive; default: 0.5 s",
        "record_voltage": "flag; true or false; default: false",
        "leads": "leads; two of the sample's lead names [source, drain]; default: not set",
    }
    assert {param.name for param in BiasSweep.params} == set(expected)
    for name, first_line in expected.items():
        assert _parameter_lines(out, name).splitlines()[0].split(None, 1)[1] == first_line


def test_the_limits_shown_are_those_of_the_station_given(tmp_path, capsys):
    assert main(["procedures", "bias_sweep"]) == 0  # default: the twin's station file
    out = capsys.readouterr().out
    assert "station limit: bias current [-350 uA, 350 uA] (limits.bias_current)" in _parameter_lines(out, "points")
    assert "bias ramp rate (0, 100 uA/s], default 20 uA/s" in _parameter_lines(out, "rate")
    assert "limit" not in _parameter_lines(out, "step")  # a step is no setpoint
    assert "station limit: source, drain (fese_flake.yaml; default source -> drain)" in _parameter_lines(out, "leads")
    assert f"'twin' ({DEFAULT_STATION})" in out

    station = tmp_path / "narrow.yaml"
    data = yaml.safe_load(twin_station_text())
    data["limits"]["bias_current"]["max_abs"] = "120 uA"
    data["limits"]["scanner"]["x"] = ["-5 um", "5 um"]
    station.write_text(yaml.safe_dump(data))
    assert main(["procedures", "bias_sweep", "--station", str(station)]) == 0
    assert "bias current [-120 uA, 120 uA]" in _parameter_lines(capsys.readouterr().out, "points")
    assert main(["procedures", "park", "--station", str(station)]) == 0
    out = capsys.readouterr().out
    assert "scanner x [-5 um, 5 um] (limits.scanner.x)" in _parameter_lines(out, "x")
    assert "scanner height z [500 nm, 10 um] (limits.scanner.z)" in _parameter_lines(out, "height")


def test_describe_without_limits_names_the_station_file_key():
    text = describe("raster_scan")
    assert "checked against: limits.scanner.x" in _parameter_lines(text, "x")
    assert "checked against: limits.field" in _parameter_lines(text, "field")
    assert "default: not set" in _parameter_lines(text, "field")
    assert "one of: flux, susceptibility; default: flux" in _parameter_lines(text, "signal")
    assert "checked against" not in _parameter_lines(text, "pixel_size")  # a size, not a position


def test_an_unknown_procedure_is_a_one_line_error_naming_the_known_ones(capsys):
    with pytest.raises(UserInputError, match=r"unknown procedure 'bias_swep' \(known: zero_field_cool, "):
        describe("bias_swep")
    assert main(["procedures", "bias_swep"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("sqm: error: unknown procedure 'bias_swep' (known: ") and "bias_sweep" in line


def _outside(limit: Range | Rate) -> float:
    if isinstance(limit, Rate):
        return 2 * limit.maximum
    return limit.maximum + (limit.maximum - limit.minimum)


# The smallest valid step of each procedure, every optional setpoint given.
VALID = {
    "zero_field_cool": {},
    "field_cool": {"field": "1 G"},
    "set": {"bias_current": 0, "field": 0, "temperature": "2 K"},
    "park": {"x": 0, "y": 0},
    "bias_sweep": {"points": [0, "10 uA"], "rate": "10 uA/s"},
    "thermal_cycle": {"anneal_temperature": "4 K", "probes": {"a": [0, 0]}, "resistance_current": "10 uA"},
    "raster_scan": {"x": ["-1 um", "1 um"], "y": ["-1 um", "1 um"], "bias_current": 0, "field": 0,
                    "reconstruct": False},
    "line_cut": {"start": [0, 0], "end": ["2 um", 0], "bias_currents": [0]},
    "field_sweep": {"points": [0, "0.1 G"], "probes": {"a": [0, 0]}, "rate": "0.1 G/s"},
    "iv_curve": {},
    "resistance_vs_temperature": {"temperatures": ["2 K"]},
    "touchdown": {"x": 0, "y": 0},
    "plane_fit": {"x": ["-10 um", "10 um"], "y": ["-10 um", "10 um"]},
    "coarse_approach": {},
    "squid_iv": {"points": [0, "10 uA"], "field": 0, "rate": "10 uA/s"},
    "squid_interference": {"fields": ["-1 G", "1 G"], "bias": "10 uA", "bias_max": "20 uA"},
    "working_point": {"fields": ["-1 G", "1 G"], "biases": [0, "10 uA"]},
}


LIMIT_FIELDS = ("bias_current", "bias_ramp", "field", "field_ramp", "temperature",
                "scanner_x", "scanner_y", "scanner_z", "squid_bias", "squid_bias_ramp")


@pytest.mark.parametrize("name", PROCEDURES)
def test_every_limit_the_reference_names_is_one_the_procedure_enforces(name):
    """The reference tells the truth: a value just outside a limit it shows for a
    parameter is refused, naming that limit, by the procedure's own validate()."""
    _, limits = read_station_limits(DEFAULT_STATION)
    cls = PROCEDURES[name]
    cls.from_raw(VALID[name]).validate(limits)  # the base case is valid
    shown = 0
    for param in cls.params:
        text = limit_text(param, limits)
        assert not text or f"station limit: {text}" in _parameter_lines(describe(name, limits), param.name)
        for field in LIMIT_FIELDS:
            limit = getattr(limits, field)
            if not text.startswith(f"{limit.quantity} ") and f"; {limit.quantity} " not in text:
                continue
            outside, raw = _outside(limit), dict(VALID[name])
            point = [outside, 0] if field == "scanner_x" else [0, outside]
            if param.dimension == "probes":
                raw[param.name] = {"a": point}
            elif param.count == 2:  # [x, y], or a [start, stop] range on one axis
                raw[param.name] = point if param.name not in ("x", "y") else [0, outside]
            else:
                raw[param.name] = [outside] if param.many else outside
            with pytest.raises(LimitError, match=limit.quantity):
                cls.from_raw(raw).validate(limits)
            shown += 1
    setpoints = {"current", "field", "temperature", "current_rate", "field_rate", "probes"}
    assert shown or not any(param.dimension in setpoints for param in cls.params)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"sqm {__version__}\n"


def test_an_argparse_error_says_sqm_error_once(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err == "sqm: error: the following arguments are required: command (see sqm --help)\n"
    assert main(["run"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.count("sqm: error:") == 1 and line.count("sqm") == 2  # the prefix, and `sqm run --help`
    assert line.startswith("sqm: error: run: the following arguments are required: procedure")
    assert main(["procedures", "set", "--stationn", "x"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.count("sqm: error:") == 1 and "unrecognized arguments: --stationn" in line
