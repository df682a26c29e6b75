"""FPD and KPD (Kansal et al., Phys. Rev. D 107, 076017 (2023)) against known answers.

Gaussian cases with analytic values *after* JetNet's normalisation (every feature divided by its
maximum |value| in the real sample, ``s``): for unit covariances scaled by ``D = diag(1/s)``,

* Fréchet: ``N(0, D^2)`` vs ``N(D mu, g^2 D^2)`` gives ``sum_i (mu_i^2 + (g - 1)^2) / s_i^2``;
* polynomial-kernel MMD^2 with ``k(x, y) = (x . y / d + 1)^4``: since the kernel is a polynomial,
  ``E k(x, y)`` only needs Gaussian moments up to order 4; for ``d = 1`` it is
  ``MMD^2 = sum_k C(4, k) (M_k(P) - M_k(Q))^2`` with the raw moments ``M_k``.

Sizes are small (passed as arguments) so the file runs in seconds.
"""

from __future__ import annotations

from math import comb, factorial

import numpy as np
import pytest
from scipy import linalg

from lhc_vae.evaluation.physics_distances import (
    fpd,
    fpd_batch_sizes,
    frechet_distance,
    kpd,
    mmd2_poly,
    normalise,
)


def _samples(seed: int, n_real: int, n_gen: int, d: int, shift: float, gen_sigma: float = 1.0):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(n_real, d))
    gen = rng.normal(loc=shift, scale=gen_sigma, size=(n_gen, d))
    return real, gen, np.abs(real).max(axis=0)


# ---------------------------------------------------------------- analytic references


def _gauss_moments(m: float, sigma: float) -> np.ndarray:
    """Raw moments E[x^k], k = 0..4, of N(m, sigma^2)."""
    s2 = sigma * sigma
    return np.array([1.0, m, m * m + s2, m**3 + 3 * m * s2, m**4 + 6 * m * m * s2 + 3 * s2 * s2])


def _poly4_expectation(mx, sx, my, sy) -> float:
    """E[(x . y / d + 1)^4] for independent x, y with independent Gaussian coordinates.

    S = sum_i x_i y_i / d is a sum of independent terms; its raw moments up to 4 follow from the
    product of the truncated moment-generating series of the terms.
    """
    d = len(mx)
    fact = np.array([factorial(k) for k in range(5)], dtype=float)
    series = np.array([1.0, 0, 0, 0, 0])
    for i in range(d):
        term = _gauss_moments(mx[i], sx[i]) * _gauss_moments(my[i], sy[i]) / float(d) ** np.arange(5)
        series = np.convolve(series, term / fact)[:5]
    moments_s = series * fact
    return float(sum(comb(4, k) * moments_s[k] for k in range(5)))


def _mmd2_population(shift: float, scale: np.ndarray) -> float:
    """MMD^2 between N(0, I) and N(shift * 1, I), both divided by ``scale``, kernel (x.y/d + 1)^4."""
    d = len(scale)
    sigma, zero, m = 1.0 / scale, np.zeros(d), np.full(d, shift) / scale
    return (
        _poly4_expectation(zero, sigma, zero, sigma)
        + _poly4_expectation(m, sigma, m, sigma)
        - 2.0 * _poly4_expectation(zero, sigma, m, sigma)
    )


def _mmd2_population_1d(shift: float, scale: float) -> float:
    """d = 1 written out: sum_k C(4, k) (M_k(P) - M_k(Q))^2 with P = N(0, s^2), Q = N(m, s^2)."""
    m, s2 = shift / scale, 1.0 / scale**2
    return 4 * m**2 + 6 * m**4 + 4 * (m**3 + 3 * m * s2) ** 2 + (m**4 + 6 * m**2 * s2) ** 2


def _mmd2_brute(x, y, ix, iy) -> float:
    """Direct double loop over pairs of distinct parent events (the estimator's definition)."""

    def k(a, b):
        return (a @ b / x.shape[1] + 1.0) ** 4

    def within(z, idx):
        vals = [k(z[a], z[b]) for i, a in enumerate(idx) for j, b in enumerate(idx) if i != j and a != b]
        return np.mean(vals)

    cross = np.mean([k(x[a], y[b]) for a in ix for b in iy])
    return within(x, ix) + within(y, iy) - 2.0 * cross


# ---------------------------------------------------------------- Fréchet distance


def test_frechet_distance_closed_forms():
    # identical covariance I in d = 3, mean shift 1 in each dimension: |mu1 - mu2|^2 = 3
    assert frechet_distance(np.zeros(3), np.eye(3), np.ones(3), np.eye(3)) == pytest.approx(3.0, abs=1e-12)
    # commuting (diagonal) covariances: sum (sqrt(a) - sqrt(b))^2
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    assert frechet_distance(np.zeros(3), np.diag(a), np.zeros(3), np.diag(b)) == pytest.approx(2.0, abs=1e-12)
    # non-commuting 2x2: Tr (S1 S2)^(1/2) = sqrt(Tr(S1 S2) + 2 sqrt(det S1 det S2))
    s1 = np.array([[2.0, 0.8], [0.8, 1.0]])
    s2 = np.array([[1.0, -0.5], [-0.5, 3.0]])
    tr_root = np.sqrt(np.trace(s1 @ s2) + 2 * np.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    expected = 0.5**2 + np.trace(s1) + np.trace(s2) - 2 * tr_root
    assert frechet_distance(np.zeros(2), s1, np.array([0.5, 0.0]), s2) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_agrees_with_sqrtm_formula():
    """JetNet's (pytorch-fid's) form with a general matrix square root, on random covariances."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    s1, s2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    ref = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-8)


def test_normalise_divides_both_by_real_max_abs():
    real = np.array([[1.0, -4.0, 0.0], [-2.0, 2.0, 0.0]])
    gen = np.array([[4.0, 4.0, 3.0]])
    x, y = normalise(real, gen)
    np.testing.assert_allclose(x, [[0.5, -1.0, 0.0], [-1.0, 0.5, 0.0]])
    np.testing.assert_allclose(y, [[2.0, 1.0, 3.0]])  # all-zero real feature keeps scale 1


def test_fpd_batch_sizes_match_jetnet_and_adapt():
    jetnet = (1 / np.linspace(1 / 20_000, 1 / 50_000, 10)).astype(np.int64)
    np.testing.assert_array_equal(fpd_batch_sizes(60_000), jetnet)
    small = fpd_batch_sizes(2_000)
    assert small[0] == 1_000 and small[-1] == 2_000 and len(small) == 10
    assert np.all(np.diff(1.0 / small) < 0)  # evenly spaced in 1/N, decreasing


# ---------------------------------------------------------------- FPD


@pytest.mark.parametrize(("shift", "gen_sigma"), [(1.0, 1.0), (0.5, 2.0)])
def test_fpd_gaussians_match_analytic(shift, gen_sigma):
    """N(0, I) vs N(shift, gen_sigma^2 I) in d = 3, after normalisation by the real max |x| s:
    FD = sum_i (shift^2 + (gen_sigma - 1)^2) / s_i^2 (shift 1, sigma 1: 3 before normalisation)."""
    real, gen, s = _samples(1, 4_000, 8_000, 3, shift, gen_sigma)
    expected = float(np.sum((shift**2 + (gen_sigma - 1.0) ** 2) / s**2))
    value, err = fpd(real, gen, seed=2, num_batches=10)
    assert 0 < err < 0.1 * expected
    assert abs(value - expected) < 3 * err, (value, err, expected)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fpd_same_distribution_is_zero_within_errors(seed):
    real, gen, _ = _samples(10 + seed, 1_500, 6_000, 5, 0.0)
    value, err = fpd(real, gen, seed=seed, num_batches=10)
    assert err > 0
    assert value >= 0.0  # the fit bounds the intercept at 0, as JetNet's curve_fit does
    assert value < 2 * err, (value, err)


def test_fpd_small_truth_sample_uses_available_events():
    """~500 truth events against 20,000 generated with JetNet's default sizes: N capped at 500."""
    real, gen, s = _samples(3, 500, 20_000, 4, 0.5)
    value, err = fpd(real, gen, seed=0, num_batches=5)
    expected = float(np.sum(0.25 / s**2))
    assert np.isfinite(value) and err > 0
    assert abs(value - expected) < 3 * err, (value, err, expected)


# ---------------------------------------------------------------- KPD


def test_mmd2_estimator_against_brute_force():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(12, 2)), rng.normal(0.5, 1.0, size=(9, 2))
    # no duplicates: JetNet's unbiased estimator (diagonal removed)
    kxx, kyy, kxy = ((a @ b.T / 2 + 1) ** 4 for a, b in ((x, x), (y, y), (x, y)))
    jetnet = (kxx.sum() - np.trace(kxx)) / (12 * 11) + (kyy.sum() - np.trace(kyy)) / (9 * 8) - 2 * kxy.mean()
    assert mmd2_poly(x, y) == pytest.approx(jetnet, rel=1e-12)
    # with duplicates (a with-replacement batch): pairs of copies of one event are left out
    ix, iy = np.array([0, 0, 3, 5, 5, 5, 7]), np.array([1, 2, 2, 8])
    assert mmd2_poly(x, y, ix, iy) == pytest.approx(_mmd2_brute(x, y, ix, iy), rel=1e-12)


def test_analytic_mmd_reference_is_consistent():
    """The product-moment formula reproduces the written-out d = 1 expression."""
    assert _mmd2_population(0.7, np.array([3.2])) == pytest.approx(_mmd2_population_1d(0.7, 3.2), rel=1e-12)
    assert _mmd2_population(0.0, np.array([3.0, 2.0])) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize(("d", "shift"), [(1, 1.0), (3, 0.5)])
def test_kpd_gaussians_match_analytic(d, shift):
    real, gen, s = _samples(5, 3_000, 12_000, d, shift)
    expected = _mmd2_population(shift, s)
    value, err = kpd(real, gen, seed=1, batch_size=1_500)
    assert 0 < err < 0.3 * expected
    assert abs(value - expected) < 3 * err, (value, err, expected)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kpd_same_distribution_is_zero_within_errors(seed):
    real, gen, _ = _samples(20 + seed, 1_000, 8_000, 4, 0.0)
    value, err = kpd(real, gen, seed=seed, batch_size=1_000)
    assert err > 0
    assert abs(value) < 2 * err, (value, err)


def test_kpd_small_samples_cap_batch_and_error_is_never_zero():
    """500 events with the default batch size 5,000; even identical inputs give varying batches."""
    real, gen, _ = _samples(6, 500, 30_000, 3, 0.3)
    value, err = kpd(real, gen, seed=0)
    assert np.isfinite(value) and err > 0
    value, err = kpd(real, real.copy(), seed=0)
    assert err > 0 and abs(value) < 3 * err


# ---------------------------------------------------------------- both


def test_distances_grow_with_mean_shift():
    fpds, kpds = [], []
    for shift in (0.1, 0.3, 1.0):
        real, gen, _ = _samples(7, 2_000, 8_000, 3, shift)
        fpds.append(fpd(real, gen, seed=0, num_batches=5))
        kpds.append(kpd(real, gen, seed=0, batch_size=1_000))
    for values in (fpds, kpds):
        (v1, e1), (v2, e2), (v3, e3) = values
        assert v1 < v2 < v3, values
        assert v2 - v1 > np.hypot(e1, e2) and v3 - v2 > np.hypot(e2, e3), values


def test_inputs_are_validated():
    real = np.zeros((100, 3))
    with pytest.raises(ValueError, match="finite"):
        fpd(real, np.full((100, 3), np.nan), seed=0)
    with pytest.raises(ValueError, match="feature counts"):
        kpd(real, np.zeros((100, 2)), seed=0)


def test_kpd_is_centred_on_zero_under_the_null_and_its_error_covers_the_spread():
    """Equal distributions, 24 independent pairs of 1,000 events: the pulls value / error centre on
    zero (the mean of the batch values is unbiased; JetNet's median sits below zero, the null
    distribution of MMD^2 being right-skewed: mean pull -0.5 measured) and spread by at most ~1 (the
    error is not too small); none is below zero by 2.5 errors."""
    pulls = []
    for seed in range(24):
        real, gen, _ = _samples(100 + seed, 1_000, 1_000, 5, 0.0)
        value, err = kpd(real, gen, seed=seed, num_batches=10)
        pulls.append(value / err)
    pulls = np.array(pulls)
    assert abs(pulls.mean()) < 0.4 and 0.4 < pulls.std() < 1.2 and (pulls > -2.5).all(), (
        pulls
    )  # not 10x inflated either
