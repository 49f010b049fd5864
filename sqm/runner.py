"""The runner: executes a list of procedure steps in a worker thread.

At every checkpoint it evaluates the interlocks and honours pause, resume and
abort. Whatever happens (finish, abort, exception, Ctrl-C), its cleanup brings the
station to its safe state and records, in the file, how each step and the run
ended.
"""

from __future__ import annotations

import logging
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .context import AxisSpec
from .errors import AbortRequested, InterlockTripped
from .events import (
    Axis,
    DatasetAdded,
    EventSink,
    ImageDeclared,
    InterlockReported,
    LineRecorded,
    Paused,
    PointRecorded,
    ResultNoted,
    Resumed,
    RunFinished,
    SeriesDeclared,
    StepFinished,
    StepStarted,
)
from .interlocks import InterlockSet
from .procedures.base import Step
from .roles import fence_thread, unfence_thread
from .run_log import RunFileLog
from .station import Station
from .store import RunStore, StepWriter, StoreError
from .watchdog import DEFAULT_ABORT_GRACE_S, DEFAULT_DEADLINE_S, Watchdog

logger = logging.getLogger(__name__)

# The run that drives each station now (by id of the Station): a thread the watchdog
# gave up on makes the station safe again when its call returns only if no other run
# has taken the station since.
_active_runs: dict[int, "Runner"] = {}


@dataclass
class RunOutcome:
    """How a run ended."""

    status: str  # "completed" | "aborted" | "failed"
    error: str | None = None
    safe_state_failures: list[str] = field(default_factory=list)
    station_seconds: float = 0.0  # station-clock seconds the run took: lab time, simulated on the twin
    taken_over: bool = False  # ended by the watchdog while the run's thread was blocked


@dataclass(frozen=True)
class Continuation:
    """Where a resumed run picks up (`sqm resume`): step `step_index` (1-based) was
    interrupted with `done` points (a series) or lines (an image) in its group `group`.
    A resumable procedure continues in that group from there; any other is run again
    from its start in a group of its own, `rerun_group`."""

    step_index: int
    group: str
    done: int
    rerun_group: str


class RunControl:
    """Thread-safe pause / resume / abort flags shared by the runner and its callers."""

    def __init__(self) -> None:
        self._abort_reason: str | None = None
        self._running = threading.Event()
        self._running.set()
        self._lock = threading.Lock()

    def abort(self, reason: str = "aborted by the operator") -> None:
        with self._lock:
            if self._abort_reason is None:
                self._abort_reason = reason
        self._running.set()  # a paused run must wake up to abort

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def abort_reason(self) -> str | None:
        return self._abort_reason

    def stop_requested(self) -> bool:
        return self._abort_reason is not None or not self._running.is_set()

    def wait_running(self, timeout: float) -> bool:
        """Block up to `timeout` wall seconds while paused; True once running (or aborting)."""
        return self._running.wait(timeout)


class RunStepContext:
    """The runner's `sqm.context.StepContext`: the station's roles, waiting, checkpoints
    and recording into the step's writer, each reported as an event."""

    def __init__(
        self,
        station: Station,
        control: RunControl,
        interlocks: InterlockSet,
        writer: StepWriter,
        emit: EventSink,
        step_index: int,
        progress: Callable[[], None] = lambda: None,
        resume_from: int = 0,
    ) -> None:
        self.station = station
        self.resume_from = resume_from
        self._progress = progress  # tells the run's watchdog this thread is not stuck
        self._control = control
        self._interlocks = interlocks
        self._writer = writer
        self._emit = emit
        self._step_index = step_index
        self._points = resume_from
        self._next_interlock_check = float("-inf")

    # Pacer protocol (roles wait through this) ---------------------------------
    def now(self) -> float:
        return self.station.clock.now()

    def wait(self, seconds: float) -> None:
        """Let `seconds` of station time pass, checkpointing at least every interlock
        interval; a pause in between does not shorten the wait (a switch-heater or hold
        time is a physical minimum)."""
        end = self.now() + seconds
        while True:
            now = self.now()
            # wake when the interlocks are due: an excursion shorter than an integration,
            # a settle or a scan line must not pass unseen between two checkpoints
            remaining = min(end, max(self._next_interlock_check, now)) - now
            if remaining > 0:
                self.station.clock.sleep(remaining, self._control.stop_requested)
            self.checkpoint()
            if self.now() >= end - 1e-9 * max(1.0, abs(end)):
                return

    # Control -------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Honour abort and pause, read the interlocks when they are due, and write
        buffered points that have waited long enough (a kill must not lose them)."""
        self._progress()
        if self._writer is not None:
            self._writer.flush_if_due()
        self._raise_if_aborted()
        if self._control.paused:
            logger.info("step %d paused", self._step_index)
            self._emit(Paused(self._step_index))
            while not self._control.wait_running(0.1):
                self._progress()
                self._watch_while_paused()
            logger.info("step %d resumed", self._step_index)
            self._emit(Resumed(self._step_index))
            self._raise_if_aborted()
        now = self.now()
        if now >= self._next_interlock_check:
            self._next_interlock_check = now + self._interlocks.interval
            tripped = self._interlocks.first_trip(self.station)
            if tripped:
                interlock, reason = tripped
                logger.warning("step %d: interlock %s tripped (%s): %s", self._step_index, interlock.name,
                               interlock.action, reason)
                self._emit(InterlockReported(self._step_index, reason))
                if interlock.action == "abort":
                    raise InterlockTripped(f"interlock {interlock.name}: {reason}")
                self._control.pause()
                self.checkpoint()

    def _watch_while_paused(self) -> None:
        """A paused run still holds bias and field: the abort interlocks (quench,
        temperature ceiling) keep being read, when due, and end the run if they trip."""
        now = self.now()
        if now < self._next_interlock_check:
            return
        self._next_interlock_check = now + self._interlocks.interval
        for interlock in self._interlocks.interlocks:
            if interlock.action != "abort":
                continue  # a pause interlock already did what it can
            reason = interlock.check(self.station)
            if reason:
                logger.warning("step %d: interlock %s tripped while paused: %s", self._step_index,
                               interlock.name, reason)
                self._emit(InterlockReported(self._step_index, reason))
                raise InterlockTripped(f"interlock {interlock.name} (while paused): {reason}")

    def _raise_if_aborted(self) -> None:
        reason = self._control.abort_reason
        if reason is not None:
            raise AbortRequested(reason)

    # Recording -----------------------------------------------------------------
    def declare_series(
        self, columns: Mapping[str, str], signal: str, axes: Sequence[str], auxiliary_signals: Sequence[str] = (),
        curve_by: str | None = None,
    ) -> None:
        if curve_by is not None and curve_by not in columns:
            raise ValueError(f"curve_by {curve_by!r} is not one of the columns {list(columns)}")
        self._writer.declare_series(dict(columns), signal, list(axes))
        self._emit(SeriesDeclared(self._step_index, dict(columns), signal, tuple(axes), tuple(auxiliary_signals),
                                  curve_by))

    def record(self, **values: float) -> None:
        """Append one point to the step's data and report progress."""
        self._progress()
        self._writer.append(**values)
        self._points += 1
        self._emit(PointRecorded(self._step_index, self._points, values))

    def declare_image(
        self,
        name: str,
        units: str,
        rows: AxisSpec,
        columns: AxisSpec,
        extra_axes: Mapping[str, tuple[np.ndarray, str]] | None = None,
        line_summaries: Mapping[str, str] | None = None,
    ) -> None:
        """An image filled line by line: rows/columns are (axis name, values, units)."""
        row_axis, column_axis = _axis(rows), _axis(columns)
        self._writer.declare_image(name, units, (row_axis.name, row_axis.values, row_axis.units),
                                   (column_axis.name, column_axis.values, column_axis.units),
                                   dict(extra_axes) if extra_axes is not None else None)
        self._emit(ImageDeclared(self._step_index, name, units, row_axis, column_axis,
                                 dict(line_summaries or {})))

    def record_line(self, name: str, row: int, values: np.ndarray, **summaries: float) -> None:
        """Store one scanned line of image `name` (flushed at once) and report it."""
        self._progress()
        self._writer.write_line(name, row, values)
        self._emit(LineRecorded(self._step_index, name, row, np.asarray(values), summaries))

    def add_result(self, name: str, axis: tuple[str, np.ndarray, str],
                   signals: Mapping[str, tuple[np.ndarray, str]]) -> None:
        """A result derived from the step's data as an NXdata group of its own (the
        entry's default plot): `axis` (name, values, units), `signals` {name: (values, units)}."""
        self._writer.add_result(name, axis, dict(signals))

    def read_series(self, name: str) -> np.ndarray:
        """Column `name` of this step's series as stored so far, buffered points included."""
        return self._writer.read_series(name)

    def read_image(self, name: str) -> np.ndarray:
        """Image `name` of this step as stored so far (its lines are in the file, not held)."""
        return self._writer.read_image(name)

    def add_dataset(self, name: str, values: np.ndarray, units: str, beside: str | None = None) -> None:
        """Store a derived array beside the step's data (e.g. a reconstructed current density),
        or beside the image `beside` (in its NXdata group)."""
        self._writer.add_dataset(name, values, units, beside)
        self._emit(DatasetAdded(self._step_index, name, np.asarray(values), units))

    def note(self, key: str, value: Any) -> None:
        """Store a result or remark on the step's group and report it (`ResultNoted`); a
        number's key ends with its SI units (period_T)."""
        self._writer.set_attribute(key, value)
        self._emit(ResultNoted(self._step_index, key, value))


def _axis(spec: AxisSpec) -> Axis:
    name, values, units = spec
    return Axis(name, np.asarray(values, dtype=float), units)


class Runner:
    """Runs steps on a station into a store. Use `start()`/`join()` or `run()`."""

    def __init__(
        self,
        station: Station,
        steps: list[Step],
        store: RunStore,
        on_event: EventSink | None = None,
        interlocks: InterlockSet | None = None,
        call_deadline_s: float = DEFAULT_DEADLINE_S,
        abort_grace_s: float = DEFAULT_ABORT_GRACE_S,
        continuation: Continuation | None = None,
    ) -> None:
        self.station = station
        self.steps = steps
        self._continuation = continuation
        self.store = store
        self.control = RunControl()
        self._watchdog = Watchdog(lambda: self.control.abort_reason, self.control.abort, self._take_over,
                                  call_deadline_s, abort_grace_s)
        self._end_lock = threading.Lock()
        self._ended = False  # the end (safe state, statuses) has been claimed, by run() or the watchdog
        self._run_thread: int | None = None
        self._current_writer: StepWriter | None = None
        self._current_step = 0
        self._emit = on_event or (lambda event: None)
        self._interlocks = interlocks or station.interlocks
        self._thread: threading.Thread | None = None
        # Set when run() has made the station safe and recorded the end. Waiting on it,
        # not on Thread.join, because on Python 3.11 a join interrupted by Ctrl-C can
        # mark a live thread as stopped (the tstate lock is released by the handler).
        self._finished = threading.Event()
        self.outcome: RunOutcome | None = None

    # Control from other threads ---------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="sqm-runner", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> RunOutcome | None:
        if self._thread is not None and self._finished.wait(timeout) and not self.taken_over:
            self._thread.join()  # returns at once: run() has ended
        return self.outcome

    @property
    def taken_over(self) -> bool:
        """Whether the watchdog ended the run while its thread was blocked."""
        return self.outcome is not None and self.outcome.taken_over

    def is_alive(self) -> bool:
        return self._thread is not None and not self._finished.is_set()

    def abort(self, reason: str = "aborted by the operator") -> None:
        self.control.abort(reason)

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    # The run itself -----------------------------------------------------------------
    def run(self) -> RunOutcome:
        """Run every step, then make the station safe and record how the run ended.

        Never raises for a step's failure. Whatever happens (even a run file that can no
        longer be written, e.g. a full disk) the station is made safe, `outcome` is set
        and `join()` returns; only KeyboardInterrupt/SystemExit propagate, after that.
        If the watchdog ends the run while this thread is blocked in an instrument call,
        this thread, once the call returns, makes the station safe once more (the late
        call may have commanded something) and records nothing.
        """
        status, error = "completed", None
        self._run_thread = threading.get_ident()
        self._start_time = self.station.clock.now()
        _active_runs[id(self.station)] = self
        self._watchdog.start()
        run_log = RunFileLog(self.store, self._run_thread).__enter__()  # the run's warnings, kept in its file
        try:
            try:
                for step in self.steps:
                    status, error = self._run_step(step)
                    if status != "completed":
                        break
            except (KeyboardInterrupt, SystemExit) as interrupt:  # in the worker: record, then let it go
                status, error = "aborted", f"{type(interrupt).__name__}: {interrupt}"
                raise
            except Exception as unexpected:  # the runner's own trouble, e.g. the store cannot write
                status, error = "failed", f"{type(unexpected).__name__}: {unexpected}"
            finally:
                self._end_run(status, error)
        finally:
            run_log.__exit__()
            unfence_thread(self._run_thread)
            self._finished.set()
        assert self.outcome is not None  # _end_run (or the watchdog) has recorded it
        return self.outcome

    def _claim_end(self) -> bool:
        """True for the first caller (run() or the watchdog): it records the end."""
        with self._end_lock:
            first, self._ended = not self._ended, True
            return first

    def _end_run(self, status: str, error: str | None) -> None:
        """From the run's thread: stop the watchdog, make the station safe, record the end."""
        if not self._claim_end():  # the watchdog ended the run while this thread was blocked
            self._finished.wait()
            if _active_runs.get(id(self.station)) is None and self._run_thread is not None:  # no other run since
                unfence_thread(self._run_thread)  # its own safe state must be allowed to command
                self.station.make_safe()  # undo whatever the late call commanded
            return
        self._watchdog.stop()
        self._record_end(status, error)

    def _take_over(self, reason: str, status: str) -> None:
        """From the watchdog's thread: the run's thread is stuck in an instrument call."""
        if not self._claim_end():
            return
        if self._run_thread is not None:
            fence_thread(self._run_thread)  # when its call returns, its next command is refused
        writer = self._current_writer
        self._record_end(status, reason, blocked_writer=writer)
        self._finished.set()

    def _record_end(self, status: str, error: str | None, blocked_writer: StepWriter | None = None) -> None:
        """Safe state first (it needs no file), then the step's and the run's end."""
        failures = self.station.make_safe()
        safe_state = "; ".join(failures) if failures else "safe"
        if blocked_writer is not None:
            try:
                blocked_writer.finish(status, error)
            except Exception:  # the run status below says what happened
                pass
            self._emit(StepFinished(self._current_step, status, error))
        try:
            self.store.set_run_status(status, safe_state=safe_state, **({"error": error} if error else {}))
        except Exception as store_error:
            status = "failed"
            error = "; ".join(part for part in (
                error, f"the run file could not record the end ({type(store_error).__name__}: {store_error})"
            ) if part)
        self.outcome = RunOutcome(status, error, failures, self.station.clock.now() - self._start_time,
                                  taken_over=blocked_writer is not None)
        if _active_runs.get(id(self.station)) is self:
            del _active_runs[id(self.station)]
        log = logger.info if status == "completed" and not failures else logger.warning
        log("run %s%s; station %s", status, f" ({error})" if error else "", safe_state)
        self._emit(RunFinished(status, error, safe_state))

    def _open_step(self, step: Step) -> tuple[StepWriter, int]:
        """The step's writer, and the points or lines it starts from (a resumed step's)."""
        procedure, continuation = step.procedure, self._continuation
        if continuation is not None and continuation.step_index == step.index:
            if procedure.resumable:
                logger.info("step %d: %s continues from %d", step.index, procedure.name, continuation.done)
                return self.store.continue_step(continuation.group, procedure.measures, continuation.done), \
                    continuation.done
            group_name: str | None = continuation.rerun_group
        else:
            group_name = None
        return self.store.begin_step(step.index, procedure.name, procedure.parameters_si(), self.station.snapshot(),
                                     procedure.measures, group_name), 0

    def _run_step(self, step: Step) -> tuple[str, str | None]:
        procedure = step.procedure
        writer, resume_from = self._open_step(step)
        self._current_writer, self._current_step = writer, step.index
        status, error = "completed", None
        try:
            logger.info("step %d: %s started", step.index, procedure.name)
            self._emit(StepStarted(step.index, procedure.name, procedure.expected_points()))
            context = RunStepContext(self.station, self.control, self._interlocks, writer, self._emit, step.index,
                                     progress=self._watchdog.touch, resume_from=resume_from)
            context.checkpoint()
            procedure.run(context)
        except AbortRequested as stop:
            status, error = "aborted", str(stop)
        except InterlockTripped as trip:
            status, error = "aborted", str(trip)
        except Exception as failure:
            status = "failed"
            error = f"{type(failure).__name__}: {failure}"
            try:
                writer.set_attribute("traceback", traceback.format_exc())
            except StoreError:  # e.g. a nearly full disk: the step's end below matters more
                pass
        except BaseException as interrupt:  # KeyboardInterrupt, SystemExit: record, then let it go
            if not self._ended:
                writer.finish("aborted", f"{type(interrupt).__name__}")
            raise
        if self._ended:  # the watchdog ended the run (and this step) while this thread was blocked
            return status, error
        writer.finish(status, error)
        log = logger.info if status == "completed" else logger.warning
        log("step %d: %s %s%s", step.index, procedure.name, status, f": {error}" if error else "")
        self._emit(StepFinished(step.index, status, error))
        return status, error
