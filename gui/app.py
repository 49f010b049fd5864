"""`sqm gui`: build the station and show the main window.

The twin's clock is simulated and runs as fast as it can; for a run a person can
watch, a twin station whose file says `pace: null` is built here with
`TWIN_PACE` simulated seconds per wall second (a paced clock changes no result).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from sqm.errors import UserInputError
from sqm.station import DEFAULT_STATION, Station

TWIN_PACE = 20.0  # simulated s per wall s for GUI runs on the twin


def gui_station(station_path: str | Path | None = None, twin_pace: float | None = TWIN_PACE) -> Station:
    """The station for the GUI; a twin with no pace gets `twin_pace` (None: unpaced)."""
    path = Path(station_path or DEFAULT_STATION)
    try:
        text = path.read_text()
    except OSError as error:
        raise UserInputError(f"{path}: cannot read the station file ({error.strerror})") from None
    data = yaml.safe_load(text)
    if isinstance(data, dict) and data.get("backend") == "sim" and twin_pace is not None:
        sim = dict(data.get("sim") or {})
        if sim.get("pace") is None:
            sim["pace"] = twin_pace
            data["sim"] = sim
            text = yaml.safe_dump(data, sort_keys=False)
    return Station.from_text(text, source=str(path))


def main(station_path: str | Path | None = None, out_dir: str | Path = "runs") -> int:
    """Run the GUI until its window closes; returns the exit code (0, or 2 for a bad station)."""
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
    try:
        return int(app.exec_())
    finally:
        window.close()  # aborts a run still active and joins every worker thread
        station.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
