"""line_cut: one line across an edge, scanned again at each of a list of bias currents."""

from __future__ import annotations

import math

import numpy as np

from ..context import StepContext
from ..errors import UserInputError
from ..limits import StationLimits
from ..roles import SIGNAL_UNITS, ScanLine
from .base import Procedure, check_point_count, param
from .common import lead_pair_param, route_bias
from .scan_path import FITTED_PLANE, direction_param, height_mode_param, image_names, plan, scan_row


class LineCut(Procedure):
    name = "line_cut"
    summary = "Scan one line (e.g. across an edge) at each bias current in turn; edge current density per bias."
    start: list[float] = param("length", doc="[x, y] where the line starts (m)", many=True, count=2)
    end: list[float] = param("length", doc="[x, y] where it ends (m)", many=True, count=2)
    bias_currents: list[float] = param("current", doc="bias currents, in the order applied (A)", many=True)
    spacing: float = param("length", "0.25 um", "distance between samples (m)", positive=True)
    line_time: float = param("time", "1 s", "time to scan the line once (s)", positive=True)
    height: float = param("length", "1 um", "sensor height above the surface (m)", positive=True)
    height_mode: str = height_mode_param()
    direction: str = direction_param()
    leads: tuple[str, str] | None = lead_pair_param()

    @property
    def n_points(self) -> int:
        return int(self._sample_count())

    def _sample_count(self) -> float:
        """Samples on the line, counted safely (a float: a mistyped spacing may make it huge)."""
        ratio = self.length / self.spacing
        return math.floor(ratio + 1e-9) + 1 if ratio < 1e15 else ratio

    @property
    def length(self) -> float:
        return math.dist(self.start, self.end)

    def check_consistency(self) -> None:
        samples, lines = self._sample_count(), len(self.bias_currents)
        shape = f"{lines} lines of {samples:,.0f} samples; " if samples < 1e15 else ""
        check_point_count(samples * lines, "samples", f"{shape}take a larger spacing or fewer bias currents")
        if self.n_points < 8:
            raise UserInputError(f"the line holds {self.n_points} samples; at least 8 are needed")

    def validate(self, limits: StationLimits) -> None:
        for x, y in (self.start, self.end):
            limits.scanner_x.check(x)
            limits.scanner_y.check(y)
        limits.scanner_z.check(self.height)
        for current in self.bias_currents:
            limits.bias_current.check(current)
        limits.check_leads(self.leads)

    def expected_points(self) -> int:
        return len(self.bias_currents) * len(image_names("flux", self.direction))  # lines recorded

    def needs(self) -> frozenset[str]:
        return frozenset({FITTED_PLANE}) if self.height_mode == "plane" else frozenset()

    def run(self, ctx: StepContext) -> None:
        from ..analysis.edge_profile import peak_current_across_edge

        station = ctx.station
        scanner, squid = station.scanner, station.squid
        route_bias(ctx, self.leads)
        # Samples every `spacing` from the start; the last one may fall just short of `end`.
        reach = (self.n_points - 1) * self.spacing / self.length
        (x0, y0), (x1, y1) = self.start, self.end
        line = ScanLine((x0, y0), (x0 + (x1 - x0) * reach, y0 + (y1 - y0) * reach), self.n_points, self.line_time)
        (line,) = plan(scanner, [line], self.height, self.height_mode)  # checked before anything moves
        xs, ys = line.points()
        distance = np.arange(self.n_points) * self.spacing
        names = image_names("flux", self.direction)
        for name in names:
            ctx.declare_image(
                name,
                SIGNAL_UNITS["flux"],
                ("bias_current", np.asarray(self.bias_currents), "A"),
                ("distance", distance, "m"),
                extra_axes={"x": (xs, "m"), "y": (ys, "m")},
                line_summaries={"peak_edge_current": "A/m"},
            )
        scanner.retract(ctx)
        scanner.move_to(*line.start, ctx)
        scanner.approach(self.height, ctx)
        peaks = []
        for row, current in enumerate(self.bias_currents):
            station.current_source.ramp_to(current, ctx)
            scanned = scan_row(scanner, squid, "flux", line, self.direction, ctx)
            for name in names:
                profile = scanned[name]
                peak = peak_current_across_edge(profile, self.spacing, self.height, squid.pickup_radius)
                ctx.record_line(name, row, profile, peak_edge_current=peak)
                if name == "flux":
                    peaks.append(peak)
        ctx.add_dataset("peak_edge_current", np.asarray(peaks), "A/m")
