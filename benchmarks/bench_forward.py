"""Benchmark: the forward flux image (ForwardModel.flux) against a bare FFT pair of
the same transform size, and the FFT field against the direct O(N^4) Biot-Savart
sum, measured side by side in one process.

    .venv/bin/python benchmarks/bench_forward.py [--repeats 21] [--quick]

"The same transform size": a window of N^2 cells is zero padded (pad_factor 2) to
a 2N x 2N array before transforming, so the flux image at N^2 is set against
rfft2 + irfft2 of a 2N x 2N array (scipy.fft with workers=-1, and numpy.fft).
Times are medians over the repeats, after one warm-up call (kernel precomputation
is not timed: ForwardModel does it once, in its constructor).

Prints a Markdown table and writes benchmarks/results/forward.json. `--quick`: a
64^2 window against the bare pair and a 32^2 one against the direct sum (pad 2), one
repeat, the tables printed, nothing written. Nothing here is asserted: figures, not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import scipy.fft

from sqm.sims.film.forward import ForwardModel, direct_biot_savart_bz
from sqm.sims.film.grid import Grid

HERE = Path(__file__).resolve().parent
UM = 1e-6
HEIGHT, LOOP_RADIUS, CELL = 1 * UM, 0.5 * UM, 0.25 * UM
# (windows timed against the bare FFT pair, window and pad factors of the direct-sum oracle)
FULL = ((256, 512), 64, (2.0, 4.0))
QUICK = ((64,), 32, (2.0,))


def median_seconds(function, repeats: int) -> float:
    """Median wall time (s) of `function()` over `repeats` calls, after a warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def time_flux_against_bare_pair(window: int, repeats: int) -> dict[str, float]:
    """Seconds of ForwardModel.flux on a window^2 grid and of bare FFT pairs of its padded size."""
    grid = Grid(window, window, CELL)
    model = ForwardModel(grid, HEIGHT, LOOP_RADIUS)
    g = np.random.default_rng(0).normal(size=grid.shape)
    padded = grid.embed(g)
    shape = grid.padded_shape
    flux_s = median_seconds(lambda: model.flux(g), repeats)
    scipy_s = median_seconds(
        lambda: scipy.fft.irfft2(scipy.fft.rfft2(padded, workers=-1), s=shape, workers=-1), repeats)
    numpy_s = median_seconds(lambda: np.fft.irfft2(np.fft.rfft2(padded), s=shape), repeats)
    return {"window": window, "transform": shape[0], "flux_s": flux_s, "scipy_pair_s": scipy_s,
            "numpy_pair_s": numpy_s, "flux_over_scipy_pair": flux_s / scipy_s,
            "flux_over_numpy_pair": flux_s / numpy_s}


def compare_with_direct_sum(window: int, pad_factor: float, repeats: int) -> dict[str, float]:
    """Bz of a Gaussian g (width 1 um) by FFT and by the direct Biot-Savart sum of its
    analytic sheet current: times and max |difference| / max |Bz|."""
    grid = Grid(window, window, CELL, pad_factor=pad_factor)
    x, y = grid.mesh()
    width = 1 * UM
    g = 1e-3 * np.exp(-(x**2 + y**2) / (2 * width**2))
    sheet_kx, sheet_ky = -y / width**2 * g, x / width**2 * g
    model = ForwardModel(grid, HEIGHT, LOOP_RADIUS)
    direct = direct_biot_savart_bz(grid, sheet_kx, sheet_ky, HEIGHT)
    difference = np.max(np.abs(model.bz(g) - direct)) / np.max(np.abs(direct))
    direct_s = median_seconds(lambda: direct_biot_savart_bz(grid, sheet_kx, sheet_ky, HEIGHT), max(1, repeats // 7))
    fft_s = median_seconds(lambda: model.bz(g), repeats)
    return {"window": window, "pad_factor": pad_factor, "direct_s": direct_s, "fft_s": fft_s,
            "direct_over_fft": direct_s / fft_s, "max_relative_difference": float(difference)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--quick", action="store_true", help="small windows, one repeat, nothing written")
    arguments = parser.parse_args(argv)
    repeats = 1 if arguments.quick else arguments.repeats
    windows, oracle_window, pads = QUICK if arguments.quick else FULL
    flux_rows = [time_flux_against_bare_pair(window, repeats) for window in windows]
    oracle_rows = [compare_with_direct_sum(oracle_window, pad, repeats) for pad in pads]
    results = {"repeats": repeats, "cpus": os.cpu_count(), "cell_m": CELL, "height_m": HEIGHT,
               "loop_radius_m": LOOP_RADIUS, "flux_vs_bare_fft_pair": flux_rows, "fft_vs_direct_sum": oracle_rows}
    if not arguments.quick:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "forward.json").write_text(json.dumps(results, indent=2) + "\n")

    print(f"Forward flux image vs a bare FFT pair of the same (padded) size; median of {repeats}, "
          f"{os.cpu_count()} CPUs\n")
    print("| window | transform | ForwardModel.flux | scipy rfft2+irfft2 | numpy rfft2+irfft2 | flux / scipy pair "
          "| flux / numpy pair |\n|---|---|---|---|---|---|---|")
    for row in flux_rows:
        print(f"| {row['window']}^2 | {row['transform']}^2 | {1e3 * row['flux_s']:.2f} ms | "
              f"{1e3 * row['scipy_pair_s']:.2f} ms | {1e3 * row['numpy_pair_s']:.2f} ms | "
              f"{row['flux_over_scipy_pair']:.2f} | {row['flux_over_numpy_pair']:.2f} |")
    print("\nFFT Bz vs the direct O(N^4) Biot-Savart sum (Gaussian g, h = 1 um, dx = 0.25 um)\n")
    print("| window | pad | direct sum | FFT (ForwardModel.bz) | direct / FFT | max rel. difference |\n"
          "|---|---|---|---|---|---|")
    for row in oracle_rows:
        print(f"| {row['window']}^2 | {row['pad_factor']:g} | {1e3 * row['direct_s']:.0f} ms | "
              f"{1e3 * row['fft_s']:.3f} ms | {row['direct_over_fft']:.0f}x | {row['max_relative_difference']:.1e} |")
    if arguments.quick:
        print("\nquick mode: results not written")


if __name__ == "__main__":
    main()
