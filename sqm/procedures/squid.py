"""Characterising the nano-SQUID itself: its I-V, its interference pattern, and the
working point where its response to flux is steepest (docs/squid.md).

All three drive the SQUID's own bias (the squid_bias role) only by ramps from its
measured value within `limits.squid_bias`, and leave it where the step ends (the safe
state zeroes it); the magnet ramps within `limits.field`.
"""

from __future__ import annotations

import numpy as np

from ..analysis.squid_pattern import PHI0, fit_pattern, normal_resistance, peak_flux, threshold_crossing
from ..context import StepContext
from ..errors import InstrumentError, UserInputError
from ..limits import StationLimits
from ..roles import SquidBias, WorkingPoint
from .base import Procedure, check_point_count, param
from .bias_sweep import check_sweep_size, sweep_point_count, sweep_points

CONVERGED = 0.01  # a finer grid that finds a transfer larger by less than this (relative) ends the search
DITHER = 1e-3  # of a period (Phi0): the field offset the working point's transfer is measured over
DITHER_AVERAGING = 20  # those two readings integrate this many times a grid reading's time


def _check_squid_bias(limits: StationLimits, what: str, currents, rate: float | None) -> None:
    limits.require_role("squid_bias", what)
    current_range, ramp = limits.squid_bias_limits(what)
    for current in currents:
        current_range.check(current)
    if rate is not None:
        ramp.check(rate)


def _span_points(span: list[float], step: float) -> np.ndarray:
    """Evenly spaced values from span[0] to span[1] (both included), at most `step` apart."""
    count = int(np.ceil(abs(span[1] - span[0]) / step - 1e-9)) + 1
    return np.linspace(span[0], span[1], max(count, 2))


class SquidIV(Procedure):
    name = "squid_iv"
    summary = "Sweep the SQUID's own bias through turning points at a fixed field; record its voltage (the I-V)."
    points: list[float] = param("current", doc="turning points of the SQUID bias (A)", many=True, limit="squid_bias")
    step: float = param("current", "1 uA", "largest bias step between readings (A)", positive=True, limit="")
    field: float | None = param("field", None, "applied field during the sweep (T); default: as it is")
    rate: float | None = param("current_rate", None, "bias ramp rate (A/s); default: the station's", positive=True,
                               limit="squid_bias_ramp")
    integration_time: float = param("time", "0.05 s", "voltage averaged this long at each point (s)", positive=True)
    threshold: float = param("voltage", "10 uV", "voltage (either sign) above which the SQUID is resistive (V)",
                             positive=True)

    def check_consistency(self) -> None:
        check_sweep_size(self.points, self.step)

    def validate(self, limits: StationLimits) -> None:
        _check_squid_bias(limits, "squid_iv", self.points, self.rate)
        if self.field is not None:
            limits.field.check(self.field)

    def expected_points(self) -> int:
        return int(sweep_point_count(self.points, self.step))

    def run(self, ctx: StepContext) -> None:
        station = ctx.station
        bias = station.role(SquidBias)
        if self.field is not None:
            station.magnet.ramp_to(self.field, ctx)
        ctx.declare_series({"squid_bias": "A", "voltage": "V", "field": "T", "time": "s", "branch": "1"},
                           signal="voltage", axes=["squid_bias"])
        biases, volts = [], []
        for current, branch in sweep_points(self.points, self.step):
            bias.ramp_to(current, ctx, self.rate)
            volt = bias.read_voltage(self.integration_time, ctx)
            biases.append(bias.read_current())
            volts.append(volt)
            ctx.record(squid_bias=biases[-1], voltage=volt, field=station.magnet.read_field(), time=ctx.now(),
                       branch=branch)
        biases_a, volts_a = np.array(biases), np.array(volts)
        for sign, key in ((1, "critical_current_plus_A"), (-1, "critical_current_minus_A")):
            side = np.sign(biases_a) == sign
            order = np.argsort(np.abs(biases_a[side]), kind="stable")
            crossing = threshold_crossing(np.abs(biases_a[side][order]), volts_a[side][order], self.threshold)
            if crossing is not None:
                ctx.note(key, crossing)
        resistance = normal_resistance(biases_a, volts_a)
        if np.isfinite(resistance):
            ctx.note("differential_resistance_ohm", resistance)


class SquidInterference(Procedure):
    name = "squid_interference"
    summary = ("Step the applied field; at each field find the SQUID's critical current (both signs) or read its "
               "voltage at a fixed bias: the interference pattern, its period (effective area) and its skew.")
    fields: list[float] = param("field", doc="[first, last] applied field (T)", many=True, count=2)
    field_step: float = param("field", "0.2 G", "field step between readings (T)", positive=True, limit="")
    mode: str = param("text", "critical_current", "critical_current: Ic+ and Ic- at each field; voltage: V at `bias`",
                      choices=("critical_current", "voltage"))
    bias: float | None = param("current", None, "the SQUID bias of the voltage mode (A)", limit="squid_bias")
    bias_max: float | None = param("current", None, "critical_current mode: the largest bias tried, either sign (A)",
                                   positive=True, limit="squid_bias")
    bias_step: float = param("current", "0.5 uA", "bias step while looking for the critical current (A)",
                             positive=True, limit="")
    threshold: float = param("voltage", "10 uV", "voltage (either sign) that marks the critical current (V)",
                             positive=True)
    integration_time: float = param("time", "0.02 s", "voltage averaged this long per reading (s)", positive=True)

    def check_consistency(self) -> None:
        if self.fields[0] == self.fields[1]:
            raise UserInputError("fields: first and last are equal; a pattern needs a field range")
        check_point_count(abs(self.fields[1] - self.fields[0]) / self.field_step, "fields", "take a larger step")
        if self.mode == "voltage" and self.bias is None:
            raise UserInputError("bias: the voltage mode reads at a fixed SQUID bias; give one (e.g. 105 uA)")
        if self.mode == "critical_current" and self.bias_max is None:
            raise UserInputError("bias_max: the critical_current mode needs the largest |bias| to try (e.g. 140 uA)")

    def validate(self, limits: StationLimits) -> None:
        self.check_consistency()  # the bias it needs is given
        currents = [current for current in (self.bias, self.bias_max) if current is not None]
        currents += [-current for current in currents]  # the critical_current mode drives both signs
        _check_squid_bias(limits, "squid_interference", currents, None)
        for field in self.fields:
            limits.field.check(field)

    def expected_points(self) -> int:
        return len(_span_points(self.fields, self.field_step))

    def run(self, ctx: StepContext) -> None:
        station = ctx.station
        bias = station.role(SquidBias)
        fields = _span_points(self.fields, self.field_step)
        if self.mode == "voltage":
            ctx.declare_series({"field": "T", "voltage": "V", "time": "s"}, signal="voltage", axes=["field"])
            bias.ramp_to(float(self.bias or 0.0), ctx)  # given: check_consistency
            values = []
            for field in fields:
                station.magnet.ramp_to(float(field), ctx)
                values.append(bias.read_voltage(self.integration_time, ctx))
                ctx.record(field=station.magnet.read_field(), voltage=values[-1], time=ctx.now())
            self._note_pattern(ctx, fields, {"voltage": np.array(values)})
            return
        ctx.declare_series({"field": "T", "critical_current_plus": "A", "critical_current_minus": "A", "time": "s"},
                           signal="critical_current_plus", axes=["field"],
                           auxiliary_signals=["critical_current_minus"])
        found: dict[int, list[float]] = {1: [], -1: []}
        for field in fields:
            station.magnet.ramp_to(float(field), ctx)
            for sign in (1, -1):
                previous = found[sign][-1] if found[sign] else None
                found[sign].append(self._critical_current(ctx, bias, sign, previous))
            bias.ramp_to(0.0, ctx)
            ctx.record(field=station.magnet.read_field(), critical_current_plus=found[1][-1],
                       critical_current_minus=found[-1][-1], time=ctx.now())
        self._note_pattern(ctx, fields, {"plus": np.array(found[1]), "minus": np.array(found[-1])})

    def _critical_current(self, ctx: StepContext, bias: SquidBias, sign: int, previous: float | None) -> float:
        """|Ic| (A) in the direction `sign`: the bias stepped up from zero (or from a little
        below the last field's, where the pattern is continuous) until |V| > threshold."""
        assert self.bias_max is not None
        start = 0.0 if previous is None or not np.isfinite(previous) else max(0.0, previous - 8 * self.bias_step)
        levels = np.arange(start, self.bias_max + self.bias_step / 2, self.bias_step)
        if start > 0:  # the SQUID must be superconducting where the search starts
            bias.ramp_to(sign * start, ctx)
            if abs(bias.read_voltage(self.integration_time, ctx)) >= self.threshold:
                bias.ramp_to(0.0, ctx)
                levels = np.arange(0.0, self.bias_max + self.bias_step / 2, self.bias_step)
        read_levels, volts = [], []
        for level in levels:
            bias.ramp_to(sign * float(min(level, self.bias_max)), ctx)
            read_levels.append(abs(bias.read_current()))
            volts.append(bias.read_voltage(self.integration_time, ctx))
            if abs(volts[-1]) >= self.threshold:
                break
        crossing = threshold_crossing(read_levels, volts, self.threshold)
        bias.ramp_to(0.0, ctx)
        return float("nan") if crossing is None else crossing

    def _note_pattern(self, ctx: StepContext, fields: np.ndarray, patterns: dict[str, np.ndarray]) -> None:
        fits = {}
        for name, values in patterns.items():
            try:
                fits[name] = fit_pattern(fields, values)
            except ValueError as error:
                ctx.note(f"pattern_{name}", f"not fitted: {error}")
        if not fits:
            return
        period = float(np.mean([fit.period for fit in fits.values()]))
        ctx.note("period_T", period)
        ctx.note("effective_area_m2", PHI0 / period)
        peaks = {}
        for name in fits:
            try:
                peaks[name] = peak_flux(fields, patterns[name], period)
            except ValueError as error:
                ctx.note(f"maximum_flux_{name}", f"not found: {error}")
                continue
            ctx.note(f"maximum_flux_{name}_Phi0", peaks[name])
        if {"plus", "minus"} <= set(peaks):
            # the two polarities peak apart when the SQUID is asymmetric: half the split
            ctx.note("skew_Phi0", ((peaks["plus"] - peaks["minus"] + 0.5) % 1.0 - 0.5) / 2)


class WorkingPointSearch(Procedure):
    name = "working_point"
    summary = ("Read the SQUID's voltage over a grid of bias and field, then a finer grid about the steepest point; "
               "go to the bias and field of the steepest dV/dPhi (either sign) and record it as the working point.")
    fields: list[float] = param("field", doc="[first, last] applied field searched (T)", many=True, count=2)
    field_step: float = param("field", "0.5 G", "coarse field step (T)", positive=True, limit="")
    biases: list[float] = param("current", doc="[first, last] SQUID bias searched (A)", many=True, count=2,
                                limit="squid_bias")
    bias_step: float = param("current", "2 uA", "coarse bias step (A)", positive=True, limit="")
    refine: float = param("dimensionless", 5, "the fine grid's steps are the coarse ones divided by this",
                          positive=True)
    refinements: int = param("dimensionless", 3, "at most this many finer grids about the steepest point",
                             positive=True)
    field_period: float | None = param("field", None, "the pattern's period (T); default: found from the grid",
                                       limit="")
    integration_time: float = param("time", "0.02 s", "voltage averaged this long per reading (s)", positive=True)

    def check_consistency(self) -> None:
        for name, span in (("fields", self.fields), ("biases", self.biases)):
            if span[0] == span[1]:
                raise UserInputError(f"{name}: first and last are equal; the search needs a range")
        size = (abs(self.fields[1] - self.fields[0]) / self.field_step) * (
            abs(self.biases[1] - self.biases[0]) / self.bias_step)
        check_point_count(size, "grid points", "take larger steps")
        if self.refinements != int(self.refinements) or self.refine < 2:
            raise UserInputError(f"refinements: a whole number, and refine at least 2; got {self.refinements:g}, "
                                 f"{self.refine:g}")

    def validate(self, limits: StationLimits) -> None:
        _check_squid_bias(limits, "working_point", self.biases, None)
        for field in self.fields:
            limits.field.check(field)

    def expected_points(self) -> int:
        coarse = len(_span_points(self.fields, self.field_step)) * len(_span_points(self.biases, self.bias_step))
        return coarse + int(self.refinements) * (4 * int(round(self.refine)) + 1) ** 2

    def run(self, ctx: StepContext) -> None:
        station = ctx.station
        bias = station.role(SquidBias)
        ctx.declare_series({"stage": "1", "field": "T", "squid_bias": "A", "voltage": "V", "time": "s"},
                           signal="voltage", axes=["squid_bias"], curve_by="stage")
        fields = _span_points(self.fields, self.field_step)
        biases = _span_points(self.biases, self.bias_step)
        coarse = self._grid(ctx, bias, fields, biases, stage=0)
        period = self.field_period or self._period(fields, coarse)
        ctx.note("field_period_T", period)
        grid, row, column, transfer = coarse, *self._steepest(coarse, fields, period)
        # the steepest point is narrow (a fraction of a uA and of 0.01 Phi0 where the I-V is
        # rounded): finer grids about it until the transfer found stops growing
        for stage in range(1, int(self.refinements) + 1):
            # not finer than DITHER of a period: below it the difference of two readings is
            # mostly their noise, and the largest of many noisy slopes overstates the transfer
            if (fields[1] - fields[0]) / self.refine < DITHER * period:
                break
            fields = self._around(fields, column, self.fields)
            biases = self._around(biases, row, self.biases)
            grid = self._grid(ctx, bias, fields, biases, stage=stage)
            previous = transfer
            row, column, transfer = self._steepest(grid, fields, period)
            if abs(transfer) < abs(previous) * (1 + CONVERGED):
                break
        field, current = float(fields[column]), float(biases[row])
        bias.ramp_to(current, ctx)
        transfer = self._dithered_transfer(ctx, bias, field, period)
        station.magnet.ramp_to(field, ctx)
        volts = bias.read_voltage(self.integration_time, ctx)
        point = WorkingPoint(bias=bias.read_current(), field=station.magnet.read_field(), transfer=transfer,
                             voltage=volts)
        bias.record_working_point(point, ctx)
        for key, value in point.snapshot().items():
            ctx.note(key, value)

    def _dithered_transfer(self, ctx: StepContext, bias: SquidBias, field: float, period: float) -> float:
        """dV/dPhi (V/Phi0) at the chosen point, measured afresh: the voltage at the field
        DITHER of a period either side, each read DITHER_AVERAGING times as long as a grid
        reading (the grid's own slope is the largest of many noisy ones)."""
        magnet = ctx.station.magnet
        volts = []
        for offset in (-DITHER * period, DITHER * period):
            magnet.ramp_to(field + offset, ctx)
            volts.append(bias.read_voltage(DITHER_AVERAGING * self.integration_time, ctx))
        return (volts[1] - volts[0]) / (2 * DITHER)

    def _grid(self, ctx: StepContext, bias: SquidBias, fields: np.ndarray, biases: np.ndarray,
              stage: int) -> np.ndarray:
        """V (V) at every (bias, field): rows are biases, columns fields; the field stepped
        outermost (the magnet is the slow one), the bias swept up at each."""
        grid = np.empty((len(biases), len(fields)))
        for column, field in enumerate(fields):
            ctx.station.magnet.ramp_to(float(field), ctx)
            for row, level in enumerate(biases):
                bias.ramp_to(float(level), ctx)
                grid[row, column] = bias.read_voltage(self.integration_time, ctx)
                ctx.record(stage=stage, field=float(field), squid_bias=float(level), voltage=grid[row, column],
                           time=ctx.now())
        return grid

    @staticmethod
    def _period(fields: np.ndarray, grid: np.ndarray) -> float:
        modulation = np.ptp(grid, axis=1)
        try:
            return fit_pattern(fields, grid[int(np.argmax(modulation))]).period
        except ValueError as error:
            raise InstrumentError(f"working_point: cannot tell the pattern's period from the grid ({error}); give "
                                  "field_period, or search a wider field range") from None

    @staticmethod
    def _steepest(grid: np.ndarray, fields: np.ndarray, period: float) -> tuple[int, int, float]:
        """Row (bias), column (field) and transfer (V/Phi0, signed) of the largest |dV/dPhi|."""
        transfer = np.gradient(grid, fields, axis=1) * period  # V/Phi0
        transfer[:, [0, -1]] = 0  # one-sided differences at the ends: not trusted
        row, column = np.unravel_index(int(np.argmax(np.abs(transfer))), transfer.shape)
        return int(row), int(column), float(transfer[row, column])

    def _around(self, values: np.ndarray, index: int, span: list[float]) -> np.ndarray:
        """A finer grid over two coarse steps either side of values[index], inside `span`."""
        step = (values[1] - values[0]) / self.refine
        low, high = min(span), max(span)
        centre = values[index]
        count = int(round(4 * self.refine)) + 1
        fine = centre + step * (np.arange(count) - (count - 1) / 2)
        return fine[(fine >= low - 1e-15) & (fine <= high + 1e-15)]
