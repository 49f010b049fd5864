"""Golden check 6 (docs/physics.md) on the finite flake: susceptometry is the infinite film's value deep
inside each domain, weaker at the edges, nothing off the film, and unchanged by M_J."""

import numpy as np
import pytest

from sqm.pacing import CleanupPacer
from sqm.sims.film.susceptometry import mutual_inductance_infinite_film

UM = 1e-6


@pytest.fixture(scope="module")
def twin_at_base():
    from sqm.station import Station

    from ..conftest import twin_station_text

    station = Station.from_text(twin_station_text(start_temperature="1.5 K"))
    world = station.squid.world
    world.position = [0.0, 0.0, 1 * UM]
    return station, world


def _susceptibility(world, x, y):
    return world.sensor_signal(np.atleast_1d(x), np.atleast_1d(y), "susceptibility")


def test_deep_inside_each_domain_it_is_the_infinite_films_value(twin_at_base):
    _, world = twin_at_base
    sensor = world.settings.sensor
    # The upper domain's Pearl length (10 um) is close to its distance to the edges
    # (12 um): its screening is visibly finite (-6 %); the lower domain's (5 um) is not.
    for (x, y), pearl, tolerance in (((0.0, -12 * UM), 5 * UM, 0.03), ((-10 * UM, 12 * UM), 10 * UM, 0.08)):
        infinite = mutual_inductance_infinite_film(sensor.field_coil_radius, sensor.pickup_radius, 1 * UM, pearl)
        value = _susceptibility(world, x, y)[0]
        assert value == pytest.approx(infinite, rel=tolerance)
        assert abs(value) <= abs(infinite)  # a finite film screens less than an infinite one


def test_weaker_at_the_edge_and_nothing_far_off_the_film(twin_at_base):
    _, world = twin_at_base
    inside, edge, off = _susceptibility(world, [30 * UM, 40 * UM, 52 * UM], [-15 * UM] * 3)
    assert inside < edge < 0  # diamagnetic; half the coil's field misses the film at its edge
    assert abs(edge) < 0.7 * abs(inside)
    assert abs(off) < 0.01 * abs(inside)


def test_unchanged_by_the_magnetic_state(twin_at_base):
    station, world = twin_at_base
    xs, ys = np.meshgrid(np.linspace(-45, 45, 19) * UM, np.linspace(-30, 30, 13) * UM)
    before = world.sensor_signal(xs, ys, "susceptibility")
    pacer = CleanupPacer(station.clock)
    station.current_source.ramp_to(200e-6, pacer)  # switch the lower domain (remanence follows)
    station.current_source.ramp_to(0.0, pacer)
    assert world.sample.magnetisation()["lower_right"] > 0.9
    np.testing.assert_array_equal(world.sensor_signal(xs, ys, "susceptibility"), before)
