"""A mistake in a sample file, or a step naming a lead the sample lacks, is one line naming
the file, the key and the value, exit status 2, and nothing moves (no run file is made),
as `sqm check` and `sqm run` say it."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from sqm.cli import main

from ..conftest import CONFIGS, twin_station_text
from .error_lines import one_error_line

PAPER_SAMPLE = CONFIGS / "samples" / "fese_flake.yaml"
SWEEP = "steps:\n  - bias_sweep: {points: [0, 20 uA], step: 10 uA, integration_time: 0.1 s}\n"


def _paper() -> dict:
    return yaml.safe_load(PAPER_SAMPLE.read_text())


def _open_outline(data):
    data["outline"]["polygon"] = [["-40 um", "-25 um"], ["40 um", "-25 um"]]


def _crossed_outline(data):
    data["outline"]["polygon"] = [["-40 um", "-25 um"], ["40 um", "25 um"], ["40 um", "-25 um"], ["-40 um", "25 um"]]


def _region_outside(data):
    data["regions"]["upper"]["polygon"][1] = ["45 um", "0 um"]


def _lead_off_the_outline(data):
    data["leads"]["drain"]["at"] = ["35 um", "30 um"]


def _overlapping_leads(data):
    data["leads"]["drain"]["at"] = ["-33 um", "25 um"]


def _no_pearl_length(data):
    data["superconductor"]["pearl_length"] = "0 um"


def _probe_off(data):
    data["probes"]["park"] = ["30 um", "-35 um"]


CASES = [
    (_open_outline, "outline.polygon", "at least 3 distinct points"),
    (_crossed_outline, "outline.polygon", "crosses itself: its side from point 0 (-40, -25) um"),
    (_region_outside, "regions.upper", "reaches outside the outline, at"),
    (_lead_off_the_outline, "leads.drain.at", "(35, 30) um is not on the outline"),
    (_overlapping_leads, "leads.drain", "at (-33, 25) um, 4 um wide, overlaps lead 'source'"),
    (_no_pearl_length, "superconductor.pearl_length", "'0 um' is outside the plausible Pearl length"),
    (_probe_off, "probes.park", "(30, -35) um is off the sample"),
]


def _station_with_sample(tmp_path: Path, sample: dict | None = None, name: str = "bad.yaml") -> Path:
    sample_path = tmp_path / name
    if sample is not None:
        sample_path.write_text(yaml.safe_dump(sample, sort_keys=False))
    station = tmp_path / "station.yaml"
    station.write_text(twin_station_text(sample=str(sample_path)))
    return station


@pytest.mark.parametrize("mistake, key, message", CASES, ids=[case[0].__name__.strip("_") for case in CASES])
def test_a_mistake_in_a_sample_file_is_one_line_and_exit_2(tmp_path, capsys, mistake, key, message):
    sample = copy.deepcopy(_paper())
    mistake(sample)
    station = _station_with_sample(tmp_path, sample)
    procedure = tmp_path / "sweep.yaml"
    procedure.write_text(SWEEP)
    assert main(["check", str(procedure), "--station", str(station)]) == 2
    line = one_error_line(capsys)
    assert f"bad.yaml: {key}: " in line and message in line, line
    out = tmp_path / "runs"
    assert main(["run", str(procedure), "--station", str(station), "--out", str(out)]) == 2
    assert one_error_line(capsys) == line
    assert not out.exists() or not list(out.glob("*.h5"))  # nothing ran, nothing was written


def test_a_mask_that_is_not_two_colours_is_refused(tmp_path, capsys):
    picture = np.full((40, 60), 255, np.uint8)
    picture[10:30, 10:50] = 0
    picture[15:25, 20:40] = 128  # a third grey: not a thresholded image
    Image.fromarray(picture, mode="L").save(tmp_path / "flake.png")
    sample = _paper()
    sample["outline"] = {"mask": "flake.png", "pixel_size": "2 um"}
    del sample["regions"], sample["probes"]
    sample["leads"] = {"a": {"at": ["-40 um", "0 um"], "width": "4 um"},
                       "b": {"at": ["40 um", "0 um"], "width": "4 um"}}
    sample["bias_leads"] = ["a", "b"]
    station = _station_with_sample(tmp_path, sample)
    procedure = tmp_path / "sweep.yaml"
    procedure.write_text(SWEEP)
    assert main(["check", str(procedure), "--station", str(station)]) == 2
    line = one_error_line(capsys)
    assert "bad.yaml: outline.mask: flake.png is not a two-colour image: 3 grey levels" in line, line


def test_a_step_naming_a_lead_the_sample_lacks_is_refused_before_anything_moves(tmp_path, capsys):
    procedure = tmp_path / "sweep.yaml"
    procedure.write_text("steps:\n  - bias_sweep: {points: [0, 20 uA], step: 10 uA, leads: [source, gate]}\n")
    assert main(["check", str(procedure)]) == 2
    line = one_error_line(capsys)
    assert line == (f"sqm: error: {procedure}: step 1 (bias_sweep): leads: fese_flake.yaml has no lead 'gate' "
                    "(it has source, drain)")
    out = tmp_path / "runs"
    assert main(["run", str(procedure), "--out", str(out)]) == 2
    assert one_error_line(capsys) == line
    assert not out.exists() or not list(out.glob("*.h5"))


def test_a_station_naming_a_missing_sample_file_says_where_it_looked(tmp_path, capsys):
    station = _station_with_sample(tmp_path, None, name="nowhere.yaml")
    procedure = tmp_path / "sweep.yaml"
    procedure.write_text(SWEEP)
    assert main(["check", str(procedure), "--station", str(station)]) == 2
    line = one_error_line(capsys)
    assert f"sim.sample: no sample file '{tmp_path / 'nowhere.yaml'}'" in line, line
