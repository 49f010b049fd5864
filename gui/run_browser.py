"""The run browser: the steps of an HDF5 run file, and a plot of the selected one.

Series steps are plotted as their NeXus signal against their first axis, one curve
per branch; image steps are shown on the diverging map with axes in um; line cuts as
one flux profile per bias.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sqm.readback import StepData, open_run_file, read_steps

from .plot_widgets import DivergingImage, GrowingCurves


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
    """Open a run file; list its steps (procedure, status, parameters); plot the selected one."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None
        self.steps: list[StepData] = []
        open_button = QPushButton("Open run file...")
        open_button.clicked.connect(self.choose_file)
        self.file_label = QLabel("no run file")
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
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(right)
        splitter.setSizes([500, 700])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a run file", "", "Run files (*.h5 *.hdf5)")
        if path:
            self.open_file(path)

    def open_file(self, path: str | Path) -> bool:
        """List the file's steps; False (and a message) if it cannot be read."""
        try:
            self.steps = read_steps(path)
            with open_run_file(path) as h5:  # read-only, unlocked: a run may still be writing it
                run_status = str(h5.attrs.get("status", "?"))
        except (OSError, ValueError, json.JSONDecodeError) as error:
            message = str(error) if str(path) in str(error) else f"{path}: {error}"
            self.file_label.setText(f"<span style='color:#c62828'>cannot read {message}</span>")
            return False
        self.path = Path(path)
        self.file_label.setText(f"<b>{self.path.name}</b>: run {run_status}, {len(self.steps)} steps")
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
            title = f"{step.group}: {signal} [{step.units.get(signal, '')}]"
            self.image.set_image(data, (xs[0], xs[-1]), (ys[0], ys[-1]), title)
            self.plots.setCurrentWidget(self.image)
            self.plot_label.setText(f"{step.procedure}: {signal}, {data.shape[1]} x {data.shape[0]} pixels")
            return "image"
        if data is not None and data.ndim == 1 and axes and axes[0] in step.data:
            x = step.data[axes[0]]
            branches = step.data.get("branch", np.zeros_like(x))
            self.curves.reset((axes[0], step.units.get(axes[0], "")), (signal, step.units.get(signal, "")))
            for xi, yi, branch in zip(x, data, branches):
                self.curves.add_point(int(branch), float(xi), float(yi), f"branch {int(branch)}")
            self.curves.redraw()
            self.plots.setCurrentWidget(self.curves)
            self.plot_label.setText(f"{step.procedure}: {signal} vs {axes[0]}, {len(x)} points")
            return "curve"
        self.plot_label.setText(f"{step.procedure}: no data to plot ({step.status})")
        return "nothing"
