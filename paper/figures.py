"""Figures of runs, after the paper's panels. Matplotlib, no screen needed.

Each `*_figure` function returns a matplotlib `Figure`, laid out, on an Agg canvas and
outside pyplot (nothing global is touched, nothing needs closing), so its artists can be
inspected as they will be drawn; `save(figure, path)` writes the PNG.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sqm.analysis.bias_loop import BiasLoopFeatures
from sqm.analysis.loops import remove_linear, split_branches

# The paper's colours for Fig. 3a: virgin black, down magenta, up green.
BRANCH_STYLE = [("virgin 0 \u2192 +I", "black"), ("down", "magenta"), ("up", "green")]
UA, MPHI0 = 1e-6, 1e-3


def new_figure(rows: int = 1, columns: int = 1, **options):
    """A Figure on an Agg canvas and its axes, as `plt.subplots` would give them."""
    figure = Figure(figsize=options.pop("figsize"), dpi=options.pop("dpi"), layout=options.pop("layout", None))
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, columns, **options)


def lay_out(figure: Figure) -> Figure:
    """Tight layout, unless the figure has a layout engine of its own."""
    if figure.get_layout_engine() is None:
        figure.tight_layout()
    return figure


def save(figure: Figure, path: Path) -> Path:
    """Write a figure as its function built it (laid out) to `path`, its folder created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def _plot_branches(axes, current, flux, branch) -> None:
    for index, (x, y) in enumerate(split_branches(current, flux, branch)):
        label, colour = BRANCH_STYLE[index] if index < len(BRANCH_STYLE) else (f"branch {index}", None)
        axes.plot(x / UA, y / MPHI0, ".-", ms=2.5, lw=0.8, color=colour, label=label)
    axes.plot([0], [0], "o", mfc="none", mec="gold", ms=9, mew=2, label="virgin state")
    axes.axhline(0, color="0.7", lw=0.6)
    axes.axvline(0, color="0.7", lw=0.6)
    axes.set_xlabel("bias current I$_b$ (\u00b5A)")
    # Beside the axes: a loop fills its axes, and wherever a box sat inside, some branch would cross it.
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8)


def bias_loop_figure(current, flux, branch, summary: BiasLoopFeatures) -> Figure:
    """Fig. 3a: flux at the park point versus bias current, branches coloured."""
    figure, axes = new_figure(figsize=(7.0, 4.0), dpi=150)
    _plot_branches(axes, current, flux, branch)
    axes.set_ylabel("\u03a6$_d$ (m\u03a6$_0$)")
    axes.set_title("Bias-current hysteresis at the park point (Fig. 3a)", fontsize=10)
    text = (
        f"virgin minimum {summary.virgin_minimum / UA:.1f} \u00b5A\n"
        f"zero crossing {summary.virgin_zero_crossing / UA:.1f} \u00b5A\n"
        f"switching {summary.switching_current / UA:.1f} \u00b5A\n"
        f"remanence {summary.remanence / MPHI0:+.3f} m\u03a6$_0$"
    )
    axes.text(1.02, 0.0, text, transform=axes.transAxes, ha="left", va="bottom", fontsize=8)
    return lay_out(figure)


def induced_loop_figure(current, flux, branch, summary: BiasLoopFeatures) -> Figure:
    """Fig. 3b: the loop with the linear (Oersted) part of the virgin branch removed."""
    induced = remove_linear(current, flux, summary.oersted_slope)
    figure, axes = new_figure(figsize=(7.0, 4.0), dpi=150)
    _plot_branches(axes, np.asarray(current), induced, branch)
    axes.set_ylabel("\u03a6$_d$ \u2212 k I$_b$ (m\u03a6$_0$)")
    axes.set_title(
        f"Induced flux, Oersted slope {summary.oersted_slope:.2f} \u00b5\u03a6$_0$/\u00b5A removed (Fig. 3b)",
        fontsize=9,
    )
    return lay_out(figure)


def _image_axes(axes, image, x, y, title, cmap="RdBu_r", symmetric=True, label="m\u03a6$_0$", scale=1e3,
                limit=None, colourbar=True):
    """One image panel. A symmetric scale is +-`limit` (in the scaled units) when given, else
    the 99th percentile of |values|; `colourbar=False` leaves the bar to the caller."""
    values = image * scale
    # Symmetric limits at the 99th percentile: the leads' field would otherwise wash out the flake.
    if symmetric and limit is None:
        limit = np.nanpercentile(np.abs(values), 99)
    shown = axes.imshow(
        values,
        origin="lower",
        extent=[x[0] / UM_, x[-1] / UM_, y[0] / UM_, y[-1] / UM_],
        cmap=cmap,
        vmin=-limit if symmetric else None,
        vmax=limit if symmetric else None,
        interpolation="nearest",
    )
    axes.set_title(title, fontsize=9)
    axes.set_xlabel("x (\u00b5m)", fontsize=8)
    axes.set_ylabel("y (\u00b5m)", fontsize=8)
    axes.tick_params(labelsize=7)
    if colourbar:
        _colourbar(axes.figure.colorbar(shown, ax=axes, fraction=0.046, pad=0.02), label)
    return shown


def _colourbar(colourbar, label: str):
    colourbar.set_label(label, fontsize=7)
    colourbar.ax.tick_params(labelsize=7)
    return colourbar


UM_ = 1e-6


def current_density_axes(axes, kx, ky, x, y, title):
    """|K| in greyscale with streamlines of the current, as the paper's Fig. 2 f/h/k."""
    magnitude = np.hypot(kx, ky)
    _image_axes(axes, magnitude, x, y, title, cmap="gray", symmetric=False, label="|K| (A/m)", scale=1.0)
    # Streamlines only where current flows: in the noise they would trace random loops.
    flowing = magnitude > 0.05 * np.nanpercentile(magnitude, 99)
    axes.streamplot(x / UM_, y / UM_, np.where(flowing, kx, np.nan), np.where(flowing, ky, np.nan),
                    density=1.1, color="tab:blue", linewidth=0.6, arrowsize=0.6)


def image_panels_figure(panels: list[dict], title: str, columns: int = 3, shared_scale: bool = False) -> Figure:
    """A grid of flux images and current-density maps.

    Each panel: {"kind": "flux"|"susceptibility"|"current", "title", "x", "y", and "image" or "kx","ky"}.
    `shared_scale` (flux panels only, to be compared with each other): one symmetric colour
    scale over the full range of all panels, one colour bar, and the same extent in each.
    """
    if shared_scale:
        return _shared_scale_panels(panels, title, columns)
    rows = int(np.ceil(len(panels) / columns))
    figure, grid = new_figure(rows, columns, figsize=(4.2 * columns, 3.0 * rows), dpi=110, squeeze=False)
    for axes, panel in zip(grid.flat, panels):
        if panel["kind"] == "flux":
            _image_axes(axes, panel["image"], panel["x"], panel["y"], panel["title"])
        elif panel["kind"] == "susceptibility":
            _image_axes(axes, panel["image"], panel["x"], panel["y"], panel["title"], cmap="viridis",
                        symmetric=False, label="Φ$_0$/A", scale=1.0)
        else:
            current_density_axes(axes, panel["kx"], panel["ky"], panel["x"], panel["y"], panel["title"])
    for axes in list(grid.flat)[len(panels):]:
        axes.axis("off")
    figure.suptitle(title, fontsize=11)
    return lay_out(figure)


def _shared_scale_panels(panels: list[dict], title: str, columns: int) -> Figure:
    if any(panel["kind"] != "flux" for panel in panels):
        raise ValueError("a shared colour scale is for flux panels only")
    rows = int(np.ceil(len(panels) / columns))
    figure, grid = new_figure(rows, columns, figsize=(4.0 * columns + 0.8, 3.2 * rows + 0.4), dpi=110, squeeze=False,
                              layout="constrained")
    # The full range, not a percentile: a uniformly magnetised domain fills more than 1 % of
    # the pixels and would be clipped flat; the same limits in every panel make them comparable.
    limit = max(np.nanmax(np.abs(panel["image"])) for panel in panels) * 1e3
    extent = {name: (min(np.nanmin(panel[name]) for panel in panels), max(np.nanmax(panel[name]) for panel in panels))
              for name in ("x", "y")}
    shown = None
    for axes, panel in zip(grid.flat, panels):
        shown = _image_axes(axes, panel["image"], panel["x"], panel["y"], panel["title"], limit=limit,
                            colourbar=False)
        axes.set_xlim(*(value / UM_ for value in extent["x"]))
        axes.set_ylim(*(value / UM_ for value in extent["y"]))
    for axes in list(grid.flat)[len(panels):]:
        axes.axis("off")
    _colourbar(figure.colorbar(shown, ax=grid.ravel().tolist(), shrink=0.8, pad=0.01, aspect=30), "m\u03a6$_0$")
    figure.suptitle(title, fontsize=11)
    return figure


def edge_cut_figure(distance, profiles, currents, peak_current, jump=None) -> Figure:
    """Fig. 3c-d: flux line cuts across the edge per bias, and the peak edge current density
    with its low-bias trend and the jump (an `EdgeCurrentJump`, or None)."""
    figure, (left, right) = new_figure(1, 2, figsize=(10, 3.8), dpi=130)
    colours = matplotlib.colormaps["viridis"](np.linspace(0, 1, len(currents)))
    for profile, current, colour in zip(profiles, currents, colours):
        left.plot(distance / UM_, profile / MPHI0, color=colour, lw=1, label=f"{current / UA:.0f} \u00b5A")
    left.set_xlabel("distance along the cut (\u00b5m)")
    left.set_ylabel("\u03a6 (m\u03a6$_0$)")
    left.set_title("Line cuts across the lower edge (Fig. 3c)", fontsize=10)
    left.legend(fontsize=6, ncol=2)
    right.plot(currents / UA, peak_current, "o-", color="black", ms=4)
    if jump is not None:
        trend_to = np.linspace(0, jump.first_off_trend, 2)
        right.plot(trend_to / UA, jump.trend(trend_to), "--", color="grey", lw=1, label="low-bias trend")
        right.axvspan(jump.last_on_trend / UA, jump.first_off_trend / UA, color="tab:red", alpha=0.2,
                      label=f"jump {jump.last_on_trend / UA:.0f}-{jump.first_off_trend / UA:.0f} \u00b5A")
        right.legend(fontsize=8, loc="upper left")
    right.set_xlabel("bias current I$_b$ (\u00b5A)")
    right.set_ylabel("peak edge current density (A/m)")
    right.set_title("Peak edge current density (Fig. 3d)", fontsize=10)
    return lay_out(figure)


def oersted_subtraction_figure(remanent, subtracted, x, y, correlation: float) -> Figure:
    """Fig. S2a: remanent image after +200 uA beside Flux(200) - 2 Flux(100)."""
    figure, (left, right) = new_figure(1, 2, figsize=(9, 3.4), dpi=120)
    _image_axes(left, remanent, x, y, "remanent after +200 \u00b5A")
    _image_axes(right, subtracted, x, y, f"\u03a6(200) \u2212 2\u03a6(100)   (r = {correlation:.3f})")
    return lay_out(figure)


def transport_figure(iv_curves: list[tuple[float, np.ndarray, np.ndarray]], temperature, resistance) -> Figure:
    """Fig. 2c and S1a: I-V curves (label: temperature in K), each the whole sweep in the
    order recorded (both bias signs), and R(T)."""
    figure, (left, right) = new_figure(1, 2, figsize=(10, 3.8), dpi=130)
    for kelvin, current, voltage in iv_curves:
        left.plot(current / UA, voltage * 1e6, lw=1, label=f"{kelvin:.1f} K")
    left.axhline(0, color="0.7", lw=0.6)
    left.axvline(0, color="0.7", lw=0.6)
    left.set_xlabel("bias current (\u00b5A)")
    left.set_ylabel("voltage (\u00b5V)")
    left.set_title("I-V of the lower domain (Fig. 2c)", fontsize=10)
    left.legend(fontsize=8)
    order = np.argsort(temperature)
    right.plot(temperature[order], resistance[order], "o-", color="magenta", ms=4)
    right.set_xlabel("temperature (K)")
    right.set_ylabel("resistance (\u03a9)")
    right.set_title("R(T) (Fig. S1a)", fontsize=10)
    return lay_out(figure)


def field_loop_figure(field, lower, upper) -> Figure:
    """Fig. 4b: flux of the lower (red) and upper (blue) domains versus field."""
    figure, axes = new_figure(figsize=(5.2, 4.0), dpi=150)
    axes.plot(field / 1e-4, lower / MPHI0, ".-", color="red", ms=2.5, lw=0.8, label="lower domain")
    axes.plot(field / 1e-4, upper / MPHI0, ".-", color="blue", ms=2.5, lw=0.8, label="upper domain")
    axes.plot([0], [0], "o", mfc="none", mec="gold", ms=9, mew=2, label="virgin state")
    axes.axhline(0, color="0.7", lw=0.6)
    axes.axvline(0, color="0.7", lw=0.6)
    axes.set_xlabel("field H (G)")
    axes.set_ylabel("\u03a6 (m\u03a6$_0$)")
    axes.set_title("Hysteretic switching by Meissner current (Fig. 4b)", fontsize=10)
    axes.legend(fontsize=8)
    return lay_out(figure)


def thermal_erasure_figure(anneal, retained, resistance_anneal, resistance) -> Figure:
    """Fig. 3f: retained remanence versus anneal temperature, beside the resistance."""
    figure, axes = new_figure(figsize=(5.2, 4.3), dpi=150, layout="constrained")
    axes.plot(anneal, retained, "o-", color="black", label="remanence (retained fraction)")
    axes.set_xlabel("anneal temperature T$_a$ (K)")
    axes.set_ylabel("retained remanence")
    axes.axhline(0, color="0.7", lw=0.6)
    twin = axes.twinx()
    twin.plot(resistance_anneal, resistance, "s-", color="magenta", ms=4, label="resistance at T$_a$")
    twin.set_ylabel("resistance (\u03a9)", color="magenta")
    axes.set_title("Thermal erasure of the remanence (Fig. 3f)", fontsize=10)
    lines = axes.get_lines()[:1] + twin.get_lines()
    # Below the axes: inside, the two curves leave no corner free, and the legend would hide
    # the half-erased point around 4 K, the figure's point.
    figure.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="outside lower center", ncol=2)
    return lay_out(figure)
