"""Benchmark: the paper's bias loop (fig3) through the real drivers and the instrument
emulators (configs/stations/lab-emulated.yaml) beside the same procedure on the twin,
in one process: wall time, lab time, the loop's features from each, and the wire traffic
the drivers sustain (messages per second) beside a bare loop of `*IDN?` queries over the
same pyvisa-py socket.

    .venv/bin/python benchmarks/bench_emulated.py [--quick]

Prints Markdown tables (the README quotes them) and writes benchmarks/results/emulated.json.
`--quick`: a short bias sweep instead of fig3, 50 bare queries; nothing written.
Nothing here is asserted: figures, not tests.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sqm.clock import ScaledClock
from sqm.drivers.base import HardwareContext
from sqm.readback import find_step, read_steps
from sqm.session import run_procedure
from sqm.station import DEFAULT_STATION, Station
from sqm_paper.analysis import summarize_bias_loop

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EMULATED = REPO / "configs" / "stations" / "lab-emulated.yaml"
FIG3 = REPO / "configs" / "procedures" / "fig3_bias_loop.yaml"
QUICK = ("steps:\n  - zero_field_cool: {from_temperature: 8 K, to_temperature: 1.5 K}\n"
         "  - park: {x: 30 um, y: -15 um, height: 1 um}\n"
         "  - bias_sweep: {points: [0, 60 uA, 0], step: 5 uA, integration_time: 0.2 s}\n")
FEATURES = ("virgin_minimum", "virgin_zero_crossing", "switching_current", "remanence", "antisymmetry_error")


def run(procedure, station: Station, folder: Path) -> dict:
    try:
        messages_before = _messages(station)
        result = run_procedure(procedure, station, folder)
        messages = _messages(station) - messages_before
    finally:
        station.close()
    if result.outcome.status != "completed":
        raise RuntimeError(result.outcome.error)
    sweep = find_step(read_steps(result.path), "bias_sweep")
    features = {}
    if len(sweep.data["bias_current"]) > 100:  # the whole loop: its features
        loop = summarize_bias_loop(sweep.data["bias_current"], sweep.data["flux"], sweep.data["branch"])
        features = {name: getattr(loop, name) for name in FEATURES}
    return {"wall_s": result.wall_seconds, "lab_s": result.lab_seconds, "messages": messages, "features": features}


def _messages(station: Station) -> int:
    emulators = getattr(station.backend, "emulators", None)
    return 0 if emulators is None else emulators.messages()


def bare_queries(count: int) -> float:
    """Messages per second of `*IDN?` sent and read back over pyvisa-py to one emulator."""
    station = Station.from_file(EMULATED)
    try:
        address = station.backend.emulators.servers["voltmeter"].address
        context = HardwareContext(visa_library="@py", clock=ScaledClock(1.0))
        adapter = context.visa_adapter(address, read_termination="\n", write_termination="\n")
        started = time.perf_counter()
        for _ in range(count):
            adapter.write("*IDN?")
            adapter.read()
        elapsed = time.perf_counter() - started
        context.close()
    finally:
        station.close()
    return count / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short sweep, 50 bare queries, nothing written")
    arguments = parser.parse_args(argv)
    procedure = QUICK if arguments.quick else FIG3
    with tempfile.TemporaryDirectory() as folder:
        twin = run(procedure, Station.from_file(DEFAULT_STATION), Path(folder))
        emulated_station = Station.from_file(EMULATED)
        speed = emulated_station.clock.speed
        emulated = run(procedure, emulated_station, Path(folder))
    bare = bare_queries(50 if arguments.quick else 2000)
    rate = emulated["messages"] / emulated["wall_s"]
    name = "short bias sweep" if arguments.quick else "fig3_bias_loop"
    print(f"{name} on the twin and through the emulated station (speed {speed:g} lab s per wall s):\n")
    print("| station | wall time | lab time | messages on the wire | messages / wall s |")
    print("|---|---|---|---|---|")
    print(f"| twin (sim backend) | {twin['wall_s']:.2f} s | {twin['lab_s'] / 3600:.2f} h | - | - |")
    print(f"| emulated (real drivers, pyvisa-py, loopback) | {emulated['wall_s']:.2f} s | "
          f"{emulated['lab_s'] / 3600:.2f} h | {emulated['messages']} | {rate:.0f} "
          f"({rate / bare:.2f}x a bare *IDN? loop, {bare:.0f}/s) |")
    if twin["features"] and emulated["features"]:
        print("\n| loop feature | twin | emulated |\n|---|---|---|")
        for feature in FEATURES:
            scale, unit = (1e6, "uA") if "current" in feature or "minimum" in feature or "crossing" in feature else (
                1e6, "uPhi0")
            print(f"| {feature} | {twin['features'][feature] * scale:.2f} {unit} | "
                  f"{emulated['features'][feature] * scale:.2f} {unit} |")
    if arguments.quick:
        print("\nquick mode: results not written")
        return
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "emulated.json").write_text(json.dumps(
        {"speed": speed, "twin": twin, "emulated": emulated, "bare_queries_per_s": bare}, indent=2) + "\n")


if __name__ == "__main__":
    main()
