"""Compare a generated sample with held-out truth: every metric of :mod:`.metrics`, per variable
and combined (thesis eq. 6.5), plus the truth-vs-truth floor."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lhc_vae.evaluation import metrics as m
from lhc_vae.evaluation.features import DERIVED, EVENT_VARIABLES, GROUPS, comparison_values
from lhc_vae.events.schema import COUNT_COLUMNS, OBJECT_FEATURES, SYMBOLS

CLASSIFIER_FEATURES = (
    "met", "total_energy", "ht", "jet1_pt", "jet1_eta", "jet2_pt", "lepton1_pt", "photon1_pt", "m_jj", "m_top",
    "dphi_met_jet1", *COUNT_COLUMNS.values(),
)
PHYSICS_FEATURES = ("met", "total_energy", "ht", "jet1_pt", "jet2_pt", "lepton1_pt", *COUNT_COLUMNS.values())
CORRELATION_FEATURES = ("met", "jet1_e", "jet1_pt", "jet2_e", "jet2_pt", "lepton1_e", "lepton1_pt")


def _variable_rows(truth: pd.DataFrame, generated: pd.DataFrame) -> list[dict[str, Any]]:
    columns = [(v, "event") for v in EVENT_VARIABLES]
    columns += [(f"{g}_{f}", g) for g, _, _ in GROUPS for f in OBJECT_FEATURES]
    columns += [(d, "derived") for d in DERIVED]
    rows = []
    for column, group in columns:
        t, g = comparison_values(truth, column), comparison_values(generated, column)
        row = {"variable": column, "group": group, "n_truth": t.size, "n_generated": g.size}
        if t.size == 0 and g.size == 0:
            continue
        if t.size == 0 or g.size == 0:
            row.update(wd_thesis=np.nan, w1_sample=np.nan, js=1.0, kl=np.nan)  # present on one side only
        else:
            d = m.histogram_distances(t, g)
            row.update(wd_thesis=d.wd_thesis, w1_sample=d.w1_sample, js=d.js, kl=d.kl)
        rows.append(row)
    return rows


def _matrix(variables: pd.DataFrame, columns: tuple[str, ...], fill: float | None) -> np.ndarray:
    x = variables[list(columns)].to_numpy(np.float64)
    for k, c in enumerate(columns):
        if c in ("met", "total_energy", "ht") or c.endswith("_pt") or c in ("m_jj", "m_top"):
            x[:, k] = np.log10(np.maximum(np.nan_to_num(x[:, k], nan=1e-3), 1e-3)) if fill is not None else np.log10(np.maximum(x[:, k], 1e-3))
    x[~np.isfinite(x) & ~np.isnan(x)] = np.nan  # infinities count as missing
    if fill is not None:
        x = np.nan_to_num(x, nan=fill)
    return x


def compare(truth: pd.DataFrame, generated: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-variable distances and the combined metrics between two samples of event variables."""
    per_variable = pd.DataFrame(_variable_rows(truth, generated))
    thesis = per_variable[per_variable["group"] != "derived"]
    weights = {"event": float(len(truth))}
    weights.update({g: float(np.isfinite(truth[f"{g}_pt"]).sum()) for g, _, _ in GROUPS})
    summary: dict[str, Any] = {"n_truth": len(truth), "n_generated": len(generated)}
    for metric in ("wd_thesis", "w1_sample", "js", "kl"):
        by_group = thesis.groupby("group")[metric].mean().to_dict()
        summary[metric] = m.weighted_combination(by_group, weights)  # thesis eq. 6.5
        summary[f"{metric}_derived"] = float(per_variable.loc[per_variable["group"] == "derived", metric].mean())
    try:
        summary["classifier_auc"], summary["classifier_auc_std"] = m.classifier_auc(
            _matrix(truth, CLASSIFIER_FEATURES, None), _matrix(generated, CLASSIFIER_FEATURES, None), seed
        )
    except ValueError:
        summary["classifier_auc"] = summary["classifier_auc_std"] = float("nan")
    t_phys, g_phys = _matrix(truth, PHYSICS_FEATURES, -3.0), _matrix(generated, PHYSICS_FEATURES, -3.0)
    if min(len(t_phys), len(g_phys)) >= 200:
        summary["fpd"], summary["fpd_err"] = m.fpd(t_phys, g_phys, seed)
        summary["kpd"], summary["kpd_err"] = m.kpd(t_phys, g_phys, seed)
    summary["correlation_distance"] = m.correlation_distance(truth[list(CORRELATION_FEATURES)], generated[list(CORRELATION_FEATURES)])
    mult = {s: m.multiplicity_distance(truth[COUNT_COLUMNS[s]].to_numpy(), generated[COUNT_COLUMNS[s]].to_numpy()) for s in SYMBOLS}
    summary["multiplicity_js"] = mult
    summary["multiplicity_js_mean"] = float(np.nanmean(list(mult.values())))
    summary["mean_multiplicity_truth"] = {s: float(truth[COUNT_COLUMNS[s]].mean()) for s in SYMBOLS}
    summary["mean_multiplicity_generated"] = {s: float(generated[COUNT_COLUMNS[s]].mean()) for s in SYMBOLS}
    return per_variable, summary


def truth_halves(truth: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two random halves of the truth, for the statistical floor of every metric."""
    perm = np.random.default_rng(seed).permutation(len(truth))
    half = len(truth) // 2
    return truth.iloc[perm[:half]].reset_index(drop=True), truth.iloc[perm[half : 2 * half]].reset_index(drop=True)
