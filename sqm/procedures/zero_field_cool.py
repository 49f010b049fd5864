"""zero_field_cool: warm above T_c, zero bias and field, cool to base."""

from __future__ import annotations

from ..limits import StationLimits
from .base import Param, Procedure
from .common import STATE_COLUMNS, record_state, settle_temperature


class ZeroFieldCool(Procedure):
    name = "zero_field_cool"
    summary = "Zero bias and field, retract, warm to from_temperature (above T_c: erases the magnetic state), cool to base."
    params = (
        Param("from_temperature", "temperature", "8 K", "warm to this temperature first (K); above T_c", positive=True),
        Param("to_temperature", "temperature", "1.5 K", "base temperature to cool to (K)", positive=True),
        Param("tolerance", "temperature", "0.02 K", "settled when within this of the target (K)", positive=True),
        Param("hold", "time", "30 s", "stay within tolerance this long (s)"),
        Param("timeout", "time", "2 h", "give up settling after this long (s)", positive=True),
        Param("record_interval", "time", "5 s", "temperature logged this often (s)", positive=True),
    )

    def validate(self, limits: StationLimits) -> None:
        limits.temperature.check(self.from_temperature)
        limits.temperature.check(self.to_temperature)

    def run(self, ctx) -> None:
        station = ctx.station
        ctx.declare_series(dict(STATE_COLUMNS), signal="temperature", axes=["time"])
        station.current_source.ramp_to(0.0, ctx)
        station.magnet.ramp_to(0.0, ctx)
        station.scanner.retract(ctx)  # thermal contraction moves the sample by microns

        def log() -> None:
            record_state(ctx)

        for target in (self.from_temperature, self.to_temperature):
            settle_temperature(ctx, target, self.tolerance, self.hold, self.timeout, self.record_interval, log)
        log()
