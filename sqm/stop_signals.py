"""Stop signals of a command-line run: SIGINT, SIGTERM and SIGHUP end it like an abort.

The first stop signal aborts the run: bias and field ramped to zero, the scanner
retracted, the file marked `aborted`. Later ones are said once and otherwise ignored,
with one exception: a second Ctrl-C typed at a terminal (SIGINT while standard input
is a terminal) quits at once, the file saying the safe state was not confirmed.
GNU `timeout`, systemd and job runners send SIGTERM (or SIGINT) to the process and
then to its group, milliseconds apart; taking the second for an operator's wish to
skip the safe state would leave bias and field on.

A signal that arrives before the run has started (while the station is being built)
is remembered: the run is then not started, or aborted at its first checkpoint.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runner import Runner
    from .store import RunStore

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
EXIT_FORCED = 130


def signal_label(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class StopSignals:
    """Context manager that turns stop signals into an abort of the watched run."""

    def __init__(self, interactive: bool | None = None) -> None:
        # interactive: a person at a terminal, who may force a second Ctrl-C
        self.interactive = _stdin_is_terminal() if interactive is None else interactive
        self.first: str | None = None  # what stopped us, e.g. "SIGTERM"
        self._runner: Runner | None = None
        self._store: RunStore | None = None
        self._repeat_said = False
        self._previous: dict[int, Any] = {}  # the handlers to put back

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():  # handlers live in the main thread only
            self._previous = {number: signal.signal(number, self._on_signal) for number in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    @property
    def stopped(self) -> bool:
        return self.first is not None

    def watch(self, runner, store) -> None:
        """The run a stop signal aborts from now on (aborted at once if one came already)."""
        self._runner, self._store = runner, store
        if self.first is not None:
            runner.abort(f"{self.first} before the run started")

    def release(self) -> None:
        """The watched run has ended."""
        self._runner = self._store = None

    def _on_signal(self, signum: int, frame) -> None:
        what = signal_label(signum)
        if self.first is None:
            self.first = what
            if self._runner is None:
                _say(f"\nsqm: {what}: stopping; no run will start")
                return
            force = " (Ctrl-C again to quit at once)" if self.interactive else ""
            _say(f"\nsqm: {what}: aborting; making the station safe{force}")
            self._runner.abort(f"{what} from the operator")
            return
        if signum == signal.SIGINT and self.interactive and self._runner is not None:
            self._force_exit(what)
        if not self._repeat_said:
            self._repeat_said = True
            _say(f"sqm: {what} again: still making the station safe; it is not skipped"
                 + (" (Ctrl-C at the terminal quits at once)" if self.interactive else ""))

    def _force_exit(self, what: str) -> None:
        _say(f"sqm: second Ctrl-C ({what}): quitting now; the station may NOT be safe")
        try:
            if self._store is not None:
                self._store.set_run_status("aborted",
                                           error=f"forced exit (second Ctrl-C, {what}); safe state not confirmed")
                self._store.close()
        finally:
            os._exit(EXIT_FORCED)


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed or detached
        return False


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
