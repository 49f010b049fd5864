"""Live views of a running procedure: sweep curves, the filling image, |K|, probe loops,
and for line cuts the profiles and their peak edge current per bias (Fig. 3c-d).

Events (dicts from the runner, already in the GUI thread) only update buffers; a
timer redraws whatever changed at most `max_redraws_per_second` times a second, so a
fast twin run cannot flood the event loop with repaints.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PyQt5.QtCore import QTimer
from PyQt5.QtWidgets import QGridLayout, QWidget

from sqm.procedure_file import ProcedureFile

from .plot_widgets import DivergingImage, GrowingCurves, MagnitudeImage

TESLA_PER_GAUSS = 1e-4
BackgroundRunner = Callable[[Callable[[], object], Callable[[object, object], None]], None]


class LiveViews(QWidget):
    """Sweep curves | image ; current density | probe loops, fed by runner events."""

    def __init__(self, pickup_radius_m: float, run_in_background: BackgroundRunner,
                 max_redraws_per_second: float = 40.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pickup_radius_m = pickup_radius_m
        self._run_in_background = run_in_background
        self.sweep = GrowingCurves("sweep")
        self.image = DivergingImage("image (waiting for a raster scan)")
        self.current_density = MagnitudeImage("sheet current |K| (after an image)")
        self.probes = GrowingCurves("probe points (field sweeps)")
        layout = QGridLayout(self)
        layout.addWidget(self.sweep, 0, 0)
        layout.addWidget(self.image, 0, 1)
        layout.addWidget(self.probes, 1, 0)
        layout.addWidget(self.current_density, 1, 1)
        self._steps: dict[int, object] = {}
        self._current_step: object | None = None
        self.reconstructions = 0
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, int(1000 / max_redraws_per_second)))
        self._timer.timeout.connect(self.redraw)
        self._timer.start()

    # Feeding ------------------------------------------------------------------
    def begin_run(self, procedure_file: ProcedureFile) -> None:
        """Know the run's steps (their parameters give the axes and the image geometry)."""
        self._steps = {step.index: step.procedure for step in procedure_file.steps}

    def handle_event(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "step_started":
            self._step_started(self._steps.get(event["step"]))
        elif kind == "point":
            self._point(event["values"])
        elif kind == "line":
            values = np.asarray(event["values"], dtype=float)
            if getattr(self._current_step, "name", "") == "line_cut":
                self._line_cut_profile(event["row"], values)
            else:
                self.image.set_line(event["row"], values)
        elif kind == "step_finished":
            self._step_finished(event)

    def _step_started(self, procedure) -> None:
        self._current_step = procedure
        if procedure is None:
            return
        name = procedure.name
        if name == "bias_sweep":
            self.sweep.reset(("bias current", "A"), ("flux", "Phi0"))
            self.sweep.setTitle("bias sweep: flux at the park point")
        elif name == "field_sweep":
            self.sweep.reset(("field [G]", ""), ("flux", "Phi0"))
            self.sweep.setTitle(f"field sweep: flux at {next(iter(procedure.probes))}")
            self.probes.reset(("field [G]", ""), ("flux", "Phi0"))
        elif name == "raster_scan":
            xs, ys = procedure.x_pixels * 1e6, procedure.y_pixels * 1e6
            bias = procedure.bias_current
            field = procedure.field
            held = ", ".join(part for part in (
                f"{bias * 1e6:g} uA" if bias is not None else "",
                f"{field / TESLA_PER_GAUSS:g} G" if field is not None else "") if part)
            self.image.reset(len(ys), len(xs), (xs[0], xs[-1]), (ys[0], ys[-1]),
                             f"{procedure.signal} image {len(xs)} x {len(ys)}" + (f" at {held}" if held else ""))
        elif name == "line_cut":
            self.sweep.reset(("distance along the cut", "m"), ("flux", "Phi0"))
            self.sweep.setTitle("line cut: flux across the edge, one curve per bias")
            self.probes.reset(("bias current", "A"), ("peak edge current", "A/m"))
            self.probes.setTitle("peak edge current density per bias")
        elif name in ("iv_curve", "resistance_vs_temperature"):
            self.sweep.reset(("", ""), ("", ""))
            self.sweep.setTitle(name)

    def _point(self, values: dict) -> None:
        procedure = self._current_step
        name = getattr(procedure, "name", "")
        branch = int(values.get("branch", 0))
        if name == "bias_sweep":
            virgin = branch == 0 and abs(procedure.points[0]) < 1e-12
            label = f"branch {branch}" + (" (virgin)" if virgin else "")
            self.sweep.add_point(branch, values["bias_current"], values["flux"], label, emphasis=virgin)
        elif name == "field_sweep":
            field_g = values["field"] / TESLA_PER_GAUSS
            probe_names = list(procedure.probes)
            self.sweep.add_point(branch, field_g, values[f"flux_{probe_names[0]}"], f"branch {branch}")
            for probe in probe_names:
                self.probes.add_point(probe, field_g, values[f"flux_{probe}"], probe)
        elif len(values) >= 2:
            (x_name, x), (y_name, y) = list(values.items())[:2]
            if self.sweep.point_count() == 0:
                self.sweep.setLabel("bottom", x_name)
                self.sweep.setLabel("left", y_name)
            self.sweep.add_point(branch if "branch" in values else 0, float(x), float(y), y_name)

    def _line_cut_profile(self, row: int, profile: np.ndarray) -> None:
        from sqm.analysis.edge_profile import peak_current_across_edge

        procedure = self._current_step
        if not 0 <= row < len(procedure.bias_currents):
            return
        bias = procedure.bias_currents[row]
        distance = np.arange(profile.size) * procedure.spacing
        self.sweep.set_curve(row, distance, profile, f"{bias * 1e6:g} uA")
        peak = peak_current_across_edge(profile, procedure.spacing, procedure.height, self.pickup_radius_m)
        self.probes.add_point("peak", bias, peak, "peak |K|")

    def _step_finished(self, event: dict) -> None:
        procedure = self._current_step
        if getattr(procedure, "name", "") != "raster_scan" or event.get("status") != "completed":
            return
        if procedure.signal != "flux" or self.image.image is None:
            return
        image = self.image.image.copy()
        xs, ys = procedure.x_pixels * 1e6, procedure.y_pixels * 1e6
        pixel, height, radius = procedure.pixel_size, procedure.height, self.pickup_radius_m

        def reconstruct():
            from sqm.analysis.currents import reconstruct_current

            from .streamlines import streamline_paths

            kx, ky = reconstruct_current(image, pixel, height, radius)
            order_x, order_y = np.argsort(xs), np.argsort(ys)  # streamplot wants increasing axes
            paths = streamline_paths(xs[order_x], ys[order_y], kx[np.ix_(order_y, order_x)],
                                     ky[np.ix_(order_y, order_x)])
            return np.hypot(kx, ky), paths

        def show(result, error):
            if error is not None:
                self.current_density.plot.setTitle(f"|K|: not reconstructed ({error})")
                return
            magnitude, paths = result
            self.reconstructions += 1
            self.current_density.set_image(magnitude, (xs[0], xs[-1]), (ys[0], ys[-1]), "sheet current |K| [A/m]")
            self.current_density.set_streamlines(*paths)

        self._run_in_background(reconstruct, show)

    # Drawing ------------------------------------------------------------------
    def redraw(self) -> None:
        """Redraw the views whose data changed (called by the throttling timer)."""
        self.sweep.redraw()
        self.probes.redraw()
        self.image.redraw()
        self.current_density.redraw()

    def stop(self) -> None:
        self._timer.stop()
