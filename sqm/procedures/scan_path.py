"""The path of a scan: the height it keeps (level z, or a constant height above the fitted
plane) and the direction of its lines (trace, retrace, or both), with the whole path
checked against the scanner's limits before anything moves.

- "level": every line at one z, the approach's at the first point: over a tilted sample
  the height drifts across the image.
- "plane": every line at `height` above the surface plane the station has fitted
  (plane_fit), z changing along the line (the scanner writes z with x and y).

Directions: "trace" scans each line from its first point to its last, "retrace" from its
last to its first, "both" both ways in turn, each kept as its own image (the retrace's
name ends in "_retrace"); values are always stored in the order of the line's points.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import InstrumentError
from ..roles import ScanLine, Scanner, SquidReadout
from .base import param

HEIGHT_MODES = ("level", "plane")
DIRECTIONS = ("trace", "retrace", "both")
RETRACE = "_retrace"  # the suffix of a retrace's image
FITTED_PLANE = "fitted plane"  # what plane mode needs and plane_fit provides (see Procedure.needs)


def height_mode_param() -> Any:
    return param("text", "level", "level: one z for the whole scan; plane: constant height above the fitted "
                 "plane (needs a plane_fit)", choices=HEIGHT_MODES)


def direction_param() -> Any:
    return param("text", "trace", "trace: lines from first to last point; retrace: backwards; both: forth and "
                 "back, both stored", choices=DIRECTIONS)


def image_names(signal: str, direction: str) -> list[str]:
    """The images a scan of `signal` in `direction` stores."""
    return [signal, signal + RETRACE] if direction == "both" else [signal]


def plan(scanner: Scanner, lines: list[ScanLine], height: float, mode: str) -> list[ScanLine]:
    """The lines with the z they will be scanned at, the whole path checked first (scan
    range, the piezo's reach, the heights above the known surface): InstrumentError before
    anything moves. Level lines keep z = None (the present z, the approach's) but are
    checked at that z."""
    surface = scanner.surface
    if mode == "plane":
        if surface is None or not surface.fitted:
            raise InstrumentError("height_mode plane: no fitted plane is known (run a plane_fit first; a coarse "
                                  "step forgets it)")
        planned = [replace(line, z=(float(surface.height_at(*line.start)) + height,
                                    float(surface.height_at(*line.end)) + height)) for line in lines]
        for line in planned:
            scanner.check_line(line)
        return planned
    if surface is not None:
        level = float(surface.height_at(*lines[0].start)) + height  # where the approach puts it
        for line in lines:
            scanner.check_line(replace(line, z=(level, level)))
    return lines


def scan_row(scanner: Scanner, readout: SquidReadout, signal: str, line: ScanLine, direction: str,
             pacer) -> dict[str, np.ndarray]:
    """One row in `direction`: {image name: values in the order of the line's points}."""
    backwards = replace(line, start=line.end, end=line.start, z=None if line.z is None else line.z[::-1])
    if direction == "trace":
        return {signal: scanner.scan_line(line, readout, signal, pacer)}
    if direction == "retrace":
        return {signal: scanner.scan_line(backwards, readout, signal, pacer)[::-1]}
    forth = scanner.scan_line(line, readout, signal, pacer)
    back = scanner.scan_line(backwards, readout, signal, pacer)[::-1]
    return {signal: forth, signal + RETRACE: back}
