"""`sqm show`: a plain-text account of what a run file holds, which never hangs.

It reads any HDF5 file without a traceback: a run still being written (opened without
locking), files or groups SQM did not write (shown as they are), and damaged files.
HDF5 can loop forever or crash on corrupt metadata, so the file is read by one child
process (`python -m sqm.show_worker FILE`) that must answer for each object (the root's
attributes, its list of steps, each step) within OBJECT_TIME_LIMIT_S. An object that
gets no answer, or crashes the child, is one line, e.g.

    003_bias_sweep  (unreadable: no answer within 5 s; the file is damaged here)

and a new child reads the rest. After MAX_UNANSWERED such objects the rest is listed
without being tried, so even a file damaged everywhere is shown in about half a minute.

Exit status of `sqm show`: 0 the whole file was read; 1 parts of it were unreadable
(no answer, the reader crashed, or HDF5 failed on them: each is a line of the account,
and one line on stderr names them all); 2 the path is no run file (a folder, missing,
no permission, empty, not HDF5, its first blocks damaged), said on one line.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .readback import LIVE_READ_ATTEMPTS, RunFileError, being_written, check_run_path
from .show_worker import ATTRIBUTES_LABEL, NAMES_LABEL

OBJECT_TIME_LIMIT_S = 5.0  # one object's metadata takes milliseconds; HDF5 looping on damage, forever
STARTUP_TIME_LIMIT_S = 60.0  # a child's interpreter and imports (h5py, numpy), on a busy machine
MAX_UNANSWERED = 3  # objects given up on before the rest is not even tried
FOLDER_LISTED = 3  # run files named when `sqm show` is given a folder
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # where the child finds `sqm` if not installed


@dataclass
class Account:
    """What `sqm show` prints, and the objects that could not be read (for its exit status)."""

    lines: list[str]
    unreadable: list[str] = field(default_factory=list)  # e.g. "attributes", "003_bias_sweep"

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


class NoAnswer(Exception):
    """The child gave no answer in time, or died: its text says which (the object's reason)."""


def worker_command(path: Path) -> list[str]:
    """The command line of a child reading `path`."""
    return [sys.executable, "-P", "-m", "sqm.show_worker", str(path)]  # -P: not a `sqm` in the working folder


def describe(path: str | Path) -> str:
    """Root attributes, then each step with its status, parameters and datasets."""
    return account(path).text


def account(path: str | Path) -> Account:
    """Everything `sqm show` says about `path`; RunFileError (one line) if it is no run file."""
    path = Path(path)
    if path.is_dir():
        raise RunFileError(folder_message(path))
    check_run_path(path)  # a missing or unreadable file: said before any child starts
    for _attempt in range(LIVE_READ_ATTEMPTS - 1):
        shown = _account_once(path)
        if not shown.unreadable or not being_written(path):  # a step half-flushed as it was read: again
            return shown
    return _account_once(path)


def _account_once(path: Path) -> Account:
    shown = Account([str(path)])
    with Reader(path) as reader:
        _ask(reader, shown, ["attributes"], ATTRIBUTES_LABEL)
        names = _ask(reader, shown, ["names"], NAMES_LABEL).get("names", [])
        for name in names:
            _ask(reader, shown, ["item", name], name)
    return shown


def folder_message(folder: Path) -> str:
    """What `sqm show FOLDER` says: that it takes one file, and the newest few .h5 files
    in the folder to pick from."""
    said = f"{folder} is a folder; sqm show takes one run file (.h5)"
    try:
        with os.scandir(folder) as entries:
            found = [(entry.stat().st_mtime, Path(entry.path)) for entry in entries
                     if entry.name.endswith(".h5") and entry.is_file()]
    except OSError as error:  # not listable (permission): say what we know
        return f"{said} (cannot list what is in it: {error.strerror or error})"
    if not found:
        return f"{said}; there is none in it"
    newest = [str(entry) for _, entry in sorted(found, key=lambda pair: (pair[0], str(pair[1])), reverse=True)]
    more = f", and {len(newest) - FOLDER_LISTED} more" if len(newest) > FOLDER_LISTED else ""
    return f"{said}; in it, newest first: {', '.join(newest[:FOLDER_LISTED])}{more}"


def _ask(reader: "Reader", shown: Account, request: list, label: str) -> dict:
    """The child's reply to `request`, its lines added to `shown`; an object without an
    answer is one line `label  (unreadable: why; the file is damaged here)`."""
    what = label.strip()
    try:
        reply = reader.ask(request)
    except NoAnswer as failure:
        shown.lines.append(f"{label}  (unreadable: {failure}; the file is damaged here)")
        shown.unreadable.append(what)
        return {}
    shown.lines.extend(reply["lines"])
    if reply["damaged"]:
        shown.unreadable.append(what)
    return reply


class Reader:
    """A child process reading one run file, started again after it hangs or dies.

    A thread collects its replies into a queue, so each can be waited for with a time
    limit on every platform (no select() on Windows pipes).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.process: subprocess.Popen | None = None
        self.replies: queue.Queue = queue.Queue()
        self.unanswered = 0
        self._start()  # its first failure to open is the caller's RunFileError

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc) -> None:
        self._stop()

    def ask(self, request: list) -> dict:
        """The child's reply to `request`; NoAnswer (and the child stopped) if none came in time."""
        if self.unanswered >= MAX_UNANSWERED:
            raise NoAnswer(f"not tried after {self.unanswered} objects gave no answer")
        try:
            if self.process is None:
                self._start()
            stdin = self.process.stdin if self.process is not None else None
            assert stdin is not None  # started with stdin=PIPE
            stdin.write(json.dumps(request) + "\n")
            stdin.flush()
            return self._reply(OBJECT_TIME_LIMIT_S)
        except NoAnswer:
            self._given_up()
            raise
        except RunFileError:  # it opened a moment ago
            self._given_up()
            raise NoAnswer("a new reader could not open the file again") from None
        except OSError:  # a broken pipe: the child died before reading the request
            reason = self._death()
            self._given_up()
            raise NoAnswer(reason) from None

    def _given_up(self) -> None:
        self.unanswered += 1
        self._stop()

    def _start(self) -> None:
        search_path = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": search_path}
        self.replies = queue.Queue()  # nothing a stopped child said may pass as this one's reply
        self.process = subprocess.Popen(
            worker_command(self.path), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, encoding="utf-8", env=env,
        )
        threading.Thread(target=self._collect, args=(self.process, self.replies), daemon=True).start()
        try:
            self._reply(STARTUP_TIME_LIMIT_S)  # {"started": true}
            opened = self._reply(OBJECT_TIME_LIMIT_S)
        except NoAnswer as failure:
            self._stop()
            raise RunFileError(f"{self.path}: {failure} opening it; the file is damaged (its first blocks)") from None
        if "error" in opened:
            self._stop()
            raise RunFileError(opened["error"])

    @staticmethod
    def _collect(process: subprocess.Popen, replies: queue.Queue) -> None:
        output = process.stdout
        assert output is not None  # started with stdout=PIPE
        with output:
            for line in output:
                try:
                    replies.put(json.loads(line))
                except ValueError:  # not the protocol (a library printing): that object times out
                    pass
        replies.put(None)  # end of its output: the child has ended

    def _reply(self, limit_s: float) -> dict:
        try:
            reply = self.replies.get(timeout=limit_s)
        except queue.Empty:
            raise NoAnswer(f"no answer within {limit_s:g} s") from None
        if reply is None:
            raise NoAnswer(self._death())
        return reply

    def _death(self) -> str:
        """How the child ended, for an object it did not answer for."""
        if self.process is None:
            return "the reader was not running"
        try:
            code = self.process.wait(timeout=OBJECT_TIME_LIMIT_S)
        except subprocess.TimeoutExpired:  # its output closed, yet it runs on
            return "the reader stopped answering"
        if code < 0:
            try:
                return f"the reader crashed ({signal.Signals(-code).name})"
            except ValueError:
                pass
        return f"the reader crashed (exit status {code})"

    def _stop(self) -> None:
        if self.process is None:
            return
        self.process.kill()  # it may be looping inside HDF5: no polite way to stop it
        self.process.wait()
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()  # its stdout is closed by the thread reading it, at its end
        except OSError:  # the pipe to a dead child: nothing left to flush
            pass
        self.process = None
