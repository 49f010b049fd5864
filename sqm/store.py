"""The run store: one HDF5 file per run, streamed as data arrive.

Layout (docs/architecture.md): root attributes describe the run; one NeXus NXentry group per
step, `NNN_<procedure>`, with its parameters, status and a snapshot of every role;
its `data` NXdata group holds 1-D series that share their first axis. Points are
buffered and written in batches in *time*: once the oldest buffered point is
`flush_interval` wall seconds old, at the next `append` or `flush_if_due` (the runner
calls it at every checkpoint and during waits), so a crash loses at most that much of
a sweep and the file still opens. Every dataset carries a `units` attribute. All
methods are safe to call from several threads.

A run file is never overwritten: it is created exclusively (`reserve_run_path` claims
a fresh name, `RunStore(path)` refuses an existing file). When the file cannot be
written (a full disk), the store raises `StoreError` and stays closable.

A full disk must not cost what was already flushed. HDF5 rewrites metadata in place
when a file grows, so a write that fails half-way can leave the file pointing past
its end (every point of the step unreadable). Two defences:
- before any data is written, the free space is checked against what the write can
  take (`DiskGuard`); short of it the write is refused before HDF5 touches the file,
  and `DISK_RESERVE_BYTES` stay free to record the step's and the run's end;
- if a write fails anyway (a quota, an I/O error), the file is frozen: HDF5 gets a
  read-only descriptor, so nothing more of the half-written state reaches the disk;
  the file is reopened as it was at the last flush, the failed points stay buffered,
  and writing goes on there (the ends are recorded there).

The root also says who writes it (`writer_host`, `writer_pid`) and when it last
flushed (`heartbeat`), so a reader can tell a run in progress from a dead writer.
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import shutil
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from . import __version__, nexus, writer_flags
from .errors import SqmError

logger = logging.getLogger(__name__)

STATUSES = ("running", "completed", "aborted", "failed")
# Who ran it, on what and why (root attributes; `sqm run --operator ...` or the station file)
RUN_METADATA = ("sample", "operator", "cooldown", "note")

# Bytes kept free on the run file's disk to record how the step and the run ended.
DISK_RESERVE_BYTES = 64 * 1024
# What HDF5 may add besides the raw data of one write (B-tree nodes, object headers).
METADATA_ALLOWANCE_BYTES = 16 * 1024
SERIES_CHUNK_POINTS = 256  # 2 kB a column: a nearly full disk still takes a batch
# HDF5 1.10's file format, the first with SWMR: readable by HDF5 1.10 and later (h5py >= 2.7), and
# no newer format that an older HDF5 could not read.
FILE_FORMAT = ("v110", "v110")
# The heartbeat is refreshed at most this often (wall s): a fixed-size attribute, rewritten in place.
HEARTBEAT_INTERVAL_S = 1.0


class StoreError(SqmError, OSError):
    """The run file could not be written (e.g. the disk is full); the message says what was lost.

    An OSError, so code that already catches OSError for file trouble catches it too.
    The store stays closable after it: `close()` always releases the file.
    """


def utc_now() -> str:
    """ISO 8601 time stamp, UTC, to the millisecond."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def one_line(error: BaseException | str) -> str:
    """An error's text on one line (HDF5 messages carry newlines)."""
    return " ".join(str(error).split())


def _attr_value(value):
    if isinstance(value, (str, int, float, bool, np.integer, np.floating)):
        return value
    return json.dumps(value, default=str)


class DiskGuard:
    """Refuses a write before it starts when the disk cannot take it (and keep the reserve)."""

    def __init__(self, directory: Path, reserve: int = DISK_RESERVE_BYTES) -> None:
        self.directory = directory
        self.reserve = reserve

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.directory).free

    def require(self, nbytes: int, what: str) -> None:
        """Raise StoreError if fewer than `nbytes` + the reserve are free."""
        try:
            free = self.free_bytes()
        except OSError:
            return  # cannot tell: let the write itself report
        if free < nbytes + self.reserve:
            raise StoreError(
                f"{self.directory}: disk full: {free // 1024} kB free, {what} needs "
                f"{math.ceil((nbytes + self.reserve) / 1024)} kB with the reserve to record the end; "
                "nothing more is written, the file holds everything flushed before"
            )


# Names claimed by `reserve_run_path` in this process, not yet opened by a RunStore.
_reserved: set[str] = set()
_reserved_lock = threading.Lock()


def _reservation_key(path: Path) -> str:
    return os.path.abspath(path)


def reserve_run_path(directory: str | Path, stem: str, suffix: str = ".h5") -> Path:
    """Claim `<directory>/<stem><suffix>`, or `<stem>-2<suffix>`, `-3`, ... for this run.

    The name is taken by creating an empty file exclusively (O_EXCL), so two runs
    started at the same moment, in one process or several, never get the same file.
    `RunStore(path)` in this process then writes into the claimed (empty) file.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    counter = 1
    while True:
        path = directory / (f"{stem}{suffix}" if counter == 1 else f"{stem}-{counter}{suffix}")
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            counter += 1
            continue
        with _reserved_lock:
            _reserved.add(_reservation_key(path))
        return path


def _create_run_file(path: Path) -> h5py.File:
    """Create the run file: only into our own empty reservation, else exclusively (mode "x").

    The chunk cache is off (rdcc_nbytes=0): points go to the file when written (we
    batch them in time ourselves), so a full disk fails the write at once, and no
    dirty chunk is left that HDF5 can neither write nor drop (after a failed write it
    kept such a dataset open past the file's close and crashed the process at exit).
    """
    key = _reservation_key(path)
    with _reserved_lock:
        reserved = key in _reserved
        _reserved.discard(key)
    if reserved and path.is_file() and path.stat().st_size == 0:
        try:
            return h5py.File(path, "w", rdcc_nbytes=0, libver=FILE_FORMAT)  # reserve_run_path's empty file
        except BaseException:
            path.unlink(missing_ok=True)  # ours and empty: leave no litter
            raise
    try:
        return h5py.File(path, "x", rdcc_nbytes=0, libver=FILE_FORMAT)
    except FileExistsError:
        raise FileExistsError(
            errno.EEXIST, "a file of that name exists; a run file is never overwritten", str(path)
        ) from None


class RunStore:
    """Writer of one run file. Create it, add steps, close it.

    `path` must not exist yet (or be a name claimed with `reserve_run_path`, as
    `sqm.session.new_run_path` does): an existing file is never overwritten
    (FileExistsError).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        backend: str,
        station_text: str,
        procedure_text: str,
        flush_interval: float = 0.5,
        in_memory: bool = False,
        sample: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.flush_interval = flush_interval
        self._init_state()
        if in_memory:  # for dry runs: nothing touches the disk; a unique name lets several coexist
            self._guard: DiskGuard | None = None
            self._file = h5py.File(f"{self.path.name}-{uuid.uuid4().hex}", "w", driver="core", backing_store=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._guard = DiskGuard(self.path.parent)
            self._guard.require(len(station_text) + len(procedure_text) + 4 * METADATA_ALLOWANCE_BYTES,
                                "a new run file")
            self._file = _create_run_file(self.path)
        # who ran it, on what, why: root attributes and each entry's NXuser, NXsample, NXnote
        self._metadata = {key: value for key, value in (metadata or {}).items() if value}
        if sample and sample.get("name") and "sample" not in self._metadata:
            self._metadata["sample"] = sample["name"]
        try:
            attrs = self._file.attrs
            attrs["NX_class"] = "NXroot"
            attrs["sqm_version"] = __version__
            attrs["created"] = utc_now()
            attrs["backend"] = backend
            attrs["station"] = station_text
            attrs["procedure"] = procedure_text
            nexus.decorate_root(self._file, self.path.name, attrs["created"])
            if sample:
                _write_sample(attrs, sample)
            for key in RUN_METADATA:
                if key in self._metadata:
                    attrs[key] = self._metadata[key]
            attrs["status"] = "running"
            attrs["writer_host"] = socket.gethostname()
            attrs["writer_pid"] = os.getpid()
            self._flush_file()
            self._start_live_reading()
        except (OSError, RuntimeError) as error:
            self._discard_unwritten_file()
            raise StoreError(
                f"{self.path}: cannot create the run file ({type(error).__name__}: {one_line(error)})") from None

    @classmethod
    def continue_file(cls, path: str | Path, *, flush_interval: float = 0.5, resumed: dict | None = None,
                      interrupted_group: str | None = None) -> "RunStore":
        """Open the file of an interrupted run to write the rest of it (`sqm resume`).

        Its writer must be gone (the caller checked, `sqm.readback.writer_state`): the "open
        for write" flags a killed writer left are cleared first. The root's status is
        `running` again, with this process as its writer, and `resumed` (a JSON list) gains
        `resumed` (when, from which step and point) for this continuation. The end recorded
        on `interrupted_group` (status, error, end time) is moved into its `resumed` history
        by `continue_step`; here, before live reading starts (HDF5 deletes nothing then),
        it is taken off the group.
        """
        store = cls.__new__(cls)
        store.path = Path(path)
        store.flush_interval = flush_interval
        store._init_state()
        store._guard = DiskGuard(store.path.parent)
        store._guard.require(4 * METADATA_ALLOWANCE_BYTES, "the continuation of a run")
        writer_flags.clear_writer_flags(store.path)
        store._file = h5py.File(store.path, "r+", rdcc_nbytes=0, libver=FILE_FORMAT)
        try:
            attrs = store._file.attrs
            store._metadata = {key: _text(attrs[key]) for key in RUN_METADATA if key in attrs}
            history = json.loads(_text(attrs["resumed"])) if "resumed" in attrs else []
            history.append({"started": utc_now(), **(resumed or {}),
                            "previous_status": _text(attrs.get("status", ""))})
            attrs["status"] = "running"
            for key in ("finished", "error", "safe_state"):
                if key in attrs:  # how the interrupted part ended stays in the history above
                    history[-1][f"previous_{key}"] = _text(attrs[key])
                    del attrs[key]
            attrs["resumed"] = json.dumps(history)
            if interrupted_group is not None:
                _clear_step_end(store._file[interrupted_group])
            attrs["writer_host"] = socket.gethostname()
            attrs["writer_pid"] = os.getpid()
            store._flush_file()
            store._start_live_reading()
        except (OSError, RuntimeError, ValueError) as error:
            store._file.close()
            raise StoreError(f"{store.path}: cannot continue the run file ({type(error).__name__}: "
                             f"{one_line(error)})") from None
        return store

    def _init_state(self) -> None:
        self._lock = threading.RLock()
        self._failure: StoreError | None = None  # the first write failure reported to a caller
        self._frozen = False  # a write failed and the file could not be reopened: no more writes
        self._generation = 0  # bumped when the file is reopened: StepWriters look their groups up again
        self._next_heartbeat = 0.0
        self._steps: list[StepWriter] = []  # steps whose points may still be buffered

    def _start_live_reading(self) -> None:
        """Switch the file to SWMR writing: from here on other programs open it read-only
        with `swmr=True` (as `sqm show`, the GUI and `sqm serve` do) while it grows, and see
        it as of the writer's last flush. Until the file is closed, plain `h5py.File(path)`
        refuses it ("already open for write"), also after a kill; see sqm.writer_flags."""
        if self._guard is not None:  # on disk (an in-memory dry run has no readers)
            self._file.swmr_mode = True

    def _discard_unwritten_file(self) -> None:
        """A file that failed while being created holds nothing: release it and remove it."""
        self._freeze()
        if not self._file.id.valid and self._guard is not None:
            self.path.unlink(missing_ok=True)

    def _flush_file(self) -> None:
        """Flush to disk, refreshing the heartbeat when it is due."""
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + HEARTBEAT_INTERVAL_S
            beat = np.bytes_(utc_now())
            if "heartbeat" in self._file.attrs:
                self._file.attrs.modify("heartbeat", beat)  # same size: rewritten in place, no new space
            else:
                self._file.attrs["heartbeat"] = beat
        self._file.flush()

    def _require_space(self, nbytes: int, what: str) -> None:
        """Refuse a data write the disk cannot take, or any after the file was frozen."""
        if self._frozen:
            raise StoreError(f"{self.path}: the file could not be reopened after a failed write; "
                             "it holds what was flushed before")
        if self._guard is not None:
            try:
                self._guard.require(nbytes, what)
            except StoreError as error:
                self._failure = self._failure or error
                raise

    def _freeze(self) -> None:
        """Stop HDF5 from writing anything more into the file, and release it.

        After a failed write HDF5's cache holds metadata for data that never reached the
        disk; flushing it (as close does) can overwrite good metadata in place with
        pointers past the file's end. Swapping a read-only descriptor under it makes
        those writes fail instead, so the file stays as it was at its last flush.
        """
        self._frozen = True
        try:
            descriptor = self._file.id.get_vfd_handle()
            read_only = os.open(self.path, os.O_RDONLY)
            try:
                os.dup2(read_only, descriptor)
            finally:
                os.close(read_only)
        except Exception:  # not a POSIX file driver, or already closed: nothing to protect
            pass
        for _attempt in range(3):  # the first close after a failed write may fail; the next releases
            try:
                self._file.close()
            except Exception:
                pass
            if not self._file.id.valid:
                break

    def _reopen_after_failed_write(self) -> None:
        """Freeze the file, then reopen it as of its last flush to record the ends there."""
        if self._guard is None:
            return  # in memory: nothing on disk to protect
        self._freeze()
        try:
            writer_flags.clear_writer_flags(self.path)  # our own, left set by the frozen close
            self._file = h5py.File(self.path, "r+", rdcc_nbytes=0, libver=FILE_FORMAT)
            self._start_live_reading()
            self._generation += 1
            self._frozen = False  # a clean file again: later writes go through the disk guard as before
        except Exception:
            pass  # the file as of its last flush stays on disk; its heartbeat tells a reader it stopped

    @contextmanager
    def _writing(self, what: str):
        """Turn h5py's write failures into a one-line StoreError naming what was not written."""
        try:
            yield
        except StoreError as error:
            self._failure = self._failure or error
            raise
        except (OSError, RuntimeError) as error:
            failure = StoreError(f"{self.path}: could not write {what} ({type(error).__name__}: {one_line(error)})")
            logger.error("%s; reopening the file as of its last flush", failure)
            self._failure = self._failure or failure
            self._reopen_after_failed_write()
            raise failure from error

    def begin_step(self, index: int, procedure: str, parameters: dict, snapshot: dict,
                   measures: bool = True, group_name: str | None = None) -> "StepWriter":
        """Open the group of step `index` (1-based) and record its start. `measures`: the
        step measures something (a viewer opening the file shows the first that does).
        `group_name`: default `NNN_<procedure>` (a step run again after a resume: another)."""
        what = f"the start of step {index} ({procedure})"
        with self._lock, self._writing(what):
            self._require_space(len(json.dumps(snapshot, default=str)) + 2 * METADATA_ALLOWANCE_BYTES, what)
            group = self._file.create_group(group_name or f"{index:03d}_{procedure}")
            group.attrs["NX_class"] = "NXentry"
            group.attrs["procedure"] = procedure
            group.attrs["parameters"] = json.dumps(parameters)
            group.attrs["started"] = utc_now()
            group.attrs["status"] = "running"
            nexus.decorate_entry(group, procedure, group.attrs["started"], self._metadata)
            snap = group.create_group("snapshot")
            for role, values in snapshot.items():
                role_group = snap.create_group(role)
                for key, value in values.items():
                    role_group.attrs[key] = _attr_value(value)
            nexus.mark_instrument(snap)
            step = StepWriter(self, group.name, measures)
            self._steps.append(step)
            self._flush_file()
            return step

    def continue_step(self, group_name: str, measures: bool = True, resumed_from: int = 0) -> "StepWriter":
        """The writer of an interrupted step's group, to write the rest of it after a resume:
        its series and images are attached when the step declares them again, and the
        group's `resumed` (a JSON list) records when and from which point or line."""
        what = f"the continuation of {group_name}"
        with self._lock, self._writing(what):
            self._require_space(2 * METADATA_ALLOWANCE_BYTES, what)
            group = self._file[group_name]
            history = json.loads(_text(group.attrs["resumed"])) if "resumed" in group.attrs else []
            history.append({"started": utc_now(), "from": resumed_from,
                            **json.loads(_text(group.attrs.get("previous_end", "{}")))})
            group.attrs["resumed"] = json.dumps(history)
            group.attrs["status"] = "running"
            step = StepWriter(self, group.name, measures, continued=True)
            self._steps.append(step)
            self._flush_file()
            return step

    def set_run_status(self, status: str, **details: str) -> None:
        """Record how the whole run ended (root attributes), best effort.

        Every attribute is tried and then the file flushed; if any of it fails (a full
        disk) the rest is still attempted, the file stays closable, and `StoreError`
        says what could not be recorded.
        """
        assert status in STATUSES, status
        values = {"status": status, "finished": utc_now(), **details}
        with self._lock:
            reported_before = self._failure
            try:  # a NeXus nicety: never in the way of recording the status
                with self._writing("the root's default entry"):
                    nexus.settle_root_default(self._file)
            except StoreError:
                self._failure = reported_before  # not a failure a caller needs to hear of
            failures = self._record(lambda: self._write_attributes(self._file, values, force_heartbeat=True))
            if failures:
                failure = StoreError(f"{self.path}: could not record the run status {status!r}: {'; '.join(failures)}")
                self._failure = self._failure or failure
                raise failure

    def _record(self, write) -> list[str]:
        """Run `write()` (returns its failures); if it failed, freeze and reopen the
        file as of its last flush and write once more there."""
        failures = write()
        if failures and self._guard is not None and not self._frozen:
            self._reopen_after_failed_write()
            failures = write()
        return failures

    def _write_attributes(self, target_name_or_obj, values: dict, force_heartbeat: bool = False) -> list[str]:
        """Set attributes on a group (or its path in the file), then flush; returns what failed."""
        failures = []
        try:
            target = self._file[target_name_or_obj] if isinstance(target_name_or_obj, str) else self._file
        except Exception as error:
            return [f"the group ({type(error).__name__}: {one_line(error)})"]
        for key, value in values.items():
            try:
                target.attrs[key] = value
            except Exception as error:  # OSError/RuntimeError from HDF5, ValueError on a closed file
                failures.append(f"{key} ({type(error).__name__}: {one_line(error)})")
        try:
            if force_heartbeat:
                self._next_heartbeat = 0.0
            self._flush_file()
        except Exception as error:
            failures.append(f"flush ({type(error).__name__}: {one_line(error)})")
        return failures

    def flush(self) -> None:
        """Write every buffered point and flush the file to disk."""
        with self._lock, self._writing("buffered points"):
            for step in self._steps:
                step._write_buffer()
            self._flush_file()

    def flush_if_due(self) -> None:
        """Write and flush the buffered points older than `flush_interval`; cheap if none are."""
        for step in list(self._steps):  # the open steps (finished ones leave the list)
            step.flush_if_due()

    def append_log(self, line: str) -> None:
        """Append one line to the run's `log` dataset (the run's warnings and errors,
        each "UTC-time LEVEL logger: message"), flushed at once."""
        what = "a log line"
        encoded = line.encode("utf-8", "replace")
        with self._lock:
            reported_before = self._failure
            try:
                with self._writing(what):
                    self._require_space(len(encoded) + METADATA_ALLOWANCE_BYTES, what)
                    log = self._file.get("log")
                    if log is None:
                        log = self._file.create_dataset("log", shape=(0,), maxshape=(None,), chunks=(64,),
                                                        dtype=h5py.string_dtype())
                    log.resize((log.shape[0] + 1,))
                    log[-1] = encoded
                    self._flush_file()
            except StoreError:
                self._failure = reported_before  # a lost log line is not a failure a caller was told of
                raise

    @property
    def h5file(self) -> h5py.File:
        """The open file (read access for dry runs and tests)."""
        return self._file

    def close(self) -> None:
        """Write what is buffered and close the file. The file is always released.

        Raises StoreError if something could not be written, unless a StoreError was
        already raised to a caller by this store (the failure is then known).
        """
        with self._lock:
            if not self._file.id.valid:
                return
            reported_before = self._failure is not None
            failure = None
            try:
                self.flush()
            except StoreError as error:
                failure = error
            for _attempt in range(3):  # after a failed write HDF5's first close may fail; the next releases
                try:
                    self._file.close()
                except (OSError, RuntimeError) as error:
                    failure = failure or StoreError(
                        f"{self.path}: could not close the file ({type(error).__name__}: {one_line(error)})"
                    )
                if not self._file.id.valid:
                    break
            if failure is not None and not reported_before:
                self._failure = failure
                raise failure


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _text_list(value: Any) -> list[str]:
    """An HDF5 attribute holding text or a list of text, as a list of str."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        return [_text(value)]
    return [_text(item) for item in value]


class StepWriter:
    """Writer of one step's group: declares and appends 1-D series, records the end.

    It holds the group's path, not its h5py object: after a failed write the store
    reopens the file, and the writer then finds its group in the reopened file.
    """

    def __init__(self, store: RunStore, group_name: str, measures: bool = True, continued: bool = False) -> None:
        self._store = store
        self.continued = continued  # the group holds the data of an interrupted step: declarations attach
        self._group_name = group_name
        self._measures = measures
        self._has_data = False
        self._cached: tuple[int, h5py.Group, h5py.Group | None] | None = None
        # image name -> the NXdata group (in the step's group) holding it: "data" for the
        # first thing declared, a further image with the same axes beside it, one with
        # other axes (an image after a series) in a group of its own, "data_<image>"
        self._image_groups: dict[str, str] = {}
        self._columns: dict[str, str] = {}
        self._buffer: list[dict[str, float]] = []
        self._oldest: float | None = None  # time.monotonic() of the oldest buffered point

    @property
    def name(self) -> str:
        return self._group_name

    def _objects(self) -> tuple[h5py.Group, h5py.Group | None]:
        """The step's group and its data group, in the store's present file."""
        generation = self._store._generation
        if self._cached is None or self._cached[0] != generation:
            group = self._store._file[self._group_name]
            self._cached = (generation, group, group["data"] if self._has_data else None)
        return self._cached[1], self._cached[2]

    @property
    def _group(self) -> h5py.Group:
        return self._objects()[0]

    @property
    def _data(self) -> h5py.Group:
        """The step's data group; only once a series or an image was declared."""
        data = self._objects()[1]
        if data is None:
            raise StoreError(f"{self._store.path}: {self._group_name} has no data declared yet")
        return data

    def _created_data(self, data: h5py.Group) -> None:
        self._has_data = True
        self._cached = (self._store._generation, self._group, data)

    def declare_series(self, columns: dict[str, str], signal: str, axes: list[str]) -> None:
        """Create the NXdata group: `columns` maps dataset name -> units; all grow together.

        The group is flushed to disk at once, so a crash before the first batch of
        points still leaves the (empty) series in the file. A step has one series, declared
        before any image (it is the step's "data").
        """
        if signal not in columns or any(axis not in columns for axis in axes):
            raise ValueError("signal and axes must be declared columns")
        if self.continued and not self._has_data and self._attach_series(columns):
            return
        if self._has_data:
            raise ValueError(f"{self.name}: a series is declared first, and once")
        what = f"the data group of {self.name}"
        with self._store._lock, self._store._writing(what):
            self._store._require_space(len(columns) * 2048 + METADATA_ALLOWANCE_BYTES, what)
            data = self._group.create_group("data")
            data.attrs["NX_class"] = "NXdata"
            data.attrs["signal"] = signal
            data.attrs["axes"] = axes
            for name, units in columns.items():
                dataset = data.create_dataset(
                    name, shape=(0,), maxshape=(None,), dtype="f8", chunks=(SERIES_CHUNK_POINTS,)
                )
                dataset.attrs["units"] = units
                nexus.long_name(dataset, name, units)
            nexus.link_sample_temperature(self._group, data)
            nexus.point_default(self._group, "data", self._store._file, self._measures)
            self._created_data(data)
            self._columns = dict(columns)
            self._store._flush_file()

    def _attach_series(self, columns: dict[str, str]) -> bool:
        """After a resume: take up the series the interrupted step declared, if it holds
        exactly these columns (else False: declared anew). All columns are cut to the
        shortest, so a record half-written at the kill is not kept."""
        with self._store._lock, self._store._writing(f"the data group of {self.name}"):
            data = self._group.get("data")
            if not isinstance(data, h5py.Group) or sorted(
                    key for key, item in data.items() if isinstance(item, h5py.Dataset)) != sorted(columns):
                return False
            length = min(data[name].shape[0] for name in columns)
            for name in columns:
                if data[name].shape[0] != length:
                    data[name].resize((length,))
            self._created_data(data)
            self._columns = dict(columns)
            return True

    def _attach_image(self, name: str, shape: tuple[int, int]) -> bool:
        """After a resume: take up image `name` the interrupted step declared, if it has this shape."""
        for group_name in ["data", *sorted(key for key in self._group if key.startswith("data_"))]:
            group = self._group.get(group_name)
            if isinstance(group, h5py.Group) and isinstance(group.get(name), h5py.Dataset):
                if group[name].shape != shape:
                    return False
                self._image_groups[name] = group_name
                if not self._has_data:
                    self._created_data(self._group["data"])
                return True
        return False

    def declare_image(
        self,
        name: str,
        units: str,
        rows: tuple[str, np.ndarray, str],
        columns: tuple[str, np.ndarray, str],
        extra_axes: dict[str, tuple[np.ndarray, str]] | None = None,
    ) -> None:
        """Create an NXdata group holding image `name`, filled with NaN until scanned.

        `rows` and `columns` are (axis name, values, units), e.g. ("y", y, "m") and
        ("x", x, "m") for a raster, or ("bias_current", I, "A") and ("distance", s, "m")
        for repeated line cuts. Lines are written with `write_line` as they are
        scanned; chunks are one line, so a 1024 x 1024 scan streams to disk.
        `extra_axes` adds more datasets (name -> (values, units)). The group and its
        axes are flushed to disk at once.
        """
        (row_name, row_values, _), (column_name, column_values, _) = rows, columns
        what = f"the image {name!r} of {self.name}"
        axes = [(rows[0], rows[1], rows[2]), (columns[0], columns[1], columns[2])]
        axes += [(key, values, unit) for key, (values, unit) in (extra_axes or {}).items()]
        if self.continued and name not in self._image_groups and self._attach_image(
                name, (len(row_values), len(column_values))):
            return
        self._refuse_a_name_in_use(name)
        with self._store._lock, self._store._writing(what):
            axes_bytes = sum(8 * np.size(values) for _, values, _ in axes)
            self._store._require_space(axes_bytes + 2 * METADATA_ALLOWANCE_BYTES, what)
            beside = self._image_group_with_axes(axes)
            if beside is not None:  # trace and retrace, a value and its uncertainty: one NXdata
                data = self._group[beside]
                data.attrs["auxiliary_signals"] = [*_text_list(data.attrs.get("auxiliary_signals")), name]
            else:
                group_name = "data" if not self._has_data else f"data_{name}"
                data = self._group.create_group(group_name)
                data.attrs["NX_class"] = "NXdata"
                data.attrs["signal"] = name
                data.attrs["axes"] = [row_name, column_name]
                for axis_name, values, axis_units in axes:
                    axis = data.create_dataset(axis_name, data=np.asarray(values, dtype="f8"))
                    axis.attrs["units"] = axis_units
                    nexus.long_name(axis, axis_name, axis_units)
            image = data.create_dataset(
                name,
                shape=(len(row_values), len(column_values)),
                dtype="f8",
                chunks=(1, len(column_values)),
                fillvalue=np.nan,
            )
            image.attrs["units"] = units
            nexus.long_name(image, name, units)
            self._image_groups[name] = data.name.rsplit("/", 1)[-1]
            nexus.point_default(self._group, self._image_groups[name], self._store._file, self._measures)
            if not self._has_data:
                self._created_data(data)
            self._store._flush_file()

    def _image_group_with_axes(self, axes: list[tuple[str, Any, str]]) -> str | None:
        """The group of an image already declared on exactly these axes, if any."""

        def same(group: h5py.Group, name: str, values: Any, units: str) -> bool:
            return (name in group and group[name].shape == np.shape(values)
                    and np.array_equal(group[name][()], np.asarray(values, dtype="f8"))
                    and _text(group[name].attrs.get("units", "")) == units)

        for group_name in dict.fromkeys(self._image_groups.values()):
            group = self._group[group_name]
            if _text_list(group.attrs.get("axes")) == [axes[0][0], axes[1][0]] and all(
                    same(group, *axis) for axis in axes):
                return group_name
        return None

    def _refuse_a_name_in_use(self, name: str) -> None:
        if name in self._image_groups or name in self._columns:
            raise ValueError(f"{self.name}: {name!r} is declared already")

    def write_line(self, name: str, row: int, values: np.ndarray) -> None:
        """Store line `row` of image `name` and flush: a crash loses only the line in progress."""
        what = f"line {row} of {self.name}/data/{name}"
        with self._store._lock, self._store._writing(what):
            self._store._require_space(8 * np.size(values) + METADATA_ALLOWANCE_BYTES, what)
            self._group[self._image_groups[name]][name][row, :] = values
            self._store._flush_file()

    def add_result(self, name: str, axis: tuple[str, np.ndarray, str],
                   signals: dict[str, tuple[np.ndarray, str]]) -> None:
        """A result derived from the step's data (e.g. remanence against the anneal
        temperature) as an NXdata group of its own, `name`: the entry's default plot."""
        axis_name, axis_values, axis_units = axis
        what = f"the result {name!r} of {self.name}"
        nbytes = 8 * (np.size(axis_values) + sum(np.size(values) for values, _ in signals.values()))
        with self._store._lock, self._store._writing(what):
            self._store._require_space(nbytes + 2 * METADATA_ALLOWANCE_BYTES, what)
            group = self._group.create_group(name)
            group.attrs["NX_class"] = "NXdata"
            names = list(signals)
            group.attrs["signal"] = names[0]
            group.attrs["axes"] = [axis_name]
            if len(names) > 1:
                group.attrs["auxiliary_signals"] = names[1:]
            for key, (values, units) in {axis_name: (axis_values, axis_units), **signals}.items():
                dataset = group.create_dataset(key, data=np.asarray(values, dtype="f8"))
                dataset.attrs["units"] = units
                nexus.long_name(dataset, key, units)
            self._group.attrs["default"] = name  # what the step found, rather than its log
            self._store._flush_file()

    def read_series(self, name: str) -> np.ndarray:
        """Column `name` of the series as stored so far, buffered points included."""
        with self._store._lock:
            stored = np.asarray(self._data[name][()])
            buffered = [row.get(name, np.nan) for row in self._buffer]
            return np.concatenate([stored, np.asarray(buffered, dtype="f8")])

    def read_image(self, name: str) -> np.ndarray:
        """Image `name` as stored so far (NaN where no line is written yet)."""
        with self._store._lock:
            return np.asarray(self._group[self._image_groups[name]][name][()])

    def add_dataset(self, name: str, values: np.ndarray, units: str, beside: str | None = None) -> None:
        """Store a derived array (e.g. the current density of an image) beside the data, or
        beside image `beside` (in its NXdata group: a fitted plane beside the heights)."""
        values = np.asarray(values, dtype="f8")
        group_name = "data" if beside is None else self._image_groups[beside]
        what = f"{self.name}/{group_name}/{name}"
        with self._store._lock, self._store._writing(what):
            self._store._require_space(values.nbytes + METADATA_ALLOWANCE_BYTES, what)
            dataset = self._data.create_dataset(name, data=values) if beside is None else (
                self._group[group_name].create_dataset(name, data=values))
            dataset.attrs["units"] = units
            self._store._flush_file()

    def append(self, **values: float) -> None:
        """Add one point; a declared column left out is stored as NaN."""
        unknown = set(values) - set(self._columns)
        if unknown:
            raise ValueError(f"undeclared column(s): {sorted(unknown)}")
        with self._store._lock:
            if not self._buffer:
                self._oldest = time.monotonic()
            self._buffer.append(values)
            self._flush_if_due_locked()

    def flush_if_due(self) -> None:
        """Write and flush the buffered points once the oldest is `flush_interval` old.

        Call it often (the runner does, at checkpoints and during waits): when nothing
        is due it only reads the clock, no h5py call and no lock.
        """
        oldest = self._oldest
        if oldest is None or time.monotonic() - oldest < self._store.flush_interval:
            return
        with self._store._lock:
            self._flush_if_due_locked()

    def _flush_if_due_locked(self) -> None:
        oldest = self._oldest
        if oldest is None or time.monotonic() - oldest < self._store.flush_interval:
            return
        with self._store._writing(f"points of {self.name}"):
            self._write_buffer()
            self._store._flush_file()

    def _write_buffer(self) -> None:
        """Append the buffered points to every column, all or nothing.

        Every column is resized first, then written; if anything fails, every column is
        trimmed back to its previous length and the points stay buffered for the next
        attempt, so the columns stay aligned and no point is lost or written twice.
        """
        if not self._buffer or not self._has_data:
            return
        rows = self._buffer
        count = len(rows)
        data = self._data
        datasets = [(data[name], name) for name in self._columns]
        starts = [dataset.shape[0] for dataset, _ in datasets]
        start = starts[0] if starts else 0
        new_chunks = max(1, -(-(start + count) // SERIES_CHUNK_POINTS) - start // SERIES_CHUNK_POINTS)
        self._store._require_space(
            len(datasets) * (new_chunks * 8 * SERIES_CHUNK_POINTS + 1024) + METADATA_ALLOWANCE_BYTES,
            f"{count} points of {self.name}",
        )
        try:
            for (dataset, _), start in zip(datasets, starts):
                dataset.resize((start + count,))
            for (dataset, name), start in zip(datasets, starts):
                dataset[start:start + count] = np.array([row.get(name, np.nan) for row in rows], dtype="f8")
        except BaseException:
            for (dataset, _), start in zip(datasets, starts):
                try:
                    if dataset.shape[0] != start:
                        dataset.resize((start,))
                except Exception:  # the original error is the one to report
                    pass
            raise
        self._buffer = []
        self._oldest = None

    def set_attribute(self, key: str, value) -> None:
        """Record a result or note on the step (JSON for non-scalars)."""
        value = _attr_value(value)
        what = f"the attribute {key!r} of {self.name}"
        with self._store._lock, self._store._writing(what):
            self._store._require_space(len(str(value)) + METADATA_ALLOWANCE_BYTES, what)
            self._group.attrs[key] = value

    def finish(self, status: str, error: str | None = None) -> None:
        """Write what is buffered and record the step's end, best effort.

        The status is recorded even if the buffered points cannot be written; then
        StoreError says what was lost.
        """
        assert status in STATUSES, status
        values = {"status": status, "finished": utc_now(), **({"error": error} if error else {})}
        with self._store._lock:
            failures = []
            unwritten = len(self._buffer)
            try:
                with self._store._writing(f"{unwritten} buffered points of {self.name}"):
                    self._write_buffer()
            except StoreError as failure:
                failures.append(f"{unwritten} buffered points not written ({failure})")
            failures += self._store._record(lambda: self._store._write_attributes(self._group_name, values))
            reported_before = self._store._failure
            try:  # the NXentry's end_time: a NeXus nicety beside the status, never in its way
                with self._store._writing(f"the end_time of {self.name}"):
                    if "end_time" not in self._group:
                        nexus.finish_entry(self._group, values["finished"])
            except StoreError:
                self._store._failure = reported_before  # not a failure a caller needs to hear of
            if failures:
                store_error = StoreError(
                    f"{self._store.path}: could not write the end of {self.name}: {'; '.join(failures)}")
                self._store._failure = self._store._failure or store_error
                raise store_error
            if self in self._store._steps:  # nothing left to write: RunStore.flush/flush_if_due skip it
                self._store._steps.remove(self)


def _clear_step_end(group: h5py.Group) -> None:
    """Take the recorded end off an interrupted step's group, keeping it in `previous_end`
    (JSON) beside the data: the step is about to go on."""
    ended = {key: _text(group.attrs[key]) for key in ("status", "error", "finished") if key in group.attrs}
    group.attrs["previous_end"] = json.dumps(ended)
    for key in ("error", "finished", "traceback"):
        if key in group.attrs:
            del group.attrs[key]
    if "end_time" in group:
        del group["end_time"]


def _write_sample(attrs, sample: dict[str, str]) -> None:
    """The sample of the run, as the backend knows it (the twin: its sample file), in root
    attributes beside the station's and procedure's texts: `sample` (its name), `sample_file`,
    `sample_text` (the file's own text, so a run can be re-made on the same sample), ..."""
    for key, value in sample.items():
        attrs["sample" if key == "name" else f"sample_{key}"] = value
