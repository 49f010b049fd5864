"""Benchmark: characterising the twin's nano-SQUID (configs/procedures/squid_characterisation.yaml:
I-V, interference pattern, working point) beside a bare loop of the same number of model
voltages, in one process; optionally the figure the README shows.

    .venv/bin/python benchmarks/bench_squid.py [--quick] [--figure docs/squid_characterisation.png]

Prints a Markdown table and the characterisation's results against the model, and writes
benchmarks/results/squid.json. `--quick`: a short I-V only, nothing written. Nothing here is
asserted: figures, not tests.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from sqm.session import run_procedure
from sqm.sims.nano_squid import PHI0, NanoSquid, NanoSquidSettings, rounded_transfer, rounded_voltage
from sqm.sims.squid_sensor import critical_currents, maximum_flux
from sqm.station import DEFAULT_STATION, Station

HERE = Path(__file__).resolve().parent
PROCEDURE = HERE.parent / "configs" / "procedures" / "squid_characterisation.yaml"
QUICK = "steps:\n  - set: {temperature: 8 K}\n  - squid_iv: {points: [0, 150 uA, 0], step: 5 uA}\n"


def characterise(procedure) -> tuple[dict, Path, float, float, int]:
    """Run the procedure on the twin: (each step's notes, the file, wall s, lab s, voltage
    readings taken, recorded or not: the critical-current search reads many per point)."""
    folder = Path(tempfile.mkdtemp(prefix="sqm-bench-squid-"))
    readings = 0
    original = NanoSquid.voltage_reading

    def counted(self, total_flux, integration_time):
        nonlocal readings
        readings += 1
        return original(self, total_flux, integration_time)

    NanoSquid.voltage_reading = counted  # type: ignore[method-assign]
    try:
        result = run_procedure(procedure, Station.from_file(DEFAULT_STATION), folder)
    finally:
        NanoSquid.voltage_reading = original  # type: ignore[method-assign]
    if result.outcome.status != "completed":
        raise RuntimeError(result.outcome.error)
    with h5py.File(result.path) as h5:
        steps = {h5[group].attrs["procedure"]: dict(h5[group].attrs) for group in h5
                 if isinstance(h5[group], h5py.Group) and "procedure" in h5[group].attrs}
    return steps, result.path, result.wall_seconds, result.lab_seconds, readings


def bare_voltages(count: int) -> float:
    """Wall s of `count` model voltages, one at a time (what each reading costs at least)."""
    settings = NanoSquidSettings()
    rounded_voltage(settings, 1e-4, 0.1)  # the table, built once
    started = time.perf_counter()
    for index in range(count):
        rounded_voltage(settings, 1e-4, index * 1e-4)
    return time.perf_counter() - started


def figure(path: Path, run_file: Path, destination: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sensor = NanoSquidSettings().sensor
    period = PHI0 / sensor.effective_area
    with h5py.File(run_file) as h5:
        iv = h5["002_squid_iv/data"]
        pattern = h5["003_squid_interference/data"]
        point = dict(h5["004_working_point"].attrs)
        bias, volts = iv["squid_bias"][()], iv["voltage"][()]
        fields, plus, minus = pattern["field"][()], pattern["critical_current_plus"][()], \
            pattern["critical_current_minus"][()]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(13, 3.8))
    left.plot(bias * 1e6, volts * 1e6, ".", ms=2)
    left.set(xlabel="SQUID bias (uA)", ylabel="V (uV)", title="I-V at zero field")
    phi = np.linspace(fields.min(), fields.max(), 2000) / period
    model_plus, model_minus = critical_currents(sensor, phi)
    middle.plot(fields * 1e4, plus * 1e6, ".", ms=3, label="Ic+ measured")
    middle.plot(fields * 1e4, minus * 1e6, ".", ms=3, label="|Ic-| measured")
    middle.plot(phi * period * 1e4, model_plus * 1e6, "-", lw=0.8, color="C0", alpha=0.6, label="model")
    middle.plot(phi * period * 1e4, model_minus * 1e6, "-", lw=0.8, color="C1", alpha=0.6)
    for sign, color in ((1, "C0"), (-1, "C1")):
        middle.axvline(maximum_flux(sensor, sign) * period * 1e4, color=color, ls=":", lw=0.8)
    middle.set(xlabel="applied field (G)", ylabel="critical current (uA)",
               title=f"interference: period {period * 1e3:.3f} mT, skew {maximum_flux(sensor, 1):+.3f} Phi0")
    middle.legend(fontsize=7)
    settings = NanoSquidSettings()
    field_axis = np.linspace(-10e-4, 10e-4, 1000)
    for level in (point["working_point_bias_A"], 100e-6, 120e-6):
        middle_volts = rounded_voltage(settings, level, field_axis / period)
        right.plot(field_axis * 1e4, middle_volts * 1e6, lw=1, label=f"{level * 1e6:.1f} uA")
    right.plot(point["working_point_field_T"] * 1e4, point["working_point_voltage_V"] * 1e6, "k*", ms=12,
               label=f"working point, {abs(point['working_point_transfer_V_per_Phi0']) * 1e3:.2f} mV/Phi0")
    right.set(xlabel="applied field (G)", ylabel="V (uV)", title="V(field) at three biases")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(destination, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short I-V only, nothing written")
    parser.add_argument("--figure", type=Path, help="write the characterisation figure here (PNG)")
    arguments = parser.parse_args(argv)
    steps, run_file, wall, lab, readings = characterise(QUICK if arguments.quick else PROCEDURE)
    bare = bare_voltages(readings)
    print("| measure | wall time | lab time | against |\n|---|---|---|---|")
    print(f"| {'I-V' if arguments.quick else 'I-V, interference pattern, working point'} ({readings} voltage readings) "
          f"| {wall:.2f} s | {lab / 3600:.2f} h | {wall / bare:.1f}x a bare loop of {readings} model voltages "
          f"({bare:.2f} s) |")
    if arguments.quick:
        print("\nquick mode: results not written")
        return
    sensor = NanoSquidSettings().sensor
    settings = NanoSquidSettings()
    pattern, point = steps["squid_interference"], steps["working_point"]
    fields = np.linspace(-1e-3, 1e-3, 2001)
    biases = np.linspace(50e-6, 130e-6, 801)
    best = float(np.abs(rounded_transfer(settings, biases[:, None],
                                         (fields * sensor.effective_area / PHI0)[None, :])).max())
    results = {
        "wall_s": wall, "lab_s": lab, "readings": readings, "bare_s": bare,
        "period_T": pattern["period_T"], "model_period_T": PHI0 / sensor.effective_area,
        "maximum_flux_plus_Phi0": pattern["maximum_flux_plus_Phi0"], "model_plus_Phi0": maximum_flux(sensor, 1),
        "maximum_flux_minus_Phi0": pattern["maximum_flux_minus_Phi0"], "model_minus_Phi0": maximum_flux(sensor, -1),
        "transfer_V_per_Phi0": abs(point["working_point_transfer_V_per_Phi0"]), "model_best_V_per_Phi0": best,
    }
    print("\n| result | measured on the twin | model |\n|---|---|---|")
    print(f"| period | {results['period_T'] * 1e3:.5f} mT | {results['model_period_T'] * 1e3:.5f} mT |")
    print(f"| Ic+ / Ic- peak | {results['maximum_flux_plus_Phi0']:+.4f} / {results['maximum_flux_minus_Phi0']:+.4f} "
          f"Phi0 | {results['model_plus_Phi0']:+.4f} / {results['model_minus_Phi0']:+.4f} Phi0 |")
    print(f"| working-point transfer | {results['transfer_V_per_Phi0'] * 1e3:.2f} mV/Phi0 | "
          f"{best * 1e3:.2f} mV/Phi0 (largest over the searched range) |")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "squid.json").write_text(json.dumps(results, indent=2) + "\n")
    if arguments.figure is not None:
        figure(arguments.figure, run_file, arguments.figure)
        print(f"\nfigure: {arguments.figure}")


if __name__ == "__main__":
    main()
