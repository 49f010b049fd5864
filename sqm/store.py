"""The run store: one HDF5 file per run, streamed as data arrive.

Layout (DESIGN.md): root attributes describe the run; one NeXus NXentry group per
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
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from . import __version__
from .errors import SqmError

STATUSES = ("running", "completed", "aborted", "failed")


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
            return h5py.File(path, "w", rdcc_nbytes=0)  # the empty file reserve_run_path created for us
        except BaseException:
            path.unlink(missing_ok=True)  # ours and empty: leave no litter
            raise
    try:
        return h5py.File(path, "x", rdcc_nbytes=0)
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
    ) -> None:
        self.path = Path(path)
        self.flush_interval = flush_interval
        self._lock = threading.RLock()
        self._failure: StoreError | None = None  # the first write failure reported to a caller
        if in_memory:  # for dry runs: nothing touches the disk; a unique name lets several coexist
            self._file = h5py.File(f"{self.path.name}-{uuid.uuid4().hex}", "w", driver="core", backing_store=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = _create_run_file(self.path)
        attrs = self._file.attrs
        attrs["NX_class"] = "NXroot"
        attrs["sqm_version"] = __version__
        attrs["created"] = utc_now()
        attrs["backend"] = backend
        attrs["station"] = station_text
        attrs["procedure"] = procedure_text
        attrs["status"] = "running"
        self._steps: list[StepWriter] = []  # steps whose points may still be buffered
        self._file.flush()

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
            self._failure = self._failure or failure
            raise failure from error

    def begin_step(self, index: int, procedure: str, parameters: dict, snapshot: dict) -> "StepWriter":
        """Open the group of step `index` (1-based) and record its start."""
        with self._lock, self._writing(f"the start of step {index} ({procedure})"):
            group = self._file.create_group(f"{index:03d}_{procedure}")
            group.attrs["NX_class"] = "NXentry"
            group.attrs["procedure"] = procedure
            group.attrs["parameters"] = json.dumps(parameters)
            group.attrs["started"] = utc_now()
            group.attrs["status"] = "running"
            snap = group.create_group("snapshot")
            for role, values in snapshot.items():
                role_group = snap.create_group(role)
                for key, value in values.items():
                    role_group.attrs[key] = _attr_value(value)
            step = StepWriter(self, group)
            self._steps.append(step)
            self._file.flush()
            return step

    def set_run_status(self, status: str, **details: str) -> None:
        """Record how the whole run ended (root attributes), best effort.

        Every attribute is tried and then the file flushed; if any of it fails (a full
        disk) the rest is still attempted, the file stays closable, and `StoreError`
        says what could not be recorded.
        """
        assert status in STATUSES, status
        with self._lock:
            failures = []
            for key, value in {"status": status, "finished": utc_now(), **details}.items():
                try:
                    self._file.attrs[key] = value
                except (OSError, RuntimeError) as error:
                    failures.append(f"{key} ({type(error).__name__}: {one_line(error)})")
            try:
                self._file.flush()
            except (OSError, RuntimeError) as error:
                failures.append(f"flush ({type(error).__name__}: {one_line(error)})")
            if failures:
                failure = StoreError(f"{self.path}: could not record the run status {status!r}: {'; '.join(failures)}")
                self._failure = self._failure or failure
                raise failure

    def flush(self) -> None:
        """Write every buffered point and flush the file to disk."""
        with self._lock, self._writing("buffered points"):
            for step in self._steps:
                step._write_buffer()
            self._file.flush()

    def flush_if_due(self) -> None:
        """Write and flush the buffered points older than `flush_interval`; cheap if none are."""
        for step in list(self._steps):  # the open steps (finished ones leave the list)
            step.flush_if_due()

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


class StepWriter:
    """Writer of one step's group: declares and appends 1-D series, records the end."""

    def __init__(self, store: RunStore, group: h5py.Group) -> None:
        self._store = store
        self._group = group
        self._data: h5py.Group | None = None
        self._columns: dict[str, str] = {}
        self._buffer: list[dict[str, float]] = []
        self._oldest: float | None = None  # time.monotonic() of the oldest buffered point

    @property
    def name(self) -> str:
        return self._group.name

    def declare_series(self, columns: dict[str, str], signal: str, axes: list[str]) -> None:
        """Create the NXdata group: `columns` maps dataset name -> units; all grow together.

        The group is flushed to disk at once, so a crash before the first batch of
        points still leaves the (empty) series in the file.
        """
        if signal not in columns or any(axis not in columns for axis in axes):
            raise ValueError("signal and axes must be declared columns")
        with self._store._lock, self._store._writing(f"the data group of {self.name}"):
            data = self._group.create_group("data")
            data.attrs["NX_class"] = "NXdata"
            data.attrs["signal"] = signal
            data.attrs["axes"] = axes
            for name, units in columns.items():
                dataset = data.create_dataset(name, shape=(0,), maxshape=(None,), dtype="f8", chunks=(1024,))
                dataset.attrs["units"] = units
            self._data = data
            self._columns = dict(columns)
            self._store._file.flush()

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
        (row_name, row_values, row_units), (column_name, column_values, column_units) = rows, columns
        with self._store._lock, self._store._writing(f"the image {name!r} of {self.name}"):
            data = self._group.create_group("data")
            data.attrs["NX_class"] = "NXdata"
            data.attrs["signal"] = name
            data.attrs["axes"] = [row_name, column_name]
            image = data.create_dataset(
                name,
                shape=(len(row_values), len(column_values)),
                dtype="f8",
                chunks=(1, len(column_values)),
                fillvalue=np.nan,
            )
            image.attrs["units"] = units
            axes = [(row_name, row_values, row_units), (column_name, column_values, column_units)]
            axes += [(key, values, unit) for key, (values, unit) in (extra_axes or {}).items()]
            for axis_name, values, axis_units in axes:
                axis = data.create_dataset(axis_name, data=np.asarray(values, dtype="f8"))
                axis.attrs["units"] = axis_units
            self._data = data
            self._store._file.flush()

    def write_line(self, name: str, row: int, values: np.ndarray) -> None:
        """Store line `row` of image `name` and flush: a crash loses only the line in progress."""
        with self._store._lock, self._store._writing(f"line {row} of {self.name}/data/{name}"):
            self._data[name][row, :] = values
            self._store._file.flush()

    def add_dataset(self, name: str, values: np.ndarray, units: str) -> None:
        """Store a derived array (e.g. the current density of an image) beside the data."""
        with self._store._lock, self._store._writing(f"{self.name}/data/{name}"):
            dataset = self._data.create_dataset(name, data=np.asarray(values, dtype="f8"))
            dataset.attrs["units"] = units
            self._store._file.flush()

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
            self._store._file.flush()

    def _write_buffer(self) -> None:
        """Append the buffered points to every column, all or nothing.

        Every column is resized first, then written; if anything fails, every column is
        trimmed back to its previous length and the points stay buffered for the next
        attempt, so the columns stay aligned and no point is lost or written twice.
        """
        if not self._buffer or self._data is None:
            return
        rows = self._buffer
        count = len(rows)
        datasets = [(self._data[name], name) for name in self._columns]
        starts = [dataset.shape[0] for dataset, _ in datasets]
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
        with self._store._lock, self._store._writing(f"the attribute {key!r} of {self.name}"):
            self._group.attrs[key] = _attr_value(value)

    def finish(self, status: str, error: str | None = None) -> None:
        """Write what is buffered and record the step's end, best effort.

        The status is recorded even if the buffered points cannot be written; then
        StoreError says what was lost.
        """
        assert status in STATUSES, status
        with self._store._lock:
            failures = []
            try:
                self._write_buffer()
            except (OSError, RuntimeError) as failure:
                failures.append(f"{len(self._buffer)} buffered points ({type(failure).__name__}: {one_line(failure)})")
            try:
                self._group.attrs["status"] = status
                self._group.attrs["finished"] = utc_now()
                if error:
                    self._group.attrs["error"] = error
            except (OSError, RuntimeError) as failure:
                failures.append(f"the status {status!r} ({type(failure).__name__}: {one_line(failure)})")
            try:
                self._store._file.flush()
            except (OSError, RuntimeError) as failure:
                failures.append(f"flush ({type(failure).__name__}: {one_line(failure)})")
            if failures:
                store_error = StoreError(f"{self._store.path}: could not write the end of {self.name}: {'; '.join(failures)}")
                self._store._failure = self._store._failure or store_error
                raise store_error
            if self in self._store._steps:  # nothing left to write: RunStore.flush/flush_if_due skip it
                self._store._steps.remove(self)
