"""`kill` of a running `sqm gui` (what a logout or a shutdown sends) ends the run like
closing the window: aborted, station safe, file marked; repeated signals change nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import pytest

from tests.conftest import REPO, twin_station_text

pytest.importorskip("pytestqt")

# The child runs the GUI's own entry point, sqm.gui.app.main, and starts a run in the
# window it opens (from a timer queued before main builds it), as an operator would.
CHILD = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QApplication
from sqm.gui import app as gui_app
from sqm.gui.main_window import MainWindow

qt = QApplication(sys.argv[:1])
PROCEDURE = open(sys.argv[2]).read()

def start_a_run():
    (window,) = [w for w in qt.topLevelWidgets() if isinstance(w, MainWindow)]
    assert window.procedure_panel.load_text(PROCEDURE, "scan.yaml")
    window.procedure_panel.start()
    print("started", flush=True)

QTimer.singleShot(300, start_a_run)
sys.exit(gui_app.main(sys.argv[1], out_dir=sys.argv[3]))
"""

SCAN = """\
steps:
  - raster_scan: {x: [-5 um, 5 um], y: [-5 um, 5 um], pixel_size: 0.5 um, line_time: 4 s,
                  bias_current: 40 uA, field: 12 G, reconstruct: false}
"""


@pytest.mark.parametrize("stop, repeats", [("SIGTERM", 1), ("SIGHUP", 1), ("SIGTERM", 3)])
def test_killing_the_gui_mid_run_aborts_it_and_leaves_the_station_safe(tmp_path, stop, repeats):
    (tmp_path / "child.py").write_text(textwrap.dedent(CHILD))
    (tmp_path / "station.yaml").write_text(twin_station_text(pace=20.0))
    (tmp_path / "scan.yaml").write_text(SCAN)
    child = subprocess.Popen([sys.executable, str(tmp_path / "child.py"), str(tmp_path / "station.yaml"),
                              str(tmp_path / "scan.yaml"), str(tmp_path / "runs")], cwd=REPO,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "started", child.stderr.read()
        time.sleep(1.5)  # the scan is under way: bias on, field up, sensor near the surface
        for _ in range(repeats):
            os.kill(child.pid, getattr(signal, stop))
            time.sleep(0.002)
        child.wait(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    stderr = child.stderr.read()
    assert child.returncode == 0, stderr
    assert "Traceback" not in stderr
    (path,) = (tmp_path / "runs").glob("*.h5")
    with h5py.File(path, "r") as h5:
        assert h5.attrs["status"] == "aborted" and h5.attrs["safe_state"] == "safe"
        (step,) = [h5[name] for name in h5 if name.endswith("raster_scan")]
        assert stop in step.attrs["error"]
