"""Shared fixtures: the twin station, with overrides, and running procedure text on it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import yaml

from sqm.session import load, new_run_path, start_run
from sqm.station import DEFAULT_STATION, Station

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"

# The twin's solve cache of this test session: its own folder (inherited by the `sqm`
# processes tests start), so no test reads what another checkout or an older code left
# in the user's cache, and a session still solves each sample only once.
if "SQM_CACHE_DIR" not in os.environ:
    os.environ["SQM_CACHE_DIR"] = tempfile.mkdtemp(prefix="sqm-test-cache-")


def twin_station_text(**sim_overrides) -> str:
    """The default twin station file, with `sim:` settings replaced."""
    data = yaml.safe_load(DEFAULT_STATION.read_text())
    data["sim"].update(sim_overrides)
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture
def twin() -> Station:
    """A fresh twin station (default seed)."""
    return Station.from_file(DEFAULT_STATION)


def run_on_station(station: Station, procedure_text: str, out_dir: Path):
    """Validate and run procedure text to the end; returns (path, outcome)."""
    station, procedure_file = load(procedure_text, station)
    path = new_run_path(out_dir, "test")
    runner, store = start_run(station, procedure_file, path)
    outcome = runner.join()
    store.close()
    return path, outcome
