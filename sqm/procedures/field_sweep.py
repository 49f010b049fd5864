"""field_sweep: sweep the out-of-plane field through turning points, reading named probe points."""

from __future__ import annotations

from ..context import StepContext
from ..limits import StationLimits
from .base import Procedure, param
from .bias_sweep import check_sweep_size, sweep_point_count, sweep_points
from .common import check_probes, read_probes
from .flux_jump_records import store_unwrapped_series


class FieldSweep(Procedure):
    name = "field_sweep"
    summary = "Ramp the field through turning points in steps; at each field read the flux at named probe points."
    points: list[float] = param("field", doc="turning fields of the sweep (T)", many=True)
    step: float = param("field", "0.05 G", "largest field step between readings (T)", positive=True)
    probes: dict[str, tuple[float, float]] = param(
        "probes", doc="named points to read at each field, {name: [x, y]} (m)",
    )
    height: float = param("length", "1 um", "sensor height at the probe points (m)", positive=True)
    rate: float | None = param("field_rate", None, "ramp rate (T/s); default: the station's", positive=True)
    integration_time: float = param("time", "1 s", "flux averaged this long at each point (s)", positive=True)

    resumable = True  # a resumed sweep goes on from its next point, ramping from the measured field

    def check_consistency(self) -> None:
        check_sweep_size(self.points, self.step)

    def validate(self, limits: StationLimits) -> None:
        for field in self.points:
            limits.field.check(field)
        if self.rate is not None:
            limits.field_ramp.check(self.rate)
        check_probes(limits, self.probes, self.height)

    def expected_points(self) -> int:
        return int(sweep_point_count(self.points, self.step))

    def run(self, ctx: StepContext) -> None:
        station = ctx.station
        columns = {"field": "T", "time": "s", "temperature": "K", "branch": "1"}
        columns.update({f"flux_{name}": "Phi0" for name in self.probes})
        probe_columns = [f"flux_{name}" for name in self.probes]
        ctx.declare_series(columns, signal=probe_columns[0], axes=["field"], auxiliary_signals=probe_columns)
        recorded: dict[str, list[float]] = {
            column: list(ctx.read_series(column)) if ctx.resume_from else [] for column in probe_columns}
        for field, branch in sweep_points(self.points, self.step)[ctx.resume_from:]:
            station.magnet.ramp_to(field, ctx, self.rate)
            readings = read_probes(ctx, self.probes, self.height, self.integration_time)
            for column in probe_columns:
                recorded[column].append(readings[column])
            ctx.record(
                field=station.magnet.read_field(),
                time=ctx.now(),
                temperature=station.temperature.read_temperature(),
                branch=branch,
                **readings,
            )
        for column, values in recorded.items():
            store_unwrapped_series(ctx, column, values)
