"""`sqm gui`: build the station and show the main window.

A simulated clock (the twin's) runs as fast as it can; for a run a person can
watch, a station whose clock keeps no pace gets `TWIN_PACE` simulated seconds per
wall second here (a paced clock changes no result; wall time is left alone).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Callable

from sqm.errors import UserInputError
from sqm.station import DEFAULT_STATION, Station
from sqm.stop_signals import STOP_SIGNALS, signal_label

TWIN_PACE = 20.0  # simulated s per wall s for GUI runs on the twin


def gui_station(station_path: str | Path | None = None, twin_pace: float | None = TWIN_PACE) -> Station:
    """The station for the GUI; a clock with no pace gets `twin_pace` (None: unpaced)."""
    station = Station.from_file(Path(station_path or DEFAULT_STATION))
    if twin_pace is not None:
        station.clock.pace_if_unpaced(twin_pace)
    return station


def main(station_path: str | Path | None = None, out_dir: str | Path = "runs") -> int:
    """Run the GUI until its window closes; returns the exit code (0, or 2 for a bad station)."""
    from .qt_platform import check_qt_platform

    problem = check_qt_platform()
    if problem:  # before QApplication: Qt aborts the process when its platform cannot load
        print(f"sqm gui: {problem}", file=sys.stderr)
        return 2
    from PyQt5.QtWidgets import QApplication

    from .main_window import MainWindow

    try:
        station = gui_station(station_path)
    except UserInputError as error:
        print(f"sqm gui: {error}", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(station, out_dir)
    window.resize(1500, 950)
    window.show()
    restore_signals = close_on_stop_signals(window)
    try:
        return int(app.exec_())
    finally:
        restore_signals()
        # Closing aborts a run still active and waits, with no time limit, for its worker
        # to make the station safe (minutes on a real magnet) and for every other worker
        # thread; the station is closed only once none of them is alive.
        window.close()
        window.shutdown()  # idempotent: close() has done it; returns at once
        station.close()


def close_on_stop_signals(window) -> Callable[[], None]:
    """SIGTERM, SIGHUP (a logout, a shutdown, `kill`) and SIGINT close the window as its
    close button does: a run is aborted and the station made safe before the process
    ends. Repeated signals only close it again, which waits for the same safe state.
    Returns a function that puts the previous handlers back."""
    from PyQt5.QtCore import QTimer

    def on_signal(signum, frame) -> None:
        window.controller.abort(f"{signal_label(signum)} to the GUI")
        QTimer.singleShot(0, window.close)  # from Qt's loop, not from inside the handler

    previous = {number: signal.signal(number, on_signal) for number in STOP_SIGNALS}
    # Python runs a signal handler only when it runs bytecode; while Qt waits for events it
    # does not, so a timer with a Python slot gives it that chance five times a second.
    wake_python = QTimer(window)
    wake_python.timeout.connect(lambda: None)
    wake_python.start(200)

    def restore() -> None:
        wake_python.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)

    return restore


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
