"""The demo's figures, read from the artists matplotlib draws (display coordinates of
the rendered figure, as the PNG has them): annotations and legends clear of the data,
one shared colour scale where panels are compared, labels that agree, and the I-V
curves of both bias signs. Each demo part runs once per session, on the twin."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.transforms import Bbox

from sqm.session import run_procedure
from sqm_paper.demo import DEMO_PARTS, bias_loop_plots, field_loop_plots, image_plots, thermal_plots, transport_plots
from sqm_paper.figures import transport_figure

UA = 1e-6
PROCEDURES = {name: procedure for name, procedure, _ in DEMO_PARTS}


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """demo_run(name): the run file of that demo part, run once per session."""
    runs = {}

    def run(name: str):
        if name not in runs:
            result = run_procedure(PROCEDURES[name], out_dir=tmp_path_factory.mktemp(name))
            assert result.outcome.status == "completed", result.outcome.error
            runs[name] = result.path
        return runs[name]

    return run


def _drawn(figure):
    figure.canvas.draw()  # final positions, as saved
    return figure.canvas.get_renderer()


def _marker_radius(line) -> float:
    """Half the marker's size in display pixels (0 without markers)."""
    if line.get_marker() in (None, "None", "", " "):
        return 0.0
    return line.get_markersize() * line.figure.dpi / 72 / 2


def _line_meets(line, box) -> bool:
    """Whether a drawn line (its segments, or its markers with their size) touches `box`."""
    if not line.get_visible():
        return False
    path = line.get_transform().transform_path(line.get_path())
    if line.get_linestyle() not in ("None", "", " ") and len(path.vertices) > 1 and path.intersects_bbox(box, False):
        return True
    radius = _marker_radius(line)
    points = line.get_transform().transform(line.get_xydata())
    return bool(np.any((points[:, 0] >= box.x0 - radius) & (points[:, 0] <= box.x1 + radius)
                       & (points[:, 1] >= box.y0 - radius) & (points[:, 1] <= box.y1 + radius)))


def _data_lines(figure):
    return [line for axes in figure.axes for line in axes.get_lines() if not line.get_label().startswith("_")]


# Fig. 3a-b: the loop's numbers and the legend where no curve passes ------------------------
@pytest.fixture(scope="module")
def bias_loop(demo_run):
    plots, _ = bias_loop_plots(demo_run("fig3_bias_loop"))
    return plots


@pytest.mark.parametrize("name", ["fig3a_bias_loop.png", "fig3b_induced_loop.png"])
def test_bias_loop_annotations_sit_where_no_curve_passes(bias_loop, name):
    figure = bias_loop[name]
    renderer = _drawn(figure)
    (axes,) = figure.axes
    annotations = [text for text in axes.texts if text.get_text().strip()]
    if name == "fig3a_bias_loop.png":
        assert any("switching" in text.get_text() for text in annotations)
    boxes = [text.get_window_extent(renderer) for text in annotations] + [axes.get_legend().get_window_extent(renderer)]
    lines = axes.get_lines()  # the branches, the virgin-state marker, the zero lines
    assert len(lines) >= 4
    for box in boxes:
        crossing = [line.get_label() for line in lines if _line_meets(line, box)]
        assert not crossing, f"{name}: {crossing} pass through an annotation at {box}"


def test_the_line_test_sees_a_curve_through_a_box(bias_loop):
    figure = bias_loop["fig3a_bias_loop.png"]
    _drawn(figure)
    (axes,) = figure.axes
    green = next(line for line in axes.get_lines() if line.get_label() == "up")
    x, y = axes.transData.transform(green.get_xydata()[len(green.get_xydata()) // 2])
    assert _line_meets(green, Bbox([[x - 3, y - 3], [x + 3, y + 3]]))
    assert not _line_meets(green, Bbox([[-40, -40], [-30, -30]]))


# Fig. 3f: the legend covers no data point ------------------------------------------------
def test_thermal_legend_covers_no_data_marker(demo_run):
    plots, summary = thermal_plots(demo_run("fig3f_thermal"))
    figure = plots["fig3f_thermal.png"]
    renderer = _drawn(figure)
    legends = [axes.get_legend() for axes in figure.axes if axes.get_legend() is not None] + figure.legends
    assert legends
    lines = _data_lines(figure)
    assert {line.get_marker() for line in lines} >= {"o", "s"}  # remanence and resistance, on two y axes
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for line in lines:
            radius = _marker_radius(line)
            points = line.get_transform().transform(line.get_xydata())
            covered = ((points[:, 0] + radius >= box.x0) & (points[:, 0] - radius <= box.x1)
                       & (points[:, 1] + radius >= box.y0) & (points[:, 1] - radius <= box.y1))
            assert not covered.any(), f"the legend covers {line.get_label()} at {line.get_xydata()[covered]}"
    assert summary["retained_fraction"][4.0] == pytest.approx(0.5, abs=0.1)  # the key point, half erased


# Fig. 4a: one colour scale for all panels, nothing clipped --------------------------------
def test_field_images_share_one_colour_scale_and_show_their_full_range(demo_run):
    plots, _ = field_loop_plots(demo_run("fig4_field_loop"))
    figure = plots["fig4a_field_images.png"]
    _drawn(figure)
    images = [image for axes in figure.axes for image in axes.get_images()]
    assert len(images) == 7
    colourbars = [axes for axes in figure.axes if axes.get_label() == "<colorbar>"]
    assert len(colourbars) == 1, "one colour bar for all panels"
    limits = {(image.norm.vmin, image.norm.vmax) for image in images}
    assert len(limits) == 1, f"each panel has its own scale: {sorted(limits)}"
    ((low, high),) = limits
    assert low == -high  # a signed flux, zero in the middle of the map
    for image in images:
        values = np.asarray(image.get_array())
        title = image.axes.get_title()
        assert low <= np.nanmin(values) and np.nanmax(values) <= high, f"{title}: clipped"
    assert len({tuple(image.get_extent()) for image in images}) == 1
    assert len({(image.axes.get_xlim(), image.axes.get_ylim()) for image in images}) == 1


# Fig. 2: the current-density panels say |K|, as their colour bars ---------------------------
def test_current_density_panels_are_titled_with_the_quantity_of_their_colour_bar(demo_run):
    plots, _ = image_plots(demo_run("fig2_images"))
    figure = plots["fig2_images.png"]
    images = [image for axes in figure.axes for image in axes.get_images()]
    sheet = [image for image in images if image.colorbar is not None and "|K|" in image.colorbar.ax.get_ylabel()]
    assert len(sheet) == 3  # f, h, k
    for image in sheet:
        assert image.colorbar.ax.get_ylabel() == "|K| (A/m)"
        assert "|K|" in image.axes.get_title()
    for axes in figure.axes:
        assert "J" not in axes.get_title().split(), axes.get_title()


# Fig. 2c: the I-V curves of both bias signs ------------------------------------------------
def test_transport_figure_plots_both_halves_of_a_sweep():
    current = np.concatenate([np.linspace(0, 300, 151), np.linspace(298, -300, 300), np.linspace(-298, 0, 150)]) * UA
    voltage = np.where(np.abs(current) > 240 * UA, current * 2.0, 0.0)
    figure = transport_figure([(1.5, current, voltage)], np.array([1.5, 7.0]), np.array([0.0, 2.0]))
    (line,) = [line for line in figure.axes[0].get_lines() if line.get_label() == "1.5 K"]
    x, y = line.get_xdata(), line.get_ydata()
    assert x.min() == pytest.approx(-300) and x.max() == pytest.approx(300)  # uA, both signs
    assert y.min() < 0 < y.max()
    low, high = figure.axes[0].get_xlim()
    assert low < -300 and high > 300


def test_the_demo_iv_curves_sweep_both_signs_with_a_critical_current_each(demo_run):
    plots, summary = transport_plots(demo_run("fig2c_transport"))
    axes = plots["fig2c_transport.png"].axes[0]
    curves = [line for line in axes.get_lines() if line.get_label().endswith(" K")]
    assert len(curves) == 3
    for line in curves:
        current, voltage = line.get_xdata(), line.get_ydata()  # uA, uV
        assert current.min() <= -300 and current.max() >= 300
        assert voltage[current < -300].max() < -100 and voltage[current > 300].min() > 100
    critical = summary["critical_current_A"]
    assert list(critical) == ["1.50 K", "3.00 K", "4.50 K"]
    for kelvin, by_sign in critical.items():
        assert by_sign["positive"] > 0 > by_sign["negative"], kelvin
        # a symmetric film, within three 2 uA steps: at 4.5 K the 1 uV criterion meets the ohmic share of a
        # partly normal film, while the temperature still settles during the first, positive, half
        assert abs(by_sign["negative"]) == pytest.approx(by_sign["positive"], abs=6 * UA), kelvin
    assert critical["1.50 K"]["positive"] == pytest.approx(240 * UA, abs=8 * UA)
    positive = [by_sign["positive"] for by_sign in critical.values()]
    assert positive[0] > positive[1] > positive[2]  # I_c falls as the film warms


def test_the_field_and_bias_remanences_are_compared_on_the_pixels_both_images_cover(demo_run):
    """The number the README sets beside the paper's "appears similar": one mechanism with a
    single sign leaves the lower edge polarised one way by +200 uA and the other by +1.51 G."""
    from sqm_paper.demo import remanence_correlation

    r = remanence_correlation(demo_run("fig2_images"), demo_run("fig4_field_loop"))
    assert -1 <= r < -0.5
