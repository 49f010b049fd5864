"""coarse_approach on the twin: a sample left out of the fine z's reach by the cool-down
(sim.surface_distance) is brought within it by coarse steps, with a fine sweep of the
touchdown sensor between them; the stick-slip steps' true length differs from the
nominal by up to 40 % per seed, and nothing ever crashes. Coarse steps make the known
surface stale: scans are refused until a touchdown has found it again."""

from __future__ import annotations

import numpy as np
import pytest

from sqm.errors import InstrumentError
from sqm.pacing import CleanupPacer
from sqm.procedures.coarse_approach import STEP_LENGTH_TRUST, steps_per_batch
from sqm.readback import find_step, read_steps
from sqm.session import run_procedure
from sqm.station import Station

from ..conftest import twin_station_text

UM, NM = 1e-6, 1e-9


def _distant_station(distance_um: float, seed: int = 20231) -> Station:
    return Station.from_text(twin_station_text(start_temperature="1.5 K", surface_distance=f"{distance_um} um",
                                               seed=seed))


def test_a_coarse_approach_brings_a_distant_surface_within_reach_and_records_it(tmp_path):
    station = _distant_station(200)
    scanner = station.scanner
    assert scanner.surface is None  # the station file does not say where a distant sample is
    result = run_procedure("steps:\n  - coarse_approach: {}\n", station, tmp_path)
    assert result.outcome.status == "completed", result.outcome.error
    world = scanner.world
    truth = float(world.contact.surface_z(*scanner.position()[:2]))
    low, high = scanner.z_range()
    assert low < truth < high  # within the fine z's reach now
    assert abs(scanner.surface.z0 - truth) < 20 * NM and scanner.surface.measured
    # the run ends safe: retracted to the station's top height above the surface found
    assert scanner.position()[2] - truth == pytest.approx(station.limits.scanner_z.maximum, abs=20 * NM)
    step = find_step(read_steps(result.path), "coarse_approach")
    batches = np.unique(step.data["coarse_steps"])
    batch = steps_per_batch(scanner, 20 * NM)
    assert list(batches) == [batch * n for n in range(len(batches))]  # sweeps between equal batches
    travel = batches[-1] * world.coarse.mean_step
    assert 195 * UM < travel + high < 240 * UM  # it went as far as the sample was, and not much further
    assert world.contact.crashes == []


@pytest.mark.parametrize("seed", range(8))
def test_coarse_approaches_never_crash_whatever_the_true_step_and_distance(seed, tmp_path):
    """Seeded: distances 40-400 um, the true step 0.6-1.4 of the nominal (a draw of the twin)."""
    distance = float(np.random.default_rng(seed).uniform(40, 400))
    station = _distant_station(distance, seed=100 + seed)
    world = station.scanner.world
    assert abs(world.coarse.mean_step / station.scanner.coarse_z_step() - 1) <= 0.4
    result = run_procedure("steps:\n  - coarse_approach: {}\n", station, tmp_path)
    assert result.outcome.status == "completed", result.outcome.error
    truth = float(world.contact.surface_z(*station.scanner.position()[:2]))
    assert abs(station.scanner.surface.z0 - truth) < 20 * NM
    assert world.contact.crashes == []


def test_a_batch_of_coarse_steps_never_carries_the_surface_past_where_the_next_sweep_starts():
    station = _distant_station(200)
    scanner = station.scanner
    low, high = scanner.z_range()
    batch = steps_per_batch(scanner, 20 * NM)
    # at twice the nominal step, a surface just below the bottom ends below the top
    assert low + batch * STEP_LENGTH_TRUST * scanner.coarse_z_step() < high - 17 * 20 * NM


def test_a_coarse_approach_that_finds_nothing_within_max_travel_fails_saying_so(tmp_path):
    station = _distant_station(200)
    result = run_procedure("steps:\n  - coarse_approach: {max_travel: 50 um}\n", station, tmp_path)
    assert result.outcome.status == "failed"
    assert "no surface within" in result.outcome.error and "max_travel 50 um reached" in result.outcome.error
    assert station.scanner.surface is None and station.scanner.world.contact.crashes == []


def test_coarse_steps_make_the_surface_stale_and_scans_wait_for_a_touchdown(tmp_path):
    station = Station.from_text(twin_station_text(start_temperature="1.5 K"))
    scanner = station.scanner
    first = run_procedure("steps:\n  - touchdown: {x: 0 um, y: 0 um}\n", station, tmp_path / "a")
    assert first.outcome.status == "completed" and scanner.surface.measured
    scanner.coarse_z_steps(100, CleanupPacer(station.clock))  # about 3 um towards the sensor
    assert scanner.surface is None
    assert scanner.position()[2] == scanner.z_range()[1]  # the fine z withdrew fully first
    scan = "  - raster_scan: {x: [-5 um, 5 um], y: [-5 um, 5 um], pixel_size: 1 um, reconstruct: false}\n"
    refused = run_procedure("steps:\n" + scan, station, tmp_path / "b")
    assert refused.outcome.status == "failed"
    assert "the surface is unknown" in refused.outcome.error and "run a touchdown first" in refused.outcome.error
    again = run_procedure("steps:\n  - touchdown: {x: 0 um, y: 0 um}\n" + scan, station, tmp_path / "c")
    assert again.outcome.status == "completed", again.outcome.error
    truth = float(station.scanner.world.contact.surface_z(0.0, 0.0))
    assert truth > 2 * UM and abs(scanner.surface.z0 - truth) < 20 * NM  # found where the steps put it
    assert station.scanner.world.contact.crashes == []


def test_with_the_surface_unknown_the_sensor_retracts_all_the_way_and_moves_only_from_there():
    """After coarse steps the station's z range counted from the reference says nothing of
    where the sample is: a retract (a safe state) goes to the top of the fine z's reach, not
    down to 10 um, and a lateral move from anywhere lower is refused."""
    station = _distant_station(200)
    scanner, pacer = station.scanner, CleanupPacer(station.clock)
    scanner.touchdown_step(scanner.position()[2] - 50 * NM, pacer)  # the only way down while it is unknown
    top = scanner.z_range()[1]
    assert top > station.limits.scanner_z.maximum
    with pytest.raises(InstrumentError, match="surface is unknown .* not fully withdrawn .* retract first"):
        scanner.move_to(5 * UM, 0.0, pacer)
    scanner.retract(pacer)
    assert scanner.position()[2] == top
    scanner.move_to(5 * UM, 0.0, pacer)
    assert scanner.position()[:2] == (5 * UM, 0.0)
