"""The fault matrix at the wire: every fault, injected after the third point (or line) of
each kind of step, on the emulated station (the real drivers against emulators on the
twin's world). Whatever the outcome, the run ends with its reason in the file, nothing
recorded before the fault is lost, the exit status says what happened, the station is
brought as safe as the faulty instrument allows, and the file never calls safe what the
world says is not. The outcomes go into the README's table."""

from __future__ import annotations

import pytest

from .conftest import record_wire_cell
from .emulated import FAULTS, STEPS, run_with_fault

pytest.importorskip("pyvisa_py")


@pytest.mark.parametrize("step", list(STEPS))
@pytest.mark.parametrize("fault, role, kind, lasts", FAULTS, ids=[row[0] for row in FAULTS])
def test_a_fault_mid_step_is_recorded_and_leaves_the_station_as_safe_as_it_can_be(tmp_path, step, fault, role, kind,
                                                                                    lasts):
    run = run_with_fault(STEPS[step], role, kind, lasts, tmp_path)
    assert run.fault_injected, "the step ended before its third point: the fault was never played"
    assert run.status in ("completed", "failed", "aborted")
    assert run.exit_status == {"completed": 0, "failed": 1, "aborted": 3}[run.status]
    if run.status != "completed":
        assert run.error  # the reason, in the file
    assert run.points_in_file == run.points_reported  # nothing recorded before the end is lost
    assert set(run.unsafe_in_world) <= {role}  # only the faulty instrument may be left unsafe...
    for unsafe in run.unsafe_in_world:  # ...and then the file says so
        assert f"{unsafe}: NOT confirmed safe" in run.file_safe_state
    not_confirmed = [name for name in ("current_source", "scanner", "magnet", "temperature", "squid", "voltmeter",
                                       "touchdown") if f"{name}: NOT confirmed safe" in run.file_safe_state]
    assert set(not_confirmed) <= {role}  # a healthy instrument is always made safe
    if not not_confirmed:
        assert run.file_safe_state == "safe"
    record_wire_cell(fault, step, run.status + (", safe" if not not_confirmed else f", {role} not confirmed safe")
                     + (" (left unsafe)" if run.unsafe_in_world else ""))
