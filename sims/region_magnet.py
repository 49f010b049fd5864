"""The hysterons of one magnetic region, each pair remembering the supercurrent that
set its easy axis (docs/physics.md, "One magnetisation mechanism").

A supercurrent polarises the surface moments (M_J ~ n x J_s): a pair of units driven
past one of its thresholds takes the easy axis of the current that drove it (its
moments point along z x K of that current) with the sign of the drive. The region
has as many axes as kinds of supercurrent have switched it: the bias between a pair
of leads, the Meissner screening of the applied field, or a mixture of both flowing
at once; its magnetisation is, per axis, the mean state of the pairs that last
switched along it.

Pairs, not units, hold an axis: a Preisach pair (c, +h), (c, -h) starts virgin at
(+1, -1), carrying no moment whatever its axis, and its two units must share one so
that the pair's moment is (s+ + s-)/2 along it. A pair erased by warming loses its
axis. Driving with -u gives the pair-swapped, negated state on the same axes, so the
magnetisation stays exactly antisymmetric.

Every unit of the region sees one drive, the region-mean supercurrent projected on
the axis (A/m): the mean-field limit of the long-range ferromagnetic coupling within
the region, which makes the whole region switch together, as the paper reports,
rather than cell by cell with the local current (which varies 0.7-2.4x over the
paper's lower domain).
"""

from __future__ import annotations

from typing import Hashable

import numpy as np

from .preisach import PreisachEnsemble
from .sample_file import Magnetism

NO_AXIS = -1


class RegionMagnet:
    """Preisach pairs of one region and the easy axis each pair was last switched along.

    Axes are any hashable keys the caller chooses (the film model uses `Polarisation`).
    """

    def __init__(self, name: str, magnetism: Magnetism, rng: np.random.Generator) -> None:
        m = magnetism
        self.name = name
        self.magnetism = m
        self.ensemble = PreisachEnsemble(m.pairs, m.coercivity, m.coercivity_spread, m.interaction_spread, rng,
                                         m.blocking_temperature, m.blocking_spread)
        self.pairs = m.pairs
        self.axes: list[Hashable] = []  # every axis a pair has held; the index is what pairs store
        self._pair_axis = np.full(m.pairs, NO_AXIS, dtype=np.int32)

    def drive(self, axis: Hashable | None, drive: float) -> None:
        """Bring the units to a region-mean drive (A/m) along `axis` (rate-independent).

        Pairs driven past a threshold take `axis`. With no current (`axis` None, drive 0)
        the units relax to what a zero drive holds and keep their axes."""
        driven = self.ensemble.apply_drive(drive)
        if axis is None:
            return
        pairs_driven = driven[: self.pairs] | driven[self.pairs :]
        if pairs_driven.any():
            self._pair_axis[pairs_driven] = self._axis_index(axis)

    def _axis_index(self, axis: Hashable) -> int:
        if axis not in self.axes:
            self.axes.append(axis)
        return self.axes.index(axis)

    def magnetisation(self) -> dict[Hashable, float]:
        """Mean state (in [-1, 1]) of the region along each axis that holds any pair; the
        values sum to at most 1 in size."""
        state = self.ensemble.get_state().astype(np.int64)
        pair_state = state[: self.pairs] + state[self.pairs :]  # -2, 0 or +2
        total = float(state.size)
        result = {}
        for index, axis in enumerate(self.axes):
            on_axis = self._pair_axis == index
            if on_axis.any():
                result[axis] = float(np.sum(pair_state[on_axis])) / total
        return result

    def total(self) -> float:
        """Mean state of all units (dimensionless), whatever their axis."""
        return self.ensemble.magnetisation()

    def anneal(self, temperature: float, critical_temperature: float) -> None:
        """An excursion to `temperature` (K): unblocked pairs return to virgin and lose their axis."""
        if not self.ensemble.anneals_at(temperature, critical_temperature):
            return
        unblocked = self.ensemble.unblocked_at(temperature, critical_temperature)[: self.pairs]
        self.ensemble.anneal(temperature, critical_temperature)
        self._pair_axis[unblocked] = NO_AXIS
