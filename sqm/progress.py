"""Progress on the command line, fed by runner events: one tqdm bar per step on a
terminal, else a line when each step starts and one when it ends."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Callable

from tqdm import tqdm

from .events import (
    InterlockReported,
    LineRecorded,
    Paused,
    PointRecorded,
    RunEvent,
    RunFinished,
    StepFinished,
    StepStarted,
)


class ProgressBars:
    """An event sink for the runner that draws a bar per step on a terminal; without one
    (a job runner, a log file) it says one line when each step starts and one when it ends:

        step 3/5 bias_sweep: started, 501 points expected
        step 3/5 bias_sweep: completed, 501 points, 0:16:43 of lab time

    `enabled`: None (the default) chooses by whether stderr is a terminal; True always
    draws bars; False draws nothing (interlocks and pauses are still said).
    `steps`: how many steps the run has (for "3/5"); `clock`: the station clock's `now`,
    for each step's lab time.
    """

    def __init__(self, enabled: bool | None = None, steps: int | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        terminal = sys.stderr.isatty()
        self._disable = (not terminal) if enabled is None else not enabled
        self._lines = enabled is None and not terminal  # CI logs get lines, not bars
        self._steps, self._clock = steps, clock
        self._bar: tqdm | None = None
        self._step: tuple[int, str, float | None] | None = None  # index, procedure, clock at its start
        self._points = 0

    def __call__(self, event: RunEvent) -> None:
        if self._lines:
            self._line(event)
        if isinstance(event, StepStarted):
            self._close()
            self._bar = tqdm(
                total=event.expected_points or None,
                desc=f"{event.step:>2} {event.procedure}",
                unit="pt",
                disable=self._disable,
                leave=True,
                dynamic_ncols=True,
            )
        elif isinstance(event, (PointRecorded, LineRecorded)) and self._bar is not None:
            self._bar.update(1)
        elif isinstance(event, (StepFinished, RunFinished)):
            self._close()
        elif isinstance(event, InterlockReported):
            # said even without a bar: a paused command-line run waits for the operator
            tqdm.write(f"sqm: interlock at step {event.step}: {event.reason}", file=sys.stderr)
        elif isinstance(event, Paused):
            tqdm.write("sqm: run paused (bias and field held); Ctrl-C aborts it and makes the station safe",
                       file=sys.stderr)

    def _line(self, event: RunEvent) -> None:
        """The lines said without a terminal: a step's start and its end."""
        if isinstance(event, StepStarted):
            self._step = (event.step, event.procedure, self._clock() if self._clock else None)
            self._points = 0
            expected = f", {_points(event.expected_points)} expected" if event.expected_points else ""
            print(f"{self._name(event.step, event.procedure)}: started{expected}", file=sys.stderr, flush=True)
        elif isinstance(event, (PointRecorded, LineRecorded)):
            self._points += 1
        elif isinstance(event, StepFinished) and self._step is not None:
            index, procedure, started = self._step
            self._step = None
            said = [event.status, _points(self._points)]
            if self._clock is not None and started is not None:
                said.append(f"{timedelta(seconds=round(self._clock() - started))} of lab time")
            print(f"{self._name(index, procedure)}: {', '.join(said)}", file=sys.stderr, flush=True)

    def _name(self, index: int, procedure: str) -> str:
        return f"step {index}/{self._steps} {procedure}" if self._steps else f"step {index} {procedure}"

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _points(count: int) -> str:
    return f"{count} point" if count == 1 else f"{count} points"
