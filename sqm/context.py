"""The procedures' world: what a step can do while it runs.

A procedure's `run(ctx)` receives a `StepContext`. It reaches the instruments only
through `ctx.station`'s roles, passes time only through `ctx.wait` (it is also the
`Pacer` every role takes), and records only through the declare/record methods,
which write the run file and report events (`sqm.events`) at the same time.

The runner implements this protocol (`sqm.runner.RunStepContext`); procedures and
the runner both import it from here, so neither imports the other for it.
Units: SI throughout (s, A, T, K, m, V), flux in Phi0.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from .station import Station

# One axis of an image as a procedure gives it: (name, the value at each pixel, units).
AxisSpec = tuple[str, "Sequence[float] | np.ndarray", str]


class StepContext(Protocol):
    station: Station
    # Points (a series) or lines (an image) this step already holds in the file from before an
    # interruption (`sqm resume`, for a procedure that is `resumable`); 0 when the step starts.
    resume_from: int

    def now(self) -> float:
        """Station clock time (s)."""
        ...

    def wait(self, seconds: float) -> None:
        """Let `seconds` of station time pass, honouring pause, abort and interlocks."""
        ...

    def checkpoint(self) -> None:
        """Honour pause and abort now; read the interlocks when they are due."""
        ...

    def declare_series(
        self, columns: Mapping[str, str], signal: str, axes: Sequence[str], auxiliary_signals: Sequence[str] = (),
        curve_by: str | None = None,
    ) -> None:
        """Announce the point columns ({name: units}) the step records, the one to plot
        (`signal`) against `axes`, further columns worth a plot of their own, and the column
        (`curve_by`, whole numbers) whose value starts a new curve (each touchdown of a plane fit)."""
        ...

    def record(self, **values: float) -> None:
        """Append one point (every declared column, SI units)."""
        ...

    def declare_image(
        self,
        name: str,
        units: str,
        rows: AxisSpec,
        columns: AxisSpec,
        extra_axes: Mapping[str, tuple[np.ndarray, str]] | None = None,
        line_summaries: Mapping[str, str] | None = None,
    ) -> None:
        """Announce an image filled line by line; `line_summaries` ({name: units}) are
        numbers the step reports with each line (e.g. the peak current of a profile)."""
        ...

    def record_line(self, name: str, row: int, values: np.ndarray, **summaries: float) -> None:
        """Store one line of image `name` (flushed at once) with its declared summaries."""
        ...

    def add_result(self, name: str, axis: tuple[str, np.ndarray, str],
                   signals: Mapping[str, tuple[np.ndarray, str]]) -> None:
        """Store a result derived from the step's data as an NXdata group `name` of its own
        (the entry's default plot): `axis` (name, values, units), `signals` {name: (values, units)}."""
        ...

    def read_series(self, name: str) -> np.ndarray:
        """Column `name` of this step's series as stored so far (after a resume: from before too)."""
        ...

    def read_image(self, name: str) -> np.ndarray:
        """Image `name` of this step as stored so far (NaN where no line is written yet)."""
        ...

    def add_dataset(self, name: str, values: np.ndarray, units: str, beside: str | None = None) -> None:
        """Store a derived array beside the step's data, or beside the image `beside`."""
        ...

    def note(self, key: str, value: Any) -> None:
        """Store a result or remark on the step's group."""
        ...
