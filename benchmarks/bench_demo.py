"""Benchmark: the demo's wall time against the lab time it stands for, and the run
store against raw h5py, measured side by side in one process.

    .venv/bin/python benchmarks/bench_demo.py [--repeats 5]

Prints a Markdown table (the README quotes it) and writes benchmarks/results/demo.json.
Nothing here is asserted: figures, not tests.
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
from sqm.store import RunStore

HERE = Path(__file__).resolve().parent
FIG3 = HERE.parent / "configs" / "procedures" / "fig3_bias_loop.yaml"


def time_demo_run(out_dir: Path) -> tuple[float, float, dict[str, np.ndarray]]:
    """Wall seconds and lab seconds of one Fig. 3 run on the twin, and its sweep data."""
    result = run_procedure(FIG3, out_dir=out_dir)
    sweep = find_step(read_steps(result.path), "bias_sweep")
    return result.wall_seconds, result.lab_seconds, sweep.data


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
    """Wall seconds of the whole `sqm demo` command: start-up, run, analysis, figures."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sqm.cli", "demo", "--out", str(out_dir)], check=True,
                   capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    walls, labs, stores, raws = [], [], [], []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for repeat in range(arguments.repeats):
            wall, lab, columns = time_demo_run(folder / f"run{repeat}")
            walls.append(wall)
            labs.append(lab)
            stores.append(time_store(columns, folder / f"store{repeat}.h5"))
            raws.append(time_raw_h5py(columns, folder / f"raw{repeat}.h5"))
        command_s = statistics.median(time_demo_command(folder / f"demo{repeat}") for repeat in range(3))
    points = len(columns["flux"])
    results = {
        "repeats": arguments.repeats,
        "points": points,
        "demo_wall_s": statistics.median(walls),
        "demo_lab_s": statistics.median(labs),
        "lab_per_wall": statistics.median(lab / wall for lab, wall in zip(labs, walls)),
        "demo_command_s": command_s,
        "store_s": statistics.median(stores),
        "raw_h5py_s": statistics.median(raws),
        "store_over_raw": statistics.median(s / r for s, r in zip(stores, raws)),
        "store_us_per_point": 1e6 * statistics.median(stores) / points,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "demo.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| measure | value |\n|---|---|")
    print(f"| Fig. 3 run on the twin, wall time (median of {arguments.repeats}) | {results['demo_wall_s']:.2f} s |")
    print(f"| lab time it stands for (simulated clock) | {results['demo_lab_s']:.0f} s |")
    print(f"| lab time / wall time | {results['lab_per_wall']:.0f}x |")
    print(f"| whole `sqm demo` command (start-up, 3 runs, analysis, 5 PNGs; median of 3) | {command_s:.2f} s |")
    print(f"| RunStore, {points} points appended one by one | {1e3 * results['store_s']:.1f} ms "
          f"({results['store_us_per_point']:.0f} us/point) |")
    print(f"| raw h5py, same arrays written at once | {1e3 * results['raw_h5py_s']:.1f} ms |")
    print(f"| RunStore / raw h5py | {results['store_over_raw']:.1f}x |")


if __name__ == "__main__":
    main()
