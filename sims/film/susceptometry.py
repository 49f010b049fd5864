"""Susceptometry (docs/physics.md, "Layer E"): a field coil of radius R_fc and a pickup loop
of radius R_pl, coaxial at height h over the film.

Over an infinite Pearl film (Lambda = lambda^2 / d) the mutual inductance is

    M = -mu0 pi R_fc R_pl Int_0^inf J1(k R_fc) J1(k R_pl) exp(-2 k h) / (1 + 2 Lambda k) dk,

the field of the film's screening current: minus the coil's own image at depth h
below the film when Lambda = 0 (the Maxwell limit), weaker as Lambda grows. For a
finite flake, drive the film solve with `field_coil_bz_spectrum` instead.
"""

from __future__ import annotations

import numpy as np
import scipy.integrate
import scipy.special

from .grid import MU0, PHI0, Grid

# exp(-t) below 1e-21 beyond t = 48: the rest of the integral is negligible
_INTEGRAL_END = 48.0


def mutual_inductance_infinite_film(field_coil_radius: float, pickup_radius: float, height: float,
                                    pearl_length: float) -> float:
    """M (Phi0/A) between a field coil and a coaxial pickup loop, both at height (m)
    over an infinite film of Pearl length Lambda (m, 0 = perfect screening).

    Radii in m. Negative: the film screens the coil's field (diamagnetic)."""
    if not height > 0:
        raise ValueError("height must be > 0 (the integral is only conditionally convergent at 0)")
    if pearl_length < 0:
        raise ValueError("pearl_length must be >= 0")
    # Dimensionless t = 2 k h: the exp(-t) factor then sets the range once for all radii.
    span = 2 * height
    a, b, c = field_coil_radius / span, pickup_radius / span, 2 * pearl_length / span

    def integrand(t: float) -> float:
        return scipy.special.j1(a * t) * scipy.special.j1(b * t) * np.exp(-t) / (1 + c * t)

    # Integrate piece by piece between the oscillations (half period pi / max(a, b)) so
    # quad never straddles many sign changes, even when h << R.
    step = min(np.pi / max(a, b), _INTEGRAL_END)
    edges = np.append(np.arange(0.0, _INTEGRAL_END, step), _INTEGRAL_END)
    integral = sum(
        scipy.integrate.quad(integrand, lower, upper, epsabs=1e-14, epsrel=1e-10, limit=200)[0]
        for lower, upper in zip(edges[:-1], edges[1:])
    ) / span
    return -MU0 * np.pi * field_coil_radius * pickup_radius * integral / PHI0


def maxwell_mutual_inductance(r1: float, r2: float, separation: float) -> float:
    """Mutual inductance (H) of two coaxial circular loops of radii r1, r2 (m), a
    distance `separation` (m) apart, by Maxwell's elliptic-integral formula:

        M = mu0 sqrt(r1 r2) [(2/kappa - kappa) K(kappa) - (2/kappa) E(kappa)],
        kappa^2 = 4 r1 r2 / ((r1 + r2)^2 + d^2)."""
    kappa_squared = 4 * r1 * r2 / ((r1 + r2) ** 2 + separation**2)
    kappa = np.sqrt(kappa_squared)
    # scipy's ellipk/ellipe take the parameter m = kappa^2
    first, second = scipy.special.ellipk(kappa_squared), scipy.special.ellipe(kappa_squared)
    return float(MU0 * np.sqrt(r1 * r2) * ((2 / kappa - kappa) * first - (2 / kappa) * second))


def field_coil_bz_spectrum(grid: Grid, x: float, y: float, radius: float, height: float) -> np.ndarray:
    """Spectrum (T per A, Grid.to_k convention: for grid.from_k) of Bz on the film
    plane z = 0 from a field-coil ring of `radius` (m) at (x, y, height) (m) carrying
    1 A counter-clockwise (field +z on its axis):

        mu0 pi R J1(kR) exp(-k h) / dx^2 * exp(-i k.(r0 - origin)),

    the /dx^2 turning the continuous transform into the DFT of samples, and the phase
    placing the ring at r0 = (x, y) relative to the padded array's first sample."""
    oy, ox = grid.offset
    origin_x = grid.x[0] - ox * grid.dx
    origin_y = grid.y[0] - oy * grid.dx
    phase = np.exp(-1j * (grid.kx * (x - origin_x) + grid.ky * (y - origin_y)))
    ring = MU0 * np.pi * radius * scipy.special.j1(grid.k * radius) * np.exp(-grid.k * height)
    return (ring / grid.dx**2) * phase


def infinite_film_response_spectrum(grid: Grid, applied_bz_spectrum: np.ndarray, pearl_length: float,
                                    z: float) -> np.ndarray:
    """Spectrum (T) of the screening field at height z (m) of an infinite film of Pearl
    length Lambda (m), given the applied Bz spectrum (T) on the film plane:

        -B_a(k) exp(-k z) / (1 + 2 Lambda k)."""
    return -applied_bz_spectrum * np.exp(-grid.k * z) / (1 + 2 * pearl_length * grid.k)
