"""Benchmark: a 256 x 256 image on the twin, HDF5 included, against raw h5py writing
the same lines, measured side by side in one process.

    .venv/bin/python benchmarks/bench_imaging.py [--repeats 3] [--quick]

Prints a Markdown table and writes benchmarks/results/imaging.json. `--quick`: a
64 x 64 image, one repeat, the table printed, nothing written. No asserts on time.
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
SIZE, QUICK_SIZE = 256, 64
PIXEL_UM = 0.3


def scan_text(size: int) -> str:
    """A size x size scan of 0.3 um pixels centred on the flake (256: -38.25 ... 38.25 um);
    reconstruction off so the scan itself is timed."""
    half = f"{(size - 1) * PIXEL_UM / 2:.6g} um"
    return f"""
steps:
  - raster_scan: {{x: [-{half}, {half}], y: [-{half}, {half}], pixel_size: {PIXEL_UM} um,
                  line_time: 0.5 s, bias_current: 100 uA, reconstruct: false}}
"""


SCAN = scan_text(SIZE)


def time_twin_image(folder: Path, scan: str = SCAN) -> tuple[float, np.ndarray]:
    station = Station.from_file(DEFAULT_STATION)  # built (film solve, cached) outside the timing
    station.squid.world.sample.flux_image(1e-6, 0.0, 0.0, 1.5)
    started = time.perf_counter()
    result = run_procedure(scan, station, folder)
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help=f"a {QUICK_SIZE} x {QUICK_SIZE} image, once, nothing written")
    arguments = parser.parse_args(argv)
    size, repeats = (QUICK_SIZE, 1) if arguments.quick else (SIZE, arguments.repeats)
    twins, raws = [], []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for repeat in range(repeats):
            elapsed, image = time_twin_image(folder / f"twin{repeat}", scan_text(size))
            assert image.shape == (size, size), image.shape
            twins.append(elapsed)
            raws.append(time_raw_h5py(image, folder / f"raw{repeat}.h5"))
    pixels = size * size
    results = {
        "pixels": pixels,
        "twin_image_s": statistics.median(twins),
        "twin_pixels_per_s": pixels / statistics.median(twins),
        "raw_h5py_s": statistics.median(raws),
        "twin_over_raw": statistics.median(t / r for t, r in zip(twins, raws)),
    }
    if not arguments.quick:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "imaging.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| measure | value |\n|---|---|")
    print(f"| {size} x {size} image on the twin, HDF5 included (median of {repeats}) | "
          f"{results['twin_image_s']:.2f} s = {results['twin_pixels_per_s']:.0f} pixels/s |")
    print(f"| raw h5py, same lines written and flushed one by one | {1e3 * results['raw_h5py_s']:.1f} ms |")
    print(f"| twin image / raw h5py | {results['twin_over_raw']:.1f}x |")
    if arguments.quick:
        print("\nquick mode: results not written")


if __name__ == "__main__":
    main()
