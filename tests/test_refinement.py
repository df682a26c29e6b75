"""Classifier-refined generation (issue #12 item 5): rejection with the classifier's density ratio
turns a generator's distribution into the truth's where it covers it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lhc_vae.evaluation.features import full_event_matrix
from lhc_vae.events.schema import TYPE_DTYPE, EventTables
from lhc_vae.models.refinement import RefinedRun, fit_refiner, staged_refinement


def test_rejection_with_the_density_ratio_recovers_the_truth_gaussian():
    rng = np.random.default_rng(0)
    truth = rng.normal(0.0, 1.0, (40_000, 2))
    generated = rng.normal([0.6, -0.4], 1.3, (40_000, 2))  # shifted and wider: w is bounded
    refiner = fit_refiner(truth, generated, w_max=4.0, seed=1, categorical=np.zeros(2, bool))
    assert 0.6 < refiner.holdout_auc < 0.75  # two shifted, wider Gaussians are told apart, not perfectly
    fresh = rng.normal([0.6, -0.4], 1.3, (200_000, 2))
    kept = fresh[rng.random(len(fresh)) < refiner.acceptance(fresh)]
    # the truth's moments (0, 1) where the generator had (0.6, -0.4) and 1.3
    np.testing.assert_allclose(kept.mean(axis=0), [0.0, 0.0], atol=0.06)
    np.testing.assert_allclose(kept.std(axis=0), [1.0, 1.0], atol=0.06)
    # accepted share = E_gen[w] / w_max = 1 / w_max when w <= w_max everywhere it matters
    assert len(kept) / len(fresh) == pytest.approx(1 / 4.0, rel=0.15)


def _met_only(met: np.ndarray) -> EventTables:
    """Events with MET alone (no objects), as a generation run returns them."""
    events = pd.DataFrame(
        {
            "event_id": np.arange(len(met)),
            "met": met,
            "met_phi": np.zeros(len(met)),
            "n_corrected": np.zeros(len(met), int),
        }
    )
    objects = pd.DataFrame(
        {
            "event_index": np.array([], np.int64),
            "type": pd.Categorical([], dtype=TYPE_DTYPE),
            **{c: np.array([], np.float32) for c in ("e", "pt", "eta", "phi")},
        }
    )
    return EventTables(events, objects)


def test_a_refined_run_keeps_exactly_count_events_reproducibly():
    rng = np.random.default_rng(2)
    truth = _met_only(np.exp(rng.normal(4.0, 0.5, 30_000)))  # log MET ~ N(4, 0.5)

    def inner(count: int, seed: int):  # a generator with log MET ~ N(4.3, 0.6)
        r = np.random.default_rng(seed)
        return _met_only(np.exp(r.normal(4.3, 0.6, count))), {"phi_wrapped": count}

    candidates, _ = inner(30_000, 99)
    refiner = fit_refiner(
        full_event_matrix(truth.events, truth.objects),
        full_event_matrix(candidates.events, candidates.objects),
        w_max=5.0,
        seed=3,
    )
    run = RefinedRun(inner, refiner, chunk=30_000)  # several chunks
    sample, corrections = run(20_000, seed=7)
    assert sample.n_events == 20_000 and len(sample.objects) == 0
    log_met = np.log(sample.events["met"].to_numpy())
    assert log_met.mean() == pytest.approx(4.0, abs=0.03) and log_met.std() == pytest.approx(0.5, abs=0.03)
    # corrections are counted on every candidate and scaled to the kept share: 1 per event here
    assert corrections == {"phi_wrapped": 20_000}
    # kept share = E_gen[min(w / w_max, 1)] = 1 / w_max, the density ratio staying below 5 here
    assert run.last["acceptance"] == pytest.approx(1 / 5.0, rel=0.1) and run.last["candidates"] > 5 * 20_000 * 0.9
    again, _ = RefinedRun(inner, refiner, chunk=30_000)(20_000, seed=7)
    pd.testing.assert_frame_equal(sample.events, again.events)
    assert sample.events["event_id"].tolist() == list(range(20_000))  # unique ids in the written file


def test_a_generator_the_refiner_rejects_everywhere_stops_with_an_error_naming_w_max():
    rng = np.random.default_rng(4)
    truth = _met_only(np.exp(rng.normal(4.0, 0.3, 5_000)))

    def inner(count: int, seed: int):  # far from the truth: w is tiny everywhere
        return _met_only(np.exp(np.random.default_rng(seed).normal(7.0, 0.3, count))), {}

    candidates, _ = inner(5_000, 1)
    refiner = fit_refiner(
        full_event_matrix(truth.events, truth.objects),
        full_event_matrix(candidates.events, candidates.objects),
        w_max=3.0,
        seed=5,
    )
    assert refiner.holdout_auc > 0.99
    run = RefinedRun(inner, refiner, max_candidates_per_event=4, chunk=3_000)
    with pytest.raises(RuntimeError, match=r"kept \d+ of 8000 candidates.*lower refine\.w_max"):
        run(2_000, seed=1)


def _kept_density_moments(w_max: float, generator=(4.3, 0.6), truth=(4.0, 0.5)) -> tuple[float, float]:
    """Mean and std of the density that one rejection stage keeps: proportional to
    min(p_truth / w_max, p_generator) (module docstring of lhc_vae.models.refinement), on a grid."""
    from scipy import stats

    x = np.linspace(0.0, 8.0, 160_001)
    kept = np.minimum(stats.norm(*truth).pdf(x) / w_max, stats.norm(*generator).pdf(x))
    kept /= kept.sum()
    mean = float((x * kept).sum())
    return mean, float(np.sqrt(((x - mean) ** 2 * kept).sum()))


def test_stages_approach_the_truth_where_one_capped_stage_cannot():
    rng = np.random.default_rng(5)
    truth = _met_only(np.exp(rng.normal(4.0, 0.5, 40_000)))

    def inner(count: int, seed: int):  # log MET ~ N(4.3, 0.6): w exceeds a cap of 1.2 over much of the truth
        return _met_only(np.exp(np.random.default_rng(seed).normal(4.3, 0.6, count))), {}

    stages = staged_refinement(
        inner, full_event_matrix(truth.events, truth.objects), [1.2, 1.2], n_fit=40_000, seed=11, chunk=50_000
    )
    assert [s.refiner.w_max for s in stages] == [1.2, 1.2] and stages[1].inner is stages[0]
    one, _ = stages[0](30_000, seed=1)
    for stage in stages:
        stage.candidates = stage.kept = 0
    two, _ = stages[1](30_000, seed=2)
    m1, s1 = (np.log(one.events["met"]).mean(), np.log(one.events["met"]).std())
    m2, s2 = (np.log(two.events["met"]).mean(), np.log(two.events["met"]).std())
    # one stage keeps min(p_t / 1.2, p_g): its moments, not the truth's (4.0, 0.5)
    mean1, std1 = _kept_density_moments(1.2)
    assert m1 == pytest.approx(mean1, abs=0.02) and s1 == pytest.approx(std1, abs=0.02)
    assert abs(mean1 - 4.0) > 0.05
    # the second stage removes most of what is left
    assert abs(m2 - 4.0) < abs(m1 - 4.0) / 2 and abs(s2 - 0.5) < max(abs(s1 - 0.5) / 2, 0.015)
    # stage 2's candidates are stage 1's kept events: the overall acceptance is the product
    assert stages[1].candidates == stages[0].kept and stages[1].kept == 30_000


def test_a_broader_proposal_multiplies_every_spread_of_the_prior():
    from lhc_vae.models.generation import _latent_start

    normal = _latent_start({"kind": "normal", "latent_dim": 3, "scale": 1.5}, 40_000, 0.0, seed=1)
    np.testing.assert_allclose(normal.std(axis=0), 1.5, rtol=0.02)
    mixture = {"weights": np.array([1.0]), "means": np.array([[2.0]]), "covariances": np.array([[[0.25]]])}
    prior = {"kind": "bgmm", "latent_dim": 2, "active_dims": np.array([1]), "mixture": mixture, "scale": 2.0}
    z = _latent_start(prior, 40_000, 0.0, seed=2)
    assert z[:, 1].mean() == pytest.approx(2.0, abs=0.02)  # about the component's mean
    assert z[:, 1].std() == pytest.approx(2.0 * 0.5, rel=0.02) and z[:, 0].std() == pytest.approx(2.0, rel=0.02)
    plain = _latent_start({**prior, "scale": 1.0}, 40_000, 0.0, seed=2)
    assert plain[:, 1].std() == pytest.approx(0.5, rel=0.02)
