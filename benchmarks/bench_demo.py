"""Benchmark: each of the demo's procedures on the twin, wall time against the lab time
it stands for (the simulated clock), and the run store against raw h5py, measured
side by side in one process.

    .venv/bin/python benchmarks/bench_demo.py [--repeats 3] [--quick]

Prints a Markdown table (the README quotes it) and writes benchmarks/results/demo.json.
`--quick`: one repeat of the two lightest procedures (the bias loop, whose sweep the
store comparison takes, and the edge cuts), no whole-demo command; the tables printed,
nothing written. Nothing here is asserted: figures, not tests.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from sqm.readback import find_step, read_steps
from sqm.session import run_procedure
from sqm.station import DEFAULT_STATION, Station
from sqm.store import RunStore
from sqm_paper.demo import DEMO_PARTS

HERE = Path(__file__).resolve().parent
QUICK_PARTS = ("fig3_bias_loop", "fig3cd_edge")


def time_run(procedure: Path, out_dir: Path) -> tuple[float, float, Path]:
    """Wall seconds and lab seconds of one run on a fresh twin (built outside the timing)."""
    station = Station.from_file(DEFAULT_STATION)
    result = run_procedure(procedure, station, out_dir)
    return result.wall_seconds, result.lab_seconds, result.path


def time_store(columns: dict[str, np.ndarray], path: Path) -> float:
    """Seconds for RunStore to take the sweep point by point (as a run does) and close."""
    started = time.perf_counter()
    store = RunStore(path, backend="sim", station_text="", procedure_text="")
    step = store.begin_step(1, "bias_sweep", {}, {})
    step.declare_series({name: "1" for name in columns}, signal="flux", axes=["bias_current"])
    for index in range(len(columns["flux"])):
        step.append(**{name: float(values[index]) for name, values in columns.items()})
    step.finish("completed")
    store.close()
    return time.perf_counter() - started


def time_raw_h5py(columns: dict[str, np.ndarray], path: Path) -> float:
    """Seconds for raw h5py to write the same arrays at once (the floor)."""
    started = time.perf_counter()
    with h5py.File(path, "w") as h5:
        group = h5.create_group("001_bias_sweep/data")
        for name, values in columns.items():
            group.create_dataset(name, data=values)
    return time.perf_counter() - started


def time_demo_command(out_dir: Path) -> float:
    """Wall seconds of the whole `sqm demo` command: start-up, runs, analysis, figures."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sqm.cli", "demo", "--out", str(out_dir)], check=True,
                   capture_output=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one repeat, two procedures, nothing written")
    arguments = parser.parse_args(argv)
    repeats = 1 if arguments.quick else arguments.repeats
    parts = [part for part in DEMO_PARTS if part[0] in QUICK_PARTS] if arguments.quick else DEMO_PARTS
    results: dict = {"repeats": repeats, "procedures": {}}
    print("| procedure | wall time | lab time (simulated) | lab / wall |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        fig3_file = None
        for name, procedure, _ in parts:
            walls, labs = [], []
            for repeat in range(repeats):
                wall, lab, path = time_run(procedure, folder / f"{name}{repeat}")
                walls.append(wall)
                labs.append(lab)
                fig3_file = path if name == "fig3_bias_loop" else fig3_file
            wall, lab = statistics.median(walls), statistics.median(labs)
            results["procedures"][name] = {"wall_s": wall, "lab_s": lab, "lab_per_wall": lab / wall}
            print(f"| {name} | {wall:.2f} s | {lab / 3600:.2f} h | {lab / wall:.0f}x |")
        columns = find_step(read_steps(fig3_file), "bias_sweep").data
        stores = [time_store(columns, folder / f"store{i}.h5") for i in range(repeats)]
        raws = [time_raw_h5py(columns, folder / f"raw{i}.h5") for i in range(repeats)]
        command = None if arguments.quick else statistics.median(
            time_demo_command(folder / f"demo{i}") for i in range(repeats))
    points = len(columns["flux"])
    results.update(
        demo_command_s=command,
        store_s=statistics.median(stores),
        raw_h5py_s=statistics.median(raws),
        store_over_raw=statistics.median(s / r for s, r in zip(stores, raws)),
        store_points=points,
    )
    if not arguments.quick:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "demo.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\n| measure | value |\n|---|---|")
    shown = "skipped (quick mode)" if command is None else f"{command:.1f} s"
    print(f"| whole `sqm demo` command (start-up, 6 runs, analysis, 9 PNGs; median of {repeats}) | {shown} |")
    print(f"| RunStore, {points} points appended one by one | {1e3 * results['store_s']:.1f} ms |")
    print(f"| raw h5py, same arrays written at once | {1e3 * results['raw_h5py_s']:.1f} ms |")
    print(f"| RunStore / raw h5py | {results['store_over_raw']:.1f}x |")
    if arguments.quick:
        print("\nquick mode: results not written")


if __name__ == "__main__":
    main()
