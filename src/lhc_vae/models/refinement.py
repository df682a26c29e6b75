"""Classifier-refined generation: a generator beyond the thesis (issue #12 item 5).

A gradient-boosted classifier learns to tell the generator's events from the truth's *training*
split on the whole event (:func:`lhc_vae.evaluation.features.full_event_matrix`). For a
classifier output p(x) = P(generated | x) on balanced classes, the density ratio is

    w(x) = p_truth(x) / p_generated(x) = (1 - p(x)) / p(x)

(the likelihood-ratio trick; Andreassen & Nachman, "Neural networks for full phase-space
reweighting", PRD 101 (2020) 091901). Events are then kept with probability min(w / w_max, 1):
discriminator rejection sampling (Azadi et al., ICLR 2019). The kept sample is an ordinary,
unweighted event sample (the Dark Machines weight field stays 1), distributed as the generator's
density times min(w, w_max): the truth's wherever w <= w_max, the generator's shape scaled up to
w_max where the generator has too few events, and nothing where it has none. ``w_max`` trades
fidelity for the fraction of candidates kept; the acceptance is recorded.

**Stages.** One classifier leaves what it could not see, and w is capped at ``w_max`` where the
generator is thin. The refinement is therefore iterated: stage k's classifier is fitted on the
training truth against the events of stage k - 1 (the raw generator for k = 1), and stage k keeps
stage k - 1's events with min(w_k / w_max_k, 1) (:func:`staged_refinement`). The kept density
approaches the truth's wherever the generator covers it, at the cost of the product of the stages'
acceptances. A proposal broader than the generator's own (the latent prior's spread scaled by
``proposal_scale``; :mod:`lhc_vae.models.generation`) covers the truth's tails, so that fewer
weights hit the cap.

The refined sample is judged like every other run: on the *test* split, which neither the VAE nor
the refiner saw. The report's full-event classifier is of the same kind and sees the same features
as the refiner (with other folds and another random state), so its AUC measures what the refiner
optimised; the summary-feature AUC, the binned and sample distances, the derived observables and the
IER are the checks it did not optimise. The refiner is fitted and used inside one run and never saved (a fitted
scikit-learn model can only be stored as a pickle, and model folders must be safe to share).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from lhc_vae.evaluation.classifier import balanced_classes
from lhc_vae.evaluation.features import full_event_categorical, full_event_matrix
from lhc_vae.events.schema import EventTables
from lhc_vae.events.split import concat_tables, take_events

#: Held-out share of the refiner's fitting sample, for its AUC (how well the raw generator is told
#: from the training truth) and the acceptance estimate.
HOLDOUT = 0.2


@dataclass
class Refiner:
    """A fitted refiner: the classifier, the full-event columns it uses, and what it measured on
    its held-out share (AUC of the raw generator against the training truth, mean acceptance)."""

    classifier: HistGradientBoostingClassifier
    columns: np.ndarray
    w_max: float
    holdout_auc: float
    holdout_acceptance: float
    n_fit_events: int

    def weights(self, matrix: np.ndarray) -> np.ndarray:
        """w(x) = (1 - p) / p per event (rows of :func:`full_event_matrix`)."""
        x = np.asarray(matrix, dtype=np.float64)[:, self.columns]  # one copy of a chunk's matrix, not two
        x[~np.isfinite(x)] = np.nan
        with threadpool_limits(1, user_api="openmp"):
            p = self.classifier.predict_proba(x)[:, 1]
        return (1.0 - p) / np.maximum(p, 1e-6)

    def acceptance(self, matrix: np.ndarray) -> np.ndarray:
        """Probability of keeping each event: min(w / w_max, 1)."""
        return np.minimum(self.weights(matrix) / self.w_max, 1.0)


def fit_refiner(
    truth: np.ndarray,
    generated: np.ndarray,
    w_max: float,
    seed: int,
    max_events: int = 200_000,
    categorical: np.ndarray | None = None,
) -> Refiner:
    """Fit the classifier on equal numbers of truth (label 0) and generated (label 1) events, rows
    of :func:`full_event_matrix` (``categorical``: its type-code columns, by default those of that
    layout); a held-out share (:data:`HOLDOUT`) gives its AUC."""
    if w_max <= 0:
        raise ValueError(f"w_max must be positive, got {w_max}")
    rng = np.random.default_rng(seed)
    n = min(len(truth), len(generated), max_events)
    if n < 100:
        raise ValueError(f"the refiner needs at least 100 events of each sample, got {n}")
    x, y, columns = balanced_classes(truth, generated, n, rng)
    if categorical is None:
        categorical = full_event_categorical()
    categorical = np.asarray(categorical, dtype=bool)[columns]
    order = rng.permutation(2 * n)
    held, fit = order[: int(HOLDOUT * 2 * n)], order[int(HOLDOUT * 2 * n) :]
    classifier = HistGradientBoostingClassifier(
        max_iter=300,
        learning_rate=0.1,
        l2_regularization=1.0,
        early_stopping=True,
        n_iter_no_change=10,
        random_state=seed,
        categorical_features=categorical,
    )
    with threadpool_limits(1, user_api="openmp"):
        classifier.fit(x[fit][:, columns], y[fit])
    refiner = Refiner(classifier, columns, float(w_max), math.nan, math.nan, len(fit))
    p_held = refiner.classifier.predict_proba(x[held][:, columns])[:, 1]
    refiner.holdout_auc = float(roc_auc_score(y[held], p_held))
    generated_held = x[held][y[held] == 1]
    refiner.holdout_acceptance = float(refiner.acceptance(generated_held).mean())
    return refiner


def select_events(tables: EventTables, keep: np.ndarray) -> EventTables:
    """The events where ``keep`` is true, with their objects, renumbered (``event_index`` = row)."""
    events, objects = take_events(tables.events, tables.objects, np.flatnonzero(keep))
    return EventTables(events, objects)


class RefinedRun:
    """``run(count, seed)`` drawing candidates from ``inner`` (a generation run of
    :mod:`lhc_vae.models.generation`) in chunks of at most ``chunk`` events and keeping each with
    probability min(w / w_max, 1) until ``count`` are kept; at most ``max_candidates_per_event``
    candidates per event asked for, then an error. Memory stays bounded by the chunk and the kept
    events. The correction counts are those of all candidates, scaled to the kept share (an
    estimate: the classifier may reject corrected events more often); ``last`` holds the candidates
    and the acceptance of the latest call, ``candidates`` and ``kept`` their sums over all calls.
    Reproducible: the candidates' seeds and the accept draws derive from ``seed``; kept events are
    numbered 0..count-1."""

    def __init__(
        self,
        inner,
        refiner: Refiner,
        max_candidates_per_event: float = 50.0,
        chunk: int = 200_000,
        name: str = "refined generation",
    ) -> None:
        self.inner, self.refiner, self.name = inner, refiner, name
        self.max_candidates_per_event, self.chunk = float(max_candidates_per_event), int(chunk)
        self.last: dict[str, float] = {}
        self.candidates = self.kept = 0

    def __call__(self, count: int, seed: int) -> tuple[EventTables, dict[str, int]]:
        rng = np.random.default_rng([seed, 0x5EED])
        kept: list[EventTables] = []
        corrections: dict[str, float] = {}
        n_kept = n_candidates = 0
        rate = max(self.refiner.holdout_acceptance, 1.0 / self.max_candidates_per_event)
        limit = math.ceil(self.max_candidates_per_event * count)
        while n_kept < count:
            if n_candidates >= limit:
                raise RuntimeError(
                    f"{self.name} kept {n_kept} of {n_candidates} candidates, fewer than the {count} asked "
                    f"for within refine.max_candidates_per_event = {self.max_candidates_per_event:g}; a lower "
                    "refine.w_max keeps more candidates (and corrects less)"
                )
            m = min(self.chunk, limit - n_candidates, max(1000, math.ceil(1.2 * (count - n_kept) / rate)))
            tables, counts = self.inner(m, int(rng.integers(2**31 - 1)))
            accept = self.refiner.acceptance(full_event_matrix(tables.events, tables.objects))
            keep = rng.random(tables.n_events) < accept
            keep &= np.cumsum(keep) <= count - n_kept  # no more than asked for
            kept.append(select_events(tables, keep))
            for key, value in counts.items():
                corrections[key] = corrections.get(key, 0.0) + value
            n_kept += int(keep.sum())
            n_candidates += tables.n_events
            rate = max(n_kept / n_candidates, 1.0 / self.max_candidates_per_event)
        sample = concat_tables(kept)
        if "event_id" in sample.events:
            sample.events["event_id"] = np.arange(sample.n_events, dtype=np.int64)
        self.last = {"candidates": n_candidates, "acceptance": n_kept / n_candidates}
        self.candidates += n_candidates
        self.kept += n_kept
        share = count / n_candidates
        return sample, {key: round(value * share) for key, value in corrections.items()}


def staged_refinement(
    inner: Callable[[int, int], tuple[EventTables, dict[str, int]]],
    truth: np.ndarray,
    w_max: Sequence[float],
    n_fit: int,
    seed: int,
    max_candidates_per_event: float = 50.0,
    chunk: int = 200_000,
) -> list[RefinedRun]:
    """Iterated refinement (module docstring): one :class:`RefinedRun` per entry of ``w_max``, each
    drawing its candidates from the previous one (the first from ``inner``). Stage k's classifier is
    fitted on ``truth`` (rows of :func:`full_event_matrix`) against ``n_fit`` events of stage k - 1,
    drawn with seed ``seed + 7 + k``, with random state ``seed + 1 + k``. Returns the stages; the last
    one is the refined generator."""
    if not w_max:
        raise ValueError("refinement needs at least one stage (one w_max)")
    stages: list[RefinedRun] = []
    run = inner
    for k, w in enumerate(w_max):
        candidates, _ = run(n_fit, seed + 7 + k)
        generated = full_event_matrix(candidates.events, candidates.objects)
        refiner = fit_refiner(truth, generated, float(w), seed + 1 + k, n_fit)
        run = RefinedRun(run, refiner, max_candidates_per_event, chunk, f"refinement stage {k + 1} of {len(w_max)}")
        stages.append(run)
    return stages
