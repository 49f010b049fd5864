"""`dry_run`, the twin rehearsal behind `sqm check`: the lab time it reports for a
station's limits, and a refusal, not a failed run, when handed something else."""

from __future__ import annotations

import pytest

from sqm.cli import main
from sqm.session import dry_run, load, load_for_check

SCAN = """steps:
  - raster_scan: {x: [-2 um, 2 um], y: [-2 um, 2 um], pixel_size: 0.5 um, line_time: 0.5 s, bias_current: 100 uA,
                  reconstruct: false}
"""


def _checked_seconds(capsys, path) -> float:
    assert main(["check", str(path)]) == 0
    return float(capsys.readouterr().out.split("of lab time (")[1].split(" s)")[0])


def test_a_dry_run_with_a_stations_limits_reports_the_lab_time_sqm_check_reports(tmp_path, capsys):
    path = tmp_path / "scan.yaml"
    path.write_text(SCAN)
    station, procedure_file = load(SCAN)
    outcome = dry_run(procedure_file, station.limits)
    assert outcome.status == "completed", outcome.error
    assert outcome.station_seconds > 9 * 0.5  # nine lines of 0.5 s, and the moves between them
    assert outcome.station_seconds == pytest.approx(_checked_seconds(capsys, path), abs=0.5)  # printed in whole s
    _, limits, checked_file = load_for_check(SCAN)
    assert dry_run(checked_file, limits).station_seconds == pytest.approx(outcome.station_seconds)


def test_a_dry_run_handed_a_station_instead_of_its_limits_refuses_before_running():
    station, procedure_file = load(SCAN)
    with pytest.raises(TypeError, match=r"station\.limits"):
        dry_run(procedure_file, station)
