"""A step's noted results reach the event sink (`ResultNoted`) as well as the run file, so a
viewer can show them while the run goes on."""

from __future__ import annotations

import h5py
import pytest

from sqm.events import ResultNoted, StepFinished, StepStarted
from sqm.readback import find_step, read_steps
from sqm.runner import RunControl, RunStepContext
from sqm.session import load, new_run_path, start_run
from sqm.store import StoreError

# The film normal, then a coarse I-V of the SQUID: it notes both critical currents and dV/dI.
SQUID_IV = """
steps:
  - set: {temperature: 8 K}
  - squid_iv: {points: [0, 150 uA, -150 uA, 0], step: 10 uA}
"""


class _Writer:
    """A step writer that keeps attributes in a dict, or refuses them like a full disk."""

    def __init__(self, full: bool = False) -> None:
        self.attributes: dict[str, object] = {}
        self.full = full

    def set_attribute(self, key: str, value) -> None:
        if self.full:
            raise StoreError(f"the attribute {key!r}: the disk is full")
        self.attributes[key] = value


def _context(twin, writer: _Writer, events: list) -> RunStepContext:
    return RunStepContext(twin, RunControl(), twin.interlocks, writer, events.append, step_index=4)


def test_note_stores_the_value_then_reports_it_with_the_step(twin):
    events: list = []
    writer = _Writer()
    context = _context(twin, writer, events)
    context.note("period_T", 1.7231e-3)
    context.note("pattern_plus", "not fitted: too few readings")
    assert writer.attributes == {"period_T": 1.7231e-3, "pattern_plus": "not fitted: too few readings"}
    assert events == [ResultNoted(4, "period_T", 1.7231e-3),
                      ResultNoted(4, "pattern_plus", "not fitted: too few readings")]


def test_a_note_the_file_refuses_is_not_reported(twin):
    events: list = []
    context = _context(twin, _Writer(full=True), events)
    with pytest.raises(StoreError):
        context.note("period_T", 1.7231e-3)
    assert events == []  # a viewer never shows a result the file does not hold


def test_a_run_reports_each_note_of_its_step_as_the_file_stores_it(twin, tmp_path):
    events: list = []
    station, procedure_file = load(SQUID_IV, twin)
    path = new_run_path(tmp_path, "notes")
    runner, store = start_run(station, procedure_file, path, events.append)
    outcome = runner.join(60)
    store.close()
    assert outcome is not None and outcome.status == "completed", outcome
    notes = [event for event in events if isinstance(event, ResultNoted)]
    assert {note.key for note in notes} == {"critical_current_plus_A", "critical_current_minus_A",
                                            "differential_resistance_ohm"}
    assert {note.step for note in notes} == {2}
    # within the step: after it started, before it finished
    started = events.index(next(event for event in events if isinstance(event, StepStarted) and event.step == 2))
    finished = events.index(next(event for event in events if isinstance(event, StepFinished) and event.step == 2))
    assert all(started < events.index(note) < finished for note in notes)
    step = find_step(read_steps(path), "squid_iv")
    with h5py.File(path, "r") as h5:
        stored = dict(h5[step.group].attrs)
    for note in notes:
        assert stored[note.key] == pytest.approx(note.value)
    reported = {note.key: note.value for note in notes}
    assert 90e-6 < reported["critical_current_plus_A"] < 100e-6  # the twin SQUID's Ic near zero field, in A
