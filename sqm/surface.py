"""The sample surface as the station knows it: a plane in the scanner's own z coordinate.

The scanner's z is the z piezo's position, zero where the station file's reference puts
it (on hardware a z offset voltage the station file names; on the twin the sample's
nominal plane). The surface known to the station is a plane z_s(x, y) = z0 + sx x + sy y
in that coordinate (m, with x, y in m): a flat plane through a touchdown, or the plane
fitted to several. "Height above the surface" at (x, y) is z - z_s(x, y). Nothing moves
z towards a surface the station does not know (a scanner whose surface is None refuses
to approach), and a coarse step makes the known surface stale (None again).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import UserInputError

# The largest tilt a sample is taken to have when only single touchdowns are known (degrees).
ASSUMED_TILT_DEGREES = 3.0


@dataclass(frozen=True)
class SurfacePlane:
    """z_s(x, y) = z0 + slope_x x + slope_y y (m), in the scanner's z coordinate.

    source: where it comes from ("station file", "touchdown at (x, y) um", "plane fit of
    25 touchdowns"), for snapshots and messages. uncertainty: one standard error of the
    height it gives inside the points it was measured over (m); 0 when only assumed.
    """

    z0: float = 0.0
    slope_x: float = 0.0
    slope_y: float = 0.0
    source: str = "station file"
    uncertainty: float = 0.0
    # (x, y) m where a plane through one touchdown was measured: only there is its height
    # known; farther away the tilt it assumes may be wrong (see `unknown_tilt_reach`)
    anchor: tuple[float, float] | None = None

    def height_at(self, x, y):
        """z_s (m) at (x, y) (m); arrays broadcast."""
        return self.z0 + self.slope_x * np.asarray(x, dtype=float) + self.slope_y * np.asarray(y, dtype=float)

    @property
    def tilt_degrees(self) -> float:
        """The angle between the plane and the scanner's x-y plane (degrees)."""
        return math.degrees(math.atan(math.hypot(self.slope_x, self.slope_y)))

    @property
    def fitted(self) -> bool:
        """Fitted to several touchdowns (plane_fit): its tilt is measured, not assumed."""
        return self.source.startswith("plane fit")

    @property
    def measured(self) -> bool:
        """Found by touchdowns (not only assumed from the station file)."""
        return self.source != "station file"

    def through(self, x: float, y: float, z: float, source: str, uncertainty: float) -> "SurfacePlane":
        """The plane of the same tilt through the point (x, y, z) (m): a new touchdown
        moves the plane, it does not measure its tilt (unless the tilt was fitted)."""
        anchor = None if self.fitted else (x, y)
        return SurfacePlane(z - self.slope_x * x - self.slope_y * y, self.slope_x, self.slope_y, source, uncertainty,
                            anchor)

    def unknown_tilt_reach(self, x: float, y: float) -> float:
        """How far (m) the true surface at (x, y) may lie above this plane because of a tilt
        it does not know: a plane through one touchdown, away from it, for a sample mounted
        up to ASSUMED_TILT_DEGREES off; 0 for a fitted plane or at its anchor."""
        if self.anchor is None:
            return 0.0
        return math.dist((x, y), self.anchor) * math.tan(math.radians(ASSUMED_TILT_DEGREES))

    def snapshot(self) -> dict:
        return {"surface_z0_m": self.z0, "surface_slope_x": self.slope_x, "surface_slope_y": self.slope_y,
                "surface_tilt_degrees": self.tilt_degrees, "surface_uncertainty_m": self.uncertainty,
                "surface_source": self.source}


@dataclass(frozen=True)
class PlaneFit:
    """A plane fitted to touchdown points, with what it leaves unexplained (m)."""

    plane: SurfacePlane
    residuals: np.ndarray  # measured minus fitted height at each point (m)

    @property
    def rms_residual(self) -> float:
        return float(np.sqrt(np.mean(self.residuals**2)))


def fit_plane(xs, ys, zs, source: str) -> PlaneFit:
    """Least-squares plane through the points (m); at least 3, not all on one line."""
    xs, ys, zs = (np.asarray(values, dtype=float).ravel() for values in (xs, ys, zs))
    if xs.size < 3:
        raise UserInputError(f"a plane needs at least 3 points, got {xs.size}")
    design = np.column_stack([np.ones_like(xs), xs, ys])
    if np.linalg.matrix_rank(design) < 3:
        raise UserInputError("the points lie on one line: they do not fix a plane")
    coefficients, *_ = np.linalg.lstsq(design, zs, rcond=None)
    residuals = zs - design @ coefficients
    degrees_of_freedom = max(xs.size - 3, 1)
    sigma = float(np.sqrt(np.sum(residuals**2) / degrees_of_freedom))
    # standard error of the fitted height, averaged over the points
    leverage = np.einsum("ij,jk,ik->i", design, np.linalg.pinv(design.T @ design), design)
    uncertainty = sigma * float(np.sqrt(np.mean(leverage)))
    z0, slope_x, slope_y = (float(value) for value in coefficients)
    return PlaneFit(SurfacePlane(z0, slope_x, slope_y, source, uncertainty), residuals)
