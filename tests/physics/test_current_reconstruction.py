"""Golden check 7 (docs/physics.md: current reconstruction from flux images) and the
analysis helpers of paper Fig. 2 f/h/k, Fig. 3c-d and Fig. S2a.

The synthetic data are made here, independently of the twin (sqm.sims) and of the
module under test:
- a uniform straight strip: closed-form Bz (golden check 1 formula), averaged over
  the pickup disk by quadrature;
- a U-shaped strip, fed by two leads that leave through the top edge as in the
  paper: a direct Biot-Savart sum over straight filaments, averaged over the disk;
- a smooth current loop (Gaussian stream function): our own FFT forward model on a
  zero-padded grid, itself checked against a direct dipole-sheet sum.

Metrics: "max error" is max |K_rec - K_ref| / max |K_ref| over the stated region;
cut currents are relative to the true current I.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import scipy.special

from sqm.analysis.currents import (
    current_through_cut,
    flux_from_stream_function,
    image_correlation,
    line_cut,
    oersted_subtraction,
    peak_edge_current,
    reconstruct_current,
    reconstruct_stream_function,
    reconstruction_window,
    window_filter,
)

MU0 = 4e-7 * np.pi * 1.00000000055  # CODATA 2018 mu0 (T m/A), to 1e-10
PHI0 = 2.067833848e-15  # Wb
UM = 1e-6
HEIGHT = 1.0 * UM
LOOP_RADIUS = 0.5 * UM
LAMBDA_C = 2.0 * HEIGHT  # the default cutoff wavelength, used for the reference profiles


# ----------------------------------------------------------------------------------
# Independent forward models
# ----------------------------------------------------------------------------------
def disk_quadrature(radius: float, n_radial: int = 4, n_angular: int = 10):
    """Nodes (dx, dy) and weights (m^2) integrating over a disk: Gauss-Legendre in r."""
    nodes, weights = np.polynomial.legendre.leggauss(n_radial)
    r = 0.5 * radius * (nodes + 1)
    wr = 0.5 * radius * weights * r
    angles = 2 * np.pi * (np.arange(n_angular) + 0.5) / n_angular
    offsets_x = (r[:, None] * np.cos(angles)[None, :]).ravel()
    offsets_y = (r[:, None] * np.sin(angles)[None, :]).ravel()
    quadrature_weights = np.repeat(wr * 2 * np.pi / n_angular, n_angular)
    return offsets_x, offsets_y, quadrature_weights


def strip_bz(y, center, width, current, height=HEIGHT):
    """Bz (T) at height of an infinite uniform strip along +x (golden check 1)."""
    a, yy = width / 2, y - center
    return MU0 * current / (4 * np.pi * width) * np.log(((yy + a) ** 2 + height**2) / ((yy - a) ** 2 + height**2))


def strip_flux(y, center, width, current):
    """Pickup-disk flux (Phi0) of the strip: Bz averaged over chords of the disk."""
    theta, weights = np.polynomial.legendre.leggauss(48)
    theta, weights = theta * np.pi / 2, weights * np.pi / 2
    offset = LOOP_RADIUS * np.sin(theta)
    chord_weight = 2 * (LOOP_RADIUS * np.cos(theta)) ** 2 * weights  # chord length * ds/dtheta
    bz = strip_bz(np.asarray(y)[..., None] + offset, center, width, current)
    return np.sum(bz * chord_weight, axis=-1) / PHI0


def segment_bz(ax, ay, bx, by, px, py, height=HEIGHT):
    """Bz (T) at (px, py, height) of 1 A flowing from A to B (z = 0): the vector form
    B = mu0 I/(4 pi) (r1 x r2)/|r1 x r2|^2 (r1 - r2).(r1/|r1| - r2/|r2|), r1 = P - A, r2 = P - B."""
    r1x, r1y = px - ax, py - ay
    r2x, r2y = px - bx, py - by
    n1 = np.sqrt(r1x**2 + r1y**2 + height**2)
    n2 = np.sqrt(r2x**2 + r2y**2 + height**2)
    cross_x, cross_y = height * (r1y - r2y), height * (r2x - r1x)  # components of r1 x r2 with z = h
    cross_z = r1x * r2y - r1y * r2x
    projection = (r1x - r2x) * (r1x / n1 - r2x / n2) + (r1y - r2y) * (r1y / n1 - r2y / n2)
    return MU0 / (4 * np.pi) * cross_z / (cross_x**2 + cross_y**2 + cross_z**2) * projection


def u_strip_flux(x, y, left, right, bottom, width, current, n_filaments=8):
    """Flux (Phi0) of a U-shaped uniform strip of width `width`: current `current` flows
    down the lead at x = left (coming from y = +inf), along +x at y = bottom, and up
    the lead at x = right to y = +inf. Concentric square-cornered filaments at
    Gauss-Legendre offsets across the width; leads 1 m long stand for infinite ones."""
    far = 1.0
    nodes, weights = np.polynomial.legendre.leggauss(n_filaments)
    offsets_x, offsets_y, quad_weights = disk_quadrature(LOOP_RADIUS)
    flux = np.zeros_like(x)
    for node, weight in zip(nodes, weights):
        s = node * width / 2  # > 0: the outer side of the U
        share = current * weight / 2
        corners = [(left - s, far), (left - s, bottom - s), (right + s, bottom - s), (right + s, far)]
        for (ax, ay), (bx, by) in zip(corners[:-1], corners[1:]):
            for ox, oy, qw in zip(offsets_x, offsets_y, quad_weights):
                flux += share * qw * segment_bz(ax, ay, bx, by, x + ox, y + oy)
    return flux / PHI0


def fft_flux(g, pixel_size, pad_factor=4):
    """Our own forward model: flux (Phi0) of a compact stream function g (A), zero padded."""
    ny, nx = g.shape
    shape = (pad_factor * ny, pad_factor * nx)
    kx = 2 * np.pi * np.fft.rfftfreq(shape[1], pixel_size)[None, :]
    ky = 2 * np.pi * np.fft.fftfreq(shape[0], pixel_size)[:, None]
    k = np.hypot(kx, ky)
    kr = k * LOOP_RADIUS
    psf = np.pi * LOOP_RADIUS**2 * np.where(kr > 0, 2 * scipy.special.j1(kr) / np.where(kr > 0, kr, 1), 1.0)
    spectrum = np.fft.rfft2(g, s=shape) * 0.5 * MU0 * k * np.exp(-k * HEIGHT) * psf
    return np.fft.irfft2(spectrum, s=shape)[:ny, :nx] / PHI0


def fft_bz(g, pixel_size, pad_factor=4):
    """Bz (T) at HEIGHT of a compact stream function (no pickup loop)."""
    ny, nx = g.shape
    shape = (pad_factor * ny, pad_factor * nx)
    kx = 2 * np.pi * np.fft.rfftfreq(shape[1], pixel_size)[None, :]
    ky = 2 * np.pi * np.fft.fftfreq(shape[0], pixel_size)[:, None]
    k = np.hypot(kx, ky)
    return np.fft.irfft2(np.fft.rfft2(g, s=shape) * 0.5 * MU0 * k * np.exp(-k * HEIGHT), s=shape)[:ny, :nx]


def hann_filtered_strip(y, center, width, current, cutoff_wavelength=LAMBDA_C):
    """The exact window-filtered Kx (A/m) of an infinite uniform strip along x:
    (1/2pi) Int W(k) box(k) cos(k (y - center)) dk, W = cos^2(pi k / 2 k_c)."""
    kc = 2 * np.pi / cutoff_wavelength
    k = np.linspace(-kc, kc, 8001)
    weights = np.cos(np.pi * k / (2 * kc)) ** 2
    box = width * np.sinc(k * width / (2 * np.pi))  # Fourier transform of the strip's indicator
    integrand = weights * box * np.cos(k * (np.asarray(y)[:, None] - center))
    return current / width * np.trapezoid(integrand, k, axis=1) / (2 * np.pi)


# ----------------------------------------------------------------------------------
# The synthetic scenes
# ----------------------------------------------------------------------------------
STRIP_CURRENT = 100e-6
STRIP_WIDTH = 2 * UM
STRIP_PIXEL = 0.25 * UM
STRIP_SHAPE = (160, 96)  # 40 x 24 um; the strip runs along x through the whole image
STRIP_CENTER = 17.3 * UM  # off-centre: the boundary treatment must not rely on symmetry


@pytest.fixture(scope="module")
def strip_scene():
    ny, nx = STRIP_SHAPE
    y = np.arange(ny) * STRIP_PIXEL
    flux = np.repeat(strip_flux(y, STRIP_CENTER, STRIP_WIDTH, STRIP_CURRENT)[:, None], nx, axis=1)
    # True Kx as pixel averages (the fraction of each pixel row inside the strip).
    low, high = STRIP_CENTER - STRIP_WIDTH / 2, STRIP_CENTER + STRIP_WIDTH / 2
    overlap = np.clip(np.minimum(y + STRIP_PIXEL / 2, high) - np.maximum(y - STRIP_PIXEL / 2, low), 0, None)
    kx_true = np.repeat((STRIP_CURRENT / STRIP_WIDTH * overlap / STRIP_PIXEL)[:, None], nx, axis=1)
    reference = hann_filtered_strip(y, STRIP_CENTER, STRIP_WIDTH, STRIP_CURRENT)
    results = {boundary: reconstruct_current(flux, STRIP_PIXEL, HEIGHT, LOOP_RADIUS, boundary=boundary)
               for boundary in ("mirror", "periodic")}
    results["leads"] = reconstruct_current(flux, STRIP_PIXEL, HEIGHT, LOOP_RADIUS)  # the default
    return dict(y=y, flux=flux, kx_true=kx_true, reference=reference, results=results)


U_PIXEL = 0.25 * UM
U_SHAPE = (112, 128)  # 28 x 32 um
U_LEFT, U_RIGHT, U_BOTTOM = 8.1 * UM, 23.9 * UM, 8.0 * UM


@pytest.fixture(scope="module")
def u_scene():
    ny, nx = U_SHAPE
    x, y = np.meshgrid(np.arange(nx) * U_PIXEL, np.arange(ny) * U_PIXEL)
    flux = u_strip_flux(x, y, U_LEFT, U_RIGHT, U_BOTTOM, STRIP_WIDTH, STRIP_CURRENT)
    results = {"leads": reconstruct_current(flux, U_PIXEL, HEIGHT, LOOP_RADIUS),  # the default
               "periodic": reconstruct_current(flux, U_PIXEL, HEIGHT, LOOP_RADIUS, boundary="periodic")}
    return dict(flux=flux, results=results)


SMOOTH_PIXEL = 0.5 * UM
SMOOTH_SHAPE = (128, 128)  # 64 x 64 um
SMOOTH_WIDTH = 8 * UM  # Gaussian width of the stream function: broad against the 2.1 um resolution
SMOOTH_CENTER = (30 * UM, 33 * UM)


def smooth_loop(amplitude=1.0):
    """Gaussian stream function g (A) and its exact current (Kx, Ky) (A/m)."""
    ny, nx = SMOOTH_SHAPE
    x, y = np.meshgrid(np.arange(nx) * SMOOTH_PIXEL - SMOOTH_CENTER[0], np.arange(ny) * SMOOTH_PIXEL - SMOOTH_CENTER[1])
    g = amplitude * np.exp(-(x**2 + y**2) / (2 * SMOOTH_WIDTH**2))
    return g, -y / SMOOTH_WIDTH**2 * g, x / SMOOTH_WIDTH**2 * g


def max_error(reconstructed, reference, region=...):
    return float(np.max(np.abs(reconstructed[region] - reference[region])) / np.max(np.abs(reference[region])))


# ----------------------------------------------------------------------------------
# The oracles themselves
# ----------------------------------------------------------------------------------
def test_oracles_agree_with_each_other():
    # A long straight filament (Biot-Savart) vs the infinite-wire field mu0 I d/(2 pi (d^2 + h^2)).
    distance = np.array([-3.0, -1.0, 0.5, 2.0]) * UM
    bz = segment_bz(-1.0, 0.0, 1.0, 0.0, np.zeros_like(distance), distance)
    wire = MU0 / (2 * np.pi) * distance / (distance**2 + HEIGHT**2)
    np.testing.assert_allclose(bz, wire, rtol=1e-9)
    assert np.all(np.sign(bz) == np.sign(distance))  # +x current: Bz < 0 on the -y side (check 2)

    # Our FFT forward model vs a direct dipole-sheet sum, on a small grid.
    # (A pixel of h/4: point dipoles on the grid and the FFT's band-limited sheet then
    # differ by aliases ~exp(-2 pi h / pixel) only.)
    pixel = 0.25 * UM
    ny = nx = 64
    x, y = np.meshgrid(np.arange(nx) * pixel, np.arange(ny) * pixel)
    g = 1e-4 * np.exp(-((x - 8 * UM) ** 2 + (y - 7.5 * UM) ** 2) / (2 * (2 * UM) ** 2))
    bz_fft = fft_bz(g, pixel)
    differences = []
    for iy, ix in [(10, 10), (30, 32), (40, 5), (2, 60), (28, 36), (63, 63)]:
        rho_sq = (x - x[iy, ix]) ** 2 + (y - y[iy, ix]) ** 2
        kernel = (2 * HEIGHT**2 - rho_sq) / (rho_sq + HEIGHT**2) ** 2.5
        direct = MU0 / (4 * np.pi) * np.sum(g * kernel) * pixel**2
        differences.append(bz_fft[iy, ix] - direct)
    differences = np.array(differences) / np.max(np.abs(bz_fft))
    # The periodic copies of the padded FFT add a nearly uniform field (~4e-4 of the
    # peak here; it varies by ~1e-5 across the grid), which no reconstruction sees.
    assert np.max(np.abs(differences - differences.mean())) < 3e-5
    assert abs(differences.mean()) < 1e-3


# ----------------------------------------------------------------------------------
# Golden check 7: smooth currents
# ----------------------------------------------------------------------------------
def smooth_flux_scaled():
    g, kx, ky = smooth_loop()
    flux = fft_flux(g, SMOOTH_PIXEL)
    scale = 1e-3 / np.max(np.abs(flux))  # peak flux of ~1 mPhi0, as in the paper's images
    return flux * scale, g * scale, kx * scale, ky * scale


INTERIOR = (slice(8, -8), slice(8, -8))  # 4 um from the image boundary


def test_smooth_current_loop_comes_back_within_2_percent():
    flux, _, kx_true, ky_true = smooth_flux_scaled()
    kx, ky = reconstruct_current(flux, SMOOTH_PIXEL, HEIGHT, LOOP_RADIUS)
    error = max(max_error(kx, kx_true, INTERIOR), max_error(ky, ky_true, INTERIOR))
    assert error < 0.02, f"max |K_rec - K_true| / max |K_true| = {error:.4f}"


def test_smooth_current_loop_with_white_flux_noise_within_3_percent():
    flux, _, kx_true, ky_true = smooth_flux_scaled()
    rng = np.random.default_rng(7)
    noisy = flux + 1e-6 * rng.standard_normal(flux.shape)  # 1 uPhi0 per pixel on ~1 mPhi0
    kx, ky = reconstruct_current(noisy, SMOOTH_PIXEL, HEIGHT, LOOP_RADIUS)
    error = max(max_error(kx, kx_true, INTERIOR), max_error(ky, ky_true, INTERIOR))
    assert error < 0.03, f"max |K_rec - K_true| / max |K_true| = {error:.4f}"


def test_stream_function_of_a_current_loop():
    flux, g_true, _, _ = smooth_flux_scaled()
    g = reconstruct_stream_function(flux, SMOOTH_PIXEL, HEIGHT, LOOP_RADIUS)
    g_filtered = window_filter(g_true, SMOOTH_PIXEL, HEIGHT, LOOP_RADIUS)
    offset = np.mean(g - g_filtered)  # g is defined up to a constant
    assert max_error(g - offset, g_filtered) < 0.003
    # g > 0: counter-clockwise current, Ky > 0 on the +x side of the centre.
    _, ky = reconstruct_current(flux, SMOOTH_PIXEL, HEIGHT, LOOP_RADIUS)
    iy, ix = int(SMOOTH_CENTER[1] / SMOOTH_PIXEL), int((SMOOTH_CENTER[0] + SMOOTH_WIDTH) / SMOOTH_PIXEL)
    assert ky[iy, ix] > 0 and g[iy, int(SMOOTH_CENTER[0] / SMOOTH_PIXEL)] > g[0, 0]


# ----------------------------------------------------------------------------------
# Golden check 7: sharp edge channels, crossing the image boundary
# ----------------------------------------------------------------------------------
def test_forward_model_of_the_module_matches_the_analytic_strip(strip_scene):
    y = strip_scene["y"]
    g_true = STRIP_CURRENT * np.clip((y - STRIP_CENTER + STRIP_WIDTH / 2) / STRIP_WIDTH, 0, 1)
    g_true = np.repeat(g_true[:, None], STRIP_SHAPE[1], axis=1)
    model = flux_from_stream_function(g_true, STRIP_PIXEL, HEIGHT, LOOP_RADIUS)
    peak = np.max(np.abs(strip_scene["flux"]))
    assert np.max(np.abs(model - strip_scene["flux"])) < 0.005 * peak


def test_strip_through_the_image_matches_the_window_filtered_truth(strip_scene):
    kx, ky = strip_scene["results"]["leads"]
    column = kx[:, STRIP_SHAPE[1] // 2]
    # Against the exact (continuous) filtered strip: the whole column, edges included.
    assert max_error(column, strip_scene["reference"]) < 0.005
    # Against window_filter of the pixel-sampled truth (sampling costs ~1 %).
    filtered = window_filter(strip_scene["kx_true"], STRIP_PIXEL, HEIGHT, LOOP_RADIUS)
    assert max_error(kx, filtered) < 0.01
    assert np.max(np.abs(ky)) < 1e-3 * np.max(kx)
    # Sign convention: current along +x gives Kx > 0.
    assert column[int(round(STRIP_CENTER / STRIP_PIXEL))] > 0


@pytest.mark.parametrize("half_length_um", [3.0, 6.0, 10.0])
def test_current_through_a_cut_across_the_strip(strip_scene, half_length_um):
    kx, ky = strip_scene["results"]["leads"]
    x = 10 * UM
    current = current_through_cut(kx, ky, STRIP_PIXEL, (x, STRIP_CENTER - half_length_um * UM),
                                  (x, STRIP_CENTER + half_length_um * UM))
    assert abs(current / STRIP_CURRENT - 1) < 0.005


def test_without_the_boundary_treatment_the_strip_current_is_wrong(strip_scene):
    cut = ((10 * UM, STRIP_CENTER - 6 * UM), (10 * UM, STRIP_CENTER + 6 * UM))
    errors = {}
    for boundary, (kx, ky) in strip_scene["results"].items():
        errors[boundary] = abs(current_through_cut(kx, ky, STRIP_PIXEL, *cut) / STRIP_CURRENT - 1)
    # The plain FFT invents a uniform counter-current (-I over the image height);
    # mirror padding fakes the field beyond the image. Both miss by far more than 0.5 %.
    assert errors["periodic"] > 0.1
    assert errors["mirror"] > 0.03
    assert errors["leads"] < 0.005
    full_height = ((10 * UM, 0.0), (10 * UM, (STRIP_SHAPE[0] - 1) * STRIP_PIXEL))
    kx, ky = strip_scene["results"]["periodic"]
    assert abs(current_through_cut(kx, ky, STRIP_PIXEL, *full_height)) < 0.05 * STRIP_CURRENT
    kx, ky = strip_scene["results"]["leads"]
    assert abs(current_through_cut(kx, ky, STRIP_PIXEL, *full_height) / STRIP_CURRENT - 1) < 0.005


def test_u_shaped_path_with_leads_leaving_through_the_top(u_scene):
    kx, ky = u_scene["results"]["leads"]
    px = U_PIXEL
    top = (U_SHAPE[0] - 1) * px
    middle_x = 0.5 * (U_LEFT + U_RIGHT)
    cuts = {  # (start, end): expected current; the normal is on the right of start -> end
        "bottom run, walked in +y": (((middle_x, 2 * UM), (middle_x, 14 * UM)), STRIP_CURRENT),
        "left lead (flows -y), walked in +x": (((U_LEFT - 5 * UM, 20 * UM), (U_LEFT + 5 * UM, 20 * UM)),
                                               STRIP_CURRENT),
        "right lead (flows +y), walked in +x": (((U_RIGHT - 5 * UM, 20 * UM), (U_RIGHT + 5 * UM, 20 * UM)),
                                                -STRIP_CURRENT),
        "between the leads, top edge down": (((middle_x, top), (middle_x, 14 * UM)), 0.0),
    }
    for name, ((start, end), expected) in cuts.items():
        current = current_through_cut(kx, ky, px, start, end)
        assert abs(current - expected) < 0.005 * STRIP_CURRENT, f"{name}: {current / STRIP_CURRENT:.4f} I"
    # Signs: down the left lead (Ky < 0), along +x at the bottom (Kx > 0), up the right lead.
    row = int(round(20 * UM / px))
    assert ky[row, int(round(U_LEFT / px))] < 0 < ky[row, int(round(U_RIGHT / px))]
    assert kx[int(round(U_BOTTOM / px)), int(round(middle_x / px))] > 0
    # Across the middle of the bottom run, far from the corners: the filtered strip.
    ny = U_SHAPE[0]
    y = np.arange(ny) * px
    reference = hann_filtered_strip(y, U_BOTTOM, STRIP_WIDTH, STRIP_CURRENT)
    rows = slice(0, int(14 * UM / px))
    assert max_error(kx[rows, int(round(middle_x / px))], reference[rows]) < 0.02


def test_u_shaped_path_without_the_boundary_treatment_fails(u_scene):
    kx, ky = u_scene["results"]["periodic"]
    middle_x = 0.5 * (U_LEFT + U_RIGHT)
    current = current_through_cut(kx, ky, U_PIXEL, (middle_x, 2 * UM), (middle_x, 14 * UM))
    assert abs(current / STRIP_CURRENT - 1) > 0.05


def test_resolution_reported_by_the_window():
    window = reconstruction_window(HEIGHT, LOOP_RADIUS)
    assert window.cutoff_wavelength == pytest.approx(2 * HEIGHT)
    # FWHM of the 2-D Hann point spread, by quadrature: w(r) = Int W(k) J0(kr) k dk.
    k = np.linspace(0, window.cutoff_wavenumber, 4001)
    weights = window.weights(k)
    radii = np.linspace(0, 2 * window.cutoff_wavelength, 4001)
    spread = np.trapezoid(weights * scipy.special.j0(np.outer(radii, k)) * k, k, axis=1)
    half_width = radii[np.argmax(spread < spread[0] / 2)]
    assert 2 * half_width == pytest.approx(window.resolution, rel=2e-3)
    assert 1 < window.max_noise_gain < 5


def test_a_thin_line_current_comes_back_one_cutoff_wavelength_wide():
    # A 0.25 um strip is a line for a 2 um window: the 1-D Hann spread has FWHM = lambda_c.
    ny, nx = 120, 64
    y = np.arange(ny) * 0.25 * UM
    flux = np.repeat(strip_flux(y, 15 * UM, 0.25 * UM, 10e-6)[:, None], nx, axis=1)
    kx, _ = reconstruct_current(flux, 0.25 * UM, HEIGHT, LOOP_RADIUS)
    distances, profile = line_cut(kx, 0.25 * UM, (8 * UM, 10 * UM), (8 * UM, 20 * UM), n_points=2001)
    above = distances[profile > profile.max() / 2]
    assert above[-1] - above[0] == pytest.approx(LAMBDA_C, rel=0.02)


# ----------------------------------------------------------------------------------
# Input validation
# ----------------------------------------------------------------------------------
GOOD = np.zeros((64, 64))


@pytest.mark.parametrize(
    "flux, pixel, height, radius, cutoff, message",
    [
        (np.where(np.eye(64, dtype=bool), np.nan, 0.0), 0.25 * UM, HEIGHT, LOOP_RADIUS, None, "NaN"),
        (GOOD, 0.0, HEIGHT, LOOP_RADIUS, None, "pixel_size"),
        (GOOD, -0.25 * UM, HEIGHT, LOOP_RADIUS, None, "pixel_size"),
        (GOOD, 0.25 * UM, 0.0, LOOP_RADIUS, None, "height"),
        (GOOD, 0.25 * UM, HEIGHT, -LOOP_RADIUS, None, "pickup_radius"),
        (GOOD, 0.25 * UM, HEIGHT, LOOP_RADIUS, -1.0, "cutoff_wavelength"),
        (np.zeros((24, 64)), 0.25 * UM, HEIGHT, LOOP_RADIUS, None, "image too small"),
        (GOOD, 1.0 * UM, HEIGHT, LOOP_RADIUS, None, "pixels too coarse"),
        (GOOD, 0.25 * UM, HEIGHT, 2 * HEIGHT, None, "blind"),
        (np.zeros(64), 0.25 * UM, HEIGHT, LOOP_RADIUS, None, "2-D"),
    ],
)
def test_bad_inputs_raise_clear_value_errors(flux, pixel, height, radius, cutoff, message):
    with pytest.raises(ValueError, match=message):
        reconstruct_current(flux, pixel, height, radius, cutoff_wavelength=cutoff)


def test_bad_cuts_and_options_raise():
    with pytest.raises(ValueError, match="leaves the image"):
        line_cut(GOOD, 0.25 * UM, (0, 0), (20 * UM, 0))
    with pytest.raises(ValueError, match="differ"):
        current_through_cut(GOOD, GOOD, 0.25 * UM, (UM, UM), (UM, UM))
    with pytest.raises(ValueError, match="shape"):
        current_through_cut(GOOD, GOOD[:-1], 0.25 * UM, (0, 0), (UM, UM))
    with pytest.raises(ValueError, match="boundary"):
        reconstruct_current(GOOD, 0.25 * UM, HEIGHT, LOOP_RADIUS, boundary="zero")


# ----------------------------------------------------------------------------------
# Cuts, peak edge current, image arithmetic
# ----------------------------------------------------------------------------------
def test_line_cut_is_bilinear_and_in_metres():
    pixel = 2.0
    iy, ix = np.mgrid[0:5, 0:6]
    image = 3.0 * ix + 10.0 * iy  # bilinear interpolation reproduces it exactly
    distances, values = line_cut(image, pixel, (1.0, 1.0), (9.0, 7.0), n_points=11)
    assert distances[-1] == pytest.approx(10.0)
    x = np.linspace(1.0, 9.0, 11)
    y = np.linspace(1.0, 7.0, 11)
    np.testing.assert_allclose(values, 3.0 * x / pixel + 10.0 * y / pixel)


def test_current_through_cut_on_a_uniform_current():
    kx = np.full((20, 30), 5.0)  # A/m along +x
    ky = np.zeros_like(kx)
    pixel = 1e-6
    up = current_through_cut(kx, ky, pixel, (3e-6, 2e-6), (3e-6, 12e-6))
    assert up == pytest.approx(5.0 * 10e-6)
    assert current_through_cut(kx, ky, pixel, (3e-6, 12e-6), (3e-6, 2e-6)) == pytest.approx(-up)
    # A cut parallel to the current sees none; a slanted cut sees the projection.
    assert current_through_cut(kx, ky, pixel, (1e-6, 5e-6), (20e-6, 5e-6)) == pytest.approx(0.0, abs=1e-15)
    assert current_through_cut(kx, ky, pixel, (1e-6, 1e-6), (7e-6, 9e-6)) == pytest.approx(5.0 * 8e-6)


def test_peak_edge_current_finds_the_edge_channel(strip_scene):
    kx, ky = strip_scene["results"]["leads"]
    peak, where = peak_edge_current(kx, ky, STRIP_PIXEL, (5 * UM, STRIP_CENTER - 8 * UM),
                                    (5 * UM, STRIP_CENTER + 8 * UM))
    assert peak == pytest.approx(np.max(strip_scene["reference"]), rel=0.01)
    assert where == pytest.approx(8 * UM, abs=0.5 * STRIP_PIXEL)


def test_oersted_subtraction_removes_the_linear_part():
    rng = np.random.default_rng(3)
    oersted, magnetic = rng.standard_normal((2, 8, 9))
    flux_100 = oersted  # below threshold: linear in the bias only
    flux_200 = 2 * oersted + magnetic  # above it: twice the Oersted flux plus the magnetic response
    np.testing.assert_allclose(oersted_subtraction(flux_200, flux_100), magnetic, atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        oersted_subtraction(flux_200, flux_100[:, :-1])


def test_image_correlation():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert image_correlation(a, 3 * a + 2) == pytest.approx(1.0)
    assert image_correlation(a, -a) == pytest.approx(-1.0)
    b = np.array([[1.0, 3.0], [2.0, 4.0]])
    assert image_correlation(a, b) == pytest.approx(0.8)  # cov 1.0 / var 1.25, by hand
    mask = np.array([[True, True], [True, False]])
    c = np.array([[2.0, 4.0], [6.0, -100.0]])  # the masked-out pixel would spoil r = 1
    assert image_correlation(a, c, mask=mask) == pytest.approx(1.0)
    assert image_correlation(a, c) < 0.9
    with pytest.raises(ValueError, match="constant"):
        image_correlation(a, np.ones_like(a))
    with pytest.raises(ValueError, match="NaN"):
        image_correlation(a, np.array([[1.0, np.nan], [0.0, 1.0]]))
