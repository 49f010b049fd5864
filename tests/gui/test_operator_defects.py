"""What a new operator hit in the window: Start during a run, the safe state's wording, the
live views' scales and units, the step list, progress, branch names, the run browser's
file list and the procedure reference. Live views are fed typed events directly where a
run would add nothing but time."""

from __future__ import annotations

import os
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from sqm.events import Axis, DatasetAdded, ImageDeclared, LineRecorded, PointRecorded, SeriesDeclared, StepStarted
from sqm.gui.live_views import LiveViews
from sqm.station import Station
from tests.conftest import run_on_station, twin_station_text

from .test_window import LONG_SWEEP_AND_SCAN, run_files

pytest.importorskip("pytestqt")

REPO = Path(__file__).resolve().parents[2]

ONE_SWEEP = """\
description: GUI test, a short bias sweep
steps:
  - bias_sweep: {points: [0, 6 uA], step: 2 uA, settle: 0, integration_time: 0.1 s}
"""
TWO_SWEEPS = ONE_SWEEP + "  - bias_sweep: {points: [0, 60 uA], step: 2 uA, settle: 0, integration_time: 0.1 s}\n"

SMALL_SCAN = """\
description: GUI test, a small image
steps:
  - raster_scan: {x: [-5 um, 5 um], y: [-5 um, 5 um], pixel_size: 0.5 um, line_time: 2 s, reconstruct: false}
"""


def legend_names(curves) -> list[str]:
    """The names the legend of a GrowingCurves shows, in order."""
    return [label.text for _, label in curves.plotItem.legend.items]


def synchronous(function, on_done):
    on_done(function(), None)


@pytest.fixture
def views(qtbot):
    widget = LiveViews(synchronous)
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    yield widget
    widget.stop()


def map_declared(name="flux", units="Phi0", size=6) -> ImageDeclared:
    axis = np.linspace(-5e-6, 5e-6, size)
    return ImageDeclared(1, name, units, Axis("y", axis, "m"), Axis("x", axis, "m"))


# 1. Start during a run -----------------------------------------------------------

def test_start_is_disabled_while_a_run_is_active_and_queues_nothing(window, qtbot):
    panel, controller = window.procedure_panel, window.controller
    assert panel.load_text(LONG_SWEEP_AND_SCAN, "long.yaml")
    assert panel.start_button.isEnabled()
    panel.start_button.click()
    assert controller.is_running()
    assert not panel.start_button.isEnabled()
    assert panel.queue_button.isEnabled()  # queueing stays possible, on purpose
    panel.start_button.click()  # disabled: nothing happens
    panel.start()  # the panel's own path refuses too, and says how to queue
    assert "Add to queue" in panel.message.text()
    assert panel.queue_list.count() == 0 and controller.runs_started == 1
    panel.abort_button.click()
    qtbot.waitUntil(lambda: not controller.is_running(), timeout=10000)
    assert panel.start_button.isEnabled()
    assert controller.runs_started == 1 and len(run_files(window)) == 1


# 2. Safe state: the result, not "Start enabled again" ------------------------------

def test_safe_state_that_fails_says_not_confirmed_safe_with_the_reasons(window, qtbot, paced_twin, monkeypatch):
    from PyQt5.QtWidgets import QMessageBox

    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: asked.append(args) or QMessageBox.No)
    monkeypatch.setattr(paced_twin, "make_safe", lambda: ["magnet: read timeout (4 attempts)"])
    window.station_panel.safe_button.click()
    assert asked == []  # one click, no question
    qtbot.waitUntil(lambda: window.station_panel.safe_button.isEnabled(), timeout=10000)
    status = window.statusBar().currentMessage()
    assert status == "NOT confirmed safe: magnet: read timeout (4 attempts)"
    assert "Start enabled again" not in window.procedure_panel.message.text()
    assert "NOT confirmed safe" in window.station_panel._labels["interlock"].text()


# 3. Live views: units, scales, placeholders -----------------------------------------

def test_image_colour_bar_shows_the_declared_name_and_units(views):
    views.handle_event(StepStarted(1, "any_imaging_step", 6))
    views.handle_event(map_declared("susceptibility", "Phi0/A"))
    axis = views.image.colour_bar.axis
    assert (axis.labelText, axis.labelUnits) == ("susceptibility", "Phi0/A")
    views.handle_event(StepStarted(2, "any_imaging_step", 6))  # a step shows its first map: the next step's
    views.handle_event(map_declared("flux", "Phi0"))
    assert (axis.labelText, axis.labelUnits) == ("flux", "Phi0")


def test_placeholders_show_no_scale_until_data_arrive(views):
    assert not views.image.colour_bar.isVisible()
    assert not views.current_density.colour_bar.isVisible()
    views.handle_event(StepStarted(1, "any_imaging_step", 6))
    views.handle_event(map_declared())
    views.handle_event(LineRecorded(1, "flux", 0, np.linspace(-2e-4, 1e-4, 6)))
    views.redraw()
    assert views.image.colour_bar.isVisible()
    assert views.image.colour_bar.levels() == pytest.approx((-2e-4, 2e-4))
    assert not views.current_density.colour_bar.isVisible()


def test_sheet_current_units_are_given_once_and_its_scale_starts_at_zero(views, qtbot):
    views.handle_event(StepStarted(1, "any_imaging_step", 6))
    views.handle_event(map_declared())
    for row in range(6):
        views.handle_event(LineRecorded(1, "flux", row, np.full(6, 1e-4 * row)))
    ky, kx = np.meshgrid(np.linspace(-1, 1, 6), np.linspace(-1, 1, 6))
    views.handle_event(DatasetAdded(1, "Kx", 0.02 * kx, "A/m"))
    views.handle_event(DatasetAdded(1, "Ky", 0.02 * ky, "A/m"))
    qtbot.waitUntil(lambda: views.reconstructions == 1, timeout=5000)
    density = views.current_density
    title = density.plot.titleLabel.text
    assert "A/m" not in title and "|K|" in title  # the colour bar gives the units, once
    assert (density.colour_bar.axis.labelText, density.colour_bar.axis.labelUnits) == ("|K|", "A/m")
    assert density.colour_bar.isVisible()
    low, high = density.colour_bar.levels()
    assert low == 0 and high == pytest.approx(np.hypot(0.02, 0.02))


def test_temperature_trace_has_its_declared_units_on_the_axis(views):
    views.handle_event(StepStarted(1, "any_cooling_step", 0))
    views.handle_event(SeriesDeclared(1, {"time": "s", "temperature": "K", "field": "T"}, "temperature", ("time",)))
    for count in range(1, 5):
        views.handle_event(PointRecorded(1, count, {"time": 5.0 * count, "temperature": 8 - count, "field": 0.0}))
    views.redraw()
    assert views.sweep.getAxis("left").labelUnits == "K"
    assert views.sweep.getAxis("bottom").labelUnits == "s"
    assert "temperature (K)" in views.sweep.getAxis("left").labelString()


def test_colour_bar_axis_has_room_for_its_label_beside_the_tick_labels(views, qtbot):
    views.handle_event(StepStarted(1, "any_imaging_step", 6))
    views.handle_event(map_declared())
    views.handle_event(LineRecorded(1, "flux", 0, np.linspace(-2.5e-4, 2.5e-4, 6)))  # ticks "-200" .. "200" uPhi0
    views.redraw()
    views.image.grab()  # paint: the axis measures its tick labels while drawing
    qtbot.wait(50)
    views.image.grab()
    axis = views.image.colour_bar.axis
    # the widest tick label, its offset and tick, and the label's line (its bounding box overestimates by ~20%)
    needed = (axis.textWidth + axis.style["tickTextOffset"][0] + max(0, axis.style["tickLength"])
              + 0.8 * axis.label.boundingRect().height())
    assert axis.textWidth > 20 and axis.width() >= needed


# 4. The step list ----------------------------------------------------------------

def test_the_running_step_is_highlighted_as_the_run_goes(window, qtbot):
    panel = window.procedure_panel
    assert panel.load_text(TWO_SWEEPS, "two.yaml")
    first, second = panel.step_list.item(0), panel.step_list.item(1)
    panel.start()
    qtbot.waitUntil(lambda: second.font().bold(), timeout=10000)
    assert not first.font().bold()
    assert second.background().color() != first.background().color()
    qtbot.waitUntil(lambda: bool(window.finished_runs), timeout=20000)
    assert not first.font().bold() and not second.font().bold()  # nothing runs any more


def test_step_entries_tell_repeated_procedures_apart(window):
    panel = window.procedure_panel
    assert panel.open_file(REPO / "configs" / "procedures" / "fig2_images.yaml")
    texts = [panel.step_list.item(row).text() for row in range(panel.step_list.count())]
    assert texts[0].startswith("1. zero_field_cool")
    scans = texts[1:]
    assert all("raster_scan" in text for text in scans)
    assert "susceptibility" in scans[0]
    for text, bias in zip(scans[1:], ["0 A", "100 uA", "200 uA", "0 A", "-200 uA", "0 A"]):
        assert f"bias_current {bias}" in text
    assert panel.open_file(REPO / "configs" / "procedures" / "fig4_field_loop.yaml")
    texts = [panel.step_list.item(row).text() for row in range(panel.step_list.count())]
    assert "field 0.64 G" in texts[3] and "field 1.08 G" in texts[5]  # raster_scans, the field in gauss
    assert "points 0 -> 0.64 G" in texts[2] and "points 0 -> -1.51 -> -0.64 G" in texts[12]
    # an edited parameter shows in its entry at once
    panel.step_list.setCurrentRow(3)
    panel.form.set_text("field", "0.7 G")
    assert "field 0.7 G" in panel.step_list.item(3).text()


# 5. Progress --------------------------------------------------------------------

def test_step_progress_estimates_the_time_left_from_the_rate_so_far():
    from sqm.gui.run_progress import StepProgress

    progress = StepProgress(step=3, steps=8, procedure="raster_scan", expected=100)
    assert progress.text() == "step 3 / 8: raster_scan, 0 / 100 points"
    progress.image_declared()
    progress.done(1, lab_now=30.0, wall_now=1.5)  # 30 s of ramps and approach before the first line
    assert "line 1 / 100" in progress.text()
    progress.done(10, lab_now=48.0, wall_now=2.4)  # then 2 s (0.1 s wall) a line
    text = progress.text()
    assert "line 10 / 100" in text
    assert "3 min 0 s of lab time left" in text and "9 s wall" in text


def test_run_label_shows_lines_done_and_the_time_left(window, qtbot):
    panel = window.procedure_panel
    assert panel.load_text(SMALL_SCAN, "scan.yaml")
    panel.start()

    def lines_done() -> int:
        found = re.search(r"line (\d+) / 21", window.run_label.text())
        return int(found.group(1)) if found else 0

    qtbot.waitUntil(lambda: lines_done() >= 3, timeout=15000)
    assert "of lab time left" in window.run_label.text()
    qtbot.waitUntil(lambda: bool(window.finished_runs), timeout=20000)


# 6. Start with nothing loaded ------------------------------------------------------

def test_start_with_no_procedure_says_so_in_the_status(window):
    window.procedure_panel.start_button.click()
    assert "open or write a procedure first" in window.statusBar().currentMessage()
    assert window.controller.runs_started == 0 and run_files(window) == []


# 7. Branch names --------------------------------------------------------------------

def sweep_events(views, currents, branches):
    columns = {"bias_current": "A", "flux": "Phi0", "branch": "1"}
    views.handle_event(StepStarted(1, "any_sweep", len(currents)))
    views.handle_event(SeriesDeclared(1, columns, "flux", ("bias_current",)))
    for count, (current, branch) in enumerate(zip(currents, branches), start=1):
        views.handle_event(PointRecorded(1, count, {"bias_current": current, "flux": 1e-5 * current,
                                                    "branch": branch}))
    views.redraw()


def test_live_sweep_branches_are_named_virgin_down_up(views):
    currents = [0, 10e-6, 20e-6, 10e-6, 0, -10e-6, -20e-6, -10e-6, 0]
    sweep_events(views, currents, [0, 0, 0, 1, 1, 1, 1, 2, 2])
    assert legend_names(views.sweep) == ["virgin", "down", "up"]


def test_live_sweep_not_from_zero_names_each_branch_by_its_direction(views):
    # the last branch is one point: its direction is from where the previous branch ended
    sweep_events(views, [20e-6, 10e-6, 0, 10e-6, 20e-6, 10e-6], [0, 0, 0, 1, 1, 2])
    assert legend_names(views.sweep) == ["down", "up", "down 2"]


def test_run_browser_names_branches_virgin_down_up(window, tmp_path):
    twin = Station.from_text(twin_station_text(), source="unpaced-twin.yaml")
    path, outcome = run_on_station(twin, (
        "steps:\n  - bias_sweep: {points: [0, 10 uA, -10 uA, 0], step: 2 uA, settle: 0, integration_time: 0.1 s}\n"
        "  - zero_field_cool: {from_temperature: 8 K, to_temperature: 7 K, hold: 0 s}\n"), tmp_path)
    assert outcome.status == "completed"
    browser = window.browser
    assert browser.open_file(path)
    assert browser.show_step(0) == "curve"
    assert legend_names(browser.curves) == ["virgin", "down", "up"]
    assert browser.show_step(1) == "curve"
    assert legend_names(browser.curves) == ["temperature"]  # no branch column: the signal's name


# 8. The run browser lists the output folder --------------------------------------------

def test_run_browser_lists_the_output_folder_newest_first(qtbot, paced_twin, tmp_path):
    from sqm.gui.main_window import MainWindow

    out = tmp_path / "runs"
    out.mkdir()
    for age, name in enumerate(["c_newest.h5", "a_middle.h5", "b_oldest.h5"]):
        (out / name).write_bytes(b"")
        os.utime(out / name, (1e9 - 100 * age, 1e9 - 100 * age))
    (out / "notes.txt").write_text("not a run file")
    window = MainWindow(paced_twin, out_dir=out, station_refresh_hz=5)
    qtbot.addWidget(window)
    window.show()
    try:
        files = window.browser.file_list
        assert [files.item(row).text() for row in range(files.count())] == [
            "c_newest.h5", "a_middle.h5", "b_oldest.h5"]
        assert window.procedure_panel.load_text(ONE_SWEEP, "one.yaml")
        window.procedure_panel.start()
        qtbot.waitUntil(lambda: bool(window.finished_runs), timeout=20000)
        newest = Path(window.finished_runs[-1][0]).name
        assert files.count() == 4 and files.item(0).text() == newest
        files.setCurrentRow(0)  # choosing a file opens it
        assert window.browser.path is not None and window.browser.path.name == newest
        assert window.browser.table.rowCount() == 1
    finally:
        window.close()


# 9. The procedure reference -----------------------------------------------------------

def test_reference_tab_shows_the_selected_steps_procedure_with_the_station_limits(window, monkeypatch):
    asked = []
    fake = types.ModuleType("sqm.procedure_reference")
    fake.describe = lambda name, limits=None: asked.append((name, limits)) or f"reference of {name}"
    monkeypatch.setitem(sys.modules, "sqm.procedure_reference", fake)
    panel = window.procedure_panel
    assert panel.load_text(TWO_SWEEPS + "  - park: {x: 30 um, y: -15 um}\n", "ref.yaml")
    panel.step_list.setCurrentRow(2)
    panel.show_reference()
    assert panel.reference.isReadOnly()
    assert panel.reference.toPlainText() == "reference of park"
    assert asked[-1] == ("park", window.station.limits)
    panel.step_list.setCurrentRow(0)
    assert panel.reference.toPlainText() == "reference of bias_sweep"


def test_reference_tab_shows_the_real_reference(window):
    if not (REPO / "sqm" / "procedure_reference.py").exists():
        pytest.skip("sqm/procedure_reference.py is not written yet")
    panel = window.procedure_panel
    assert panel.load_text(SMALL_SCAN, "ref.yaml")
    panel.show_reference()
    text = panel.reference.toPlainText()
    assert text.startswith("raster_scan")
    assert "bias_current" in text and "pixel_size" in text
    assert "350 uA" in text  # the station's bias limit


def test_the_editor_names_the_station_limit_before_the_size_of_a_sweep(window):
    # bare numbers are SI: 200 is 200 A, beyond the twin's +-350 uA (not "200,000,001 points")
    panel = window.procedure_panel
    assert not panel.load_text("steps:\n  - bias_sweep: {points: [0, 200, 0]}\n", "typo.yaml")
    message = window.statusBar().currentMessage()
    assert "200 A is outside the station limits" in message and "points asked for" not in message


# 9. The run browser says a file is being written, or that its writer is gone ------------

def test_run_browser_says_a_running_file_is_being_written_and_a_killed_one_can_be_resumed(qtbot, tmp_path):
    import subprocess

    from sqm.gui.run_browser import RunBrowser
    from sqm.store import RunStore

    live = tmp_path / "live.h5"
    store = RunStore(live, backend="sim", station_text="station", procedure_text="procedure", flush_interval=0.0)
    step = store.begin_step(1, "bias_sweep", {}, {})
    step.declare_series({"bias_current": "A", "flux": "Phi0"}, "flux", ["bias_current"])
    step.append(bias_current=0.0, flux=0.0)
    killed = tmp_path / "killed.h5"
    code = (f"import os\nfrom sqm.store import RunStore\nstore = RunStore({str(killed)!r}, backend='sim', "
            "station_text='', procedure_text='')\nstore.begin_step(1, 'bias_sweep', {}, {})\nstore.flush()\n"
            "os._exit(9)\n")
    subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], timeout=60, check=False)
    browser = RunBrowser()
    qtbot.addWidget(browser)
    try:
        assert browser.open_file(live)
        assert "run running" in browser.file_label.text() and "being written" in browser.file_label.text()
        assert browser.table.rowCount() == 1
        assert browser.open_file(killed)
        label = browser.file_label.text()
        assert "is gone" in label and f"sqm resume {killed}" in label
    finally:
        store.close()
