"""What the command line says on a first day: `sqm show` given a folder, `--out` naming a
file, a station whose VISA library is not installed, and run files' parameters in the
units a person writes (30 um, 2 uA, 0.5 G), not raw SI."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from sqm.cli import main
from sqm.errors import UserInputError
from sqm.session import new_run_path, run_procedure

from ..conftest import CONFIGS

LAB_EXAMPLE = CONFIGS / "stations" / "lab-example.yaml"
SMALL = "steps:\n  - park: {x: 30 um, y: -15 um, integration_time: 0.1 s}\n"


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err + captured.out and "errno" not in captured.err.lower()
    return lines[0]


# --- 4: sqm show FOLDER, --out FILE -------------------------------------------------------


def test_show_of_an_empty_folder_says_it_takes_one_run_file(tmp_path, capsys):
    assert main(["show", str(tmp_path)]) == 2
    assert _one_error_line(capsys) == (
        f"sqm: error: {tmp_path} is a folder; sqm show takes one run file (.h5); there is none in it")


def test_show_of_a_folder_names_its_newest_run_files(tmp_path, capsys):
    for age, name in enumerate(["e.h5", "d.h5", "c.h5", "b.h5", "a.h5"]):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (1_000_000 - age, 1_000_000 - age))  # e.h5 the newest
    (tmp_path / "notes.txt").write_text("not a run")
    (tmp_path / "sub.h5").mkdir()  # a folder is no run file either
    assert main(["show", str(tmp_path)]) == 2
    assert _one_error_line(capsys) == (
        f"sqm: error: {tmp_path} is a folder; sqm show takes one run file (.h5); in it, newest first: "
        f"{tmp_path / 'e.h5'}, {tmp_path / 'd.h5'}, {tmp_path / 'c.h5'}, and 2 more")


def test_run_with_out_naming_a_file_says_out_must_be_a_folder(tmp_path, capsys):
    procedure = tmp_path / "park.yaml"
    procedure.write_text(SMALL)
    taken = tmp_path / "results"
    taken.write_text("an existing file\n")
    assert main(["run", str(procedure), "--out", str(taken)]) == 2
    assert _one_error_line(capsys) == f"sqm: error: --out must be a folder: {taken} is a file"
    assert main(["run", str(procedure), "--out", str(taken / "today")]) == 2  # a file on the way to it
    assert _one_error_line(capsys) == f"sqm: error: --out must be a folder: {taken} is a file"
    assert taken.read_text() == "an existing file\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["park.yaml", "results"]


def test_the_scripting_api_says_the_same_without_the_option_name(tmp_path):
    taken = tmp_path / "results"
    taken.write_text("")
    with pytest.raises(UserInputError) as raised:
        new_run_path(taken, "park.yaml")
    assert str(raised.value) == f"{taken}: cannot create the run file: {taken} is a file, not a folder"
    assert "Errno" not in str(raised.value)


# --- 5: a VISA library that is not installed ---------------------------------------------


def test_a_missing_pyvisa_py_is_one_line_with_the_install_hint(monkeypatch, capsys):
    pytest.importorskip("pymeasure")
    import pyvisa.highlevel

    monkeypatch.setitem(sys.modules, "pyvisa_py", None)  # as without the hardware extra
    monkeypatch.delitem(pyvisa.highlevel._WRAPPERS, "py", raising=False)
    expected = (f"sqm: error: {LAB_EXAMPLE}: hardware.visa_library '@py' needs the package pyvisa-py, "
                "which is not installed (pip install -e '.[hardware]')")
    assert main(["instruments", "--station", str(LAB_EXAMPLE)]) == 2
    assert _one_error_line(capsys) == expected
    procedure = CONFIGS / "procedures" / "fig3_bias_loop.yaml"
    assert main(["run", str(procedure), "--station", str(LAB_EXAMPLE), "--out", "/nonexistent/never"]) == 2
    assert _one_error_line(capsys) == expected


# --- 8: parameters in readable units -----------------------------------------------------


def test_show_prints_parameters_in_the_units_a_person_writes(tmp_path, capsys):
    text = ("steps:\n"
            "  - park: {x: 30 um, y: -15 um, integration_time: 0.1 s}\n"
            "  - bias_sweep: {points: [0, 2 uA, -2 uA], step: 1 uA, integration_time: 0.1 s}\n"
            "  - set: {field: 0.5 G}\n")
    path = run_procedure(text, out_dir=tmp_path).path
    assert main(["show", str(path)]) == 0
    out = capsys.readouterr().out
    lines = set(out.splitlines())
    for line in ["  x = 30 um", "  y = -15 um", "  height = 1 um", "  integration_time = 100 ms",  # park
                 "  points = [0 A, 2 uA, -2 uA]", "  step = 1 uA", "  rate = station default",  # bias_sweep
                 "  settle = 100 ms", "  record_voltage = false",
                 "  field = 0.5 G", "  tolerance = 0.02 K", "  hold = 10 s", "  timeout = 2 h"]:  # set
        assert line in lines, out
    parameter_lines = [line for line in out.splitlines() if " = " in line]
    assert not any("e-0" in line or "None" in line for line in parameter_lines), out
    assert not any(line.startswith(("  bias_current =", "  temperature =")) for line in parameter_lines)  # unset


@pytest.mark.parametrize(
    "value, units, shown",
    [
        (3e-05, "m", "30 um"),
        (2e-06, "A", "2 uA"),
        (1e-12, "A", "1 pA"),
        (0.0003, "A", "300 uA"),
        (5e-05, "T", "0.5 G"),
        (5e-06, "T", "0.05 G"),
        (1e-07, "T", "1 mG"),
        (0.002, "T", "20 G"),
        (5e-05, "T/s", "0.5 G/s"),
        (2e-05, "A/s", "20 uA/s"),
        (1.5, "K", "1.5 K"),
        (0.5, "s", "500 ms"),
        (60, "s", "60 s"),
        (1800, "s", "30 min"),
        (7200, "s", "2 h"),
        (0.25, "Phi0", "250 mPhi0"),
        (0, "A", "0 A"),
        ("flux", "", "flux"),
        (True, "", "true"),
        ({"lower": [3e-05, -1.5e-05], "upper": [-1e-05, 2e-05]}, "",
         "lower: [30 um, -15 um], upper: [-10 um, 20 um]"),
    ],
)
def test_each_kind_of_parameter_reads_as_written(value, units, shown):
    from sqm.show_worker import readable

    assert readable(value, units) == shown


def test_a_folder_is_still_refused_by_the_api_in_one_line(tmp_path):
    from sqm.readback import RunFileError, read_steps

    with pytest.raises(RunFileError) as raised:
        read_steps(tmp_path)
    assert "is a folder" in str(raised.value) and "\n" not in str(raised.value)


def test_show_of_a_file_still_reads_it(tmp_path, capsys):
    path = run_procedure(SMALL, out_dir=tmp_path).path
    assert Path(path).parent == tmp_path
    assert main(["show", str(path)]) == 0
    assert "001_park  [completed]" in capsys.readouterr().out
