"""Preisach ensemble of two-state hysterons (docs/physics.md, "Preisach hysterons"; layers B and D).

Each unit i has a coercivity c_i >= 0, an interaction bias h_i and a blocking
temperature T_B,i. Under a scalar drive u (any SI unit: amperes for a bias
current, tesla for a field) it follows

    s_i -> +1  if u >= c_i - h_i
    s_i -> -1  if u <= -c_i - h_i
    otherwise unchanged.

The virgin state is s_i = sign(h_i). Units are built in exact (c, +h), (c, -h)
pairs sharing c and T_B, so the ensemble is exactly antisymmetric: driving with
-u gives the pair-swapped, negated state, and a pair's virgin magnetisation is 0.

The ensemble is rate-independent: the state after a monotone ramp that ends at u
depends only on u (a unit crosses its threshold somewhere on the ramp or not at
all), so `apply_drive(u)` at the end of the ramp captures the whole ramp. A
ramp that reverses must be applied point by point at its turning points.
"""

from __future__ import annotations

import numpy as np


def _require_positive(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return value


class PreisachEnsemble:
    """Vectorised population of 2 * n_pairs hysterons.

    Parameters
    ----------
    n_pairs:
        Number of (+h, -h) pairs (positive integer).
    coercivity, sigma_coercivity:
        Mean and spread of c ~ N(coercivity, sigma_coercivity), in drive units.
        Negative draws (far tail only) are clipped to 0 so that the +1 threshold
        never lies below the -1 threshold.
    sigma_bias:
        Spread of the interaction bias, h = |N(0, sigma_bias)|, in drive units.
    rng:
        Seeded `numpy.random.Generator` owned by the caller.
    blocking_mean_K, blocking_sigma_K:
        Blocking temperature of each pair, T_B ~ N(mean, sigma) [K].
    """

    def __init__(
        self,
        n_pairs: int,
        coercivity: float,
        sigma_coercivity: float,
        sigma_bias: float,
        rng: np.random.Generator,
        blocking_mean_K: float = 4.0,
        blocking_sigma_K: float = 0.45,
    ) -> None:
        if isinstance(n_pairs, bool) or int(n_pairs) != n_pairs or n_pairs < 1:
            raise ValueError(f"n_pairs must be a positive integer, got {n_pairs!r}")
        if not isinstance(rng, np.random.Generator):
            raise ValueError("rng must be a numpy.random.Generator (seeded by the caller)")
        n_pairs = int(n_pairs)
        coercivity = _require_positive("coercivity", coercivity)
        sigma_coercivity = _require_positive("sigma_coercivity", sigma_coercivity)
        sigma_bias = _require_positive("sigma_bias", sigma_bias)
        blocking_mean_K = _require_positive("blocking_mean_K", blocking_mean_K)
        blocking_sigma_K = _require_positive("blocking_sigma_K", blocking_sigma_K)

        pair_coercivity = np.maximum(rng.normal(coercivity, sigma_coercivity, n_pairs), 0.0)
        pair_bias = np.abs(rng.normal(0.0, sigma_bias, n_pairs))
        pair_blocking_K = rng.normal(blocking_mean_K, blocking_sigma_K, n_pairs)
        self._init_from_pairs(pair_coercivity, pair_bias, pair_blocking_K)

    @classmethod
    def from_pairs(
        cls,
        coercivities: np.ndarray,
        biases: np.ndarray,
        blocking_temperatures_K: np.ndarray,
    ) -> "PreisachEnsemble":
        """Build an ensemble from explicit pair values (tests, fitted models).

        Each pair (c, h, T_B) becomes the two units (c, +|h|) and (c, -|h|).
        Coercivities must be >= 0 (drive units), blocking temperatures in K.
        """
        c = np.atleast_1d(np.asarray(coercivities, dtype=float))
        h = np.abs(np.atleast_1d(np.asarray(biases, dtype=float)))
        t_b = np.atleast_1d(np.asarray(blocking_temperatures_K, dtype=float))
        if c.ndim != 1 or c.size == 0 or c.shape != h.shape or c.shape != t_b.shape:
            raise ValueError("coercivities, biases and blocking temperatures must be "
                             "non-empty 1-D arrays of equal length")
        if not (np.all(np.isfinite(c)) and np.all(np.isfinite(h)) and np.all(np.isfinite(t_b))):
            raise ValueError("pair values must be finite")
        if np.any(c < 0.0):
            raise ValueError("coercivities must be >= 0")
        ensemble = cls.__new__(cls)
        ensemble._init_from_pairs(c, h, t_b)
        return ensemble

    def _init_from_pairs(self, pair_c: np.ndarray, pair_h: np.ndarray,
                         pair_blocking_K: np.ndarray) -> None:
        # Unit layout: [pair 0 (+h), ..., pair n-1 (+h), pair 0 (-h), ..., pair n-1 (-h)].
        c = np.concatenate([pair_c, pair_c])
        h = np.concatenate([pair_h, -pair_h])
        self.coercivity = c
        self.bias = h
        self.blocking_temperature_K = np.concatenate([pair_blocking_K, pair_blocking_K])
        # Thresholds are computed once; fl(-c + h) == -fl(c - h) in IEEE arithmetic,
        # so the +-h pairs stay exact mirror images.
        self._up_threshold = c - h
        self._down_threshold = -c - h
        self._lowest_blocking_K = float(np.min(self.blocking_temperature_K))
        self._virgin_state = np.where(h > 0.0, 1, np.where(h < 0.0, -1, 0)).astype(np.int8)
        # h == 0 exactly has no sign; split such a pair +1 / -1 so it still sums to 0.
        n_pairs = pair_c.size
        zero_bias = pair_h == 0.0
        self._virgin_state[:n_pairs][zero_bias] = 1
        self._virgin_state[n_pairs:][zero_bias] = -1
        self._state = self._virgin_state.copy()

    @property
    def n_units(self) -> int:
        """Total number of hysterons (2 * n_pairs)."""
        return self._state.size

    def apply_drive(self, u: float) -> np.ndarray:
        """Bring every unit to drive value u (drive units; rate-independent).

        Returns the units driven past one of their thresholds (bool per unit): they
        now point the way the drive says, whatever they did before."""
        u = float(u)
        switch_up = u >= self._up_threshold
        switch_down = (u <= self._down_threshold) & ~switch_up
        self._state[switch_up] = 1
        self._state[switch_down] = -1
        return switch_up | switch_down

    def unblocked_at(self, temperature_K: float, critical_temperature_K: float) -> np.ndarray:
        """The units an excursion to temperature_K (K) returns to virgin (bool per unit)."""
        if float(temperature_K) >= critical_temperature_K:
            return np.ones(self._state.shape, dtype=bool)
        return self.blocking_temperature_K <= float(temperature_K)

    def anneals_at(self, temperature_K: float, critical_temperature_K: float) -> bool:
        """Whether an excursion to temperature_K (K) erases any unit at all."""
        return float(temperature_K) >= min(self._lowest_blocking_K, critical_temperature_K)

    def magnetisation(self) -> float:
        """Mean state in [-1, 1] (dimensionless)."""
        # Sum of small integers is exact, so mirrored states give exactly opposite m.
        return float(np.sum(self._state, dtype=np.int64)) / self._state.size

    def reset_virgin(self) -> None:
        """Return every unit to its virgin state sign(h)."""
        self._state[:] = self._virgin_state

    def anneal(self, temperature_K: float, critical_temperature_K: float) -> None:
        """Excursion to temperature_K [K] and back to base.

        Units with T_B <= temperature_K return to their virgin state; at or above
        critical_temperature_K [K] the whole ensemble is erased.
        """
        temperature_K = float(temperature_K)
        critical_temperature_K = _require_positive("critical_temperature_K",
                                                   critical_temperature_K)
        if temperature_K < self._lowest_blocking_K and temperature_K < critical_temperature_K:
            return  # below every blocking temperature: nothing to erase (the twin anneals at every tick)
        unblocked = self.unblocked_at(temperature_K, critical_temperature_K)
        self._state[unblocked] = self._virgin_state[unblocked]

    def get_state(self) -> np.ndarray:
        """Copy of the state vector (int8, +-1 per unit)."""
        return self._state.copy()

    def set_state(self, state: np.ndarray) -> None:
        """Restore a state vector taken with `get_state`."""
        state = np.asarray(state)
        if state.shape != self._state.shape or not np.all(np.abs(state) == 1):
            raise ValueError(f"state must be {self._state.shape} values of +-1")
        self._state[:] = state.astype(np.int8)
