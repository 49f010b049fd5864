"""Finding and following the surface on the twin: touchdown, plane_fit, and scans at a
constant height above the fitted plane (docs/physics.md, "The surface and the touchdown").
The twin's sample surface is the sample file's plane; pressing the sensor more than the
mount's compliance into it is a crash, which the twin records."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from sqm.analysis.currents import image_correlation
from sqm.errors import UserInputError
from sqm.pacing import CleanupPacer
from sqm.procedures.touchdown import ApproachSettings, approach_to_contact
from sqm.readback import find_step, read_steps
from sqm.roles import TouchdownSensor
from sqm.session import run_procedure
from sqm.sims.approach import SurfaceContact
from sqm.station import Station
from sqm.surface import SurfacePlane

from ..conftest import CONFIGS, twin_station_text

UM, NM = 1e-6, 1e-9
COMPLIANCE = 0.3 * UM  # the twin's default mount (sims/approach.py)


def _tilted_station(tmp_path, slope_x: float, slope_y: float = 0.0, offset: float = 0.0, **sim) -> Station:
    """The twin on the paper's flake with its surface tilted (dz/dx, dz/dy) and offset (m)."""
    sample = yaml.safe_load((CONFIGS / "samples" / "fese_flake.yaml").read_text())
    sample["surface"] = {"height_offset": f"{offset / UM} um", "tilt": [slope_x, slope_y]}
    path = tmp_path / "tilted.yaml"
    path.write_text(yaml.safe_dump(sample, sort_keys=False))
    return Station.from_text(twin_station_text(sample=str(path), **sim))


def test_a_touchdown_finds_the_surface_within_20_nm_and_never_presses_past_the_compliance(tmp_path):
    text = "steps:\n  - touchdown: {x: 30 um, y: -15 um}\n"
    station = Station.from_text(twin_station_text(start_temperature="1.5 K"))
    result = run_procedure(text, station, tmp_path)
    assert result.outcome.status == "completed", result.outcome.error
    step = find_step(read_steps(result.path), "touchdown")
    z, signal = step.data["z"], step.data["signal"]
    assert np.all(np.diff(z) < 0) and signal[-1] > signal[0]  # an approach, the signal rising
    world = station.scanner.world
    assert world.contact.crashes == [] and z.min() > -COMPLIANCE / 2  # stopped well before a crash
    surface = station.scanner.surface
    assert surface.source == "touchdown at (30.00, -15.00) um"
    assert abs(surface.z0) < 20 * NM and surface.uncertainty < 10 * NM  # the true surface is z = 0


def test_500_randomised_approaches_never_crash_and_find_the_surface_within_20_nm():
    """Seeded: the true surface tilted up to 2 degrees in any direction and offset, the known
    surface a measured one off by up to 1.5 um there, start heights 2-4 um, sensor noise."""
    station = Station.from_text(twin_station_text(start_temperature="1.5 K"))
    world, scanner, sensor = station.scanner.world, station.scanner, station.role(TouchdownSensor)
    world.heater_setpoint = 1.5
    pacer = CleanupPacer(station.clock)
    rng = np.random.default_rng(20261206)
    errors, presses = [], []
    for trial in range(500):
        tilt = math.tan(math.radians(rng.uniform(0, 2)))
        direction = rng.uniform(0, 2 * math.pi)
        offset = rng.uniform(-1.0, 1.0) * UM
        world.contact = SurfaceContact(world.settings.approach, offset,
                                       (tilt * math.cos(direction), tilt * math.sin(direction)),
                                       np.random.default_rng(trial))
        x, y = rng.uniform(-45, 45) * UM, rng.uniform(-35, 35) * UM
        known_error = rng.uniform(-1.5, 1.5) * UM  # a measured surface, flat, off by this at (x, y)
        truth = float(world.contact.surface_z(x, y))
        scanner.record_surface(SurfacePlane(truth + known_error, source="touchdown earlier", uncertainty=5 * NM))
        start = rng.uniform(2, 4) * UM
        reached = []
        contact = approach_to_contact(scanner, sensor, pacer, x, y, ApproachSettings(start, 20 * NM, 0.3, 1 * UM),
                                      lambda z, signal: reached.append(z))
        errors.append(contact.z - truth)
        presses.append(truth - min(reached))
        assert world.contact.crashes == [], f"trial {trial}: {world.contact.crashes}"
    errors = np.abs(errors)
    assert errors.max() < 20 * NM  # the measured worst case is in docs/physics.md
    # CONFIRM + EXTRA_IN_CONTACT + 1 steps of 20 nm past contact at most: the default press limit
    assert max(presses) <= 140.001 * NM < COMPLIANCE


def test_a_plane_fit_recovers_a_1_degree_tilt_within_0_02_degree(tmp_path):
    slope = math.tan(math.radians(1.0))
    station = _tilted_station(tmp_path, -slope * 0.8, -slope * 0.6, start_temperature="1.5 K")
    text = ("steps:\n  - plane_fit: {x: [-40 um, 40 um], y: [-30 um, 30 um], points: [3, 3]}\n")
    result = run_procedure(text, station, tmp_path)
    assert result.outcome.status == "completed", result.outcome.error
    plane = station.scanner.surface
    assert plane.fitted and plane.tilt_degrees == pytest.approx(1.0, abs=0.02)
    assert math.degrees(math.atan2(plane.slope_y, plane.slope_x)) == pytest.approx(
        math.degrees(math.atan2(-0.6, -0.8)), abs=1.0)
    assert station.scanner.world.contact.crashes == []
    fit = find_step(read_steps(result.path), "plane_fit")
    contact_z, plane_z = fit.data["contact_z"], fit.data["plane_z"]
    assert contact_z.shape == plane_z.shape == fit.data["residual"].shape == (3, 3)
    truth = station.scanner.world.contact.surface_z(*np.meshgrid(np.linspace(-40, 40, 3) * UM,
                                                                 np.linspace(-30, 30, 3) * UM))
    assert np.abs(contact_z - truth).max() < 20 * NM  # each touchdown, row y, column x
    assert np.allclose(contact_z - plane_z, fit.data["residual"])
    assert np.all(fit.data["contact_uncertainty"] < 10 * NM)
    curves = fit.data["touchdown"]  # every reading of every approach, numbered by touchdown
    assert set(np.unique(curves)) == set(range(9)) and np.all(np.diff(curves) >= 0)


SCAN = "{x: [-35 um, 35 um], y: [-24 um, -4 um], pixel_size: 0.5 um, line_time: 0.5 s, reconstruct: false"


def _remanent_images(station, tmp_path, steps: str):
    """The remanence after +200 uA (sharp anomalous edge currents), scanned level and, after a
    plane_fit, at constant height above the plane."""
    text = ("steps:\n  - zero_field_cool: {from_temperature: 8 K, to_temperature: 1.5 K}\n" + steps
            + "  - bias_sweep: {points: [0, 200 uA, 0], step: 10 uA, integration_time: 0.1 s}\n"
            + f"  - raster_scan: {SCAN}, height_mode: level}}\n"
            + f"  - raster_scan: {SCAN}, height_mode: plane}}\n" * ("plane_fit" in steps))
    result = run_procedure(text, station, tmp_path)
    assert result.outcome.status == "completed", result.outcome.error
    return [step.data["flux"] for step in read_steps(result.path) if step.procedure == "raster_scan"]


def test_a_scan_at_constant_height_above_the_fitted_plane_reproduces_the_untilted_image(tmp_path):
    """1 degree of tilt, the surface falling along +x: a level scan starts 1 um above it and
    ends 1.2 um higher, blurring the edge currents; following the fitted plane the height
    stays 1 um (docs/tilted_scan.png shows the three)."""
    (flat,) = _remanent_images(Station.from_text(twin_station_text(flux_noise=0.0)), tmp_path / "flat", "")
    tilted = _tilted_station(tmp_path, -math.tan(math.radians(1.0)), flux_noise=0.0)
    level, following = _remanent_images(tilted, tmp_path / "tilted",
                                        "  - plane_fit: {x: [-40 um, 40 um], y: [-30 um, 30 um], points: [3, 3]}\n")
    assert image_correlation(following, flat) > 0.99
    assert image_correlation(level, flat) < 0.99

    def rms(image):
        return float(np.sqrt(np.mean(image**2)))

    assert rms(following - flat) < 0.01 * rms(flat) < 0.1 * rms(level - flat)
    assert tilted.scanner.world.contact.crashes == []


def test_a_touchdown_whose_steps_would_press_past_the_station_limit_is_refused_before_moving(tmp_path):
    """A touchdown stops at most CONFIRM + EXTRA_IN_CONTACT + 1 steps past contact: 100 nm steps
    would press the sensor 700 nm into the twin's sample, past its mount's compliance (a crash). The
    station's press limit (limits.scanner.press, 150 nm here) refuses them before the sensor moves."""
    station = Station.from_text(twin_station_text(start_temperature="1.5 K"))
    before = station.scanner.position()
    with pytest.raises(UserInputError, match=r"step: 100 nm would press the sensor up to 700 nm past contact "
                                             r".*allows 150 nm \(limits.scanner.press\): take steps of at most 21 nm"):
        run_procedure("steps:\n  - touchdown: {x: 0 um, y: 0 um, step: 100 nm}\n", station, tmp_path)
    assert station.scanner.world.contact.crashes == []
    assert station.scanner.position() == before
    assert not list(tmp_path.glob("*.h5"))
    result = run_procedure("steps:\n  - touchdown: {x: 0 um, y: 0 um, step: 21 nm}\n", station, tmp_path)
    assert result.outcome.status == "completed", result.outcome.error
    z = find_step(read_steps(result.path), "touchdown").data["z"]
    assert station.scanner.world.contact.crashes == [] and -z.min() <= 150.001 * NM  # the press the limit allows
