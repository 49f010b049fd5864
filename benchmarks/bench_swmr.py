"""Benchmark: what writing run files in SWMR mode (so other programs read them live) costs,
against the same store writing as it did before (no SWMR, HDF5's default file format),
and against raw h5py doing the same appends and flushes in SWMR mode, side by side.

    .venv/bin/python benchmarks/bench_swmr.py [--repeats 3] [--quick]

Three workloads, each through `RunStore` as a run uses it:
- points flushed one by one (flush_interval 0: the worst case, every point on disk at once);
- points in time batches (the default flush_interval, 0.5 s: what a sweep does);
- image lines, each written and flushed (what a raster scan does).
Prints a Markdown table (the README quotes it) and writes benchmarks/results/swmr.json.
`--quick`: small sizes, one repeat; the table printed, nothing written. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

import sqm.store as store_module
from sqm.store import RunStore

HERE = Path(__file__).resolve().parent


@contextmanager
def store_without_swmr():
    """The store as it wrote before SWMR: HDF5's default format, no SWMR mode."""
    saved = store_module.FILE_FORMAT, RunStore._start_live_reading
    store_module.FILE_FORMAT = None
    RunStore._start_live_reading = lambda self: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        store_module.FILE_FORMAT, RunStore._start_live_reading = saved  # type: ignore[method-assign]


def store_points(path: Path, points: int, flush_interval: float) -> float:
    """Seconds for RunStore to take `points` points of a 5-column sweep and close."""
    started = time.perf_counter()
    store = RunStore(path, backend="sim", station_text="", procedure_text="", flush_interval=flush_interval)
    step = store.begin_step(1, "bias_sweep", {}, {})
    step.declare_series({"bias_current": "A", "flux": "Phi0", "temperature": "K", "time": "s", "branch": "1"},
                        signal="flux", axes=["bias_current"])
    for index in range(points):
        step.append(bias_current=1e-6 * index, flux=1e-3 * index, temperature=1.5, time=float(index), branch=0.0)
    step.finish("completed")
    store.close()
    return time.perf_counter() - started


def store_lines(path: Path, lines: int, pixels: int) -> float:
    """Seconds for RunStore to take a `lines` x `pixels` image line by line and close."""
    rows = np.random.default_rng(7).normal(size=(lines, pixels))
    started = time.perf_counter()
    store = RunStore(path, backend="sim", station_text="", procedure_text="")
    step = store.begin_step(1, "raster_scan", {}, {})
    step.declare_image("flux", "Phi0", ("y", np.arange(lines) * 1e-6, "m"), ("x", np.arange(pixels) * 1e-6, "m"))
    for row in range(lines):
        step.write_line("flux", row, rows[row])
    step.finish("completed")
    store.close()
    return time.perf_counter() - started


def raw_points(path: Path, points: int) -> float:
    """Seconds for raw h5py, in SWMR mode, to append and flush `points` points one by one."""
    started = time.perf_counter()
    with h5py.File(path, "w", libver=store_module.FILE_FORMAT) as h5:
        columns = [h5.create_dataset(name, shape=(0,), maxshape=(None,), chunks=(256,), dtype="f8")
                   for name in ("bias_current", "flux", "temperature", "time", "branch")]
        h5.swmr_mode = True
        for index in range(points):
            for column in columns:
                column.resize((index + 1,))
                column[index] = float(index)
            h5.flush()
    return time.perf_counter() - started


def raw_lines(path: Path, lines: int, pixels: int) -> float:
    """Seconds for raw h5py, in SWMR mode, to write and flush an image line by line."""
    rows = np.random.default_rng(7).normal(size=(lines, pixels))
    started = time.perf_counter()
    with h5py.File(path, "w", libver=store_module.FILE_FORMAT) as h5:
        image = h5.create_dataset("flux", shape=(lines, pixels), chunks=(1, pixels), dtype="f8", fillvalue=np.nan)
        h5.swmr_mode = True
        for row in range(lines):
            image[row, :] = rows[row]
            h5.flush()
    return time.perf_counter() - started


def median_time(measure, repeats: int, folder: Path, *arguments) -> float:
    times = []
    for repeat in range(repeats):
        path = folder / f"{measure.__name__}-{repeat}-{time.perf_counter_ns()}.h5"
        times.append(measure(path, *arguments))
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat, nothing written")
    arguments = parser.parse_args()
    repeats = 1 if arguments.quick else arguments.repeats
    flushed_points, batched_points = (200, 2000) if arguments.quick else (2000, 50000)
    lines, pixels = (32, 64) if arguments.quick else (256, 256)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        workloads = [
            ("point, flushed one by one", flushed_points, "us",
             lambda: median_time(store_points, repeats, folder, flushed_points, 0.0),
             lambda: median_time(raw_points, repeats, folder, flushed_points)),
            ("point, in 0.5 s batches", batched_points, "us",
             lambda: median_time(store_points, repeats, folder, batched_points, 0.5), None),
            (f"line of {pixels} pixels, flushed", lines, "ms",
             lambda: median_time(store_lines, repeats, folder, lines, pixels),
             lambda: median_time(raw_lines, repeats, folder, lines, pixels)),
        ]
        for name, count, unit, swmr_measure, raw_measure in workloads:
            swmr = swmr_measure()
            with store_without_swmr():
                before = swmr_measure()
            raw = raw_measure() if raw_measure is not None else None
            scale = 1e6 if unit == "us" else 1e3
            rows.append({"workload": name, "count": count, "unit": unit, "swmr": scale * swmr / count,
                         "without_swmr": scale * before / count, "swmr_over_without": swmr / before,
                         "raw_h5py_swmr": None if raw is None else scale * raw / count,
                         "swmr_over_raw": None if raw is None else swmr / raw})
    print(f"h5py {h5py.version.version}, HDF5 {h5py.version.hdf5_version}, Python {sys.version.split()[0]}, "
          f"median of {repeats}\n")
    print("| workload | count | RunStore, SWMR | RunStore, before (no SWMR) | SWMR / before "
          "| raw h5py, SWMR | RunStore / raw |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        unit = row["unit"]
        raw = "-" if row["raw_h5py_swmr"] is None else f"{row['raw_h5py_swmr']:.1f} {unit}"
        over_raw = "-" if row["swmr_over_raw"] is None else f"{row['swmr_over_raw']:.2f}x"
        print(f"| {row['workload']} | {row['count']} | {row['swmr']:.1f} {unit} | {row['without_swmr']:.1f} {unit} "
              f"| {row['swmr_over_without']:.2f}x | {raw} | {over_raw} |")
    if arguments.quick:
        print("\nquick mode: results not written")
    else:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "swmr.json").write_text(json.dumps({"repeats": repeats, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
