"""thermal_cycle: warm to an anneal temperature T_a, hold, cool back to base."""

from __future__ import annotations

from ..limits import StationLimits
from .base import Param, Procedure
from .common import STATE_COLUMNS, record_state, settle_temperature


class ThermalCycle(Procedure):
    name = "thermal_cycle"
    summary = "Retract, warm to anneal_temperature, hold, cool back to base_temperature (bias and field as they are)."
    params = (
        Param("anneal_temperature", "temperature", doc="T_a: warm to this (K)", positive=True),
        Param("base_temperature", "temperature", "1.5 K", "cool back to this (K)", positive=True),
        Param("hold", "time", "60 s", "time at T_a once settled (s)"),
        Param("tolerance", "temperature", "0.02 K", "settled when within this of the target (K)", positive=True),
        Param("timeout", "time", "2 h", "give up settling after this long (s)", positive=True),
        Param("record_interval", "time", "5 s", "temperature logged this often (s)", positive=True),
    )

    def validate(self, limits: StationLimits) -> None:
        limits.temperature.check(self.anneal_temperature)
        limits.temperature.check(self.base_temperature)

    def run(self, ctx) -> None:
        ctx.declare_series(dict(STATE_COLUMNS), signal="temperature", axes=["time"])
        ctx.station.scanner.retract(ctx)  # thermal contraction moves the sample by microns

        def log() -> None:
            record_state(ctx)

        settle_temperature(ctx, self.anneal_temperature, self.tolerance, 0.0, self.timeout, self.record_interval, log)
        held = 0.0
        while held < self.hold:
            log()
            interval = min(self.record_interval, self.hold - held)
            ctx.wait(interval)
            held += interval
        settle_temperature(ctx, self.base_temperature, self.tolerance, 0.0, self.timeout, self.record_interval, log)
        log()
