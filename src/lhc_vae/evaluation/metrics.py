"""Distances between a generated sample and held-out truth (thesis ch. 6, issue #11).

Binned metrics of the thesis (§6.1, §6.2): each variable is histogrammed on **edges fixed from the
truth alone** (:func:`truth_edges`: ``N_BINS`` equal bins over the truth's 0.1-99.9 % range, plus
an underflow and an overflow bin), shared by every run and by the truth-vs-truth floor, so a
generated outlier always lands in an outer bin and costs. On these histograms:

* ``js``: Jensen-Shannon distance, base 2 (scipy), in [0, 1];
* ``kl``: D(truth || generated) in nats with eps-smoothing (``KL_EPSILON`` added to every bin of
  both histograms before renormalising), so an empty generated bin costs a large finite value;
* ``w1_binned``: W1 between the two binned densities placed at the bin *centres* (the under- and
  overflow bins half a bin outside the range), in units of the truth's standard deviation;
* ``wd_thesis``: W1 between the two vectors of normalised bin *heights*, the only reading that
  reproduces the thesis's ~0.002. It is blind to where the mass is (a shifted or mirrored sample
  scores like the truth itself), so it is reported beside the thesis's numbers and never ranks.

``w1_sample`` is the exact W1 between the two samples (no binning), in units of the truth's
standard deviation. Stronger two-sample tests (classifier AUC, FPD/KPD) live in
:mod:`.classifier` and :mod:`.physics_distances`.

**Absent objects count.** A per-event variable such as the leading lepton's pT is absent in events
without a lepton. The histograms carry an *absent* bin (placed one bin below the underflow for the
W1s), so a model that drops leptons from 10 % of the events moves 10 % of the mass and every
ranking metric sees it. ``wd_thesis`` uses the present values only, as the thesis does. A variable
present on one side only (a model that never generates leptons, or generates them where the truth
has none) gets the worst value of each metric (:data:`WORST`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

KL_EPSILON = 1e-10
N_BINS = 50
#: Quantiles of the truth spanned by the regular bins; the rest falls in under/overflow.
EDGE_QUANTILES = (0.001, 0.999)
#: Worst values, used for a variable present on one side only. JS is bounded by 1. KL cannot
#: exceed -ln(KL_EPSILON) = 23.0 nats with the eps-smoothing above (all mass on bins the other
#: side leaves empty). W1 has no bound; 10 truth standard deviations is the cap, the range within
#: which generation clips every standardised feature (``Z_CLIP`` in ``models/generation.py``); a
#: larger W1 of a present variable counts as 10 in the comparison (``evaluate``), so missing stays worst.
WORST: dict[str, float] = {
    "js": 1.0,
    "kl": float(-np.log(KL_EPSILON)),
    "w1_binned": 10.0,
    "w1_sample": 10.0,
    "wd_thesis": float("nan"),
}
#: Metrics that rank models (lower is better); ``wd_thesis`` is reported, never ranked.
RANKING = ("w1_sample", "w1_binned", "js", "kl")
HISTOGRAM_METRICS = ("wd_thesis", *RANKING)


@dataclass(frozen=True)
class HistogramDistances:
    wd_thesis: float
    w1_sample: float
    w1_binned: float
    js: float
    kl: float

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in HISTOGRAM_METRICS}


def truth_edges(truth: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Regular bin edges from the truth alone: ``n_bins`` equal bins over its 0.1-99.9 % range."""
    truth = np.asarray(truth, dtype=np.float64)
    truth = truth[np.isfinite(truth)]
    if truth.size == 0:
        raise ValueError("bin edges need at least one finite truth value")
    lo, hi = np.quantile(truth, EDGE_QUANTILES)
    if hi <= lo:  # a (nearly) constant variable
        lo, hi = truth.min() - 0.5, truth.max() + 0.5
    return np.linspace(lo, hi, n_bins + 1)


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Events in [absent (NaN), underflow, the regular bins, overflow] (``len(edges) + 2`` bins);
    the last regular bin is closed."""
    values = np.asarray(values, dtype=np.float64)
    idx = np.searchsorted(edges, values, side="right") + 1
    idx[values == edges[-1]] = len(edges)  # the last regular bin is closed
    idx[np.isnan(values)] = 0
    return np.bincount(idx, minlength=len(edges) + 2).astype(np.float64)


def histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Normalised :func:`bin_counts`."""
    counts = bin_counts(values, edges)
    total = counts.sum()
    return counts / total if total > 0 else counts


def bin_centres(edges: np.ndarray) -> np.ndarray:
    """Positions of [absent, underflow, regular bins, overflow]: the under- and overflow half a
    bin outside the range, the absent bin one bin below the underflow."""
    width = edges[1] - edges[0]
    return np.r_[edges[0] - 1.5 * width, edges[0] - width / 2, 0.5 * (edges[1:] + edges[:-1]), edges[-1] + width / 2]


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """D(P || Q) in nats with eps-smoothing of empty bins (module docstring)."""
    p = (p + KL_EPSILON) / (p + KL_EPSILON).sum()
    q = (q + KL_EPSILON) / (q + KL_EPSILON).sum()
    return float(stats.entropy(p, q))


def histogram_distances(
    truth: np.ndarray, generated: np.ndarray, edges: np.ndarray | None = None
) -> HistogramDistances:
    """Every binned distance on ``edges`` (default: :func:`truth_edges` of ``truth``) and the
    sample W1; W1s are in units of the truth's standard deviation. NaN marks an absent value
    (module docstring); each side needs at least one present value."""
    truth = np.asarray(truth, dtype=np.float64)
    generated = np.asarray(generated, dtype=np.float64)
    t_present, g_present = truth[~np.isnan(truth)], generated[~np.isnan(generated)]
    if t_present.size == 0 or g_present.size == 0:
        raise ValueError("histogram distances need present values on both sides")
    if edges is None:
        edges = truth_edges(t_present)
    p, q = histogram(truth, edges), histogram(generated, edges)
    scale = t_present.std() or (edges[1] - edges[0])
    centres = bin_centres(edges)
    absent = centres[0]
    regular = slice(1, None)
    return HistogramDistances(
        wd_thesis=float(stats.wasserstein_distance(p[regular] / p[regular].sum(), q[regular] / q[regular].sum())),
        w1_sample=float(
            stats.wasserstein_distance(np.nan_to_num(truth, nan=absent), np.nan_to_num(generated, nan=absent)) / scale
        ),
        w1_binned=float(stats.wasserstein_distance(centres, centres, p, q) / scale),
        js=float(jensenshannon(p, q, base=2)),
        kl=kl_divergence(p, q),
    )


def weighted_combination(values: dict[str, float], weights: dict[str, float]) -> float:
    """Thesis eq. 6.5: sum_i N_i M_i / sum_i N_i over the groups with a weight. A group with a
    weight and no finite value is an error: missing groups must carry :data:`WORST` values."""
    keys = [k for k in weights if weights[k] > 0]
    missing = [k for k in keys if not np.isfinite(values.get(k, np.nan))]
    if missing:
        raise ValueError(f"eq. 6.5 combination: no value for the weighted groups {missing}")
    total = sum(weights[k] for k in keys)
    if total == 0:
        return float("nan")
    return float(sum(weights[k] * values[k] for k in keys) / total)


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
