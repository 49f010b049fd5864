"""coarse_approach: bring a sample that is out of the fine z's reach (after a cool-down, or
a sample change) within it, with the touchdown sensor watching.

Between batches of coarse z steps the fine z sweeps its whole reach, top to bottom, in
touchdown steps, reading the touchdown sensor: contact ends the search (the surface is
recorded through it and the sensor withdraws to `retract_by` above it). A batch carries
the sample at most half the fine z's reach at the coarse steps' nominal size, so steps
up to twice their nominal length still leave the surface below where the next sweep
starts, with room for the sweep to tell its approach before contact. Any earlier surface
is forgotten first: the search trusts only what it finds.
"""

from __future__ import annotations

import math

from ..analysis.touchdown import CONFIRM, WINDOW
from ..context import StepContext
from ..errors import InstrumentError, UserInputError
from ..limits import StationLimits
from ..roles import Scanner, TouchdownSensor
from .base import Procedure, param
from .touchdown import STEPS_PAST_CONTACT, _Approach, _note_contact, _note_surface, record_contact, sweep_to_contact

# Stick-slip steps are trusted to this factor of their nominal length (long ones included).
STEP_LENGTH_TRUST = 2.0


def steps_per_batch(scanner: Scanner, step: float) -> int:
    """Coarse steps between two fine sweeps. A sweep that ends without contact leaves the
    surface below its bottom, or so little above it that the contact could not be
    confirmed (STEPS_PAST_CONTACT steps); the batch may carry it up by at most the rest of
    the reach less the readings the next sweep needs before contact, at STEP_LENGTH_TRUST
    times the nominal step."""
    nominal = scanner.coarse_z_step()
    if nominal is None:
        raise InstrumentError("coarse_approach: this station's scanner has no coarse z positioner")
    low, high = scanner.z_range()
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InstrumentError("coarse_approach: the fine z's reach is not bounded; a sweep needs its two ends")
    sweep = (high - low) - (WINDOW + CONFIRM + 2 + STEPS_PAST_CONTACT) * step
    count = int(sweep / (STEP_LENGTH_TRUST * nominal))
    if count < 1:
        raise InstrumentError(f"coarse_approach: a coarse step of {nominal * 1e9:.0f} nm is longer than half the "
                              f"fine z's reach ({sweep * 1e6:.2f} um left to sweep): the surface could be jumped over")
    return count


class CoarseApproach(_Approach, Procedure):
    name = "coarse_approach"
    measures = False  # finds the surface for the steps that measure
    summary = ("Coarse z steps towards the sample with a fine z sweep of the touchdown sensor between them, until "
               "contact; record the surface.")
    max_travel: float = param("length", "2 mm", "nominal coarse travel after which the search gives up (m)",
                              positive=True)

    def validate(self, limits: StationLimits) -> None:
        self.check_approach(limits, "coarse_approach")
        if self.max_travel > 10e-3:
            raise UserInputError(f"max_travel: {self.max_travel * 1e3:g} mm is beyond any cryostat's coarse "
                                 "positioner (10 mm at most)")

    def expected_points(self) -> int:
        return 0  # how many sweeps it takes is what it finds out

    def run(self, ctx: StepContext) -> None:
        station = ctx.station
        scanner, sensor = station.scanner, station.role(TouchdownSensor)
        batch = steps_per_batch(scanner, self.step)  # refused before anything moves
        nominal = scanner.coarse_z_step()
        assert nominal is not None  # steps_per_batch refused a scanner without coarse z
        ctx.declare_series({"coarse_steps": "", "z": "m", "signal": "V", "time": "s"}, signal="signal", axes=["z"])
        ctx.note("coarse_steps_per_batch", batch)
        ctx.note("coarse_step_nominal_m", nominal)
        steps_made = 0
        scanner.record_surface(None)  # no earlier surface is trusted: the sweeps start from the top
        while True:
            scanner.withdraw_fully(ctx)
            contact = sweep_to_contact(scanner, sensor, ctx, self.settings(), lambda z, signal: ctx.record(
                coarse_steps=steps_made, z=z, signal=signal, time=ctx.now()))
            if contact is not None:
                break
            if (steps_made + batch) * nominal > self.max_travel:
                raise InstrumentError(
                    f"coarse_approach: no surface within {steps_made * nominal * 1e6:.0f} um of nominal coarse travel "
                    f"({steps_made} steps); max_travel {self.max_travel * 1e6:.0f} um reached")
            scanner.coarse_z_steps(batch, ctx)
            steps_made += batch
        x, y, _ = scanner.position()
        record_contact(scanner, ctx, x, y, contact, self.settings(),
                       f"coarse approach at ({x * 1e6:.2f}, {y * 1e6:.2f}) um")
        ctx.note("coarse_steps", steps_made)
        _note_contact(ctx, contact, x, y)
        _note_surface(ctx, scanner)
