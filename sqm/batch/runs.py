"""One twin run of a batch, as a worker does it: a job in, a row of the summary out.

A job carries texts, not objects (the station, the sample if varied, the procedure), so
it travels to any worker as it is; the worker writes the run's HDF5 file into the
batch's folder (a folder every worker can reach, for a scheduler on other PCs) and
returns the figures the analysis reads from it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..readback import open_run_file
from .summary import RunRow, loop_figures


@dataclass(frozen=True)
class RunJob:
    """Run `procedure_text` on the twin of `station_text`, into `<out_dir>/<name>.h5`."""

    index: int
    name: str
    settings: dict[str, float]  # the varied keys and their values (in the files' units)
    station_text: str
    procedure_text: str
    out_dir: str
    sample_text: str | None = None  # the varied sample, written at `sample_file` first
    sample_file: str | None = None


def run_job(job: RunJob) -> RunRow:
    """Run one job (on a worker, or in this process) to its end; never raises for the run's
    own failure (the row says it), only for a job that cannot start (bad texts)."""
    row = _run(job)
    if row.status == "completed":
        row.figures = loop_figures(row.path)
    return row


def run_series(job: RunJob, step_group: str, column: str) -> np.ndarray:
    """Run one job and return column `column` of its step `step_group` (a fit's model
    evaluation); NaN if the run did not complete. The file is removed: only the numbers count."""
    row = _run(job)
    try:
        if row.status != "completed":
            return np.array([np.nan])
        with open_run_file(row.path) as h5:
            return np.asarray(h5[f"{step_group}/data/{column}"][()], dtype=float)
    finally:
        Path(row.path).unlink(missing_ok=True)


def _run(job: RunJob) -> RunRow:
    from ..session import load, start_run
    from ..station import Station
    from ..store import reserve_run_path

    started = time.perf_counter()
    out_dir = Path(job.out_dir)
    if job.sample_text is not None and job.sample_file is not None:
        Path(job.sample_file).parent.mkdir(parents=True, exist_ok=True)
        Path(job.sample_file).write_text(job.sample_text)
    station = Station.from_text(job.station_text, source=f"{job.name} (station)")
    try:
        station, procedure_file = load(job.procedure_text, station)
        path = reserve_run_path(out_dir, job.name)
        runner, store = start_run(station, procedure_file, path, unattended=True)
        try:
            outcome = runner.join()
        finally:
            store.close()
    finally:
        station.close()
    assert outcome is not None
    return RunRow(job.index, job.name, job.settings, str(path), outcome.status, outcome.error or "",
                  outcome.station_seconds, time.perf_counter() - started)
