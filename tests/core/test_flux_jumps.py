"""Flux jumps of the flux-locked loop (sqm.analysis.flux_jumps): integer steps found and
removed, real flux changes kept, raw data never changed. All flux in Phi0."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqm.analysis.flux_jumps import (
    MAX_TOLERANCE,
    MIN_TOLERANCE,
    FluxJump,
    estimate_tolerance,
    find_flux_jumps,
    find_unresolved_steps,
    unwrap_flux_jumps,
    unwrap_image,
)

SIGMA = 1e-3  # Phi0: white noise of the noisy series


def _smooth(n=400):
    """A few mPhi0 of sine on a ramp of 0.3 Phi0 overall: steps of about 1 mPhi0."""
    t = np.arange(n)
    return 0.005 * np.sin(2 * np.pi * 3 * t / n) + 0.3 * t / n + 0.1


def _with_jumps(clean, jumps):
    recorded = np.array(clean, dtype=float)
    for index, quanta in jumps:
        recorded[index:] += quanta
    return recorded


JUMPS = [(57, 1), (180, -2), (333, 3)]


def test_noise_free_jumps_are_found_exactly_and_unwrapping_gives_the_original_back():
    clean = _smooth()
    recorded = _with_jumps(clean, JUMPS)
    assert find_flux_jumps(recorded) == [FluxJump(57, 1), FluxJump(180, -2), FluxJump(333, 3)]
    assert find_unresolved_steps(recorded) == []
    np.testing.assert_allclose(unwrap_flux_jumps(recorded), clean, rtol=0, atol=1e-12)


@pytest.mark.parametrize("jumps", [[(1, 1)], [(399, -1)], [(1, 2), (399, -3)], [(200, 1), (201, -1)]])
def test_jumps_at_the_ends_and_back_to_back_are_found(jumps):
    clean = _smooth()
    recorded = _with_jumps(clean, jumps)
    assert find_flux_jumps(recorded) == [FluxJump(i, q) for i, q in jumps]
    np.testing.assert_allclose(unwrap_flux_jumps(recorded), clean, rtol=0, atol=1e-12)


def test_with_white_noise_the_jumps_are_found_and_the_unwrapped_series_is_within_the_noise():
    clean = _smooth()
    noisy = clean + np.random.default_rng(7).normal(0.0, SIGMA, clean.size)
    recorded = _with_jumps(noisy, JUMPS)
    assert find_flux_jumps(recorded) == [FluxJump(i, q) for i, q in JUMPS]
    unwrapped = unwrap_flux_jumps(recorded)
    assert unwrapped[0] == recorded[0]  # the first sample keeps its value: no offset of the whole curve
    assert np.max(np.abs(unwrapped - clean)) < 6 * SIGMA
    np.testing.assert_allclose(unwrapped, noisy, rtol=0, atol=1e-12)


def test_the_default_tolerance_follows_the_noise_with_a_cap_and_a_floor():
    rng = np.random.default_rng(11)
    tolerance = estimate_tolerance(_smooth() + rng.normal(0.0, SIGMA, 400))
    assert 6 * SIGMA < tolerance < 20 * SIGMA
    assert estimate_tolerance(rng.normal(0.0, 0.1, 400)) == MAX_TOLERANCE
    assert estimate_tolerance(np.full(50, 0.25)) == MIN_TOLERANCE
    assert estimate_tolerance(0.001 * np.arange(50)) == MIN_TOLERANCE  # a steady ramp is predicted exactly


@pytest.mark.parametrize("step", [0.4, -0.4, 0.45])
def test_a_real_flux_change_below_half_a_quantum_is_not_a_jump(step):
    clean = _smooth() + np.random.default_rng(3).normal(0.0, SIGMA, 400)
    clean[150:] += step
    assert find_flux_jumps(clean) == []
    assert find_unresolved_steps(clean) == []
    assert np.array_equal(unwrap_flux_jumps(clean), clean)


@pytest.mark.parametrize("step", [0.6, -0.7, 1.3, 2.5])
def test_a_step_not_near_an_integer_is_kept_and_reported_as_unresolved(step):
    clean = _smooth() + np.random.default_rng(4).normal(0.0, SIGMA, 400)
    clean[150:] += step
    recorded = _with_jumps(clean, [(300, -1)])
    assert find_flux_jumps(recorded) == [FluxJump(300, -1)]
    assert find_unresolved_steps(recorded) == [150]
    np.testing.assert_allclose(unwrap_flux_jumps(recorded), clean, rtol=0, atol=1e-12)


def test_tolerance_half_a_quantum_accepts_every_step_of_half_a_quantum_or_more():
    recorded = _smooth()
    recorded[150:] += 0.6
    assert find_flux_jumps(recorded, tolerance=0.5) == [FluxJump(150, 1)]
    assert find_unresolved_steps(recorded, tolerance=0.5) == []
    assert np.max(np.abs(np.diff(unwrap_flux_jumps(recorded, tolerance=0.5)))) == pytest.approx(0.4, abs=0.01)


def test_a_tolerance_below_the_noise_turns_the_jumps_into_unresolved_steps():
    noisy = _smooth() + np.random.default_rng(5).normal(0.0, SIGMA, 400)
    recorded = _with_jumps(noisy, JUMPS)
    assert find_flux_jumps(recorded, tolerance=1e-7) == []
    assert find_unresolved_steps(recorded, tolerance=1e-7) == [57, 180, 333]
    assert np.array_equal(unwrap_flux_jumps(recorded, tolerance=1e-7), recorded)


@pytest.mark.parametrize("tolerance", [-0.01, 0.51, float("nan")])
def test_a_tolerance_outside_0_to_half_a_quantum_is_refused(tolerance):
    with pytest.raises(ValueError, match="tolerance"):
        find_flux_jumps(_smooth(), tolerance=tolerance)
    with pytest.raises(ValueError, match="tolerance"):
        unwrap_image(np.zeros((3, 4)), tolerance=tolerance)


@pytest.mark.parametrize("noise", [0.0, SIGMA])
def test_nan_samples_are_skipped_and_stay_nan(noise):
    clean = _smooth()
    measured = clean + np.random.default_rng(8).normal(0.0, noise, clean.size)
    recorded = _with_jumps(measured, JUMPS)
    missing = [0, 10, 181, 182, 399]  # the first and last samples, one alone, two right after the jump at 180
    if noise:
        missing += [56, 57, 58]  # the jump at 57 inside a gap: its index is the next sample taken
    recorded[missing] = np.nan
    first = 59 if noise else 57
    assert find_flux_jumps(recorded) == [FluxJump(first, 1), FluxJump(180, -2), FluxJump(333, 3)]
    unwrapped = unwrap_flux_jumps(recorded)
    assert np.array_equal(np.isnan(unwrapped), np.isnan(recorded))
    taken = ~np.isnan(recorded)
    np.testing.assert_allclose(unwrapped[taken], measured[taken], rtol=0, atol=1e-12)


def test_a_jump_across_a_gap_in_noise_free_data_needs_a_tolerance_that_allows_for_the_gap():
    clean = _smooth()
    recorded = _with_jumps(clean, JUMPS)
    recorded[56:59] = np.nan  # the prediction across the gap is less certain than the curvature of the rest
    assert find_unresolved_steps(recorded) == [59]
    assert find_flux_jumps(recorded, tolerance=1e-3) == [FluxJump(59, 1), FluxJump(180, -2), FluxJump(333, 3)]


def test_all_nan_and_infinite_samples():
    assert find_flux_jumps(np.full(5, np.nan)) == []
    assert np.all(np.isnan(unwrap_flux_jumps(np.full(5, np.nan))))
    recorded = _with_jumps(_smooth(), [(200, 2)])
    recorded[100] = np.inf
    assert find_flux_jumps(recorded) == [FluxJump(200, 2)]
    assert unwrap_flux_jumps(recorded)[100] == np.inf


def test_the_input_is_not_modified_and_the_result_is_a_new_float_array():
    recorded = _with_jumps(_smooth(), JUMPS)
    before = recorded.copy()
    unwrapped = unwrap_flux_jumps(recorded)
    assert np.array_equal(recorded, before)
    assert unwrapped.dtype == np.float64 and not np.shares_memory(unwrapped, recorded)

    flat = _smooth()  # no jumps: still a copy
    out = unwrap_flux_jumps(flat)
    out[:] = 0.0
    assert np.array_equal(flat, _smooth())

    as_list = [0.0, 0.001, 1.002, 1.003, 1.004]
    assert np.allclose(unwrap_flux_jumps(as_list, tolerance=0.01), [0.0, 0.001, 0.002, 0.003, 0.004])
    assert as_list == [0.0, 0.001, 1.002, 1.003, 1.004]


@pytest.mark.parametrize("series", [[], [0.7], np.array([np.nan])])
def test_empty_and_single_samples_are_returned_unchanged(series):
    assert find_flux_jumps(series) == []
    assert find_unresolved_steps(series) == []
    out = unwrap_flux_jumps(series)
    assert out.shape == (len(series),)
    assert np.array_equal(out, np.asarray(series, dtype=float), equal_nan=True)


def test_two_samples_one_quantum_apart_are_a_jump():
    assert find_flux_jumps([0.2, 1.2]) == [FluxJump(1, 1)]
    assert np.allclose(unwrap_flux_jumps([0.2, 1.2]), [0.2, 0.2])


def test_a_series_must_be_one_dimensional():
    with pytest.raises(ValueError, match="1-D"):
        find_flux_jumps(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="2-D"):
        unwrap_image(np.zeros(5))


def _clean_image(lines=40, points=64):
    y, x = np.mgrid[0:lines, 0:points]
    vortex = 0.01 * np.exp(-((x - 30.0) ** 2 + (y - 20.0) ** 2) / 50.0)
    return vortex + 0.002 * y / lines + 0.001 * x / points + 0.05


def _raw_image(clean):
    raw = clean.copy()
    raw[5, 20:] += 1  # relock within line 5, and back to the old lock point between lines 5 and 6
    raw[12:] -= 2  # relock between lines 11 and 12, kept for the rest of the scan
    raw[30, 50:] += 3  # relock within line 30, kept from then on
    raw[31:] += 3
    raw[37, 0] += 1  # relock between lines 36 and 37 ...
    raw[37, 1:] += 1  # ... and at once within line 37
    return raw


def test_an_image_loses_jumps_within_lines_and_offsets_between_lines():
    clean = _clean_image()
    raw = _raw_image(clean)
    before = raw.copy()
    unwrapped, quanta = unwrap_image(raw)
    np.testing.assert_allclose(unwrapped, clean, rtol=0, atol=1e-12)
    assert quanta.dtype.kind == "i" and quanta.shape == raw.shape
    assert np.array_equal(quanta, np.round(raw - clean).astype(int))
    assert np.array_equal(raw, before)


def test_an_image_with_noise_and_missing_lines():
    clean = _clean_image()
    noisy = clean + np.random.default_rng(9).normal(0.0, SIGMA, clean.shape)
    raw = _raw_image(noisy)
    raw[20] = np.nan  # a line not taken
    raw[25, :40] = np.nan  # part of a line
    raw[12, :] = np.nan  # the line right after the relock between lines
    unwrapped, quanta = unwrap_image(raw)
    taken = np.isfinite(raw)
    assert np.array_equal(np.isfinite(unwrapped), taken)
    assert np.max(np.abs(unwrapped - clean)[taken]) < 6 * SIGMA
    assert np.array_equal(quanta[taken], np.round(raw[taken] - noisy[taken]).astype(int))


def test_an_image_with_a_real_line_to_line_change_below_half_a_quantum_keeps_it():
    clean = _clean_image()
    clean[25:] += 0.4  # e.g. a vortex hopping between two lines
    unwrapped, quanta = unwrap_image(clean)
    assert np.array_equal(unwrapped, clean) and not quanta.any()


def test_empty_and_blank_images():
    unwrapped, quanta = unwrap_image(np.empty((0, 5)))
    assert unwrapped.shape == quanta.shape == (0, 5)
    unwrapped, quanta = unwrap_image(np.full((3, 4), np.nan))
    assert np.all(np.isnan(unwrapped)) and not quanta.any()
    unwrapped, quanta = unwrap_image([[0.1, 1.1, 1.1]])
    assert np.allclose(unwrapped, 0.1) and quanta.tolist() == [[0, 1, 1]]


# Property tests: smooth signals (a ramp and up to three sines with periods of 40 samples or
# more, scaled so that no step between samples exceeds 0.2 Phi0), noise-free.

_reals = st.floats(-1.0, 1.0, allow_nan=False, allow_subnormal=False)
_components = st.lists(
    st.tuples(_reals, st.floats(40.0, 2000.0), st.floats(0.0, 2 * np.pi)),  # amplitude, period, phase
    max_size=3,
)


@st.composite
def smooth_signals(draw):
    n = draw(st.integers(20, 400))
    t = np.arange(n, dtype=float)
    signal = draw(_reals) * t
    for amplitude, period, phase in draw(_components):
        signal = signal + amplitude * np.sin(2 * np.pi * t / period + phase)
    largest_step = float(np.max(np.abs(np.diff(signal))))
    if largest_step > 0:
        signal = signal * draw(st.floats(1e-4, 0.199)) / largest_step
    return signal + draw(st.floats(-10.0, 10.0))


@st.composite
def signals_with_jumps(draw):
    signal = draw(smooth_signals())
    jumps = draw(
        st.lists(
            st.tuples(st.integers(1, signal.size - 1), st.sampled_from([-5, -4, -3, -2, -1, 1, 2, 3, 4, 5])),
            unique_by=lambda jump: jump[0],
            max_size=6,
        )
    )
    return signal, sorted(jumps)


PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=300)


@PROPERTY
@given(signals_with_jumps())
def test_property_random_jumps_on_smooth_signals_are_found_and_removed(case):
    signal, jumps = case
    recorded = _with_jumps(signal, jumps)
    assert find_flux_jumps(recorded) == [FluxJump(i, q) for i, q in jumps]
    np.testing.assert_allclose(unwrap_flux_jumps(recorded), signal, rtol=0, atol=1e-9)


@PROPERTY
@given(smooth_signals())
def test_property_a_smooth_signal_without_jumps_has_none(signal):
    assert find_flux_jumps(signal) == []
    assert find_unresolved_steps(signal) == []
    assert np.array_equal(unwrap_flux_jumps(signal), signal)
