"""Benchmark: finding the surface on the twin, a touchdown, a 5 x 5 plane fit and a coarse
approach from 200 um, their wall time beside the lab time they stand for (the touchdown
also beside a bare loop of the same instrument calls: the twin's readings and z moves,
without the procedure); and the picture of a scan over a tilted sample, level and at
constant height above the fitted plane.

    .venv/bin/python benchmarks/bench_surface.py [--repeats 3] [--quick] [--figure docs/tilted_scan.png]

Prints a Markdown table (the README quotes it) and writes benchmarks/results/surface.json.
`--quick`: one repeat, a 2 x 2 plane fit, a coarse approach from 50 um, nothing written. Nothing is asserted: figures.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from sqm.analysis.currents import image_correlation
from sqm.pacing import CleanupPacer
from sqm.readback import find_step, read_steps
from sqm.roles import TouchdownSensor
from sqm.session import run_procedure
from sqm.station import DEFAULT_STATION, Station

HERE = Path(__file__).resolve().parent
PAPER = HERE.parent / "configs" / "samples" / "fese_flake.yaml"
UM = 1e-6
SCAN_HEIGHT_UM = 1.0  # the raster_scan default height the tilted-scan picture uses


def twin(sample: Path | None = None, **sim) -> Station:
    data = yaml.safe_load(DEFAULT_STATION.read_text())
    data["sim"].update({"start_temperature": "1.5 K", **sim})
    if sample is not None:
        data["sim"]["sample"] = str(sample)
    return Station.from_text(yaml.safe_dump(data))


def tilted_sample(folder: Path, degrees: float) -> Path:
    data = yaml.safe_load(PAPER.read_text())
    data["surface"] = {"height_offset": "0 um", "tilt": [-math.tan(math.radians(degrees)), 0.0]}
    path = folder / f"tilted-{degrees:g}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def timed_run(text: str, station: Station, folder: Path) -> tuple[float, float, Path]:
    """(wall s, lab s, run file) of one run."""
    started = time.perf_counter()
    result = run_procedure(text, station, folder)
    if result.outcome.status != "completed":
        raise RuntimeError(result.outcome.error)
    return time.perf_counter() - started, result.lab_seconds, result.path


def bare_readings(count: int) -> float:
    """Wall s of `count` twin readings of the bridge, each after a 20 nm z step (no procedure)."""
    station = twin()
    scanner, sensor = station.scanner, station.role(TouchdownSensor)
    pacer = CleanupPacer(station.clock)
    started = time.perf_counter()
    for index in range(count):
        # the adapter's own z primitive: the bare instrument call, without the surface checks
        scanner._move_z(10 * UM - index * 20e-9, pacer)
        sensor.read_signal(0.3, pacer)
    return time.perf_counter() - started


def tilted_images(folder: Path, degrees: float) -> dict[str, np.ndarray]:
    """The remanence after +200 uA on the flat flake (level) and on the tilted one (level,
    and at constant height above the fitted plane), noise-free."""
    scan = ("{x: [-35 um, 35 um], y: [-24 um, -4 um], pixel_size: 0.5 um, line_time: 0.5 s, reconstruct: false, "
            f"height: {SCAN_HEIGHT_UM} um")
    base = ("steps:\n  - zero_field_cool: {from_temperature: 8 K, to_temperature: 1.5 K}\n{fit}"
            "  - bias_sweep: {points: [0, 200 uA, 0], step: 10 uA, integration_time: 0.1 s}\n"
            f"  - raster_scan: {scan}, height_mode: level}}\n{{plane}}")
    images = {}
    _, _, path = timed_run(base.replace("{fit}", "").replace("{plane}", ""), twin(flux_noise=0.0), folder)
    images["flat sample, level"] = find_step(read_steps(path), "raster_scan").data["flux"]
    fit = "  - plane_fit: {x: [-40 um, 40 um], y: [-30 um, 30 um], points: [3, 3]}\n"
    plane = f"  - raster_scan: {scan}, height_mode: plane}}\n"
    _, _, path = timed_run(base.replace("{fit}", fit).replace("{plane}", plane),
                           twin(tilted_sample(folder, degrees), flux_noise=0.0), folder)
    scans = [step for step in read_steps(path) if step.procedure == "raster_scan"]
    images[f"tilted {degrees:g} deg, level"] = scans[0].data["flux"]
    images[f"tilted {degrees:g} deg, plane mode"] = scans[1].data["flux"]
    return images


def figure(images: dict[str, np.ndarray], degrees: float, height_um: float, path: Path) -> None:
    """Top: the three images on one scale. Bottom: the sensor's height above the tilted
    surface along x in either mode, and each tilted image minus the flat one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flat = images["flat sample, level"]
    scale = float(np.abs(flat).max()) * 1e3
    extent = [-35, 35, -24, -4]
    fig, axes = plt.subplots(2, 3, figsize=(15, 6.2), constrained_layout=True)
    for axis, (title, image) in zip(axes[0], images.items()):
        shown = axis.imshow(image * 1e3, origin="lower", extent=extent, cmap="RdBu_r", vmin=-scale, vmax=scale)
        axis.set_title(f"{title}: r = {image_correlation(image, flat):.3f} with the flat one")
        axis.set_ylabel("y (\u00b5m)")
    fig.colorbar(shown, ax=axes[0], label="flux (m\u03a6\u2080)")
    # The level scan keeps the approach's z, set at the first point (x = -35 um); the surface
    # falls by tan(tilt) per um of x, so the height grows along each line.
    x = np.linspace(extent[0], extent[1], 141)
    rise = math.tan(math.radians(degrees))
    axes[1, 0].plot(x, height_um + rise * (x - extent[0]), label="level (one z)")
    axes[1, 0].plot(x, np.full_like(x, height_um), label="plane mode")
    axes[1, 0].set_ylabel("height above the surface (\u00b5m)")
    axes[1, 0].set_title(f"the sensor's height over the {degrees:g} degree tilt")
    axes[1, 0].legend()
    difference_scale = scale / 4
    for axis, title in zip(axes[1, 1:], list(images)[1:]):
        shown = axis.imshow((images[title] - flat) * 1e3, origin="lower", extent=extent, cmap="PuOr_r",
                            vmin=-difference_scale, vmax=difference_scale)
        axis.set_title(f"{title} minus the flat one")
        axis.set_ylabel("y (\u00b5m)")
    fig.colorbar(shown, ax=axes[1, 1:], label="flux difference (m\u03a6\u2080)")
    for axis in axes.flat:
        axis.set_xlabel("x (\u00b5m)")
    fig.suptitle(f"Remanent flux after +200 \u00b5A at {height_um:g} \u00b5m: a level scan over a tilted sample "
                 "drifts in height; one following the fitted plane does not")
    fig.savefig(path, dpi=80)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one repeat, a 2 x 2 plane fit, nothing written")
    parser.add_argument("--figure", type=Path, help="also draw the tilted-scan picture here")
    arguments = parser.parse_args(argv)
    repeats = 1 if arguments.quick else arguments.repeats
    points = 2 if arguments.quick else 5
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        touchdowns, fits, readings = [], [], []
        for _ in range(repeats):
            wall, lab, path = timed_run("steps:\n  - touchdown: {x: 30 um, y: -15 um}\n", twin(), folder)
            count = len(find_step(read_steps(path), "touchdown").data["z"])
            touchdowns.append((wall, lab, count))
            readings.append(bare_readings(count))
            text = f"steps:\n  - plane_fit: {{x: [-40 um, 40 um], y: [-30 um, 30 um], points: [{points}, {points}]}}\n"
            station = twin(tilted_sample(folder, 1.0))
            wall, lab, _ = timed_run(text, station, folder)
            fits.append((wall, lab, station.scanner.surface.tilt_degrees))
        distance = 50 if arguments.quick else 200
        coarse = []
        for _ in range(repeats):
            station = twin(surface_distance=f"{distance} um")
            wall, lab, path = timed_run("steps:\n  - coarse_approach: {}\n", station, folder)
            sweeps = len(np.unique(find_step(read_steps(path), "coarse_approach").data["coarse_steps"]))
            coarse.append((wall, lab, sweeps))
        images = tilted_images(folder, 1.0) if arguments.figure or not arguments.quick else {}
    touchdown_wall = statistics.median(t[0] for t in touchdowns)
    bare = statistics.median(readings)
    fit_wall = statistics.median(f[0] for f in fits)
    rows = [
        f"| touchdown (paper's flake, {touchdowns[0][2]} readings of 0.3 s from the top of the z range) | "
        f"{touchdown_wall:.2f} s | {touchdowns[0][1]:.0f} s | {touchdown_wall / bare:.1f}x a bare loop of the same "
        f"readings and z steps ({bare:.2f} s) |",
        f"| plane fit, {points} x {points} touchdowns over 80 x 60 um (1 degree tilt; found "
        f"{fits[0][2]:.4f} degree) | {fit_wall:.2f} s | {fits[0][1]:.0f} s | - |",
        f"| coarse approach, the surface starting {distance} um below z = 0 ({coarse[0][2]} sweeps of the fine "
        "z's 35 um) | "
        f"{statistics.median(c[0] for c in coarse):.2f} s | {coarse[0][1] / 3600:.2f} h | - |",
    ]
    print(f"Finding the surface on the twin (median of {repeats}):\n")
    print("| measure | wall time | lab time | against |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    if images:
        flat = images["flat sample, level"]
        print("\n" + ", ".join(f"{name}: r = {image_correlation(image, flat):.4f}" for name, image in images.items()))
        if arguments.figure:
            figure(images, 1.0, SCAN_HEIGHT_UM, arguments.figure)
    if arguments.quick:
        print("\nquick mode: results not written")
        return
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "surface.json").write_text(json.dumps({
        "touchdown": {"wall_s": touchdown_wall, "lab_s": touchdowns[0][1], "readings": touchdowns[0][2],
                      "bare_loop_s": bare},
        "plane_fit": {"points": points * points, "wall_s": fit_wall, "lab_s": fits[0][1],
                      "tilt_found_degrees": fits[0][2]},
        "coarse_approach": {"distance_m": distance * UM, "sweeps": coarse[0][2], "lab_s": coarse[0][1],
                            "wall_s": statistics.median(c[0] for c in coarse)},
        "tilted_scan_r": {name: image_correlation(image, images["flat sample, level"])
                          for name, image in images.items()},
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
