"""thermal_cycle: warm to each anneal temperature T_a in turn, hold, cool back to base;
optionally read the film's resistance at T_a and the flux at probe points after each
cycle (paper Fig. 3f: remanence versus T_a beside R(T))."""

from __future__ import annotations

import numpy as np

from ..context import StepContext
from ..limits import StationLimits
from .base import Procedure, check_point_count, param
from .common import STATE_COLUMNS, check_probes, read_probes, record_state, settle_temperature


class ThermalCycle(Procedure):
    name = "thermal_cycle"
    summary = ("Retract; for each anneal temperature: warm, hold, (read R), cool to base, (read probes). "
               "Bias and field stay as they are.")
    anneal_temperature: list[float] = param(
        "temperature", doc="T_a, or a list of them in order (K)", many=True, positive=True,
    )
    base_temperature: float = param("temperature", "1.5 K", "cool back to this (K)", positive=True)
    hold: float = param("time", "60 s", "time at T_a once settled (s)")
    tolerance: float = param("temperature", "0.02 K", "settled when within this of the target (K)", positive=True)
    timeout: float = param("time", "2 h", "give up settling after this long (s)", positive=True)
    record_interval: float = param("time", "5 s", "temperature logged this often (s)", positive=True)
    probes: dict[str, tuple[float, float]] | None = param(
        "probes", None, "points read at base after each cycle, {name: [x, y]} (m)",
    )
    probe_height: float = param("length", "1 um", "sensor height at the probe points (m)", positive=True)
    integration_time: float = param("time", "2 s", "flux averaged this long at each probe (s)", positive=True)
    resistance_current: float | None = param(
        "current", None, "if given, measure R at T_a with this +-current (A)", positive=True,
    )

    def check_consistency(self) -> None:
        check_point_count(len(self.anneal_temperature), "anneal temperatures", "split the list over several steps")

    def validate(self, limits: StationLimits) -> None:
        for temperature in self.anneal_temperature:
            limits.temperature.check(temperature)
        limits.temperature.check(self.base_temperature)
        if self.probes:
            check_probes(limits, self.probes, self.probe_height)
        if self.resistance_current is not None:
            # R is read with the current reversed: both signs must be allowed (around
            # zero bias here; run() checks again around the bias actually in force)
            limits.bias_current.check(self.resistance_current)
            limits.bias_current.check(-self.resistance_current)

    def expected_points(self) -> int:
        return 0

    def run(self, ctx: StepContext) -> None:
        station = ctx.station
        columns = dict(STATE_COLUMNS, anneal_temperature="K", resistance="ohm")
        columns.update({f"flux_{name}": "Phi0" for name in self.probes or {}})
        ctx.declare_series(columns, signal="temperature", axes=["time"])
        if self.resistance_current is not None:
            # R is measured around the bias in force: refuse now, not after the warm-up
            present = station.current_source.read_current()
            for level in (present + self.resistance_current, present - self.resistance_current):
                station.limits.bias_current.check(level)
        station.scanner.retract(ctx)  # thermal contraction moves the sample by microns
        results: dict[str, list[float]] = {}  # per anneal: each probe's flux after it, R at it
        for anneal in self.anneal_temperature:

            def log(**extra) -> None:
                record_state(ctx, anneal_temperature=anneal, **extra)

            settle_temperature(ctx, anneal, self.tolerance, 0.0, self.timeout, self.record_interval, log)
            held = 0.0
            while held < self.hold:
                log()
                interval = min(self.record_interval, self.hold - held)
                ctx.wait(interval)
                held += interval
            if self.resistance_current is not None:
                resistance = self._resistance(ctx)
                results.setdefault("resistance", []).append(resistance)
                log(resistance=resistance)
            settle_temperature(ctx, self.base_temperature, self.tolerance, 0.0, self.timeout,
                               self.record_interval, log)
            if self.probes:
                readings = read_probes(ctx, self.probes, self.probe_height, self.integration_time)
                for column, value in readings.items():
                    results.setdefault(column, []).append(value)
                log(**readings)
                station.scanner.retract(ctx)
            else:
                log()
        if results:  # remanence (and R) against the anneal temperature: what the step found
            units = {column: "ohm" if column == "resistance" else "Phi0" for column in results}
            ordered = sorted(results, key=lambda column: column == "resistance")  # the flux first, when read
            ctx.add_result("remanence" if self.probes else "resistance",
                           ("anneal_temperature", np.asarray(self.anneal_temperature, dtype=float), "K"),
                           {column: (np.asarray(results[column]), units[column]) for column in ordered})

    def _resistance(self, ctx: StepContext) -> float:
        """Four-probe resistance (ohm) with the current reversed (cancels thermal offsets)."""
        source, voltmeter = ctx.station.current_source, ctx.station.voltmeter
        assert self.resistance_current is not None  # only called when it is given
        present = source.read_current()
        source.ramp_to(present + self.resistance_current, ctx)
        positive = voltmeter.read_voltage(1.0, ctx)
        source.ramp_to(present - self.resistance_current, ctx)
        negative = voltmeter.read_voltage(1.0, ctx)
        source.ramp_to(present, ctx)
        return (positive - negative) / (2 * self.resistance_current)
