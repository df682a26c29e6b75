"""Compare a generated sample with held-out truth (issue #11): every metric per variable, combined
with the weights of thesis eq. 6.5, with bootstrap uncertainties; the classifier tests on the
whole event and on summary features; FPD and KPD.

A :class:`Sample` holds what the comparison needs of an event sample: its per-event variables
(:func:`~lhc_vae.evaluation.features.event_variables`) and its full-event matrix
(:func:`~lhc_vae.evaluation.features.full_event_matrix`). Binning comes from the truth only
(:func:`binning`) and is passed in, so every run and the floor share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lhc_vae.evaluation import metrics as m
from lhc_vae.evaluation.classifier import classifier_auc
from lhc_vae.evaluation.features import (
    DERIVED,
    EVENT_VARIABLES,
    GROUPS,
    event_variables,
    full_event_categorical,
    full_event_matrix,
    variable_values,
)
from lhc_vae.evaluation.physics_distances import fpd, kpd
from lhc_vae.events.schema import COUNT_COLUMNS, OBJECT_FEATURES, SYMBOLS

SUMMARY_FEATURES = (
    "met",
    "total_energy",
    "ht",
    "jet1_pt",
    "jet1_eta",
    "jet2_pt",
    "lepton1_pt",
    "photon1_pt",
    "m_jj",
    "m_top",
    "dphi_met_jet1",
    *COUNT_COLUMNS.values(),
)
PHYSICS_FEATURES = ("met", "total_energy", "ht", "jet1_pt", "jet2_pt", "lepton1_pt", *COUNT_COLUMNS.values())
CORRELATION_FEATURES = ("met", "jet1_e", "jet1_pt", "jet2_e", "jet2_pt", "lepton1_e", "lepton1_pt")
#: Thesis variables (eq. 6.5 groups) and derived observables, as (column, group).
VARIABLES: tuple[tuple[str, str], ...] = (
    *((v, "event") for v in EVENT_VARIABLES),
    *((f"{g}_{f}", g) for g, _, _ in GROUPS for f in OBJECT_FEATURES),
    *((d, "derived") for d in DERIVED),
)
#: Headline metrics that carry a bootstrap uncertainty.
BOOTSTRAPPED = (*m.HISTOGRAM_METRICS, "multiplicity_js_mean", "correlation_distance")


@dataclass(frozen=True)
class Sample:
    """An event sample as the comparison sees it."""

    variables: pd.DataFrame
    full: np.ndarray

    @classmethod
    def from_tables(cls, events: pd.DataFrame, objects: pd.DataFrame) -> Sample:
        return cls(event_variables(events, objects), full_event_matrix(events, objects))

    def __len__(self) -> int:
        return len(self.variables)

    def head(self, n: int) -> Sample:
        return Sample(self.variables.iloc[:n].reset_index(drop=True), self.full[:n])


def binning(truth: Sample, n_bins: int = m.N_BINS) -> dict[str, list[float]]:
    """Edges of every variable the truth has, from the truth alone (:func:`metrics.truth_edges`)."""
    edges = {}
    for column, _ in VARIABLES:
        x = variable_values(truth.variables, column)
        if np.isfinite(x).any():
            edges[column] = m.truth_edges(x, n_bins).tolist()
    return edges


def _per_variable(
    t: dict[str, np.ndarray], g: dict[str, np.ndarray], edges: dict[str, list[float]]
) -> list[dict[str, Any]]:
    """One row per variable. Present on one side only: the worst value of every metric."""
    rows = []
    for column, group in VARIABLES:
        tv, gv = t[column], g[column]
        nt, ng = int(np.isfinite(tv).sum()), int(np.isfinite(gv).sum())
        row: dict[str, Any] = {"variable": column, "group": group, "n_truth": nt, "n_generated": ng}
        if nt == 0 and ng == 0:
            continue
        if nt == 0 or ng == 0:
            row.update(m.WORST)
        else:
            d = m.histogram_distances(tv, gv, np.asarray(edges[column])).as_dict()
            # W1 beyond the missing-group value counts as it, so that generating nothing stays the worst
            row.update(
                d,
                w1_sample=min(d["w1_sample"], m.WORST["w1_sample"]),
                w1_binned=min(d["w1_binned"], m.WORST["w1_binned"]),
            )
        rows.append(row)
    return rows


def _combine(rows: list[dict[str, Any]], n_truth: int, n_generated: int) -> dict[str, float]:
    """Thesis eq. 6.5 over the groups (mean of a group's variables, weighted by its entries), and
    the plain mean over the derived observables. A group's weight is its number of truth entries
    or, if more, the generated entries scaled to the truth's number of events: a group that a
    model invents where the truth has none also counts."""
    frame = pd.DataFrame(rows)
    thesis = frame[frame["group"] != "derived"]
    entries = thesis.groupby("group")[["n_truth", "n_generated"]].max()
    scale = n_truth / max(n_generated, 1)
    weights = {grp: float(max(r.n_truth, r.n_generated * scale)) for grp, r in entries.iterrows()}
    weights["event"] = float(n_truth)
    out = {}
    for metric in m.HISTOGRAM_METRICS:
        by_group = thesis.groupby("group")[metric].mean().to_dict()
        out[metric] = (
            m.weighted_combination(by_group, weights) if metric != "wd_thesis" else _nan_combination(by_group, weights)
        )
        derived = frame.loc[frame["group"] == "derived", metric]
        out[f"{metric}_derived"] = float(derived.mean()) if len(derived) else float("nan")
    return out


def _nan_combination(by_group: dict[str, float], weights: dict[str, float]) -> float:
    """``wd_thesis`` has no worst value (it is not a distance between distributions): eq. 6.5 over
    the groups both samples have, as the thesis computes it."""
    finite = {k: v for k, v in by_group.items() if np.isfinite(v)}
    return m.weighted_combination(finite, {k: w for k, w in weights.items() if k in finite})


def _coverage(rows: list[dict[str, Any]]) -> float:
    """Fraction of the truth's eq. 6.5 groups (event, jet1, ..., photon1) that the run generates."""
    groups: dict[str, bool] = {}
    for r in rows:
        if r["group"] != "derived" and r["n_truth"] > 0:
            groups[r["group"]] = groups.get(r["group"], False) or r["n_generated"] > 0
    return float(np.mean(list(groups.values()))) if groups else float("nan")


def _multiplicity(truth: pd.DataFrame, generated: pd.DataFrame) -> dict[str, float]:
    return {
        s: m.multiplicity_distance(truth[COUNT_COLUMNS[s]].to_numpy(), generated[COUNT_COLUMNS[s]].to_numpy())
        for s in SYMBOLS
    }


def _correlation(truth: pd.DataFrame, generated: pd.DataFrame) -> float:
    return m.correlation_distance(truth[list(CORRELATION_FEATURES)], generated[list(CORRELATION_FEATURES)])


def _matrix(variables: pd.DataFrame, columns: tuple[str, ...], fill: float | None) -> np.ndarray:
    """Columns as a matrix of :func:`variable_values` (energies and momenta in log10); absent
    values NaN or ``fill``."""
    x = np.column_stack([variable_values(variables, c) for c in columns])
    return np.nan_to_num(x, nan=fill) if fill is not None else x


def _bootstrap(truth: Sample, generated: Sample, t: dict, g: dict, edges: dict, n: int, seed: int) -> dict[str, float]:
    """Standard deviation of each headline metric over ``n`` bootstrap replicates (both samples
    resampled by event, so correlations between variables are kept)."""
    if n < 2:
        return {f"{k}_err": float("nan") for k in BOOTSTRAPPED}
    rng = np.random.default_rng(seed)
    nt, ng = len(truth), len(generated)
    reps: dict[str, list[float]] = {k: [] for k in BOOTSTRAPPED}
    for _ in range(n):
        ti, gi = rng.integers(nt, size=nt), rng.integers(ng, size=ng)
        rows = _per_variable({k: v[ti] for k, v in t.items()}, {k: v[gi] for k, v in g.items()}, edges)
        combined = _combine(rows, nt, ng)
        for k in m.HISTOGRAM_METRICS:
            reps[k].append(combined[k])
        tv, gv = truth.variables.iloc[ti], generated.variables.iloc[gi]
        reps["multiplicity_js_mean"].append(float(np.nanmean(list(_multiplicity(tv, gv).values()))))
        reps["correlation_distance"].append(_correlation(tv, gv))
    return {f"{k}_err": float(np.nanstd(v, ddof=1)) for k, v in reps.items()}


def compare(
    truth: Sample,
    generated: Sample,
    edges: dict[str, list[float]],
    seed: int,
    n_bootstrap: int = 50,
    folds: int = 5,
    physics_distances: bool = True,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-variable distances and the combined metrics (with uncertainties) of two samples, on
    ``edges`` from :func:`binning` of the truth; ``physics_distances=False`` leaves out FPD and KPD
    (they never rank)."""
    t = {c: variable_values(truth.variables, c) for c, _ in VARIABLES}
    g = {c: variable_values(generated.variables, c) for c, _ in VARIABLES}
    rows = _per_variable(t, g, edges)
    summary: dict[str, Any] = {"n_truth": len(truth), "n_generated": len(generated)}
    summary.update(_combine(rows, len(truth), len(generated)))
    summary["coverage"] = _coverage(rows)
    mult = _multiplicity(truth.variables, generated.variables)
    summary["multiplicity_js"] = mult
    summary["multiplicity_js_mean"] = float(np.nanmean(list(mult.values())))
    summary.update(_bootstrap(truth, generated, t, g, edges, n_bootstrap, seed))
    full = classifier_auc(truth.full, generated.full, seed, folds=folds, categorical=full_event_categorical())
    summary["auc_full"], summary["auc_full_err"] = full.auc, full.error
    short = classifier_auc(
        _matrix(truth.variables, SUMMARY_FEATURES, None),
        _matrix(generated.variables, SUMMARY_FEATURES, None),
        seed,
        folds=folds,
    )
    summary["auc_summary"], summary["auc_summary_err"] = short.auc, short.error
    if physics_distances:
        t_phys, g_phys = (
            _matrix(truth.variables, PHYSICS_FEATURES, -3.0),
            _matrix(generated.variables, PHYSICS_FEATURES, -3.0),
        )
        summary["fpd"], summary["fpd_err"] = fpd(t_phys, g_phys, seed)
        summary["kpd"], summary["kpd_err"] = kpd(t_phys, g_phys, seed)
    summary["correlation_distance"] = _correlation(truth.variables, generated.variables)
    summary["mean_multiplicity_truth"] = {s: float(truth.variables[COUNT_COLUMNS[s]].mean()) for s in SYMBOLS}
    summary["mean_multiplicity_generated"] = {s: float(generated.variables[COUNT_COLUMNS[s]].mean()) for s in SYMBOLS}
    return pd.DataFrame(rows), summary


#: Metrics on which two runs (or a run and the floor) are compared, lower is better.
SEPARATION_METRICS = ("auc_full", "js", "w1_binned", "w1_sample", "kl")


def separation(a: dict[str, Any], b: dict[str, Any], metric: str) -> float:
    """(a - b) / combined uncertainty: above 2, ``a`` is worse than ``b`` beyond the noise."""
    err = np.hypot(a.get(f"{metric}_err", np.nan), b.get(f"{metric}_err", np.nan))
    return float((a[metric] - b[metric]) / err) if err > 0 else float("nan")
