"""raster_scan and line_cut on the twin: line-by-line images, limits, abort, streaming."""

from __future__ import annotations

import threading

import h5py
import numpy as np
import pytest

from sqm.analysis.edge_profile import peak_current_across_edge
from sqm.errors import LimitError, UserInputError
from sqm.events import LineRecorded
from sqm.procedure_file import parse_procedure_text
from sqm.readback import read_steps
from sqm.session import load, new_run_path, start_run

from ..conftest import run_on_station

UA = 1e-6


def _scan(step: str) -> str:
    return f"steps:\n  - {step}\n"


def test_a_raster_scan_fills_an_image_line_by_line_with_axes_in_metres(twin, tmp_path):
    lines = []

    def watch(event):
        if isinstance(event, LineRecorded):
            lines.append((event.row, twin.clock.now()))

    scan = "{x: [-10 um, 10 um], y: [-20 um, -10 um], pixel_size: 0.5 um, line_time: 2 s, reconstruct: false"
    text = f"steps:\n  - raster_scan: {scan}, bias_current: 50 uA}}\n  - raster_scan: {scan}, bias_current: 100 uA}}\n"
    station, procedure_file = load(text, twin)
    runner, store = start_run(station, procedure_file, tmp_path / "scan.h5", watch)
    assert runner.join().status == "completed"
    store.close()
    with h5py.File(tmp_path / "scan.h5", "r") as h5:
        half = h5["001_raster_scan/data/flux"][()]
        data = h5["002_raster_scan/data"]
        assert data.attrs["signal"] == "flux" and list(data.attrs["axes"]) == ["y", "x"]
        image = data["flux"][()]
        assert image.shape == (21, 41) and data["flux"].attrs["units"] == "Phi0"
        np.testing.assert_allclose(data["x"][()], np.linspace(-10e-6, 10e-6, 41), atol=1e-15)
        assert data["y"].attrs["units"] == "m"
        assert h5["002_raster_scan"].attrs["bias_current_A"] == pytest.approx(100 * UA)
    assert [row for row, _ in lines] == list(range(21)) * 2
    assert np.all(np.diff([t for _, t in lines[:21]]) >= 2.0)  # each line takes its line time
    # Below the switching threshold the flux is the Oersted field of the bias: linear in I.
    # What is left of Phi(100) - 2 Phi(50) is sensor noise: white, 1 uPhi0/sqrt(Hz) over
    # a 2 s / 41 pixel dwell, sqrt(1 + 4) of it, plus a drift common to each line.
    assert np.abs(image).max() > 50e-6
    difference = image - 2 * half
    white = np.sqrt(5) * 1e-6 / np.sqrt(2 * (2.0 / 41))
    within_lines = difference - np.median(difference, axis=1, keepdims=True)
    assert np.sqrt(np.mean(within_lines**2)) < 1.15 * white
    assert abs(np.mean(difference)) < 2e-6


def test_aborting_an_image_keeps_the_finished_lines_and_marks_the_step(twin, tmp_path):
    box, started = [], threading.Event()

    def abort_after_five_lines(event):
        if isinstance(event, LineRecorded) and event.row == 4:
            assert started.wait(5)  # the runner is in the box (the worker may get here first)
            box[0].abort("enough")

    text = _scan("raster_scan: {x: [-10 um, 10 um], y: [-10 um, 10 um], pixel_size: 1 um, reconstruct: false}")
    station, procedure_file = load(text, twin)
    path = new_run_path(tmp_path, "abort")
    runner, store = start_run(station, procedure_file, path, abort_after_five_lines)
    box.append(runner)
    started.set()
    assert runner.join().status == "aborted"
    store.close()
    (step,) = read_steps(path)
    assert step.status == "aborted"
    image = step.data["flux"]
    assert np.all(np.isfinite(image[:5])) and np.all(np.isnan(image[5:]))
    assert twin.scanner.position()[2] == twin.limits.scanner_z.maximum  # retracted by the cleanup


@pytest.mark.parametrize(
    "step, message",
    [
        ("raster_scan: {x: [-60 um, 10 um], y: [0, 10 um], reconstruct: false}",
         "scanner x -60 um is outside the station limits"),
        ("raster_scan: {x: [0, 10 um], y: [0, 50 um], reconstruct: false}", "scanner y 50 um is outside"),
        ("raster_scan: {x: [0, 10 um], y: [0, 10 um], height: 0.2 um, reconstruct: false}", "scanner height z 200 nm"),
        ("line_cut: {start: [0, -45 um], end: [0, 0], bias_currents: [0]}", "scanner y -45 um"),
        ("line_cut: {start: [0, 0], end: [0, 10 um], bias_currents: [0, 400 uA]}", "bias current 400 uA"),
    ],
)
def test_scans_outside_the_range_are_refused_before_anything_moves(twin, step, message):
    with pytest.raises(LimitError, match=message.replace("(", r"\(")):
        load(_scan(step), twin)


@pytest.mark.parametrize(
    "step, message",
    [
        ("raster_scan: {x: [0, 10 um], y: [0, 10 um], pixel_size: 0}", "pixel_size: must be positive"),
        ("raster_scan: {x: [0, 10 um], y: [0, 10 um], pixel_size: -1 um}", "pixel_size: must be positive"),
        ("raster_scan: {x: [0, 10 um], y: [0, 0.4 um]}", "y: the range holds fewer than 2 pixels"),
        ("raster_scan: {x: [0, 5 um], y: [0, 5 um]}", "image too small for the reconstruction window"),
        ("raster_scan: {x: [0, 20 um], y: [0, 20 um], pixel_size: 1 um}", "pixels too coarse"),
        ("raster_scan: {x: [0, 10 um, 20 um], y: [0, 5 um]}", "x: expected 2 values"),
        ("raster_scan: {x: [0, 10 um], y: [0, 10 um], signal: phase}", "signal: expected one of flux, susceptibility"),
        ("raster_scan: {x: [0, 10 um], y: [0, 10 um], reconstruct: maybe}", "reconstruct: expected true or false"),
        ("line_cut: {start: [0, 0], end: [0, 1 um], bias_currents: [0]}", "at least 8 are needed"),
    ],
)
def test_bad_scan_parameters_are_clear_errors(step, message):
    with pytest.raises(UserInputError, match=message):
        parse_procedure_text(_scan(step), "scan.yaml")


def test_line_cuts_record_one_profile_per_bias_with_the_peak_edge_current(twin, tmp_path):
    text = _scan("line_cut: {start: [20 um, -35 um], end: [20 um, -15 um], "
                 "bias_currents: [0, 50 uA, 100 uA], spacing: 0.5 um}")
    path, outcome = run_on_station(twin, text, tmp_path)
    assert outcome.status == "completed"
    (step,) = read_steps(path)
    assert step.data["flux"].shape == (3, 41)
    np.testing.assert_allclose(step.data["bias_current"], [0, 50 * UA, 100 * UA])
    np.testing.assert_allclose(step.data["y"][[0, -1]], [-35e-6, -15e-6])
    assert step.units["peak_edge_current"] == "A/m"
    peaks = step.data["peak_edge_current"]
    # the recorded peak is the one reconstructed from the recorded profile
    for profile, peak in zip(step.data["flux"], peaks):
        assert peak == pytest.approx(peak_current_across_edge(profile, 0.5e-6, 1e-6, twin.squid.pickup_radius))
    # below the switching current the edge current is the bias's: ~linear, from ~0 at 0 uA
    assert peaks[0] < 0.2 * peaks[1]  # at 0 uA: the noise of the reconstruction only
    assert peaks[2] == pytest.approx(2 * peaks[1], rel=0.15)


def test_a_1024_square_scan_streams_to_disk_with_bounded_memory(twin, tmp_path):
    import tracemalloc

    text = _scan("raster_scan: {x: [-25.575 um, 25.575 um], y: [-38 um, 13.15 um], pixel_size: 0.05 um, "
                 "line_time: 0.1 s, reconstruct: false}")
    station, procedure_file = load(text, twin)
    assert procedure_file.steps[0].procedure.expected_points() == 1024
    tracemalloc.start()
    path, outcome = run_on_station(twin, text, tmp_path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert outcome.status == "completed"
    with h5py.File(path, "r") as h5:
        image = h5["001_raster_scan/data/flux"]
        assert image.shape == (1024, 1024) and image.chunks == (1, 1024)
        image_bytes = image.size * image.dtype.itemsize
        assert np.isfinite(image[1023]).all()
    # bytes traced by Python while scanning: a few lines, not the 8.4 MB image (0.4 MB measured)
    assert peak < 0.25 * image_bytes
