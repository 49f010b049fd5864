"""The run's watchdog: an instrument call that blocks must not hold the station.

The run's thread reports progress at every checkpoint, wait slice and recorded point
(`touch`). A thread of the watchdog's own checks, every `POLL_S` wall seconds:
- an abort was asked for and the run's thread has made no progress for
  `abort_grace_s` since: it is stuck inside an instrument call, so the watchdog takes
  over (fences that thread so its next command is refused, makes the station safe and
  records the end) instead of waiting for the call to return;
- no progress at all for `deadline_s` while a step runs: the call is taken for hung;
  the run is aborted with that reason, and taken over as above if it does not react.

Every wait of a step goes through the step's pacer in slices of at most the interlock
interval, so a healthy run touches the watchdog at least that often; only a call that
blocks outside the pacer (a read that does not answer) goes quiet.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

POLL_S = 0.05
DEFAULT_DEADLINE_S = 60.0  # wall s without progress before a call counts as hung
DEFAULT_ABORT_GRACE_S = 3.0  # wall s an abort may wait for the run's thread to react


class Watchdog:
    """Watches one run's thread; calls `take_over(reason, status)` at most once."""

    def __init__(
        self,
        abort_reason: Callable[[], str | None],
        request_abort: Callable[[str], None],
        take_over: Callable[[str, str], None],
        deadline_s: float = DEFAULT_DEADLINE_S,
        abort_grace_s: float = DEFAULT_ABORT_GRACE_S,
    ) -> None:
        self._abort_reason = abort_reason
        self._request_abort = request_abort
        self._take_over = take_over
        self.deadline_s = deadline_s
        self.abort_grace_s = abort_grace_s
        self._last_progress = time.monotonic()
        self._stopped = threading.Event()
        self._hung_reason: str | None = None
        self._thread: threading.Thread | None = None

    def touch(self) -> None:
        """The run's thread is alive and between instrument calls (cheap: one clock read)."""
        self._last_progress = time.monotonic()

    def start(self) -> None:
        self.touch()
        self._thread = threading.Thread(target=self._watch, name="sqm-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """The run's thread has reached its own cleanup: nothing more to watch."""
        self._stopped.set()

    def _watch(self) -> None:
        abort_seen_at: float | None = None
        while not self._stopped.wait(POLL_S):
            now = time.monotonic()
            quiet_since = self._last_progress
            if abort_seen_at is None and self._abort_reason() is not None:
                abort_seen_at = now
            if abort_seen_at is not None:
                if now - max(abort_seen_at, quiet_since) > self.abort_grace_s:
                    self._end(self._abort_reason() or "aborted", now - quiet_since)
                    return
            elif now - quiet_since > self.deadline_s:
                self._hung_reason = (f"watchdog: no progress for {now - quiet_since:.0f} s "
                                     "(an instrument call blocked)")
                self._request_abort(self._hung_reason)
                abort_seen_at = now

    def _end(self, reason: str, quiet_s: float) -> None:
        if self._stopped.is_set():
            return  # the run's thread got to its cleanup meanwhile
        status = "failed" if self._hung_reason is not None else "aborted"
        self._take_over(f"{reason}; the run's thread was blocked in an instrument call for {quiet_s:.0f} s, "
                        "so the watchdog made the station safe", status)
