"""The Keithley 6221 driver against its emulator: what is the 6221's own. What it does
alike with the Yokogawa GS200 (ramps, output, limits, range refusals, errors, a hung
instrument, a garbled reply) is tested for both in test_current_sources.py."""

from __future__ import annotations

import pytest

from .current_sources import open_source, world_bias


@pytest.fixture
def source(bench):
    return open_source(bench, "keithley6221")


def test_it_answers_as_a_6221_emulator_with_the_instruments_reset_state(source):
    assert "MODEL 6221" in source.role.identity() and "SQM-EMULATOR" in source.role.identity()
    assert source.role.read_current() == 0.0 and source.role.output_enabled() is False
    assert source.role.read_compliance() == 10.0  # the 6221's own, until the driver switches on
    assert world_bias(source) == (0.0, False)
