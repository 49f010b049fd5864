"""Every VISA driver takes a `timeout` setting: the VISA timeout of its connection, so a
station can tell a hung instrument in less than pyvisa's default 2 s (an emulated
station's fault matrix does; so may a lab whose instruments answer in milliseconds).
Added for the Lake Shore, the SR830s and the ANC300 when the emulators showed they had none."""

from __future__ import annotations

import pytest

from sqm.emulators.faults import Fault
from sqm.errors import InstrumentError

from .test_anc300 import SCANNER
from .test_lakeshore336 import BLOCK as LAKESHORE
from .test_sr830 import BRIDGE, SQUID


def _visa_timeouts_ms(bench_run) -> list[float]:
    """The VISA timeouts (ms) of the connections the driver opened."""
    return [closer.__self__.connection.timeout for closer in bench_run.context.closers]


@pytest.mark.parametrize("driver, block, read", [
    ("lakeshore336", LAKESHORE, lambda role: role.read_temperature()),
    ("sr830_squid", SQUID, lambda role: role.is_locked()),
    ("sr830_touchdown", BRIDGE, lambda role: role.snapshot()),
    ("anc300_scanner", SCANNER, lambda role: role.position()),
])
def test_the_timeout_setting_is_the_connections_and_a_hung_instrument_is_told_within_it(bench, driver, block, read):
    run = bench(driver, {**block, "timeout": "0.3 s"}, speed=1000.0)
    assert _visa_timeouts_ms(run) == [300]
    run.server.add_fault(Fault("no_reply", at=run.clock.now()))
    with pytest.raises(InstrumentError, match="(?i)timeout|timed out"):
        read(run.role)


@pytest.mark.parametrize("driver, block", [("lakeshore336", LAKESHORE), ("anc300_scanner", SCANNER)])
def test_without_the_setting_the_timeout_is_the_drivers_default_of_5_s(bench, driver, block):
    assert _visa_timeouts_ms(bench(driver, dict(block), speed=1000.0)) == [5000]
