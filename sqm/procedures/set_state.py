"""set: bring bias, field and/or temperature to given values (ramped, limits checked)."""

from __future__ import annotations

from ..context import StepContext
from ..errors import UserInputError
from ..limits import StationLimits
from .base import Procedure, param
from .common import STATE_COLUMNS, lead_pair_param, record_state, route_bias, settle_temperature


class SetState(Procedure):
    name = "set"
    measures = False  # sets the station up
    summary = "Ramp the bias current and/or field, and/or settle the temperature, to the given values."
    bias_current: float | None = param("current", None, "ramp the bias to this (A)")
    field: float | None = param("field", None, "ramp the magnet to this (T)")
    temperature: float | None = param("temperature", None, "settle the sample at this (K)", positive=True)
    tolerance: float = param("temperature", "0.02 K", "temperature settled within this (K)", positive=True)
    hold: float = param("time", "10 s", "temperature within tolerance this long (s)")
    timeout: float = param("time", "2 h", "give up settling after this long (s)", positive=True)
    leads: tuple[str, str] | None = lead_pair_param()

    def check_consistency(self) -> None:
        if self.bias_current is None and self.field is None and self.temperature is None:
            raise UserInputError("give at least one of bias_current, field, temperature")
        if self.leads is not None and self.bias_current is None:
            raise UserInputError("leads: name them with the bias_current they carry")

    def validate(self, limits: StationLimits) -> None:
        limits.check_leads(self.leads)
        if self.bias_current is not None:
            limits.bias_current.check(self.bias_current)
        if self.field is not None:
            limits.field.check(self.field)
        if self.temperature is not None:
            limits.temperature.check(self.temperature)

    def expected_points(self) -> int:
        return 1

    def run(self, ctx: StepContext) -> None:
        station = ctx.station
        ctx.declare_series(dict(STATE_COLUMNS), signal="temperature", axes=["time"])
        if self.bias_current is not None:
            route_bias(ctx, self.leads)
            station.current_source.ramp_to(self.bias_current, ctx)
        if self.field is not None:
            station.magnet.ramp_to(self.field, ctx)
        if self.temperature is not None:
            if not abs(station.temperature.read_temperature() - self.temperature) <= self.tolerance:
                station.scanner.retract(ctx)  # thermal contraction moves the sample by microns
            settle_temperature(ctx, self.temperature, self.tolerance, self.hold, self.timeout, 5.0, lambda: None)
        record_state(ctx)
