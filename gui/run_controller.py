"""Starts, pauses, resumes and aborts runs, one after another from a queue.

Owns the current `Runner` and its `RunStore`. Runner events come through a
`RunEventBridge` and are re-emitted in the GUI thread as `run_event(dict)`. Nothing here
blocks: the end of a run is noticed from its `finished` event, and the store is
closed once the worker thread has ended (polled by a short single-shot timer).

The run's file is never closed while its worker thread is alive: after the last step
the worker makes the station safe (bias and field ramped to zero, scanner retracted,
minutes on a real magnet) and then writes the run's status. Starts can be held
(`hold_starts`), e.g. while "Safe state now" drives the station from another thread:
a run started then would drive the same instruments from two threads.
"""

from __future__ import annotations

from pathlib import Path

from PyQt5.QtCore import QObject, Qt, QTimer, pyqtSignal

from sqm.errors import UserInputError
from sqm.events import RunFinished
from sqm.procedure_file import ProcedureFile
from sqm.runner import Runner
from sqm.session import new_run_path, start_run
from sqm.station import Station
from sqm.store import RunStore

from .event_bridge import RunEventBridge


class StartRefused(UserInputError):
    """A run may not start now (the station is being made safe, the window is closing)."""


class RunController(QObject):
    """One run at a time on `station`, writing to `out_dir`; a queue of procedure files."""

    run_event = pyqtSignal(object)  # an sqm.events event  # every runner event, in the GUI thread
    run_started = pyqtSignal(str, object)  # path, ProcedureFile
    run_finished = pyqtSignal(str, str)  # path, status ("completed" | "aborted" | "failed")
    queue_changed = pyqtSignal(list)  # sources of the queued procedure files
    start_hold_changed = pyqtSignal(str)  # why runs may not start now; "" once they may

    def __init__(self, station: Station, out_dir: str | Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.station = station
        self.out_dir = Path(out_dir)
        self.runner: Runner | None = None
        self.store: RunStore | None = None
        self.path: Path | None = None
        self.procedure_file: ProcedureFile | None = None
        self.runs_started = 0
        self._queue: list[ProcedureFile] = []
        self._finished_status: str | None = None
        self._start_holds: dict[str, str] = {}  # key -> why no run may start
        self._bridge = RunEventBridge(self)
        self._bridge.events_ready.connect(self._deliver_events, Qt.QueuedConnection)

    # Queue --------------------------------------------------------------------
    def enqueue(self, procedure_file: ProcedureFile) -> None:
        """Add a validated procedure file; it starts when the current run has ended."""
        self._queue.append(procedure_file)
        self.queue_changed.emit([item.source for item in self._queue])

    def clear_queue(self) -> None:
        self._queue.clear()
        self.queue_changed.emit([])

    def start_next(self) -> bool:
        """Start the first queued procedure if nothing runs and starts are not held;
        False if none was started (the queue is then left as it was)."""
        if self.is_running() or not self._queue or self.start_refusal():
            return False
        procedure_file = self._queue.pop(0)
        self.queue_changed.emit([item.source for item in self._queue])
        self.start(procedure_file)
        return True

    # Holding starts ------------------------------------------------------------
    def hold_starts(self, key: str, reason: str) -> None:
        """Refuse every start (button, queue) until `release_starts(key)`; `reason` is shown."""
        self._start_holds[key] = reason
        self.start_hold_changed.emit(self.start_refusal() or "")

    def release_starts(self, key: str) -> None:
        self._start_holds.pop(key, None)
        self.start_hold_changed.emit(self.start_refusal() or "")

    def start_refusal(self) -> str | None:
        """Why no run may start now, or None if one may."""
        return "; ".join(self._start_holds.values()) or None

    # Control ------------------------------------------------------------------
    def start(self, procedure_file: ProcedureFile) -> Path:
        """Open a fresh run file and start the runner's worker thread (returns at once).

        Raises `StartRefused` (nothing is written) while starts are held."""
        if self.is_running():
            raise RuntimeError("a run is already active")
        refusal = self.start_refusal()
        if refusal:
            raise StartRefused(f"{refusal}; start again once that is done")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = new_run_path(self.out_dir, procedure_file.source)
        self._bridge.drain()
        self._finished_status = None
        self.runner, self.store = start_run(self.station, procedure_file, path, on_event=self._bridge.sink)
        self.path, self.procedure_file = path, procedure_file
        self.runs_started += 1
        self.run_started.emit(str(path), procedure_file)
        return path

    def is_running(self) -> bool:
        """True from `start` until the run's file is closed."""
        return self.runner is not None

    def is_paused(self) -> bool:
        return self.runner is not None and self.runner.control.paused

    def pause(self) -> None:
        if self.runner:
            self.runner.pause()

    def resume(self) -> None:
        if self.runner:
            self.runner.resume()

    def abort(self, reason: str = "aborted by the operator") -> None:
        """Ask the run to stop at its next checkpoint; the queue is cleared."""
        self.clear_queue()
        if self.runner:
            self.runner.abort(reason)

    def worker_alive(self) -> bool:
        """True while the run's worker thread lives (steps, then making the station safe)."""
        return self.runner is not None and self.runner.is_alive()

    def shutdown(self) -> None:
        """Abort the run, wait for its worker thread, then close the file (window closing only).

        There is no time limit: after an abort the worker makes the station safe, which
        takes minutes while a real magnet ramps down, and neither the file nor the
        process may close under it. This join blocks; the window first waits with its
        event loop turning (`MainWindow.shutdown`), so here the thread has usually ended.
        """
        self.clear_queue()
        self.hold_starts("shutdown", "the window is closing")
        runner = self.runner
        if runner is None:
            return
        runner.abort("the GUI was closed")
        runner.join()
        if self.runner is runner:  # not closed already by its `finished` event
            self._close_run(runner.outcome.status if runner.outcome else "aborted")

    # Events -------------------------------------------------------------------
    def _deliver_events(self) -> None:
        for event in self._bridge.drain():
            self.run_event.emit(event)
            if isinstance(event, RunFinished):
                self._finished_status = event.status
                self._close_when_thread_ends()

    def _close_when_thread_ends(self) -> None:
        if self.runner is None:
            return
        if self.runner.is_alive():
            QTimer.singleShot(10, self._close_when_thread_ends)
            return
        self._close_run(self._finished_status or "")

    def _close_run(self, status: str) -> None:
        """Close the run's file; only ever once its worker thread has ended."""
        if self.runner is not None and self.runner.is_alive():
            # Both callers wait for the thread first; should one ever not, block here
            # rather than close the file under a worker that is making the station safe.
            self.runner.join()
        if self.store is not None:
            self.store.close()
        path = self.path
        self.runner = self.store = None
        self.run_finished.emit(str(path), status)
        if status == "completed":
            QTimer.singleShot(0, self.start_next)
