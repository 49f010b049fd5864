"""What a step records about flux jumps of the flux-locked loop (docs/squid.md).

A jump of whole flux quanta is the readout's, not the sample's. The raw data stay as
they were taken; when a step's flux holds jumps, the unwrapped values are stored beside
them (`<name>_unwrapped`) and the count is noted. Scan lines taken while the loop was
unlocked are marked, and may be taken again once it has relocked.
"""

from __future__ import annotations

import numpy as np

from ..analysis.flux_jumps import find_flux_jumps, unwrap_flux_jumps, unwrap_image
from ..context import StepContext
from ..errors import InstrumentError
from ..roles import SquidReadout

# Fewer finite samples than this give no noise estimate to tell a jump from a step.
MIN_SAMPLES = 10
# Steps all below this (Phi0) hold no jump: the prediction from neighbours (at most three
# times their largest step) stays below half a quantum from every step, so none rounds
# to a whole quantum. The cheap test spares the full search on every clean scan line.
NO_JUMP_BELOW = 0.1
RELOCK_POLL_S = 0.01  # s between lock readings while waiting for a relock
RELOCK_TIMEOUT_S = 5.0  # s: a loop that has not relocked by then needs the operator


def jumps_in(values: np.ndarray) -> int:
    """How many flux jumps a series or scan line (Phi0) holds; 0 when too short to tell."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size < MIN_SAMPLES or np.abs(np.diff(finite)).max() < NO_JUMP_BELOW:
        return 0
    return len(find_flux_jumps(values))


def store_unwrapped_series(ctx: StepContext, column: str, values) -> None:
    """When the flux column `column` (Phi0) holds jumps, store it unwrapped beside the
    data as `<column>_unwrapped` and note `<column>_flux_jumps`."""
    count = jumps_in(values)
    if count:
        ctx.add_dataset(f"{column}_unwrapped", unwrap_flux_jumps(np.asarray(values, dtype=float)), "Phi0")
        ctx.note(f"{column}_flux_jumps", count)


def store_unwrapped_image(ctx: StepContext, name: str) -> None:
    """Unwrap image `name` (Phi0; read back from the file, so nothing is held while
    scanning): jumps within lines and whole-line offsets between them. Stored beside
    it as `<name>_unwrapped` when any pixel changed, with the count of pixels noted."""
    unwrapped, quanta = unwrap_image(ctx.read_image(name))
    changed = int(np.count_nonzero(quanta))
    if changed:
        ctx.add_dataset(f"{name}_unwrapped", unwrapped, "Phi0", beside=name)
        ctx.note(f"{name}_unwrapped_pixels", changed)


def lock_lost(readout: SquidReadout, count_before: int | None) -> bool:
    """Whether the loop lost lock since `count_before` (its unlock counter then) or is
    unlocked now."""
    count = readout.unlock_count()
    return (count_before is not None and count is not None and count != count_before) or not readout.is_locked()


def wait_for_relock(ctx: StepContext, readout: SquidReadout) -> None:
    """Wait until the loop reports locked again; InstrumentError after RELOCK_TIMEOUT_S."""
    waited = 0.0
    while not readout.is_locked():
        if waited >= RELOCK_TIMEOUT_S:
            raise InstrumentError(f"the SQUID's flux-locked loop has not relocked within {RELOCK_TIMEOUT_S:g} s")
        ctx.wait(RELOCK_POLL_S)
        waited += RELOCK_POLL_S
