"""How far the running step has got and how long it has left, in one line.

Counts what the step's events report: image lines (`LineRecorded`) once the step has
declared an image, points (`PointRecorded`) otherwise, against the expected count of
its `StepStarted`. The time left is the remaining count at the rate so far, measured
from the first line or point (the ramps and the approach before it are not part of
the rate), on the station clock (lab time; simulated on the twin) and on the wall
clock. The times are passed in, so the estimate is testable without a clock.
"""

from __future__ import annotations


def duration_text(seconds: float) -> str:
    """A duration for people: 9 s, 3 min 0 s, 2 h 05 min."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest} s"
    hours, rest = divmod(round(seconds / 60), 60)
    return f"{hours} h {rest:02d} min"


class StepProgress:
    """The progress of step `step` of `steps` (1-based), `expected` lines or points (0: unknown)."""

    def __init__(self, step: int, steps: int, procedure: str, expected: int) -> None:
        self.step, self.steps, self.procedure, self.expected = step, steps, procedure, expected
        self.unit = "points"
        self.count = 0
        self._first: tuple[int, float, float] | None = None  # (count, lab, wall) at the first line or point
        self._latest: tuple[int, float, float] | None = None

    def image_declared(self) -> None:
        """The step fills an image: its progress is counted in lines from now on."""
        self.unit = "lines"
        self.count, self._first, self._latest = 0, None, None

    def done(self, count: int, lab_now: float, wall_now: float) -> None:
        """`count` lines (or points) are done now."""
        self.count = count
        if self._first is None:
            self._first = (count, lab_now, wall_now)
        self._latest = (count, lab_now, wall_now)

    def time_left(self) -> tuple[float, float] | None:
        """(lab seconds, wall seconds) left at the rate so far; None until it can be told."""
        if not self.expected or self._first is None or self._latest is None:
            return None
        count0, lab0, wall0 = self._first
        count, lab, wall = self._latest
        if count <= count0 or lab <= lab0:
            return None
        remaining = max(0, self.expected - count)
        lab_left = remaining * (lab - lab0) / (count - count0)
        wall_left = remaining * (wall - wall0) / (count - count0)
        return lab_left, wall_left

    def text(self) -> str:
        head = f"step {self.step} / {self.steps}: {self.procedure}"
        if self.unit == "lines":
            done = f"line {self.count} / {self.expected}" if self.expected else f"{self.count} lines"
        else:
            done = f"{self.count} / {self.expected} points" if self.expected else f"{self.count} points"
        left = self.time_left()
        if left is None:
            return f"{head}, {done}" + (", estimating the time left" if self.count and self.expected else "")
        lab_left, wall_left = left
        return (f"{head}, {done}, about {duration_text(lab_left)} of lab time left "
                f"({duration_text(wall_left)} wall)")
