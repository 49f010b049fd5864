"""What a run reports while it goes: one frozen dataclass per kind of event.

The runner calls its event sink (`EventSink`) with these, from its worker thread;
the command line's progress bars, the GUI (through its event bridge) and tests
consume them by type (`isinstance` or `match`), never by a string.

Data declarations (`SeriesDeclared`, `ImageDeclared`) say what a step is about to
record, so a viewer can lay out its plots from them instead of knowing procedures.
Units are the file's: SI, flux in Phi0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Union

import numpy as np


@dataclass(frozen=True)
class StepStarted:
    step: int  # 1-based index in the procedure file
    procedure: str
    expected_points: int  # for progress bars; 0 if unknown


@dataclass(frozen=True)
class SeriesDeclared:
    """A step will record points with these columns ({name: units})."""

    step: int
    columns: dict[str, str]
    signal: str  # the column to plot
    axes: tuple[str, ...]  # what to plot it against (the first is the x axis)
    auxiliary_signals: tuple[str, ...] = ()  # further columns worth a plot of their own (e.g. each probe)
    curve_by: str | None = None  # a column of whole numbers: each value its own curve (each touchdown)


@dataclass(frozen=True)
class Axis:
    """One axis of an image: its name, the value at each pixel and the units."""

    name: str
    values: np.ndarray
    units: str

    @property
    def is_spatial(self) -> bool:
        return self.units == "m"


@dataclass(frozen=True)
class ImageDeclared:
    """A step will fill image `name` line by line (rows x columns)."""

    step: int
    name: str
    units: str
    rows: Axis
    columns: Axis
    line_summaries: dict[str, str] = field(default_factory=dict)  # a number per line: {name: units}

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows.values), len(self.columns.values)

    @property
    def is_map(self) -> bool:
        """Both axes are positions: a picture; otherwise a stack of profiles (one per row)."""
        return self.rows.is_spatial and self.columns.is_spatial


@dataclass(frozen=True)
class PointRecorded:
    step: int
    count: int  # points recorded so far in this step
    values: dict[str, float]


@dataclass(frozen=True)
class LineRecorded:
    step: int
    name: str
    row: int
    values: np.ndarray
    summaries: dict[str, float] = field(default_factory=dict)  # as declared in `line_summaries`


@dataclass(frozen=True)
class DatasetAdded:
    """A derived array stored beside the step's data (e.g. a reconstructed sheet current)."""

    step: int
    name: str
    values: np.ndarray
    units: str


@dataclass(frozen=True)
class ResultNoted:
    """A step noted a result or a remark (`ctx.note`), stored on its group in the run file.

    A number's `key` ends with its SI units (period_T, effective_area_m2,
    working_point_transfer_V_per_Phi0); `value` is as the step gave it: a number, or
    text (e.g. why a fit was not made).
    """

    step: int
    key: str
    value: Any


@dataclass(frozen=True)
class Paused:
    step: int


@dataclass(frozen=True)
class Resumed:
    step: int


@dataclass(frozen=True)
class InterlockReported:
    step: int
    reason: str


@dataclass(frozen=True)
class StepFinished:
    step: int
    status: str  # "completed" | "aborted" | "failed"
    error: str | None


@dataclass(frozen=True)
class RunFinished:
    status: str
    error: str | None
    safe_state: str  # "safe", or what could not be made safe


RunEvent = Union[
    StepStarted, SeriesDeclared, ImageDeclared, PointRecorded, LineRecorded, DatasetAdded, ResultNoted,
    Paused, Resumed, InterlockReported, StepFinished, RunFinished,
]
EventSink = Callable[[RunEvent], None]
