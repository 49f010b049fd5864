"""The Keithley 2182A driver against its emulator: the sample's four-probe voltage, read
through the wire, is the twin's (zero below the critical current, the flux-flow voltage
above it), with the nanovoltmeter's noise for the integration time asked."""

from __future__ import annotations

import numpy as np
import pytest

from sqm.pacing import CleanupPacer


def test_the_driver_reads_the_worlds_voltage_through_the_wire(bench):
    meter = bench("keithley2182", {"line_frequency": "50 Hz"}, start_temperature=1.5)
    pacer = CleanupPacer(meter.clock)
    assert "2182A" in meter.role.identity() and "SQM-EMULATOR" in meter.role.identity()
    with meter.link.world() as world:
        world.bias_output = True
        world.set_bias_current(0.0)
    quiet = [meter.role.read_voltage(0.2, pacer) for _ in range(20)]
    assert abs(np.mean(quiet)) < 5e-9 and 2e-9 < np.std(quiet) < 40e-9  # 10 nV/sqrt(Hz) over 0.2 s
    with meter.link.world() as world:
        world.set_bias_current(300e-6)  # above I_c(1.5 K): flux flow
        expected = world.sample_voltage()
    assert expected > 1e-6
    assert meter.role.read_voltage(1.0, pacer) == pytest.approx(expected, rel=0.05)


def test_an_error_queued_by_the_instrument_reaches_the_operator(bench):
    from sqm.emulators.faults import Fault
    from sqm.errors import InstrumentError

    meter = bench("keithley2182", {"line_frequency": "50 Hz"})
    meter.server.add_fault(Fault("error_entry", at=0.0))
    with pytest.raises(InstrumentError, match="Calibration memory lost"):
        meter.role.read_voltage(0.1, CleanupPacer(meter.clock))
