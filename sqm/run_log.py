"""Logging for runs: the console (`sqm run -v`, `-vv`) and the run file's `log`.

Every module logs to `logging.getLogger(__name__)` under the `sqm` logger: drivers
each command and reply at DEBUG, the runner its decisions (steps, interlocks, the
end) at INFO and WARNING. While a run goes, `RunFileLog` keeps the warnings and
errors of the run's thread in the run file, so the file says what went wrong even
when nobody watched the terminal.
"""

from __future__ import annotations

import logging
import sys
import threading
from datetime import datetime, timezone

from .store import RunStore, StoreError

SQM_LOGGER = "sqm"
CONSOLE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
VERBOSITY_LEVELS = {0: logging.WARNING, 1: logging.INFO}  # 2 and more: DEBUG


def configure_console(verbosity: int) -> None:
    """Show the `sqm` loggers on stderr: warnings (0), INFO (-v), DEBUG (-vv)."""
    level = VERBOSITY_LEVELS.get(verbosity, logging.DEBUG)
    logger = logging.getLogger(SQM_LOGGER)
    logger.setLevel(level)
    if not any(getattr(handler, "sqm_console", False) for handler in logger.handlers):
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter(CONSOLE_FORMAT))
        console.sqm_console = True  # type: ignore[attr-defined]
        logger.addHandler(console)
    for handler in logger.handlers:
        if getattr(handler, "sqm_console", False):
            handler.setLevel(level)


class RunFileLog(logging.Handler):
    """Writes WARNING and above, logged from one thread (the run's), to the run file.

    Never raises into the code that logged: a line the file cannot take (a full disk)
    is dropped, the run's own handling of the disk says the rest. Records about the
    file itself (`sqm.store`) are not written into it.
    """

    def __init__(self, store: RunStore, thread_ident: int | None = None) -> None:
        super().__init__(logging.WARNING)
        self._store = store
        self._thread = threading.get_ident() if thread_ident is None else thread_ident
        self._writing = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self._thread or record.name.startswith("sqm.store") or getattr(self._writing, "on", False):
            return
        stamp = datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
        self._writing.on = True
        try:
            self._store.append_log(f"{stamp} {record.levelname} {record.name}: {record.getMessage()}")
        except (StoreError, ValueError, OSError, RuntimeError):  # a closed or full file: nothing to add to
            pass
        finally:
            self._writing.on = False

    def __enter__(self) -> "RunFileLog":
        logging.getLogger(SQM_LOGGER).addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        logging.getLogger(SQM_LOGGER).removeHandler(self)
