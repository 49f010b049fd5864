"""Susceptometry of the finite flake (docs/physics.md, "Layer E"): for each position of the
sensor, the field coil's field is screened by the film (the masked Pearl solve of
layer A) and the pickup loop reads the film's response. One solve per position.

To keep it to seconds, positions are solved on a lattice only where the film's edges
or its domain boundary are within reach of the coil (`reach`); deeper inside a domain
the film looks infinite and the value is that domain's, taken from one solve in its
interior, and far outside the film there is no response. The lattice is interpolated
(bilinear) to the requested positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.interpolate
import scipy.ndimage

from .forward import ForwardModel
from .grid import Grid
from .pearl import PearlSolver
from .susceptometry import field_coil_bz_spectrum


@dataclass(frozen=True)
class SusceptometryGeometry:
    """The sensor's two loops and height (m), and the lattice of solved positions (m)."""

    field_coil_radius: float
    pickup_radius: float
    height: float
    lattice: float = 2.5e-6
    reach: float = 6e-6  # the coil's field matters this far from an edge (a few coil radii)
    cell: float = 1e-6  # film grid of the solves


def susceptibility_lattice(
    mask_of, pearl_length_of, window: tuple[float, float], geometry: SusceptometryGeometry, domains_of
) -> scipy.interpolate.RegularGridInterpolator:
    """An interpolator (y, x) -> Phi0/A over a window of half-sizes `window` (m).

    `mask_of(X, Y)` gives the film, `pearl_length_of(X, Y)` the Pearl length (m) and
    `domains_of(X, Y)` an integer label per domain (its interior value is solved once).
    """
    half_x, half_y = window
    grid = Grid(int(round(2 * half_x / geometry.cell)), int(round(2 * half_y / geometry.cell)), geometry.cell)
    X, Y = grid.mesh()
    mask = mask_of(X, Y)
    solver = PearlSolver(grid, mask, np.where(mask, pearl_length_of(X, Y), 1.0))
    pickup = ForwardModel(grid, geometry.height, geometry.pickup_radius)

    def solve_at(x0: float, y0: float) -> float:
        coil = grid.from_k(field_coil_bz_spectrum(grid, x0, y0, geometry.field_coil_radius, geometry.height))
        # tol 1e-4: the values move by < 1e-5 of their range (1e-7 costs twice the time),
        # far below what the 2.5 um lattice's bilinear interpolation leaves
        flux = pickup.flux(solver.screen(coil, tol=1e-4))  # Phi0 per A of coil current, over the grid
        return float(scipy.interpolate.RegularGridInterpolator((grid.y, grid.x), flux)([[y0, x0]])[0])

    xs = np.arange(-half_x, half_x + 1e-12, geometry.lattice)
    ys = np.arange(-half_y, half_y + 1e-12, geometry.lattice)
    LX, LY = np.meshgrid(xs, ys)
    on_film = mask_of(LX, LY)
    labels = domains_of(LX, LY)
    # distance (m) from each lattice point to the nearest edge or domain boundary
    boundaries = np.zeros(LX.shape, bool)
    for label in np.unique(labels[on_film]):
        region = on_film & (labels == label)
        boundaries |= region & ~scipy.ndimage.binary_erosion(region, border_value=0)
    distance = scipy.ndimage.distance_transform_edt(~boundaries) * geometry.lattice
    values = np.zeros(LX.shape)
    for label in np.unique(labels[on_film]):
        region = on_film & (labels == label)
        deepest = np.unravel_index(np.argmax(np.where(region, distance, -1)), region.shape)
        values[region] = solve_at(LX[deepest], LY[deepest])  # the domain's interior value
    for iy, ix in zip(*np.nonzero(distance <= geometry.reach)):
        values[iy, ix] = solve_at(LX[iy, ix], LY[iy, ix])
    return scipy.interpolate.RegularGridInterpolator((ys, xs), values, bounds_error=False, fill_value=0.0)
