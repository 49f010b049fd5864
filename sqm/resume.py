"""`sqm resume FILE.h5`: continue a run that was killed or aborted, into the same file.

The file says what the run was (its station and procedure texts) and how far it got
(each step's status, the points or lines its data hold). A resume:

1. refuses, in one line, a run that completed, one whose writer is still there, and one
   whose remaining steps the station's limits (the station file given, or the one the
   run was started with) no longer allow;
2. on a backend whose state lives in the process (the twin: `Backend.state_in_process`),
   replays the run so far on a fresh station, writing nothing, so that the sample, field,
   bias and the random draws are where the interrupted run left them; real instruments
   kept their state and are not touched;
3. runs the rest into the same file: the interrupted step continues from its last
   complete point (a sweep, ramping from the measured value) or line (an image) when its
   procedure is `resumable`, and is run again from its start (in a group of its own)
   otherwise; the steps after it run as planned. The root's and the step's `resumed`
   attributes (JSON lists) record each continuation with its time and starting point.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from .errors import UserInputError
from .procedure_file import ProcedureFile, parse_procedure_text
from .procedures.base import Step
from .readback import open_run_file, step_order, text_attr, writer_state
from .runner import Continuation, RunControl, RunStepContext
from .station import Station
from .store import RunStore

logger = logging.getLogger(__name__)
_STEP_GROUP = re.compile(r"^(\d+)_")


@dataclass
class ResumePlan:
    """What a resume will do: the station, the steps still to run and where the first starts."""

    path: Path
    station: Station
    procedure_file: ProcedureFile
    first_step: int  # 1-based index of the first step still to run
    continuation: Continuation | None  # the interrupted step, if one was begun
    replayed: bool  # the run so far is replayed on the station (the twin)
    made_safe: bool = False  # the interrupted run reached its safe state (an abort, a failure; not a kill)
    done_unit: str = "points"  # what the interrupted step's `done` counts: "points" (a series) or "lines"

    @property
    def remaining(self) -> list[Step]:
        return [step for step in self.procedure_file.steps if step.index >= self.first_step]

    def describe(self) -> str:
        if self.continuation is None:
            return f"resuming {self.path.name} at step {self.first_step}"
        step = self.procedure_file.steps[self.first_step - 1]
        how = (f"from {self.continuation.done} {self.done_unit} already in the file" if step.procedure.resumable
               else f"again from its start (as {self.continuation.rerun_group})")
        return f"resuming {self.path.name} at step {self.first_step} ({step.procedure.name}) {how}"


def _refuse(path: Path, reason: str) -> UserInputError:
    return UserInputError(f"{path}: cannot resume: {reason}")


def plan_resume(path: str | Path, station_path: str | Path | None = None) -> ResumePlan:
    """Read the file and decide what a resume does; UserInputError (one line) if it may not.

    `station_path`: the station to continue on (default: the station text the run was
    started with, as stored in the file). Nothing is built or opened before the file and
    the limits are found acceptable, except the station itself.
    """
    path = Path(path)
    with open_run_file(path) as h5:
        attrs = h5.attrs
        if "sqm_version" not in attrs or "procedure" not in attrs or "station" not in attrs:
            raise _refuse(path, "not an SQM run file (no procedure or station recorded)")
        status = text_attr(attrs.get("status", ""))
        if status == "completed":
            raise _refuse(path, "the run completed; nothing is left to do")
        if status == "running":
            state = writer_state(attrs)
            if state is None or not state.startswith("the writer"):
                who = f"pid {text_attr(attrs.get('writer_pid', '?'))} on {text_attr(attrs.get('writer_host', '?'))}"
                raise _refuse(path, f"it is still being written ({state or who}); stop that run first")
        station_text = text_attr(attrs["station"])
        made_safe = "safe_state" in attrs
        procedure_file = parse_procedure_text(text_attr(attrs["procedure"]), source=f"{path} (its procedure)")
        steps = procedure_file.steps
        groups = _step_groups(h5)
        for index, (name, _status, procedure) in groups.items():
            if index > len(steps) or procedure != steps[index - 1].procedure.name:
                raise _refuse(path, f"its group {name} does not match step {index} of its own procedure")
        first = next((step.index for step in steps if groups.get(step.index, ("", "", ""))[1] != "completed"), None)
        if first is None:
            raise _refuse(path, "every step completed; nothing is left to do")
        continuation, unit = None, "points"
        if first in groups:  # the interrupted step was begun: how far it got
            group = groups[first][0]
            done, unit = _done_in(h5[group])
            continuation = Continuation(first, group, done, _rerun_group(h5, group))
    station = (Station.from_file(station_path) if station_path is not None
               else Station.from_text(station_text, source=f"{path} (its station)"))
    try:
        _check_remaining(path, station, steps, first)
    except BaseException:
        station.close()
        raise
    return ResumePlan(path, station, procedure_file, first, continuation,
                      replayed=station.backend.state_in_process, made_safe=made_safe, done_unit=unit)


def _step_groups(h5: h5py.File) -> dict[int, tuple[str, str, str]]:
    """{step index: (group name, status, procedure)}: each step's first group, or the rerun
    that completed it (`NNN_<procedure>_rerun`, after an earlier resume)."""
    groups: dict[int, tuple[str, str, str]] = {}
    for name in sorted(h5, key=step_order):
        match = _STEP_GROUP.match(name)
        item = h5.get(name)
        if match and isinstance(item, h5py.Group) and "procedure" in item.attrs:
            index = int(match.group(1))
            status = text_attr(item.attrs.get("status", ""))
            if index not in groups or status == "completed":  # a rerun that completed counts
                groups[index] = (name, status, text_attr(item.attrs["procedure"]))
    return groups


def _check_remaining(path: Path, station: Station, steps: list[Step], first: int) -> None:
    """The steps still to run, against the station's limits and what it will know."""
    for step in steps[first - 1:]:
        try:
            step.procedure.validate(station.limits)
        except UserInputError as error:
            raise _refuse(path, f"step {step.index} ({step.procedure.name}) breaks the station's limits: "
                          f"{error}") from None
    from .session import station_knows

    known = set(station_knows(station))
    if station.backend.state_in_process:  # replayed: what the completed steps found is found again
        for step in steps[:first - 1]:
            known |= step.procedure.provides
    for step in steps[first - 1:]:
        missing = step.procedure.needs() - known
        if missing:
            raise _refuse(path, f"step {step.index} ({step.procedure.name}) needs the {', '.join(sorted(missing))} "
                          "that an earlier step found; a resume on real instruments does not find it again")
        known |= step.procedure.provides


def _done_in(group: h5py.Group) -> tuple[int, str]:
    """Points (a series: the shortest column) or lines (images: rows written from the
    first, in every image) the interrupted step's group holds, and which of the two."""
    counts, unit = [], "points"
    for data_name in [name for name in group if name == "data" or name.startswith("data_")]:
        data = group[data_name]
        if not isinstance(data, h5py.Group):
            continue
        datasets = [item for item in data.values() if isinstance(item, h5py.Dataset)]
        images = [item for item in datasets if item.ndim == 2]
        if images:
            unit = "lines"
            for image in images:
                written = ~np.all(np.isnan(image[()]), axis=1)
                counts.append(int(np.argmin(written)) if not written.all() else len(written))
        elif data_name == "data":
            counts.append(min((item.shape[0] for item in datasets if item.ndim == 1), default=0))
    return min(counts, default=0), unit


def _rerun_group(h5: h5py.File, group_name: str) -> str:
    """A new group name for a step run again: `<group>_rerun`, `_rerun2`, ..."""
    candidate, count = f"{group_name}_rerun", 1
    while candidate in h5:
        count += 1
        candidate = f"{group_name}_rerun{count}"
    return candidate


class _ReplayReached(Exception):
    """The replay reached the point where the interrupted run stopped."""


class _ReplayContext(RunStepContext):
    """A step context that records into memory and stops after `stop_after` points or lines."""

    def __init__(self, *args, stop_after: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stop_after = stop_after
        self._taken = 0
        self._first_image: str | None = None  # an image step counts the lines of its first image

    def _count(self) -> None:
        self._taken += 1
        if self._stop_after is not None and self._taken >= self._stop_after:
            raise _ReplayReached()

    def record(self, **values: float) -> None:
        super().record(**values)
        self._count()

    def record_line(self, name: str, row: int, values: np.ndarray, **summaries: float) -> None:
        super().record_line(name, row, values, **summaries)
        if name == self._first_image:
            self._count()

    def declare_image(self, name, units, rows, columns, extra_axes=None, line_summaries=None) -> None:
        super().declare_image(name, units, rows, columns, extra_axes, line_summaries)
        self._first_image = self._first_image or name


def replay(plan: ResumePlan) -> None:
    """Bring the twin to where the interrupted run stopped: the completed steps, and the
    interrupted (resumable) step up to its last stored point or line, run again on it with
    the same calls in the same order, into memory; the file is not touched. A run that
    ended in its safe state (an abort, a failure) is then made safe again, as it was: the
    sample saw the bias and field go to zero before the run goes on."""
    station, continuation = plan.station, plan.continuation
    steps = [step for step in plan.procedure_file.steps if step.index < plan.first_step]
    partial = None
    if continuation is not None and plan.procedure_file.steps[plan.first_step - 1].procedure.resumable:
        partial = plan.procedure_file.steps[plan.first_step - 1]
        if continuation.done > 0:
            steps.append(partial)
    store = RunStore("replay.h5", backend=station.backend.kind, station_text=station.text, procedure_text="",
                     in_memory=True)
    control = RunControl()
    try:
        for step in steps:
            procedure = step.procedure
            writer = store.begin_step(step.index, procedure.name, procedure.parameters_si(), station.snapshot(),
                                      procedure.measures)
            stop_after = continuation.done if step is partial and continuation is not None else None
            context = _ReplayContext(station, control, station.interlocks, writer, lambda event: None, step.index,
                                     stop_after=stop_after)
            try:
                context.checkpoint()
                procedure.run(context)
            except _ReplayReached:
                break
            writer.finish("completed")
        if plan.made_safe:
            station.make_safe()
    finally:
        store.close()


def resumed_details(plan: ResumePlan) -> dict:
    """What the root's `resumed` history records of this continuation."""
    details: dict = {"from_step": plan.first_step, "replayed": plan.replayed}
    if plan.continuation is not None:
        details["from"] = plan.continuation.done
    return details


def start_resumed_run(plan: ResumePlan, on_event=None, unattended: bool = False):
    """Open the file for the rest of the run and start the runner on the remaining steps
    (after `replay` on a station whose state lives in the process). Returns (runner, store)."""
    from .runner import Runner

    store = RunStore.continue_file(plan.path, resumed=resumed_details(plan),
                                   interrupted_group=plan.continuation.group if plan.continuation else None)
    interlocks = plan.station.interlocks.without_pauses() if unattended else plan.station.interlocks
    runner = Runner(plan.station, plan.remaining, store, on_event=on_event, interlocks=interlocks,
                    continuation=plan.continuation)
    runner.start()
    return runner, store
