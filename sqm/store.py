"""The run store: one HDF5 file per run, streamed as data arrive.

Layout (DESIGN.md): root attributes describe the run; one NeXus NXentry group per
step, `NNN_<procedure>`, with its parameters, status and a snapshot of every role;
its `data` NXdata group holds 1-D series that share their first axis. Points are
buffered and written in batches in *time* (every `flush_interval` wall seconds), so
a crash loses at most that much of a sweep and the file still opens. Every dataset
carries a `units` attribute. All methods are safe to call from several threads.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from . import __version__

STATUSES = ("running", "completed", "aborted", "failed")


def utc_now() -> str:
    """ISO 8601 time stamp, UTC, to the millisecond."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _attr_value(value):
    if isinstance(value, (str, int, float, bool, np.integer, np.floating)):
        return value
    return json.dumps(value, default=str)


class RunStore:
    """Writer of one run file. Create it, add steps, close it."""

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
        if in_memory:  # for dry runs: nothing touches the disk; a unique name lets several coexist
            self._file = h5py.File(f"{self.path.name}-{uuid.uuid4().hex}", "w", driver="core", backing_store=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = h5py.File(self.path, "w")
        attrs = self._file.attrs
        attrs["NX_class"] = "NXroot"
        attrs["sqm_version"] = __version__
        attrs["created"] = utc_now()
        attrs["backend"] = backend
        attrs["station"] = station_text
        attrs["procedure"] = procedure_text
        attrs["status"] = "running"
        self._steps: list[StepWriter] = []
        self._file.flush()

    def begin_step(self, index: int, procedure: str, parameters: dict, snapshot: dict) -> "StepWriter":
        """Open the group of step `index` (1-based) and record its start."""
        with self._lock:
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
        """Record how the whole run ended (root attributes)."""
        assert status in STATUSES, status
        with self._lock:
            self._file.attrs["status"] = status
            self._file.attrs["finished"] = utc_now()
            for key, value in details.items():
                self._file.attrs[key] = value
            self._file.flush()

    def flush(self) -> None:
        with self._lock:
            for step in self._steps:
                step._write_buffer()
            self._file.flush()

    @property
    def h5file(self) -> h5py.File:
        """The open file (read access for dry runs and tests)."""
        return self._file

    def close(self) -> None:
        with self._lock:
            if self._file.id.valid:
                self.flush()
                self._file.close()


class StepWriter:
    """Writer of one step's group: declares and appends 1-D series, records the end."""

    def __init__(self, store: RunStore, group: h5py.Group) -> None:
        self._store = store
        self._group = group
        self._data: h5py.Group | None = None
        self._columns: dict[str, str] = {}
        self._buffer: list[dict[str, float]] = []
        self._last_flush = time.monotonic()

    @property
    def name(self) -> str:
        return self._group.name

    def declare_series(self, columns: dict[str, str], signal: str, axes: list[str]) -> None:
        """Create the NXdata group: `columns` maps dataset name -> units; all grow together."""
        if signal not in columns or any(axis not in columns for axis in axes):
            raise ValueError("signal and axes must be declared columns")
        with self._store._lock:
            data = self._group.create_group("data")
            data.attrs["NX_class"] = "NXdata"
            data.attrs["signal"] = signal
            data.attrs["axes"] = axes
            for name, units in columns.items():
                dataset = data.create_dataset(name, shape=(0,), maxshape=(None,), dtype="f8", chunks=(1024,))
                dataset.attrs["units"] = units
            self._data = data
            self._columns = dict(columns)

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
        `extra_axes` adds more datasets (name -> (values, units)).
        """
        (row_name, row_values, row_units), (column_name, column_values, column_units) = rows, columns
        with self._store._lock:
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

    def write_line(self, name: str, row: int, values: np.ndarray) -> None:
        """Store line `row` of image `name` and flush: a crash loses only the line in progress."""
        with self._store._lock:
            self._data[name][row, :] = values
            self._store._file.flush()

    def add_dataset(self, name: str, values: np.ndarray, units: str) -> None:
        """Store a derived array (e.g. the current density of an image) beside the data."""
        with self._store._lock:
            dataset = self._data.create_dataset(name, data=np.asarray(values, dtype="f8"))
            dataset.attrs["units"] = units
            self._store._file.flush()

    def append(self, **values: float) -> None:
        """Add one point; a declared column left out is stored as NaN."""
        unknown = set(values) - set(self._columns)
        if unknown:
            raise ValueError(f"undeclared column(s): {sorted(unknown)}")
        with self._store._lock:
            self._buffer.append(values)
            if time.monotonic() - self._last_flush >= self._store.flush_interval:
                self._write_buffer()
                self._store._file.flush()

    def _write_buffer(self) -> None:
        self._last_flush = time.monotonic()
        if not self._buffer or self._data is None:
            return
        count = len(self._buffer)
        for name in self._columns:
            dataset = self._data[name]
            start = dataset.shape[0]
            dataset.resize((start + count,))
            dataset[start:] = np.array([row.get(name, np.nan) for row in self._buffer], dtype="f8")
        self._buffer.clear()

    def set_attribute(self, key: str, value) -> None:
        """Record a result or note on the step (JSON for non-scalars)."""
        with self._store._lock:
            self._group.attrs[key] = _attr_value(value)

    def finish(self, status: str, error: str | None = None) -> None:
        """Write what is buffered and record the step's end."""
        assert status in STATUSES, status
        with self._store._lock:
            self._write_buffer()
            self._group.attrs["status"] = status
            self._group.attrs["finished"] = utc_now()
            if error:
                self._group.attrs["error"] = error
            self._store._file.flush()
