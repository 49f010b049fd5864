"""The twin's flux-locked loop: linear within its slew, integer flux jumps beyond it, an
unlock while it catches up; and the unwrapping that undoes the jumps."""

from __future__ import annotations

import numpy as np
import pytest

from sqm.analysis.flux_jumps import find_flux_jumps, unwrap_flux_jumps
from sqm.sims.flux_locked_loop import FluxLockedLoop, FluxLockedLoopSettings
from sqm.sims.nano_squid import NanoSquidSettings
from sqm.sims.world import World, WorldSettings

PARK = (30e-6, -15e-6)


def _cold_world(slew_rate: float, flux_noise: float = 0.0) -> World:
    """The paper's flake superconducting (cooled in zero field), the sensor 1 um above the
    park point, a loop with the given slew (Phi0/s)."""
    squid = NanoSquidSettings(fll=FluxLockedLoopSettings(slew_rate=slew_rate, relock_time=0.01))
    world = World(WorldSettings(flux_noise_white=flux_noise, squid=squid))
    world.heater_setpoint = 1.5
    world.advance(600.0)
    world.position[:] = [*PARK, 1e-6]
    return world


def _field_loop_readings(world: World, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Readings (reported, noise-free sample flux) while the field ramps 0 -> 15 G -> -15 G -> 0
    at `rate` (T/s), one every 0.1 s."""
    reported, clean = [], []
    for target in (15e-4, -15e-4, 0.0):
        world.start_field_ramp(target, rate)
        while world.field != target:
            world.advance(0.1)
            reported.append(float(world.sensor_reading(*PARK, "flux", 0.1)))
            clean.append(float(world.sensor_signal(*PARK, "flux")))
    return np.array(reported), np.array(clean)


def test_within_the_slew_the_loop_reports_the_flux():
    world = _cold_world(slew_rate=1e5)
    reported, clean = _field_loop_readings(world, rate=2e-4)  # 2 G/s: 0.12 Phi0/s of applied flux
    assert np.array_equal(reported, clean)
    assert world.nano_squid.loop.unlock_events == 0


def test_faster_than_the_slew_the_flux_jumps_by_whole_quanta_and_unwraps_exactly():
    world = _cold_world(slew_rate=0.5)
    reported, clean = _field_loop_readings(world, rate=2e-2)  # 200 G/s: 1.2 Phi0/s, over twice the slew
    error = reported - clean
    assert np.array_equal(error, np.round(error)) and np.abs(error).max() >= 1  # exactly integer quanta
    assert world.nano_squid.loop.unlock_events > 0
    jumps = find_flux_jumps(reported)
    assert sum(jump.quanta for jump in jumps) == round(error[-1] - error[0])
    np.testing.assert_allclose(unwrap_flux_jumps(reported), clean, rtol=0, atol=1e-12)
    assert np.array_equal(reported, clean + error)  # the unwrapping left the recorded series as it was


def test_with_noise_the_unwrapped_series_is_within_the_noise():
    world = _cold_world(slew_rate=0.5, flux_noise=1e-4)
    reported, clean = _field_loop_readings(world, rate=2e-2)
    assert np.abs(reported - clean).max() >= 1
    residual = unwrap_flux_jumps(reported) - clean
    # no quantum left or added anywhere: what remains is the sensor's noise (white, sigma per
    # reading, and the slow 1/f drift), far below half a quantum
    sigma = 1e-4 / np.sqrt(2 * 0.1)
    assert np.abs(residual - residual.mean()).max() < 0.02
    assert np.std(np.diff(residual)) < 1.5 * np.sqrt(2) * sigma


def test_the_loop_reports_unlocked_while_it_catches_up():
    loop = FluxLockedLoop(FluxLockedLoopSettings(slew_rate=10.0, relock_time=0.01))
    assert list(loop.observe(np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.1, 0.2]))) == [0, 0, 0]  # 5 Phi0/s
    assert loop.is_locked(0.2)
    slipped = loop.observe(np.array([4.0]), np.array([0.25]))  # 3 Phi0 in 50 ms: 2.5 beyond the slew
    assert list(slipped) == [3]  # 2.5 rounded half up: relocked at the nearest lock point beyond
    assert not loop.is_locked(0.25) and loop.unlock_events == 1
    # relocked 3 quanta on, it closes the last 0.5 Phi0 at 10 Phi0/s, then relock_time
    assert not loop.is_locked(0.25 + 0.05 + 0.01 - 1e-6)
    assert loop.is_locked(0.25 + 0.05 + 0.01 + 1e-9)


@pytest.mark.parametrize("excess, quanta", [(0.4, 0), (0.6, 1), (1.4, 1), (2.6, 3)])
def test_a_slip_is_the_excess_rounded_to_whole_quanta(excess, quanta):
    loop = FluxLockedLoop(FluxLockedLoopSettings(slew_rate=1.0, relock_time=0.0))
    loop.observe(np.array([0.0]), np.array([0.0]))
    slipped = loop.observe(np.array([-(1.0 + excess)]), np.array([1.0]))  # 1 Phi0 allowed in 1 s
    assert int(slipped[0]) == -quanta
