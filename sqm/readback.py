"""Reading run files back: each step's attributes and data as numpy arrays.

Files are opened read-only in SWMR mode (`swmr=True`): SQM writes run files in HDF5's
single-writer/multiple-reader mode, so a run still being written (by this or another
program), or one whose writer was killed, reads as of the writer's last flush, never a
half-written record. Paths that
are not run files (a folder, a missing or unreadable file, text, an empty file), files
that are not SQM run files, or that hold odd content, give `RunFileError` (one line) or
are read as far as they make sense; never a traceback from deep inside h5py.
`writer_state` tells whether the program writing a `running` file is still there.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from .errors import UserInputError
from .writer_flags import writer_flags

_STEP_NUMBER = re.compile(r"^(\d+)_")
# HDF5's SWMR mode makes appending safe for readers, not the creation of new objects (a
# step's group, its attributes): a reader that opens a running file just as its writer
# begins or ends a step may find that step half-flushed, and HDF5 says so (an error, never
# wrong values). Reading the file again a moment later finds it whole.
LIVE_READ_ATTEMPTS = 3


class RunFileError(UserInputError, ValueError):
    """A file that cannot be read as a run file (not HDF5, in use, not written by SQM)."""


def one_line(error: BaseException | str) -> str:
    """An error's text on one line (HDF5 messages carry newlines)."""
    return " ".join(str(error).split())


def step_order(name: str) -> tuple[int, int, str]:
    """Sort key of a root group name: steps `NNN_<procedure>` by their number (so 1000
    comes after 999, not after 100), then anything else by name."""
    match = _STEP_NUMBER.match(name)
    return (0, int(match.group(1)), name) if match else (1, 0, name)


def check_run_path(path: str | Path) -> None:
    """RunFileError (one line) unless `path` is a non-empty regular file this user may
    read: what the system says, before HDF5 (whose messages on a folder are internals)."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise RunFileError(f"{path}: no such file") from None
    except OSError as error:
        raise RunFileError(f"{path}: cannot be read ({error.strerror or one_line(error)})") from None
    if stat.S_ISDIR(status.st_mode):
        raise RunFileError(f"{path}: is a folder, not a run file (try: sqm show {Path(path) / '*.h5'})")
    if not stat.S_ISREG(status.st_mode):  # a device or a pipe: opening it could even block
        raise RunFileError(f"{path}: not a regular file, not a run file")
    if status.st_size == 0:  # a name claimed by a run that never started writing
        raise RunFileError(f"{path}: empty file, not a run (a run that did not start?)")
    try:
        open(path, "rb").close()
    except PermissionError:
        raise RunFileError(f"{path}: permission denied (this user may not read it)") from None
    except OSError as error:
        raise RunFileError(f"{path}: cannot be read ({error.strerror or one_line(error)})") from None


def open_run_file(path: str | Path) -> h5py.File:
    """Open `path` read-only; RunFileError (one line) if it cannot be.

    A file whose writer has it open (a run in progress), or never closed it (a killed
    run), is opened as a SWMR reader: as of the writer's last flush. A file written by an
    older SQM (not in SWMR mode) and still being written holds HDF5's lock: it is then
    opened without locking, as those versions did. Any other file opens plainly, so HDF5
    checks it whole (a truncated file is refused at once; a SWMR reader would not be).
    """
    check_run_path(path)
    try:
        try:
            return h5py.File(path, "r")
        except OSError as error:
            if not _in_use(one_line(error)):
                raise
        try:
            return h5py.File(path, "r", swmr=True)
        except OSError as error:
            if not _in_use(one_line(error)):
                raise
        return h5py.File(path, "r", locking=False)
    except FileNotFoundError:  # removed since the check
        raise RunFileError(f"{path}: no such file") from None
    except (OSError, ValueError, RuntimeError) as error:
        text = one_line(error)
        if _in_use(text):
            raise RunFileError(
                f"{path}: in use by another program (a run still writing it?) and cannot be read now ({text})"
            ) from None
        raise RunFileError(f"{path}: not a readable HDF5 file ({text})") from None


def _in_use(text: str) -> bool:
    lowered = text.lower()
    return any(
        phrase in lowered
        for phrase in ("unable to lock", "resource temporarily unavailable", "errno = 11", "already open for write")
    )


def writer_state(attrs: Mapping, now: str | None = None) -> str | None:
    """For a run file whose root `status` is `running`, whether its writer is still there,
    from the root attributes `attrs` (h5py's or a dict): None while it runs on this host,
    or for files that do not record their writer (older ones, other programs'); else one
    sentence. `now`: an ISO 8601 time for the heartbeat's age (default: now)."""
    if text_attr(attrs.get("status", "")) != "running":
        return None
    try:
        host, pid = text_attr(attrs["writer_host"]), int(attrs["writer_pid"])
    except (KeyError, TypeError, ValueError):
        return None
    if pid <= 0:  # no process has it (and os.kill would signal a whole group)
        return None
    heartbeat = text_attr(attrs["heartbeat"]) if "heartbeat" in attrs else None
    if host != socket.gethostname():  # its processes cannot be seen from here: how old is its news?
        return f"written on {host}, " + (f"last heartbeat {_age_text(heartbeat, now)}" if heartbeat else "no heartbeat")
    if _process_exists(pid) is not False:
        return None
    kept = f"data up to the last heartbeat ({heartbeat})" if heartbeat else "data up to its last flush"
    return f"the writer (pid {pid} on {host}) is gone: the run ended without closing the file; {kept} is in the file"


def _process_exists(pid: int) -> bool | None:
    """Whether process `pid` exists on this host; None where that cannot be asked safely."""
    if os.name != "posix":  # on Windows os.kill(pid, 0) would terminate the process
        return None
    try:
        os.kill(pid, 0)  # signal 0: nothing is sent, only whether the process is there
    except (ProcessLookupError, OverflowError):  # none has it (OverflowError: beyond any pid)
        return False
    except PermissionError:  # there, but another user's
        return True
    except OSError:
        return None
    return True


def _age_text(timestamp: str, now: str | None) -> str:
    """'N s ago' for an ISO 8601 `timestamp`; the text itself when it is not one."""
    try:
        then = datetime.fromisoformat(timestamp)
        current = datetime.fromisoformat(now) if now else datetime.now(timezone.utc)
        return f"{(current - then).total_seconds():.0f} s ago"
    except (TypeError, ValueError):  # unparsable, or without a time zone
        return f"{timestamp!r}"


def text_attr(value) -> str:
    """An attribute as text (bytes decoded, arrays as their str)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def parse_parameters(raw) -> dict:
    """A step's `parameters` attribute as a dict: JSON {name: {value, units}} as SQM writes
    it; anything else is kept, never raised on: a JSON non-dict as {"value": ...}, text
    that is not JSON as {"raw": text}."""
    if raw is None:
        return {}
    text = text_attr(raw)
    try:
        parameters = json.loads(text)
    except ValueError:
        return {"raw": text}
    return parameters if isinstance(parameters, dict) else {"value": parameters}


@dataclass
class StepData:
    """One step of a run file, read into memory."""

    group: str  # e.g. "003_bias_sweep"
    procedure: str
    status: str
    parameters: dict
    data: dict[str, np.ndarray] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def being_written(path: str | Path) -> bool:
    """Whether a writer has `path` open now: its superblock says so and, as far as can be
    told, the writer is still there (a killed writer leaves the flags set too)."""
    if writer_flags(path) == 0:
        return False
    try:
        with h5py.File(path, "r", swmr=True) as h5:
            return text_attr(h5.attrs.get("status", "")) == "running" and writer_state(h5.attrs) is None
    except (OSError, RuntimeError, KeyError, ValueError):
        return True  # half-flushed itself: a writer is at work


def read_steps(path: str | Path) -> list[StepData]:
    """Every step of a run file, in step order. RunFileError if it is not a run file.
    A file being written is read again (LIVE_READ_ATTEMPTS) if a step was half-flushed."""
    for _attempt in range(LIVE_READ_ATTEMPTS - 1):
        try:
            return _read_steps_once(path)
        except RunFileError:
            if not being_written(path):
                raise
    return _read_steps_once(path)


def _read_steps_once(path: str | Path) -> list[StepData]:
    with open_run_file(path) as h5:
        try:
            return _read_steps(h5, path)
        except RunFileError:
            raise
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as error:
            raise RunFileError(
                f"{path}: cannot read the run file ({type(error).__name__}: {one_line(error)})") from None


def data_groups(step_group: h5py.Group) -> list[h5py.Group]:
    """A step's NXdata groups: "data" first, then "data_<image>" (an image on axes of its own,
    such as a plane fit's heights beside its series of readings)."""
    names = ["data"] + sorted(name for name in step_group if name.startswith("data_"))
    return [step_group[name] for name in names if isinstance(step_group.get(name), h5py.Group)]


def _read_steps(h5: h5py.File, path: str | Path) -> list[StepData]:
    steps = []
    for name in sorted(h5, key=step_order):
        group = h5.get(name)
        if not isinstance(group, h5py.Group) or "procedure" not in group.attrs:
            continue
        error = group.attrs.get("error")
        step = StepData(
            group=name,
            procedure=text_attr(group.attrs["procedure"]),
            status=text_attr(group.attrs.get("status", "")),
            parameters=parse_parameters(group.attrs.get("parameters")),
            error=text_attr(error) if error is not None else None,
        )
        data = group.get("data")
        if isinstance(data, h5py.Dataset):  # not SQM's layout, but the array is the data
            step.data["data"] = data[()]
            step.units["data"] = text_attr(data.attrs.get("units", ""))
        for data in data_groups(group):
            for key, dataset in data.items():
                if isinstance(dataset, h5py.Dataset) and key not in step.data:  # a subgroup is not a series
                    step.data[key] = dataset[()]
                    step.units[key] = text_attr(dataset.attrs.get("units", ""))
        steps.append(step)
    if not steps and "sqm_version" not in h5.attrs:
        raise RunFileError(f"{path}: not an SQM run file (no steps and no sqm_version attribute)")
    return steps


def find_step(steps: list[StepData], procedure: str, occurrence: int = -1) -> StepData:
    """The `occurrence`-th step running `procedure` (default: the last one)."""
    matching = [step for step in steps if step.procedure == procedure]
    if not matching:
        raise LookupError(f"no {procedure} step in the file")
    return matching[occurrence]
