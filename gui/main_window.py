"""The main window: station panel, procedure panel, live views and the run browser.

Wires the run controller's events (GUI thread) to the views and the station panel,
keeps the backend (TWIN / HARDWARE) always visible, and on close aborts any run and
waits for every worker thread before the window goes.
"""

from __future__ import annotations

from pathlib import Path

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (
    QLabel, QMainWindow, QMessageBox, QSplitter, QTabWidget, QVBoxLayout, QWidget,
)

from sqm.station import Station

from .event_bridge import TaskPool
from .live_views import LiveViews
from .procedure_panel import ProcedurePanel
from .run_browser import RunBrowser
from .run_controller import RunController
from .station_panel import StationPanel


def backend_badge_text(station: Station) -> str:
    return station.backend.label


class MainWindow(QMainWindow):
    """The operator's window for one station; runs are written to `out_dir`."""

    def __init__(self, station: Station, out_dir: str | Path = "runs", station_refresh_hz: float = 2.0,
                 max_redraws_per_second: float = 40.0) -> None:
        super().__init__()
        self.station = station
        self.tasks = TaskPool(self)
        self.controller = RunController(station, out_dir, self)
        self.finished_runs: list[tuple[str, str]] = []  # (path, status)
        badge = backend_badge_text(station)
        self.setWindowTitle(f"SQM - station {station.name} [{badge}]")

        self.backend_label = QLabel(f" {badge} ")
        self.backend_label.setObjectName("backend_badge")
        colour = "#1565c0" if badge == "TWIN" else "#e65100"
        self.backend_label.setStyleSheet(f"background: {colour}; color: white; font-weight: bold; font-size: 14pt; padding: 4px;")
        self.backend_label.setAlignment(Qt.AlignCenter)
        self.station_panel = StationPanel(station, self.tasks, station_refresh_hz)
        self.procedure_panel = ProcedurePanel(station, self.controller, self.tasks)
        self.live_views = LiveViews(station.squid.pickup_radius, self._run_in_background, max_redraws_per_second)
        self.browser = RunBrowser()
        self.run_label = QLabel("no run")
        self.run_label.setWordWrap(True)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.backend_label)
        left_layout.addWidget(self.station_panel)
        left_layout.addWidget(self.procedure_panel, 1)
        live = QWidget()
        live_layout = QVBoxLayout(live)
        live_layout.addWidget(self.run_label)
        live_layout.addWidget(self.live_views, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(live, "Live")
        self.tabs.addTab(self.browser, "Run browser")
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setSizes([470, 1030])
        self.setCentralWidget(splitter)
        self.statusBar().showMessage(f"station {station.name}: {station.backend.kind} backend; runs go to {Path(out_dir)}")

        self.controller.run_event.connect(self._on_event)
        self.controller.run_started.connect(self._on_run_started)
        self.controller.run_finished.connect(self._on_run_finished)
        self.station_panel.safe_state_requested.connect(self.confirm_safe_state)
        self._steps_total = 0

    # Runs ---------------------------------------------------------------------
    def _run_in_background(self, function, on_done) -> None:
        self.tasks.run(function, on_done, "sqm-gui-analysis")

    def _on_run_started(self, path: str, procedure_file) -> None:
        self._steps_total = len(procedure_file.steps)
        self.live_views.begin_run(procedure_file)
        self.station_panel.run_active = True
        self.procedure_panel.set_running(True)
        self.run_label.setText(f"running {Path(procedure_file.source).name} -> {path}")
        self.tabs.setCurrentIndex(0)

    def _on_event(self, event: dict) -> None:
        self.live_views.handle_event(event)
        kind = event.get("type")
        if kind == "point":
            self.station_panel.show_run_values(event["values"])
        elif kind == "step_started":
            self.run_label.setText(f"step {event['step']} / {self._steps_total}: {event['procedure']} "
                                   f"({event['expected_points']} points expected) -> {self.controller.path}")
        elif kind == "paused":
            self.procedure_panel.set_running(True, paused=True)
            self.statusBar().showMessage("paused")
        elif kind == "resumed":
            self.procedure_panel.set_running(True)
            self.statusBar().showMessage("resumed")
        elif kind == "interlock":
            self.station_panel.set_interlock(f"step {event.get('step')}: {event['reason']}", tripped=True)
        elif kind == "step_finished" and event.get("error"):
            self.statusBar().showMessage(f"step {event['step']} {event['status']}: {event['error']}")

    def _on_run_finished(self, path: str, status: str) -> None:
        self.finished_runs.append((path, status))
        self.station_panel.run_active = False
        self.procedure_panel.set_running(False)
        self.run_label.setText(f"run {status}: {path}")
        self.procedure_panel.show_message(f"run {status}: {path}", error=status != "completed")
        self.statusBar().showMessage(f"run {status}: {path}")

    # Safe state ---------------------------------------------------------------
    def confirm_safe_state(self) -> None:
        answer = QMessageBox.question(self, "Safe state now",
                                      "Abort any run, ramp bias and field to zero and retract the scanner?")
        if answer == QMessageBox.Yes:
            self.make_safe_now()

    def make_safe_now(self) -> None:
        """Abort the run (if any), then station.make_safe() in a background thread."""
        runner = self.controller.runner
        self.controller.abort("safe state requested by the operator")
        self.station_panel.safe_button.setEnabled(False)
        self.station_panel.set_interlock("going to the safe state...")

        def go_safe():
            if runner is not None:
                runner.join()  # in the background thread: the run makes itself safe first
            return self.station.make_safe()

        self.tasks.run(go_safe, self._safe_state_done, "sqm-gui-safe-state")

    def _safe_state_done(self, failures, error) -> None:
        self.station_panel.safe_button.setEnabled(True)
        if error is not None or failures:
            self.station_panel.set_interlock(f"safe state FAILED: {error or '; '.join(failures)}", tripped=True)
        else:
            self.station_panel.set_interlock("station safe")

    # Closing ------------------------------------------------------------------
    def shutdown(self) -> None:
        """Abort any run, wait for its thread and every background task; stop timers."""
        self.station_panel.stop()
        self.live_views.stop()
        self.controller.shutdown()
        self.tasks.join_all()

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)
