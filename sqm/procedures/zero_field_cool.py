"""zero_field_cool and field_cool: warm above T_c (erasing the magnetic state), set the
field, cool to base in it."""

from __future__ import annotations

from ..limits import StationLimits
from .base import Param, Procedure
from .common import STATE_COLUMNS, record_state, settle_temperature

_COOLING_PARAMS = (
    Param("from_temperature", "temperature", "8 K", "warm to this first (K); above T_c", positive=True),
    Param("to_temperature", "temperature", "1.5 K", "base temperature to cool to (K)", positive=True),
    Param("tolerance", "temperature", "0.02 K", "settled when within this of the target (K)", positive=True),
    Param("hold", "time", "30 s", "stay within tolerance this long (s)"),
    Param("timeout", "time", "2 h", "give up settling after this long (s)", positive=True),
    Param("record_interval", "time", "5 s", "temperature logged this often (s)", positive=True),
)


class FieldCool(Procedure):
    name = "field_cool"
    summary = "Zero the bias, retract, warm above T_c, ramp to the field, cool to base with the field on."
    params = (Param("field", "field", doc="field to cool in (T)"),) + _COOLING_PARAMS

    @property
    def cooling_field(self) -> float:
        return self.field

    def validate(self, limits: StationLimits) -> None:
        limits.field.check(self.cooling_field)
        limits.temperature.check(self.from_temperature)
        limits.temperature.check(self.to_temperature)

    def run(self, ctx) -> None:
        station = ctx.station
        ctx.declare_series(dict(STATE_COLUMNS), signal="temperature", axes=["time"])
        station.current_source.ramp_to(0.0, ctx)
        station.scanner.retract(ctx)  # thermal contraction moves the sample by microns

        def log() -> None:
            record_state(ctx)

        settle_temperature(ctx, self.from_temperature, self.tolerance, self.hold, self.timeout,
                           self.record_interval, log)
        station.magnet.ramp_to(self.cooling_field, ctx)
        settle_temperature(ctx, self.to_temperature, self.tolerance, self.hold, self.timeout,
                           self.record_interval, log)
        log()


class ZeroFieldCool(FieldCool):
    name = "zero_field_cool"
    summary = "Zero the bias, retract, warm above T_c (erases the magnetic state), zero the field, cool to base."
    params = _COOLING_PARAMS

    @property
    def cooling_field(self) -> float:
        return 0.0
