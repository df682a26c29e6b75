"""Evaluation metrics against known results, and the report pipeline end to end (issue #7)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from lhc_vae.evaluation import metrics as m
from lhc_vae.evaluation.evaluate import compare, truth_halves
from lhc_vae.evaluation.features import event_variables
from lhc_vae.benchmarks.synthetic import make_tables
from lhc_vae.events.schema import primary_tables


def test_identical_samples_give_zero():
    x = np.random.default_rng(0).normal(size=5000)
    d = m.histogram_distances(x, x)
    assert d.wd_thesis == 0 and d.w1_sample == 0 and d.js == 0 and d.kl == pytest.approx(0, abs=1e-12)


def test_shifted_gaussians_known_w1_and_scipy_agreement():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 2, 200_000), rng.normal(1, 2, 200_000)
    d = m.histogram_distances(a, b)
    assert d.w1_sample == pytest.approx(0.5, abs=0.02)  # W1 = shift = 1, in units of std 2
    edges = m.shared_bins(a, b)
    p, q = m.histogram(a, edges), m.histogram(b, edges)
    assert d.js == pytest.approx(jensenshannon(p, q, base=2))
    assert d.kl == pytest.approx(stats.entropy(p + 1e-10, q + 1e-10), rel=1e-6)
    assert d.wd_thesis == pytest.approx(stats.wasserstein_distance(p, q))


def test_kl_with_empty_bins_is_finite():
    assert np.isfinite(m.kl_divergence(np.array([0.5, 0.5, 0.0]), np.array([1.0, 0.0, 0.0])))


def test_eq_6_5_weighting_by_hand():
    values = {"event": 0.1, "jet1": 0.2, "lepton1": 0.4}
    weights = {"event": 1000, "jet1": 990, "lepton1": 300}
    assert m.weighted_combination(values, weights) == pytest.approx((100 + 198 + 120) / 2290)
    assert m.weighted_combination({"event": 0.1, "photon1": float("nan")}, {"event": 10, "photon1": 5}) == pytest.approx(0.1)


def test_classifier_auc_half_and_separable():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6000, 4))
    auc, err = m.classifier_auc(x[:3000], x[3000:], seed=0)
    assert abs(auc - 0.5) < 0.04 and err < 0.05
    auc, _ = m.classifier_auc(x[:3000], x[3000:] + 5.0, seed=0)
    assert auc > 0.99
    x[:, 2] = np.nan  # a feature missing everywhere (no leptons in experiment III's events)
    auc, _ = m.classifier_auc(x[:3000], x[3000:], seed=0)
    assert abs(auc - 0.5) < 0.04


def test_fpd_and_kpd_near_zero_for_same_distribution_and_large_when_shifted():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(20000, 3)), rng.normal(size=(20000, 3))
    same_f, _ = m.fpd(a, b, seed=1)
    far_f, _ = m.fpd(a, b + 1.0, seed=1)
    assert abs(same_f) < 0.01 and far_f == pytest.approx(3.0, rel=0.05)  # |mu1 - mu2|^2 = 3
    same_k, _ = m.kpd(a, b, seed=1)
    far_k, _ = m.kpd(a, b + 1.0, seed=1)
    assert abs(same_k) < 0.05 < far_k


def _variables(n, seed):
    events, objects = primary_tables(make_tables(n, seed=seed))
    return event_variables(events, objects)


def test_truth_floor_is_below_a_broken_model():
    truth = _variables(4000, seed=5)
    a, b = truth_halves(truth, seed=1)
    _, floor = compare(a, b, seed=1)
    broken = b.copy()
    broken["met"] *= 3.0
    broken["jet1_pt"] *= 0.5
    broken["jet1_e"] *= 0.5
    _, bad = compare(a, broken, seed=1)
    for key in ("js", "kl", "w1_sample", "classifier_auc"):
        assert floor[key] < bad[key], key
    assert abs(floor["classifier_auc"] - 0.5) < 0.06
    assert floor["multiplicity_js_mean"] < 0.1


def test_find_runs_leaves_out_runs_older_than_their_model(tmp_path):
    import os

    from lhc_vae.evaluation.runs import find_runs

    gen, models = tmp_path / "gen", tmp_path / "models"
    for tag in ("beta_1", "beta_2"):
        run = gen / "exp3" / tag / "prior_auto"
        (run / "objects").mkdir(parents=True)
        (run / "events.parquet").write_text("")
        (run / "generation_stats.json").write_text('{"n_generated": 1}')
        (models / "exp3" / tag).mkdir(parents=True)
        (models / "exp3" / tag / "decoder.keras").write_text("")
        os.utime(run / "generation_stats.json", (1000, 1000))
        os.utime(models / "exp3" / tag / "decoder.keras", (500 if tag == "beta_1" else 2000,) * 2)
    runs = find_runs(gen, models)
    assert [r.run_id for r in runs] == ["exp3/beta_1/prior_auto"] and runs[0].stats == {"n_generated": 1}
