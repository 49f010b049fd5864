"""`sqm demo`: the paper's experiment on the twin, written to HDF5 and PNG figures.

Six procedure files, one run file each:
- fig3_bias_loop: zero-field cool, park over the lower-right domain, the virgin bias
  sweep to +200 uA and the major loop (Fig. 3a, and 3b with the Oersted part removed);
- fig2_images: flux images after ZFC, at +100, +200 uA, remanent, at -200 uA,
  remanent, with the reconstructed current density (Fig. 2 d-l, and S2a);
- fig3cd_edge: line cuts across the lower edge versus bias (Fig. 3c-d);
- fig2c_transport: I-V curves at three temperatures and R(T) (Fig. 2c, S1a);
- fig4_field_loop: the two domains' field loops and images along them (Fig. 4);
- fig3f_thermal: remanence after anneals at increasing T_a, beside R(T_a) (Fig. 3f).
The numbers each figure rests on go to demo_summary.json. `main` is the command,
found by the core through the entry point group sqm.commands.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Callable

import numpy as np
from matplotlib.figure import Figure

from sqm.analysis.currents import image_correlation, oersted_subtraction
from sqm.cli import EXIT_ABORTED, EXIT_OK, report_outcome, run_with_progress
from sqm.readback import find_step, read_steps
from sqm.session import load
from sqm.station import DEFAULT_STATION
from sqm.stop_signals import StopSignals

from .analysis import edge_current_jump, summarize_bias_loop, summary_numbers
from .figures import (
    bias_loop_figure,
    edge_cut_figure,
    field_loop_figure,
    image_panels_figure,
    induced_loop_figure,
    oersted_subtraction_figure,
    save,
    thermal_erasure_figure,
    transport_figure,
)

PROCEDURES = DEFAULT_STATION.parent.parent / "procedures"
FIG3_PROCEDURE = PROCEDURES / "fig3_bias_loop.yaml"
FIG2_PROCEDURE = PROCEDURES / "fig2_images.yaml"
FIG3CD_PROCEDURE = PROCEDURES / "fig3cd_edge.yaml"
FIG2C_PROCEDURE = PROCEDURES / "fig2c_transport.yaml"
FIG4_PROCEDURE = PROCEDURES / "fig4_field_loop.yaml"
FIG3F_PROCEDURE = PROCEDURES / "fig3f_thermal.yaml"
GAUSS = 1e-4


Plots = dict[str, Figure]  # PNG file name -> the figure to write there


def save_plots(plots: Plots, out_dir: Path) -> list[Path]:
    """Write each figure to out_dir/<its file name>; the paths, in order."""
    return [save(figure, Path(out_dir) / name) for name, figure in plots.items()]


def bias_loop_plots(run_file: Path) -> tuple[Plots, dict]:
    """Fig. 3a-b from the run's last bias_sweep step, and the loop's features."""
    sweep = find_step(read_steps(run_file), "bias_sweep")
    current, flux, branch = sweep.data["bias_current"], sweep.data["flux"], sweep.data["branch"]
    summary = summarize_bias_loop(current, flux, branch)
    plots = {
        "fig3a_bias_loop.png": bias_loop_figure(current, flux, branch, summary),
        "fig3b_induced_loop.png": induced_loop_figure(current, flux, branch, summary),
    }
    return plots, summary_numbers(summary)


def image_plots(run_file: Path) -> tuple[Plots, dict]:
    """Fig. 2 d-l and S2a from the run's raster_scan steps (ZFC, +100, +200, 0, -200, 0 uA)."""
    images = [step for step in read_steps(run_file) if step.procedure == "raster_scan"]
    scans = [step for step in images if step.parameters["signal"]["value"] == "flux"]
    susceptometry = [step for step in images if step.parameters["signal"]["value"] == "susceptibility"]
    if len(scans) != 6 or len(susceptometry) != 1:
        raise ValueError(f"expected the images of fig2_images.yaml, found {len(scans)} flux and "
                         f"{len(susceptometry)} susceptometry")
    zfc, plus100, plus200, remanent_plus, minus200, remanent_minus = scans
    x, y = zfc.data["x"], zfc.data["y"]
    chi = susceptometry[0]

    def flux(step, title):
        return {"kind": "flux", "image": step.data["flux"], "x": x, "y": y, "title": title}

    def current(step, title):
        return {"kind": "current", "kx": step.data["Kx"], "ky": step.data["Ky"], "x": x, "y": y, "title": title}

    panels = [
        {"kind": "susceptibility", "image": chi.data["susceptibility"], "x": chi.data["x"], "y": chi.data["y"],
         "title": "b  susceptometry, right half"},
        flux(zfc, "d  after ZFC"),
        flux(plus100, "e  +100 \u00b5A"),
        current(plus100, "f  |K| at +100 \u00b5A"),
        flux(plus200, "g  +200 \u00b5A"),
        current(plus200, "h  |K| at +200 \u00b5A"),
        flux(remanent_plus, "i  remanent after +200 \u00b5A"),
        flux(minus200, "j  \u2212200 \u00b5A"),
        current(minus200, "k  |K| at \u2212200 \u00b5A"),
        flux(remanent_minus, "l  remanent after \u2212200 \u00b5A"),
    ]
    subtracted = oersted_subtraction(plus200.data["flux"], plus100.data["flux"])
    remanent = remanent_plus.data["flux"]
    correlation = image_correlation(remanent, subtracted)
    plots = {
        "fig2_images.png": image_panels_figure(panels, "Susceptometry, flux images and current density (Fig. 2)",
                                               columns=5),
        "figS2a_remanent.png": oersted_subtraction_figure(remanent, subtracted, x, y, correlation),
    }
    summary = {
        "zfc_contrast_Phi0": float(np.ptp(zfc.data["flux"])),
        "remanent_vs_oersted_subtracted_r": float(correlation),
        "remanent_plus_vs_minus_r": float(image_correlation(remanent, -remanent_minus.data["flux"])),
        "remanent_plus_max_Phi0": float(np.max(remanent)),
        "susceptibility_range_Phi0_per_A": [float(np.min(chi.data["susceptibility"])),
                                             float(np.max(chi.data["susceptibility"]))],
    }
    return plots, summary


def edge_cut_plots(run_file: Path) -> tuple[Plots, dict]:
    """Fig. 3c-d from the run's line_cut step."""
    cut = find_step(read_steps(run_file), "line_cut")
    currents, peak = cut.data["bias_current"], cut.data["peak_edge_current"]
    jump = edge_current_jump(currents, peak)
    plots = {"fig3cd_edge.png": edge_cut_figure(cut.data["distance"], cut.data["flux"], currents, peak, jump)}
    summary = {"bias_current_A": currents.tolist(), "peak_edge_current_A_per_m": peak.tolist(),
               "edge_current_jump_A": None if jump is None else [jump.last_on_trend, jump.first_off_trend]}
    return plots, summary


IV_THRESHOLD_V = 1e-6  # the critical current: where the voltage first exceeds this


def critical_currents(current, voltage, threshold: float = IV_THRESHOLD_V) -> dict[str, float]:
    """The critical current of each bias sign (A, signed): the first recorded point, while
    |I| grows away from zero, whose voltage has that sign and exceeds `threshold`; nan if none."""
    current, voltage = np.asarray(current), np.asarray(voltage)
    growing = np.sign(current) * np.diff(current, prepend=0.0) > 0
    found = {}
    for name, sign in (("positive", 1.0), ("negative", -1.0)):
        onset = np.flatnonzero(growing & (sign * current > 0) & (sign * voltage > threshold))
        found[name] = float(current[onset[0]]) if onset.size else float("nan")
    return found


def transport_plots(run_file: Path) -> tuple[Plots, dict]:
    """Fig. 2c (I-V at each temperature, both bias signs) and S1a (R(T))."""
    steps = read_steps(run_file)
    curves = []
    critical = {}
    for step in (step for step in steps if step.procedure == "iv_curve"):
        kelvin = float(np.median(step.data["temperature"]))
        current, voltage = step.data["bias_current"], step.data["voltage"]
        curves.append((kelvin, current, voltage))
        critical[f"{kelvin:.2f} K"] = critical_currents(current, voltage)
    rt = find_step(steps, "resistance_vs_temperature")
    plots = {"fig2c_transport.png": transport_figure(curves, rt.data["temperature"], rt.data["resistance"])}
    return plots, {"critical_current_A": critical,
                   "resistance_ohm": dict(zip(map(float, rt.data["setpoint"]), map(float, rt.data["resistance"])))}


def field_loop_plots(run_file: Path) -> tuple[Plots, dict]:
    """Fig. 4a (images at the paper's fields) and 4b (the two domains' loops)."""
    steps = read_steps(run_file)
    sweeps = [step for step in steps if step.procedure == "field_sweep"]
    field = np.concatenate([step.data["field"] for step in sweeps])
    lower = np.concatenate([step.data["flux_lower"] for step in sweeps])
    upper = np.concatenate([step.data["flux_upper"] for step in sweeps])
    scans = [step for step in steps if step.procedure == "raster_scan"]
    panels = []
    for index, step in enumerate(scans):
        value = step.parameters["field"]["value"] / GAUSS
        direction = "" if index == 0 else (" \u2191" if index < 4 or index == 6 else " \u2193")
        panels.append({"kind": "flux", "image": step.data["flux"], "x": step.data["x"], "y": step.data["y"],
                       "title": f"H = {value:+.2f} G{direction}"})
    plots = {
        "fig4a_field_images.png": image_panels_figure(panels, "Flux images along the field loop (Fig. 4a)",
                                                      columns=4, shared_scale=True),
        "fig4b_field_loop.png": field_loop_figure(field, lower, upper),
    }
    top = int(np.argmax(field))
    return plots, {
        "lower_remanence_Phi0": float(lower[top:][np.argmin(np.abs(field[top:]))]),
        "upper_remanence_Phi0": float(upper[top:][np.argmin(np.abs(field[top:]))]),
    }


def thermal_plots(run_file: Path) -> tuple[Plots, dict]:
    """Fig. 3f: remanence retained after each anneal temperature, beside R at T_a."""
    steps = read_steps(run_file)
    prepared = find_step(steps, "bias_sweep").data["flux"][-1]
    cycle = find_step(steps, "thermal_cycle")
    read = np.isfinite(cycle.data["flux_lower"])
    measured = np.isfinite(cycle.data["resistance"])
    anneal = cycle.data["anneal_temperature"][read]
    retained = cycle.data["flux_lower"][read] / prepared
    plots = {"fig3f_thermal.png": thermal_erasure_figure(anneal, retained, cycle.data["anneal_temperature"][measured],
                                                         cycle.data["resistance"][measured])}
    return plots, {"retained_fraction": dict(zip(map(float, anneal), map(float, retained))),
                   "lab_hours": float((cycle.data["time"][-1] - cycle.data["time"][0]) / 3600)}


def remanence_correlation(images_run: Path, field_loop_run: Path) -> float:
    """r between the remanent image after +200 uA (Fig. 2i) and the one after the field loop,
    back at 0 G (Fig. 4a), over the pixels both images cover: how alike the bias and the
    Meissner current leave the film (the paper: "appears similar")."""
    bias = [step for step in read_steps(images_run)
            if step.procedure == "raster_scan" and step.parameters["signal"]["value"] == "flux"][3]
    field = [step for step in read_steps(field_loop_run) if step.procedure == "raster_scan"][5]

    def on_common_pixels(step, xs, ys) -> np.ndarray:
        columns = np.isin(np.round(step.data["x"], 9), xs)
        rows = np.isin(np.round(step.data["y"], 9), ys)
        return step.data["flux"][np.ix_(rows, columns)]

    xs = np.intersect1d(np.round(bias.data["x"], 9), np.round(field.data["x"], 9))
    ys = np.intersect1d(np.round(bias.data["y"], 9), np.round(field.data["y"], 9))
    return float(image_correlation(on_common_pixels(bias, xs, ys), on_common_pixels(field, xs, ys)))


def _writing(make_plots: Callable[[Path], tuple[Plots, dict]]) -> Callable[[Path, Path], tuple[list[Path], dict]]:
    """A part's figure maker (DEMO_PARTS): its plots written to out_dir; their paths and numbers."""
    def make_figures(run_file: Path, out_dir: Path) -> tuple[list[Path], dict]:
        figures, summary = make_plots(run_file)
        return save_plots(figures, out_dir), summary

    return make_figures


# (name, procedure file, figure maker) in the order the demo runs them
DEMO_PARTS: list[tuple[str, Path, Callable[[Path, Path], tuple[list[Path], dict]]]] = [
    ("fig3_bias_loop", FIG3_PROCEDURE, _writing(bias_loop_plots)),
    ("fig2_images", FIG2_PROCEDURE, _writing(image_plots)),
    ("fig3cd_edge", FIG3CD_PROCEDURE, _writing(edge_cut_plots)),
    ("fig2c_transport", FIG2C_PROCEDURE, _writing(transport_plots)),
    ("fig4_field_loop", FIG4_PROCEDURE, _writing(field_loop_plots)),
    ("fig3f_thermal", FIG3F_PROCEDURE, _writing(thermal_plots)),
]


def write_summary(out_dir: Path, summary: dict) -> Path:
    path = Path(out_dir) / "demo_summary.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path


def main(out_dir: Path) -> int:
    """`sqm demo --out DIR`: each part's run file, then its figures, on stdout; the
    summary's path last; the loop's and the edge's numbers on stderr. The exit status
    of `sqm run` (see sqm.cli); a stop signal ends the demo before the next part."""
    out_dir = Path(out_dir)
    previous_runs = previous_run_files(out_dir)  # replaced once this demo's summary is written
    summary = {}
    lab_seconds = 0.0
    with StopSignals() as stops:
        for number, (name, procedure, make_figures) in enumerate(DEMO_PARTS, start=1):
            station, procedure_file = load(procedure, DEFAULT_STATION)
            if stops.stopped:
                print(f"sqm: stopped by {stops.first}; the demo ends before {name}", file=sys.stderr)
                return EXIT_ABORTED
            path, outcome = run_with_progress(station, procedure_file, out_dir, stops)
            print(path)
            if outcome.status != "completed":
                return report_outcome(outcome)
            lab_seconds += outcome.station_seconds
            print(f"run {number} of {len(DEMO_PARTS)}: {name} completed, {_lab_time(outcome.station_seconds)} "
                  "of lab time", file=sys.stderr)
            _warn_if_not_safe(outcome)
            figures, summary[name] = make_figures(path, out_dir)
            summary[name]["run"] = str(path)
            summary[name]["lab_seconds"] = outcome.station_seconds
            for figure in figures:
                print(figure)
    if {"fig2_images", "fig4_field_loop"} <= summary.keys():  # both parts ran (a test may run others)
        summary["fig4_field_loop"]["remanence_vs_bias_remanence_r"] = remanence_correlation(
            Path(summary["fig2_images"]["run"]), Path(summary["fig4_field_loop"]["run"]))
    print(write_summary(out_dir, summary))
    replaced = remove_run_files(previous_runs, keep={Path(part["run"]) for part in summary.values()})
    if previous_runs:
        print(f"replaced the previous demo's {replaced} run files in {out_dir}" if replaced == len(previous_runs) else
              f"replaced {replaced} of the previous demo's {len(previous_runs)} run files in {out_dir} "
              "(the others could not be removed)", file=sys.stderr)
    loop = summary["fig3_bias_loop"]
    print(
        f"bias loop: virgin minimum {loop['virgin_minimum'] * 1e6:.1f} uA, zero crossing "
        f"{loop['virgin_zero_crossing'] * 1e6:.1f} uA, switching {loop['switching_current'] * 1e6:.1f} uA, "
        f"remanence {loop['remanence'] * 1e6:+.1f} uPhi0",
        file=sys.stderr,
    )
    jump = summary["fig3cd_edge"]["edge_current_jump_A"]
    print("edge current: " + ("no jump" if jump is None else
                              f"jumps between {jump[0] * 1e6:.0f} and {jump[1] * 1e6:.0f} uA"), file=sys.stderr)
    print(f"demo completed: {len(summary)} runs, {_lab_time(lab_seconds)} of lab time", file=sys.stderr)
    return EXIT_OK


def _lab_time(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def _warn_if_not_safe(outcome) -> None:
    if outcome.safe_state_failures:
        print(f"sqm: WARNING: station not confirmed safe: {'; '.join(outcome.safe_state_failures)}", file=sys.stderr)


def previous_run_files(out_dir: Path) -> list[Path]:
    """The run files a previous demo wrote into `out_dir`: exactly those its
    demo_summary.json names as "run", and only those that are files in `out_dir` itself
    (a summary copied from elsewhere, or edited, never reaches outside the folder)."""
    try:
        summary = json.loads((Path(out_dir) / "demo_summary.json").read_text())
    except (OSError, ValueError):  # no previous demo here (or no summary it could read): nothing to replace
        return []
    if not isinstance(summary, dict):
        return []
    try:
        folder = Path(out_dir).resolve()
    except OSError:
        return []
    runs = []
    for part in summary.values():
        named = part.get("run") if isinstance(part, dict) else None
        if not isinstance(named, str) or not named.endswith(".h5"):
            continue
        path = Path(named)  # as the demo printed it: relative to where it ran, or absolute
        try:
            inside = path.parent.resolve() == folder and path.is_file()
        except OSError:
            continue
        if inside and path not in runs:
            runs.append(path)
    return runs


def remove_run_files(paths: list[Path], keep: set[Path]) -> int:
    """Remove `paths` (but never one of `keep`, this demo's own); how many went."""
    kept = {path.resolve() for path in keep}
    removed = 0
    for path in paths:
        try:
            if path.resolve() in kept:
                continue
            path.unlink()
            removed += 1
        except OSError:  # gone already, or not ours to remove: the count says so
            pass
    return removed
