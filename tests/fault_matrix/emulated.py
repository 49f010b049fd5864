"""Runs on the emulated station with a fault injected mid-step, and what they left: the
run file, the exit status, and the truth of the twin's world (is the bias off, the field
down, the sensor withdrawn?) against what the file says of the safe state.

The station is configs/stations/lab-emulated-visa.yaml (every instrument on the wire)
with every emulator on a free port, already cold, and a short VISA timeout (0.3 s) on the
instrument that will hang.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import h5py
import yaml

from sqm.cli import EXIT_STATUS
from sqm.emulators.faults import Fault
from sqm.events import LineRecorded, PointRecorded, StepStarted
from sqm.session import load, new_run_path, start_run
from sqm.station import Station

REPO = Path(__file__).resolve().parents[2]
EMULATED = REPO / "configs" / "stations" / "lab-emulated-visa.yaml"  # every instrument on the wire
SHORT_TIMEOUT = "0.3 s"

# The kinds of step, each small: a few points before and after the fault.
STEPS = {
    "bias sweep": "bias_sweep: {points: [0, 60 uA, 0], step: 5 uA, integration_time: 0.2 s, settle: 0.1 s}",
    "field sweep": "field_sweep: {points: [0, 0.6 G, 0], step: 0.1 G, probes: {park: [30 um, -15 um]}, "
                   "integration_time: 0.2 s}",
    "raster scan": "raster_scan: {x: [-2 um, 2 um], y: [-2 um, 2 um], pixel_size: 1 um, line_time: 0.5 s, "
                   "bias_current: 20 uA, reconstruct: false}",
    "thermal cycle": "thermal_cycle: {anneal_temperature: 3 K, hold: 20 s, record_interval: 2 s, timeout: 20 min}",
    "transport": "iv_curve: {points: [0, 60 uA, 0], step: 5 uA, integration_time: 0.1 s, settle: 0.05 s}",
}

# (row, role, fault kind, lasts in lab s or None for good)
FAULTS = [
    ("current source hangs", "current_source", "no_reply", None),
    ("current source garbles a reply", "current_source", "garbage", None),
    ("voltmeter queues an error", "voltmeter", "error_entry", None),
    ("magnet quenches", "magnet", "quench", None),
    ("magnet connection dropped", "magnet", "drop", None),
    ("magnet dropped, back after 60 s", "magnet", "drop", 60.0),
    ("thermometer reads invalid for 60 s", "temperature", "invalid_reading", 60.0),
    ("heater fault for 60 s", "temperature", "heater_fault", 60.0),
    ("SQUID unlocks for 30 s", "squid", "squid_unlock", 30.0),
    ("scanner hangs", "scanner", "no_reply", None),
]


def station_text(hung: str | None = None, speed: float = 1000.0) -> str:
    """lab-emulated-visa.yaml, every emulator on a free port, the stage already cold; the role
    that will hang (`hung`) with a short VISA timeout, so it is told quickly. The others keep
    their drivers' 5 s: an emulator's answer may wait for the twin to solve the film at a new
    temperature (a fraction of a second), which a real instrument never does."""
    data = yaml.safe_load(EMULATED.read_text())
    emulated = data["emulated"]
    emulated["speed"] = speed
    emulated["sim"]["start_temperature"] = "1.5 K"
    for role, block in emulated["hardware"].items():
        block["address"] = "TCPIP::127.0.0.1::0::SOCKET"
        if role == hung:
            block["timeout"] = SHORT_TIMEOUT
    return yaml.safe_dump(data, sort_keys=False)


@dataclass
class FaultRun:
    status: str  # the run's, as the file records it
    error: str
    exit_status: int
    file_safe_state: str  # the file's word on the safe state: "safe", or what was not confirmed
    unsafe_in_world: list[str]  # the roles the twin's world says are not safe at the end
    points_reported: int  # points and lines the runner reported for the faulted step
    points_in_file: int  # points and lines of that step in the file
    fault_injected: bool
    wall_seconds: float


class _InjectAfter:
    """Runner events: inject `fault` on `role` once the step has recorded `after` points or lines."""

    def __init__(self, station: Station, role: str, fault: Fault, after: int) -> None:
        self.station, self.role, self.fault, self.after = station, role, fault, after
        self.reported = 0
        self.injected = threading.Event()

    def __call__(self, event) -> None:
        if isinstance(event, StepStarted):
            self.reported = 0
        elif isinstance(event, (PointRecorded, LineRecorded)):
            self.reported += 1
            if self.reported == self.after and not self.injected.is_set():
                clock = self.station.clock
                at = clock.now()
                lasts = self.fault.lasts
                self.station.backend.emulators.add_fault(self.role, Fault(self.fault.kind, at, lasts))
                self.injected.set()


def run_with_fault(step: str, role: str, kind: str, lasts: float | None, folder: Path, after: int = 3) -> FaultRun:
    """Run one step on a fresh emulated station, injecting the fault after `after` points."""
    started = time.perf_counter()
    station = Station.from_text(station_text(hung=role if kind == "no_reply" else None), source="fault-matrix.yaml")
    try:
        text = f"steps:\n  - {step}\n"
        station, procedure_file = load(text, station)
        inject = _InjectAfter(station, role, Fault(kind, 0.0, lasts), after)
        path = new_run_path(folder, "fault")
        runner, store = start_run(station, procedure_file, path, on_event=inject, unattended=True)
        runner.join()
        store.close()
        outcome = runner.outcome
        unsafe = _unsafe_in_world(station)
    finally:
        station.close()
    with h5py.File(path, "r") as h5:
        status = str(h5.attrs["status"])
        safe_state = str(h5.attrs.get("safe_state", ""))
        error = str(h5.attrs.get("error", ""))
        group = h5[sorted(name for name in h5 if name[:3].isdigit())[-1]]
        in_file = _points_in(group)
    return FaultRun(status, error, EXIT_STATUS[outcome.status], safe_state, unsafe, inject.reported, in_file,
                    inject.injected.is_set(), time.perf_counter() - started)


def _points_in(group: h5py.Group) -> int:
    """Points of a series, or filled lines of an image, a step's data holds."""
    total = 0
    for name in [key for key in group if key == "data" or key.startswith("data_")]:
        data = group[name]
        signal = data[str(data.attrs["signal"])]
        if signal.ndim == 1:
            total += signal.shape[0]
        else:
            import numpy as np

            names = [str(data.attrs["signal"])] + [str(n) for n in data.attrs.get("auxiliary_signals", [])]
            total += sum(int(np.any(np.isfinite(data[n][()]), axis=1).sum()) for n in names)
    return total


def _unsafe_in_world(station: Station) -> list[str]:
    """The roles the world says are not safe: bias flowing, field not down, sensor not withdrawn."""
    unsafe = []
    with station.backend.emulators.link.world() as world:
        if world.bias_output and abs(world.bias_current) > 1e-9:
            unsafe.append("current_source")
        if abs(world.field) > 1e-7:  # 1 mG
            unsafe.append("magnet")
        x, y, z = world.position
        if z - float(world.contact.surface_z(x, y)) < station.limits.scanner_z.maximum - 0.05e-6:
            unsafe.append("scanner")
        if world.temperature > station.limits.temperature.maximum:
            unsafe.append("temperature")
    return unsafe
