"""Field loops (paper Fig. 4, golden check 14), thermal erasure (Fig. 3f, golden check 13),
transport (Fig. 2c, S1a), and the magnet's faults, on the twin through the whole stack.
The checks and the model: docs/physics.md."""

from __future__ import annotations

import numpy as np
import pytest

from sqm.errors import InstrumentError
from sqm.events import PointRecorded
from sqm.pacing import CleanupPacer
from sqm.readback import find_step, read_steps
from sqm.roles import MagnetState
from sqm.session import load, run_procedure, start_run

from ..conftest import CONFIGS, run_on_station

GAUSS, UA = 1e-4, 1e-6
NOISE = 3e-6  # Phi0: a 1 s probe reading's white noise (0.7 uPhi0) plus drift, several sigma


def _run(name, tmp_path_factory):
    result = run_procedure(CONFIGS / "procedures" / f"{name}.yaml", out_dir=tmp_path_factory.mktemp(name))
    assert result.outcome.status == "completed", result.outcome.error
    return result, read_steps(result.path)


# Field loop ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def field_loop(tmp_path_factory):
    _, steps = _run("fig4_field_loop", tmp_path_factory)
    sweeps = [step for step in steps if step.procedure == "field_sweep"]
    field = np.concatenate([step.data["field"] for step in sweeps])
    probes = {name: np.concatenate([step.data[f"flux_{name}"] for step in sweeps]) for name in ("lower", "upper")}
    images = [(round(step.parameters["field"]["value"] / GAUSS, 2), step) for step in steps
              if step.procedure == "raster_scan"]  # in the order taken
    return field, probes, steps, images


def _on_branch(field, flux, target, index_range):
    start, stop = index_range
    segment = slice(start, stop)
    position = int(np.argmin(np.abs(field[segment] - target)))
    assert abs(field[segment][position] - target) < 0.03 * GAUSS
    return flux[segment][position]


def _branches(field):
    """Index ranges of the three monotone branches: up to +1.51, down to -1.51, up again."""
    top = int(np.argmax(field))
    bottom = top + int(np.argmin(field[top:]))
    return (0, top + 1), (top, bottom + 1), (bottom, len(field))


def test_check14_lower_domain(field_loop):
    field, probes, _, _ = field_loop
    up, down, _ = _branches(field)
    lower = probes["lower"]
    at064 = _on_branch(field, lower, 0.64 * GAUSS, up)
    chi = -at064 / (0.64 * GAUSS)  # Phi0/T, the film's Meissner coupling there
    assert at064 < 0  # diamagnetic
    assert abs(_on_branch(field, lower, 1.08 * GAUSS, up)) < 0.15 * chi * 1.08 * GAUSS
    assert _on_branch(field, lower, 1.51 * GAUSS, up) > 0  # paramagnetic
    assert _on_branch(field, lower, 0.0, down) > 0  # positive remanence


def test_check14_upper_domain(field_loop):
    field, probes, _, _ = field_loop
    up, down, _ = _branches(field)
    upper = probes["upper"]
    assert _on_branch(field, upper, 1.51 * GAUSS, up) < 0  # still diamagnetic at the top
    assert _on_branch(field, upper, 0.64 * GAUSS, down) > 0  # turned on the way down
    assert _on_branch(field, upper, 0.0, down) > 0  # positive remanence


@pytest.mark.parametrize("probe", ["lower", "upper"])
def test_check14_the_negative_branch_is_the_negative(field_loop, probe):
    field, probes, _, _ = field_loop
    _, down, up_again = _branches(field)
    flux = probes[probe]
    for target in (1.51, 1.08, 0.64, 0.3, 0.0):
        descending = _on_branch(field, flux, target * GAUSS, down)
        ascending = _on_branch(field, flux, -target * GAUSS, up_again)
        assert ascending == pytest.approx(-descending, abs=NOISE + 0.01 * abs(descending))


def test_the_images_at_the_papers_fields_show_the_domains(field_loop):
    """Each domain judged by the sign most of it shows (the median over a box inside it):
    the anomalous currents of a switched domain leave a band of the other sign along its
    edges (their edge current), as the paper's description of a domain does not."""
    *_, images = field_loop
    lower_box = ((-30e-6, 30e-6), (-22e-6, -5e-6))
    upper_box = ((-30e-6, 30e-6), (5e-6, 22e-6))

    def most(step, box):
        x, y = step.data["x"], step.data["y"]
        columns = (x >= box[0][0]) & (x <= box[0][1])
        rows = (y >= box[1][0]) & (y <= box[1][1])
        return np.median(step.data["flux"][np.ix_(rows, columns)])

    fields = [field for field, _ in images]
    assert fields == [0.0, 0.64, 1.08, 1.51, 0.64, 0.0, -0.64]
    virgin, up064, _, top, down064, remanent, _ = (step for _, step in images)
    assert np.std(virgin.data["flux"]) < 20e-6  # virgin: no contrast, sensor noise only
    assert most(up064, lower_box) < 0 and most(up064, upper_box) < 0  # both diamagnetic
    assert most(top, lower_box) > 0 > most(top, upper_box)  # lower paramagnetic, upper not yet
    assert most(down064, lower_box) > 0 and most(down064, upper_box) > 0  # both positive
    assert most(remanent, lower_box) > 0 and most(remanent, upper_box) > 0


def test_the_field_remanence_has_the_structure_of_anomalous_currents_not_a_plateau(field_loop):
    """Back at 0 G after +1.51 G: the lower domain is positive inside (the counterflow of
    its anomalous currents, opposite to the Meissner current that polarised it) and
    negative along its lower edge (their edge current, along it); no flat plateau."""
    *_, images = field_loop
    remanent = images[5][1]
    assert images[5][0] == 0.0
    x, y, flux = remanent.data["x"], remanent.data["y"], remanent.data["flux"]

    def box(x_range, y_range):
        return flux[np.ix_((y >= y_range[0]) & (y <= y_range[1]), (x >= x_range[0]) & (x <= x_range[1]))]

    inside = box((-30e-6, 30e-6), (-18e-6, -4e-6))
    along_the_edge = box((-30e-6, 30e-6), (-24.5e-6, -23e-6))
    assert np.median(inside) > 0 > along_the_edge.mean()
    assert np.std(inside) > 0.2 * abs(np.mean(inside))  # varies across the domain: no plateau


# Thermal erasure -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def thermal(tmp_path_factory):
    result, steps = _run("fig3f_thermal", tmp_path_factory)
    prepared = find_step(steps, "bias_sweep").data["flux"][-1]
    cycle = find_step(steps, "thermal_cycle")
    read = np.isfinite(cycle.data["flux_lower"])
    measured = np.isfinite(cycle.data["resistance"])
    return {
        "prepared": prepared,
        "anneal": cycle.data["anneal_temperature"][read],
        "lower": cycle.data["flux_lower"][read],
        "resistance_anneal": cycle.data["anneal_temperature"][measured],
        "resistance": cycle.data["resistance"][measured],
        "time": cycle.data["time"],
    }


def _retained(thermal, anneal_K):
    index = int(np.argmin(np.abs(thermal["anneal"] - anneal_K)))
    assert thermal["anneal"][index] == pytest.approx(anneal_K)
    return thermal["lower"][index] / thermal["prepared"]


def test_check13_retained_remanence_versus_anneal_temperature(thermal):
    assert thermal["prepared"] < -50e-6  # remanence prepared with -200 uA: negative
    allowance = NOISE / abs(thermal["prepared"])
    for anneal in (2.0, 2.5, 3.0):
        assert _retained(thermal, anneal) >= 0.95 - allowance
    assert _retained(thermal, 4.0) == pytest.approx(0.5, abs=0.10 + allowance)
    assert _retained(thermal, 5.0) <= 0.05 + allowance
    for anneal in (6.0, 6.5):  # at and above T_c: erased
        assert abs(_retained(thermal, anneal)) <= allowance
    assert np.all(np.diff(np.abs(thermal["lower"])) <= NOISE)  # remanence only falls with T_a


def test_resistance_beside_the_remanence_follows_the_transition(thermal):
    normal = 2.0  # ohm, the twin's R_n
    by_temperature = dict(zip(thermal["resistance_anneal"], thermal["resistance"]))
    for anneal in (2.0, 3.0, 4.0):
        assert abs(by_temperature[anneal]) < 0.01 * normal  # zero resistance while M_J is erased at 4 K
    assert 0.03 * normal < by_temperature[5.0] < 0.2 * normal  # an order of magnitude below R_n
    assert by_temperature[6.5] == pytest.approx(normal, rel=0.02)


def test_the_thermal_series_stands_for_hours_of_lab_time(thermal):
    assert thermal["time"][-1] - thermal["time"][0] > 3600


# Transport --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def transport(tmp_path_factory):
    _, steps = _run("fig2c_transport", tmp_path_factory)
    return steps


def _critical_current(step, threshold=1e-6):
    current, voltage, branch = step.data["bias_current"], step.data["voltage"], step.data["branch"]
    up = branch == 0
    above = np.flatnonzero(voltage[up] > threshold)
    return current[up][above[0]]


def test_iv_curve_zero_voltage_below_240uA_at_base_and_lower_ic_when_warmer(transport):
    curves = [step for step in transport if step.procedure == "iv_curve"]
    base, at3K, at45K = (_critical_current(step) for step in curves)
    assert base == pytest.approx(240 * UA, abs=8 * UA)
    assert base > at3K > at45K > 0
    base_curve = curves[0]
    below = (base_curve.data["bias_current"] < 230 * UA) & (base_curve.data["branch"] == 0)
    assert np.abs(base_curve.data["voltage"][below]).max() < 0.2e-6  # nanovoltmeter noise only
    assert base_curve.data["voltage"].max() > 100e-6  # and well resistive at 320 uA


def test_resistance_vs_temperature_falls_to_zero_below_tc(transport):
    step = find_step(transport, "resistance_vs_temperature")
    temperature, resistance = step.data["temperature"], step.data["resistance"]
    assert resistance[temperature > 6.4].min() == pytest.approx(2.0, rel=0.02)
    assert np.abs(resistance[temperature < 4.3]).max() < 0.01 * 2.0
    order = np.argsort(temperature)
    assert np.all(np.diff(resistance[order]) > -0.01 * 2.0)  # rises with T, within noise


# Magnet faults and field cooling ----------------------------------------------------------
def test_a_quench_mid_loop_stops_the_procedure_and_leaves_the_station_safe(twin, tmp_path):
    def quench_at_point_20(event):
        if isinstance(event, PointRecorded) and event.step == 2 and event.count == 20:
            twin.magnet.world.inject_quench()

    text = """steps:
  - set: {bias_current: 50 uA}
  - field_sweep: {points: [0, 1.5 G, -1.5 G], step: 0.05 G, probes: {lower: [30 um, -15 um]}}
"""
    station, procedure_file = load(text, twin)
    runner, store = start_run(station, procedure_file, tmp_path / "quench.h5", quench_at_point_20)
    outcome = runner.join()
    store.close()
    assert outcome.status in ("aborted", "failed") and "quench" in outcome.error
    sweep = find_step(read_steps(tmp_path / "quench.h5"), "field_sweep")
    assert sweep.status == outcome.status and "quench" in sweep.error
    assert len(sweep.data["field"]) == 20
    assert twin.current_source.read_current() == 0.0 and not twin.current_source.output_enabled()
    assert twin.scanner.position()[2] == twin.limits.scanner_z.maximum
    assert twin.magnet.state() is MagnetState.QUENCH
    assert abs(twin.magnet.read_field()) < 0.01 * GAUSS  # collapsed, not ramped by anyone
    with pytest.raises(InstrumentError, match="quenched"):
        twin.magnet.ramp_to(0.5 * GAUSS, CleanupPacer(twin.clock))


def test_the_persistent_switch_blocks_ramps_until_the_heater_is_on_again(twin):
    pacer = CleanupPacer(twin.clock)
    twin.magnet.ramp_to(1 * GAUSS, pacer)
    before = twin.clock.now()
    twin.magnet.enter_persistent(pacer)
    assert twin.clock.now() - before == pytest.approx(twin.magnet.switch_heater_wait_s)
    assert twin.magnet.is_persistent() and not twin.magnet.switch_heater_on()
    with pytest.raises(InstrumentError, match="persistent"):
        twin.magnet.ramp_to(0.0, pacer)
    assert twin.magnet.read_field() == pytest.approx(1 * GAUSS)
    twin.magnet.leave_persistent(pacer)
    twin.magnet.ramp_to(0.0, pacer)
    assert twin.magnet.read_field() == 0.0


def test_a_field_cooled_film_screens_only_the_change_of_field(twin, tmp_path):
    text = """steps:
  - field_cool: {field: 1 G}
  - field_sweep: {points: [1 G, 0], step: 0.5 G, probes: {lower: [30 um, -15 um]}}
"""
    path, outcome = run_on_station(twin, text, tmp_path)
    assert outcome.status == "completed"
    flux = find_step(read_steps(path), "field_sweep").data["flux_lower"]
    assert abs(flux[0]) < NOISE  # cooled in 1 G: no Meissner current at 1 G
    assert flux[-1] > 20 * NOISE  # removing the field: the film holds the flux, a positive signal


def test_a_bias_above_ic_is_flagged_by_the_voltage_in_the_sweep(twin, tmp_path):
    text = """steps:
  - zero_field_cool: {}
  - bias_sweep: {points: [0, 300 uA, 0], step: 20 uA, record_voltage: true}
"""
    path, outcome = run_on_station(twin, text, tmp_path)
    assert outcome.status == "completed"
    sweep = find_step(read_steps(path), "bias_sweep")
    resistive = sweep.data["voltage"] > 1e-6
    assert np.all(sweep.data["bias_current"][resistive] > 235 * UA)
    assert resistive.sum() >= 3  # 240 (just), 260, 280, 300 uA on the way up


def test_a_twin_station_whose_field_limit_reaches_vortex_entry_is_refused():
    import yaml

    from sqm.errors import UserInputError
    from sqm.station import DEFAULT_STATION, Station

    data = yaml.safe_load(DEFAULT_STATION.read_text())
    data["limits"]["field"]["max_abs"] = "50 G"
    with pytest.raises(UserInputError, match="entry field 38.7 G"):
        Station.from_text(yaml.safe_dump(data))


@pytest.mark.parametrize("rate", [0.0, -1e-5, 3e-4])
def test_field_ramp_rates_outside_the_limits_are_refused_before_any_ramp(twin, rate):
    from sqm.errors import LimitError

    with pytest.raises(LimitError, match="field ramp rate"):
        twin.magnet.ramp_to(1 * GAUSS, CleanupPacer(twin.clock), rate=rate)
    assert twin.magnet.state() is MagnetState.AT_ZERO and twin.magnet.read_field() == 0.0
