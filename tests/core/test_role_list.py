"""The one list of roles: the station, the safe state and both backends follow it."""

from __future__ import annotations

import pytest
import yaml

from sqm.errors import UserInputError
from sqm.role_list import REQUIRED_ROLE_NAMES, ROLE_NAMES, ROLES, SAFE_STATE_ORDER
from sqm.roles import Magnet
from sqm.safe_state import make_station_safe
from sqm.station import Station
from tests.conftest import REPO


def test_the_bias_goes_first_then_the_scanner_then_the_magnet():
    # the sample's bias, then the SQUID's own (nothing switching later spikes a biased nano-SQUID)
    assert SAFE_STATE_ORDER[:4] == ("current_source", "squid_bias", "scanner", "magnet")
    assert sorted(SAFE_STATE_ORDER) == sorted(ROLE_NAMES)


def test_the_twin_fills_every_role_of_the_list_with_its_interface():
    station = Station.from_file()
    assert list(station.backend.roles) == list(ROLE_NAMES)
    for entry in ROLES:
        role = station.backend.roles[entry.name]
        assert isinstance(role, entry.role_type) and type(role).__module__ == "sqm.sims.instruments"
    assert station.role(Magnet) is station.magnet


def test_make_safe_follows_the_list_order(monkeypatch):
    station = Station.from_file()
    seen = []
    for name, role in station.backend.roles.items():
        monkeypatch.setattr(role, "safe_state", lambda pacer, name=name: seen.append(name))
    assert make_station_safe(station.backend.roles, station.clock) == []
    assert tuple(seen) == SAFE_STATE_ORDER


@pytest.mark.parametrize("missing", REQUIRED_ROLE_NAMES)
def test_a_hardware_station_must_name_a_driver_for_every_required_role_of_the_list(missing):
    from sqm.drivers.backend import validate_config

    station_file = yaml.safe_load((REPO / "configs" / "stations" / "lab-pyvisa-sim.yaml").read_text())
    block = station_file["hardware"]
    validate_config(block, Station.from_file().limits)  # complete: accepted
    del block[missing]
    with pytest.raises(UserInputError, match=f"hardware.{missing}"):
        validate_config(block, Station.from_file().limits)


def test_a_hardware_station_may_go_without_an_optional_role():
    from sqm.drivers.backend import role_names, validate_config

    station_file = yaml.safe_load((REPO / "configs" / "stations" / "lab-pyvisa-sim.yaml").read_text())
    block = station_file["hardware"]
    block.pop("touchdown", None)
    validate_config(block, Station.from_file().limits)
    assert set(role_names(block)) == set(REQUIRED_ROLE_NAMES) and "touchdown" not in REQUIRED_ROLE_NAMES


def test_every_role_shows_what_the_panel_says_in_display_units():
    station = Station.from_file()
    readings = {reading.key: reading.text(reading.read(station.backend.roles[entry.name]))
                for entry in ROLES for reading in entry.panel}
    assert readings["temperature"].endswith(" K") and readings["field"].endswith(" G")
    assert readings["bias"] == "0.00 uA" and readings["locked"] == "locked"
