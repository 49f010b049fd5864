"""The scripting API: load, check and run procedure files, the same way the CLI does.

    from sqm.session import run_procedure
    path = run_procedure("configs/procedures/fig3_bias_loop.yaml", out_dir="runs")

Everything a script needs sits here; the command line is a thin layer on top.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .errors import UserInputError
from .events import EventSink
from .limits import StationLimits
from .procedure_file import ProcedureFile, load_procedure_file, parse_procedure_text
from .runner import Runner, RunOutcome
from .station import DEFAULT_STATION, Station, read_station_limits
from .stop_signals import STOP_SIGNALS
from .store import RunStore


@dataclass
class RunResult:
    """Where a run was written and how it ended."""

    path: Path
    outcome: RunOutcome
    wall_seconds: float

    @property
    def lab_seconds(self) -> float:
        """Station-clock seconds the run took (simulated on the twin)."""
        return self.outcome.station_seconds


def load(procedure: str | Path, station: str | Path | Station | None = None) -> tuple[Station, ProcedureFile]:
    """Build the station and parse and validate the procedure against its limits.

    Raises UserInputError (one line) on any problem; nothing has moved then.
    """
    if not isinstance(station, Station):
        station = Station.from_file(station or DEFAULT_STATION)
    procedure_file = _parse(procedure, station.limits)
    procedure_file.validate(station.limits)
    procedure_file.check_order(station_knows(station))
    return station, procedure_file


def station_knows(station: Station) -> frozenset[str]:
    """What a built station knows that steps may need (see Procedure.provides)."""
    from .procedures.scan_path import FITTED_PLANE

    surface = station.scanner.surface
    return frozenset({FITTED_PLANE}) if surface is not None and surface.fitted else frozenset()


def load_for_check(
    procedure: str | Path, station_path: str | Path | None = None
) -> tuple[str, StationLimits, ProcedureFile]:
    """Parse and validate the procedure against a station file's limits without building
    its backend (no instrument is opened: `sqm check` works offline for a hardware station).

    Returns (station name, its limits, the validated procedure); raises UserInputError.
    """
    name, limits = read_station_limits(station_path or DEFAULT_STATION)
    procedure_file = _parse(procedure, limits)
    procedure_file.validate(limits)
    procedure_file.check_order()  # a station not built knows nothing measured
    return name, limits, procedure_file


def _parse(procedure: str | Path, limits: StationLimits) -> ProcedureFile:
    """The procedure file (a path, or the text itself), each step checked against `limits`
    before its parameters are checked against each other (a setpoint out of limits is the
    reason given, not the size of a sweep to it)."""
    if _is_path(procedure):
        return load_procedure_file(procedure, limits)
    return parse_procedure_text(str(procedure), limits=limits)


def _is_path(procedure: str | Path) -> bool:
    return isinstance(procedure, Path) or "\n" not in str(procedure)


def new_run_path(out_dir: str | Path, procedure_source: str) -> Path:
    """A fresh file name: <out_dir>/<UTC time>_<procedure file stem>.h5 (-2, -3, ... if taken).

    The time is UTC (YYYYmmdd-HHMMSS). The name is claimed at once (an empty file
    created exclusively, `sqm.store.reserve_run_path`), so two runs started in the same
    second, in one process or several, never share a file; `start_run(..., path)` then
    writes the run into it. Raises UserInputError if the folder cannot take the file.
    """
    from datetime import timezone

    from .store import reserve_run_path

    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(procedure_source).stem) or "run"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    blocker = file_in_the_way(out_dir)
    if blocker is not None:
        raise UserInputError(f"{out_dir}: cannot create the run file: {blocker} is a file, not a folder")
    try:
        return reserve_run_path(out_dir, f"{stamp}_{stem}")
    except OSError as error:
        raise UserInputError(f"{out_dir}: cannot create the run file ({error})") from None


def file_in_the_way(folder: str | Path) -> Path | None:
    """The path itself, or the nearest of its parents, that exists and is no folder (so
    `folder` cannot be one); None if nothing is in the way."""
    for candidate in (Path(folder), *Path(folder).parents):
        if candidate.is_dir():
            return None
        if candidate.exists() or candidate.is_symlink():
            return candidate
    return None


def start_run(
    station: Station,
    procedure_file: ProcedureFile,
    path: Path,
    on_event: EventSink | None = None,
    in_memory: bool = False,
    unattended: bool = False,
) -> tuple[Runner, RunStore]:
    """Open the run file and start the runner in its worker thread.

    `unattended`: nobody can resume a pause (no terminal), so interlocks that would
    pause abort instead; a paused run would hold bias and field forever.
    """
    try:
        store = RunStore(
            path,
            backend=station.backend.kind,
            station_text=station.text,
            procedure_text=procedure_file.text,
            in_memory=in_memory,
            sample=station.backend.sample,
            metadata=station.metadata,
        )
    except OSError as error:
        _release_claimed_name(Path(path))
        raise UserInputError(f"{path}: cannot create the run file ({error})") from None
    interlocks = station.interlocks.without_pauses() if unattended else station.interlocks
    runner = Runner(station, procedure_file.steps, store, on_event=on_event, interlocks=interlocks)
    runner.start()
    return runner, store


def _release_claimed_name(path: Path) -> None:
    """Remove the empty file new_run_path claimed for a run that could not start."""
    try:
        if path.stat().st_size == 0:
            path.unlink()
    except OSError:
        pass  # nothing claimed, or not ours to remove: the error being raised says enough


def run_procedure(
    procedure: str | Path,
    station: str | Path | Station | None = None,
    out_dir: str | Path = "runs",
    on_event: EventSink | None = None,
) -> RunResult:
    """Validate, run to the end (blocking) and close the file. Returns where it went.

    Ctrl-C (KeyboardInterrupt) aborts the run, waits for the station to be made safe
    and the file to record it, then re-raises; a second Ctrl-C leaves at once, the file
    saying the safe state was not confirmed.
    """
    station, procedure_file = load(procedure, station)
    path = new_run_path(out_dir, procedure_file.source)
    started = time.perf_counter()
    runner, store = start_run(station, procedure_file, path, on_event)
    try:
        outcome = join_or_abort_on_interrupt(runner, store)
    finally:
        store.close()
    return RunResult(path, outcome, time.perf_counter() - started)


def join_or_abort_on_interrupt(runner: Runner, store: RunStore) -> RunOutcome:
    """Wait for the run; on KeyboardInterrupt abort it and wait for its cleanup.

    SIGTERM and SIGHUP (a `kill`, a closed session) abort it too, when called from the
    main thread: once the station is safe and the file marked, SystemExit(128 + signal)
    ends the script as the signal would have, without skipping the safe state.
    """
    terminated: list[int] = []

    def on_terminate(signum, frame) -> None:
        if not terminated:
            terminated.append(signum)
            runner.abort(f"{signal.Signals(signum).name} to the calling script")

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {number: signal.signal(number, on_terminate) for number in STOP_SIGNALS if number != signal.SIGINT}
    try:
        try:
            while runner.is_alive():
                runner.join(0.1)
        except KeyboardInterrupt:
            runner.abort("KeyboardInterrupt (Ctrl-C) in the calling script")
            try:
                while runner.is_alive():
                    runner.join(0.1)
            except KeyboardInterrupt:
                store.set_run_status("aborted", error="forced exit (second Ctrl-C); safe state not confirmed")
                raise
            raise
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if terminated:
        store.close()
        raise SystemExit(128 + terminated[0])
    assert runner.outcome is not None  # the runner has ended: its outcome is recorded
    return runner.outcome


def dry_run(procedure_file: ProcedureFile, limits: StationLimits) -> RunOutcome:
    """Run the steps on a fresh twin that carries a station's `limits`; nothing is
    written and no instrument of that station is touched.

    `limits` must be a `StationLimits` (`station.limits`, or `load_for_check`'s): anything
    else is refused at once (TypeError), not rehearsed into a failed run whose
    `station_seconds`, the safe state's retries only, would pass for the lab time."""
    if not isinstance(limits, StationLimits):
        raise TypeError(f"dry_run takes a station's limits (station.limits), not a {type(limits).__name__}")
    twin = Station.from_file(DEFAULT_STATION)
    twin.limits = limits
    for role in twin.backend.roles.values():
        role.attach_limits(limits)
    store = RunStore("dry-run.h5", backend=twin.backend.kind, station_text=twin.text,
                     procedure_text=procedure_file.text, in_memory=True)
    try:
        runner = Runner(twin, procedure_file.steps, store)
        return runner.run()
    finally:
        store.close()
