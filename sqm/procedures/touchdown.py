"""touchdown and plane_fit: find the sample surface with the touchdown sensor, without
pressing the sensor into it, and the plane of the sample from several touchdowns.

A touchdown approaches in steps of the fine z from a start height above the known
surface (or from the top, when it is unknown), reading the touchdown sensor at every
step; it stops as soon as the signal has stopped rising with the approach
(sqm.analysis.touchdown: a few steps past contact, far inside the sensor mount's
compliance), locates the contact by a two-line fit, retracts by a margin, and records
the surface through the contact (the tilt known so far kept). A plane fit does this at
a grid of points and records the plane fitted to them, refusing it when it explains
them worse than a tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..analysis.touchdown import CONFIRM, EXTRA_IN_CONTACT, WINDOW, Contact, contact_reached, locate_contact
from ..context import StepContext
from ..errors import InstrumentError, UserInputError
from ..limits import StationLimits
from ..pacing import Pacer
from ..roles import TOUCHDOWN_MAX_STEP, Scanner, TouchdownSensor
from ..surface import SurfacePlane, fit_plane
from .base import Procedure, param
from .scan_path import FITTED_PLANE

# The most steps a touchdown takes in contact before it stops: the confirming and the extra
# ones, and one more when the first reading in contact is barely in it (it looks like approach).
STEPS_PAST_CONTACT = CONFIRM + EXTRA_IN_CONTACT + 1


@dataclass(frozen=True)
class ApproachSettings:
    """How a touchdown approaches (SI units)."""

    start_height: float  # m above the known surface where the stepping starts
    step: float  # m per step of the fine z
    integration_time: float  # s per reading of the touchdown sensor
    retract_by: float  # m above the contact to withdraw to


def approach_to_contact(scanner: Scanner, sensor: TouchdownSensor, pacer: Pacer, x: float, y: float,
                        settings: ApproachSettings,
                        on_reading: Callable[[float, float], None] = lambda z, signal: None) -> Contact:
    """One touchdown at (x, y) (m): approach until contact, locate it, withdraw by the margin,
    and record the surface through it. `on_reading(z, signal)` sees every reading (m, V).
    InstrumentError when no contact is found within the search the scanner allows."""
    scanner.retract(pacer)
    scanner.move_to(x, y, pacer)
    surface = scanner.surface
    if surface is not None and surface.measured:
        # a measured surface: straight to the start height above it, raised by what a tilt
        # not yet measured may add this far from the touchdown that measured it
        start = settings.start_height + surface.uncertainty + surface.unknown_tilt_reach(x, y)
        if start < scanner.limits.scanner_z.maximum:
            scanner.approach(start, pacer)
    # otherwise (only assumed, or unknown, or too far from where it was measured) step down
    # all the way from the top: nothing moves fast towards a surface not measured there
    contact = sweep_to_contact(scanner, sensor, pacer, settings, on_reading)
    if contact is None:
        raise InstrumentError(f"scanner: the touchdown reached the bottom of the z piezo's reach "
                              f"({scanner.z_range()[0] * 1e6:.3f} um) without contact")
    record_contact(scanner, pacer, x, y, contact, settings, f"touchdown at ({x * 1e6:.2f}, {y * 1e6:.2f}) um")
    return contact


def sweep_to_contact(scanner: Scanner, sensor: TouchdownSensor, pacer: Pacer, settings: ApproachSettings,
                     on_reading: Callable[[float, float], None]) -> Contact | None:
    """Step the fine z down from where it is, reading the touchdown sensor at every step,
    until contact (then EXTRA_IN_CONTACT steps more for the contact line, and the contact
    located) or until the next step would leave the z piezo's reach (None: no surface
    within it). Each step is the scanner's touchdown_step: at most TOUCHDOWN_MAX_STEP, and
    no deeper under a known surface than it allows."""
    bottom = scanner.z_range()[0]
    zs: list[float] = []
    signals: list[float] = []
    while True:
        z = scanner.position()[2]
        signal = sensor.read_signal(settings.integration_time, pacer)
        zs.append(z)
        signals.append(signal)
        on_reading(z, signal)
        if contact_reached(zs, signals, noise=0.0):
            break
        if z - settings.step < bottom:
            return None
        scanner.touchdown_step(z - settings.step, pacer)
    extra = 0
    while extra < EXTRA_IN_CONTACT and zs[-1] - settings.step >= bottom:  # more readings for the contact line
        scanner.touchdown_step(zs[-1] - settings.step, pacer)
        zs.append(scanner.position()[2])
        signals.append(sensor.read_signal(settings.integration_time, pacer))
        on_reading(zs[-1], signals[-1])
        extra += 1
    return locate_contact(zs, signals, noise=0.0, trailing=CONFIRM + extra)


def record_contact(scanner: Scanner, pacer: Pacer, x: float, y: float, contact: Contact,
                   settings: ApproachSettings, source: str) -> None:
    """Record the surface through the contact at (x, y) (the tilt known so far kept), then
    withdraw to `retract_by` above it."""
    surface = scanner.surface if scanner.surface is not None else SurfacePlane(source=source)
    scanner.record_surface(surface.through(x, y, contact.z, source, contact.uncertainty))
    scanner.approach(settings.retract_by, pacer)


class _Approach:
    """The parameters every touchdown takes (a mixin of the two procedures)."""

    start_height: float = param("length", "3 um", "height above a measured surface where the approach starts (m); "
                                "above a surface only assumed (the station file's) it starts from the top",
                                positive=True)
    step: float = param("length", "20 nm", f"fine z step between readings (m): at most "
                        f"{TOUCHDOWN_MAX_STEP * 1e9:.0f} nm, and at most 1/{STEPS_PAST_CONTACT} of the station's "
                        "limits.scanner.press (the touchdown stops that many steps past contact)", positive=True)
    integration_time: float = param("time", "0.3 s", "touchdown sensor averaged this long per step (s)",
                                    positive=True)
    retract_by: float = param("length", "1 um", "height above the contact to withdraw to (m)", positive=True)

    def settings(self) -> ApproachSettings:
        return ApproachSettings(self.start_height, self.step, self.integration_time, self.retract_by)

    def check_approach(self, limits: StationLimits, what: str) -> None:
        limits.require_role("touchdown", what)
        limits.scanner_z.check(self.start_height)
        limits.scanner_z.check(self.retract_by)
        if self.step > TOUCHDOWN_MAX_STEP:
            raise UserInputError(f"step: {self.step * 1e9:.0f} nm; a touchdown steps by at most "
                                 f"{TOUCHDOWN_MAX_STEP * 1e9:.0f} nm between readings")
        steps_past = STEPS_PAST_CONTACT
        if steps_past * self.step > limits.touchdown_press * (1 + 1e-9):
            raise UserInputError(
                f"step: {self.step * 1e9:.0f} nm would press the sensor up to {steps_past * self.step * 1e9:.0f} nm "
                f"past contact ({steps_past} steps) before the touchdown stops; this station allows "
                f"{limits.touchdown_press * 1e9:.0f} nm (limits.scanner.press): take steps of at most "
                f"{limits.touchdown_press / steps_past * 1e9:.0f} nm")
        room = (WINDOW + CONFIRM + 2) * self.step  # the approach's line is fitted before contact can be told
        if self.start_height < room:
            raise UserInputError(f"start_height: {self.start_height * 1e6:.3g} um leaves too few steps of "
                                 f"{self.step * 1e9:.0f} nm before contact to tell it; start at least "
                                 f"{room * 1e6:.3g} um above the surface, or take smaller steps")

    def expected_steps(self) -> int:
        return int(math.ceil(self.start_height / self.step)) + 1


class Touchdown(_Approach, Procedure):
    name = "touchdown"
    measures = False  # finds the surface for the steps that measure
    summary = "Approach the surface with the touchdown sensor until contact; record the approach and the surface."
    x: float | None = param("length", None, "where (m); default: the present x")
    y: float | None = param("length", None, "where (m); default: the present y")

    def validate(self, limits: StationLimits) -> None:
        self.check_approach(limits, "touchdown")
        if self.x is not None:
            limits.scanner_x.check(self.x)
        if self.y is not None:
            limits.scanner_y.check(self.y)

    def expected_points(self) -> int:
        return self.expected_steps()

    def run(self, ctx: StepContext) -> None:
        station = ctx.station
        scanner, sensor = station.scanner, station.role(TouchdownSensor)
        present_x, present_y, _ = scanner.position()
        x = present_x if self.x is None else self.x
        y = present_y if self.y is None else self.y
        ctx.declare_series({"z": "m", "signal": "V", "time": "s"}, signal="signal", axes=["z"])
        contact = approach_to_contact(scanner, sensor, ctx, x, y, self.settings(),
                                      lambda z, signal: ctx.record(z=z, signal=signal, time=ctx.now()))
        _note_contact(ctx, contact, x, y)
        _note_surface(ctx, scanner)


class PlaneFit(_Approach, Procedure):
    name = "plane_fit"
    measures = False  # finds the surface for the steps that measure
    summary = "Touchdowns at a grid of points; record the plane fitted to them (refused if it fits them badly)."
    provides = frozenset({FITTED_PLANE})
    x: list[float] = param("length", doc="[first, last] x of the grid (m)", many=True, count=2)
    y: list[float] = param("length", doc="[first, last] y of the grid (m)", many=True, count=2)
    points: list[float] = param("dimensionless", [3, 3], "points of the grid along x and y", many=True, count=2)
    tolerance: float = param("length", "50 nm", "largest rms distance of the touchdowns from the plane (m)",
                             positive=True)

    def check_consistency(self) -> None:
        for count in self.points:
            if count != int(count) or count < 1:
                raise UserInputError(f"points: whole numbers of 1 or more, got {self.points}")
        if min(int(count) for count in self.points) < 2:
            raise UserInputError(f"points: a {int(self.points[0])} x {int(self.points[1])} grid lies on one line and "
                                 "cannot fix a plane; give at least 2 along each axis (e.g. [2, 2])")
        for axis, span in (("x", self.x), ("y", self.y)):
            if span[0] == span[1]:
                raise UserInputError(f"{axis}: the grid's first and last {axis} are both {span[0] * 1e6:g} um; "
                                     "a plane needs touchdowns spread along both axes")

    def validate(self, limits: StationLimits) -> None:
        self.check_approach(limits, "plane_fit")
        for x in self.x:
            limits.scanner_x.check(x)
        for y in self.y:
            limits.scanner_y.check(y)

    def axes(self) -> tuple[np.ndarray, np.ndarray]:
        """The grid's x and y (m)."""
        return (np.linspace(self.x[0], self.x[1], int(self.points[0])),
                np.linspace(self.y[0], self.y[1], int(self.points[1])))

    def grid(self) -> list[tuple[float, float]]:
        xs, ys = self.axes()
        return [(float(x), float(y)) for y in ys for x in xs]

    def expected_points(self) -> int:
        return len(self.grid()) * self.expected_steps()

    def run(self, ctx: StepContext) -> None:
        station = ctx.station
        scanner, sensor = station.scanner, station.role(TouchdownSensor)
        xs, ys = self.axes()
        # every reading of every approach, one curve per touchdown; the contacts as images
        # over the grid, row by row (in a group of their own: their axes are x and y)
        ctx.declare_series({"touchdown": "", "z": "m", "signal": "V", "time": "s"}, signal="signal", axes=["z"],
                           curve_by="touchdown")
        ctx.declare_image("contact_z", "m", ("y", ys, "m"), ("x", xs, "m"))
        ctx.declare_image("contact_uncertainty", "m", ("y", ys, "m"), ("x", xs, "m"))
        contact_z = np.full((len(ys), len(xs)), np.nan)
        uncertainty = np.full_like(contact_z, np.nan)
        for row, y in enumerate(ys):
            for column, x in enumerate(xs):
                number = row * len(xs) + column
                contact = approach_to_contact(
                    scanner, sensor, ctx, float(x), float(y), self.settings(),
                    lambda z, signal: ctx.record(touchdown=number, z=z, signal=signal, time=ctx.now()))
                contact_z[row, column], uncertainty[row, column] = contact.z, contact.uncertainty
            ctx.record_line("contact_uncertainty", row, uncertainty[row])
            ctx.record_line("contact_z", row, contact_z[row])
        grid_x, grid_y = np.meshgrid(xs, ys)
        fit = fit_plane(grid_x.ravel(), grid_y.ravel(), contact_z.ravel(), f"plane fit of {contact_z.size} touchdowns")
        ctx.add_dataset("residual", fit.residuals.reshape(contact_z.shape), "m", beside="contact_z")
        ctx.add_dataset("plane_z", np.asarray(fit.plane.height_at(grid_x, grid_y), dtype=float), "m",
                        beside="contact_z")
        ctx.note("plane_rms_residual_m", fit.rms_residual)
        if fit.rms_residual > self.tolerance:
            raise InstrumentError(
                f"the touchdowns lie {fit.rms_residual * 1e9:.0f} nm rms from their plane, more than the tolerance "
                f"{self.tolerance * 1e9:.0f} nm (a sample not flat, or a touchdown gone wrong); the plane is not used")
        scanner.record_surface(fit.plane)
        _note_surface(ctx, scanner)


def _note_contact(ctx: StepContext, contact: Contact, x: float, y: float) -> None:
    ctx.note("contact_x_m", x)
    ctx.note("contact_y_m", y)
    ctx.note("contact_z_m", contact.z)
    ctx.note("contact_uncertainty_m", contact.uncertainty)


def _note_surface(ctx: StepContext, scanner: Scanner) -> None:
    """The surface the station knows after the step, stored with it."""
    if scanner.surface is not None:
        for key, value in scanner.surface.snapshot().items():
            ctx.note(key, value)
