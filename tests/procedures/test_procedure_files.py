"""Procedure files: every mistake is one line naming file, step and value, and nothing moves."""

from __future__ import annotations

import pytest

from sqm.errors import LimitError, UserInputError
from sqm.events import PointRecorded
from sqm.procedure_file import load_procedure_file, parse_procedure_text
from sqm.procedures.bias_sweep import sweep_point_count, sweep_points
from sqm.session import load, start_run

from ..conftest import CONFIGS
from ..core.test_role_safety import PRIMITIVES

UA = 1e-6

BAD_FILES = [
    ("steps: [zero_field_cool: {from_temperature: 8 K", "not valid YAML (line"),
    ("- just a list", "a mapping with a non-empty list 'steps'"),
    ("steps: []", "non-empty list 'steps'"),
    ("steps:\n  - warp_drive: {speed: 9}", "step 1: unknown procedure 'warp_drive'"),
    ("steps:\n  - park: {x: 1 um, y: 2 um, colour: red}", "step 1 (park): unknown parameter(s) colour"),
    ("steps:\n  - park: {x: 1 um}", "step 1 (park): missing required parameter 'y'"),
    (
        "steps:\n  - set: {temperature: 2 K}\n  - bias_sweep: {points: [0, 200 K], step: 2 uA}",
        "step 2 (bias_sweep): points: '200 K' is not a current",
    ),
    ("steps:\n  - bias_sweep: {points: [0, 200 uA], step: 0 uA}", "step 1 (bias_sweep): step: must be positive"),
    ("steps:\n  - bias_sweep: {points: []}", "points: expected a non-empty list"),
    ("steps:\n  - set: {}", "give at least one of"),
    ("steps:\n  - park: {x: 1 um, y: 2 um}\n  - [a, b]", "step 2: write each step as"),
    ("steps:\n  - park: {x: 1 um, y: 2 um}\nrepeat: 3", "unknown key(s) repeat"),
    # a key given twice in one mapping (plain safe_load kept the last one silently)
    (
        "steps:\n  - park: {x: 1 um, y: 2 um}\nsteps:\n  - park: {x: 3 um, y: 2 um}",
        "line 3, column 1: the key 'steps' is given twice in the same mapping (first on line 1)",
    ),
    ("steps:\n  - park: {x: 30 um, y: -15 um, x: 40 um}", "line 2, column 33: the key 'x' is given twice"),
    ("steps:\n  - park:\n      x: 30 um\n      y: 1 um\n      x: 40 um",
     "line 5, column 7: the key 'x' is given twice"),
    # keys that are not text (YAML 1.1 reads on/off/yes/no as booleans): was a TypeError
    ("on: 3\nsteps:\n  - park: {x: 1 um, y: 2 um}", "line 1, column 1: the key on is read as True"),
    ("steps:\n  - park: {x: 1 um, y: 2 um, 3: 4}", "the key 3 is read as 3"),
    ("steps:\n  - yes: {x: 1 um}", "the key yes is read as True"),
    ("steps:\n  - park: {x: 1 um, y: 2020-13-45}", "cannot read '2020-13-45'"),
    # a decimal comma (pint read '1,5 G' as 15 G)
    ("steps:\n  - set:\n      field: 1,5 G", "step 1 (set): field: '1,5 G': write decimals with a point"),
    # point counts beyond any real measurement: refused without building the arrays
    (
        "steps:\n  - bias_sweep: {points: [0, 200 uA, -200 uA, 200 uA], step: 1 pA}",
        "step 1 (bias_sweep): 1,000,000,001 points asked for; one step may take at most 10,000,000",
    ),
    ("steps:\n  - iv_curve: {points: [0, 300 uA], step: 1e-300}", "step 1 (iv_curve): more than 10^15 points"),
    (
        "steps:\n  - field_sweep: {points: [0, 1 G], step: 1e-12, probes: {a: [0, 0]}}",
        "step 1 (field_sweep): 100,000,001 points asked for",
    ),
    (
        "steps:\n  - raster_scan: {x: [-50 um, 50 um], y: [-38 um, 38 um], pixel_size: 1 nm}",
        ("step 1 (raster_scan): 7,600,176,001 pixels asked for; one step may take at most 10,000,000 "
         "(100,001 x 76,001;"),
    ),
    (
        "steps:\n  - raster_scan: {x: [-50 um, 50 um], y: [-38 um, 38 um], pixel_size: 1e-300}",
        "more than 10^15 pixels asked for",
    ),
    (
        "steps:\n  - line_cut: {start: [0, 0], end: [0, 20 um], bias_currents: [0, 1 uA], spacing: 1 pm}",
        ("step 1 (line_cut): 40,000,002 samples asked for; one step may take at most 10,000,000 "
         "(2 lines of 20,000,001 samples;"),
    ),
]


@pytest.mark.parametrize("text, message", BAD_FILES)
def test_malformed_procedure_files_give_one_line_naming_the_place(text, message):
    with pytest.raises(UserInputError) as raised:
        parse_procedure_text(text, "proc.yaml")
    text_of_error = str(raised.value)
    assert text_of_error.startswith("proc.yaml:")
    assert message in text_of_error
    assert "\n" not in text_of_error


OUT_OF_LIMITS = [
    ("steps:\n  - bias_sweep: {points: [0, 400 uA], step: 2 uA}",
     "step 1 (bias_sweep): bias current 400 uA is outside the station limits [-350 uA, 350 uA]"),
    ("steps:\n  - bias_sweep: {points: [0, 100 uA], rate: 1 mA/s}", "bias ramp rate"),
    ("steps:\n  - set: {field: 25 G}", "step 1 (set): field 2.5 mT is outside the station limits"),
    ("steps:\n  - zero_field_cool: {from_temperature: 300 K}", "temperature setpoint 300 K"),
    ("steps:\n  - park: {x: 0, y: 0}\n  - park: {x: 70 um, y: 0}", "step 2 (park): scanner x 70 um"),
    ("steps:\n  - thermal_cycle: {anneal_temperature: 12 K}", "temperature setpoint 12 K"),
]


@pytest.mark.parametrize("text, message", OUT_OF_LIMITS)
def test_setpoints_beyond_the_station_limits_are_refused_before_anything_is_sent(twin, monkeypatch, text, message):
    sent = []
    for role_name, methods in PRIMITIVES.items():
        for method in methods:
            monkeypatch.setattr(twin.backend.roles[role_name], method, lambda *a, _m=method: sent.append(_m))
    clock_before = twin.clock.now()
    with pytest.raises(LimitError) as raised:
        load(text, twin)
    assert message in str(raised.value)
    assert "outside the station limits" in str(raised.value)
    assert sent == []
    assert twin.clock.now() == clock_before


def test_sweep_points_visit_every_turning_point_once_in_equal_steps():
    points = sweep_points([0.0, 200 * UA, -200 * UA, 200 * UA], 2 * UA)
    currents = [current for current, _ in points]
    branches = [branch for _, branch in points]
    assert len(points) == 1 + 100 + 200 + 200
    assert currents[0] == 0.0 and currents[100] == pytest.approx(200 * UA)
    assert currents[300] == pytest.approx(-200 * UA) and currents[-1] == pytest.approx(200 * UA)
    assert branches[:101] == [0] * 101 and branches[101:301] == [1] * 200 and branches[301:] == [2] * 200
    steps = [abs(b - a) for a, b in zip(currents, currents[1:])]
    assert max(steps) == pytest.approx(2 * UA) and min(steps) == pytest.approx(2 * UA)


def test_uneven_segments_take_equal_steps_no_larger_than_asked():
    points = sweep_points([0.0, 5 * UA], 2 * UA)
    assert [current / UA for current, _ in points] == pytest.approx([0.0, 5 / 3, 10 / 3, 5.0], rel=1e-12)


@pytest.mark.parametrize(
    "step", ["zero_field_cool: {from_temperature: 7 K}", "thermal_cycle: {anneal_temperature: 3 K, hold: 10 s}"]
)
def test_temperature_changes_happen_with_the_sensor_retracted(twin, tmp_path, step):
    heights_while_changing = []

    def watch(event):
        if isinstance(event, PointRecorded) and event.step == 2:
            heights_while_changing.append(twin.scanner.position()[2])

    station, procedure_file = load(f"steps:\n  - park: {{x: 0, y: 0}}\n  - {step}\n", twin)
    runner, store = start_run(station, procedure_file, tmp_path / "run.h5", watch)
    assert runner.join().status == "completed"
    store.close()
    assert len(heights_while_changing) > 5
    assert set(heights_while_changing) == {twin.limits.scanner_z.maximum}


def test_merge_keys_still_work_and_an_explicit_key_overrides_the_merged_one():
    procedure_file = load_procedure_file(CONFIGS / "procedures" / "fig2_images.yaml")
    images = [step.procedure for step in procedure_file.steps[2:]]
    assert [image.bias_current for image in images] == [0.0, 1e-4, 2e-4, 0.0, -2e-4, 0.0]
    assert all(image.values["x"] == [-5e-5, 5e-5] and image.pixel_size == 5e-7 for image in images)


def test_large_but_sane_sweeps_pass_and_count_their_points_without_building_them():
    procedure_file = parse_procedure_text(
        "steps:\n  - bias_sweep: {points: [0, 200 uA, -200 uA, 200 uA], step: 0.2 nA}", "proc.yaml"
    )
    sweep = procedure_file.steps[0].procedure
    assert sweep.expected_points() == 1 + 1_000_000 + 2_000_000 + 2_000_000
    for turning_points, step in (([0.0, 200 * UA, -200 * UA, 200 * UA], 2 * UA), ([0.0, 5 * UA], 2 * UA),
                                 ([1 * UA, 1 * UA, 0.0], 3 * UA)):
        assert sweep_point_count(turning_points, step) == len(sweep_points(turning_points, step))
