"""Sensor noise of the twin: white flux noise plus a 1/f part, seeded.

The 1/f part is a sum of Ornstein-Uhlenbeck processes with time constants one
decade apart; with variance sigma^2 = S^2 f_c ln(10) each, their summed one-sided
spectrum is S^2 f_c / f between the slowest and fastest time constants, which
meets the white level S^2 at the corner frequency f_c. It evolves with the
simulated clock, so slow drift is there in long sweeps, deterministically.
"""

from __future__ import annotations

import math

import numpy as np


class FluxNoise:
    """White density `white` (Phi0/sqrt(Hz)) with a 1/f corner at `corner` (Hz)."""

    def __init__(self, rng: np.random.Generator, white: float = 1e-6, corner: float = 0.1) -> None:
        if white < 0 or corner < 0:
            raise ValueError("noise density and corner must not be negative")
        self._rng = rng
        self.white = white
        self.corner = corner
        self._taus = np.logspace(-1, 3, 5)  # s: 1/f from ~1e-4 Hz up to ~2 Hz
        self._sigma = white * math.sqrt(corner * math.log(10.0))  # per process, see module docstring
        self._drift = self._rng.normal(0.0, self._sigma, self._taus.size) if self._sigma > 0 else np.zeros(5)

    def advance(self, dt: float) -> None:
        """Evolve the slow (1/f) part over `dt` seconds (exact OU update)."""
        if self._sigma == 0 or dt <= 0:
            return
        decay = np.exp(-dt / self._taus)
        self._drift = self._drift * decay + self._sigma * np.sqrt(1 - decay**2) * self._rng.normal(
            size=self._taus.size
        )

    def sample(self, integration_time: float, shape: tuple[int, ...] = ()) -> np.ndarray | float:
        """Noise (Phi0) on readings each averaged over `integration_time` seconds.

        With a `shape`, one value per reading of a hardware-timed line: the white part
        is independent, the slow part common (it is what makes lines drift apart).
        """
        white = self.white / math.sqrt(2.0 * integration_time)
        noise = self._drift.sum() + self._rng.normal(0.0, white, shape)
        return float(noise) if shape == () else noise
