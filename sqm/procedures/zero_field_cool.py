"""zero_field_cool and field_cool: warm above T_c (erasing the magnetic state), set the
field, cool to base in it."""

from __future__ import annotations

from ..context import StepContext
from ..limits import StationLimits
from .base import Procedure, param
from .common import STATE_COLUMNS, record_state, settle_temperature


class _Cooling(Procedure):
    """Warm above T_c, set the field, cool to base in it (the field is the subclass's)."""

    from_temperature: float = param("temperature", "8 K", "warm to this first (K); above T_c", positive=True)
    to_temperature: float = param("temperature", "1.5 K", "base temperature to cool to (K)", positive=True)
    tolerance: float = param("temperature", "0.02 K", "settled when within this of the target (K)", positive=True)
    hold: float = param("time", "30 s", "stay within tolerance this long (s)")
    timeout: float = param("time", "2 h", "give up settling after this long (s)", positive=True)
    record_interval: float = param("time", "5 s", "temperature logged this often (s)", positive=True)

    @property
    def cooling_field(self) -> float:
        """The field (T) to cool in."""
        raise NotImplementedError

    def validate(self, limits: StationLimits) -> None:
        limits.field.check(self.cooling_field)
        limits.temperature.check(self.from_temperature)
        limits.temperature.check(self.to_temperature)

    def run(self, ctx: StepContext) -> None:
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


class FieldCool(_Cooling):
    name = "field_cool"
    measures = False  # prepares the sample
    summary = "Zero the bias, retract, warm above T_c, ramp to the field, cool to base with the field on."
    field: float = param("field", doc="field to cool in (T)")

    @property
    def cooling_field(self) -> float:
        return self.field

class ZeroFieldCool(_Cooling):
    name = "zero_field_cool"
    measures = False  # prepares the sample
    summary = "Zero the bias, retract, warm above T_c (erases the magnetic state), zero the field, cool to base."

    @property
    def cooling_field(self) -> float:
        return 0.0
