"""The Yokogawa GS200 driver against its emulator (current mode, 1 mA range): what is the
GS200's own, its range: the driver refuses a setpoint beyond the present range before
anything is sent, and the instrument's range bounds its level. What it does alike with the
Keithley 6221 (ramps, output, limits, range refusals, errors, a hung instrument, a garbled
reply) is tested for both in test_current_sources.py."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sqm.drivers.scpi import check_error_queue
from sqm.errors import InstrumentError
from sqm.pacing import CleanupPacer

from .current_sources import FAST, open_source, world_bias

MA = 1e-3


@pytest.fixture
def source(bench):
    return open_source(bench, "yokogawa_gs200")


def test_it_answers_as_a_gs200_emulator_in_current_mode_on_its_1_ma_range(source):
    assert "GS211" in source.role.identity() and "SQM-EMULATOR" in source.role.identity()
    assert source.role.current_range == 1 * MA and source.role.max_current == 1.2 * MA
    assert source.role.read_current() == 0.0 and source.role.output_enabled() is False
    assert source.role.read_compliance() == 30.0  # the GS200's own, until the driver switches on
    assert world_bias(source) == (0.0, False)


def test_a_setpoint_beyond_the_present_range_is_refused_by_the_driver_before_any_command(source):
    limits = source.role.limits
    source.role.attach_limits(replace(limits, bias_current=replace(limits.bias_current, minimum=-5 * MA,
                                                                   maximum=5 * MA)))
    sent = source.server.messages
    with pytest.raises(InstrumentError, match=r"outside the GS200's range of \+-0.0012 A"):
        source.role.ramp_to(2 * MA, CleanupPacer(source.clock), FAST)
    assert source.server.messages == sent


def test_the_range_bounds_the_level_and_cannot_shrink_below_it(source):
    instrument, name = source.role.instrument, source.role.name
    instrument.write("SOURce:RANGe 10E-3")
    instrument.write("SOURce:LEVel 5e-3")
    check_error_queue(instrument, name)
    assert source.role.read_current() == pytest.approx(5 * MA)
    instrument.write("SOURce:RANGe 1E-3")  # 5 mA does not fit the 1 mA range
    with pytest.raises(InstrumentError, match='-222,"Data out of range"'):
        check_error_queue(instrument, name)
    assert instrument.ask(":SOURce:RANGe?").strip() == "1E-02"
    assert world_bias(source) == (0.0, False)  # all with the output off
