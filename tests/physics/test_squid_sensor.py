"""Physics of the dc nano-SQUID sensor model (sims/squid_sensor.py): Ic(phi) in the small- and
finite-inductance regimes, the skewed pattern, the RSJ voltage and the working point."""

import dataclasses

import numpy as np
import pytest

from sqm.sims.squid_sensor import (
    PHI0,
    SquidSensorParameters,
    best_working_point,
    critical_current_small_inductance,
    critical_current_table,
    critical_currents,
    exact_critical_currents,
    flux_transfer,
    maximum_flux,
    voltage,
)

I0 = 60e-6  # A


def with_beta(beta_L: float, **changes) -> SquidSensorParameters:
    """Parameters with loop inductance set to give screening parameter beta_L = 2 L I0 / Phi0."""
    return SquidSensorParameters(loop_inductance=beta_L * PHI0 / (2 * I0), **changes)


TINY_L = SquidSensorParameters(loop_inductance=1e-15)
SKEWED = with_beta(0.5, inductance_asymmetry=0.4, critical_current_asymmetry=0.2)
# L2 I2 > L1 I1: the solver then parametrises the states by the phase of junction 2
SKEWED_THE_OTHER_WAY = with_beta(0.5, inductance_asymmetry=-0.6, critical_current_asymmetry=0.2)
ONE_PERIOD = np.linspace(-0.5, 0.5, 2001)


def test_small_inductance_symmetric_squid_modulates_fully():
    ic_plus, ic_minus = critical_currents(TINY_L, np.array([0.0, 0.5]))
    assert ic_plus[0] == pytest.approx(2 * I0, rel=1e-9)
    assert ic_plus[1] < 1e-3 * 2 * I0 and ic_minus[1] < 1e-3 * 2 * I0
    analytic = critical_current_small_inductance(TINY_L, ONE_PERIOD)
    for ic in critical_currents(TINY_L, ONE_PERIOD):
        assert np.max(np.abs(ic - analytic)) < 1e-4 * 2 * I0


def test_small_inductance_asymmetric_squid_keeps_a_floor_of_2_i0_alpha():
    params = dataclasses.replace(TINY_L, critical_current_asymmetry=0.3)
    phi = np.linspace(-0.5, 0.5, 20001)
    ic_plus, _ = critical_currents(params, phi)
    assert np.max(np.abs(ic_plus - critical_current_small_inductance(params, phi))) < 1e-4 * 2 * I0
    assert ic_plus.min() == pytest.approx(2 * I0 * 0.3, rel=1e-4)


def test_first_order_screening_lifts_the_minimum_by_pi_beta_over_4():
    # Perturbation in beta_L at phi = 1/2: I = -b I0 sin(2 d1) with b = pi beta_L / 2, so Ic = (pi beta_L / 4) 2 I0.
    beta_L = 0.002
    ic_plus, _ = exact_critical_currents(with_beta(beta_L), np.array([0.5]))
    assert ic_plus[0] / (2 * I0) == pytest.approx(np.pi * beta_L / 4, rel=1e-2)


def test_critical_currents_have_period_one_and_mirror_between_signs():
    phi = np.linspace(-0.5, 0.5, 317)
    ic_plus, ic_minus = critical_currents(SKEWED, phi)
    for shift in (1.0, -2.0, 3.0):
        shifted_plus, shifted_minus = critical_currents(SKEWED, phi + shift)
        np.testing.assert_allclose(shifted_plus, ic_plus, rtol=1e-9)
        np.testing.assert_allclose(shifted_minus, ic_minus, rtol=1e-9)
    mirrored_plus, mirrored_minus = critical_currents(SKEWED, -phi)
    np.testing.assert_allclose(mirrored_minus, ic_plus, rtol=1e-9)
    np.testing.assert_allclose(mirrored_plus, ic_minus, rtol=1e-9)
    exact_plus, exact_minus = exact_critical_currents(SKEWED, np.array([0.123, -0.123, 1.123]))
    assert exact_plus[0] == pytest.approx(exact_minus[1], rel=1e-9)
    assert exact_plus[0] == pytest.approx(exact_plus[2], rel=1e-9)


def test_symmetric_squid_pattern_is_even_through_its_kink():
    # Two mirror states tie at phi = 1/2; the larger must win on both sides, so Ic(1/2 + x) = Ic(1/2 - x).
    params = SquidSensorParameters()  # beta_L ~ 0.58
    offsets = np.linspace(0, 3e-4, 31)
    above_plus, above_minus = exact_critical_currents(params, 0.5 + offsets)
    below_plus, _ = exact_critical_currents(params, 0.5 - offsets)
    np.testing.assert_allclose(above_plus, below_plus, rtol=1e-9)
    np.testing.assert_allclose(above_minus, above_plus, rtol=1e-9)
    assert np.all(np.diff(above_plus) > 0)  # a kinked minimum: Ic rises on both sides


@pytest.mark.parametrize("params", [SKEWED, SKEWED_THE_OTHER_WAY])
def test_skewed_pattern_peaks_at_the_analytic_flux_with_i1_plus_i2(params):
    phi = np.arange(-0.5, 0.5, 1e-4)
    ic_plus, ic_minus = critical_currents(params, phi)
    full = sum(params.junction_currents)
    shift_plus, shift_minus = maximum_flux(params, +1), maximum_flux(params, -1)
    alphas = params.critical_current_asymmetry + params.inductance_asymmetry
    assert shift_plus == pytest.approx(-params.beta_L * alphas / 2, rel=1e-12)  # -(L1 I1 - L2 I2) / Phi0
    assert shift_minus == pytest.approx(-shift_plus, rel=1e-12) and abs(shift_plus) > 0.05  # opposite shifts
    assert abs(phi[np.argmax(ic_plus)] - shift_plus) < 1e-3
    assert abs(phi[np.argmax(ic_minus)] - shift_minus) < 1e-3
    assert ic_plus.max() == pytest.approx(full, rel=1e-6)
    assert ic_minus.max() == pytest.approx(full, rel=1e-6)
    exact_plus, exact_minus = exact_critical_currents(params, np.array([shift_plus, shift_minus]))
    assert exact_plus[0] == pytest.approx(full, rel=1e-9) and exact_minus[1] == pytest.approx(full, rel=1e-9)


@pytest.mark.parametrize("alpha_I, alpha_L", [(0.0, 0.0), (0.2, -0.2)])
def test_no_skew_when_l1_i1_equals_l2_i2(alpha_I, alpha_L):
    params = with_beta(0.5, critical_current_asymmetry=alpha_I, inductance_asymmetry=alpha_L)
    phi = np.arange(-0.5, 0.5, 1e-4)
    ic_plus, ic_minus = critical_currents(params, phi)
    assert maximum_flux(params, +1) == pytest.approx(0.0, abs=1e-12)
    assert abs(phi[np.argmax(ic_plus)]) < 1e-3 and abs(phi[np.argmax(ic_minus)]) < 1e-3


@pytest.mark.parametrize("params", [SKEWED, SKEWED_THE_OTHER_WAY])
def test_exact_solver_agrees_with_an_independent_search_of_the_phase_torus(params):
    (b1, b2), (i1, i2) = params.arm_screening, params.junction_currents
    phases = np.linspace(-np.pi, np.pi, 3000, endpoint=False)
    d1, d2 = phases[None, :], phases[:, None]
    for phi in (0.3, 0.5):
        # Zero crossings in d1 of the wrapped fluxoid residual, row by row in d2.
        residual = np.angle(np.exp(1j * (d2 - d1 - 2 * np.pi * phi - b1 * np.sin(d1) + b2 * np.sin(d2))))
        crossing = (np.sign(residual[:, :-1]) != np.sign(residual[:, 1:])) & (
            np.abs(residual[:, :-1] - residual[:, 1:]) < np.pi)
        row, column = np.nonzero(crossing)
        fraction = residual[row, column] / (residual[row, column] - residual[row, column + 1])
        current = i1 * np.sin(phases[column] + fraction * (phases[1] - phases[0])) + i2 * np.sin(phases[row])
        exact_plus, exact_minus = exact_critical_currents(params, np.array([phi]))
        assert current.max() == pytest.approx(exact_plus[0], rel=1e-5)
        assert -current.min() == pytest.approx(exact_minus[0], rel=1e-5)


def test_screening_reduces_the_modulation_depth():
    ic_at_half = [critical_currents(with_beta(beta_L), 0.5)[0] for beta_L in (0.1, 0.3, 0.6)]
    assert 0 < ic_at_half[0] < ic_at_half[1] < ic_at_half[2] < 2 * I0


def test_screening_beyond_the_solver_is_refused():
    with pytest.raises(ValueError, match="screening"):
        critical_currents(with_beta(1.0), 0.0)


@pytest.mark.parametrize("params, tolerance", [(SKEWED, 1e-6), (SquidSensorParameters(), 1e-6), (TINY_L, 1e-4)])
def test_table_matches_the_direct_solution_between_knots(params, tolerance):
    rng = np.random.default_rng(7)
    midpoints = (np.arange(200) + 0.5) / 2048
    phi = np.concatenate([midpoints, rng.uniform(-0.5, 0.5, 300), 0.5 + np.linspace(-2e-3, 2e-3, 41)])
    table = np.array(critical_currents(params, phi))
    exact = np.array(exact_critical_currents(params, phi))
    assert np.max(np.abs(table - exact)) < tolerance * sum(params.junction_currents)


def test_the_table_is_built_once_per_parameter_set():
    params = with_beta(0.25, critical_current_asymmetry=0.05)
    first = critical_current_table(params)
    hits = critical_current_table.cache_info().hits
    critical_currents(dataclasses.replace(params), np.linspace(0, 1, 100_000))
    voltage(params, 1e-4, 0.1)
    assert critical_current_table.cache_info().hits == hits + 2
    assert critical_current_table(params) is first


def test_voltage_is_zero_below_ic_and_ohmic_far_above():
    phi = np.array([-0.4, -0.1, 0.0, 0.2, 0.45])
    ic_plus, ic_minus = critical_currents(SKEWED, phi)
    assert np.all(voltage(SKEWED, 0.999 * ic_plus, phi) == 0)
    assert np.all(voltage(SKEWED, -0.999 * ic_minus, phi) == 0)
    assert np.all(flux_transfer(SKEWED, 0.999 * ic_plus, phi) == 0)
    large = 20 * ic_plus
    np.testing.assert_allclose(voltage(SKEWED, large, phi), 0.5 * SKEWED.shunt_resistance * large, rtol=1e-2)


def test_voltage_is_continuous_at_ic():
    phi = np.array([0.1, 0.3])
    ic_plus, _ = critical_currents(SKEWED, phi)
    for excess in (1e-4, 1e-8):
        # V = (R/2) sqrt(I^2 - Ic^2) ~ (R/2) Ic sqrt(2 excess): vanishes as the bias approaches Ic
        bound = 0.5 * SKEWED.shunt_resistance * ic_plus * np.sqrt(2 * excess) * 1.01
        assert np.all(voltage(SKEWED, ic_plus * (1 + excess), phi) <= bound)
    assert np.all(voltage(SKEWED, ic_plus * (1 + 1e-8), phi) > 0)


def test_voltage_is_odd_and_periodic():
    symmetric = with_beta(0.5)
    bias = np.linspace(0, 3 * 2 * I0, 23)[:, None]  # no bias equal to Ic_max, where sqrt magnifies rounding
    phi = np.linspace(-0.5, 0.5, 41)[None, :]
    np.testing.assert_allclose(voltage(symmetric, -bias, phi), -voltage(symmetric, bias, phi), atol=1e-15)
    np.testing.assert_allclose(voltage(SKEWED, -bias, -phi), -voltage(SKEWED, bias, phi), atol=1e-15)
    np.testing.assert_allclose(voltage(SKEWED, bias, phi + 1), voltage(SKEWED, bias, phi), atol=1e-15)
    assert not np.allclose(voltage(SKEWED, -bias, phi), -voltage(SKEWED, bias, phi), atol=1e-7)  # skewed


@pytest.mark.parametrize("bias_factor", [0.8, 1.05, -0.9, 2.0])
@pytest.mark.parametrize("phi", [-0.31, 0.07, 0.22, 0.41])
def test_flux_transfer_is_the_derivative_of_the_voltage(bias_factor, phi):
    bias = bias_factor * 2 * I0
    step = 1e-6
    numerical = (voltage(SKEWED, bias, phi + step) - voltage(SKEWED, bias, phi - step)) / (2 * step)
    analytic = flux_transfer(SKEWED, bias, phi)
    if voltage(SKEWED, bias, phi) == 0:
        assert analytic == 0
    else:
        assert analytic == pytest.approx(numerical, rel=1e-3)


def test_best_working_point_sits_just_above_ic_where_ic_slopes():
    # dV/dphi = -(R/2) Ic dIc/dphi / sqrt(I^2 - Ic^2) falls with bias above Ic, so at every flux the
    # best bias is the first one above Ic(phi); the model has no finite optimum (it diverges at Ic).
    bias_values = np.linspace(0.0, 2.5 * I0 * 2, 301)
    phi_values = np.linspace(-0.5, 0.5, 201)
    bias, phi, transfer = best_working_point(SKEWED, bias_values, phi_values)
    grid = flux_transfer(SKEWED, bias_values[:, None], phi_values[None, :])
    assert abs(transfer) == np.max(np.abs(grid)) and transfer == flux_transfer(SKEWED, bias, phi)
    ic_plus, _ = critical_currents(SKEWED, phi)
    assert bias == bias_values[bias_values > ic_plus][0]
    ic_over_period, _ = critical_currents(SKEWED, phi_values)
    assert ic_over_period.min() < bias < ic_over_period.max() + (bias_values[1] - bias_values[0])
    slope = (critical_currents(SKEWED, phi + 1e-6)[0] - critical_currents(SKEWED, phi - 1e-6)[0]) / 2e-6
    assert abs(slope) > 0.1 * 2 * np.pi * I0  # not at a flat top or bottom of the pattern


def test_best_working_point_above_every_ic_is_resolved_by_a_coarse_grid():
    # With every bias above max Ic the transfer is smooth, so a coarse grid finds the optimum within 1 %.
    bias_values = np.linspace(1.02, 1.5, 25) * sum(SKEWED.junction_currents)
    coarse = best_working_point(SKEWED, bias_values, np.linspace(-0.5, 0.5, 101))
    fine = best_working_point(SKEWED, bias_values, np.linspace(-0.5, 0.5, 5001))
    assert abs(coarse[2]) == pytest.approx(abs(fine[2]), rel=1e-2)
    assert coarse[0] == fine[0] == bias_values[0]  # the transfer falls with bias above Ic


@pytest.mark.parametrize("field, value", [
    ("junction_critical_current", 0.0),
    ("junction_critical_current", float("nan")),
    ("critical_current_asymmetry", 1.0),
    ("critical_current_asymmetry", -0.1),
    ("loop_inductance", -1e-12),
    ("inductance_asymmetry", -1.0),
    ("shunt_resistance", 0.0),
    ("effective_area", -1e-12),
])
def test_bad_parameters_are_refused_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        SquidSensorParameters(**{field: value})


def test_derived_quantities():
    params = SquidSensorParameters()
    assert params.beta_L == pytest.approx(2 * 10e-12 * 60e-6 / 2.067833848e-15, rel=1e-9)
    assert params.period_field == pytest.approx(2.067833848e-15 / 0.79e-12, rel=1e-9)
    with pytest.raises(ValueError, match="sign"):
        maximum_flux(params, 0)
