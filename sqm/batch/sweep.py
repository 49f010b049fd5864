"""`sqm sweep PROCEDURE.yaml --vary KEY=START:STOP:N ...`: the procedure on the twin for every
combination, one HDF5 file per run, and a summary table (CSV and HDF5) of the figures.

Every run starts from the same station file, seed included, so a run depends only on its
settings: the same batch gives the same numbers on one process or on many.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UserInputError
from ..procedure_file import load_procedure_file
from ..units import format_si
from .cluster import close_client, open_client, run_all
from .runs import RunJob, RunRow, run_job
from .summary import write_csv, write_hdf5
from .variations import BatchBase, Variation, grid


@dataclass
class SweepResult:
    rows: list[RunRow]
    csv_path: Path
    hdf5_path: Path


def plan_sweep(procedure: str | Path, station: str | Path, vary: list[str], out_dir: str | Path,
               ) -> tuple[list[RunJob], dict[str, str]]:
    """The jobs of a sweep and the units of each varied key; UserInputError (one line) for a
    bad option, before anything runs."""
    if not vary:
        raise UserInputError("sweep: give at least one --vary KEY=START:STOP:N")
    base = BatchBase(station)
    variations = [base.variation(option) for option in vary]
    duplicated = sorted({v.key for v in variations if [w.key for w in variations].count(v.key) > 1})
    if duplicated:
        raise UserInputError(f"--vary {duplicated[0]}: given twice")
    procedure_file = load_procedure_file(procedure)  # its own checks; the station's limits come per run
    out = Path(out_dir)
    combinations = grid(variations)
    width = len(str(len(combinations)))
    jobs = []
    for index, settings in enumerate(combinations, start=1):
        name = f"run-{index:0{width}d}"
        sample_file = out / "samples" / f"{name}.yaml"
        station_text, sample_text = base.texts(settings, sample_file.resolve())
        jobs.append(RunJob(index, name, {v.key: value for v, value in settings.items()}, station_text,
                           procedure_file.text, str(out.resolve()), sample_text,
                           str(sample_file.resolve()) if sample_text is not None else None))
    _check_first(jobs[0], variations)
    return jobs, {v.key: v.units for v in variations}


def _check_first(job: RunJob, variations: list[Variation]) -> None:
    """Build the first run's station and check the procedure against it here, so a value
    the twin refuses (a negative coercivity, a setpoint beyond the limits) is one line
    before any worker starts."""
    import tempfile

    from ..session import load
    from ..station import Station

    with tempfile.TemporaryDirectory() as scratch:
        text = job.station_text
        if job.sample_text is not None and job.sample_file is not None:
            trial = Path(scratch) / "sample.yaml"
            trial.write_text(job.sample_text)
            text = text.replace(job.sample_file, str(trial))
        station = Station.from_text(text, source=f"--vary {', '.join(v.key for v in variations)} (first run)")
        try:
            if not station.backend.state_in_process:  # a batch repeats runs freely: the twin's, not a lab's
                raise UserInputError("a batch runs on the twin: this station drives instruments")
            load(job.procedure_text, station)
        finally:
            station.close()


def describe_row(row: RunRow) -> str:
    settings = ", ".join(f"{key.rsplit('.', 1)[-1]}={value:.4g}" for key, value in row.settings.items())
    figures = ", ".join(f"{name}={_figure(name, value)}" for name, value in row.figures.items())
    return f"{row.name} {row.status} ({settings}){': ' + figures if figures else ''}"


def _figure(name: str, value: float) -> str:
    unit = name.rsplit("_", 1)[-1]
    return format_si(value, unit) if unit in ("A", "T") else f"{value:.4g} {unit}"


def run_sweep(jobs: list[RunJob], out_dir: str | Path, units: dict[str, str], scheduler: str | None = None,
              workers: int = 2) -> SweepResult:
    """Run the jobs (on a LocalCluster of `workers`, or the scheduler; workers = 0: here, one
    after another) and write `summary.csv` and `summary.h5` into `out_dir`."""
    out = Path(out_dir)
    client = None if workers == 0 and not scheduler else open_client(scheduler, workers)
    out.mkdir(parents=True, exist_ok=True)
    try:
        rows = run_all(jobs, run_job, client, label="sweep", describe=describe_row)
    finally:
        if client is not None:
            close_client(client)
    result = SweepResult(rows, out / "summary.csv", out / "summary.h5")
    write_csv(rows, result.csv_path)
    write_hdf5(rows, result.hdf5_path, units)
    return result
