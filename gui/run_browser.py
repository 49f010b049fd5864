"""The run browser: the run files of the output folder, the steps of one, and a plot of
the selected step.

The folder's `.h5` files are listed newest first when the browser opens and whenever
`refresh_files` is called (the window does after each run); choosing one opens it.
Series steps are plotted as their NeXus signal against their first axis, one curve
per branch (virgin / down / up, see `branches`); image steps are shown on the
diverging map with axes in um, the colour bar in the signal's units; line cuts as
one flux profile per bias.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sqm.readback import StepData, open_run_file, read_steps, writer_state

from .branches import branch_names
from .plot_widgets import DivergingImage, GrowingCurves


def run_files_newest_first(folder: str | Path | None) -> list[Path]:
    """The `.h5` files of `folder`, newest first (by modification time, then name)."""
    if folder is None:
        return []
    found = []
    try:
        for path in Path(folder).glob("*.h5"):
            try:
                found.append((path.stat().st_mtime, path.name, path))
            except OSError:  # removed meanwhile
                continue
    except OSError:  # no such folder (yet), or not readable
        return []
    return [path for *_, path in sorted(found, reverse=True)]


def parameters_text(parameters: dict) -> str:
    """Parameters as stored ({name: {value, units}}), in one short line."""
    parts = []
    for name, entry in parameters.items():
        value, units = (entry.get("value"), entry.get("units", "")) if isinstance(entry, dict) else (entry, "")
        if value is None:
            continue
        if isinstance(value, list):
            value = "[" + ", ".join(f"{item:.4g}" if isinstance(item, float) else str(item) for item in value) + "]"
        elif isinstance(value, float):
            value = f"{value:.4g}"
        parts.append(f"{name}={value}{(' ' + units) if units else ''}")
    return "; ".join(parts)


def running_note(run_status: str, writer: str | None, path: Path) -> str:
    """What the browser adds for a file whose run has not ended: still written (shown as of
    its last flush), or its writer gone (and how to go on)."""
    if run_status != "running":
        return ""
    if writer is None:
        return " <i>(being written: shown as of its last flush; open it again for more)</i>"
    return (f"<br><span style='color:#c62828'>{html.escape(writer)}; "
            f"<tt>sqm resume {html.escape(str(path))}</tt> continues it</span>")


def signal_and_axes(path: str | Path, group: str) -> tuple[str | None, list[str]]:
    """The NeXus signal and axes names of a step's data group."""
    with open_run_file(path) as h5:
        data = h5[group].get("data")
        if data is None:
            return None, []
        signal = data.attrs.get("signal")
        axes = [str(axis) for axis in np.atleast_1d(data.attrs.get("axes", []))]
        return (str(signal) if signal is not None else None), axes


class RunBrowser(QWidget):
    """The run files of `folder`; open one, list its steps (procedure, status, parameters);
    plot the selected one."""

    def __init__(self, folder: str | Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = Path(folder) if folder is not None else None
        self.path: Path | None = None
        self.steps: list[StepData] = []
        self._listed: list[Path] = []
        open_button = QPushButton("Open run file...")
        open_button.clicked.connect(self.choose_file)
        self.file_label = QLabel("no run file")
        self.folder_label = QLabel("")
        self.file_list = QListWidget()
        self.file_list.setObjectName("run_files")
        self.file_list.currentRowChanged.connect(self._file_chosen)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["step", "procedure", "status", "parameters"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.currentCellChanged.connect(lambda row, *_: self.show_step(row))
        self.curves = GrowingCurves("")
        self.image = DivergingImage("")
        self.plots = QStackedWidget()
        self.plots.addWidget(self.curves)
        self.plots.addWidget(self.image)
        self.plot_label = QLabel("")
        top = QHBoxLayout()
        top.addWidget(open_button)
        top.addWidget(self.file_label, 1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.plot_label)
        right_layout.addWidget(self.plots, 1)
        files = QWidget()
        files_layout = QVBoxLayout(files)
        files_layout.setContentsMargins(0, 0, 0, 0)
        files_layout.addWidget(self.folder_label)
        files_layout.addWidget(self.file_list, 1)
        left = QSplitter(Qt.Vertical)
        left.addWidget(files)
        left.addWidget(self.table)
        left.setSizes([200, 500])
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([500, 700])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        self.refresh_files()

    def refresh_files(self) -> list[Path]:
        """List the folder's run files again, newest first; the open file stays chosen."""
        self._listed = run_files_newest_first(self.folder)
        self.folder_label.setText(f"runs in {self.folder} (newest first): {len(self._listed)}"
                                  if self.folder is not None else "")
        self.file_list.blockSignals(True)  # listing is not choosing
        self.file_list.clear()
        self.file_list.addItems([path.name for path in self._listed])
        if self.path in self._listed:
            self.file_list.setCurrentRow(self._listed.index(self.path))
        else:
            self.file_list.setCurrentRow(-1)
        self.file_list.blockSignals(False)
        return self._listed

    def _file_chosen(self, row: int) -> None:
        if 0 <= row < len(self._listed) and self._listed[row] != self.path:
            self.open_file(self._listed[row])

    def choose_file(self) -> None:
        start = str(self.folder) if self.folder is not None and self.folder.is_dir() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open a run file", start, "Run files (*.h5 *.hdf5)")
        if path:
            self.open_file(path)

    def open_file(self, path: str | Path) -> bool:
        """List the file's steps; False (and a message) if it cannot be read."""
        try:
            self.steps = read_steps(path)
            with open_run_file(path) as h5:  # read-only; a run may still be writing it (SWMR)
                run_status = str(h5.attrs.get("status", "?"))
                sample = h5.attrs.get("sample")
                writer = writer_state(h5.attrs)
        except (OSError, ValueError, json.JSONDecodeError) as error:
            message = str(error) if str(path) in str(error) else f"{path}: {error}"
            self.file_label.setText(f"<span style='color:#c62828'>cannot read {message}</span>")
            return False
        self.path = Path(path)
        if self.path in self._listed:  # show which of the folder's files this is
            self.file_list.blockSignals(True)
            self.file_list.setCurrentRow(self._listed.index(self.path))
            self.file_list.blockSignals(False)
        on_sample = f" on {html.escape(str(sample))}" if sample is not None else ""
        self.file_label.setText(f"<b>{self.path.name}</b>: run {run_status}{on_sample}, {len(self.steps)} steps"
                                + running_note(run_status, writer, self.path))
        self.table.setRowCount(len(self.steps))
        for row, step in enumerate(self.steps):
            status = step.status + (f" ({step.error})" if step.error else "")
            for column, text in enumerate((step.group, step.procedure, status, parameters_text(step.parameters))):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        if self.steps:
            self.table.selectRow(0)
        return True

    def show_step(self, row: int) -> str:
        """Plot step `row`; returns what was shown: "image", "curve" or "nothing"."""
        if not (0 <= row < len(self.steps)) or self.path is None:
            return "nothing"
        step = self.steps[row]
        signal, axes = signal_and_axes(self.path, step.group)
        data = step.data.get(signal) if signal else None
        if data is not None and data.ndim == 2 and step.procedure == "line_cut":
            # bias x distance: one profile across the edge per bias (Fig. 3c), not an image
            distance, currents = step.data["distance"], step.data["bias_current"]
            self.curves.reset(("distance along the cut", "m"), (signal, step.units.get(signal, "")))
            for row, (current, profile) in enumerate(zip(currents, data)):
                self.curves.set_curve(row, distance, profile, f"{current * 1e6:g} uA")
            self.curves.redraw()
            self.plots.setCurrentWidget(self.curves)
            self.plot_label.setText(f"{step.procedure}: {signal} across the edge at {len(currents)} bias currents")
            return "curve"
        if data is not None and data.ndim == 2:
            rows_axis, columns_axis = ((step.data.get(axes[0]), step.data.get(axes[1])) if len(axes) == 2
                                       else (None, None))
            ys = rows_axis * 1e6 if rows_axis is not None else np.arange(data.shape[0])
            xs = columns_axis * 1e6 if columns_axis is not None else np.arange(data.shape[1])
            self.image.set_bar_label(signal, step.units.get(signal, ""))  # the units' one place: the colour bar
            self.image.set_image(data, (xs[0], xs[-1]), (ys[0], ys[-1]), f"{step.group}: {signal}")
            self.plots.setCurrentWidget(self.image)
            self.plot_label.setText(f"{step.procedure}: {signal}, {data.shape[1]} x {data.shape[0]} pixels")
            return "image"
        if data is not None and data.ndim == 1 and axes and axes[0] in step.data:
            x = step.data[axes[0]]
            branches = step.data.get("branch")
            if branches is None or len(branches) != len(x):  # no branches: one curve, named by its signal
                names, branches = {0: signal}, np.zeros(len(x))
            else:
                names = branch_names(x, branches)
            self.curves.reset((axes[0], step.units.get(axes[0], "")), (signal, step.units.get(signal, "")))
            for xi, yi, branch in zip(x, data, branches):
                key = int(branch)
                self.curves.add_point(key, float(xi), float(yi), names.get(key, f"branch {key}"),
                                      emphasis=names.get(key) == "virgin")
            self.curves.redraw()
            self.plots.setCurrentWidget(self.curves)
            self.plot_label.setText(f"{step.procedure}: {signal} vs {axes[0]}, {len(x)} points")
            return "curve"
        self.plot_label.setText(f"{step.procedure}: no data to plot ({step.status})")
        return "nothing"
