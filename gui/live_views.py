"""Live views of a running step, laid out from what the step declares about its data.

- a series (`SeriesDeclared`): its signal against its first axis, one curve per
  `branch` if the step records one (named virgin / down / up, see `branches`), or per
  value of the column it names `curve_by` (each touchdown of a plane fit); each
  auxiliary signal (e.g. every probe point) as a curve of its own in the second panel;
  axes carry the declared columns' units;
- an image whose axes are both positions (`ImageDeclared.is_map`): the filling image,
  its colour bar named and in the units the image declares, and the sheet current |K|
  with streamlines once the step stores `Kx` and `Ky` (its units on its colour bar only),
  or a map the step stores beside it in the same units (a plane fitted to touchdown
  heights), on a diverging scale; a step's first map is the one shown;
- an image of profiles (one axis is not a position, e.g. a line cut at several bias
  currents): one curve per line, and each line's declared summary number (e.g. its
  peak edge current) against the row axis in the second panel;
- the numbers the run's steps note (`ResultNoted`: a period, a critical current) in a
  label below the plots, one line per step, each in the units it is read in
  (`RESULT_UNITS`, from the key's SI suffix); a working point (its bias and voltage
  noted) is starred on the step's plot of a voltage against a current.

No procedure is known by name: a new procedure gets these views by declaring its data.
Events only update buffers; a timer redraws whatever changed at most
`max_redraws_per_second` times a second, so a fast twin run cannot flood the event
loop with repaints.
"""

from __future__ import annotations

import numbers
import os
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import Qt, QTimer
from PyQt5.QtWidgets import QGridLayout, QLabel, QWidget

from sqm.events import (
    DatasetAdded,
    ImageDeclared,
    LineRecorded,
    PointRecorded,
    ResultNoted,
    RunEvent,
    RunFinished,
    SeriesDeclared,
    StepStarted,
)

from .branches import BranchNames
from .plot_widgets import DivergingImage, GrowingCurves, MagnitudeImage

BackgroundRunner = Callable[[Callable[[], object], Callable[[object, object], None]], None]

# Units shown in the lab's habit rather than SI: fields of a few gauss (SI unit -> shown unit, factor).
DISPLAY_UNITS = {"T": ("G", 1e4)}
SHEET_CURRENT = ("Kx", "Ky")  # the datasets a step stores for a reconstructed sheet current (A/m)
UM = 1e-6
# A noted number's key ends with its SI units; shown in the units a SQUID's numbers are read
# in: (key suffix, shown units, factor from SI). Longest suffix first: _V_per_Phi0 is not _V.
RESULT_UNITS = (
    ("_V_per_Phi0", "mV/Phi0", 1e3),
    ("_Phi0", "Phi0", 1.0),
    ("_ohm", "ohm", 1.0),
    ("_m2", "um^2", 1e12),
    ("_A", "uA", 1e6),
    ("_T", "mT", 1e3),
    ("_V", "uV", 1e6),
)
# The noted working point (sqm.roles.WorkingPoint): starred at (bias, voltage) on a V-I plot.
WORKING_POINT_BIAS, WORKING_POINT_VOLTAGE = "working_point_bias_A", "working_point_voltage_V"
WORKING_POINT_MARKER = "working point"


def _display(units: str) -> tuple[str, float]:
    return DISPLAY_UNITS.get(units, (units, 1.0))


def _axis_label(name: str, units: str) -> tuple[str, str]:
    """(text, units for pyqtgraph's SI prefixes); shown units that are not SI go in the text."""
    shown, factor = _display(units)
    return (f"{name} [{shown}]", "") if factor != 1.0 else (name, units)


def _number(value: float) -> str:
    """Three decimals in the range results are read in (1.723, -0.048, 95.735), else four
    significant digits (a tiny or huge number, nan)."""
    return f"{value:.3f}" if value == 0 or 1e-2 <= abs(value) < 1e5 else f"{value:.4g}"


def format_result(key: str, value: float) -> str:
    """A noted number as 'name value units': the key's SI suffix becomes its shown units
    (period_T = 1.7231e-3 -> 'period 1.723 mT'); a key without a known suffix keeps its value."""
    for suffix, shown, factor in RESULT_UNITS:
        if key.endswith(suffix) and len(key) > len(suffix):
            return f"{key[: -len(suffix)].replace('_', ' ')} {_number(value * factor)} {shown}"
    return f"{key.replace('_', ' ')} {_number(value)}"


def _is_number(value: object) -> bool:
    """A real number (a Python or numpy float or int), not a flag or a remark."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _curve_names(columns: tuple[str, ...]) -> dict[str, str]:
    """Each column's name without the part all share (flux_lower, flux_upper -> lower, upper)."""
    if len(columns) < 2:
        return {column: column for column in columns}
    prefix = os.path.commonprefix(list(columns))
    prefix = prefix[: prefix.rfind("_") + 1] if "_" in prefix else ""
    return {column: column[len(prefix):] or column for column in columns}


class LiveViews(QWidget):
    """Curves | image ; second curves | current density, fed by runner events."""

    def __init__(self, run_in_background: BackgroundRunner, max_redraws_per_second: float = 40.0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._run_in_background = run_in_background
        self.sweep = GrowingCurves("sweep")
        self.image = DivergingImage("image (waiting for a step that images)")
        self.current_density = MagnitudeImage("sheet current |K| (after an image)")
        self.probes = GrowingCurves("auxiliary signals")
        layout = QGridLayout(self)
        layout.addWidget(self.sweep, 0, 0)
        layout.addWidget(self.image, 0, 1)
        layout.addWidget(self.probes, 1, 0)
        layout.addWidget(self.current_density, 1, 1)
        self.results = QLabel()
        self.results.setWordWrap(True)
        self.results.setTextInteractionFlags(Qt.TextSelectableByMouse)  # numbers to copy into a log book
        self.results.hide()  # no room taken from the plots until a step notes a number
        layout.addWidget(self.results, 2, 0, 1, 2)
        self._procedure = ""
        self._step = 0
        # this run's noted numbers: step -> (procedure, {key: SI value}); the label shows them
        self._results: dict[int, tuple[str, dict[str, float]]] = {}
        self._results_changed = False
        self._run_over = True  # the next step starts a new run: its results replace the last run's
        self._series: SeriesDeclared | None = None
        self._branches = BranchNames()
        self._images: dict[str, ImageDeclared] = {}
        self._map: ImageDeclared | None = None  # the image shown in the image panel
        self._shown_images: set[str] = set()  # the step's images drawn (its first map, its first profiles)
        self._sheet_current: dict[str, np.ndarray] = {}
        self.reconstructions = 0
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, int(1000 / max_redraws_per_second)))
        self._timer.timeout.connect(self.redraw)
        self._timer.start()

    # Feeding ------------------------------------------------------------------
    def handle_event(self, event: RunEvent) -> None:
        if isinstance(event, StepStarted):
            if self._run_over:
                self._results, self._results_changed, self._run_over = {}, True, False
            self._procedure, self._step = event.procedure, event.step
            self._series, self._images, self._sheet_current = None, {}, {}
            self._shown_images = set()
        elif isinstance(event, SeriesDeclared):
            self._declare_series(event)
        elif isinstance(event, ImageDeclared):
            self._declare_image(event)
        elif isinstance(event, PointRecorded):
            self._point(event.values)
        elif isinstance(event, LineRecorded):
            self._line(event)
        elif isinstance(event, DatasetAdded):
            self._dataset(event)
        elif isinstance(event, ResultNoted):
            self._result(event)
        elif isinstance(event, RunFinished):
            self._run_over = True  # its results stay shown until the next run starts

    def _declare_series(self, series: SeriesDeclared) -> None:
        self._series = series
        self._branches = BranchNames()
        x_axis = series.axes[0] if series.axes else "time"
        self.sweep.reset(_axis_label(x_axis, series.columns.get(x_axis, "")),
                         _axis_label(series.signal, series.columns[series.signal]))
        self.sweep.setTitle(f"{self._procedure}: {series.signal} against {x_axis}")
        if series.auxiliary_signals:
            first = series.columns[series.auxiliary_signals[0]]
            self.probes.reset(_axis_label(x_axis, series.columns.get(x_axis, "")), _axis_label("signal", first))
            self.probes.setTitle(f"{self._procedure}: {', '.join(series.auxiliary_signals)}")
        self._mark_working_point()  # the reset removed the marker; a point noted before is still this step's

    def _point(self, values: dict[str, float]) -> None:
        series = self._series
        if series is None or series.signal not in values:
            return
        x_axis = series.axes[0] if series.axes else "time"
        if x_axis not in values:
            return
        x = values[x_axis] * _display(series.columns.get(x_axis, ""))[1]
        y = values[series.signal] * _display(series.columns[series.signal])[1]
        if "branch" in series.columns and "branch" in values:
            branch = int(values["branch"])
            self._branches.add(branch, values[x_axis])
            names = self._branches.names()
            # a sweep that starts from zero: its first branch is the virgin curve, drawn emphasised
            self.sweep.add_point(branch, x, y, names[branch], emphasis=names[branch] == "virgin")
            for key, name in names.items():  # a branch's direction shows once it has moved
                self.sweep.rename(key, name)
        elif series.curve_by is not None and series.curve_by in values:
            number = int(values[series.curve_by])
            self.sweep.add_point(number, x, y, f"{series.curve_by} {number + 1}")
        else:
            self.sweep.add_point(0, x, y, series.signal)
        names = _curve_names(series.auxiliary_signals)
        for column in series.auxiliary_signals:
            if column in values:
                self.probes.add_point(names[column], x, values[column], names[column])

    def _declare_image(self, image: ImageDeclared) -> None:
        # a step's first image of each kind is the one shown (a trace before its retrace)
        shown_already = any(declared.is_map == image.is_map for declared in self._images.values())
        self._images[image.name] = image
        if shown_already:
            return
        self._shown_images.add(image.name)
        if image.is_map:
            self._map = image
            xs, ys = image.columns.values / UM, image.rows.values / UM
            self.image.set_bar_label(image.name, image.units)
            self.image.reset(len(ys), len(xs), (xs[0], xs[-1]), (ys[0], ys[-1]),
                             f"{self._procedure}: {image.name} image {len(xs)} x {len(ys)}")
            return
        self.sweep.reset(_axis_label(image.columns.name, image.columns.units), _axis_label(image.name, image.units))
        self.sweep.setTitle(f"{self._procedure}: {image.name} profiles, one per {image.rows.name}")
        if image.line_summaries:
            name, units = next(iter(image.line_summaries.items()))
            self.probes.reset(_axis_label(image.rows.name, image.rows.units), _axis_label(name, units))
            self.probes.setTitle(f"{self._procedure}: {', '.join(image.line_summaries)} per {image.rows.name}")

    def _line(self, line: LineRecorded) -> None:
        image = self._images.get(line.name)
        if image is None or line.name not in self._shown_images:
            return
        if image.is_map:
            self.image.set_line(line.row, line.values)
            return
        if not 0 <= line.row < len(image.rows.values):
            return
        row_value = float(image.rows.values[line.row])
        shown, factor = _display(image.rows.units)
        self.sweep.set_curve(line.row, image.columns.values, line.values,
                             pg.functions.siFormat(row_value * factor, suffix=shown))
        for name, value in line.summaries.items():
            self.probes.add_point(name, row_value, value, name)

    def _dataset(self, dataset: DatasetAdded) -> None:
        image = self._map
        if (dataset.name not in SHEET_CURRENT and image is not None and dataset.units == image.units
                and np.shape(dataset.values) == image.shape):
            # a map beside the one shown, in its units (the plane fitted to touchdown heights)
            self.current_density.show_signed(np.asarray(dataset.values), (image.columns.values[0] / UM,
                                             image.columns.values[-1] / UM), (image.rows.values[0] / UM,
                                             image.rows.values[-1] / UM), f"{dataset.name} beside the {image.name} "
                                             "image", dataset.name, dataset.units)
            return
        if dataset.name not in SHEET_CURRENT or dataset.units != "A/m":
            return
        units = dataset.units
        self._sheet_current[dataset.name] = dataset.values
        image = self._map
        if len(self._sheet_current) < len(SHEET_CURRENT) or image is None:
            return
        if any(np.shape(values) != image.shape for values in self._sheet_current.values()):
            return
        kx, ky = (self._sheet_current[name] for name in SHEET_CURRENT)
        xs, ys = image.columns.values / UM, image.rows.values / UM

        def streamlines():
            from .streamlines import streamline_paths

            order_x, order_y = np.argsort(xs), np.argsort(ys)  # streamplot wants increasing axes
            paths = streamline_paths(xs[order_x], ys[order_y], kx[np.ix_(order_y, order_x)],
                                     ky[np.ix_(order_y, order_x)])
            return np.hypot(kx, ky), paths

        def show(result, error):
            if error is not None:
                self.current_density.plot.setTitle(f"|K|: not drawn ({error})")
                return
            magnitude, paths = result
            self.reconstructions += 1
            self.current_density.show_magnitude()
            self.current_density.set_bar_label("|K|", units)  # the units' one place: the colour bar
            self.current_density.set_image(magnitude, (xs[0], xs[-1]), (ys[0], ys[-1]),
                                           f"sheet current |K| from the {image.name} image, with streamlines")
            self.current_density.set_streamlines(*paths)

        self._run_in_background(streamlines, show)

    def _result(self, result: ResultNoted) -> None:
        """Keep a noted number for the label; a remark (text, a flag) stays in the run file only."""
        if not _is_number(result.value):
            return
        procedure = self._procedure if result.step == self._step else ""
        _, noted = self._results.setdefault(result.step, (procedure, {}))
        noted[result.key] = float(result.value)
        self._results_changed = True
        if result.step == self._step and result.key in (WORKING_POINT_BIAS, WORKING_POINT_VOLTAGE):
            self._mark_working_point()

    def _mark_working_point(self) -> None:
        """Star the step's working point on its plot, once both its bias and its voltage are
        noted and the plot shows a voltage (V) against a current (A), in the plot's units."""
        series = self._series
        noted = self._results.get(self._step, ("", {}))[1]
        if series is None or WORKING_POINT_BIAS not in noted or WORKING_POINT_VOLTAGE not in noted:
            return
        x_axis = series.axes[0] if series.axes else "time"
        x_units, y_units = series.columns.get(x_axis, ""), series.columns[series.signal]
        if (x_units, y_units) != ("A", "V"):
            return  # no bias against voltage plotted: nowhere the point means anything
        self.sweep.set_marker(WORKING_POINT_MARKER, noted[WORKING_POINT_BIAS] * _display(x_units)[1],
                              noted[WORKING_POINT_VOLTAGE] * _display(y_units)[1])

    def results_text(self) -> str:
        """This run's noted numbers, one line per step: 'step 3 squid_interference: period 1.723 mT, ...'."""
        return "\n".join(
            f"step {step} {procedure}: " + ", ".join(format_result(key, value) for key, value in noted.items())
            for step, (procedure, noted) in sorted(self._results.items()) if noted
        )

    # Drawing ------------------------------------------------------------------
    def redraw(self) -> None:
        """Redraw the views whose data changed (called by the throttling timer)."""
        self.sweep.redraw()
        self.probes.redraw()
        self.image.redraw()
        self.current_density.redraw()
        if self._results_changed:
            text = self.results_text()
            self.results.setText(text)
            self.results.setToolTip("\n".join(  # the file's keys and SI values, as stored on each step
                f"step {step}: {key} = {value:.6g}"
                for step, (_, noted) in sorted(self._results.items()) for key, value in noted.items()))
            self.results.setVisible(bool(text))
            self._results_changed = False

    def stop(self) -> None:
        self._timer.stop()
