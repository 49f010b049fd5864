"""docs/instruments.md's drivers table and the registry agree: every registered driver
has its row, and every file a row names exists."""

from __future__ import annotations

import re

from sqm.drivers.backend import DRIVER_SETTINGS, DRIVERS
from tests.conftest import REPO


def table_rows() -> list[list[str]]:
    text = (REPO / "docs" / "instruments.md").read_text()
    table = text.split("<!-- drivers-table:start -->")[1].split("<!-- drivers-table:end -->")[0]
    lines = [line for line in table.strip().splitlines()[2:] if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_every_registered_driver_has_one_row_with_its_role_and_class():
    rows = {row[4].strip("`"): row for row in table_rows()}
    assert sorted(rows) == sorted(DRIVERS)
    for name, row in rows.items():
        module, class_name = DRIVERS[name].split(":")
        assert row[0] == DRIVER_SETTINGS[name].role
        assert row[2] == f"`drivers/{module}.py`" and row[3] == f"`{class_name}`"


def test_every_file_a_row_names_exists():
    for row in table_rows():
        for cell in row:
            for path in re.findall(r"`((?:drivers|tests)/[\w/.]+)`", cell):
                assert (REPO / path).is_file(), path
