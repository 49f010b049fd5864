"""The figures a batch reads from each run, and the summary table (CSV and HDF5).

From the first sweep of a run (a `bias_sweep` or a `field_sweep`), on its first branch
that comes down: the switching point (where the flux peaks before the hysterons switch,
`sqm.analysis.loops.switching_point`) and the remanence (the flux at zero drive on that
branch). A run without such a sweep has no figures; the table leaves them empty.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..analysis.loops import split_branches, switching_point, value_at
from ..readback import read_steps

SWEEPS = {"bias_sweep": ("bias_current", "A"), "field_sweep": ("field", "T")}


@dataclass
class RunRow:
    """What one run gave: its file, how it ended, its lab and wall time, and its figures."""

    index: int
    name: str
    settings: dict[str, float]
    path: str
    status: str
    error: str = ""
    lab_seconds: float = float("nan")
    wall_seconds: float = float("nan")
    figures: dict[str, float] = field(default_factory=dict)


def sweep_signal(step) -> str:
    """The column a sweep step plots: `flux`, or a field sweep's first probe."""
    return "flux" if "flux" in step.data else sorted(key for key in step.data if key.startswith("flux_"))[0]


def loop_figures(path: str | Path) -> dict[str, float]:
    """{switching_<drive>_<unit>, remanence_Phi0} of the run's first sweep; {} without one."""
    for step in read_steps(path):
        if step.procedure not in SWEEPS or step.status != "completed":
            continue
        drive, unit = SWEEPS[step.procedure]
        signal = sweep_signal(step)
        for x, flux in split_branches(step.data[drive], step.data[signal], step.data["branch"]):
            if len(x) >= 5 and x[-1] < x[0]:  # the first branch that comes down
                figures = {f"switching_{drive}_{unit}": switching_point(x, flux)}
                figures["remanence_Phi0"] = (value_at(x, flux, 0.0, half_width=2) if x.min() <= 0.0 <= x.max()
                                             else math.nan)
                return figures
        return {}
    return {}


def _columns(rows: list[RunRow]) -> tuple[list[str], list[str]]:
    keys = list(dict.fromkeys(key for row in rows for key in row.settings))
    figures = list(dict.fromkeys(name for row in rows for name in row.figures))
    return keys, figures


def write_csv(rows: list[RunRow], path: Path) -> None:
    """One row per run: name, status, the varied keys, lab and wall time, the figures, the file."""
    keys, figures = _columns(rows)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run", "status", *keys, "lab_time_s", "wall_time_s", *figures, "file", "error"])
        for row in sorted(rows, key=lambda row: row.index):
            writer.writerow([row.name, row.status, *(repr(row.settings.get(key, math.nan)) for key in keys),
                             f"{row.lab_seconds:.6g}", f"{row.wall_seconds:.3f}",
                             *(repr(row.figures.get(name, math.nan)) for name in figures), row.path, row.error])


def write_hdf5(rows: list[RunRow], path: Path, units: dict[str, str]) -> None:
    """The same table as an NXdata group `summary` (columns as datasets, the first varied key
    its axis, the first figure its signal), so a NeXus viewer plots figure against key."""
    keys, figures = _columns(rows)
    ordered = sorted(rows, key=lambda row: row.index)
    with h5py.File(path, "w") as h5:
        h5.attrs["NX_class"] = "NXroot"
        h5.attrs["default"] = "summary"
        entry = h5.create_group("summary")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "data"
        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        if keys:
            data.attrs["axes"] = [keys[0]]
        if figures:
            data.attrs["signal"] = figures[0]
        for key in keys:
            dataset = data.create_dataset(key, data=np.array([row.settings.get(key, np.nan) for row in ordered]))
            dataset.attrs["units"] = units.get(key, "")
        for name in figures:
            dataset = data.create_dataset(name, data=np.array([row.figures.get(name, np.nan) for row in ordered]))
            dataset.attrs["units"] = name.rsplit("_", 1)[-1]
        entry.create_dataset("run", data=np.array([row.name for row in ordered], dtype=h5py.string_dtype()))
        entry.create_dataset("status", data=np.array([row.status for row in ordered], dtype=h5py.string_dtype()))
        entry.create_dataset("file", data=np.array([row.path for row in ordered], dtype=h5py.string_dtype()))
        entry.create_dataset("lab_time", data=np.array([row.lab_seconds for row in ordered])).attrs["units"] = "s"
