"""Metrics for generated events against held-out truth (thesis ch. 6, and stronger ones).

Thesis metrics (§6.1, §6.2):

* per-variable histograms with binning shared by truth and generated (E, pT, MET and total energy
  in log10, §7.2), then Wasserstein, Jensen-Shannon (scipy, base 2) and KL divergence;
* the combination of eq. 6.5: a weighted mean over object groups, each weighted by its number of
  truth entries, MET counted as a group weighted by the number of events;
* invalid event rate (eq. 6.6) and time per event (eq. 6.7) come from the generation runs.

``wd_thesis`` is W1 between the two vectors of *normalised bin heights* (the only reading that gives
the thesis's ~0.002); ``w1_sample`` is the real W1 between the two samples, in units of the truth's
standard deviation. KL uses eps-smoothing: 1e-10 is added to every bin of both histograms before
renormalising, so empty generated bins give a large but finite value.

Stronger metrics: classifier two-sample AUC, Fréchet and kernel physics distances (FPD, KPD of
Kansal et al., Phys. Rev. D 107, 076017 (2023)), correlation-matrix distance and per-type
multiplicity distances. Pure numpy/scipy/scikit-learn.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, stats
from scipy.spatial.distance import jensenshannon

KL_EPSILON = 1e-10
N_BINS = 50


@dataclass(frozen=True)
class HistogramDistances:
    wd_thesis: float
    w1_sample: float
    js: float
    kl: float


def shared_bins(truth: np.ndarray, generated: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Edges over the 0.1-99.9 % quantile range of the truth widened to the generated sample's
    central range; values outside land in the edge bins (see :func:`histogram`)."""
    lo, hi = np.quantile(truth, [0.001, 0.999])
    if generated.size:
        glo, ghi = np.quantile(generated, [0.001, 0.999])
        lo, hi = min(lo, glo), max(hi, ghi)
    if hi <= lo:
        hi = lo + 1.0
    return np.linspace(lo, hi, n_bins + 1)


def histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Normalised bin heights, with under/overflow added to the first/last bin."""
    counts = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0].astype(np.float64)
    total = counts.sum()
    return counts / total if total > 0 else counts


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """D(P || Q) in nats with eps-smoothing of empty bins (module docstring)."""
    p = (p + KL_EPSILON) / (p + KL_EPSILON).sum()
    q = (q + KL_EPSILON) / (q + KL_EPSILON).sum()
    return float(stats.entropy(p, q))


def histogram_distances(truth: np.ndarray, generated: np.ndarray) -> HistogramDistances:
    """The thesis's three distances on shared bins, plus the true sample W1 (in truth std units)."""
    truth = np.asarray(truth, dtype=np.float64)
    generated = np.asarray(generated, dtype=np.float64)
    if truth.size == 0 or generated.size == 0:
        raise ValueError("histogram distances need non-empty truth and generated samples")
    edges = shared_bins(truth, generated)
    p, q = histogram(truth, edges), histogram(generated, edges)
    scale = truth.std() or 1.0
    return HistogramDistances(
        wd_thesis=float(stats.wasserstein_distance(p, q)),
        w1_sample=float(stats.wasserstein_distance(truth, generated) / scale),
        js=float(jensenshannon(p, q, base=2)),
        kl=kl_divergence(p, q),
    )


def weighted_combination(values: dict[str, float], weights: dict[str, float]) -> float:
    """Thesis eq. 6.5: sum_i N_i M_i / sum_i N_i over the groups present in ``values``."""
    keys = [k for k in values if weights.get(k, 0) > 0 and np.isfinite(values[k])]
    total = sum(weights[k] for k in keys)
    if total == 0:
        return float("nan")
    return float(sum(weights[k] * values[k] for k in keys) / total)


def classifier_auc(truth: np.ndarray, generated: np.ndarray, seed: int, folds: int = 5, max_events: int = 50_000) -> tuple[float, float]:
    """Classifier two-sample test: ROC AUC of a gradient-boosted classifier telling truth from
    generated, on held-out folds; returns (mean, std over folds). 0.5 = indistinguishable."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(seed)
    n = min(len(truth), len(generated), max_events)
    if n < 2 * folds:
        raise ValueError(f"classifier_auc needs at least {2 * folds} events per sample, got {n}")
    x = np.concatenate([truth[rng.choice(len(truth), n, replace=False)], generated[rng.choice(len(generated), n, replace=False)]])
    y = np.r_[np.zeros(n), np.ones(n)]
    x = x[:, ~np.isnan(x).all(axis=0)]  # a feature absent from both samples carries no information
    aucs = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        clf = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, random_state=seed)
        clf.fit(x[train], y[train])
        aucs.append(roc_auc_score(y[test], clf.predict_proba(x[test])[:, 1]))
    return float(np.mean(aucs)), float(np.std(aucs))


def _frechet(x: np.ndarray, y: np.ndarray) -> float:
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def fpd(truth: np.ndarray, generated: np.ndarray, seed: int, min_n: int = 2000, max_n: int = 20000, n_points: int = 6) -> tuple[float, float]:
    """Fréchet physics distance (Kansal et al. 2023): the Fréchet distance between Gaussian fits
    of the feature sets, extrapolated linearly in 1/N to N = infinity; returns (value, fit error).
    Features are standardised with the truth's mean and std first."""
    mean, std = truth.mean(0), truth.std(0)
    std[std == 0] = 1.0
    t, g = (truth - mean) / std, (generated - mean) / std
    max_n = min(max_n, len(t), len(g))
    min_n = min(min_n, max_n // 2)
    rng = np.random.default_rng(seed)
    ns = np.linspace(min_n, max_n, n_points).astype(int)
    vals = []
    for n in ns:
        vals.append(_frechet(t[rng.choice(len(t), n, replace=False)], g[rng.choice(len(g), n, replace=False)]))
    if n_points < 4:
        raise ValueError("fpd needs at least 4 sample sizes to extrapolate")
    (_, intercept), cov = np.polyfit(1.0 / ns, vals, 1, cov=True)
    return float(intercept), float(np.sqrt(cov[1, 1]))


def _mmd_poly(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the kernel (x.y / d + 1)^3."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m = len(x)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())


def kpd(truth: np.ndarray, generated: np.ndarray, seed: int, batch: int = 1000, n_batches: int = 10) -> tuple[float, float]:
    """Kernel physics distance (Kansal et al. 2023): unbiased MMD^2 with a cubic polynomial kernel
    on batches; returns (median, half the inter-quartile range). Features standardised on truth."""
    mean, std = truth.mean(0), truth.std(0)
    std[std == 0] = 1.0
    t, g = (truth - mean) / std, (generated - mean) / std
    batch = min(batch, len(t), len(g))
    rng = np.random.default_rng(seed)
    vals = [_mmd_poly(t[rng.choice(len(t), batch, replace=False)], g[rng.choice(len(g), batch, replace=False)]) for _ in range(n_batches)]
    q1, q2, q3 = np.percentile(vals, [25, 50, 75])
    return float(q2), float((q3 - q1) / 2)


def correlation_distance(truth: pd.DataFrame, generated: pd.DataFrame) -> float:
    """Mean absolute difference of the off-diagonal Pearson correlations (pairwise complete)."""
    cols = [c for c in truth.columns if c in generated.columns]
    a = truth[cols].corr().to_numpy()
    b = generated[cols].corr().to_numpy()
    off = ~np.eye(len(cols), dtype=bool) & np.isfinite(a) & np.isfinite(b)
    if not off.any():
        return float("nan")
    return float(np.abs(a - b)[off].mean())


def multiplicity_distance(truth_counts: np.ndarray, generated_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2) between two distributions of an integer multiplicity."""
    top = int(max(truth_counts.max(initial=0), generated_counts.max(initial=0))) + 1
    p = np.bincount(truth_counts.astype(int), minlength=top).astype(float)
    q = np.bincount(generated_counts.astype(int), minlength=top).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(jensenshannon(p / p.sum(), q / q.sum(), base=2)) if p.sum() and q.sum() else float("nan")
