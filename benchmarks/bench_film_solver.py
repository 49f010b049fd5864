"""Benchmark: the Pearl film solver (sims/film/pearl.py) against SuperScreen.

Problem: a 100 x 50 um rectangle, Lambda = lambda^2/d = 5 um (lambda 1.22 um,
d 0.3 um), in a uniform out-of-plane field B0; Bz on a plane 1 um above the film,
over the film and a 10 um margin. Measured: the RMS difference of Bz from
SuperScreen's at its finest practical mesh, relative to B0 (goal < 2 %), and the
wall time of our solve against SuperScreen's mesh-and-solve (goal: >= 100x faster).

How it runs. SuperScreen is a benchmark-only optional dependency and lives in its
own venv, which never sees our package: this script runs our solver in the
project's venv, writes the comparison points to an .npz file, re-runs itself with
the SuperScreen venv's python in `--superscreen-worker` mode (that mode imports
only numpy and superscreen), and reads SuperScreen's fields back from another .npz.

    python3 -m venv /tmp/ssvenv
    /tmp/ssvenv/bin/pip install -r benchmarks/requirements-superscreen.txt
    .venv/bin/python benchmarks/bench_film_solver.py [--superscreen-python /tmp/ssvenv/bin/python]
        [--edges 2 1.5 1] [--runs 1:2 0.5:2 1:4 0.5:4 0.25:4] [--repeats 3] [--quick]

Our runs are CELL_UM:PAD_FACTOR. The padding matters: the periodic images of this
strongly diamagnetic film, which fills most of its window, add a near-uniform
positive field of ~0.6 % of B0 at pad_factor 2; pad_factor 4 cuts it ~8x.

SuperScreen at 1 um edges needs ~50 s and ~8 GB (its dense matrices grow as
(edge)^-4); 0.75 um would not fit in 24 GB. Without a SuperScreen python the script
still times our solver and reports SuperScreen as skipped.
Prints a Markdown table and writes benchmarks/results/film_solver.json. `--quick`:
our solver at 1 um cells (pad 2) once, and SuperScreen (if its python is there) at
a coarse 4 um mesh only; the table printed, nothing written (`--edges` with no value
skips SuperScreen). Nothing here is asserted: figures, not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
UM = 1e-6
WIDTH_UM, HEIGHT_UM = 100.0, 50.0  # film, centred at the origin
PEARL_LENGTH_UM = 5.0  # Lambda = lambda^2 / d = 1.22^2 / 0.3 um
HEIGHT_ABOVE_UM = 1.0  # plane of the field comparison
MARGIN_UM = 10.0  # window beyond the film
APPLIED_MT = 0.1  # B0 = mu0 H; the problem is linear, its value only sets the scale
FULL_RUNS, FULL_EDGES = ["1:2", "0.5:2", "1:4", "0.5:4", "0.25:4"], [2.0, 1.5, 1.0]
QUICK_RUNS, QUICK_EDGES = ["1:2"], [4.0]


def comparison_points() -> tuple[np.ndarray, np.ndarray]:
    """x, y (um) of the comparison lattice: 1 um spacing on half-integers, film + margin."""
    x = np.arange(-(WIDTH_UM / 2 + MARGIN_UM) + 0.5, WIDTH_UM / 2 + MARGIN_UM, 1.0)
    y = np.arange(-(HEIGHT_UM / 2 + MARGIN_UM) + 0.5, HEIGHT_UM / 2 + MARGIN_UM, 1.0)
    return x, y


# Our solver (project venv) -------------------------------------------------------------
def solve_ours(spacing_um: float, pad_factor: float):
    """One full solve at cell size `spacing_um`: (grid, g, solver)."""
    from sqm.sims.film.grid import Grid
    from sqm.sims.film.pearl import PearlSolver

    dx = spacing_um * UM
    # An even number of cells centred at 0 puts cell faces on the film edges.
    nx = int(round((WIDTH_UM + 2 * MARGIN_UM) / spacing_um))
    ny = int(round((HEIGHT_UM + 2 * MARGIN_UM) / spacing_um))
    grid = Grid(nx, ny, dx, pad_factor=pad_factor)
    X, Y = grid.mesh()
    film = (np.abs(X) < WIDTH_UM / 2 * UM) & (np.abs(Y) < HEIGHT_UM / 2 * UM)
    solver = PearlSolver(grid, film, PEARL_LENGTH_UM * UM)
    g = solver.screen(APPLIED_MT * 1e-3, tol=1e-7)
    return grid, g, solver


def field_on_lattice(grid, g: np.ndarray, z: float, x_um: np.ndarray, y_um: np.ndarray):
    """Total Bz / B0 at height z on the lattice x_um, y_um.

    The sheet field at z is band-limited (exp(-k z)), so it is moved exactly onto the
    lattice by a Fourier phase shift: cell centres + (shift) land on lattice points."""
    from sqm.sims.film.grid import sheet_bz_spectrum

    spectrum = sheet_bz_spectrum(grid, grid.to_k(g), z)
    shift_x = (x_um[0] * UM - grid.x[0]) % grid.dx
    shift_y = (y_um[0] * UM - grid.y[0]) % grid.dx
    spectrum = spectrum * np.exp(1j * (grid.kx * shift_x + grid.ky * shift_y))
    field = grid.from_k(spectrum) / (APPLIED_MT * 1e-3) + 1.0
    stride = int(round(1.0 * UM / grid.dx))
    start_x = int(round((x_um[0] * UM - shift_x - grid.x[0]) / grid.dx))
    start_y = int(round((y_um[0] * UM - shift_y - grid.y[0]) / grid.dx))
    sampled = field[start_y::stride, start_x::stride][: len(y_um), : len(x_um)]
    assert sampled.shape == (len(y_um), len(x_um)), sampled.shape
    return sampled


def time_ours(spacing_um: float, pad_factor: float, repeats: int) -> dict:
    """Best wall time of set-up + solve + field at 1 um, and the field on the lattice."""
    from sqm.sims.film.grid import sheet_bz
    from sqm.sims.film.pearl import PearlSolver

    solve_ours(spacing_um, pad_factor)  # warm-up: FFT plans, imports
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        grid, g, solver = solve_ours(spacing_um, pad_factor)
        sheet_bz(grid, g, HEIGHT_ABOVE_UM * UM)
        times.append(time.perf_counter() - started)
    # The same solve without the preconditioner, for its iteration count and time.
    plain = PearlSolver(grid, solver.film_mask, PEARL_LENGTH_UM * UM, preconditioned=False)
    started = time.perf_counter()
    plain.screen(APPLIED_MT * 1e-3, tol=1e-7, max_iterations=20000)
    plain_seconds = time.perf_counter() - started
    x_um, y_um = comparison_points()
    return {
        "spacing_um": spacing_um,
        "pad_factor": pad_factor,
        "window_cells": list(grid.shape),
        "padded_cells": list(grid.padded_shape),
        "film_cells": int(solver.film_mask.sum()),
        "cg_iterations": solver.last.iterations,
        "seconds": min(times),
        "unpreconditioned_cg_iterations": plain.last.iterations,
        "unpreconditioned_solve_seconds": plain_seconds,
        "field": field_on_lattice(grid, g, HEIGHT_ABOVE_UM * UM, x_um, y_um),
    }


# SuperScreen (its own venv; numpy and superscreen only) -------------------------------
def superscreen_worker(points_file: str, result_file: str) -> None:
    """Solve with SuperScreen at each requested edge length; write fields and times."""
    import superscreen as sc

    request = np.load(points_file)
    x_um, y_um = request["x_um"], request["y_um"]
    X, Y = np.meshgrid(x_um, y_um)
    positions = np.column_stack([X.ravel(), Y.ravel()])
    results = {}
    for edge in request["edges_um"]:
        started = time.perf_counter()
        layer = sc.Layer("base", Lambda=float(request["pearl_length_um"]), z0=0.0)
        film = sc.Polygon(
            "film", layer="base",
            points=sc.geometry.box(float(request["width_um"]), float(request["height_um"]),
                                   points=400),
        )
        device = sc.Device("rectangle", layers=[layer], films=[film], length_units="um")
        device.make_mesh(max_edge_length=float(edge), buffer=0)
        meshed = time.perf_counter()
        solutions = sc.solve(
            device, applied_field=sc.sources.ConstantField(float(request["applied_mT"])),
            field_units="mT", current_units="uA", progress_bar=False,
        )
        solved = time.perf_counter()
        field = solutions[-1].field_at_position(
            positions, zs=float(request["z_um"]), units="mT", with_units=False
        )
        done = time.perf_counter()
        key = f"{float(edge):g}"
        results[f"field_{key}"] = np.asarray(field, dtype=float).reshape(X.shape) / float(
            request["applied_mT"]
        )
        results[f"vertices_{key}"] = len(device.meshes["film"].sites)
        results[f"mesh_s_{key}"] = meshed - started
        results[f"solve_s_{key}"] = solved - meshed
        results[f"field_s_{key}"] = done - solved
        print(f"superscreen edge {key} um: {results[f'vertices_{key}']} vertices, mesh "
              f"{meshed - started:.1f} s, solve {solved - meshed:.1f} s", flush=True)
    results["version"] = sc.__version__
    np.savez(result_file, **results)


def run_superscreen(python: str, edges: list[float]) -> dict | None:
    """SuperScreen's fields and timings per edge, or None (with the reason printed)."""
    if not Path(python).exists():
        print(f"SuperScreen skipped: no python at {python} (see the set-up at the top)")
        return None
    x_um, y_um = comparison_points()
    with tempfile.TemporaryDirectory() as folder:
        request, answer = Path(folder) / "points.npz", Path(folder) / "superscreen.npz"
        np.savez(request, x_um=x_um, y_um=y_um, edges_um=np.asarray(edges, dtype=float),
                 pearl_length_um=PEARL_LENGTH_UM, width_um=WIDTH_UM, height_um=HEIGHT_UM,
                 applied_mT=APPLIED_MT, z_um=HEIGHT_ABOVE_UM)
        completed = subprocess.run(
            [python, __file__, "--superscreen-worker", str(request), str(answer)],
            capture_output=True, text=True,
        )
        if completed.returncode != 0:
            print("SuperScreen failed:\n" + completed.stderr[-3000:])
            return None
        print(completed.stdout, end="")
        data = np.load(answer)
        return {key: data[key] for key in data.files}


# Comparison ----------------------------------------------------------------------------
def rms_differences(ours: np.ndarray, reference: np.ndarray) -> dict:
    """RMS of (ours - reference) in units of B0 over the whole lattice, over the film,
    and over the film without its outer 2 um (edges are where meshes differ most)."""
    x_um, y_um = comparison_points()
    X, Y = np.meshgrid(x_um, y_um)
    over_film = (np.abs(X) < WIDTH_UM / 2) & (np.abs(Y) < HEIGHT_UM / 2)
    inner = (np.abs(X) < WIDTH_UM / 2 - 2) & (np.abs(Y) < HEIGHT_UM / 2 - 2)
    difference = ours - reference
    return {
        "rms_all": float(np.sqrt(np.mean(difference**2))),
        "rms_film": float(np.sqrt(np.mean(difference[over_film] ** 2))),
        "rms_film_inner": float(np.sqrt(np.mean(difference[inner] ** 2))),
        "max_all": float(np.abs(difference).max()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--superscreen-python", default=os.environ.get(
        "SQM_SUPERSCREEN_PYTHON", "/tmp/ssvenv/bin/python"))
    parser.add_argument("--edges", type=float, nargs="*", default=None,
                        help=f"SuperScreen max edge lengths (um); the last is the reference (default {FULL_EDGES}, "
                             f"{QUICK_EDGES} with --quick)")
    parser.add_argument("--runs", nargs="*", default=None,
                        help=f"our runs as CELL_UM:PAD_FACTOR; cells must divide 1 um (default {FULL_RUNS}, "
                             f"{QUICK_RUNS} with --quick)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one coarse run each, once, nothing written")
    parser.add_argument("--superscreen-worker", nargs=2, metavar=("POINTS", "RESULT"),
                        help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.superscreen_worker:
        superscreen_worker(*arguments.superscreen_worker)
        return
    if arguments.edges is None:
        arguments.edges = QUICK_EDGES if arguments.quick else FULL_EDGES
    if arguments.runs is None:
        arguments.runs = QUICK_RUNS if arguments.quick else FULL_RUNS
    repeats = 1 if arguments.quick else arguments.repeats

    ours = [time_ours(float(run.split(":")[0]), float(run.split(":")[1]), repeats)
            for run in arguments.runs]
    superscreen = run_superscreen(arguments.superscreen_python, arguments.edges) \
        if arguments.edges else None

    results = {
        "problem": {"width_um": WIDTH_UM, "height_um": HEIGHT_UM,
                    "pearl_length_um": PEARL_LENGTH_UM, "z_um": HEIGHT_ABOVE_UM,
                    "margin_um": MARGIN_UM, "lattice_spacing_um": 1.0},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__},
        "ours": [{key: value for key, value in run.items() if key != "field"} for run in ours],
        "superscreen": None,
    }
    if superscreen is not None:
        reference_edge = f"{arguments.edges[-1]:g}"
        reference = superscreen[f"field_{reference_edge}"]
        reference_seconds = float(superscreen[f"mesh_s_{reference_edge}"]
                                  + superscreen[f"solve_s_{reference_edge}"])
        results["superscreen"] = {
            "version": str(superscreen["version"]),
            "reference_edge_um": arguments.edges[-1],
            "runs": [
                {
                    "edge_um": edge,
                    "vertices": int(superscreen[f"vertices_{edge:g}"]),
                    "mesh_s": float(superscreen[f"mesh_s_{edge:g}"]),
                    "solve_s": float(superscreen[f"solve_s_{edge:g}"]),
                    "field_s": float(superscreen[f"field_s_{edge:g}"]),
                    **{f"vs_reference_{key}": value for key, value in rms_differences(
                        superscreen[f"field_{edge:g}"], reference).items()},
                }
                for edge in arguments.edges
            ],
        }
        for run, summary in zip(ours, results["ours"]):
            summary.update(rms_differences(run["field"], reference))
            summary["speedup_vs_reference"] = reference_seconds / run["seconds"]

    if not arguments.quick:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "film_solver.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    if arguments.quick:
        print("\nquick mode: results not written")


def print_table(results: dict) -> None:
    print("| solver | resolution | unknowns | time | CG iterations (unpreconditioned) "
          "| RMS dBz / B0 (all) | RMS (film) | RMS (film - 2 um edge) | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|")
    for run in results["ours"]:
        rms = [f"{100 * run[key]:.2f} %" if key in run else "n/a"
               for key in ("rms_all", "rms_film", "rms_film_inner")]
        speedup = f"{run['speedup_vs_reference']:.0f}x" if "speedup_vs_reference" in run else "n/a"
        print(f"| ours (FFT + PCG) | dx = {run['spacing_um']:g} um, pad {run['pad_factor']:g} "
              f"({run['padded_cells'][1]} x {run['padded_cells'][0]}) | {run['film_cells']} "
              f"| {1e3 * run['seconds']:.0f} ms | {run['cg_iterations']} "
              f"({run['unpreconditioned_cg_iterations']} in "
              f"{1e3 * run['unpreconditioned_solve_seconds']:.0f} ms) | {rms[0]} | {rms[1]} "
              f"| {rms[2]} | {speedup} |")
    if results["superscreen"] is None:
        print("| SuperScreen | skipped | | | | | | | |")
        return
    for run in results["superscreen"]["runs"]:
        print(f"| SuperScreen {results['superscreen']['version']} | edge {run['edge_um']:g} um "
              f"| {run['vertices']} | {run['mesh_s'] + run['solve_s']:.1f} s (mesh "
              f"{run['mesh_s']:.1f} + solve {run['solve_s']:.1f}) | - "
              f"| {100 * run['vs_reference_rms_all']:.2f} % "
              f"| {100 * run['vs_reference_rms_film']:.2f} % "
              f"| {100 * run['vs_reference_rms_film_inner']:.2f} % | reference "
              f"{results['superscreen']['reference_edge_um']:g} um |")


if __name__ == "__main__":
    main()
