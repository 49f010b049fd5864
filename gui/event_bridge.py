"""From worker threads to the GUI thread: Qt signals delivered by queued connections.

Worker threads never touch widgets. They call `RunEventBridge.sink(event)` (the
runner's `on_event`) or run a function through `run_in_background`; both hand their
result to a QObject that lives in the GUI thread by emitting a signal. Because the
emitting thread is not the receiver's thread, Qt queues the call and the slot runs
in the GUI event loop.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from PyQt5.QtCore import QObject, pyqtSignal

from sqm.events import RunEvent


class RunEventBridge(QObject):
    """Collects runner events (`sqm.events`) from the worker thread and hands them to the GUI.

    Events are queued under a lock and one `events_ready` signal is emitted per batch
    (only when the queue goes from empty to non-empty), so a fast run cannot flood
    the event loop with one queued call per point. The GUI slot calls `drain()`.
    """

    events_ready = pyqtSignal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: list[RunEvent] = []

    def sink(self, event: RunEvent) -> None:
        """Called from the runner's worker thread for every event."""
        with self._lock:
            first = not self._pending
            self._pending.append(event)
        if first:
            self.events_ready.emit()

    def drain(self) -> list[RunEvent]:
        """All events received since the last call, oldest first (GUI thread)."""
        with self._lock:
            events, self._pending = self._pending, []
        return events


class BackgroundTask(QObject):
    """Runs `function()` in a Python thread; `finished(result, error)` arrives in the GUI thread.

    `error` is None on success, else the exception. Keep a reference to the task
    until it finishes (the window keeps them in a set and joins them on close).
    """

    finished = pyqtSignal(object, object)

    def __init__(self, function: Callable[[], Any], name: str = "sqm-gui-task", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._function = function
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "BackgroundTask":
        self._thread.start()
        return self

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            result, error = self._function(), None
        except Exception as failure:  # reported to the GUI, never raised in the worker
            result, error = None, failure
        self.finished.emit(result, error)


class TaskPool(QObject):
    """Keeps background tasks alive until they finish; `join_all` on shutdown."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._tasks: set[BackgroundTask] = set()

    def run(self, function: Callable[[], Any], on_done: Callable[[Any, Any], None], name: str) -> BackgroundTask:
        """Start `function` in a thread; `on_done(result, error)` runs in the GUI thread."""
        # Keep every task until its thread has ended: `finished` arrives while the thread
        # is still returning, so a task is only dropped here, once it is dead.
        self._tasks = {task for task in self._tasks if task.is_alive()}
        task = BackgroundTask(function, name, parent=None)
        self._tasks.add(task)

        def finished(result, error):
            on_done(result, error)

        task.finished.connect(finished)
        return task.start()

    def busy(self, name: str | None = None) -> bool:
        return any(task.is_alive() and (name is None or task._thread.name == name) for task in self._tasks)

    def join_all(self, timeout: float | None = None) -> None:
        """Wait for every task's thread (each up to `timeout` s; None: no limit)."""
        for task in list(self._tasks):
            task.join(timeout)
