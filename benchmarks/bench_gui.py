"""Benchmark: the GUI's live image during a 512 x 512 twin scan, offscreen.

    .venv/bin/python benchmarks/bench_gui.py [--seconds 5] [--no-screenshot] [--quick]

Measures the live image refresh rate (redraws per second actually delivered to the
image item) and the longest stall of the GUI event loop (largest gap between ticks
of a 1 ms QTimer) while the twin scans, paced to last about `--seconds`. Prints a
Markdown table (goals: >= 30 refreshes/s, < 50 ms longest stall) and writes
benchmarks/results/gui.json. Then, unless --no-screenshot, saves a screenshot of the
window during a scan (sweep plotted, image half filled) to docs/gui_screenshot.png.
The pace is the scan's lab time, as `sqm check` reports it (a dry run on the twin),
over `--seconds`. `--quick`: a 64 x 64 image paced to 1 s, no screenshot, the table
printed and nothing written. No asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import yaml  # noqa: E402
from PyQt5.QtCore import QElapsedTimer, QTimer  # noqa: E402
from PyQt5.QtWidgets import QApplication  # noqa: E402

from sqm.session import dry_run, load_for_check  # noqa: E402
from sqm.station import DEFAULT_STATION, Station  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SIZE, QUICK_SIZE = 512, 64
PIXEL_UM = 0.15


def scan_text(size: int) -> str:
    """A size x size scan of 0.15 um pixels centred on the flake (512: -38.325 ... 38.325 um);
    reconstruction off so the live image is what is timed."""
    half = f"{(size - 1) * PIXEL_UM / 2:.6g} um"
    return f"""
steps:
  - raster_scan: {{x: [-{half}, {half}], y: [-{half}, {half}], pixel_size: {PIXEL_UM} um,
                  line_time: 0.05 s, bias_current: 100 uA, reconstruct: false}}
"""


SCAN = scan_text(SIZE)
# The screenshot: the virgin sweep and the major loop, then the flake imaged at +200 uA.
SCREENSHOT = """
description: Virgin bias sweep and major loop, then a flux image at +200 uA
steps:
  - zero_field_cool: {from_temperature: 8 K, to_temperature: 1.5 K}
  - park: {x: 30 um, y: -15 um, height: 1 um}
  - bias_sweep: {points: [0, 200 uA, -200 uA, 200 uA], step: 4 uA, settle: 0, integration_time: 0.2 s}
  - raster_scan: {x: [-50 um, 50 um], y: [-35 um, 35 um], pixel_size: 0.5 um, line_time: 0.5 s,
                  bias_current: 200 uA, reconstruct: false}
"""


def paced_station(pace: float) -> Station:
    data = yaml.safe_load(DEFAULT_STATION.read_text())
    data["sim"]["pace"] = pace
    return Station.from_text(yaml.safe_dump(data, sort_keys=False), source="bench-twin.yaml")


def simulated_seconds(text: str) -> float:
    """Lab seconds of a procedure as `sqm check` reports them: a dry run on the twin with
    the default station's limits (dry_run takes the limits, not a station)."""
    _, limits, procedure_file = load_for_check(text)
    outcome = dry_run(procedure_file, limits)
    if outcome.status != "completed":  # a failed rehearsal's seconds are no lab time to pace by
        raise RuntimeError(f"the dry run of the benchmark's scan ended {outcome.status}: {outcome.error}")
    return outcome.station_seconds


class StallMeter:
    """A 1 ms QTimer; records the largest gap between its ticks (ms)."""

    def __init__(self) -> None:
        self.longest_ms = 0.0
        self.ticks = 0
        self._clock = QElapsedTimer()
        self._last = None
        self._timer = QTimer()
        self._timer.setInterval(1)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._clock.start()
        self._last = self._clock.nsecsElapsed()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = self._clock.nsecsElapsed()
        self.longest_ms = max(self.longest_ms, (now - self._last) / 1e6)
        self._last = now
        self.ticks += 1


def run_until(app: QApplication, condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.0005)


def measure(app: QApplication, seconds: float, size: int = SIZE) -> dict:
    from sqm.gui.main_window import MainWindow

    scan = scan_text(size)
    lab_seconds = simulated_seconds(scan)
    pace = lab_seconds / seconds
    station = paced_station(pace)
    station.squid.world.sample.flux_image(1e-6, 0.0, 0.0, 1.5)  # build the film solution outside the timing
    with tempfile.TemporaryDirectory() as folder:
        window = MainWindow(station, out_dir=folder)
        window.resize(1500, 950)
        window.show()
        run_until(app, lambda: False, 0.3)
        window.procedure_panel.load_text(scan, f"bench_{size}.yaml")
        meter = StallMeter()
        views = window.live_views
        meter.start()
        started = time.perf_counter()
        window.procedure_panel.start()
        run_until(app, lambda: views.image.rows_filled >= 1, 60)
        first_line = time.perf_counter()
        redraws_at_first_line = views.image.redraws
        run_until(app, lambda: views.image.rows_filled >= size, 600)
        last_line = time.perf_counter()
        redraws = views.image.redraws - redraws_at_first_line
        run_until(app, lambda: not window.controller.is_running(), 60)
        meter.stop()
        elapsed = time.perf_counter() - started
        status = window.finished_runs[-1][1] if window.finished_runs else "unfinished"
        window.close()
    station.close()
    filling = last_line - first_line
    return {
        "image": f"{size} x {size}",
        "lab_seconds": round(lab_seconds, 1),
        "pace": round(pace, 1),
        "run_wall_seconds": round(elapsed, 2),
        "filling_seconds": round(filling, 2),
        "lines_per_second": round(size / filling, 1) if filling > 0 else None,
        "image_redraws": redraws,
        "refreshes_per_second": round(redraws / filling, 1) if filling > 0 else None,
        "longest_stall_ms": round(meter.longest_ms, 1),
        "stall_timer_ticks": meter.ticks,
        "status": status,
        "goals": {"refreshes_per_second": ">= 30", "longest_stall_ms": "< 50"},
    }


def screenshot(app: QApplication, path: Path) -> None:
    """The window during a twin scan: the loop plotted and the image about half filled."""
    from sqm.gui.main_window import MainWindow

    station = paced_station(400.0)
    with tempfile.TemporaryDirectory() as folder:
        window = MainWindow(station, out_dir=folder)
        window.resize(1500, 950)
        window.show()
        window.procedure_panel.load_text(SCREENSHOT, str(REPO / "configs" / "procedures" / "gui_demo.yaml"))
        window.procedure_panel.step_list.setCurrentRow(2)
        window.procedure_panel.start()
        views = window.live_views
        def half_filled() -> bool:
            return views.image.image is not None and views.image.rows_filled >= views.image.image.shape[0] // 2

        run_until(app, half_filled, 300)
        run_until(app, lambda: False, 0.6)  # let the station panel and the redraw timer catch up
        path.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(path))
        window.close()
    station.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="wall time the paced scan should take")
    parser.add_argument("--no-screenshot", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help=f"a {QUICK_SIZE} x {QUICK_SIZE} image in 1 s, no screenshot, no results file")
    arguments = parser.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    if arguments.quick:
        result = measure(app, 1.0, QUICK_SIZE)
    else:
        result = measure(app, arguments.seconds)
    print("| measure | value | goal |")
    print("|---|---|---|")
    print(f"| image | {result['image']} ({result['lab_seconds']} s of lab time at pace {result['pace']}) | |")
    print(f"| image filled in | {result['filling_seconds']} s ({result['lines_per_second']} lines/s) | |")
    print(f"| live image refreshes | {result['refreshes_per_second']} /s ({result['image_redraws']} redraws) "
          "| >= 30 /s |")
    print(f"| longest event-loop stall | {result['longest_stall_ms']} ms | < 50 ms |")
    print(f"| run status | {result['status']} | |")
    if arguments.quick:
        print("\nquick mode: results not written, no screenshot")
        return 0
    out = HERE / "results" / "gui.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")
    if not arguments.no_screenshot:
        target = REPO / "docs" / "gui_screenshot.png"
        screenshot(app, target)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
