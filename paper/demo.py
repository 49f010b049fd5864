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
from pathlib import Path
from typing import Callable

import numpy as np

from sqm.analysis.currents import image_correlation, oersted_subtraction
from sqm.cli import EXIT_ABORTED, report_outcome, run_with_progress
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


def bias_loop_figures(run_file: Path, out_dir: Path) -> tuple[list[Path], dict]:
    """Fig. 3a-b from the run's last bias_sweep step, and the loop's features."""
    sweep = find_step(read_steps(run_file), "bias_sweep")
    current, flux, branch = sweep.data["bias_current"], sweep.data["flux"], sweep.data["branch"]
    summary = summarize_bias_loop(current, flux, branch)
    figures = [
        bias_loop_figure(current, flux, branch, summary, out_dir / "fig3a_bias_loop.png"),
        induced_loop_figure(current, flux, branch, summary, out_dir / "fig3b_induced_loop.png"),
    ]
    return figures, summary_numbers(summary)


def image_figures(run_file: Path, out_dir: Path) -> tuple[list[Path], dict]:
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
        current(plus100, "f  J at +100 \u00b5A"),
        flux(plus200, "g  +200 \u00b5A"),
        current(plus200, "h  J at +200 \u00b5A"),
        flux(remanent_plus, "i  remanent after +200 \u00b5A"),
        flux(minus200, "j  \u2212200 \u00b5A"),
        current(minus200, "k  J at \u2212200 \u00b5A"),
        flux(remanent_minus, "l  remanent after \u2212200 \u00b5A"),
    ]
    subtracted = oersted_subtraction(plus200.data["flux"], plus100.data["flux"])
    remanent = remanent_plus.data["flux"]
    correlation = image_correlation(remanent, subtracted)
    figures = [
        image_panels_figure(panels, out_dir / "fig2_images.png",
                            "Susceptometry, flux images and current density (Fig. 2)", columns=5),
        oersted_subtraction_figure(remanent, subtracted, x, y, correlation, out_dir / "figS2a_remanent.png"),
    ]
    summary = {
        "zfc_contrast_Phi0": float(np.ptp(zfc.data["flux"])),
        "remanent_vs_oersted_subtracted_r": float(correlation),
        "remanent_plus_vs_minus_r": float(image_correlation(remanent, -remanent_minus.data["flux"])),
        "remanent_plus_max_Phi0": float(np.max(remanent)),
        "susceptibility_range_Phi0_per_A": [float(np.min(chi.data["susceptibility"])),
                                             float(np.max(chi.data["susceptibility"]))],
    }
    return figures, summary


def edge_cut_figures(run_file: Path, out_dir: Path) -> tuple[list[Path], dict]:
    """Fig. 3c-d from the run's line_cut step."""
    cut = find_step(read_steps(run_file), "line_cut")
    currents, peak = cut.data["bias_current"], cut.data["peak_edge_current"]
    jump = edge_current_jump(currents, peak)
    figure = edge_cut_figure(cut.data["distance"], cut.data["flux"], currents, peak, out_dir / "fig3cd_edge.png", jump)
    summary = {"bias_current_A": currents.tolist(), "peak_edge_current_A_per_m": peak.tolist(),
               "edge_current_jump_A": None if jump is None else [jump.last_on_trend, jump.first_off_trend]}
    return [figure], summary


def transport_figures(run_file: Path, out_dir: Path) -> tuple[list[Path], dict]:
    """Fig. 2c (I-V at each temperature) and S1a (R(T))."""
    steps = read_steps(run_file)
    curves = []
    critical = {}
    for step in (step for step in steps if step.procedure == "iv_curve"):
        kelvin = float(np.median(step.data["temperature"]))
        up = step.data["branch"] == 0
        current, voltage = step.data["bias_current"][up], step.data["voltage"][up]
        curves.append((kelvin, current, voltage))
        above = np.flatnonzero(voltage > 1e-6)
        critical[f"{kelvin:.2f} K"] = float(current[above[0]]) if above.size else float("nan")
    rt = find_step(steps, "resistance_vs_temperature")
    figure = transport_figure(curves, rt.data["temperature"], rt.data["resistance"], out_dir / "fig2c_transport.png")
    return [figure], {"critical_current_A": critical,
                      "resistance_ohm": dict(zip(map(float, rt.data["setpoint"]), map(float, rt.data["resistance"])))}


def field_loop_figures(run_file: Path, out_dir: Path) -> tuple[list[Path], dict]:
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
        direction = "" if index == 0 else (" ↑" if index < 4 or index == 6 else " ↓")
        panels.append({"kind": "flux", "image": step.data["flux"], "x": step.data["x"], "y": step.data["y"],
                       "title": f"H = {value:+.2f} G{direction}"})
    figures = [
        image_panels_figure(panels, out_dir / "fig4a_field_images.png",
                            "Flux images along the field loop (Fig. 4a)", columns=4),
        field_loop_figure(field, lower, upper, out_dir / "fig4b_field_loop.png"),
    ]
    top = int(np.argmax(field))
    return figures, {
        "lower_remanence_Phi0": float(lower[top:][np.argmin(np.abs(field[top:]))]),
        "upper_remanence_Phi0": float(upper[top:][np.argmin(np.abs(field[top:]))]),
    }


def thermal_figures(run_file: Path, out_dir: Path) -> tuple[list[Path], dict]:
    """Fig. 3f: remanence retained after each anneal temperature, beside R at T_a."""
    steps = read_steps(run_file)
    prepared = find_step(steps, "bias_sweep").data["flux"][-1]
    cycle = find_step(steps, "thermal_cycle")
    read = np.isfinite(cycle.data["flux_lower"])
    measured = np.isfinite(cycle.data["resistance"])
    anneal = cycle.data["anneal_temperature"][read]
    retained = cycle.data["flux_lower"][read] / prepared
    figure = thermal_erasure_figure(anneal, retained, cycle.data["anneal_temperature"][measured],
                                    cycle.data["resistance"][measured], out_dir / "fig3f_thermal.png")
    return [figure], {"retained_fraction": dict(zip(map(float, anneal), map(float, retained))),
                      "lab_hours": float((cycle.data["time"][-1] - cycle.data["time"][0]) / 3600)}


# (name, procedure file, figure maker) in the order the demo runs them
DEMO_PARTS: list[tuple[str, Path, Callable[[Path, Path], tuple[list[Path], dict]]]] = [
    ("fig3_bias_loop", FIG3_PROCEDURE, bias_loop_figures),
    ("fig2_images", FIG2_PROCEDURE, image_figures),
    ("fig3cd_edge", FIG3CD_PROCEDURE, edge_cut_figures),
    ("fig2c_transport", FIG2C_PROCEDURE, transport_figures),
    ("fig4_field_loop", FIG4_PROCEDURE, field_loop_figures),
    ("fig3f_thermal", FIG3F_PROCEDURE, thermal_figures),
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
    summary = {}
    with StopSignals() as stops:
        for name, procedure, make_figures in DEMO_PARTS:
            station, procedure_file = load(procedure, DEFAULT_STATION)
            if stops.stopped:
                print(f"sqm: stopped by {stops.first}; the demo ends before {name}", file=sys.stderr)
                return EXIT_ABORTED
            path, outcome = run_with_progress(station, procedure_file, out_dir, stops)
            print(path)
            if outcome.status != "completed":
                return report_outcome(outcome)
            figures, summary[name] = make_figures(path, out_dir)
            summary[name]["run"] = str(path)
            summary[name]["lab_seconds"] = outcome.station_seconds
            for figure in figures:
                print(figure)
    print(write_summary(out_dir, summary))
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
    return report_outcome(outcome)
