"""The `sqm` command line.

    sqm run PROCEDURE.yaml [--station STATION.yaml] [--out DIR]
    sqm check PROCEDURE.yaml [--station STATION.yaml]
    sqm demo [--out DIR]
    sqm show FILE.h5
    sqm instruments [--station STATION.yaml]
    sqm gui [--station STATION.yaml]
    sqm procedures [NAME] [--station STATION.yaml]
    sqm --version

Exit status: 0 success; 2 bad input (one line, no traceback, nothing moved);
1 a step failed; 3 the run was aborted (operator, Ctrl-C or interlock).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

from .errors import InstrumentError, UserInputError
from .progress import ProgressBars
from .run_log import configure_console
from .runner import RunOutcome
from .station import DEFAULT_STATION, METADATA_KEYS
from .stop_signals import StopSignals
from .store import StoreError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ABORTED = 0, 1, 2, 3
EXIT_STATUS = {"completed": EXIT_OK, "failed": EXIT_FAILED, "aborted": EXIT_ABORTED}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, status 2, like every other user error
        # main prefixes "sqm: error: "; a subcommand's parser adds its name ("run: ...")
        command = self.prog.removeprefix("sqm").strip()
        raise UserInputError(f"{command + ': ' if command else ''}{message} (see {self.prog} --help)")


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="sqm", description="Scanning SQUID microscope control and its digital twin.")
    parser.add_argument("--version", action="version", version=f"sqm {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    logs = _Parser(add_help=False)
    logs.add_argument("-v", "--verbose", action="count", default=0,
                      help="log the runner's decisions (-v: INFO) and every instrument command and reply (-vv)")
    run = commands.add_parser("run", help="run a procedure file; prints the .h5 path", parents=[logs])
    run.add_argument("procedure", type=Path)
    run.add_argument("--station", type=Path, default=DEFAULT_STATION)
    run.add_argument("--out", type=Path, default=Path("runs"))
    for key, example in (("sample", "flake B2"), ("operator", "A. Physicist"), ("cooldown", "CD-2026-14"),
                         ("note", "after the magnet service")):
        run.add_argument(f"--{key}", help=f"recorded in the run file (e.g. {example!r}); default: the station "
                         f"file's metadata.{key}")
    resume = commands.add_parser("resume", help="continue a killed or aborted run into the same file",
                                 parents=[logs])
    resume.add_argument("file", type=Path)
    resume.add_argument("--station", type=Path, default=None,
                        help="the station to continue on (default: the one the run was started with, from the file)")
    sweep = commands.add_parser("sweep", help="a procedure on the twin for every combination of --vary values, "
                                "in parallel (Dask); one file per run and a summary table", parents=[logs])
    sweep.add_argument("procedure", type=Path)
    sweep.add_argument("--vary", action="append", default=[], metavar="KEY=START:STOP:N",
                       help="a key of the station file (sim.flux_noise) or of its sample file "
                       "(sample.regions.lower_right.magnetism.coercivity); repeat for a grid")
    sweep.add_argument("--station", type=Path, default=DEFAULT_STATION)
    sweep.add_argument("--out", type=Path, default=Path("sweep-output"))
    sweep.add_argument("--workers", type=int, default=2, help="local worker processes (0: one run after another here)")
    sweep.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="a running Dask scheduler (tcp://host:8786) instead of a local cluster")
    fit = commands.add_parser("fit", help="fit twin parameters to a measured bias or field loop (least squares, "
                              "the twin runs in parallel through Dask); writes the fitted station file", parents=[logs])
    fit.add_argument("measured", type=Path, metavar="MEASURED.h5")
    fit.add_argument("--station", type=Path, default=DEFAULT_STATION, help="the twin to fit (its sim block and sample)")
    fit.add_argument("--params", action="append", default=[], metavar="KEY[=START]",
                     help="a key as sweep --vary takes it; starts at the file's value unless given")
    fit.add_argument("--out", type=Path, default=Path("fitted-station.yaml"))
    fit.add_argument("--workers", type=int, default=2, help="local worker processes (0: here, one after another)")
    fit.add_argument("--scheduler", default=None, metavar="ADDRESS", help="a running Dask scheduler instead")
    actor = commands.add_parser("actor", help="host one instrument of a station on this PC as a LECO Actor "
                                "(the remote extra), until Ctrl-C", parents=[logs])
    actor.add_argument("--station", type=Path, required=True)
    actor.add_argument("--instrument", required=True, metavar="ROLE", help="the role whose instrument this PC holds")
    check = commands.add_parser("check", help="validate a procedure file and dry-run it on the twin", parents=[logs])
    check.add_argument("procedure", type=Path)
    check.add_argument("--station", type=Path, default=DEFAULT_STATION)
    demo = commands.add_parser("demo", help="the paper's experiment on the twin: HDF5 and PNG figures", parents=[logs])
    demo.add_argument("--out", type=Path, default=Path("demo-output"))
    show = commands.add_parser("show", help="what a run file holds")
    show.add_argument("file", type=Path)
    instruments = commands.add_parser("instruments", help="each role, who fills it, and its present readings",
                                      parents=[logs])
    instruments.add_argument("--station", type=Path, default=DEFAULT_STATION)
    gui = commands.add_parser("gui", help="the operator GUI (needs the gui extra: PyQt5, pyqtgraph)", parents=[logs])
    gui.add_argument("--station", type=Path, default=DEFAULT_STATION)
    emulate = commands.add_parser("emulate", help="an emulated station's instruments alone, on their loopback "
                                  "ports, until Ctrl-C", parents=[logs])
    emulate.add_argument("--station", type=Path, default=None,
                         help="an emulated station file (default: configs/stations/lab-emulated.yaml)")
    serve = commands.add_parser("serve", help="a folder of run files over HTTP with Tiled (the serve extra), "
                                "until Ctrl-C")
    serve.add_argument("directory", type=Path, metavar="DIR")
    serve.add_argument("--host", default="127.0.0.1", help="default loopback; another address needs --api-key")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key", default=None,
                       help="default: one generated and printed (or TILED_SINGLE_USER_API_KEY)")
    procedures = commands.add_parser("procedures", help="the procedures; with NAME, its parameters, units, defaults "
                                     "and the station's limits on them")
    procedures.add_argument("name", nargs="?", metavar="NAME")
    procedures.add_argument("--station", type=Path, default=DEFAULT_STATION,
                            help="whose limits to show (read from the file; opens no instrument)")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            arguments = _parser().parse_args(argv)
        except SystemExit as done:  # --version or --help, printed by argparse (its errors raise UserInputError)
            return EXIT_OK if done.code is None else int(done.code)
        if getattr(arguments, "verbose", 0):
            configure_console(arguments.verbose)
        return COMMANDS[arguments.command](arguments)
    except UserInputError as error:
        print(f"sqm: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except InstrumentError as error:  # e.g. a station whose instruments do not answer
        print(f"sqm: instrument error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except StoreError as error:  # the run file could not be written (full disk...); the run has ended
        print(f"sqm: run file error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # output piped into `head` and closed: not an error of ours
        return EXIT_OK


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def _cmd_run(arguments) -> int:
    from .session import load

    with StopSignals() as stops:  # from here on a stop signal aborts, even while the station is built
        station, procedure_file = load(arguments.procedure, arguments.station)
        station.metadata.update({key: value.strip() for key in METADATA_KEYS
                                 if (value := getattr(arguments, key, None)) is not None})
        try:
            if stops.stopped:
                print(f"sqm: stopped by {stops.first} before the run started; nothing moved, no file written",
                      file=sys.stderr)
                return EXIT_ABORTED
            path, outcome = run_with_progress(station, procedure_file, arguments.out, stops)
        finally:
            station.close()
    print(path)
    return report_outcome(outcome)


def run_with_progress(station, procedure_file, out_dir: Path, stops: StopSignals) -> tuple[Path, RunOutcome]:
    """Run with a progress bar; a stop signal aborts it (see sqm.stop_signals). Public:
    experiments run as commands (sqm.commands entry points) call it, with `report_outcome`."""
    from .session import file_in_the_way, new_run_path, start_run

    blocker = file_in_the_way(out_dir)
    if blocker is not None:
        raise UserInputError(f"--out must be a folder: {blocker} is a file")
    path = new_run_path(out_dir, procedure_file.source)
    progress = ProgressBars(steps=len(procedure_file.steps), clock=station.clock.now)
    runner, store = start_run(station, procedure_file, path, progress, unattended=not stops.interactive)
    return path, _watch_to_the_end(runner, store, stops)


def _watch_to_the_end(runner, store, stops: StopSignals) -> RunOutcome:
    """Wait for a started run (a stop signal aborts it), then close its file."""
    stops.watch(runner, store)
    try:
        while runner.is_alive():
            runner.join(0.1)
    finally:
        stops.release()
        store.close()
    assert runner.outcome is not None  # the runner has ended: its outcome is recorded
    return runner.outcome


def _cmd_resume(arguments) -> int:
    from .resume import plan_resume, replay, start_resumed_run

    with StopSignals() as stops:
        plan = plan_resume(arguments.file, arguments.station)
        try:
            print(f"sqm: {plan.describe()}", file=sys.stderr)
            if plan.replayed:
                print("sqm: replaying the run so far on the twin (nothing is written)", file=sys.stderr)
                replay(plan)
            if stops.stopped:
                print(f"sqm: stopped by {stops.first} before the run went on; the file is as it was",
                      file=sys.stderr)
                return EXIT_ABORTED
            progress = ProgressBars(steps=len(plan.procedure_file.steps), clock=plan.station.clock.now)
            runner, store = start_resumed_run(plan, progress, unattended=not stops.interactive)
            outcome = _watch_to_the_end(runner, store, stops)
        finally:
            plan.station.close()
    print(plan.path)
    return report_outcome(outcome)


def _cmd_sweep(arguments) -> int:
    from .batch.sweep import plan_sweep, run_sweep

    if arguments.workers < 0:
        raise UserInputError(f"--workers must be 0 or more, got {arguments.workers}")
    jobs, units = plan_sweep(arguments.procedure, arguments.station, arguments.vary, arguments.out)
    print(f"sqm: sweep of {len(jobs)} runs into {arguments.out}", file=sys.stderr)
    result = run_sweep(jobs, arguments.out, units, arguments.scheduler, arguments.workers)
    failed = [row for row in result.rows if row.status != "completed"]
    print(result.csv_path)
    print(result.hdf5_path)
    if failed:
        print(f"sqm: {len(failed)} of {len(result.rows)} runs did not complete: "
              + "; ".join(f"{row.name} {row.status} ({row.error})" for row in failed[:3]), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _cmd_fit(arguments) -> int:
    from .batch.fit import fit_loop

    if arguments.workers < 0:
        raise UserInputError(f"--workers must be 0 or more, got {arguments.workers}")
    result = fit_loop(arguments.measured, arguments.station, arguments.params, arguments.out,
                      arguments.scheduler, arguments.workers)
    for key, unit, start, value, sigma in zip(result.keys, result.units, result.start, result.values,
                                              result.uncertainties):
        print(f"{key} = {value:.6g} +- {sigma:.2g} {unit}  (from {start:.6g})")
    print(f"residual rms {result.residual_rms:.3g} Phi0 over {result.points} points; {result.evaluations} twin runs",
          file=sys.stderr)
    print(result.station_path)
    return EXIT_OK


def report_outcome(outcome: RunOutcome) -> int:
    """The run's last line on stderr (and a warning if the station is not confirmed safe);
    returns the exit status."""
    lab = _duration(outcome.station_seconds)
    if outcome.status == "completed":
        print(f"completed: {lab} of lab time", file=sys.stderr)
    else:
        print(f"sqm: run {outcome.status}: {outcome.error}", file=sys.stderr)
    if outcome.safe_state_failures:
        print(f"sqm: WARNING: station not confirmed safe: {'; '.join(outcome.safe_state_failures)}", file=sys.stderr)
    return EXIT_STATUS[outcome.status]


def _cmd_check(arguments) -> int:
    from .session import dry_run, load_for_check

    # the station file's limits only: checking never opens (or reconfigures) an instrument
    station_name, limits, procedure_file = load_for_check(arguments.procedure, arguments.station)
    started = time.perf_counter()
    outcome = dry_run(procedure_file, limits)
    wall = time.perf_counter() - started
    if outcome.status != "completed":
        print(f"sqm: check: the dry run on the twin ended {outcome.status}: {outcome.error}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"{procedure_file.source}: {len(procedure_file.steps)} steps valid for station '{station_name}'; "
        f"dry run on the twin: {_duration(outcome.station_seconds)} of lab time "
        f"({outcome.station_seconds:.0f} s), {wall:.1f} s wall"
    )
    return EXIT_OK


def _cmd_demo(arguments) -> int:
    """The paper's experiment (package sqm_paper), found by name (entry point group
    sqm.commands) like the GUI, so the core never imports it."""
    import importlib.metadata

    entry_points = {ep.name: ep for ep in importlib.metadata.entry_points(group="sqm.commands")}
    if "demo" not in entry_points:
        raise UserInputError("the demo is not installed (pip install -e .)")
    return entry_points["demo"].load()(arguments.out)


def _cmd_show(arguments) -> int:
    from .show import account

    shown = account(arguments.file)  # exit status 0, 1 or 2: see sqm.show
    print(shown.text)
    if shown.unreadable:
        print(f"sqm: show: {arguments.file} is damaged; unreadable: {', '.join(shown.unreadable)}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _cmd_instruments(arguments) -> int:
    from .role_list import ROLE_NAMES
    from .station import Station

    station = Station.from_file(arguments.station, tolerant=True)
    try:
        print(f"station '{station.name}' ({station.backend.kind})")
        snapshots = station.snapshot()  # a role that fails says why instead of a snapshot
        problems = {**{name: s["error"] for name, s in snapshots.items() if "error" in s}, **station.backend.failures}
        for name in ROLE_NAMES:
            if name in problems:
                print(f"  {name:15s} NOT ANSWERING: {problems[name]}")
                continue
            if name not in snapshots:  # an optional role this station goes without
                print(f"  {name:15s} none in this station file")
                continue
            snapshot = dict(snapshots[name])
            identity = snapshot.pop("identity", "?")
            readings = ", ".join(f"{key}={value:.6g}" if isinstance(value, float) else f"{key}={value}"
                                 for key, value in snapshot.items())
            print(f"  {name:15s} {identity}" + (f"\n  {'':15s} {readings}" if readings else ""))
        return EXIT_FAILED if problems else EXIT_OK
    finally:
        station.close()


def _cmd_gui(arguments) -> int:
    """Found by name (entry point group sqm.commands), so the core never imports the GUI."""
    import importlib.metadata

    entry_points = {ep.name: ep for ep in importlib.metadata.entry_points(group="sqm.commands")}
    if "gui" not in entry_points:
        raise UserInputError("the GUI is not installed (pip install -e '.[gui]')")
    try:
        launch = entry_points["gui"].load()
        return launch(arguments.station)
    except ImportError as error:  # PyQt5 / pyqtgraph are the gui extra
        raise UserInputError(f"the GUI cannot start: {error} (pip install -e '.[gui]')") from None


def _command(name: str, missing: str):
    """A command found by name (entry point group sqm.commands), so the core never imports it."""
    import importlib.metadata

    entry_points = {ep.name: ep for ep in importlib.metadata.entry_points(group="sqm.commands")}
    if name not in entry_points:
        raise UserInputError(missing)
    return entry_points[name].load()


def _cmd_emulate(arguments) -> int:
    return _command("emulate", "the emulators are not installed (pip install -e '.[dev]')")(arguments.station)


def _cmd_actor(arguments) -> int:
    actor = _command("actor", "remote instruments are not installed (pip install -e '.[remote]')")
    return actor(str(arguments.station), arguments.instrument)


def _cmd_serve(arguments) -> int:
    serve = _command("serve", "serving is not installed (pip install -e '.[serve]')")
    return serve(arguments.directory, host=arguments.host, port=arguments.port, api_key=arguments.api_key)


def _cmd_procedures(arguments) -> int:
    from .procedure_reference import describe, procedure_class, summary_table
    from .station import read_station_limits

    if arguments.name is None:
        print(summary_table())
        print("\nsqm procedures NAME: its parameters, units, defaults and the station's limits (docs/procedures.md)")
        return EXIT_OK
    procedure_class(arguments.name)  # an unknown name is the error, whatever the station
    station_name, limits = read_station_limits(arguments.station)  # the file only: no instrument opened
    print(describe(arguments.name, limits))
    print(f"\nstation limits: '{station_name}' ({arguments.station})")
    return EXIT_OK


COMMANDS = {
    "gui": _cmd_gui,
    "run": _cmd_run,
    "check": _cmd_check,
    "demo": _cmd_demo,
    "show": _cmd_show,
    "instruments": _cmd_instruments,
    "procedures": _cmd_procedures,
    "emulate": _cmd_emulate,
    "serve": _cmd_serve,
    "resume": _cmd_resume,
    "sweep": _cmd_sweep,
    "fit": _cmd_fit,
    "actor": _cmd_actor,
}

if __name__ == "__main__":
    sys.exit(main())
