"""Transport through the sample: iv_curve (paper Fig. 2c) and resistance_vs_temperature
(Fig. 3f, S1a), read by the four-probe voltmeter."""

from __future__ import annotations

from ..context import StepContext
from ..limits import StationLimits
from .base import Procedure, check_point_count, param
from .bias_sweep import check_sweep_size, sweep_point_count, sweep_points
from .common import lead_pair_param, route_bias, settle_temperature


class IVCurve(Procedure):
    name = "iv_curve"
    summary = "Sweep the bias through turning points and read the four-probe voltage (I-V curve, I_c)."
    points: list[float] = param("current", [0, "300 uA"], "turning points of the sweep (A)", many=True)
    step: float = param("current", "2 uA", "largest step between readings (A)", positive=True)
    settle: float = param("time", "0.1 s", "wait after each step before reading (s)")
    integration_time: float = param("time", "0.2 s", "voltage averaged this long (s)", positive=True)
    leads: tuple[str, str] | None = lead_pair_param()

    def check_consistency(self) -> None:
        check_sweep_size(self.points, self.step)

    def validate(self, limits: StationLimits) -> None:
        limits.check_leads(self.leads)
        for current in self.points:
            limits.bias_current.check(current)

    def expected_points(self) -> int:
        return int(sweep_point_count(self.points, self.step))

    def run(self, ctx: StepContext) -> None:
        station = ctx.station
        ctx.declare_series(
            {"bias_current": "A", "voltage": "V", "temperature": "K", "time": "s", "branch": "1"},
            signal="voltage",
            axes=["bias_current"],
        )
        route_bias(ctx, self.leads)
        for current, branch in sweep_points(self.points, self.step):
            station.current_source.ramp_to(current, ctx)
            ctx.wait(self.settle)
            voltage = station.voltmeter.read_voltage(self.integration_time, ctx)
            ctx.record(
                bias_current=station.current_source.read_current(),
                voltage=voltage,
                temperature=station.temperature.read_temperature(),
                time=ctx.now(),
                branch=branch,
            )
        station.current_source.ramp_to(0.0, ctx)


class ResistanceVsTemperature(Procedure):
    name = "resistance_vs_temperature"
    summary = "Settle at each temperature and measure the four-probe resistance with a small +-current."
    temperatures: list[float] = param("temperature", doc="temperatures to settle at, in order (K)", many=True)
    current: float = param("current", "10 uA", "probe current, applied with both signs (A)", positive=True)
    integration_time: float = param("time", "1 s", "voltage averaged this long per sign (s)", positive=True)
    tolerance: float = param("temperature", "0.02 K", "settled within this (K)", positive=True)
    hold: float = param("time", "10 s", "within tolerance this long before reading (s)")
    timeout: float = param("time", "1 h", "give up settling after this long (s)", positive=True)
    leads: tuple[str, str] | None = lead_pair_param()

    def check_consistency(self) -> None:
        check_point_count(len(self.temperatures), "temperatures", "split the list over several steps")

    def validate(self, limits: StationLimits) -> None:
        for temperature in self.temperatures:
            limits.temperature.check(temperature)
        # the delta method applies the probe current with both signs
        limits.bias_current.check(self.current)
        limits.bias_current.check(-self.current)
        limits.check_leads(self.leads)

    def expected_points(self) -> int:
        return len(self.temperatures)

    def run(self, ctx: StepContext) -> None:
        station = ctx.station
        ctx.declare_series(
            {"temperature": "K", "resistance": "ohm", "setpoint": "K", "time": "s"},
            signal="resistance",
            axes=["temperature"],
        )
        source, voltmeter = station.current_source, station.voltmeter
        route_bias(ctx, self.leads)
        station.scanner.retract(ctx)  # thermal contraction moves the sample by microns
        for setpoint in self.temperatures:
            settle_temperature(ctx, setpoint, self.tolerance, self.hold, self.timeout, 5.0, lambda: None)
            # Reversing the current cancels thermoelectric offsets (the delta method).
            source.ramp_to(self.current, ctx)
            positive = voltmeter.read_voltage(self.integration_time, ctx)
            source.ramp_to(-self.current, ctx)
            negative = voltmeter.read_voltage(self.integration_time, ctx)
            source.ramp_to(0.0, ctx)
            ctx.record(
                temperature=station.temperature.read_temperature(),
                resistance=(positive - negative) / (2 * self.current),
                setpoint=setpoint,
                time=ctx.now(),
            )
