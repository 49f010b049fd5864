"""The main window: station panel, procedure panel, live views and the run browser.

Wires the run controller's events (GUI thread) to the views and the station panel,
keeps the backend (TWIN / HARDWARE) always visible, and on close aborts any run and
waits for every worker thread before the window goes.

Closing waits with no time limit: an aborted run's worker (and a "Safe state now"
task) makes the station safe, which takes minutes while a real magnet ramps down,
and neither the run's file nor the station may be closed under it. Meanwhile a
modal dialog that cannot be cancelled says so and the event loop keeps turning.

"Safe state now" asks nothing (one click in an emergency): it aborts any run and makes
the station safe in a background thread; while it is busy no run may start (the
controller holds starts), and afterwards the status says whether the station IS safe,
from what `make_safe` returned. The run label shows the step's lines or points done and
the time left (`run_progress`); the run browser lists the output folder's run files
when it opens and after each run.
"""

from __future__ import annotations

import time
from pathlib import Path

from PyQt5.QtCore import QEventLoop, Qt, QTimer
from PyQt5.QtWidgets import (
    QApplication,
    QDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from sqm.events import (
    ImageDeclared,
    InterlockReported,
    LineRecorded,
    Paused,
    PointRecorded,
    Resumed,
    RunEvent,
    RunFinished,
    StepFinished,
    StepStarted,
)
from sqm.station import Station

from .event_bridge import TaskPool
from .live_views import LiveViews
from .procedure_panel import ProcedurePanel
from .run_browser import RunBrowser
from .run_controller import RunController
from .run_progress import StepProgress
from .station_panel import StationPanel

SAFE_STATE_TASK = "sqm-gui-safe-state"


def backend_badge_text(station: Station) -> str:
    return station.backend.label


def sample_text(station: Station) -> str:
    """The sample the station's backend knows (the twin: its sample file), for the badge's tooltip line."""
    sample = station.backend.sample
    if not sample:
        return ""
    leads = f", bias {sample['leads']}" if sample.get("leads") else ""
    return f"sample: {sample.get('name', '?')}{leads}"


def safety_text(failures: list[str], error: BaseException | None = None) -> str:
    """What make_safe's result says: "station safe", or "NOT confirmed safe: <reasons>"."""
    reasons = list(failures or []) + ([f"{type(error).__name__}: {error}"] if error is not None else [])
    return "NOT confirmed safe: " + "; ".join(reasons) if reasons else "station safe"


class ClosingDialog(QDialog):
    """Shown while the closing window waits for its worker threads: modal, no Cancel,
    no close button, Escape ignored (the station must be safe before the process ends)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent, Qt.Dialog | Qt.CustomizeWindowHint | Qt.WindowTitleHint)
        self.setObjectName("closing_dialog")
        self.setWindowTitle("Closing")
        self.setWindowModality(Qt.ApplicationModal)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.label.setMinimumWidth(420)
        busy = QProgressBar()
        busy.setRange(0, 0)  # busy indicator: how long a magnet takes is not known here
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(busy)
        self._may_close = False

    def show_wait(self, making_safe: bool, seconds: float) -> None:
        if making_safe:
            self.setWindowTitle("Closing: making the station safe")
            text = ("Making the station safe before closing: bias and field ramping to zero, scanner "
                    "retracting. On a real magnet this can take minutes; the window closes by itself "
                    "once the station is safe.")
        else:
            self.setWindowTitle("Closing")
            text = "Waiting for background work to finish before closing."
        self.label.setText(f"{text}\n\nwaiting {seconds:.0f} s")

    def reject(self) -> None:  # Escape (and closing) while waiting: the wait cannot be cancelled
        if self._may_close:
            super().reject()

    def closeEvent(self, event) -> None:
        if self._may_close:
            super().closeEvent(event)
        else:
            event.ignore()

    def finish(self) -> None:
        """The wait is over: hide the dialog."""
        self._may_close = True
        self.reject()


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
        self.backend_label.setStyleSheet(
            f"background: {colour}; color: white; font-weight: bold; font-size: 14pt; padding: 4px;")
        self.backend_label.setAlignment(Qt.AlignCenter)
        self.sample_label = QLabel(sample_text(station))
        self.sample_label.setObjectName("sample_label")
        self.sample_label.setToolTip(station.backend.sample.get("file", ""))
        self.sample_label.setVisible(bool(station.backend.sample))
        self.station_panel = StationPanel(station, self.tasks, station_refresh_hz)
        self.procedure_panel = ProcedurePanel(station, self.controller, self.tasks)
        self.live_views = LiveViews(self._run_in_background, max_redraws_per_second)
        self.browser = RunBrowser(out_dir)
        self.run_label = QLabel("no run")
        self.run_label.setWordWrap(True)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.backend_label)
        left_layout.addWidget(self.sample_label)
        left_layout.addWidget(self.station_panel)
        left_layout.addWidget(self.procedure_panel, 1)
        live = QWidget()
        live_layout = QVBoxLayout(live)
        live_layout.addWidget(self.run_label)
        live_layout.addWidget(self.live_views, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(live, "Live")
        self.tabs.addTab(self.browser, "Run browser")
        self.tabs.currentChanged.connect(self._tab_shown)
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setSizes([470, 1030])
        self.setCentralWidget(splitter)
        self.statusBar().showMessage(
            f"station {station.name}: {station.backend.kind} backend; runs go to {Path(out_dir)}")

        self.controller.run_event.connect(self._on_event)
        self.controller.run_started.connect(self._on_run_started)
        self.controller.run_finished.connect(self._on_run_finished)
        self.station_panel.safe_state_requested.connect(self.make_safe_now)
        self.procedure_panel.message_changed.connect(self._show_panel_message)
        self._steps_total = 0
        self._progress: StepProgress | None = None
        self._progress_changed = False
        self._progress_timer = QTimer(self)  # the label follows at 5 Hz, not at every point of a fast run
        self._progress_timer.setInterval(200)
        self._progress_timer.timeout.connect(self._show_progress)
        self._progress_timer.start()
        self._run_safety = ""  # what the run's own safe state was (its RunFinished event)
        self._shutdown_state = ""  # "" -> "waiting" -> "done"
        self.closing_dialog: ClosingDialog | None = None

    # Runs ---------------------------------------------------------------------
    def _run_in_background(self, function, on_done) -> None:
        self.tasks.run(function, on_done, "sqm-gui-analysis")

    def _show_panel_message(self, text: str) -> None:
        if text:
            self.statusBar().showMessage(text)

    def _tab_shown(self, index: int) -> None:
        if self.tabs.widget(index) is self.browser:
            self.browser.refresh_files()

    def _on_run_started(self, path: str, procedure_file) -> None:
        self._steps_total = len(procedure_file.steps)
        self._progress, self._run_safety = None, ""
        self.station_panel.run_active = True
        self.procedure_panel.set_running(True)
        self.procedure_panel.run_started(procedure_file)
        self.run_label.setText(f"running {Path(procedure_file.source).name} -> {path}")
        self.tabs.setCurrentIndex(0)

    def _show_progress(self) -> None:
        if self._progress is not None and self._progress_changed:
            self.run_label.setText(f"{self._progress.text()} -> {self.controller.path}")
        self._progress_changed = False

    def _on_event(self, event: RunEvent) -> None:
        self.live_views.handle_event(event)
        progress = self._progress
        if isinstance(event, PointRecorded):
            self.station_panel.show_run_values(event.values)
            if progress is not None and progress.unit == "points":
                progress.done(event.count, self.station.clock.now(), time.monotonic())
                self._progress_changed = True
        elif isinstance(event, LineRecorded):
            if progress is not None and progress.unit == "lines":
                progress.done(event.row + 1, self.station.clock.now(), time.monotonic())
                self._progress_changed = True
        elif isinstance(event, ImageDeclared):
            if progress is not None:
                progress.image_declared()
                self._progress_changed = True
        elif isinstance(event, StepStarted):
            self._progress = StepProgress(event.step, self._steps_total, event.procedure, event.expected_points)
            self.procedure_panel.show_running_step(event.step)
            self._progress_changed = True
            self._show_progress()
        elif isinstance(event, RunFinished):
            self._run_safety = safety_text([] if event.safe_state == "safe" else [event.safe_state])
        elif isinstance(event, Paused):
            self.procedure_panel.set_running(True, paused=True)
            self.statusBar().showMessage("paused")
        elif isinstance(event, Resumed):
            self.procedure_panel.set_running(True)
            self.statusBar().showMessage("resumed")
        elif isinstance(event, InterlockReported):
            self.station_panel.set_interlock(f"step {event.step}: {event.reason}", tripped=True)
        elif isinstance(event, StepFinished) and event.error:
            self.statusBar().showMessage(f"step {event.step} {event.status}: {event.error}")

    def _on_run_finished(self, path: str, status: str) -> None:
        self.finished_runs.append((path, status))
        self.station_panel.run_active = False
        self.procedure_panel.set_running(False)
        if self.tasks.busy(SAFE_STATE_TASK):
            safety = "making the station safe..."
        else:
            safety = self._run_safety or ""
        self._progress = None  # the label now says how the run ended
        text = f"run {status}: {path}" + (f"; {safety}" if safety else "")
        self.run_label.setText(text)
        self.procedure_panel.show_message(text, error=status != "completed" or safety.startswith("NOT"))
        self.statusBar().showMessage(text)
        self.browser.refresh_files()

    # Safe state ---------------------------------------------------------------
    def make_safe_now(self) -> None:
        """"Safe state now": no question asked. Abort the run (if any), then
        station.make_safe() in a background thread.

        No run may start until it has finished (Start is disabled, the controller
        refuses): a run would drive the instruments from a second thread."""
        runner = self.controller.runner
        self.controller.abort("safe state requested by the operator")
        self.controller.hold_starts("safe-state", "the station is being made safe (Safe state now)")
        self.station_panel.safe_button.setEnabled(False)
        self.station_panel.set_interlock("going to the safe state...")

        def go_safe():
            if runner is not None:
                runner.join()  # in the background thread: the run makes itself safe first
            return self.station.make_safe()

        self.tasks.run(go_safe, self._safe_state_done, SAFE_STATE_TASK)

    def _safe_state_done(self, failures, error) -> None:
        # make_safe() has returned: nothing drives the station any more, runs may start
        self.controller.release_starts("safe-state")
        self.station_panel.safe_button.setEnabled(True)
        text = safety_text(failures, error)
        self._run_safety = text  # a run aborted by it reports this if it ends after
        safe = text == "station safe"
        self.station_panel.set_interlock(text, tripped=not safe)
        self.procedure_panel.show_message(text, error=not safe)
        self.statusBar().showMessage(text)

    # Closing ------------------------------------------------------------------
    def workers_alive(self) -> bool:
        """Whether the run's worker thread or any background task is still alive."""
        return self.controller.worker_alive() or self.tasks.busy()

    def making_safe(self) -> bool:
        """Whether a thread is driving the station to its safe state (or still running steps)."""
        return self.controller.worker_alive() or self.tasks.busy(SAFE_STATE_TASK)

    def shutdown(self) -> bool:
        """Abort any run, then wait -- with no time limit -- for its worker thread (which
        makes the station safe) and every background task, with the event loop turning
        and a modal dialog up; then close the run's file. Stops the timers first.

        Idempotent; returns False if called again while it is still waiting."""
        if self._shutdown_state == "done":
            return True
        if self._shutdown_state == "waiting":
            return False
        self._shutdown_state = "waiting"
        self.station_panel.stop()
        self.live_views.stop()
        self._progress_timer.stop()
        self.controller.hold_starts("shutdown", "the window is closing")
        self.controller.abort("the GUI was closed")
        began = time.monotonic()
        while self.workers_alive():
            elapsed = time.monotonic() - began
            making_safe = self.making_safe()
            if self.closing_dialog is None and (making_safe or elapsed > 0.5):
                self.closing_dialog = ClosingDialog(self)
                self.closing_dialog.show()
                self.statusBar().showMessage("closing: making the station safe" if making_safe
                                             else "closing: waiting for background work")
            if self.closing_dialog is not None:
                self.closing_dialog.show_wait(making_safe, elapsed)
            self._turn_event_loop(milliseconds=20)
        QApplication.processEvents()  # the last results the threads sent (run finished, station safe)
        self.controller.shutdown()  # its worker has ended: the file is closed at once
        self.tasks.join_all()  # every task has ended: returns at once
        if self.closing_dialog is not None:
            self.closing_dialog.finish()
        self._shutdown_state = "done"
        return True

    @staticmethod
    def _turn_event_loop(milliseconds: int) -> None:
        """Process events for `milliseconds` (a nested loop ended by a timer: no sleep)."""
        loop = QEventLoop()
        QTimer.singleShot(milliseconds, loop.quit)
        loop.exec_()

    def closeEvent(self, event) -> None:
        if not self.shutdown():  # a second close while waiting for the safe state
            event.ignore()
            return
        super().closeEvent(event)
