"""The station panel: live readings, the interlock state and "Safe state now".

Readings are taken by a timer (default 2 Hz) in a background thread, never in the
GUI thread; only one read is in flight at a time. On hardware, the instruments
belong to the run while one is active: the panel then shows the last values the
run's events carried instead of reading them.
"""

from __future__ import annotations

from PyQt5.QtCore import QTimer, pyqtSignal
from PyQt5.QtWidgets import QFormLayout, QGroupBox, QLabel, QPushButton, QVBoxLayout, QWidget

from sqm.role_list import ROLES
from sqm.station import Station

from .event_bridge import TaskPool


def read_station(station: Station) -> dict:
    """Every panel reading of the role list, in display units (see `sqm.role_list`)."""
    return {reading.key: reading.read(station.backend.roles[entry.name])
            for entry in ROLES for reading in entry.panel}


class StationPanel(QGroupBox):
    """Shows the station's state; `safe_state_requested` when the button is pressed."""

    safe_state_requested = pyqtSignal()

    def __init__(self, station: Station, tasks: TaskPool, refresh_hz: float = 2.0,
                 parent: QWidget | None = None) -> None:
        super().__init__("Station", parent)
        self.station = station
        self._tasks = tasks
        self.run_active = False
        self.readings: dict = {}
        self.refreshes = 0
        self._labels: dict[str, QLabel] = {}
        form = QFormLayout()
        self._readings = {reading.key: reading for entry in ROLES for reading in entry.panel}
        for key, title in [(reading.key, reading.title) for reading in self._readings.values()] + [
                ("interlock", "interlock")]:
            label = QLabel("-")
            label.setObjectName(f"reading_{key}")
            self._labels[key] = label
            form.addRow(title, label)
        self.safe_button = QPushButton("Safe state now")
        self.safe_button.setStyleSheet(
            "QPushButton { background: #c62828; color: white; font-weight: bold; padding: 6px; }")
        self.safe_button.setToolTip("Abort any run, then bias and field to zero, scanner retracted")
        self.safe_button.clicked.connect(self.safe_state_requested)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.safe_button)
        self.set_interlock("none")
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / refresh_hz))
        self._timer.timeout.connect(self.refresh)
        self._timer.start()

    @property
    def reads_instruments_during_runs(self) -> bool:
        """The twin's roles are cheap and safe to read beside a run; hardware is not."""
        return self.station.backend.reads_beside_runs

    def refresh(self) -> None:
        """Start a background read unless one is in flight or the run owns the instruments."""
        if self.run_active and not self.reads_instruments_during_runs:
            return
        if self._tasks.busy("sqm-gui-station-read"):
            return
        self._tasks.run(lambda: read_station(self.station), self._show_read, "sqm-gui-station-read")

    def _show_read(self, readings, error) -> None:
        if error is not None:
            first = next(iter(self._readings))
            self._labels[first].setText(f"read failed: {error}")
            return
        self.show_readings(readings)

    def show_readings(self, readings: dict) -> None:
        self.readings.update(readings)
        self.refreshes += 1
        for key, value in self.readings.items():
            reading = self._readings.get(key)
            if reading is None:
                continue
            self._labels[key].setText(reading.text(value))
            self._labels[key].setStyleSheet("color: #c62828; font-weight: bold" if reading.alarm(value) else "")

    def show_run_values(self, values: dict) -> None:
        """Last values from a run's point events (used on hardware while a run is active)."""
        if self.reads_instruments_during_runs:
            return
        self.show_readings({reading.key: values[reading.run_column] * reading.display_per_si
                            for reading in self._readings.values() if reading.run_column in values})

    def set_interlock(self, text: str, tripped: bool = False) -> None:
        label = self._labels["interlock"]
        label.setText(text)
        label.setWordWrap(True)
        label.setStyleSheet("color: #c62828; font-weight: bold" if tripped else "color: #2e7d32")

    def stop(self) -> None:
        self._timer.stop()
