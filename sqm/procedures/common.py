"""Small pieces shared by procedures: settling the temperature, standard columns."""

from __future__ import annotations

from typing import Callable

from ..context import StepContext
from ..errors import InstrumentError
from .base import param

# Columns most steps record beside their own, with units.
STATE_COLUMNS = {"time": "s", "temperature": "K", "field": "T", "bias_current": "A"}


def lead_pair_param():
    """The `leads` parameter of a step that drives the bias current."""
    return param("leads", None, "the sample's leads the bias runs between, [source, drain]; "
                 "default: the station's pair (switched only at zero current)")


def route_bias(ctx: StepContext, leads: tuple[str, str] | None) -> None:
    """Drive the bias between `leads` (None: the station's default pair); the current ramps
    to zero first if the pair changes."""
    ctx.station.current_source.select_leads(leads, ctx)


def record_state(ctx: StepContext, **extra: float) -> None:
    """Record time, temperature, field and bias current, plus `extra` columns."""
    station = ctx.station
    ctx.record(
        time=ctx.now(),
        temperature=station.temperature.read_temperature(),
        field=station.magnet.read_field(),
        bias_current=station.current_source.read_current(),
        **extra,
    )


def settle_temperature(
    ctx: StepContext,
    target: float,
    tolerance: float,
    hold: float,
    timeout: float,
    poll: float,
    on_poll: Callable[[], None],
) -> float:
    """Set the heater to `target` (K) and wait until within `tolerance` (K) for `hold` (s).

    Calls `on_poll()` every `poll` seconds (to record the approach). Returns the
    seconds it took; raises InstrumentError after `timeout` seconds.
    """
    temperature = ctx.station.temperature
    temperature.set_setpoint(target)
    start = ctx.now()
    stable_since: float | None = None
    while True:
        on_poll()
        now = ctx.now()
        reading = temperature.read_temperature()
        if abs(reading - target) <= tolerance:
            stable_since = now if stable_since is None else stable_since
            if now - stable_since >= hold:
                return now - start
        else:
            stable_since = None
        if now - start > timeout:
            raise InstrumentError(
                f"temperature {reading:.4g} K did not settle at {target:.4g} K within {timeout:.0f} s")
        ctx.wait(poll)


def check_probes(limits, probes: dict[str, tuple[float, float]], height: float) -> None:
    """Every probe point inside the scan range, and the height inside the z range."""
    for x, y in probes.values():
        limits.scanner_x.check(x)
        limits.scanner_y.check(y)
    limits.scanner_z.check(height)


def read_probes(ctx: StepContext, probes: dict[str, tuple[float, float]], height: float,
                integration_time: float) -> dict[str, float]:
    """Visit each named point (retracted between points), read the flux there: {flux_<name>: Phi0}."""
    scanner, squid = ctx.station.scanner, ctx.station.squid
    readings = {}
    for name, (x, y) in probes.items():
        scanner.retract(ctx)
        scanner.move_to(x, y, ctx)
        scanner.approach(height, ctx)
        readings[f"flux_{name}"] = squid.read_flux(integration_time, ctx)
    return readings
