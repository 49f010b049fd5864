"""The twin's flux-locked loop (FLL): the readout that keeps the SQUID at its lock point.

Locked, the loop's feedback follows the flux, so its output is the flux change since it
locked (today's linear readout). The feedback can change only so fast (`slew_rate`,
Phi0/s). The loop sees the flux at its observations (every reading, every sample of a
scan line); between two observations it must follow their difference in the time
between them. When that asks for more than the slew, the loop falls behind by the
excess e (Phi0), unlocks, and relocks at the lock point nearest to where the SQUID then
is: V(Phi) is periodic in Phi0, so the output ends `round(e)` flux quanta (in the
direction of the change) away from the flux: a flux jump of exactly an integer. While
it closes what is left of the excess at its slew, and `relock_time` s after, the loop
reports itself unlocked.

Approximation (labelled): the twin's flux is piecewise constant between observations,
so the rate the loop must follow is the difference over the time between them; a real
loop sees the change as fast as it happens (a step of the bias current, say, within the
source's own settling time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FluxLockedLoopSettings:
    """The loop's limits: `slew_rate` (Phi0/s) and how long it stays unlocked (s)."""

    slew_rate: float = 1e5  # Phi0/s: fast analog FLL electronics follow 1e5-1e6 Phi0/s
    relock_time: float = 1e-3  # s: unlocked this long after the flux outran the loop

    def __post_init__(self) -> None:
        if not self.slew_rate > 0:
            raise ValueError(f"slew_rate: must be positive (Phi0/s), got {self.slew_rate!r}")
        if not self.relock_time >= 0:
            raise ValueError(f"relock_time: must not be negative (s), got {self.relock_time!r}")


class FluxLockedLoop:
    """The loop's state: where its output stands against the flux, in whole flux quanta."""

    def __init__(self, settings: FluxLockedLoopSettings) -> None:
        self.settings = settings
        self.slipped_quanta = 0  # output = flux - slipped_quanta (Phi0)
        self.unlock_events = 0  # times the flux outran the loop since it was switched on
        self.unlocked_until = -np.inf  # s: the loop reports unlocked before this time
        self._last_flux: float | None = None
        self._last_time = 0.0

    def observe(self, fluxes: np.ndarray, times: np.ndarray) -> np.ndarray:
        """The whole flux quanta the loop has slipped by each observation of the flux
        `fluxes` (Phi0) at `times` (s, increasing): its output there is the flux less them."""
        fluxes = np.atleast_1d(np.asarray(fluxes, dtype=float))
        times = np.broadcast_to(np.asarray(times, dtype=float), fluxes.shape)
        if self._last_flux is None:  # switched on: it locks at the first flux it sees
            self._last_flux, self._last_time = float(fluxes[0]), float(times[0])
        previous_flux = np.concatenate(([self._last_flux], fluxes[:-1]))
        previous_time = np.concatenate(([self._last_time], times[:-1]))
        change = fluxes - previous_flux
        excess = np.abs(change) - self.settings.slew_rate * np.maximum(times - previous_time, 0.0)
        outran = excess > 0
        # relocked at the nearest lock point: the excess rounded to whole quanta
        slips = np.where(outran, np.sign(change) * np.floor(np.maximum(excess, 0.0) + 0.5), 0.0).astype(int)
        slipped = self.slipped_quanta + np.cumsum(slips)
        if outran.any():
            self.unlock_events += int(outran.sum())
            last = np.flatnonzero(outran)[-1]
            # relocked at the nearest lock point, it closes what is left (under half a quantum) at its slew
            catch_up = abs(excess[last] - abs(slips[last])) / self.settings.slew_rate
            self.unlocked_until = max(self.unlocked_until, float(times[last]) + catch_up + self.settings.relock_time)
        self.slipped_quanta = int(slipped[-1])
        self._last_flux, self._last_time = float(fluxes[-1]), float(times[-1])
        return slipped

    def is_locked(self, time: float) -> bool:
        """Whether the loop is locked at `time` (s)."""
        return time >= self.unlocked_until

    def relock(self, flux: float, time: float) -> None:
        """Reset the loop: it locks afresh at `flux` (Phi0) with its output at that flux."""
        self.slipped_quanta = 0
        self._last_flux, self._last_time = float(flux), float(time)
        self.unlocked_until = -np.inf
