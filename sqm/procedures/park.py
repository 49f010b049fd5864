"""park: retract, move the sensor over (x, y), approach to the scan height."""

from __future__ import annotations

from ..context import StepContext
from ..limits import StationLimits
from .base import Procedure, param


class Park(Procedure):
    name = "park"
    measures = False  # brings the sensor where the next step reads
    summary = "Retract, move laterally to (x, y), approach to height; records one flux reading there."
    x: float = param("length", doc="lateral position (m)")
    y: float = param("length", doc="lateral position (m)")
    height: float = param("length", "1 um", "sensor height above the surface (m)", positive=True)
    integration_time: float = param("time", "0.5 s", "flux averaged this long (s)", positive=True)

    def validate(self, limits: StationLimits) -> None:
        limits.scanner_x.check(self.x)
        limits.scanner_y.check(self.y)
        limits.scanner_z.check(self.height)

    def expected_points(self) -> int:
        return 1

    def run(self, ctx: StepContext) -> None:
        scanner = ctx.station.scanner
        ctx.declare_series({"time": "s", "x": "m", "y": "m", "z": "m", "flux": "Phi0"}, signal="flux", axes=["time"])
        # Lateral moves happen retracted: the surface between here and there is unknown.
        scanner.retract(ctx)
        scanner.move_to(self.x, self.y, ctx)
        scanner.approach(self.height, ctx)
        x, y, z = scanner.position()
        flux = ctx.station.squid.read_flux(self.integration_time, ctx)
        ctx.record(time=ctx.now(), x=x, y=y, z=z, flux=flux)
