"""Reusable pyqtgraph widgets: curves grouped by a key (with starred points), and an image
on a diverging map.

Both keep their data in numpy buffers and redraw only in `redraw()`, which the
owner calls from a throttling timer (data arrive much faster than a screen needs).
An image's colour bar shows no scale until the image holds data (an empty panel has
no values to scale), and its axis is as wide as its tick labels and its label need.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="w", foreground="k")

MARKER_COLOUR = "#ffbf00"  # amber: apart from every curve colour below
BRANCH_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def diverging_colormap() -> pg.ColorMap:
    """Blue - white - red, white at the centre (used with levels symmetric about zero)."""
    return pg.ColorMap([0.0, 0.5, 1.0], [(33, 102, 172), (247, 247, 247), (178, 24, 43)])


class GrowingCurves(pg.PlotWidget):
    """Curves that grow point by point, one per key (a branch, a probe), each its own colour."""

    def __init__(self, title: str = "", parent=None) -> None:
        super().__init__(parent=parent, title=title)
        self.addLegend(offset=(5, 5))
        self.showGrid(x=True, y=True, alpha=0.3)
        self._curves: dict[object, pg.PlotDataItem] = {}
        self._data: dict[object, tuple[list[float], list[float]]] = {}
        self._markers: dict[str, tuple[float, float]] = {}  # name -> (x, y) in the plot's units
        self._marker_items: dict[str, pg.PlotDataItem] = {}
        self._dirty = False

    def reset(self, x_label: tuple[str, str], y_label: tuple[str, str]) -> None:
        """Remove every curve and marker; set axis labels as (text, units) (units SI-prefixed by pyqtgraph)."""
        for item in [*self._curves.values(), *self._marker_items.values()]:
            self.removeItem(item)
        self._curves.clear()
        self._data.clear()
        self._markers.clear()
        self._marker_items.clear()
        self.plotItem.legend.clear()
        self.setLabel("bottom", x_label[0], units=x_label[1] or None)
        self.setLabel("left", y_label[0], units=y_label[1] or None)
        self._dirty = True

    def add_point(self, key: object, x: float, y: float, name: str | None = None, emphasis: bool = False) -> None:
        """Append one point to curve `key` (created on first use, labelled `name`)."""
        xs, ys = self._curve_data(key, name, emphasis)
        xs.append(x)
        ys.append(y)
        self._dirty = True

    def rename(self, key: object, name: str) -> None:
        """Show curve `key` as `name` in the legend (e.g. once a branch's direction is known)."""
        curve = self._curves.get(key)
        if curve is None or curve.name() == name:
            return
        curve.opts["name"] = name
        label = self.plotItem.legend.getLabel(curve)
        if label is not None:
            label.setText(name)

    def curve_names(self) -> dict[object, str]:
        """{key: the name the legend shows}."""
        return {key: curve.name() for key, curve in self._curves.items()}

    def set_curve(self, key: object, xs, ys, name: str | None = None) -> None:
        """Replace curve `key` with whole arrays (a scanned line)."""
        buffered_x, buffered_y = self._curve_data(key, name, False)
        buffered_x[:] = np.asarray(xs, dtype=float).tolist()
        buffered_y[:] = np.asarray(ys, dtype=float).tolist()
        self._dirty = True

    def _curve_data(self, key: object, name: str | None, emphasis: bool) -> tuple[list[float], list[float]]:
        """The buffers of curve `key`, creating the curve (its colour, legend entry) on first use."""
        if key not in self._curves:
            colour = BRANCH_COLOURS[len(self._curves) % len(BRANCH_COLOURS)]
            style = pg.QtCore.Qt.DashLine if emphasis else pg.QtCore.Qt.SolidLine
            pen = pg.mkPen(colour, width=3 if emphasis else 1.5, style=style)
            self._curves[key] = self.plot([], [], pen=pen, name=name or str(key), symbol="o", symbolSize=3,
                                          symbolBrush=colour, symbolPen=None)
            self._data[key] = ([], [])
        return self._data[key]

    def set_marker(self, name: str, x: float, y: float) -> None:
        """Mark one point (x, y in the plot's units, e.g. a working point) with a star named
        `name` in the legend; drawn at the next redraw, removed by `reset`."""
        self._markers[name] = (float(x), float(y))
        self._dirty = True

    def marker_positions(self) -> dict[str, tuple[float, float]]:
        """{name: (x, y)} of the markers on screen (after the last redraw)."""
        positions = {}
        for name, item in self._marker_items.items():
            xs, ys = item.getData()
            if xs is not None and len(xs):
                positions[name] = (float(xs[0]), float(ys[0]))
        return positions

    def point_count(self) -> int:
        """Points received so far, all curves together."""
        return sum(len(xs) for xs, _ in self._data.values())

    def drawn_point_count(self) -> int:
        """Points actually on screen (after the last redraw)."""
        total = 0
        for curve in self._curves.values():
            x, _ = curve.getData()
            total += 0 if x is None else len(x)
        return total

    def redraw(self) -> bool:
        """Push buffered points to the curves; True if anything changed."""
        if not self._dirty:
            return False
        for key, curve in self._curves.items():
            xs, ys = self._data[key]
            curve.setData(np.asarray(xs), np.asarray(ys))
        for name, (x, y) in self._markers.items():
            if name not in self._marker_items:
                item = self.plot([], [], pen=None, name=name, symbol="star", symbolSize=18,
                                 symbolBrush=MARKER_COLOUR, symbolPen=pg.mkPen("k", width=1))
                item.setZValue(10)  # above the curves it marks a point of
                self._marker_items[name] = item
            self._marker_items[name].setData([x], [y])
        self._dirty = False
        return True


class DivergingImage(pg.GraphicsLayoutWidget):
    """An image with axes in um and a colour bar, on a diverging map centred on zero."""

    def __init__(self, title: str = "", bar_label: str = "flux", bar_units: str = "Phi0", parent=None) -> None:
        super().__init__(parent=parent)
        self.plot = self.addPlot(title=title)
        self.plot.setAspectLocked(True)
        self.plot.setLabel("bottom", "x", units="um")
        self.plot.setLabel("left", "y", units="um")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.image_item = pg.ImageItem()
        self.plot.addItem(self.image_item)
        self.colour_bar = pg.ColorBarItem(values=(-1, 1), colorMap=diverging_colormap(), interactive=False,
                                          width=15)
        self.colour_bar.setImageItem(self.image_item, insert_in=self.plot)
        self.colour_bar.axis.setWidth(None)  # wide enough for the tick labels and the label beside them
        self.set_bar_label(bar_label, bar_units)
        self.colour_bar.hide()  # no scale until there are values to scale
        self.image: np.ndarray | None = None
        self.rows_filled = 0
        self.redraws = 0
        self._dirty = False

    def set_bar_label(self, label: str, units: str) -> None:
        """Name and units of the colour bar's values (units SI-prefixed by pyqtgraph: uPhi0, mA/m)."""
        self.colour_bar.axis.setLabel(label, units=units or None)

    def reset(self, rows: int, columns: int, x_range_um: tuple[float, float], y_range_um: tuple[float, float],
              title: str = "") -> None:
        """A new empty (NaN) image of rows x columns pixels spanning the given ranges (um)."""
        self.image = np.full((rows, columns), np.nan)
        self.colour_bar.hide()
        self.rows_filled = 0
        x0, x1 = sorted(x_range_um)
        y0, y1 = sorted(y_range_um)
        dx = (x1 - x0) / max(columns - 1, 1)
        dy = (y1 - y0) / max(rows - 1, 1)
        self.image_item.setImage(self.image, autoLevels=False)
        self.image_item.setRect(pg.QtCore.QRectF(x0 - dx / 2, y0 - dy / 2, (x1 - x0) + dx, (y1 - y0) + dy))
        if title:
            self.plot.setTitle(title)
        self._dirty = True

    def set_image(self, image: np.ndarray, x_range_um, y_range_um, title: str = "") -> None:
        """Show a whole image at once (the run browser, the current density)."""
        rows, columns = image.shape
        self.reset(rows, columns, x_range_um, y_range_um, title)
        self.image[:] = image
        self.rows_filled = rows
        self.redraw()

    def set_line(self, row: int, values) -> None:
        """Fill one row (a scanned line); a line that does not fit the image is ignored."""
        if self.image is None or not 0 <= row < self.image.shape[0] or np.shape(values) != self.image.shape[1:]:
            return
        self.image[row] = values
        self.rows_filled = max(self.rows_filled, row + 1)
        self._dirty = True

    def redraw(self) -> bool:
        """Push the buffer to the screen with levels symmetric about zero; True if redrawn."""
        if not self._dirty or self.image is None:
            return False
        finite = self.image[np.isfinite(self.image)]
        span = float(np.max(np.abs(finite))) if finite.size else 1.0
        self._show_levels(finite.size > 0, (-(span or 1.0), span or 1.0))
        return True

    def _show_levels(self, has_data: bool, levels: tuple[float, float]) -> None:
        self.image_item.setImage(self.image, autoLevels=False, levels=levels)
        self.colour_bar.setLevels(levels)
        self.colour_bar.setVisible(has_data)
        self._dirty = False
        self.redraws += 1


class MagnitudeImage(DivergingImage):
    """A non-negative image (|K|) on a sequential map from zero."""

    def __init__(self, title: str = "", bar_label: str = "|K|", bar_units: str = "A/m", parent=None) -> None:
        super().__init__(title, bar_label, bar_units, parent)
        self.colour_bar.setColorMap(pg.colormap.get("inferno"))
        self.streamlines = pg.PlotDataItem(pen=pg.mkPen((80, 170, 255), width=1), connect="finite")
        self.plot.addItem(self.streamlines)

        self.signed = False  # a signed map (a fitted plane) instead of a magnitude

    def set_streamlines(self, x_um: np.ndarray, y_um: np.ndarray) -> None:
        """Draw the current's streamlines (um; NaN separates the lines) over |K|."""
        self.streamlines.setData(x_um, y_um)

    def show_magnitude(self) -> None:
        """Back to a magnitude (|K|) on the sequential map."""
        self.signed = False
        self.colour_bar.setColorMap(pg.colormap.get("inferno"))

    def show_signed(self, image: np.ndarray, x_range_um, y_range_um, title: str, label: str, units: str) -> None:
        """A signed map (a plane fitted to touchdowns) on the diverging map, without streamlines."""
        self.signed = True
        self.colour_bar.setColorMap(diverging_colormap())
        self.streamlines.setData([], [])
        self.set_bar_label(label, units)
        self.set_image(image, x_range_um, y_range_um, title)

    def redraw(self) -> bool:
        if self.signed:
            return super().redraw()
        if not self._dirty or self.image is None:
            return False
        finite = self.image[np.isfinite(self.image)]
        top = float(np.max(finite)) if finite.size else 1.0
        self._show_levels(finite.size > 0, (0.0, top or 1.0))  # |K| is never negative: the scale starts at 0
        return True
