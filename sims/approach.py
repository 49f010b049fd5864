"""The twin's sensor near the surface (docs/physics.md, "The surface and the touchdown"):
the true sample surface, the capacitance the touchdown bridge reads against the gap, and
what pressing the sensor into the sample does.

Geometry. The sample surface is the plane of the sample file's `surface` block,
z_true(x, y) = height_offset + tilt_x x + tilt_y y, in the scanner's z coordinate (the
station's reference is the sample's nominal plane, z = 0). The gap is z - z_true at the
sensor's (x, y).

Capacitance (phenomenological, the shape the labs' approach curves have). The bridge's
out-of-balance signal is V(g) = amplitude / (1 + g / length) for a gap g >= 0: a smooth
curve, steepest at contact, set by the chip's size (`length`, microns). Pressed further
the chip's mount bends and the gap stays closed: the signal stops rising (the change of
slope a touchdown looks for). Readings carry white noise (`noise_density`, V/sqrt(Hz))
and a slow offset drift (`drift_rate`, V/s), seeded.

Crash. Pressed more than `compliance` past contact the sensor breaks: the twin records a
crash and the move fails (tests assert none happens).

Coarse steps (phenomenological, a stick-slip positioner under the sample). Each step
towards the sensor raises the surface by a step whose mean differs from the nominal the
station declares by up to `coarse_step_mismatch` (drawn once per seed: stick-slip steps
depend on temperature and load), each step scattered by `coarse_step_spread` (relative
rms). They take 1 / `coarse_step_rate` s each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

UM = 1e-6


@dataclass(frozen=True)
class ApproachModel:
    """The touchdown bridge and the sensor's mount (SI units; phenomenological values)."""

    amplitude: float = 1e-3  # V, the bridge signal at contact above its far value
    length: float = 3 * UM  # m, the gap over which the signal falls to half
    noise_density: float = 1e-6  # V/sqrt(Hz), white
    drift_rate: float = 1e-7  # V/s, the bridge's slow offset drift
    compliance: float = 0.3 * UM  # m, how far past contact the mount bends before the sensor breaks
    z_range: tuple[float, float] = (-10 * UM, 25 * UM)  # m, the fine z piezo's reach
    coarse_step: float = 30e-9  # m, the nominal travel of one coarse z step (what a station file declares)
    coarse_step_mismatch: float = 0.4  # the true mean step is within this fraction of the nominal
    coarse_step_spread: float = 0.2  # relative rms scatter of one step about the mean
    coarse_step_rate: float = 200.0  # coarse steps per second

    def signal(self, gap: float) -> float:
        """Noise-free bridge signal (V) at a gap (m); flat once in contact (gap <= 0)."""
        return self.amplitude / (1.0 + max(gap, 0.0) / self.length)


class SurfaceContact:
    """The true surface under the sensor, the bridge's readings, and crashes."""

    def __init__(self, model: ApproachModel, height_offset: float, tilt: tuple[float, float],
                 rng: np.random.Generator) -> None:
        self.model = model
        self.height_offset = height_offset
        self.tilt = tilt
        self.rng = rng
        self.crashes: list[str] = []

    def surface_z(self, x, y):
        """z_true (m) at (x, y) (m); arrays broadcast."""
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        return self.height_offset + self.tilt[0] * x + self.tilt[1] * y

    def raise_surface(self, travel: float) -> None:
        """The sample moved `travel` m towards the sensor (coarse steps; negative: away)."""
        self.height_offset += travel

    def gap(self, x: float, y: float, z: float) -> float:
        return float(z - self.surface_z(x, y))

    def crash_at(self, x: float, y: float, z: float) -> str | None:
        """The crash a sensor at (x, y, z) (m) makes, recorded; None when it is not pressed past the compliance."""
        pressed = -self.gap(x, y, z)
        if pressed <= self.model.compliance:
            return None
        crash = (f"crash: the sensor was pressed {pressed * 1e6:.3f} um into the sample at "
                 f"({x * 1e6:.2f}, {y * 1e6:.2f}) um, beyond the mount's {self.model.compliance * 1e6:.2f} um")
        self.crashes.append(crash)
        return crash

    def reading(self, x: float, y: float, z: float, time: float, integration_time: float) -> float:
        """The bridge signal (V) averaged over `integration_time` s at simulated `time` s."""
        model = self.model
        sigma = model.noise_density / math.sqrt(2.0 * integration_time)
        return model.signal(self.gap(x, y, z)) + model.drift_rate * time + float(self.rng.normal(0.0, sigma))


class CoarseStepper:
    """The stick-slip positioner's true steps: their mean, drawn once, and their scatter."""

    def __init__(self, model: ApproachModel, rng: np.random.Generator) -> None:
        self.model = model
        self.rng = rng
        self.mean_step = model.coarse_step * (1.0 + model.coarse_step_mismatch * rng.uniform(-1.0, 1.0))

    def travel(self, steps: int) -> float:
        """How far (m) `steps` steps carry the sample (positive: towards the sensor)."""
        count = abs(int(steps))
        if count == 0:
            return 0.0
        spread = self.model.coarse_step_spread * self.mean_step * math.sqrt(count)
        return math.copysign(max(count * self.mean_step + spread * float(self.rng.normal()), 0.0), steps)
