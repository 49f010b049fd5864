"""raster_scan: a magnetometry or susceptometry image, acquired line by line."""

from __future__ import annotations

import math

import numpy as np

from ..context import StepContext
from ..errors import UserInputError
from ..limits import StationLimits
from ..roles import SIGNAL_UNITS, ScanLine
from ..units import format_si
from .base import Procedure, check_point_count, param
from .common import lead_pair_param, route_bias
from .flux_jump_records import jumps_in, lock_lost, store_unwrapped_image, wait_for_relock
from .scan_path import FITTED_PLANE, direction_param, height_mode_param, image_names, plan, scan_row


def _m(length: float) -> str:
    """A length as a person reads it: 5e-07 -> '500 nm'."""
    return format_si(length, "m")


def axis_count(span: list[float], pixel_size: float) -> float:
    """len(axis_points(span, pixel_size)), counted without building the array
    (a float: a mistyped pixel size may make it huge)."""
    ratio = abs(span[1] - span[0]) / pixel_size
    return math.floor(ratio + 1e-9) + 1 if ratio < 1e15 else ratio


def axis_points(span: list[float], pixel_size: float) -> np.ndarray:
    """Pixel centres (m) from span[0] to span[1] in steps of `pixel_size` (both ends included)."""
    count = int(axis_count(span, pixel_size))
    return span[0] + np.sign(span[1] - span[0]) * pixel_size * np.arange(count)


class RasterScan(Procedure):
    name = "raster_scan"
    summary = "Image a region line by line (flux or susceptibility), holding the bias and field; reconstruct currents."
    x: list[float] = param("length", doc="[start, stop] of each line (m)", many=True, count=2)
    y: list[float] = param("length", doc="[first, last] line (m)", many=True, count=2)
    pixel_size: float = param("length", "0.5 um", "pixel side (m)", positive=True)
    line_time: float = param("time", "1 s", "time to scan one line (s)", positive=True)
    signal: str = param("text", "flux", "what to image", choices=tuple(SIGNAL_UNITS))
    height: float = param("length", "1 um", "sensor height above the surface (m)", positive=True)
    bias_current: float | None = param("current", None, "ramp the bias to this and hold it during the scan (A)")
    field: float | None = param("field", None, "ramp the magnet to this and hold it during the scan (T)")
    reconstruct: bool = param("flag", True, "store the sheet current density (Kx, Ky) of a flux image")
    height_mode: str = height_mode_param()
    direction: str = direction_param()
    leads: tuple[str, str] | None = lead_pair_param()
    repeat_unlocked_lines: int = param("dimensionless", 0, "take a line again (up to this many times) when the "
                                       "SQUID's loop lost lock during it, once it has relocked")

    resumable = True  # a resumed scan goes on from its next line

    def check_consistency(self) -> None:
        if self.repeat_unlocked_lines != int(self.repeat_unlocked_lines) or self.repeat_unlocked_lines < 0:
            raise UserInputError("repeat_unlocked_lines: a whole number, 0 or more, got "
                                 f"{self.repeat_unlocked_lines:g}")
        if self.leads is not None and self.bias_current is None:
            raise UserInputError("leads: name them with the bias_current they carry")
        nx, ny = (axis_count(self.values[axis], self.pixel_size) for axis in ("x", "y"))
        shape = f"{nx:,.0f} x {ny:,.0f}; " if nx < 1e15 and ny < 1e15 else ""
        check_point_count(nx * ny, "pixels", f"{shape}use larger pixels or a smaller area")
        for axis in ("x", "y"):
            if axis_count(self.values[axis], self.pixel_size) < 2:
                raise UserInputError(f"{axis}: the range holds fewer than 2 pixels of {self.pixel_size:.3g} m")
        if self.reconstructs:
            # The window's rules depend on the height, hardly on the loop: check with a
            # nominal 0.5 um loop now, and with the readout's own loop before the scan starts.
            self._check_reconstructable(pickup_radius=0.5e-6)

    @property
    def reconstructs(self) -> bool:
        return bool(self.reconstruct) and self.signal == "flux"

    def _check_reconstructable(self, pickup_radius: float) -> None:
        """Refuse a scan whose currents cannot be reconstructed, saying which of this
        step's parameters to change and to what (the window follows from the height)."""
        from ..analysis.currents import (
            DEFAULT_CUTOFF_IN_HEIGHTS,
            MIN_CUTOFFS_PER_IMAGE,
            MIN_PIXELS_PER_CUTOFF,
            PSF_FIRST_ZERO,
            check_image_geometry,
        )

        shape = (len(self.y_pixels), len(self.x_pixels))
        height, pixel = self.height, self.pixel_size
        cutoff = DEFAULT_CUTOFF_IN_HEIGHTS * height  # the window reconstruct_current uses (its default)
        # the rules of sqm.analysis.currents, in the order it checks them, said in this step's terms
        lowest = 2 * np.pi * pickup_radius / PSF_FIRST_ZERO / DEFAULT_CUTOFF_IN_HEIGHTS  # heights must exceed it
        if cutoff <= 2 * np.pi * pickup_radius / PSF_FIRST_ZERO:
            raise UserInputError(
                f"height {_m(height)}: too low to reconstruct currents with a pickup loop of radius "
                f"{_m(pickup_radius)}; it must be above {_m(lowest)} (raise height, or set reconstruct: false)")
        if cutoff / pixel < MIN_PIXELS_PER_CUTOFF:
            largest_pixel = cutoff / MIN_PIXELS_PER_CUTOFF
            high_enough = MIN_PIXELS_PER_CUTOFF * pixel / DEFAULT_CUTOFF_IN_HEIGHTS
            raise UserInputError(
                f"pixel_size {_m(pixel)}: pixels too coarse to reconstruct currents at height {_m(height)}; "
                f"use pixel_size <= {_m(largest_pixel)}, or height >= {_m(high_enough)} (or set reconstruct: false)")
        side = min(shape) * pixel
        if side < MIN_CUTOFFS_PER_IMAGE * cutoff:
            low_enough = side / (MIN_CUTOFFS_PER_IMAGE * DEFAULT_CUTOFF_IN_HEIGHTS)
            lower = f", or use height <= {_m(low_enough)}" if low_enough > lowest else ""  # else too low for the loop
            raise UserInputError(
                f"x, y: image too small for the reconstruction window at height {_m(height)}: its shorter "
                f"side, {_m(side)} ({min(shape)} pixels of {_m(pixel)}), must be at least "
                f"{_m(MIN_CUTOFFS_PER_IMAGE * cutoff)}; scan a larger x or y range{lower} "
                f"(or set reconstruct: false)")
        try:  # what the rules above do not cover (none today)
            check_image_geometry(shape, pixel, height, pickup_radius)
        except ValueError as error:
            raise UserInputError(f"{error} (or set reconstruct: false)") from None

    @property
    def x_pixels(self) -> np.ndarray:
        return axis_points(self.values["x"], self.pixel_size)

    @property
    def y_pixels(self) -> np.ndarray:
        return axis_points(self.values["y"], self.pixel_size)

    def validate(self, limits: StationLimits) -> None:
        for x in self.values["x"]:
            limits.scanner_x.check(x)
        for y in self.values["y"]:
            limits.scanner_y.check(y)
        limits.scanner_z.check(self.height)
        if self.bias_current is not None:
            limits.bias_current.check(self.bias_current)
        if self.field is not None:
            limits.field.check(self.field)
        limits.check_leads(self.leads)

    def expected_points(self) -> int:
        return len(self.y_pixels) * len(image_names(self.signal, self.direction))  # lines recorded

    def needs(self) -> frozenset[str]:
        return frozenset({FITTED_PLANE}) if self.height_mode == "plane" else frozenset()

    def run(self, ctx: StepContext) -> None:
        station = ctx.station
        if self.reconstructs:
            self._check_reconstructable(station.squid.pickup_radius)  # before anything moves
        xs, ys = self.x_pixels, self.y_pixels
        scanner = station.scanner
        lines = plan(scanner, [ScanLine((xs[0], y), (xs[-1], y), len(xs), self.line_time) for y in ys],
                     self.height, self.height_mode)  # the whole path checked before anything moves
        if self.bias_current is not None:
            route_bias(ctx, self.leads)
            station.current_source.ramp_to(self.bias_current, ctx)
        if self.field is not None:
            station.magnet.ramp_to(self.field, ctx)
        first_row = ctx.resume_from  # lines already in the file (a resumed scan), else 0
        scanner.retract(ctx)
        scanner.move_to(xs[0], ys[min(first_row, len(ys) - 1)], ctx)
        scanner.approach(self.height, ctx)
        ctx.note("bias_current_A", station.current_source.read_current())
        ctx.note("field_T", station.magnet.read_field())
        ctx.note("temperature_K", station.temperature.read_temperature())
        names = image_names(self.signal, self.direction)
        for name in names:
            ctx.declare_image(name, SIGNAL_UNITS[self.signal], ("y", ys, "m"), ("x", xs, "m"))
        # Lines stream to the file; the whole image is held only for the reconstruction.
        image = np.full((len(ys), len(xs)), np.nan) if self.reconstructs else None
        unlocked = np.zeros(len(ys), dtype=bool)  # the line kept was taken while the loop was unlocked
        attempts = np.ones(len(ys), dtype=int)
        jumps = 0
        if first_row:  # what the interrupted part took: the rest is computed on the whole image
            for name in names:
                before = ctx.read_image(name)[:first_row]
                jumps += sum(jumps_in(values) for values in before) if self.signal == "flux" else 0
                if image is not None and name == self.signal:
                    image[:first_row] = before
        for row, line in enumerate(lines):
            if row < first_row:
                continue
            scanned, unlocked[row], attempts[row] = self._scan_line(ctx, line)
            for name in names:
                ctx.record_line(name, row, scanned[name])
                jumps += jumps_in(scanned[name]) if self.signal == "flux" else 0
            if image is not None:
                image[row] = scanned[self.signal]
            ctx.checkpoint()
        self._record_lock(ctx, names, unlocked, attempts, jumps)
        if image is not None:
            self._store_current_density(ctx, image)

    def _scan_line(self, ctx: StepContext, line: ScanLine) -> tuple[dict[str, np.ndarray], bool, int]:
        """One row (both ways, if asked), taken again after a relock while the loop lost
        lock during it and repeats are left: (the images' values, unlocked, attempts)."""
        readout = ctx.station.squid
        attempt = 1
        while True:
            count_before = readout.unlock_count()
            scanned = scan_row(ctx.station.scanner, readout, self.signal, line, self.direction, ctx)
            lost = lock_lost(readout, count_before)
            if not lost or attempt > self.repeat_unlocked_lines:
                return scanned, lost, attempt
            wait_for_relock(ctx, readout)
            attempt += 1

    def _record_lock(self, ctx: StepContext, names: list[str], unlocked: np.ndarray, attempts: np.ndarray,
                     jumps: int) -> None:
        """Which lines the loop lost lock in, and the unwrapped images when there were jumps."""
        ctx.note("unlocked_lines", int(unlocked.sum()))
        lock_was_lost = bool(unlocked.any() or (attempts > 1).any())
        if lock_was_lost:
            ctx.add_dataset("line_unlocked", unlocked.astype(float), "1", beside=names[0])
            ctx.add_dataset("line_attempts", attempts.astype(float), "1", beside=names[0])
        if self.signal == "flux" and (jumps or lock_was_lost):
            for name in names:
                store_unwrapped_image(ctx, name)

    def _store_current_density(self, ctx, image: np.ndarray) -> None:
        from ..analysis.currents import reconstruct_current

        kx, ky = reconstruct_current(image, self.pixel_size, self.height, ctx.station.squid.pickup_radius)
        ctx.add_dataset("Kx", kx, "A/m")
        ctx.add_dataset("Ky", ky, "A/m")
