"""Golden checks 8-11, 13 and 14 of docs/physics.md on the lumped model (model R),
plus unit tests of the Preisach ensemble and of the loop-analysis functions."""

import dataclasses

import numpy as np
import pytest

from sqm.analysis import loops
from sqm.sims.lumped import (
    GAUSS_T,
    LOWER_DOMAIN_FIELD_PARAMETERS,
    UPPER_DOMAIN_FIELD_PARAMETERS,
    BiasLoopParameters,
    FieldLoopParameters,
    LumpedBiasLoop,
    LumpedFieldLoop,
)
from sqm.sims.preisach import PreisachEnsemble

SEEDS = [0, 1, 2]
UA = 1e-6  # 1 uA in A; the bias sweeps step by 1 uA
CENTI_GAUSS = 0.01 * GAUSS_T  # the field sweeps step by 0.01 G
T_C_K = 6.0


def ramp(start: int, stop: int, unit: float) -> np.ndarray:
    """Integer steps from start to stop inclusive, times unit (exactly +-symmetric)."""
    step = 1 if stop >= start else -1
    return np.arange(start, stop + step, step) * unit


def measure_sweep(loop, turning_points: list[int], unit: float):
    """Sweep 0 -> turning_points[0] -> turning_points[1] ...: x, flux, branch arrays.

    Every branch starts with its turning point, as a recorded sweep does."""
    xs, fluxes, branches = [], [], []
    start = 0
    for branch, stop in enumerate(turning_points):
        x = ramp(start, stop, unit)
        xs.append(x)
        fluxes.append(loop.sweep(x))
        branches.append(np.full(x.size, branch))
        start = stop
    return np.concatenate(xs), np.concatenate(fluxes), np.concatenate(branches)


def bias_loop(seed: int) -> LumpedBiasLoop:
    return LumpedBiasLoop(BiasLoopParameters(), np.random.default_rng(seed))


def major_bias_loop(loop: LumpedBiasLoop):
    """Virgin, descending and ascending branches of 0 -> +200 -> -200 -> +200 uA."""
    return loops.split_branches(*measure_sweep(loop, [200, -200, 200], UA))


def assert_virgin_checks(virgin, params: BiasLoopParameters, remanence: float, loop):
    """Checks 8 and 9 on a virgin branch; `loop` is left virgin for the no-remanence part."""
    x, flux = virgin
    k = params.flux_per_current
    low = (x > 0) & (x <= 100 * UA)
    assert np.max(np.abs(flux[low] + k * x[low]) / (k * x[low])) < 0.05
    assert loops.first_minimum(x, flux) == pytest.approx(137 * UA, abs=5 * UA)
    crossings = loops.zero_crossings(x, flux)
    assert crossings.size == 1
    assert crossings[0] == pytest.approx(160 * UA, abs=5 * UA)
    assert loops.value_at(x, flux, 200 * UA) > 0
    for peak in (50, 100, 135):
        loop.reset_virgin()
        loop.sweep(ramp(0, peak, UA))
        remanent = loop.sweep(ramp(peak, 0, UA))[-1]
        assert abs(remanent) < 1e-3 * abs(remanence)


# ---------------------------------------------------------------- Preisach rules

def single_pair(c=10.0, h=3.0, blocking_K=4.0) -> PreisachEnsemble:
    return PreisachEnsemble.from_pairs([c], [h], [blocking_K])


def test_single_pair_virgin_state_is_sign_of_bias():
    ensemble = single_pair()
    assert ensemble.get_state().tolist() == [1, -1]
    assert ensemble.magnetisation() == 0.0


@pytest.mark.parametrize("drive, expected", [
    (12.99, [1, -1]),   # (c, -h) needs u >= c + h = 13
    (13.0, [1, 1]),
])
def test_single_pair_upper_threshold(drive, expected):
    ensemble = single_pair()
    ensemble.apply_drive(drive)
    assert ensemble.get_state().tolist() == expected


def test_single_pair_full_threshold_sequence():
    ensemble = single_pair()  # (c=10, +3): up 7, down -13; (c=10, -3): up 13, down -7
    sequence = [(13.0, [1, 1]), (-6.99, [1, 1]), (-7.0, [1, -1]), (-12.99, [1, -1]),
                (-13.0, [-1, -1]), (6.99, [-1, -1]), (7.0, [1, -1]), (0.0, [1, -1])]
    for drive, expected in sequence:
        ensemble.apply_drive(drive)
        assert ensemble.get_state().tolist() == expected, drive
    assert ensemble.magnetisation() == 0.0


def test_anneal_resets_unblocked_pairs_and_erases_above_tc():
    ensemble = PreisachEnsemble.from_pairs([10.0, 10.0, 10.0], [3.0, 3.0, 3.0], [3.0, 5.0, 9.0])
    ensemble.apply_drive(-100.0)
    assert ensemble.magnetisation() == -1.0
    ensemble.anneal(2.99, T_C_K)
    assert ensemble.magnetisation() == -1.0
    ensemble.anneal(3.0, T_C_K)  # T_B <= T resets: pair 0 back to (+1, -1)
    assert ensemble.get_state().tolist() == [1, -1, -1, -1, -1, -1]
    ensemble.anneal(5.5, T_C_K)
    assert ensemble.get_state().tolist() == [1, 1, -1, -1, -1, -1]
    ensemble.anneal(T_C_K, T_C_K)  # T >= T_c erases even T_B = 9 K
    assert ensemble.get_state().tolist() == [1, 1, 1, -1, -1, -1]
    assert ensemble.magnetisation() == 0.0


def test_rate_independence_of_a_monotone_ramp():
    stepped = PreisachEnsemble(500, 1.0, 0.1, 0.2, np.random.default_rng(3))
    jumped = PreisachEnsemble(500, 1.0, 0.1, 0.2, np.random.default_rng(3))
    for u in np.linspace(0.0, 1.1, 50):
        stepped.apply_drive(u)
    jumped.apply_drive(1.1)
    assert np.array_equal(stepped.get_state(), jumped.get_state())
    assert 0.0 < jumped.magnetisation() < 1.0


def test_ensemble_is_exactly_antisymmetric():
    forward = PreisachEnsemble(300, 1.0, 0.1, 0.3, np.random.default_rng(4))
    mirrored = PreisachEnsemble(300, 1.0, 0.1, 0.3, np.random.default_rng(4))
    for u in [0.9, 1.2, -1.05, 0.95, -0.4, 1.5, -1.0]:
        forward.apply_drive(u)
        mirrored.apply_drive(-u)
        plus, minus = np.split(forward.get_state(), 2)
        assert np.array_equal(mirrored.get_state(), -np.concatenate([minus, plus]))
        assert mirrored.magnetisation() == -forward.magnetisation()


def test_state_snapshot_is_a_copy_and_restores():
    ensemble = PreisachEnsemble(100, 1.0, 0.1, 0.3, np.random.default_rng(5))
    ensemble.apply_drive(1.2)
    snapshot = ensemble.get_state()
    snapshot[:] = -1
    assert ensemble.magnetisation() > 0.0
    saved = ensemble.get_state()
    ensemble.apply_drive(-5.0)
    ensemble.set_state(saved)
    assert np.array_equal(ensemble.get_state(), saved)
    with pytest.raises(ValueError):
        ensemble.set_state(saved[:-1])


def test_seeded_construction_is_reproducible():
    first = PreisachEnsemble(50, 1.0, 0.1, 0.3, np.random.default_rng(6))
    again = PreisachEnsemble(50, 1.0, 0.1, 0.3, np.random.default_rng(6))
    other = PreisachEnsemble(50, 1.0, 0.1, 0.3, np.random.default_rng(7))
    assert np.array_equal(first.coercivity, again.coercivity)
    assert not np.array_equal(first.coercivity, other.coercivity)
    assert first.n_units == 100


@pytest.mark.parametrize("kwargs", [
    dict(n_pairs=0), dict(n_pairs=-3), dict(n_pairs=2.5), dict(coercivity=0.0),
    dict(sigma_coercivity=-0.1), dict(sigma_bias=0.0), dict(blocking_sigma_K=-1.0),
    dict(rng=np.random.RandomState(0)),
])
def test_invalid_ensemble_arguments_raise(kwargs):
    arguments = dict(n_pairs=10, coercivity=1.0, sigma_coercivity=0.1, sigma_bias=0.3,
                     rng=np.random.default_rng(0))
    arguments.update(kwargs)
    with pytest.raises(ValueError):
        PreisachEnsemble(**arguments)


# ------------------------------------------------------------- analysis functions

def test_split_branches_and_remove_linear():
    x = np.array([0.0, 1.0, 2.0, 1.0, 0.0, 1.0])
    flux = np.array([0.0, -1.0, -2.0, 5.0, 6.0, 7.0])
    branch = np.array([0, 0, 0, 1, 1, 2])
    parts = loops.split_branches(x, flux, branch)
    assert len(parts) == 3
    assert parts[1][0].tolist() == [1.0, 0.0] and parts[1][1].tolist() == [5.0, 6.0]
    assert loops.remove_linear(x, flux, -1.0)[:3].tolist() == [0.0, 0.0, 0.0]


def test_oersted_slope_of_noisy_line():
    rng = np.random.default_rng(11)
    x = np.arange(0, 201) * UA
    flux = -5.0 * x + rng.normal(0.0, 1e-6, x.size)  # 1 uPhi0 noise on ~1 mPhi0
    flux[x > 100 * UA] += 1e-3  # beyond max_abs_x: must be ignored
    slope = loops.oersted_slope(x, flux, 100 * UA)
    standard_error = 1e-6 / np.sqrt(np.sum(x[x <= 100 * UA] ** 2))
    assert abs(slope + 5.0) < 4 * standard_error
    with pytest.raises(ValueError):
        loops.oersted_slope(x, flux, 0.0)


def test_first_minimum_of_a_parabola_clean_and_noisy():
    x = np.linspace(0.0, 3.0, 301)
    clean = (x - 1.234) ** 2
    assert loops.first_minimum(x, clean) == pytest.approx(1.234, abs=1e-9)
    noisy = clean + np.random.default_rng(12).normal(0.0, 1e-4, x.size)
    assert loops.first_minimum(x, noisy) == pytest.approx(1.234, abs=0.03)
    with pytest.raises(ValueError):
        loops.first_minimum(x, x)  # monotone: no interior minimum


def test_first_minimum_takes_the_first_of_two():
    x = np.linspace(-3.0, 3.0, 601)
    double_well = (x ** 2 - 4.0) ** 2 + 0.5 * x  # wells near -2 (deeper) and +2
    descending = loops.first_minimum(x[::-1], double_well[::-1])
    assert descending == pytest.approx(1.98, abs=0.02)


def test_zero_crossings_of_lines():
    x = np.linspace(-1.0, 1.0, 201)
    assert loops.zero_crossings(x, 2.0 * (x - 0.373)) == pytest.approx([0.373], abs=1e-12)
    starts_at_zero = np.linspace(0.0, 1.0, 11)
    assert loops.zero_crossings(starts_at_zero, -starts_at_zero).size == 0
    noisy = 1e-3 * (x - 0.2) + np.random.default_rng(13).normal(0.0, 1e-5, x.size)
    crossings = loops.zero_crossings(x, noisy, noise_floor=5e-5)
    assert crossings.size == 1 and crossings[0] == pytest.approx(0.2, abs=0.06)


def test_switching_point_descending_and_ascending():
    x_desc = np.linspace(2.0, -2.0, 401)
    peak = -np.abs(x_desc + 1.2) * np.where(x_desc < -1.2, 10.0, 1.0)  # slow rise, sharp drop
    assert loops.switching_point(x_desc, peak) == pytest.approx(-1.2, abs=0.015)
    assert loops.switching_point(-x_desc, -peak) == pytest.approx(1.2, abs=0.015)
    smooth = -(x_desc + 0.777) ** 2
    assert loops.switching_point(x_desc, smooth) == pytest.approx(-0.777, abs=1e-9)


def test_value_at_interpolates_and_averages_noise():
    x = np.linspace(1.0, -1.0, 201)  # descending order is allowed
    line = 3.0 * x - 0.5
    assert loops.value_at(x, line, 0.123) == pytest.approx(3.0 * 0.123 - 0.5, abs=1e-12)
    with pytest.raises(ValueError):
        loops.value_at(x, line, 1.5)
    rng = np.random.default_rng(14)
    errors_plain, errors_fit = [], []
    for _ in range(200):
        noisy = line + rng.normal(0.0, 0.01, x.size)
        errors_plain.append(loops.value_at(x, noisy, 0.0) + 0.5)
        errors_fit.append(loops.value_at(x, noisy, 0.0, half_width=5) + 0.5)
    assert np.std(errors_fit) < 0.5 * np.std(errors_plain)


def test_antisymmetry_and_merge_errors_of_synthetic_branches():
    x_desc = np.linspace(2.0, -2.0, 81)
    desc = np.tanh(x_desc + 1.0) + 0.3 * x_desc
    x_asc = -x_desc
    assert loops.antisymmetry_error(x_desc, desc, x_asc, -desc) == 0.0
    assert loops.antisymmetry_error(x_desc, desc, x_asc, -desc + 0.1) == pytest.approx(0.1)
    other = -desc + np.where(x_asc >= 1.0, 0.0, 0.25)
    assert loops.merge_error((x_asc, other), (x_asc, -desc), 1.0) == 0.0
    assert loops.merge_error((x_asc, other), (x_asc, -desc), 0.5) == pytest.approx(0.25)


# -------------------------------------------------- golden checks 8-11 (bias loop)

@pytest.mark.parametrize("seed", SEEDS)
def test_check_8_and_9_virgin_curve(seed):
    loop = bias_loop(seed)
    virgin, descending, _ = major_bias_loop(loop)
    remanence = loops.value_at(*descending, 0.0)
    assert_virgin_checks(virgin, loop.params, remanence, loop)


@pytest.mark.parametrize("seed", SEEDS)
def test_check_10_major_loop_from_plus_200(seed):
    loop = bias_loop(seed)
    _, (x, flux), _ = major_bias_loop(loop)
    assert flux[1] < flux[0]  # first decreases ...
    assert 0 < loops.first_minimum(x, flux) < 200 * UA  # ... dips, then rises
    assert loops.value_at(x, flux, 0.0) > 0
    assert loops.switching_point(x, flux) == pytest.approx(-120 * UA, abs=5 * UA)
    assert loops.value_at(x, flux, -200 * UA) < 0


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("peak", [150, 175, 200, -150, -175, -200])
@pytest.mark.parametrize("start", ["virgin", "opposite saturation"])
def test_check_10_remanence_follows_the_peak_sign(seed, peak, start):
    loop = bias_loop(seed)
    if start == "opposite saturation":
        loop.drive(-np.sign(peak) * 200 * UA)
    loop.sweep(ramp(0, peak, UA))
    remanent = loop.sweep(ramp(peak, 0, UA))[-1]
    assert np.sign(remanent) == np.sign(peak)
    assert abs(remanent) > 0.5 * loop.params.flux_per_current * loop.params.amplitude


@pytest.mark.parametrize("seed", SEEDS)
def test_check_11_antisymmetry_and_merge(seed):
    loop = bias_loop(seed)
    virgin, descending, ascending = major_bias_loop(loop)
    loop_size = np.max(np.abs(descending[1]))
    assert loops.antisymmetry_error(*descending, *ascending) <= 1e-12 * loop_size
    remanence = loops.value_at(*descending, 0.0)
    assert loops.merge_error(ascending, virgin, 145 * UA) < 0.02 * remanence


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("minor_loop", [(-125, 160), (-135, 140), (-150, 130)])
def test_check_11_return_point_memory(seed, minor_loop):
    """Each minor loop switches hysterons both ways: units with down threshold
    -c + |h| above the reversal switch down on the descending branch, and those of
    them whose up threshold c + |h| lies below the turn switch back up on the minor
    branch (c ~ 140 uA, |h| ~ 8 uA). Return-point memory must restore the state."""
    reversal, turn = minor_loop
    loop = bias_loop(seed)
    loop.sweep(ramp(0, 200, UA))
    state_at_saturation = loop.ensemble.get_state()
    loop.sweep(ramp(200, reversal, UA))
    state_at_reversal, flux_at_reversal = loop.ensemble.get_state(), loop.flux(reversal * UA)
    loop.sweep(ramp(reversal, turn, UA))
    state_at_turn = loop.ensemble.get_state()
    returned = loop.sweep(ramp(turn, reversal, UA))[-1]
    # The loop is not trivial: units switch down before the reversal and some of them
    # switch back up on the minor branch (at least 0.5 % of the units each time).
    n_units = loop.ensemble.n_units
    assert np.count_nonzero(state_at_reversal != state_at_saturation) > 0.005 * n_units
    assert np.count_nonzero(state_at_turn != state_at_reversal) > 0.005 * n_units
    assert np.array_equal(loop.ensemble.get_state(), state_at_reversal)
    assert returned == flux_at_reversal


@pytest.mark.parametrize("noise_seed", [100, 101, 102])
def test_loop_analysis_is_robust_to_white_flux_noise(noise_seed):
    """1 uPhi0 white noise (the readout's level) must not move checks 9-11."""
    x, flux, branch = measure_sweep(bias_loop(0), [200, -200, 200], UA)
    clean_virgin, clean_descending, _ = loops.split_branches(x, flux, branch)
    noisy = flux + np.random.default_rng(noise_seed).normal(0.0, 1e-6, flux.size)
    virgin, descending, ascending = loops.split_branches(x, noisy, branch)
    assert loops.first_minimum(*virgin) == pytest.approx(137 * UA, abs=5 * UA)
    crossings = loops.zero_crossings(*virgin, noise_floor=5e-6)
    assert crossings.size == 1 and crossings[0] == pytest.approx(160 * UA, abs=5 * UA)
    assert loops.switching_point(*descending) == pytest.approx(
        loops.switching_point(*clean_descending), abs=3 * UA)
    remanence = loops.value_at(*clean_descending, 0.0)
    assert loops.value_at(*descending, 0.0, half_width=5) == pytest.approx(remanence, rel=0.01)
    assert loops.antisymmetry_error(*descending, *ascending) < 10e-6
    assert loops.merge_error(ascending, virgin, 145 * UA) < 0.02 * remanence


# ------------------------------------------------------- check 13 (thermal cycle)

@pytest.mark.parametrize("seed", SEEDS)
def test_check_13_retained_remanence_and_erasure(seed):
    loop = bias_loop(seed)
    virgin_before, descending, _ = major_bias_loop(loop)
    loop.reset_virgin()
    loop.sweep(ramp(0, -200, UA))
    prepared = loop.sweep(ramp(-200, 0, UA))[-1]
    assert prepared < 0
    snapshot = loop.ensemble.get_state()

    def retained(anneal_K):
        loop.ensemble.set_state(snapshot)
        loop.anneal(anneal_K, T_C_K)
        return loop.flux(0.0) / prepared

    for anneal_K in (1.5, 2.0, 2.5, 3.0):
        assert retained(anneal_K) >= 0.95
    assert retained(4.0) == pytest.approx(0.50, abs=0.10)
    assert retained(5.0) <= 0.05
    for anneal_K in (T_C_K, 6.5, 10.0):
        assert retained(anneal_K) == 0.0

    virgin_after = loops.split_branches(*measure_sweep(loop, [200], UA))[0]
    assert np.array_equal(virgin_after[1], virgin_before[1])
    remanence = loops.value_at(*descending, 0.0)
    assert_virgin_checks(virgin_after, loop.params, remanence, loop)


# ---------------------------------------------------------- check 14 (field loop)

def field_loop_branches(params: FieldLoopParameters, seed: int):
    loop = LumpedFieldLoop(params, np.random.default_rng(seed))
    return loops.split_branches(*measure_sweep(loop, [151, -151, 151], CENTI_GAUSS))


@pytest.mark.parametrize("seed", SEEDS)
def test_check_14_lower_domain(seed):
    params = LOWER_DOMAIN_FIELD_PARAMETERS
    virgin, descending, ascending = field_loop_branches(params, seed)
    assert loops.value_at(*virgin, 0.64 * GAUSS_T) < 0
    assert abs(loops.value_at(*virgin, 1.08 * GAUSS_T)) < 0.15 * params.susceptibility * 1.08 * GAUSS_T
    assert loops.value_at(*virgin, 1.51 * GAUSS_T) > 0
    assert loops.value_at(*descending, 0.0) > 0
    assert loops.antisymmetry_error(*descending, *ascending) <= 1e-12 * np.max(np.abs(descending[1]))


@pytest.mark.parametrize("seed", SEEDS)
def test_check_14_upper_domain(seed):
    params = UPPER_DOMAIN_FIELD_PARAMETERS
    virgin, descending, ascending = field_loop_branches(params, seed)
    assert loops.value_at(*virgin, 1.51 * GAUSS_T) < 0
    assert loops.value_at(*descending, 0.64 * GAUSS_T) > 0
    assert loops.value_at(*descending, 0.0) > 0
    assert loops.antisymmetry_error(*descending, *ascending) <= 1e-12 * np.max(np.abs(descending[1]))
    assert loops.value_at(*ascending, 0.0) == -loops.value_at(*descending, 0.0)


def test_field_domain_parameters_follow_model_r():
    lower, upper = LOWER_DOMAIN_FIELD_PARAMETERS, UPPER_DOMAIN_FIELD_PARAMETERS
    assert lower.susceptibility * 1.0 * GAUSS_T == pytest.approx(1e-3)  # -1 mPhi0 at 1 G
    assert upper.susceptibility == pytest.approx(0.5 * lower.susceptibility)
    assert lower.amplitude == pytest.approx(1.875 * lower.susceptibility * GAUSS_T)
    assert upper.amplitude == pytest.approx(2.0 * upper.susceptibility * GAUSS_T)
    assert (lower.coercivity, upper.coercivity) == pytest.approx((1.00 * GAUSS_T, 1.45 * GAUSS_T))
    assert (lower.sigma_bias, upper.sigma_bias) == pytest.approx((0.10 * GAUSS_T, 0.10 * GAUSS_T))
    with pytest.raises(dataclasses.FrozenInstanceError):
        lower.coercivity = 0.0
