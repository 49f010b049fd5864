"""`sqm fit MEASURED.h5 --station STATION.yaml --params KEY ...`: twin parameters fitted to a
measured bias loop or field loop by least squares.

The model of a loop is the twin running the measured file's own procedure (so the same
points, in the same order) with candidate values of the keys (`--params`, keys as
`sqm sweep --vary` takes them), with the twin's sensor noise off: the measured loop
carries the noise, the model is the loop itself. The residuals are the model's flux
minus the measured flux at every point of the file's first sweep. scipy's
`least_squares` (trust region) drives the search; each Jacobian is a forward difference
per parameter, and those runs go to the Dask workers together.

Uncertainties: the covariance s^2 (J^T J)^-1 at the solution, with s^2 the residual
variance (sum of squares over points minus parameters). They are what the loop's
scatter allows if the twin's model is right; a model that cannot follow the loop shows
as a residual rms well above the sensor noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from ..errors import UserInputError
from ..readback import open_run_file, read_steps, text_attr
from .cluster import close_client, open_client, run_all
from .runs import RunJob, run_series
from .summary import SWEEPS, sweep_signal
from .variations import BatchBase, Variation

RELATIVE_STEP = 0.02  # forward-difference step, of each parameter's size: wide enough to span many hysterons


@dataclass
class MeasuredLoop:
    procedure_text: str
    step_group: str
    signal: str
    flux: np.ndarray  # Phi0


@dataclass
class FitResult:
    keys: list[str]
    units: list[str]
    start: np.ndarray
    values: np.ndarray
    uncertainties: np.ndarray
    residual_rms: float  # Phi0
    points: int
    evaluations: int  # twin runs
    station_path: Path
    sample_path: Path | None


def measured_loop(path: str | Path) -> MeasuredLoop:
    """The first completed sweep of a run file, and the procedure that made it."""
    steps = read_steps(path)
    with open_run_file(path) as h5:
        procedure_text = text_attr(h5.attrs.get("procedure", ""))
    for step in steps:
        if step.procedure in SWEEPS and step.status == "completed":
            signal = sweep_signal(step)
            return MeasuredLoop(procedure_text, step.group, signal, np.asarray(step.data[signal], dtype=float))
    raise UserInputError(f"{path}: no completed bias_sweep or field_sweep to fit")


class LoopModel:
    """The twin's loop for candidate parameter values, evaluated on the batch's workers."""

    def __init__(self, base: BatchBase, variations: list[Variation], loop: MeasuredLoop, scratch: Path,
                 client=None) -> None:
        self.base, self.variations, self.loop, self.scratch, self.client = base, variations, loop, scratch, client
        self.evaluations = 0
        self._cache: dict[tuple[float, ...], np.ndarray] = {}

    def _job(self, index: int, values: np.ndarray) -> RunJob:
        settings = dict(zip(self.variations, (float(value) for value in values)))
        name = f"candidate-{self.evaluations + index:05d}"
        sample_file = self.scratch / f"{name}.yaml"
        # the model is the loop; the noise is the measurement's
        station_text, sample_text = self.base.texts(settings, sample_file, sim_overrides={"flux_noise": 0.0})
        return RunJob(index, name, {v.key: float(x) for v, x in zip(self.variations, values)},
                      station_text, self.loop.procedure_text, str(self.scratch),
                      sample_text, str(sample_file) if sample_text is not None else None)

    def loops(self, candidates: list[np.ndarray]) -> list[np.ndarray]:
        """The twin's loop for each candidate, run together (cached by value)."""
        missing = [c for c in candidates if tuple(c) not in self._cache]
        if missing:
            jobs = [self._job(index, values) for index, values in enumerate(missing)]
            work = partial(run_series, step_group=self.loop.step_group, column=self.loop.signal)
            for values, series in zip(missing, run_all(jobs, work, self.client, label="fit",
                                                       describe=lambda series: f"{len(series)} points")):
                self._cache[tuple(values)] = series
            self.evaluations += len(missing)
        return [self._cache[tuple(c)] for c in candidates]

    def residuals(self, values: np.ndarray) -> np.ndarray:
        (model,) = self.loops([values])
        if model.shape != self.loop.flux.shape:
            raise UserInputError(f"the twin's loop has {model.size} points, the measured one {self.loop.flux.size}: "
                                 "the run failed on the twin with these values, or the files differ")
        return model - self.loop.flux

    def jacobian(self, values: np.ndarray) -> np.ndarray:
        steps = RELATIVE_STEP * np.where(values != 0, np.abs(values), 1.0)
        shifted = [values + step * np.eye(len(values))[i] for i, step in enumerate(steps)]
        centre, *moved = self.loops([values, *shifted])
        return np.column_stack([(loop - centre) / step for loop, step in zip(moved, steps)])


def fit_loop(measured: str | Path, station: str | Path, params: list[str], out: str | Path,
             scheduler: str | None = None, workers: int = 2) -> FitResult:
    """Fit the keys `params` (each KEY or KEY=START) of the twin of `station` to the loop of
    `measured`; write the fitted station file at `out` (and its sample file beside it)."""
    if not params:
        raise UserInputError("fit: give at least one --params KEY")
    loop = measured_loop(measured)
    base = BatchBase(station)
    variations = [base.parameter(option) for option in params]
    start = np.array([variation.values[0] for variation in variations])
    if np.any(start == 0):
        raise UserInputError("fit: a parameter starting at 0 has no scale; give KEY=START")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = out.parent / f".{out.stem}-candidates"
    scratch.mkdir(exist_ok=True)
    client = None if workers == 0 and not scheduler else open_client(scheduler, workers)
    try:
        model = LoopModel(base, variations, loop, scratch.resolve(), client)
        solution = least_squares(model.residuals, start, jac=model.jacobian, x_scale=np.abs(start),
                                 method="trf", xtol=1e-4, ftol=1e-6, max_nfev=40)
        jacobian = model.jacobian(solution.x)
        residuals = model.residuals(solution.x)
    finally:
        if client is not None:
            close_client(client)
        for leftover in scratch.glob("*"):
            leftover.unlink(missing_ok=True)
        scratch.rmdir()
    points, count = residuals.size, len(start)
    variance = float(residuals @ residuals) / max(points - count, 1)
    covariance = variance * np.linalg.pinv(jacobian.T @ jacobian)
    uncertainties = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    sample_path = out.with_name(f"{out.stem}_sample.yaml")
    station_text, sample_text = base.texts(dict(zip(variations, solution.x)), sample_path.resolve())
    out.write_text(f"# fitted by sqm fit to {measured}: " + ", ".join(
        f"{v.key} = {x:.6g} +- {u:.2g} {v.units}" for v, x, u in zip(variations, solution.x, uncertainties))
        + "\n" + station_text)
    if sample_text is not None:
        sample_path.write_text(sample_text)
    return FitResult([v.key for v in variations], [v.units for v in variations], start, solution.x,
                     uncertainties, float(np.sqrt(np.mean(residuals ** 2))), points, model.evaluations, out,
                     sample_path if sample_text is not None else None)

