"""The operator window on a paced twin: live runs, pause/resume/abort, the browser, bad input."""

from __future__ import annotations

import threading
import time

import h5py
import numpy as np
import pytest
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication

from sqm.gui.app import gui_station, main
from sqm.gui.main_window import MainWindow
from sqm.gui.run_controller import StartRefused
from sqm.readback import find_step, read_steps
from sqm.station import Station
from tests.conftest import twin_station_text

from .conftest import TEST_PACE, sqm_threads

pytest.importorskip("pytestqt")

# A bias sweep then a small flux image (~1-2 s of wall time at the test pace).
SWEEP_AND_SCAN = """\
description: GUI test, a bias sweep and a small image
steps:
  - bias_sweep: {points: [0, 20 uA, -20 uA, 0], step: 2 uA, settle: 0, integration_time: 0.1 s}
  - raster_scan: {x: [-5 um, 5 um], y: [-5 um, 5 um], pixel_size: 0.5 um, line_time: 0.2 s,
                  bias_current: 40 uA}
"""

# Long enough to pause, resume and abort in the middle of it.
LONG_SWEEP_AND_SCAN = SWEEP_AND_SCAN.replace("[0, 20 uA, -20 uA, 0]", "[0, 60 uA, -60 uA, 0]").replace(
    "line_time: 0.2 s", "line_time: 1 s")


def run_files(window: MainWindow):
    return sorted(window.controller.out_dir.glob("*.h5")) if window.controller.out_dir.exists() else []


def test_title_and_backend_badge_show_the_twin(window):
    assert "TWIN" in window.windowTitle()
    assert window.backend_label.text().strip() == "TWIN"
    assert window.backend_label.isVisible()
    # and the sample the twin simulates, from its sample file
    assert window.sample_label.text() == "sample: Fe(Se,Te) flake of the paper, bias source -> drain"
    assert window.sample_label.toolTip().endswith("fese_flake.yaml") and window.sample_label.isVisible()


def test_station_panel_reads_the_twin_from_its_timer(window, qtbot):
    qtbot.waitUntil(lambda: window.station_panel.refreshes >= 2, timeout=3000)
    assert window.station_panel.readings["bias"] == pytest.approx(0.0)
    assert window.station_panel._labels["locked"].text() == "locked"


def test_live_run_pause_resume_abort(window, qtbot, paced_twin):
    panel, views = window.procedure_panel, window.live_views
    assert panel.load_text(LONG_SWEEP_AND_SCAN, "long.yaml")
    panel.start_button.click()
    assert window.controller.is_running()

    # The sweep curve gets points and is redrawn (throttled, in the GUI thread).
    qtbot.waitUntil(lambda: views.sweep.drawn_point_count() >= 3, timeout=5000)

    # Pause: once the worker reports it, no new points arrive.
    panel.pause_button.click()
    qtbot.waitUntil(lambda: panel.resume_button.isEnabled(), timeout=3000)
    points_when_paused = views.sweep.point_count()
    qtbot.wait(400)  # a paused run must stay still for this long
    assert views.sweep.point_count() == points_when_paused

    # Resume: points arrive again, then the image fills line by line.
    panel.resume_button.click()
    qtbot.waitUntil(lambda: views.sweep.point_count() > points_when_paused, timeout=3000)
    qtbot.waitUntil(lambda: views.image.rows_filled >= 2, timeout=15000)
    rows = views.image.rows_filled
    qtbot.waitUntil(lambda: views.image.rows_filled > rows, timeout=5000)
    assert views.image.redraws >= 2

    # Abort: the run ends at its next checkpoint, the file says so, the bias is zero.
    panel.abort_button.click()
    qtbot.waitUntil(lambda: not window.controller.is_running(), timeout=10000)
    path, status = window.finished_runs[-1]
    assert status == "aborted"
    with h5py.File(path, "r") as h5:
        assert h5.attrs["status"] == "aborted"
    assert paced_twin.current_source.read_current() == pytest.approx(0.0, abs=1e-12)
    assert views.image.rows_filled < views.image.image.shape[0]


def test_completed_run_then_browser_lists_and_plots_its_steps(window, qtbot):
    views = window.live_views
    assert window.procedure_panel.load_text(SWEEP_AND_SCAN, "short.yaml")
    window.procedure_panel.start()
    qtbot.waitUntil(lambda: bool(window.finished_runs), timeout=20000)
    path, status = window.finished_runs[-1]
    assert status == "completed"
    assert views.sweep.point_count() == 41  # 0 -> 20 -> -20 -> 0 uA in 2 uA steps
    assert views.image.rows_filled == 21
    qtbot.waitUntil(lambda: views.reconstructions == 1, timeout=10000)  # |K| after the image
    stream_x, stream_y = views.current_density.streamlines.getData()
    traced = np.isfinite(stream_x)
    assert traced.sum() > 10  # streamlines of the current drawn over |K|
    scan = views.image.image_item.mapRectToView(views.image.image_item.boundingRect())
    assert scan.left() - 1 <= stream_x[traced].min() and stream_x[traced].max() <= scan.right() + 1
    qtbot.waitUntil(lambda: views.image.redraws >= 1 and views.sweep.drawn_point_count() == 41, timeout=2000)

    assert window.browser.open_file(path)
    assert " on Fe(Se,Te) flake of the paper, 2 steps" in window.browser.file_label.text()  # the run's sample
    table = window.browser.table
    assert table.rowCount() == 2
    assert [table.item(row, 1).text() for row in range(2)] == ["bias_sweep", "raster_scan"]
    assert [table.item(row, 2).text() for row in range(2)] == ["completed", "completed"]
    assert "points=" in table.item(0, 3).text()
    assert window.browser.show_step(0) == "curve"
    assert window.browser.curves.drawn_point_count() == 41
    assert window.browser.show_step(1) == "image"
    assert window.browser.image.image.shape == (21, 21)


@pytest.mark.parametrize("name, text, expected", [
    ("points", "0, 900 uA", "900 uA"),  # beyond the station's 350 uA limit
    ("leads", "source, gate", "fese_flake.yaml has no lead 'gate'"),  # a lead the sample lacks
    ("step", "banana", "step"),  # not a current
    ("integration_time", "-1 s", "integration_time"),  # must be positive
])
def test_bad_parameter_shows_a_clear_error_and_starts_nothing(window, name, text, expected):
    panel = window.procedure_panel
    assert panel.load_text(SWEEP_AND_SCAN, "bad.yaml")
    panel.step_list.setCurrentRow(0)
    panel.form.set_text(name, text)
    panel.start_button.click()
    message = panel.message.text()
    assert message.startswith("Not started:")
    assert "step 1 (bias_sweep)" in message and expected in message
    assert window.controller.runner is None and window.controller.runs_started == 0
    assert run_files(window) == []


def test_edited_parameter_is_used_by_the_run(window, qtbot):
    panel = window.procedure_panel
    assert panel.load_text(SWEEP_AND_SCAN, "edited.yaml")
    panel.form.set_text("points", "0, 10 uA")  # typed with units
    procedure_file = panel.build_procedure_file()
    assert procedure_file.steps[0].procedure.points == pytest.approx([0.0, 10e-6])
    panel.start()
    qtbot.waitUntil(lambda: bool(window.finished_runs), timeout=20000)
    path, status = window.finished_runs[-1]
    assert status == "completed"
    sweep = find_step(read_steps(path), "bias_sweep")
    # the edited sweep, 0 -> 10 uA in 2 uA steps, not the file's 0 -> 20 -> -20 -> 0 uA
    np.testing.assert_allclose(sweep.data["bias_current"], np.arange(0, 11e-6, 2e-6), atol=1e-12)
    assert sweep.parameters["points"]["value"] == pytest.approx([0.0, 10e-6])


def test_check_dry_runs_on_the_twin_and_shows_the_lab_time(window, qtbot):
    panel = window.procedure_panel
    assert panel.load_text(SWEEP_AND_SCAN, "check.yaml")
    panel.check_button.click()
    qtbot.waitUntil(lambda: panel.last_check != "", timeout=20000)
    assert panel.last_check.startswith("OK: dry run completed")
    assert " s of lab time" in panel.last_check
    assert window.controller.runs_started == 0 and run_files(window) == []


def test_queue_runs_procedure_files_one_after_another(window, qtbot, tmp_path):
    short = tmp_path / "one.yaml"
    short.write_text("steps:\n  - bias_sweep: {points: [0, 4 uA], step: 2 uA, settle: 0, integration_time: 0.1 s}\n")
    panel = window.procedure_panel
    assert panel.open_file(short)
    panel.add_to_queue()
    panel.add_to_queue()
    assert panel.queue_list.count() == 2
    panel.start()  # runs the edited file now; the queue follows
    qtbot.waitUntil(lambda: len(window.finished_runs) == 3, timeout=15000)
    assert [status for _, status in window.finished_runs] == ["completed"] * 3
    assert panel.queue_list.count() == 0


def test_safe_state_now_aborts_the_run_and_zeroes_the_bias(window, qtbot, paced_twin):
    panel = window.procedure_panel
    assert panel.load_text(LONG_SWEEP_AND_SCAN, "safe.yaml")
    panel.start()
    qtbot.waitUntil(lambda: window.live_views.sweep.point_count() >= 3, timeout=5000)
    window.make_safe_now()  # what the button does
    # the safe-state task and the run's last events reach the window independently
    qtbot.waitUntil(lambda: window.station_panel.safe_button.isEnabled() and bool(window.finished_runs),
                    timeout=10000)
    assert window.finished_runs[-1][1] == "aborted"
    assert window.station_panel._labels["interlock"].text() == "station safe"
    assert paced_twin.current_source.read_current() == pytest.approx(0.0, abs=1e-12)


def test_gui_station_paces_an_unpaced_twin():
    station = gui_station(None, twin_pace=50)
    assert station.backend.kind == "sim"
    assert station.clock.pace == 50


def test_main_opens_the_window_and_returns_the_exit_code(qtbot, tmp_path):
    seen = []

    def look_then_quit():
        seen.extend(widget.windowTitle() for widget in QApplication.topLevelWidgets() if widget.isVisible())
        QApplication.instance().quit()

    QTimer.singleShot(300, look_then_quit)
    assert main(None, out_dir=tmp_path) == 0
    assert any("TWIN" in title for title in seen)
    assert sqm_threads() == []


def test_main_refuses_a_missing_station_file(tmp_path):
    assert main(tmp_path / "missing.yaml") == 2


def test_safe_state_button_is_one_click_and_says_the_station_is_safe(window, qtbot, paced_twin, monkeypatch):
    from PyQt5.QtWidgets import QMessageBox

    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: asked.append(args) or QMessageBox.No)
    panel = window.procedure_panel
    assert panel.load_text(LONG_SWEEP_AND_SCAN, "one-click.yaml")
    panel.start()
    qtbot.waitUntil(lambda: window.live_views.sweep.point_count() >= 3, timeout=5000)
    window.station_panel.safe_button.click()  # in an emergency: one click, no question
    assert asked == []
    assert not window.station_panel.safe_button.isEnabled()  # already going to the safe state
    qtbot.waitUntil(lambda: window.station_panel.safe_button.isEnabled() and bool(window.finished_runs),
                    timeout=10000)
    assert window.finished_runs[-1][1] == "aborted"
    assert paced_twin.current_source.read_current() == pytest.approx(0.0, abs=1e-12)
    # afterwards the window says whether the station IS safe, not that Start works again
    assert "station safe" in window.statusBar().currentMessage()
    assert window.station_panel._labels["interlock"].text() == "station safe"
    assert "Start enabled again" not in panel.message.text()
    assert "station safe" in panel.message.text()


FIELD_LOOP_WITH_PROBES = """\
description: GUI test, a small field loop read at two probe points
steps:
  - field_sweep: {points: [0, 0.6 G, 0], step: 0.2 G, integration_time: 0.1 s,
                  probes: {lower: [30 um, -15 um], upper: [-20 um, 12 um]}}
"""


def test_field_sweep_draws_one_probe_loop_per_probe_point(qtbot, tmp_path):
    # a cold twin (screening from the start), paced faster: the sensor travels between the probes
    cold_twin = Station.from_text(twin_station_text(pace=5 * TEST_PACE, start_temperature="1.5 K"),
                                  source="cold.yaml")
    window = MainWindow(cold_twin, out_dir=tmp_path / "runs", station_refresh_hz=5)
    qtbot.addWidget(window)
    window.show()
    panel = window.procedure_panel
    assert panel.load_text(FIELD_LOOP_WITH_PROBES, "probes.yaml")
    panel.start()
    qtbot.waitUntil(lambda: bool(window.finished_runs), timeout=20000)
    assert window.finished_runs[-1][1] == "completed"
    window.live_views.redraw()
    probes = window.live_views.probes
    assert set(probes._data) == {"lower", "upper"}
    fields, lower = probes._data["lower"]
    assert fields[0] == pytest.approx(0.0) and max(fields) == pytest.approx(0.6)
    assert len(fields) == len(probes._data["upper"][0]) == 7  # 0 .. 0.6 G and back in 0.2 G steps
    # Meissner screening below the switching field: both domains diamagnetic at 0.6 G
    top = int(np.argmax(fields))
    assert lower[top] < 0 and probes._data["upper"][1][top] < 0
    assert probes.drawn_point_count() == 14
    window.close()
    assert sqm_threads() == []


def test_on_hardware_the_station_panel_leaves_the_instruments_to_the_run(window, monkeypatch):
    panel = window.station_panel
    reads = []
    monkeypatch.setattr(panel._tasks, "run", lambda function, done, name: reads.append(name))
    monkeypatch.setattr(type(panel), "reads_instruments_during_runs", property(lambda self: False))
    panel.run_active = True
    panel.refresh()
    assert reads == []  # no read while a run owns the instruments
    panel.show_run_values({"temperature": 1.52, "field": 0.5e-4, "bias_current": 120e-6})
    assert panel._labels["temperature"].text() == "1.520 K"
    assert panel._labels["field"].text() == "0.5000 G"
    assert panel._labels["bias"].text() == "120.00 uA"
    panel.run_active = False
    panel.refresh()
    assert reads == ["sqm-gui-station-read"]


SCAN_THEN_LINE_CUT = """\
description: GUI test, a small image, then line cuts across the lower edge at three biases
steps:
  - raster_scan: {x: [-2 um, 2 um], y: [-2 um, 2 um], pixel_size: 0.5 um, line_time: 0.2 s, reconstruct: false}
  - line_cut: {start: [-20 um, -30 um], end: [-20 um, -20 um], spacing: 0.25 um, line_time: 0.2 s,
               bias_currents: [0, 40 uA, 80 uA]}
"""


def test_line_cut_shows_each_profile_and_its_peak_edge_current_live(window, qtbot):
    # after an image of another shape: the cut's lines must not be pushed into that image
    panel = window.procedure_panel
    assert panel.load_text(SCAN_THEN_LINE_CUT, "cut.yaml")
    panel.start()
    qtbot.waitUntil(lambda: bool(window.finished_runs), timeout=20000)
    path, status = window.finished_runs[-1]
    assert status == "completed"
    profiles, peaks = window.live_views.sweep._data, window.live_views.probes._data["peak_edge_current"]
    assert sorted(profiles) == [0, 1, 2]
    step = find_step(read_steps(path), "line_cut")
    recorded_flux, recorded_peaks = step.data["flux"], step.data["peak_edge_current"]
    for row in range(3):
        np.testing.assert_allclose(profiles[row][1], recorded_flux[row])
        assert profiles[row][0][1] == pytest.approx(0.25e-6)
    np.testing.assert_allclose(peaks[0], [0.0, 40e-6, 80e-6])
    np.testing.assert_allclose(peaks[1], recorded_peaks)
    assert peaks[1][2] > peaks[1][1] > peaks[1][0]  # the edge current grows with the bias
    # the browser shows the cut as profiles too, not as a bias x distance image
    browser = window.browser
    assert browser.open_file(path)
    assert browser.show_step(1) == "curve"
    assert sorted(browser.curves._data) == [0, 1, 2]
    assert browser.curves.drawn_point_count() == recorded_flux.size


# An image with bias and field applied: on an abort the worker ramps the bias down, retracts
# the scanner and ramps 12 G down at 0.5 G/s (24 s of lab time, > 1 s of wall time here).
SCAN_IN_FIELD = """\
description: GUI test, an image in a field, closed in the middle
steps:
  - raster_scan: {x: [-5 um, 5 um], y: [-5 um, 5 um], pixel_size: 0.5 um, line_time: 4 s,
                  bias_current: 40 uA, field: 12 G, reconstruct: false}
"""


def closing_dialog_text(window: MainWindow) -> str:
    """The text of the closing window's modal dialog, "" if none is up."""
    dialog = window.closing_dialog
    if dialog is None or not dialog.isVisible() or QApplication.activeModalWidget() is not dialog:
        return ""
    return dialog.label.text()


def test_closing_during_a_run_waits_until_the_station_is_safe(window, qtbot, paced_twin):
    panel = window.procedure_panel
    assert panel.load_text(SCAN_IN_FIELD, "field.yaml")
    panel.start()
    qtbot.waitUntil(lambda: window.live_views.image.rows_filled >= 1, timeout=15000)
    z_top = paced_twin.limits.scanner_z.maximum
    assert paced_twin.magnet.read_field() == pytest.approx(12e-4, rel=1e-3)
    assert paced_twin.current_source.read_current() == pytest.approx(40e-6, rel=1e-6)
    assert paced_twin.scanner.position()[2] < z_top - 1e-6  # near the surface
    path = window.controller.path
    seen = []
    QTimer.singleShot(200, lambda: seen.append(closing_dialog_text(window)))  # while close() waits

    window.close()  # returns only once the worker has made the station safe

    assert sqm_threads() == [], "close() returned before the worker thread ended"
    assert not window.controller.is_running()
    with h5py.File(path, "r") as h5:
        assert h5.attrs["status"] == "aborted"  # written by the worker after its cleanup, not 'running'
    assert paced_twin.current_source.read_current() == pytest.approx(0.0, abs=1e-12)
    assert paced_twin.magnet.read_field() == pytest.approx(0.0, abs=1e-9)
    assert paced_twin.scanner.position()[2] == pytest.approx(z_top)
    assert window.finished_runs[-1] == (str(path), "aborted")
    # the operator was told, in a modal dialog, while the event loop kept turning
    assert seen and "making the station safe" in seen[0].lower()
    assert not window.closing_dialog.isVisible()


def slow_make_safe(station: Station, monkeypatch) -> threading.Event:
    """Make `station.make_safe()` wait for the returned event first (a magnet ramping down)."""
    release = threading.Event()
    make_safe = station.make_safe

    def waiting_make_safe():
        release.wait(30)
        return make_safe()

    monkeypatch.setattr(station, "make_safe", waiting_make_safe)
    return release


def test_no_run_starts_while_the_safe_state_task_is_busy(window, qtbot, paced_twin, monkeypatch):
    panel, controller = window.procedure_panel, window.controller
    release = slow_make_safe(paced_twin, monkeypatch)
    assert panel.load_text(SWEEP_AND_SCAN, "during-safe-state.yaml")
    assert panel.start_button.isEnabled()
    window.make_safe_now()
    try:
        assert window.tasks.busy("sqm-gui-safe-state")
        assert not panel.start_button.isEnabled()
        panel.start_button.click()  # disabled: does nothing
        panel.start()  # the panel's own start path refuses, with a clear message
        assert panel.message.text().startswith("Not started:")
        assert "being made safe" in panel.message.text()
        with pytest.raises(StartRefused, match="being made safe"):  # and so does the controller
            controller.start(panel.build_procedure_file())
        panel.add_to_queue()
        assert not controller.start_next()  # the queue does not start either, and keeps its file
        assert panel.queue_list.count() == 1
        qtbot.wait(300)
        assert window.tasks.busy("sqm-gui-safe-state")
        assert controller.runner is None and controller.runs_started == 0
        assert run_files(window) == []
    finally:
        release.set()
    qtbot.waitUntil(lambda: panel.start_button.isEnabled(), timeout=10000)
    assert window.station_panel._labels["interlock"].text() == "station safe"
    controller.clear_queue()
    panel.start_button.click()  # works again
    assert controller.is_running() and controller.runs_started == 1
    qtbot.waitUntil(lambda: bool(window.finished_runs), timeout=20000)
    assert window.finished_runs[-1][1] == "completed"
    assert len(run_files(window)) == 1


def test_closing_while_the_safe_state_task_is_busy_waits_for_it(window, qtbot, paced_twin, monkeypatch):
    release = slow_make_safe(paced_twin, monkeypatch)
    window.make_safe_now()
    seen = []
    QTimer.singleShot(200, lambda: seen.append(closing_dialog_text(window)))
    QTimer.singleShot(600, release.set)  # the ramp ends while close() waits
    began = time.monotonic()
    window.close()
    assert time.monotonic() - began >= 0.5
    assert sqm_threads() == []
    assert seen and "making the station safe" in seen[0].lower()
    assert window.station_panel._labels["interlock"].text() == "station safe"


PLANE_FIT = """\
description: GUI test, a plane fit over a tilted sample
steps:
  - plane_fit: {x: [-20 um, 20 um], y: [-10 um, 10 um], points: [3, 2]}
"""


def test_a_plane_fit_shows_each_approach_curve_the_contact_heights_and_the_fitted_plane(qtbot, tmp_path):
    import yaml

    from tests.conftest import CONFIGS

    sample = yaml.safe_load((CONFIGS / "samples" / "fese_flake.yaml").read_text())
    sample["surface"] = {"height_offset": "0 um", "tilt": [0.01, 0.005]}
    (tmp_path / "tilted.yaml").write_text(yaml.safe_dump(sample, sort_keys=False))
    twin = Station.from_text(twin_station_text(pace=50 * TEST_PACE, sample=str(tmp_path / "tilted.yaml")),
                             source="tilted.yaml")
    window = MainWindow(twin, out_dir=tmp_path / "runs", station_refresh_hz=5)
    qtbot.addWidget(window)
    window.show()
    assert window.procedure_panel.load_text(PLANE_FIT, "fit.yaml")
    window.procedure_panel.start()
    qtbot.waitUntil(lambda: bool(window.finished_runs), timeout=60000)
    path, status = window.finished_runs[-1]
    assert status == "completed"
    views = window.live_views
    views.redraw()
    step = find_step(read_steps(path), "plane_fit")
    curves = views.sweep._data  # one approach curve per touchdown, as recorded
    assert sorted(curves) == list(range(6))
    for number in range(6):
        mine = step.data["touchdown"] == number
        np.testing.assert_allclose(curves[number][0], step.data["z"][mine])
        np.testing.assert_allclose(curves[number][1], step.data["signal"][mine])
    np.testing.assert_allclose(views.image.image, step.data["contact_z"])  # the heights, not their uncertainty
    plane = views.current_density
    assert plane.signed and "plane_z" in plane.plot.titleLabel.text
    np.testing.assert_allclose(plane.image, step.data["plane_z"])
    assert np.ptp(plane.image) > 0.3e-6  # 0.01 over 40 um: the tilt shows
    window.close()
    assert sqm_threads() == []


def test_a_scan_both_ways_shows_the_trace_and_stores_both(window, qtbot):
    scan = ("steps:\n  - raster_scan: {x: [-5 um, 5 um], y: [-5 um, 5 um], pixel_size: 1 um, line_time: 0.2 s, "
            "bias_current: 40 uA, reconstruct: false, direction: both}\n")
    assert window.procedure_panel.load_text(scan, "both.yaml")
    window.procedure_panel.start()
    qtbot.waitUntil(lambda: bool(window.finished_runs), timeout=20000)
    path, status = window.finished_runs[-1]
    assert status == "completed"
    step = find_step(read_steps(path), "raster_scan")
    trace, retrace = step.data["flux"], step.data["flux_retrace"]
    assert trace.shape == retrace.shape == (11, 11) and np.all(np.isfinite(retrace))
    assert not np.array_equal(trace, retrace)  # read twice: the noise differs
    assert np.corrcoef(trace.ravel(), retrace.ravel())[0, 1] > 0.9  # the same flux both ways
    np.testing.assert_allclose(window.live_views.image.image, trace)
    with h5py.File(path, "r") as h5:
        data = h5[step.group]["data"]
        assert data.attrs["signal"] == "flux" and list(data.attrs["auxiliary_signals"]) == ["flux_retrace"]


def test_the_window_runs_a_procedure_on_the_emulated_station_and_says_so(qtbot, tmp_path):
    """The real drivers against the emulators, from the operator's window: the badge says
    EMULATED, a short bias sweep fills the live curve from the wire, and closing the window
    stops the emulators (their ports are free again)."""
    pytest.importorskip("pyvisa_py")
    import socket

    import yaml

    from tests.conftest import CONFIGS

    data = yaml.safe_load((CONFIGS / "stations" / "lab-emulated.yaml").read_text())
    data["emulated"]["sim"]["start_temperature"] = "1.5 K"
    current_source = data["emulated"]["hardware"]["current_source"]
    port = int(current_source["address"].split("::")[2])
    for block in data["emulated"]["hardware"].values():
        if "address" in block and block is not current_source:
            block["address"] = "TCPIP::127.0.0.1::0::SOCKET"  # any free port; the current source keeps its own
    station = Station.from_text(yaml.safe_dump(data, sort_keys=False), source="lab-emulated.yaml")
    window = MainWindow(station, out_dir=tmp_path / "runs", station_refresh_hz=5)
    qtbot.addWidget(window)
    window.show()
    assert window.backend_label.text().strip() == "EMULATED"
    sweep = "steps:\n  - bias_sweep: {points: [0, 20 uA, 0], step: 5 uA, integration_time: 0.1 s}\n"
    assert window.procedure_panel.load_text(sweep, "sweep.yaml")
    window.procedure_panel.start()
    qtbot.waitUntil(lambda: bool(window.finished_runs), timeout=30000)
    path, status = window.finished_runs[-1]
    assert status == "completed"
    window.live_views.redraw()
    step = find_step(read_steps(path), "bias_sweep")
    assert window.live_views.sweep.point_count() == len(step.data["flux"]) == 9
    window.close()
    window.shutdown()
    station.close()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # the current source's emulator has stopped
    assert sqm_threads() == []
