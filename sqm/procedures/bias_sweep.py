"""bias_sweep: sweep the bias current through turning points, reading the SQUID at each step."""

from __future__ import annotations

import math

from ..context import StepContext
from ..errors import UserInputError
from ..limits import StationLimits
from .base import Procedure, check_point_count, param
from .common import lead_pair_param, route_bias
from .flux_jump_records import store_unwrapped_series


def sweep_points(turning_points: list[float], step: float) -> list[tuple[float, int]]:
    """The (current, branch) pairs of a sweep: equal steps no larger than `step` per segment.

    Branch 0 starts at the first turning point; each later turning point ends a branch
    and the next one begins after it, so every turning point is recorded once.
    """
    points = [(turning_points[0], 0)]
    for branch, (start, end) in enumerate(zip(turning_points, turning_points[1:])):
        count = max(1, math.ceil(abs(end - start) / step - 1e-9))
        points.extend((start + (end - start) * k / count, branch) for k in range(1, count + 1))
    return points


def sweep_point_count(turning_points: list[float], step: float) -> float:
    """len(sweep_points(turning_points, step)), counted without building the list.

    A float: a mistyped step can make it astronomically large (or inf)."""
    total = 1.0
    for start, end in zip(turning_points, turning_points[1:]):
        ratio = abs(end - start) / step
        total += max(1, math.ceil(ratio - 1e-9)) if ratio < 1e15 else ratio
    return total


def check_sweep_size(turning_points: list[float], step: float) -> None:
    check_point_count(sweep_point_count(turning_points, step), "points", "take a larger step")


class BiasSweep(Procedure):
    name = "bias_sweep"
    summary = "Sweep the bias through the turning points in steps; record flux, temperature, time and branch."
    points: list[float] = param("current", doc="turning points of the sweep (A)", many=True)
    step: float = param("current", "2 uA", "largest step between readings (A)", positive=True)
    rate: float | None = param("current_rate", None, "ramp rate (A/s); default: the station's", positive=True)
    settle: float = param("time", "0.1 s", "wait after each step before reading (s)")
    integration_time: float = param("time", "0.5 s", "flux averaged this long at each point (s)", positive=True)
    record_voltage: bool = param("flag", False, "also read the four-probe voltage (flags a resistive film)")
    leads: tuple[str, str] | None = lead_pair_param()
    resumable = True  # a resumed sweep goes on from its next point, ramping from the measured bias

    def check_consistency(self) -> None:
        if self.settle < 0:
            raise UserInputError("settle: must not be negative")
        check_sweep_size(self.points, self.step)

    def validate(self, limits: StationLimits) -> None:
        limits.check_leads(self.leads)
        for current in self.points:
            limits.bias_current.check(current)
        if self.rate is not None:
            limits.bias_ramp.check(self.rate)

    def expected_points(self) -> int:
        return int(sweep_point_count(self.points, self.step))

    def run(self, ctx: StepContext) -> None:
        station = ctx.station
        source, squid = station.current_source, station.squid
        route_bias(ctx, self.leads)
        columns = {"bias_current": "A", "flux": "Phi0", "temperature": "K", "time": "s", "branch": "1"}
        if self.record_voltage:
            columns["voltage"] = "V"
        ctx.declare_series(columns, signal="flux", axes=["bias_current"])
        fluxes = list(ctx.read_series("flux")) if ctx.resume_from else []
        for current, branch in sweep_points(self.points, self.step)[ctx.resume_from:]:
            source.ramp_to(current, ctx, self.rate)
            ctx.wait(self.settle)
            flux = squid.read_flux(self.integration_time, ctx)
            fluxes.append(flux)
            extra = {"voltage": station.voltmeter.read_voltage(0.1, ctx)} if self.record_voltage else {}
            ctx.record(
                bias_current=source.read_current(),
                flux=flux,
                temperature=station.temperature.read_temperature(),
                time=ctx.now(),
                branch=branch,
                **extra,
            )
        store_unwrapped_series(ctx, "flux", fluxes)
