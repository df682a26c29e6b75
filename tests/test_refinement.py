"""Classifier-refined generation (issue #12 item 5): rejection with the classifier's density ratio
turns a generator's distribution into the truth's where it covers it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lhc_vae.evaluation.features import full_event_matrix
from lhc_vae.events.schema import TYPE_DTYPE, EventTables
from lhc_vae.models.refinement import RefinedRun, fit_refiner


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
