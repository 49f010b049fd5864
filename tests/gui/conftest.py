"""GUI test fixtures: Qt offscreen, a paced twin and the main window, closed after each test."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import threading  # noqa: E402

import pytest  # noqa: E402

from sqm.station import Station  # noqa: E402
from tests.conftest import twin_station_text  # noqa: E402

# 20 simulated seconds per wall second: the short test procedures last ~1-2 s.
TEST_PACE = 20


def sqm_threads() -> list[threading.Thread]:
    """Worker threads started by the runner or the GUI that are still alive."""
    return [thread for thread in threading.enumerate() if thread.name.startswith("sqm-") and thread.is_alive()]


@pytest.fixture
def paced_twin() -> Station:
    return Station.from_text(twin_station_text(pace=TEST_PACE), source="paced-twin.yaml")


@pytest.fixture
def window(qtbot, paced_twin, tmp_path):
    """The main window on a paced twin, writing runs to tmp_path/runs; closed and joined after."""
    from sqm.gui.main_window import MainWindow

    main_window = MainWindow(paced_twin, out_dir=tmp_path / "runs", station_refresh_hz=5)
    qtbot.addWidget(main_window)
    main_window.show()
    yield main_window
    main_window.close()
    assert not main_window.controller.is_running()
    assert sqm_threads() == [], "a worker thread outlived the window"
