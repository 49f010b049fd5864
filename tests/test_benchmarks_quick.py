"""The benchmarks keep running: the GUI benchmark's pace comes from the lab time
`sqm check` reports, and each benchmark, in its quick mode, exits 0 and prints its
table (small sizes, one repeat; nothing about its times is asserted)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sqm.cli import main

from .conftest import REPO

BENCHMARKS = REPO / "benchmarks"


def _benchmark_module(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gui_benchmark_paces_its_scan_by_the_lab_time_sqm_check_reports(tmp_path, capsys):
    pytest.importorskip("PyQt5.QtWidgets")
    bench = _benchmark_module("bench_gui")
    path = tmp_path / "bench_scan.yaml"
    path.write_text(bench.SCAN)
    assert main(["check", str(path)]) == 0
    checked = float(capsys.readouterr().out.split("of lab time (")[1].split(" s)")[0])
    assert checked > 512 * 0.05  # 512 lines of 0.05 s, and the moves between them
    assert bench.simulated_seconds(bench.SCAN) == pytest.approx(checked, abs=0.5)  # printed in whole seconds


def _superscreen_python() -> str | None:
    """The SuperScreen venv's python the film benchmark would use, if SuperScreen imports there."""
    python = os.environ.get("SQM_SUPERSCREEN_PYTHON", "/tmp/ssvenv/bin/python")
    if not Path(python).exists():
        return None
    found = subprocess.run([python, "-c", "import superscreen"], capture_output=True, timeout=120)
    return python if found.returncode == 0 else None


def _results() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((BENCHMARKS / "results").glob("*"))}


def _run_quick(script: str, *arguments: str) -> str:
    """Run a benchmark with --quick; its stdout, after checking it exited 0, printed a Markdown
    table and wrote nothing over benchmarks/results/."""
    before = _results()
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    completed = subprocess.run([sys.executable, str(BENCHMARKS / script), "--quick", *arguments], cwd=REPO,
                               env=environment, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "quick mode: results not written" in completed.stdout
    assert _results() == before
    return completed.stdout


def _table(out: str, header: str) -> list[list[str]]:
    """The rows (cells) of the Markdown table whose header line starts with `header`."""
    lines = out.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(header))
    assert set(lines[start + 1]) <= set("|-")
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    assert rows
    return rows


def test_gui_benchmark_quick():
    pytest.importorskip("PyQt5.QtWidgets")
    rows = dict(row[:2] for row in _table(_run_quick("bench_gui.py"), "| measure | value | goal |"))
    assert rows["image"].startswith("64 x 64 (")
    assert rows["run status"] == "completed"
    assert float(rows["image"].split("at pace ")[1].rstrip(")")) > 0


def test_demo_benchmark_quick():
    out = _run_quick("bench_demo.py")
    assert [row[0] for row in _table(out, "| procedure |")] == ["fig3_bias_loop", "fig3cd_edge"]
    measures = [row[0] for row in _table(out, "| measure | value |")]
    assert any(measure.startswith("RunStore") for measure in measures)


def test_forward_benchmark_quick():
    out = _run_quick("bench_forward.py")
    assert [row[0] for row in _table(out, "| window | transform |")] == ["64^2"]
    (oracle,) = _table(out, "| window | pad |")
    assert oracle[:2] == ["32^2", "2"]


def test_imaging_benchmark_quick():
    rows = _table(_run_quick("bench_imaging.py"), "| measure | value |")
    assert rows[0][0].startswith("64 x 64 image on the twin")


def test_film_solver_benchmark_quick_without_superscreen():
    rows = _table(_run_quick("bench_film_solver.py", "--edges"), "| solver |")
    assert [row[0] for row in rows] == ["ours (FFT + PCG)", "SuperScreen"]
    assert rows[1][1] == "skipped"


def test_film_solver_benchmark_quick_against_superscreen():
    python = _superscreen_python()
    if python is None:
        pytest.skip("SuperScreen is not installed (benchmark-only: benchmarks/requirements-superscreen.txt)")
    rows = _table(_run_quick("bench_film_solver.py", "--superscreen-python", python), "| solver |")
    assert rows[0][0] == "ours (FFT + PCG)" and rows[0][5].endswith("%")  # compared with SuperScreen
    assert rows[1][0].startswith("SuperScreen ") and rows[1][1] == "edge 4 um"


def test_sample_build_benchmark_quick():
    rows = _table(_run_quick("bench_sample_build.py"), "| measure | wall time | against bare FFTs |")
    assert [row[0].split(",")[0] for row in rows] == ["first build", "start from the solve cache"]
    assert "pearl_disk" in rows[0][0] and rows[1][3] == "<= 0.2 s"


def test_surface_benchmark_quick():
    rows = _table(_run_quick("bench_surface.py"), "| measure | wall time | lab time | against |")
    assert [row[0].split(" (")[0].split(",")[0] for row in rows] == ["touchdown", "plane fit", "coarse approach"]
    found = float(rows[1][0].split("found ")[1].split(" degree")[0])
    assert found == pytest.approx(1.0, abs=0.02)  # the 2 x 2 fit still finds the tilt it is timed on


def test_emulated_station_benchmark_quick():
    pytest.importorskip("pyvisa_py")
    rows = _table(_run_quick("bench_emulated.py"), "| station | wall time |")
    assert [row[0].split(" (")[0] for row in rows] == ["twin", "emulated"]
    assert int(rows[1][3]) > 100  # the drivers talked to the emulators over the wire


def test_squid_benchmark_quick():
    rows = _table(_run_quick("bench_squid.py"), "| measure | wall time | lab time | against |")
    (row,) = rows
    assert row[0].startswith("I-V (") and int(row[0].split("(")[1].split()[0]) > 30  # the SQUID's voltage was read


def test_swmr_benchmark_quick():
    rows = _table(_run_quick("bench_swmr.py"), "| workload |")
    assert [row[0] for row in rows] == ["point, flushed one by one", "point, in 0.5 s batches",
                                        "line of 64 pixels, flushed"]
    assert all(row[4].endswith("x") and float(row[4][:-1]) > 0 for row in rows)  # SWMR against before, measured


def test_batch_benchmark_quick():
    pytest.importorskip("dask.distributed")
    rows = dict(row[:2] for row in _table(_run_quick("bench_batch.py"), "| measure | value |"))
    assert rows["same figures as serial"] == "yes"  # the cluster gives the serial runs' numbers
    assert float(rows["speed-up (runs)"].rstrip("x")) > 0
