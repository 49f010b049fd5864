"""Names for the branches of a sweep, as the paper's figures call them: virgin, down, up.

A sweep that records a `branch` column (0, 1, 2, ...) goes through turning points. Its
branch 0 is the *virgin* curve when it starts from zero (the state after a zero-field
cool); any other branch is named by the direction of its axis values, *down* or *up*,
from where the branch before it ended (or from its own first point) to its latest
point. A name that comes again gets a number: down, up, down 2, up 2. Nothing here
knows a procedure: only the axis values and the branch numbers.
"""

from __future__ import annotations

from collections.abc import Iterable

# Branch 0 "starts from zero" when its first value is this small beside the sweep's extent.
ZERO_FRACTION = 0.01
ZERO_ABSOLUTE = 1e-12


class BranchNames:
    """Follows a sweep point by point (`add`) and names each branch seen so far (`names`)."""

    def __init__(self) -> None:
        self._start: dict[int, float] = {}  # where each branch starts from: the point before it, or its first
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._previous: float | None = None
        self._extent = 0.0

    def add(self, branch: int, x: float) -> None:
        if branch not in self._first:
            self._first[branch] = x
            self._start[branch] = x if self._previous is None else self._previous
        self._last[branch] = x
        self._previous = x
        self._extent = max(self._extent, abs(x))

    def starts_from_zero(self) -> bool:
        """Whether branch 0 began at zero (a virgin curve)."""
        first = self._first.get(0)
        return first is not None and abs(first) <= max(ZERO_ABSOLUTE, ZERO_FRACTION * self._extent)

    def names(self) -> dict[int, str]:
        """{branch: name} in the order the branches came; "branch N" while a direction is unknown."""
        names, seen = {}, {}
        for branch in self._first:
            if branch == 0 and self.starts_from_zero():
                base = "virgin"
            else:
                start, end = self._start[branch], self._last[branch]
                base = "up" if end > start else "down" if end < start else ""
            if not base:
                names[branch] = f"branch {branch}"
                continue
            seen[base] = seen.get(base, 0) + 1
            names[branch] = base if seen[base] == 1 else f"{base} {seen[base]}"
        return names


def branch_names(xs: Iterable[float], branches: Iterable[float]) -> dict[int, str]:
    """The names of a whole recorded sweep's branches (the run browser)."""
    names = BranchNames()
    for x, branch in zip(xs, branches):
        names.add(int(branch), float(x))
    return names.names()
