"""The nano-SQUID's characterisation watched in the window: its I-V, both polarities of its
interference pattern, the working point starred on its V-I plot, and the numbers the steps
note shown below the plots in the units they are read in."""

from __future__ import annotations

import re
import time

import h5py
import numpy as np
import pytest
import yaml
from PyQt5.QtTest import QTest

from sqm.events import ResultNoted, RunFinished, SeriesDeclared, StepFinished, StepStarted
from sqm.gui.live_views import LiveViews, format_result
from sqm.gui.main_window import MainWindow
from sqm.readback import find_step, read_steps
from sqm.station import Station
from tests.conftest import CONFIGS, twin_station_text

from .conftest import sqm_threads
from .test_operator_defects import synchronous

pytest.importorskip("pytestqt")

# About an hour of lab time in seconds: the twin's computing, not its clock, sets how long the run takes.
SQUID_PACE = 100_000
GAUSS = 1e4  # the live views show fields in G
PERIOD_MT = 1.723  # Phi0 / A_eff of the twin's sensor (docs/squid.md)


def coarse_characterisation() -> str:
    """configs/procedures/squid_characterisation.yaml, its ranges kept, in coarser steps (a few
    seconds instead of minutes; the interference's period is still found within 0.1 %)."""
    data = yaml.safe_load((CONFIGS / "procedures" / "squid_characterisation.yaml").read_text())
    coarser = {
        "squid_iv": {"step": "5 uA"},
        "squid_interference": {"field_step": "1 G", "bias_step": "2 uA"},
        "working_point": {"field_step": "0.5 G", "bias_step": "8 uA", "refine": 2, "refinements": 1},
    }
    for step in data["steps"]:
        ((name, parameters),) = step.items()
        parameters.update(coarser.get(name, {}))
    data["description"] = "GUI test: the SQUID's characterisation in coarse steps"
    return yaml.safe_dump(data, sort_keys=False)


def notes(path, procedure: str) -> dict:
    """The attributes a step of the run file holds (its notes among them)."""
    step = find_step(read_steps(path), procedure)
    with h5py.File(path, "r") as h5:
        return dict(h5[step.group].attrs)


def wait_until(condition, timeout_s: float) -> None:
    """Turn the Qt event loop until `condition()` (the run's events arrive through it)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not done within {timeout_s} s"
        QTest.qWait(20)


def axis_label(curves, side: str) -> tuple[str, str]:
    axis = curves.getAxis(side)
    return axis.labelText, axis.labelUnits


def panel_state(curves) -> dict:
    """What a GrowingCurves panel shows: title, axes, each curve's drawn points, the markers."""
    drawn = {}
    for key, curve in curves._curves.items():
        xs, ys = curve.getData()
        drawn[curves.curve_names()[key]] = (np.array(xs), np.array(ys))
    return {"title": curves.plotItem.titleLabel.text, "x": axis_label(curves, "bottom"),
            "y": axis_label(curves, "left"), "curves": drawn, "markers": curves.marker_positions()}


@pytest.fixture(scope="module")
def squid_run(qapp, tmp_path_factory):
    """The coarse characterisation run from the window on a fast twin, once for the tests
    that look at it: (run file, {step: what the live views showed as it finished}, the
    window after the run)."""
    twin = Station.from_text(twin_station_text(pace=SQUID_PACE), source="squid-twin.yaml")
    # fewer repaints than an operator's 40/s leave the CPU to the twin's computing; the same is drawn
    window = MainWindow(twin, out_dir=tmp_path_factory.mktemp("squid") / "runs", station_refresh_hz=5,
                        max_redraws_per_second=10)
    window.show()
    views = window.live_views
    at_step_end: dict[int, dict] = {}

    def look(event) -> None:  # connected after the window's own slot: the views have the event
        if isinstance(event, StepFinished):
            views.redraw()  # what the throttling timer would show next
            at_step_end[event.step] = {"sweep": panel_state(views.sweep), "probes": panel_state(views.probes),
                                       "results": views.results.text()}

    window.controller.run_event.connect(look)
    assert window.procedure_panel.load_text(coarse_characterisation(), "squid_coarse.yaml")
    window.procedure_panel.start()
    try:
        wait_until(lambda: bool(window.finished_runs), 60)
        path, status = window.finished_runs[-1]
        assert status == "completed"
        views.redraw()
        yield path, at_step_end, window
    finally:
        window.close()
        window.deleteLater()
    assert sqm_threads() == []


def test_the_iv_plots_the_squid_voltage_against_its_bias(squid_run):
    path, at_step_end, _ = squid_run
    step = find_step(read_steps(path), "squid_iv")
    shown = at_step_end[2]["sweep"]
    assert shown["x"] == ("squid_bias", "A") and shown["y"] == ("voltage", "V")
    assert "squid_iv: voltage against squid_bias" in shown["title"]
    xs = np.concatenate([x for x, _ in shown["curves"].values()])
    ys = np.concatenate([y for _, y in shown["curves"].values()])
    assert len(xs) == len(step.data["voltage"]) == 121  # 0 -> 150 -> -150 -> 0 uA in 5 uA steps
    # the points as recorded, whichever branch curve each is on
    recorded = sorted(zip(step.data["squid_bias"], step.data["voltage"]))
    np.testing.assert_allclose(sorted(zip(xs, ys)), recorded)
    assert ys.max() > 100e-6 and ys.min() < -100e-6  # resistive beyond Ic both ways


def test_the_interference_plots_both_critical_current_polarities(squid_run):
    path, at_step_end, _ = squid_run
    step = find_step(read_steps(path), "squid_interference")
    fields = step.data["field"] * GAUSS
    sweep, probes = at_step_end[3]["sweep"], at_step_end[3]["probes"]
    assert sweep["x"][0] == "field [G]" and sweep["y"] == ("critical_current_plus", "A")
    ((plus_x, plus_y),) = sweep["curves"].values()
    np.testing.assert_allclose(plus_x, fields)
    np.testing.assert_allclose(plus_y, step.data["critical_current_plus"])
    # the second polarity: the auxiliary panel's curve, against the same fields
    assert set(probes["curves"]) == {"critical_current_minus"}
    minus_x, minus_y = probes["curves"]["critical_current_minus"]
    np.testing.assert_allclose(minus_x, fields)
    np.testing.assert_allclose(minus_y, step.data["critical_current_minus"])
    assert np.ptp(plus_y) > 20e-6 and np.ptp(minus_y) > 20e-6  # modulated by the flux, both


def test_the_working_point_is_starred_on_its_vi_plot_where_it_was_noted(squid_run):
    path, at_step_end, window = squid_run
    noted = notes(path, "working_point")
    bias, voltage = noted["working_point_bias_A"], noted["working_point_voltage_V"]
    shown = at_step_end[4]["sweep"]
    assert shown["x"] == ("squid_bias", "A") and shown["y"] == ("voltage", "V")
    assert shown["markers"] == {"working point": pytest.approx((bias, voltage), rel=1e-9)}
    assert 50e-6 <= bias <= 130e-6  # inside the searched bias range
    # still there once the run has ended, above the stages' curves
    assert window.live_views.sweep.marker_positions() == shown["markers"]
    assert at_step_end[2]["sweep"]["markers"] == {}  # the I-V, a V-I plot too, has no working point noted


def test_the_results_label_shows_each_steps_numbers_in_display_units(squid_run):
    path, at_step_end, window = squid_run
    assert window.live_views.results.isVisible()  # below the plots, kept once the run has ended
    text = window.live_views.results.text()
    lines = text.splitlines()
    assert [line.split(":")[0] for line in lines] == ["step 2 squid_iv", "step 3 squid_interference",
                                                      "step 4 working_point"]
    period = re.search(r"period (\S+) mT", lines[1])
    assert period is not None, text
    assert float(period.group(1)) == pytest.approx(PERIOD_MT, rel=0.01)
    pattern = notes(path, "squid_interference")
    assert f"effective area {pattern['effective_area_m2'] * 1e12:.3f} um^2" in lines[1]
    # as each step ended, its own line was there already
    assert at_step_end[3]["results"].splitlines()[-1] == lines[1]
    iv = notes(path, "squid_iv")
    assert f"critical current plus {iv['critical_current_plus_A'] * 1e6:.3f} uA" in lines[0]
    assert " mV/Phi0" in lines[2] and "working point bias " in lines[2]


@pytest.mark.parametrize("key, value, shown", [
    ("period_T", 1.7231e-3, "period 1.723 mT"),
    ("effective_area_m2", 1.2e-12, "effective area 1.200 um^2"),
    ("skew_Phi0", -0.04807, "skew -0.048 Phi0"),
    ("working_point_transfer_V_per_Phi0", -5.18e-3, "working point transfer -5.180 mV/Phi0"),
    ("working_point_voltage_V", 5.07e-5, "working point voltage 50.700 uV"),
    ("critical_current_plus_A", 9.5735e-5, "critical current plus 95.735 uA"),
    ("differential_resistance_ohm", 7.4947, "differential resistance 7.495 ohm"),
    ("touchdowns", 6, "touchdowns 6.000"),  # no units suffix: the number as it is
    ("tiny", 2.5e-9, "tiny 2.5e-09"),
])
def test_a_noted_number_is_shown_with_its_key_in_display_units(key, value, shown):
    assert format_result(key, value) == shown


@pytest.fixture
def views(qtbot):
    widget = LiveViews(synchronous)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    widget.stop()


def test_only_numbers_are_shown_and_no_star_without_a_vi_plot(views):
    views.handle_event(StepStarted(1, "some_step", 0))
    views.handle_event(SeriesDeclared(1, {"field": "T", "voltage": "V"}, "voltage", ("field",)))
    for key, value in (("pattern_plus", "not fitted: too few readings"), ("converged", True),
                       ("working_point_bias_A", 80e-6), ("working_point_voltage_V", 40e-6)):
        views.handle_event(ResultNoted(1, key, value))
    views.redraw()
    assert views.results.text() == "step 1 some_step: working point bias 80.000 uA, working point voltage 40.000 uV"
    assert views.sweep.marker_positions() == {}  # voltage against field: the point has no place there


def test_a_new_run_replaces_the_last_runs_results(views):
    views.handle_event(StepStarted(1, "squid_iv", 0))
    views.handle_event(ResultNoted(1, "critical_current_plus_A", 95e-6))
    views.handle_event(RunFinished("completed", None, "safe"))
    views.redraw()
    assert views.results.text() == "step 1 squid_iv: critical current plus 95.000 uA"  # kept after the run
    views.handle_event(StepStarted(1, "park", 0))
    views.redraw()
    assert views.results.text() == "" and not views.results.isVisible()
