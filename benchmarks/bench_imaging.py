"""Benchmark: a 256 x 256 image on the twin, HDF5 included, against raw h5py writing
the same lines, measured side by side in one process.

    .venv/bin/python benchmarks/bench_imaging.py [--repeats 3]

Prints a Markdown table and writes benchmarks/results/imaging.json. No asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from sqm.readback import read_steps
from sqm.session import run_procedure
from sqm.station import DEFAULT_STATION, Station

HERE = Path(__file__).resolve().parent
SIZE = 256
# 256 pixels of 0.3 um: -38.25 ... 38.25 um; reconstruction off so the scan itself is timed
SCAN = """
steps:
  - raster_scan: {x: [-38.25 um, 38.25 um], y: [-38.25 um, 38.25 um], pixel_size: 0.3 um,
                  line_time: 0.5 s, bias_current: 100 uA, reconstruct: false}
"""


def time_twin_image(folder: Path) -> tuple[float, np.ndarray]:
    station = Station.from_file(DEFAULT_STATION)  # built (film solve, cached) outside the timing
    station.squid.world.sample.flux_image(1e-6, 0.0, 0.0, 1.5)
    started = time.perf_counter()
    result = run_procedure(SCAN, station, folder)
    elapsed = time.perf_counter() - started
    (step,) = read_steps(result.path)
    return elapsed, step.data["flux"]


def time_raw_h5py(image: np.ndarray, path: Path) -> float:
    """Raw h5py: the same chunked dataset, written and flushed line by line."""
    started = time.perf_counter()
    with h5py.File(path, "w") as h5:
        dataset = h5.create_dataset("flux", shape=image.shape, dtype="f8", chunks=(1, image.shape[1]))
        for row, line in enumerate(image):
            dataset[row] = line
            h5.flush()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    twins, raws = [], []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for repeat in range(arguments.repeats):
            elapsed, image = time_twin_image(folder / f"twin{repeat}")
            assert image.shape == (SIZE, SIZE), image.shape
            twins.append(elapsed)
            raws.append(time_raw_h5py(image, folder / f"raw{repeat}.h5"))
    pixels = SIZE * SIZE
    results = {
        "pixels": pixels,
        "twin_image_s": statistics.median(twins),
        "twin_pixels_per_s": pixels / statistics.median(twins),
        "raw_h5py_s": statistics.median(raws),
        "twin_over_raw": statistics.median(t / r for t, r in zip(twins, raws)),
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "imaging.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| measure | value |\n|---|---|")
    print(f"| 256 x 256 image on the twin, HDF5 included (median of {arguments.repeats}) | "
          f"{results['twin_image_s']:.2f} s = {results['twin_pixels_per_s']:.0f} pixels/s |")
    print(f"| raw h5py, same lines written and flushed one by one | {1e3 * results['raw_h5py_s']:.1f} ms |")
    print(f"| twin image / raw h5py | {results['twin_over_raw']:.1f}x |")


if __name__ == "__main__":
    main()
