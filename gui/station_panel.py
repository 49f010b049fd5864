"""The station panel: live readings, the interlock state and "Safe state now".

Readings are taken by a timer (default 2 Hz) in a background thread, never in the
GUI thread; only one read is in flight at a time. On hardware, the instruments
belong to the run while one is active: the panel then shows the last values the
run's events carried instead of reading them.
"""

from __future__ import annotations

from PyQt5.QtCore import QTimer, pyqtSignal
from PyQt5.QtWidgets import QFormLayout, QGroupBox, QLabel, QPushButton, QVBoxLayout, QWidget

from sqm.station import Station

from .event_bridge import TaskPool

TESLA_PER_GAUSS = 1e-4


def read_station(station: Station) -> dict:
    """Readings in display units: temperature K, field G, bias uA, position um, lock."""
    x, y, z = station.scanner.position()
    return {
        "temperature": station.temperature.read_temperature(),
        "field": station.magnet.read_field() / TESLA_PER_GAUSS,
        "bias": station.current_source.read_current() * 1e6,
        "position": (x * 1e6, y * 1e6, z * 1e6),
        "locked": station.squid.is_locked(),
    }


class StationPanel(QGroupBox):
    """Shows the station's state; `safe_state_requested` when the button is pressed."""

    safe_state_requested = pyqtSignal()

    def __init__(self, station: Station, tasks: TaskPool, refresh_hz: float = 2.0, parent: QWidget | None = None) -> None:
        super().__init__("Station", parent)
        self.station = station
        self._tasks = tasks
        self.run_active = False
        self.readings: dict = {}
        self.refreshes = 0
        self._labels: dict[str, QLabel] = {}
        form = QFormLayout()
        for key, title in (("temperature", "temperature"), ("field", "field"), ("bias", "bias current"),
                           ("position", "scanner x, y, z"), ("locked", "SQUID lock"), ("interlock", "interlock")):
            label = QLabel("-")
            label.setObjectName(f"reading_{key}")
            self._labels[key] = label
            form.addRow(title, label)
        self.safe_button = QPushButton("Safe state now")
        self.safe_button.setStyleSheet("QPushButton { background: #c62828; color: white; font-weight: bold; padding: 6px; }")
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
            self._labels["temperature"].setText(f"read failed: {error}")
            return
        self.show_readings(readings)

    def show_readings(self, readings: dict) -> None:
        self.readings.update(readings)
        self.refreshes += 1
        values = self.readings
        if "temperature" in values:
            self._labels["temperature"].setText(f"{values['temperature']:.3f} K")
        if "field" in values:
            self._labels["field"].setText(f"{values['field']:.4f} G")
        if "bias" in values:
            self._labels["bias"].setText(f"{values['bias']:.2f} uA")
        if "position" in values:
            self._labels["position"].setText("{:.2f}, {:.2f}, {:.2f} um".format(*values["position"]))
        if "locked" in values:
            locked = values["locked"]
            self._labels["locked"].setText("locked" if locked else "UNLOCKED")
            self._labels["locked"].setStyleSheet("" if locked else "color: #c62828; font-weight: bold")

    def show_run_values(self, values: dict) -> None:
        """Last values from a run's point events (used on hardware while a run is active)."""
        if self.reads_instruments_during_runs:
            return
        readings = {}
        if "temperature" in values:
            readings["temperature"] = values["temperature"]
        if "field" in values:
            readings["field"] = values["field"] / TESLA_PER_GAUSS
        if "bias_current" in values:
            readings["bias"] = values["bias_current"] * 1e6
        self.show_readings(readings)

    def set_interlock(self, text: str, tripped: bool = False) -> None:
        label = self._labels["interlock"]
        label.setText(text)
        label.setWordWrap(True)
        label.setStyleSheet("color: #c62828; font-weight: bold" if tripped else "color: #2e7d32")

    def stop(self) -> None:
        self._timer.stop()
