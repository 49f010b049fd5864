"""Finding and following the surface, refused before anything moves: a touchdown on a
station without a touchdown sensor, a plane_fit grid outside the scan range, a scan in
plane mode before any plane is known (one line, exit 2), and a plane whose path leaves
the z piezo's reach (the step fails before the sensor moves, saying why)."""

from __future__ import annotations

import yaml

from sqm.cli import main
from sqm.readback import find_step, read_steps
from sqm.session import run_procedure
from sqm.station import Station
from sqm.surface import SurfacePlane

from ..conftest import CONFIGS
from .error_lines import one_error_line

LAB = CONFIGS / "stations" / "lab-example.yaml"


def _write(path, text):
    path.write_text(text)
    return path


def test_a_touchdown_on_a_station_without_a_touchdown_sensor_is_refused(tmp_path, capsys):
    station = yaml.safe_load(LAB.read_text())
    station["hardware"].pop("touchdown", None)
    station_file = _write(tmp_path / "no-bridge.yaml", yaml.safe_dump(station, sort_keys=False))
    procedure = _write(tmp_path / "touchdown.yaml", "steps:\n  - touchdown: {x: 0, y: 0}\n")
    assert main(["check", str(procedure), "--station", str(station_file)]) == 2
    assert one_error_line(capsys) == (f"sqm: error: {procedure}: step 1 (touchdown): touchdown needs a touchdown role, "
                                 "and this station file gives none")


def test_a_plane_fit_grid_outside_the_scan_range_is_refused(tmp_path, capsys):
    procedure = _write(tmp_path / "fit.yaml", "steps:\n  - plane_fit: {x: [-60 um, 40 um], y: [-30 um, 30 um]}\n")
    assert main(["check", str(procedure)]) == 2
    line = one_error_line(capsys)
    assert "step 1 (plane_fit): scanner x -60 um is outside the station limits [-50 um, 50 um]" in line, line


def test_a_scan_in_plane_mode_before_any_plane_is_refused(tmp_path, capsys):
    scan = "raster_scan: {x: [-5 um, 5 um], y: [-5 um, 5 um], reconstruct: false, height_mode: plane}"
    procedure = _write(tmp_path / "scan.yaml", f"steps:\n  - {scan}\n")
    for command in (["check", str(procedure)], ["run", str(procedure), "--out", str(tmp_path / "runs")]):
        assert main(command) == 2
        assert one_error_line(capsys) == (f"sqm: error: {procedure}: step 1 (raster_scan): needs a fitted plane, "
                                          "and no step before it makes one (add a plane_fit step before it)")
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*.h5"))
    fitted_first = _write(tmp_path / "fitted.yaml", "steps:\n  - plane_fit: {x: [-10 um, 10 um], "
                                                    f"y: [-10 um, 10 um], points: [2, 2]}}\n  - {scan}\n")
    assert main(["check", str(fitted_first)]) == 0


def test_a_plane_whose_path_leaves_the_piezos_reach_fails_before_the_sensor_moves(tmp_path):
    station = Station.from_file()
    scanner = station.scanner
    # a fitted plane steep enough that 10 um of scan climbs past the top of the z piezo (25 um)
    scanner.record_surface(SurfacePlane(20e-6, 1.0, 0.0, "plane fit of 9 touchdowns", 5e-9))
    before = scanner.position()
    text = "steps:\n  - raster_scan: {x: [-5 um, 5 um], y: [-5 um, 5 um], reconstruct: false, height_mode: plane}\n"
    result = run_procedure(text, station, tmp_path)
    assert result.outcome.status == "failed"
    step = find_step(read_steps(result.path), "raster_scan")
    assert step.error.startswith("InstrumentError: scanner: scan line: z = ")
    assert "outside the z piezo's reach" in step.error
    assert "flux" not in step.data  # no line was scanned
    assert scanner.world.position[:2] == list(before[:2])  # it never left where it was


def test_a_plane_fit_grid_on_one_line_is_refused_before_anything_moves(tmp_path, capsys):
    for grid, expected in (
        ("x: [-10 um, 10 um], y: [-10 um, 10 um], points: [5, 1]",
         "points: a 5 x 1 grid lies on one line and cannot fix a plane; give at least 2 along each axis"),
        ("x: [5 um, 5 um], y: [-10 um, 10 um], points: [2, 2]",
         "x: the grid's first and last x are both 5 um; a plane needs touchdowns spread along both axes"),
    ):
        procedure = _write(tmp_path / "line.yaml", f"steps:\n  - plane_fit: {{{grid}}}\n")
        assert main(["check", str(procedure)]) == 2
        line = one_error_line(capsys)
        assert line.startswith(f"sqm: error: {procedure}: step 1 (plane_fit): ") and expected in line, line
