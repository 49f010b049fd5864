"""Streamlines of a sheet current for the GUI, traced by matplotlib's streamplot
(offscreen, no pyplot state) and handed to pyqtgraph as one NaN-separated polyline."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def streamline_paths(x_um: np.ndarray, y_um: np.ndarray, kx: np.ndarray, ky: np.ndarray,
                     density: float = 1.2, threshold: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """x, y (um) of streamlines through the current (Kx, Ky) [A/m] on pixel centres
    x_um (nx,), y_um (ny,), images indexed [iy, ix]; segments separated by NaN.
    Where |K| is below `threshold` of its 99th percentile nothing is traced (noise)."""
    magnitude = np.hypot(kx, ky)
    flowing = magnitude > threshold * np.nanpercentile(magnitude, 99)
    axes = Figure().add_subplot()
    lines = axes.streamplot(x_um, y_um, np.where(flowing, kx, np.nan), np.where(flowing, ky, np.nan),
                            density=density).lines
    xs, ys = [], []
    for segment in lines.get_segments():
        xs.extend([segment[0, 0], segment[-1, 0], np.nan])
        ys.extend([segment[0, 1], segment[-1, 1], np.nan])
    return np.asarray(xs), np.asarray(ys)
