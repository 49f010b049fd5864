"""Benchmark: building a sample on the twin, everything a run needs (the bias and Meissner
responses, the magnetisation patterns, the flux maps at the scan height, the
susceptometry lattice), first with an empty solve cache, then from the cache, and for a
sample of twice the area at the same cell size; each in a fresh process, beside the
reference of one bare FFT pair (rfft2 + irfft2) on the sample's padded grid.

    .venv/bin/python benchmarks/bench_sample_build.py [--repeats 3] [--quick]

Prints a Markdown table (the README quotes it) and writes benchmarks/results/sample_build.json.
`--quick`: the small Pearl disk, one repeat, nothing written. Nothing is asserted here:
figures, not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PAPER = REPO / "configs" / "samples" / "fese_flake.yaml"
DISK = REPO / "configs" / "samples" / "pearl_disk.yaml"
STATION = REPO / "configs" / "stations" / "sim.yaml"

# Run in a child: build the twin's station on a sample and make everything a run reads,
# then report the seconds (imports apart) and the padded grid's FFT pair time.
CHILD = r"""
import json, sys, time
started = time.perf_counter()
import numpy as np, scipy.fft, yaml
from sqm.station import Station
import sqm.sims.backend  # the twin's modules (scipy's solvers with them): every sqm command pays these
from sqm.units import to_si
to_si("1 um", "length")  # pint's unit registry, made on first use by any command
imported = time.perf_counter()
station_text = yaml.safe_dump({**yaml.safe_load(open(sys.argv[1]).read()),
                               "sim": {**yaml.safe_load(open(sys.argv[1]).read())["sim"], "sample": sys.argv[2]}})
station = Station.from_text(station_text)
world = station.squid.world
built = time.perf_counter()
world.position[2] = 1e-6
world.temperature = world.settings.base_temperature  # the film superconducting, as a run finds it after a cool-down
world.sensor_signal(np.array([0.0]), np.array([0.0]), "susceptibility")  # the lattice at the scan height
ready = time.perf_counter()
grid = world.sample.geometry.grid
array = np.random.default_rng(0).random(grid.padded_shape)
pairs = []
for _ in range(5):
    t = time.perf_counter()
    scipy.fft.irfft2(scipy.fft.rfft2(array), s=array.shape)
    pairs.append(time.perf_counter() - t)
print(json.dumps({"imports_s": imported - started, "station_s": built - imported, "susceptometry_s": ready - built,
                  "total_s": ready - imported, "fft_pair_s": sorted(pairs)[2], "padded": list(grid.padded_shape),
                  "cells": int(world.sample.geometry.mask.sum())}))
"""


def build_in_a_fresh_process(sample: Path, cache: Path) -> dict:
    environment = {**os.environ, "SQM_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", CHILD, str(STATION), str(sample)], capture_output=True, text=True,
                          env=environment, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def twice_the_area(sample: Path, folder: Path) -> Path:
    """The sample with every coordinate scaled by sqrt(2): twice the area, the same cell size."""
    scale = 2 ** 0.5
    data = yaml.safe_load(sample.read_text())

    def scaled(point):
        return [f"{float(str(value).split()[0]) * scale:.4f} um" for value in point]

    data["outline"]["polygon"] = [scaled(point) for point in data["outline"]["polygon"]]
    for region in data.get("regions", {}).values():
        region["polygon"] = [scaled(point) for point in region["polygon"]]
    for lead in data["leads"].values():
        lead["at"] = scaled(lead["at"])
    data["probes"] = {name: scaled(point) for name, point in data.get("probes", {}).items()}
    data["name"] += " (twice the area)"
    path = folder / "twice_the_area.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def measure(sample: Path, repeats: int, folder: Path) -> tuple[dict, dict]:
    """(first build with an empty cache, start from the cache): medians over `repeats`."""
    first, cached = [], []
    for index in range(repeats):
        cache = folder / f"cache-{sample.stem}-{index}"
        first.append(build_in_a_fresh_process(sample, cache))
        cached.append(build_in_a_fresh_process(sample, cache))
    return _median(first), _median(cached)


def _median(runs: list[dict]) -> dict:
    """Each timing's median over the runs; the other entries (shapes, counts) of the first."""
    return {key: statistics.median(run[key] for run in runs) if isinstance(value, float) else value
            for key, value in runs[0].items()}


def row(measure_name: str, result: dict, goal: str) -> str:
    pairs = result["total_s"] / result["fft_pair_s"]
    return (f"| {measure_name} | {result['total_s']:.2f} s (responses and maps {result['station_s']:.2f} s, "
            f"susceptometry {result['susceptometry_s']:.2f} s) | {pairs:,.0f} FFT pairs of "
            f"{result['padded'][0]} x {result['padded'][1]} ({result['fft_pair_s'] * 1e3:.1f} ms) | {goal} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="the small disk, one repeat, nothing written")
    arguments = parser.parse_args(argv)
    repeats = 1 if arguments.quick else arguments.repeats
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        sample = DISK if arguments.quick else PAPER
        first, cached = measure(sample, repeats, folder)
        rows = [row(f"first build, {sample.stem} ({first['cells']} film cells)", first, "<= 2 s"),
                row(f"start from the solve cache, {sample.stem}", cached, "<= 0.2 s")]
        results = {"first_build": first, "cached_start": cached}
        if not arguments.quick:
            double, _ = measure(twice_the_area(PAPER, folder), repeats, folder)
            rows.append(row(f"first build, twice the area ({double['cells']} film cells)", double,
                            f"{double['total_s'] / first['total_s']:.2f}x the paper's"))
            results["twice_the_area"] = double
    print(f"Sample build on the twin (median of {repeats}, each in a fresh process; the imports and pint's "
          f"unit registry, which every command pays first, {first['imports_s']:.2f} s apart):\n")
    print("| measure | wall time | against bare FFTs | goal |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    if arguments.quick:
        print("\nquick mode: results not written")
        return
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "sample_build.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
