"""Progress on the command line: one tqdm bar per step, fed by runner events."""

from __future__ import annotations

import sys

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
    """An event sink for the runner that draws a bar per step (only on a terminal)."""

    def __init__(self, enabled: bool | None = None) -> None:
        # None: draw only when stderr is a terminal (CI logs stay clean).
        self._disable = (not sys.stderr.isatty()) if enabled is None else not enabled
        self._bar: tqdm | None = None

    def __call__(self, event: RunEvent) -> None:
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

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
